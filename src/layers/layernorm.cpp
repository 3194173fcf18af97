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
template <class S>
inline void layernorm_row(S* o, S* mean, S* rstd, const S* x, const S* weight, const S* bias, int C) {
  S sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int c = 0; c < C; c++) sum += x[c];
  const S m = sum / S(C);
  S sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int c = 0; c < C; c++) {
    const S xm = x[c] - m;
    sq += xm * xm;
  }
  const S s = S(1) / std::sqrt(sq / S(C) + S(kEps));
#pragma omp simd
  for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];  // (*)
  *mean = m;
  *rstd = s;
}

template <class S>
void layernorm_forward(S* out, S* mean, S* rstd, const S* inp, const S* weight, const S* bias,
                       size_t N, int C) {
  // inp, out (N,C); mean, rstd (N); weight, bias (C)
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; n++)
    layernorm_row(out + n * C, mean + n, rstd + n, inp + n * C, weight, bias, C);
}

template <class S>
void residual_layernorm_forward(S* res, S* out, S* mean, S* rstd, const S* a, const S* b, const S* weight,
                                const S* bias, size_t N, int C) {
  // a, b, res, out (N,C); mean, rstd (N): res = a + b, out = layernorm(res), one pass
  // per row while the row is in L1.
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; n++) {
    S* r = res + n * C;
    const S *x = a + n * C, *y = b + n * C;
#pragma omp simd
    for (int c = 0; c < C; c++) r[c] = x[c] + y[c];
    layernorm_row(out + n * C, mean + n, rstd + n, r, weight, bias, C);
  }
}

template <class S>
void layernorm_backward(S* dinp, S* dweight, S* dbias, const S* dout, const S* inp, const S* weight,
                        const S* mean, const S* rstd, size_t N, int C) {
  // dinp, dout, inp (N,C); dweight, dbias, weight (C); mean, rstd (N)
  // Differentiates (*): o = norm * w + b with norm = (x - m) * s, m and s depending on x.
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < N; n++) {
    const S* x = inp + n * C;
    const S* dn = dout + n * C;
    S* dx = dinp + n * C;
    const S m = mean[n], s = rstd[n];
    // dnorm = dout * w; the two row means come from d/dx of m and of s.
    S sum_dnorm = 0, sum_dnorm_norm = 0;
#pragma omp simd reduction(+ : sum_dnorm, sum_dnorm_norm)
    for (int c = 0; c < C; c++) {
      const S dnorm = dn[c] * weight[c];
      sum_dnorm += dnorm;
      sum_dnorm_norm += dnorm * (x[c] - m) * s;
    }
    const S mean_dnorm = sum_dnorm / S(C), mean_dnorm_norm = sum_dnorm_norm / S(C);
#pragma omp simd
    for (int c = 0; c < C; c++) {
      const S norm = (x[c] - m) * s;
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
    S dw[kChanBlock] = {}, db[kChanBlock] = {};
    for (size_t n = 0; n < N; n++) {
      const S* x = inp + n * C;
      const S* dn = dout + n * C;
      const S m = mean[n], s = rstd[n];
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

#define GPT_INSTANTIATE(S)                                                                      \
  template void layernorm_forward<S>(S*, S*, S*, const S*, const S*, const S*, size_t, int);    \
  template void residual_layernorm_forward<S>(S*, S*, S*, S*, const S*, const S*, const S*,     \
                                              const S*, size_t, int);                           \
  template void layernorm_backward<S>(S*, S*, S*, const S*, const S*, const S*, const S*,       \
                                      const S*, size_t, int);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
