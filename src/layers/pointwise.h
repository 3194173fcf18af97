// The per-element formulas both backends compute, written once (GPT_HD: the CUDA
// kernels include this header too): exp and tanh as gpt.cc computes them, GELU and its
// derivative, and the AdamW update of one parameter. Every product that feeds a sum is
// named (mul_add), so no compiler is left to choose which one to fuse: GCC under
// -ffp-contract=fast on the CPU and nvcc on the GPU then round the same operations and
// give the same bits (where the CPU has FMA; the choices written here are the ones GCC
// made on its own before, so the CPU's results did not move). No OpenMP pragmas here:
// nvcc's host pass would warn about them.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "bf16.h"  // GPT_HD, bits_float

namespace gpt {

// a * b + c, rounded once where there is an FMA instruction (every GPU; CPUs from
// Haswell on). For a sum of two products a compiler may fuse either one, and which it
// picks can change with unrelated code nearby (fast_expf's NaN select once flipped
// gelu_grad's and so the training losses in the 8th digit): naming it keeps the bits.
template <class S>
GPT_HD inline S mul_add(S a, S b, S c) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<S, float>) return fmaf(a, b, c);
  else return fma(a, b, c);
#elif defined(FP_FAST_FMAF) && defined(FP_FAST_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;  // no FMA instruction: a library fma would be a slow scalar call
#endif
}

// a * b rounded on its own, never fused into a sum it feeds. nvcc rewrote 2 (a b) as
// a b + a b and fused one product into an FMA, which GCC does not: __fmul_rn forbids it.
template <class S>
GPT_HD inline S mul_rn(S a, S b) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<S, float>) return __fmul_rn(a, b);
  else return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// e^x: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6
// polynomial for e^r (coefficients are Cephes' expf minimax values, S. Moshier), and
// 2^n built in the exponent bits. Max relative error about 2e-7 on [-87, 88]. glibc's
// expf is a scalar call unless -ffast-math (never used), so this is what vectorizes.
GPT_HD inline float fast_expf(float x_in) {
  // NaN would fail both comparisons and reach int32_t(n) below, an undefined
  // conversion: it computes with 0 instead and the NaN is returned at the end.
  // +-inf clamp like any large value. Both are selects, so the loops still vectorize.
  const bool is_nan = x_in != x_in;
  float x = is_nan ? 0.0f : x_in;
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // n = round(x / ln2) by the 1.5 * 2^23 trick (exact for |x / ln2| < 2^22): std::floor
  // would keep GCC from vectorizing the loops that call this (no vector floor without
  // -ffast-math), leaving every softmax and GELU scalar.
  const float n = mul_add(x, 1.44269504088896341f, 12582912.0f) - 12582912.0f;
  float r = mul_add(-n, 0.693359375f, x);  // ln2 split in two for exact products
  r = mul_add(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = mul_add(p, r, 1.3981999507e-3f);
  p = mul_add(p, r, 8.3334519073e-3f);
  p = mul_add(p, r, 4.1665795894e-2f);
  p = mul_add(p, r, 1.6666665459e-1f);
  p = mul_add(p, r, 5.0000001201e-1f);
  p = mul_add(p * r, r, r) + 1.0f;
  const float scale = bits_float(uint32_t(int32_t(n) + 127) << 23);  // n in [-126, 127]: a normal exponent
  return is_nan ? x_in : p * scale;
}

// tanh(u) = 1 - 2 / (exp(2u) + 1): saturates correctly at both ends.
GPT_HD inline float fast_tanhf(float u) { return 1.0f - 2.0f / (fast_expf(2.0f * u) + 1.0f); }

// The correctly rounded square root (IEEE on both sides: nvcc's default -prec-sqrt).
template <class S>
GPT_HD inline S sqrt_t(S x) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<S, float>) return sqrtf(x);
  else return sqrt(x);
#else
  return std::sqrt(x);
#endif
}

// float: the functions above; double (the finite-difference checks): the library's.
template <class S>
GPT_HD inline S exp_t(S x) {
  if constexpr (std::is_same_v<S, float>) return fast_expf(x);
  else return std::exp(x);
}
template <class S>
GPT_HD inline S tanh_t(S x) {
  if constexpr (std::is_same_v<S, float>) return fast_tanhf(x);
  else return std::tanh(x);
}

// GELU, tanh approximation as in GPT-2: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
// and its derivative. gelu.cpp's layers, the CPU GEMM epilogues that fuse GELU into the
// fc matmul and cuda/gelu.cu all compute these.
constexpr double kGeluSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kGeluCubic = 0.044715;

template <class S>
GPT_HD inline S gelu_value(S x) {
  const S u = mul_rn(S(kGeluSqrt2OverPi), mul_add(S(kGeluCubic) * x * x, x, x));  // (1)
  return S(0.5) * x * (S(1) + tanh_t(u));                                   // (2)
}

template <class S>
GPT_HD inline S gelu_grad(S x) {
  const S a = S(kGeluSqrt2OverPi), k = S(kGeluCubic), k3 = S(3) * k;
  const S u = mul_rn(a, mul_add(k * x * x, x, x));
  const S th = tanh_t(u);
  const S sech2 = mul_add(-th, th, S(1));
  // (2): d/dx = 0.5 (1 + tanh u) + 0.5 x sech^2(u) du/dx; (1): du/dx = a (1 + 3k x^2)
  return mul_add(S(0.5) * x * sech2 * a, mul_add(k3 * x, x, S(1)), S(0.5) * (S(1) + th));
}

// AdamW for one parameter (decoupled weight decay, Loshchilov & Hutter), the gradient
// first scaled by grad_scale (the clip factor). The bias corrections come in as
// 1 / (1 - beta^t), computed once per call in double (adamw_coefficients).
template <class S>
struct AdamwCoefficients {
  S lr, b1, b2, a1, a2, eps, wd, inv_bc1, inv_bc2;
};
template <class S>
inline AdamwCoefficients<S> adamw_coefficients(float lr, float beta1, float beta2, float eps, float weight_decay,
                                               long t) {
  // 1 - beta^t loses digits in float for beta2 ~ 1
  return {S(lr),
          S(beta1),
          S(beta2),
          S(1) - S(beta1),
          S(1) - S(beta2),
          S(eps),
          S(weight_decay),
          S(1.0 / (1.0 - std::pow(double(beta1), double(t)))),
          S(1.0 / (1.0 - std::pow(double(beta2), double(t))))};
}
template <class S>
GPT_HD inline void adamw_element(S& p, S& m, S& v, S grad, S grad_scale, const AdamwCoefficients<S>& c) {
  const S g = grad * grad_scale;
  const S mi = mul_add(c.b1, m, c.a1 * g);
  const S vi = mul_add(c.b2, v, c.a2 * g * g);
  m = mi;
  v = vi;
  const S mhat = mi * c.inv_bc1, vhat = vi * c.inv_bc2;
  const S step = mhat / (sqrt_t(vhat) + c.eps);
  p = mul_add(-c.lr, mul_add(c.wd, p, step), p);  // p -= lr (step + wd p)
}

}  // namespace gpt
