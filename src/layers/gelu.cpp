// GELU, tanh approximation as in GPT-2: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Elementwise; the exact erf form is deliberately not offered.
#include <cmath>
#include <cstddef>

#include "layers.h"
#include "layers/fastmath.h"

namespace gpt::cpu {

// The formula and its derivative: gelu_value / gelu_grad (fastmath.h).
template <class S>
void gelu_forward(S* out, const S* inp, size_t N) {
  // inp, out (N)
#pragma omp parallel for simd schedule(static) if (parallel : N >= kParallelMin)
  for (size_t i = 0; i < N; i++) out[i] = gelu_value(inp[i]);
}

template <class S>
void gelu_backward(S* dinp, const S* inp, const S* dout, size_t N) {
  // dinp, inp, dout (N); dinp = (written, not added to)
#pragma omp parallel for simd schedule(static) if (parallel : N >= kParallelMin)
  for (size_t i = 0; i < N; i++) dinp[i] = gelu_grad(inp[i]) * dout[i];
}

#define GPT_INSTANTIATE(S)                                       \
  template void gelu_forward<S>(S*, const S*, size_t);           \
  template void gelu_backward<S>(S*, const S*, const S*, size_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
