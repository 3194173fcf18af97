// Inverted dropout in place. The mask is Philox(seed, stream, i) and equals
// Dropout::scale(i) element for element; one Philox call serves four elements, and
// 16 calls run at once in vector lanes (dropout_scales, rng.h).
#include <cstddef>
#include <cstdint>

#include <algorithm>

#include "check.h"
#include "layers.h"

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
  for (int w = 0; w < 4; w++)
    for (int l = 0; l < 16; l++) {
      const float u = float(ctr[w][l] >> 8) * (1.0f / 16777216.0f);  // as philox_uniform
      m[4 * l + w] = u < drop.p ? 0.0f : keep;
    }
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
  alignas(64) float block[64];
  for (; i + 64 <= end; i += 64) cpu::scales64(m + (i - base), i >> 2, drop, keep);
  if (i < end) {  // the tail: one more block, partly used
    cpu::scales64(block, i >> 2, drop, keep);
    for (uint64_t j = 0; i + j < end; j++) m[i + j - base] = block[j];
  }
  (void)block;
}

}  // namespace gpt
