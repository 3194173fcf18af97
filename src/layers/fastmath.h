// Vectorizable exp and tanh for the float paths (softmax, GELU). glibc's expf/tanhf
// are scalar calls unless -ffast-math, which we never use. Double keeps std::exp /
// std::tanh, so the finite-difference checks run on the library functions.
// Method: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6
// polynomial for e^r (coefficients are Cephes' expf minimax values, S. Moshier),
// and 2^n built in the exponent bits. Max relative error about 2e-7 on [-87, 88].
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace gpt::cpu {

inline float fast_expf(float x_in) {
  // NaN would fail both comparisons and reach int32_t(n) below, an undefined
  // conversion: it computes with 0 instead and the NaN is returned at the end.
  // +-inf clamp like any large value. Both are selects, so the loops still vectorize.
  const bool is_nan = x_in != x_in;
  float x = is_nan ? 0.0f : x_in;
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // n = round(x / ln2) by the 1.5 * 2^23 trick (exact for |x / ln2| < 2^22): std::floor
  // would keep GCC from vectorizing the loops that call this (no vector floor without
  // -ffast-math), leaving every softmax and GELU scalar.
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;  // ln2 split in two for exact products
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const uint32_t bits = uint32_t(int32_t(n) + 127) << 23;  // n in [-126, 127]: a normal exponent
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return is_nan ? x_in : p * scale;
}

// tanh(u) = 1 - 2 / (exp(2u) + 1): saturates correctly at both ends.
inline float fast_tanhf(float u) { return 1.0f - 2.0f / (fast_expf(2.0f * u) + 1.0f); }

template <class S>
inline S exp_t(S x) {
  if constexpr (std::is_same_v<S, float>) return fast_expf(x);
  else return std::exp(x);
}
template <class S>
inline S tanh_t(S x) {
  if constexpr (std::is_same_v<S, float>) return fast_tanhf(x);
  else return std::tanh(x);
}

// out[i] = exp(in[i] - shift) for i < n, returns their sum: the shared core of every
// softmax (attention weights, cross-entropy). out may alias in.
template <class S>
inline S exp_shifted_sum(S* out, const S* in, int n, S shift) {
  S sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; i++) {
    const S e = exp_t(in[i] - shift);
    out[i] = e;
    sum += e;
  }
  return sum;
}

// GELU, tanh approximation as in GPT-2: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
// and its derivative. gelu.cpp's layers and the GEMM epilogue that fuses GELU into the
// fc matmul share these, so the fused and separate paths give the same bits.
constexpr double kGeluSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/pi)
constexpr double kGeluCubic = 0.044715;

template <class S>
inline S gelu_value(S x) {
  const S u = S(kGeluSqrt2OverPi) * (x + S(kGeluCubic) * x * x * x);  // (1)
  return S(0.5) * x * (S(1) + tanh_t(u));                               // (2)
}

// a * b + c, rounded once where the CPU has FMA. For a sum of two products the compiler
// may fuse either one under -ffp-contract=fast, and which one it picks can change with
// unrelated code nearby (fast_expf's NaN select flipped gelu_grad's and so the training
// losses in the 8th digit): naming the fused product keeps the bits where they are.
template <class S>
inline S mul_add(S a, S b, S c) {
#if defined(FP_FAST_FMAF) && defined(FP_FAST_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;  // no FMA instruction: a library fma would be a slow scalar call
#endif
}

template <class S>
inline S gelu_grad(S x) {
  const S a = S(kGeluSqrt2OverPi), k = S(kGeluCubic);
  const S u = a * (x + k * x * x * x);
  const S th = tanh_t(u);
  const S sech2 = S(1) - th * th;
  // (2): d/dx = 0.5 (1 + tanh u) + 0.5 x sech^2(u) du/dx; (1): du/dx = a (1 + 3k x^2)
  return mul_add(S(0.5) * x * sech2 * a, S(1) + S(3) * k * x * x, S(0.5) * (S(1) + th));
}

}  // namespace gpt::cpu
