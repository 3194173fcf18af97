// AdamW update (gradient clipping's factor applied inside it) and the sum of squares
// the clipping norm comes from.
// The sum of squares uses fixed 4096-element chunks so it is thread-count independent.
#include <cmath>
#include <cstddef>
#include <vector>

#include "check.h"
#include "layers.h"
#include "layers/pointwise.h"

namespace gpt::cpu {

namespace {
constexpr size_t kChunk = 4096;
}  // namespace

template <class S>
void adamw_update(S* param, S* m, S* v, const S* grad, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, long t, S grad_scale) {
  // param, m, v, grad (n)
  GPT_CHECK(t >= 1, "AdamW step t = ", t, " must be 1-based");
  const AdamwCoefficients<S> c = adamw_coefficients<S>(lr, beta1, beta2, eps, weight_decay, t);
  // adamw_element (pointwise.h): the formula cuda/adamw.cu runs too, so both update bit for bit
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) adamw_element(param[i], m[i], v[i], grad[i], grad_scale, c);
}

template <class S>
double sum_squares(const S* x, size_t n) {
  // x (n) -> sum x^2 in double; chunk partials summed in chunk order.
  const size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks);
#pragma omp parallel for schedule(static)
  for (size_t c = 0; c < chunks; c++) {
    const size_t i0 = c * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (size_t i = i0; i < i1; i++) acc += double(x[i]) * double(x[i]);
    partial[c] = acc;
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

#define GPT_INSTANTIATE(S)                                                                   \
  template void adamw_update<S>(S*, S*, S*, const S*, size_t, float, float, float, float,    \
                                float, long, S);                                             \
  template double sum_squares<S>(const S*, size_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
