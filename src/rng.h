// Random numbers. Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC'11) is counter-based: element i of a dropout mask depends only on
// (key, counter), so masks are the same on every thread count and, later, on the
// GPU. SplitMix64 is the small sequential generator for data sampling and init;
// its whole state is one uint64 that checkpoints store.
#pragma once
#include <cmath>
#include <cstdint>

// Philox and the dropout mask are used by the CUDA kernels too (cuda/*.cu): the same
// functions, so both backends draw the same masks bit for bit.
#ifdef __CUDACC__
#define GPT_HD __host__ __device__
#else
#define GPT_HD
#endif

namespace gpt {

struct Philox4x32 {
  // One round on the four counter words. U: uint32_t, or (CPU) a vector of counters
  // that dropout.cpp runs 16 at a time; widen(x) gives the 64-bit products' type.
  template <class U, class Widen>
  GPT_HD static inline void round_on(U ctr[4], uint32_t k0, uint32_t k1, Widen widen) {
    const auto p0 = widen(ctr[0]) * 0xD2511F53u;
    const auto p1 = widen(ctr[2]) * 0xCD9E8D57u;
    const U hi0 = narrow<U>(p0 >> 32), lo0 = narrow<U>(p0);
    const U hi1 = narrow<U>(p1 >> 32), lo1 = narrow<U>(p1);
    const U n0 = hi1 ^ ctr[1] ^ k0;
    const U n2 = hi0 ^ ctr[3] ^ k1;
    ctr[0] = n0;
    ctr[1] = lo1;
    ctr[2] = n2;
    ctr[3] = lo0;
  }
  // Ten rounds on counter ctr under key (k0,k1), in place.
  template <class U, class Widen>
  GPT_HD static inline void rounds(U ctr[4], uint64_t key, Widen widen) {
    uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
    for (int r = 0; r < 10; r++) {
      round_on(ctr, k0, k1, widen);
      if (r < 9) {
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
      }
    }
  }
  template <class U, class W>
  GPT_HD static inline U narrow(W w) {
    if constexpr (sizeof(W) == 8) return U(w);
    else return __builtin_convertvector(w, U);
  }
  // Ten rounds on counter (c0..c3) under key (k0,k1); out receives four uint32.
  GPT_HD static inline void generate(uint32_t out[4], uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
    uint32_t ctr[4] = {uint32_t(counter_lo), uint32_t(counter_lo >> 32), uint32_t(counter_hi),
                       uint32_t(counter_hi >> 32)};
    rounds(ctr, key, [](uint32_t x) { return uint64_t(x); });
    for (int i = 0; i < 4; i++) out[i] = ctr[i];
  }
};

// Uniform float in [0,1) for element `index` of stream `stream` under `seed`.
GPT_HD inline float philox_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t out[4];
  Philox4x32::generate(out, index >> 2, stream, seed);
  return float(out[index & 3] >> 8) * (1.0f / 16777216.0f);
}

// Dropout site: probability p of zeroing; (seed, stream) name the mask.
struct Dropout {
  float p = 0.0f;
  uint64_t seed = 0;
  uint64_t stream = 0;
  GPT_HD bool active() const { return p > 0.0f; }
  // Multiplier for element i: 0 (dropped) or 1/(1-p) (kept).
  GPT_HD float scale(uint64_t i) const {
    return philox_uniform(seed, stream, i) < p ? 0.0f : 1.0f / (1.0f - p);
  }
};

#ifndef __CUDACC__
// m[j] = drop.scale(base + j) for j < n (the same values), 16 Philox counters at a
// time (dropout.cpp). Serial: callers split the work across threads.
void dropout_scales(float* m, uint64_t base, size_t n, const Dropout& drop);
// A tile of a mask: m[r * n + j] = drop.scale(base + r * stride + j) for r < rows, j < n.
// Rows of up to 32 from multiples of 4 go two to a 16-lane call (rows apart in memory,
// as an attention tile's are), where a row each would compute 64 scales for 32.
void dropout_scales_tile(float* m, uint64_t base, uint64_t stride, int rows, int n, const Dropout& drop);
#endif

struct SplitMix64 {
  uint64_t state;
  explicit SplitMix64(uint64_t seed = 0) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0,1) with 53 random bits.
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  double normal() {  // Box-Muller
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

}  // namespace gpt
