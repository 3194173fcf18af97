// AdamW update (gradient clipping's factor applied inside it) and the sum of squares
// the clipping norm comes from.
// The sum of squares uses fixed 4096-element chunks so it is thread-count independent.
#include <cmath>
#include <cstddef>
#include <vector>

#include "check.h"
#include "layers.h"

namespace gpt::cpu {

namespace {
constexpr size_t kChunk = 4096;
}  // namespace

template <class T>
void adamw_update(T* param, T* m, T* v, const T* grad, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, long t, T grad_scale) {
  // param, m, v, grad (n)
  GPT_CHECK(t >= 1, "AdamW step t = ", t, " must be 1-based");
  // Bias corrections in double: 1 - beta^t loses digits in float for beta2 ~ 1.
  const T inv_bc1 = T(1.0 / (1.0 - std::pow(double(beta1), double(t))));
  const T inv_bc2 = T(1.0 / (1.0 - std::pow(double(beta2), double(t))));
  const T b1 = T(beta1), b2 = T(beta2), a1 = T(1) - T(beta1), a2 = T(1) - T(beta2);
  const T lr_ = T(lr), eps_ = T(eps), wd = T(weight_decay);
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) {
    const T g = grad[i] * grad_scale;
    const T mi = b1 * m[i] + a1 * g;
    const T vi = b2 * v[i] + a2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const T mhat = mi * inv_bc1, vhat = vi * inv_bc2;
    param[i] -= lr_ * (mhat / (std::sqrt(vhat) + eps_) + wd * param[i]);
  }
}

template <class T>
double sum_squares(const T* x, size_t n) {
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

#define GPT_INSTANTIATE(T)                                                                   \
  template void adamw_update<T>(T*, T*, T*, const T*, size_t, float, float, float, float,    \
                                float, long, T);                                             \
  template double sum_squares<T>(const T*, size_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
