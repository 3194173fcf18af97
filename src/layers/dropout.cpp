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

// m[4 l .. 4 l + 4) = scales of elements 4 g[l] .. 4 g[l] + 3: Philox counter g[l] in
// lane l, 16 lanes at once.
void scales64(float* m, const v16q& g, const Dropout& drop, float keep) {
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

namespace {
// Counters g0 .. g0 + 7 in lanes 0..7 and g1 .. g1 + 7 in lanes 8..15.
cpu::v16q counters(uint64_t g0, uint64_t g1) {
  cpu::v16q g;
  for (int l = 0; l < 8; l++) g[l] = g0 + uint64_t(l), g[l + 8] = g1 + uint64_t(l);
  return g;
}
}  // namespace

void dropout_scales(float* m, uint64_t base, size_t n, const Dropout& drop) {
  const float keep = 1.0f / (1.0f - drop.p);  // same float value as Dropout::scale
  uint64_t i = base;
  const uint64_t end = base + n;
  while (i < end && (i & 3)) m[i - base] = drop.scale(i), i++;  // up to a group of 4
  for (; i + 64 <= end; i += 64) cpu::scales64(m + (i - base), counters(i >> 2, (i >> 2) + 8), drop, keep);
  if (i < end) {  // the tail: one more block, partly used
    alignas(64) float block[64];
    cpu::scales64(block, counters(i >> 2, (i >> 2) + 8), drop, keep);
    for (uint64_t j = 0; i + j < end; j++) m[i + j - base] = block[j];
  }
}

void dropout_scales_tile(float* m, uint64_t base, uint64_t stride, int rows, int n, const Dropout& drop) {
  if (n > 32 || base % 4 != 0 || stride % 4 != 0) {
    for (int r = 0; r < rows; r++) dropout_scales(m + size_t(r) * n, base + uint64_t(r) * stride, size_t(n), drop);
    return;
  }
  // Two rows per call: 8 counters (32 elements) of each, one block of 64 for both.
  const float keep = 1.0f / (1.0f - drop.p);
  alignas(64) float block[64];
  for (int r = 0; r < rows; r += 2) {
    const uint64_t g0 = (base + uint64_t(r) * stride) >> 2, g1 = g0 + (r + 1 < rows ? stride >> 2 : 0);
    cpu::scales64(block, counters(g0, g1), drop, keep);
    std::copy(block, block + n, m + size_t(r) * n);
    if (r + 1 < rows) std::copy(block + 32, block + 32 + n, m + size_t(r + 1) * n);
  }
}

}  // namespace gpt
