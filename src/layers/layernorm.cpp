// Layer normalisation over the last (channel) axis, GPT-2 style: biased variance,
// eps 1e-5. Parameter gradients are summed per channel in row order (deterministic).
#include <cmath>
#include <cstddef>

#include "layers.h"

namespace gpt::cpu {

namespace {
constexpr double kEps = 1e-5;
constexpr int kChanBlock = 16;  // channels per thread block in the dweight/dbias sums
}  // namespace

// One row: (*) below. Shared by layernorm_forward and residual_layernorm_forward, so
// the fused and the separate paths give bit-identical results.
template <class T>
inline void layernorm_row(T* o, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int C) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int c = 0; c < C; c++) sum += x[c];
  const T m = sum / T(C);
  T sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int c = 0; c < C; c++) {
    const T xm = x[c] - m;
    sq += xm * xm;
  }
  const T s = T(1) / std::sqrt(sq / T(C) + T(kEps));
#pragma omp simd
  for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];  // (*)
  *mean = m;
  *rstd = s;
}

template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias,
                       size_t N, int C) {
  // inp, out (N,C); mean, rstd (N); weight, bias (C)
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; n++)
    layernorm_row(out + n * C, mean + n, rstd + n, inp + n * C, weight, bias, C);
}

template <class T>
void residual_layernorm_forward(T* res, T* out, T* mean, T* rstd, const T* a, const T* b, const T* weight,
                                const T* bias, size_t N, int C) {
  // a, b, res, out (N,C); mean, rstd (N): res = a + b, out = layernorm(res), one pass
  // per row while the row is in L1.
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; n++) {
    T* r = res + n * C;
    const T *x = a + n * C, *y = b + n * C;
#pragma omp simd
    for (int c = 0; c < C; c++) r[c] = x[c] + y[c];
    layernorm_row(out + n * C, mean + n, rstd + n, r, weight, bias, C);
  }
}

template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                        const T* mean, const T* rstd, size_t N, int C) {
  // dinp, dout, inp (N,C); dweight, dbias, weight (C); mean, rstd (N)
  // Differentiates (*): o = norm * w + b with norm = (x - m) * s, m and s depending on x.
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < N; n++) {
    const T* x = inp + n * C;
    const T* dn = dout + n * C;
    T* dx = dinp + n * C;
    const T m = mean[n], s = rstd[n];
    // dnorm = dout * w; the two row means come from d/dx of m and of s.
    T sum_dnorm = 0, sum_dnorm_norm = 0;
#pragma omp simd reduction(+ : sum_dnorm, sum_dnorm_norm)
    for (int c = 0; c < C; c++) {
      const T dnorm = dn[c] * weight[c];
      sum_dnorm += dnorm;
      sum_dnorm_norm += dnorm * (x[c] - m) * s;
    }
    const T mean_dnorm = sum_dnorm / T(C), mean_dnorm_norm = sum_dnorm_norm / T(C);
#pragma omp simd
    for (int c = 0; c < C; c++) {
      const T norm = (x[c] - m) * s;
      dx[c] += s * (dn[c] * weight[c] - mean_dnorm - norm * mean_dnorm_norm);
    }
  }
  // dw += dout * norm, db += dout (from (*)), reduced over rows: each thread owns a
  // block of channels and walks every row in order, so sums do not depend on threads.
  const int nblocks = (C + kChanBlock - 1) / kChanBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < nblocks; blk++) {
    const int c0 = blk * kChanBlock;
    const int c1 = c0 + kChanBlock < C ? c0 + kChanBlock : C;
    T dw[kChanBlock] = {}, db[kChanBlock] = {};
    for (size_t n = 0; n < N; n++) {
      const T* x = inp + n * C;
      const T* dn = dout + n * C;
      const T m = mean[n], s = rstd[n];
#pragma omp simd
      for (int c = c0; c < c1; c++) {
        dw[c - c0] += dn[c] * (x[c] - m) * s;
        db[c - c0] += dn[c];
      }
    }
    for (int c = c0; c < c1; c++) {
      dweight[c] += dw[c - c0];
      dbias[c] += db[c - c0];
    }
  }
}

#define GPT_INSTANTIATE(T)                                                                      \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, size_t, int);    \
  template void residual_layernorm_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*,     \
                                              const T*, size_t, int);                           \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,       \
                                      const T*, size_t, int);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
