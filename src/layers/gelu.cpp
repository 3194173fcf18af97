// GELU, tanh approximation as in GPT-2: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Elementwise; the exact erf form is deliberately not offered.
#include <cmath>
#include <cstddef>

#include "layers.h"
#include "layers/fastmath.h"

namespace gpt::cpu {

namespace {
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kCubic = 0.044715;
}  // namespace

template <class T>
void gelu_forward(T* out, const T* inp, size_t N) {
  // inp, out (N)
  const T a = T(kSqrt2OverPi), k = T(kCubic);
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < N; i++) {
    const T x = inp[i];
    const T u = a * (x + k * x * x * x);    // (1)
    out[i] = T(0.5) * x * (T(1) + tanh_t(u));  // (2)
  }
}

template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, size_t N) {
  // dinp, inp, dout (N); dinp +=
  const T a = T(kSqrt2OverPi), k = T(kCubic);
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < N; i++) {
    const T x = inp[i];
    const T u = a * (x + k * x * x * x);
    const T th = tanh_t(u);
    const T sech2 = T(1) - th * th;
    // (2): d/dx = 0.5 (1 + tanh u) + 0.5 x sech^2(u) du/dx; (1): du/dx = a (1 + 3k x^2)
    const T grad = T(0.5) * (T(1) + th) + T(0.5) * x * sech2 * a * (T(1) + T(3) * k * x * x);
    dinp[i] += grad * dout[i];
  }
}

#define GPT_INSTANTIATE(T)                                       \
  template void gelu_forward<T>(T*, const T*, size_t);           \
  template void gelu_backward<T>(T*, const T*, const T*, size_t);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
