// Residual connection: out = inp1 + inp2, elementwise; backward passes dout to both.
#include <cstddef>

#include "layers.h"

namespace gpt::cpu {

template <class S>
void residual_forward(S* out, const S* inp1, const S* inp2, size_t N) {
  // out, inp1, inp2 (N)
#pragma omp parallel for simd schedule(static) if (parallel : N >= kParallelMin)
  for (size_t i = 0; i < N; i++) out[i] = inp1[i] + inp2[i];  // (1)
}

template <class S>
void residual_backward(S* dinp1, S* dinp2, const S* dout, size_t N) {
  // dinp1, dinp2, dout (N); both written (=). (1): d/dinp1 = d/dinp2 = 1.
#pragma omp parallel for simd schedule(static) if (parallel : N >= kParallelMin)
  for (size_t i = 0; i < N; i++) {
    dinp1[i] = dout[i];
    dinp2[i] = dout[i];
  }
}

#define GPT_INSTANTIATE(S)                                           \
  template void residual_forward<S>(S*, const S*, const S*, size_t); \
  template void residual_backward<S>(S*, S*, const S*, size_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
