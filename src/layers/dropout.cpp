// Inverted dropout in place. The mask is Philox(seed, stream, i) and equals
// Dropout::scale(i) element for element; one Philox call serves four elements.
#include <cstddef>
#include <cstdint>

#include "check.h"
#include "layers.h"

namespace gpt::cpu {

namespace {
// x[i] *= drop.scale(i) for i in [0, N); forward and backward are the same map.
template <class S>
void apply_mask(S* x, size_t N, const Dropout& drop) {
  if (!drop.active()) return;
  GPT_CHECK(drop.p < 1.0f, "dropout probability ", drop.p, " must be below 1");
  const S keep = S(1.0f / (1.0f - drop.p));  // same float value as Dropout::scale
  const size_t groups = (N + 3) / 4;
#pragma omp parallel for schedule(static)
  for (size_t g = 0; g < groups; g++) {
    // philox_uniform(seed, stream, i) uses word i&3 of generate(i>>2, stream, seed).
    uint32_t r[4];
    Philox4x32::generate(r, g, drop.stream, drop.seed);
    const size_t i0 = 4 * g;
    const int n = N - i0 < 4 ? int(N - i0) : 4;
    for (int j = 0; j < n; j++) {
      const float u = float(r[j] >> 8) * (1.0f / 16777216.0f);
      x[i0 + j] *= u < drop.p ? S(0) : keep;
    }
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
