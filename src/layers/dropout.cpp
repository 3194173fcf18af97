// Inverted dropout in place. The mask is Philox(seed, stream, i) and equals
// Dropout::scale(i) element for element; one Philox call serves four elements, and
// 16 calls run at once in vector lanes (dropout_scales, rng.h).
#include <cstddef>
#include <cstdint>

#include <algorithm>

#include "check.h"
#include "layers.h"
#include "layers/simd.h"

namespace gpt::cpu {

namespace {
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef uint64_t v16q __attribute__((vector_size(128)));

// m[0..64) = scales of elements 4 g0 .. 4 g0 + 63: counters g0 .. g0+15 in 16 lanes.
void scales64(float* m, uint64_t g0, const Dropout& drop, float keep) {
  v16q g;
  for (int l = 0; l < 16; l++) g[l] = g0 + uint64_t(l);
  v16u ctr[4] = {__builtin_convertvector(g, v16u), __builtin_convertvector(g >> 32, v16u),
                 v16u{} + uint32_t(drop.stream), v16u{} + uint32_t(drop.stream >> 32)};
  Philox4x32::rounds(ctr, drop.seed, [](v16u x) { return __builtin_convertvector(x, v16q); });
  // word w of lane l is element 4 l + w: scale each word, then interleave the four
  v16f s[4];
  for (int w = 0; w < 4; w++) {
    const v16f u = __builtin_convertvector(ctr[w] >> 8, v16f) * (1.0f / 16777216.0f);  // as philox_uniform
    s[w] = u < drop.p ? v16f{} : v16f{} + keep;
  }
  const v16i lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23}, hi = lo + 8;
  const v16f a0 = __builtin_shuffle(s[0], s[1], lo), a1 = __builtin_shuffle(s[0], s[1], hi);  // w0 w1 pairs
  const v16f b0 = __builtin_shuffle(s[2], s[3], lo), b1 = __builtin_shuffle(s[2], s[3], hi);  // w2 w3 pairs
  const v16i q0 = {0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23}, q1 = q0 + 8;
  store16(m, __builtin_shuffle(a0, b0, q0));
  store16(m + 16, __builtin_shuffle(a0, b0, q1));
  store16(m + 32, __builtin_shuffle(a1, b1, q0));
  store16(m + 48, __builtin_shuffle(a1, b1, q1));
}

// x[i] *= drop.scale(i) for i in [0, N); forward and backward are the same map.
template <class S>
void apply_mask(S* x, size_t N, const Dropout& drop) {
  if (!drop.active()) return;
  GPT_CHECK(drop.p < 1.0f, "dropout probability ", drop.p, " must be below 1");
  constexpr size_t kChunk = 4096;
  const size_t chunks = (N + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (size_t c = 0; c < chunks; c++) {
    alignas(64) float m[kChunk];
    const size_t i0 = c * kChunk, n = std::min(kChunk, N - i0);
    dropout_scales(m, i0, n, drop);
    for (size_t j = 0; j < n; j++) x[i0 + j] *= S(m[j]);
  }
}
}  // namespace

template <class S>
void dropout_forward(S* x, size_t N, Dropout drop) {
  // x (N), in place
  apply_mask(x, N, drop);  // (1) x *= scale(i)
}

template <class S>
void dropout_backward(S* dx, size_t N, Dropout drop) {
  // dx (N), in place. (1) is linear in x with factor scale(i): dx *= scale(i).
  apply_mask(dx, N, drop);
}

#define GPT_INSTANTIATE(S)                                 \
  template void dropout_forward<S>(S*, size_t, Dropout);   \
  template void dropout_backward<S>(S*, size_t, Dropout);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu

namespace gpt {

void dropout_scales(float* m, uint64_t base, size_t n, const Dropout& drop) {
  const float keep = 1.0f / (1.0f - drop.p);  // same float value as Dropout::scale
  uint64_t i = base;
  const uint64_t end = base + n;
  while (i < end && (i & 3)) m[i - base] = drop.scale(i), i++;  // up to a group of 4
  for (; i + 64 <= end; i += 64) cpu::scales64(m + (i - base), i >> 2, drop, keep);
  if (i < end) {  // the tail: one more block, partly used
    alignas(64) float block[64];
    cpu::scales64(block, i >> 2, drop, keep);
    for (uint64_t j = 0; i + j < end; j++) m[i + j - base] = block[j];
  }
}

}  // namespace gpt
