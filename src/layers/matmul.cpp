// Fully connected layer: out = inp · W^T + b, and its backward (also with the GELU
// that follows the fc layer fused in). float runs the GEMM engine (gemm.cpp); double
// runs the scalar reference (the finite-difference checks).
#include <algorithm>
#include <type_traits>

#include "bf16.h"
#include "check.h"
#include "layers.h"
#include "layers/gemm.h"

namespace gpt::cpu {

namespace {

// dbias[o] += sum_i dout[i, o]; parallel over column blocks, rows in order.
template <class S>
void bias_backward(S* dbias, const S* dout, size_t N, int OC) {
  constexpr int BLK = 64;
  const int nblk = (OC + BLK - 1) / BLK;
#pragma omp parallel for schedule(static)
  for (int bk = 0; bk < nblk; bk++) {
    const int o0 = bk * BLK, o1 = std::min(OC, o0 + BLK);
    S acc[BLK] = {};
    for (size_t i = 0; i < N; i++) {
      const S* row = dout + i * OC;
#pragma omp simd
      for (int o = o0; o < o1; o++) acc[o - o0] += row[o];
    }
    for (int o = o0; o < o1; o++) dbias[o] += acc[o - o0];
  }
}

}  // namespace

template <class S>
void matmul_forward_reference(S* out, const S* inp, const S* weight, const S* bias, size_t N, int C,
                              int OC) {
  // out (N,OC) = inp (N,C) · weight (OC,C)^T + bias
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < N; i++)
    for (int o = 0; o < OC; o++) {
      S acc = bias ? bias[o] : S(0);
      for (int c = 0; c < C; c++) acc += inp[i * C + c] * weight[size_t(o) * C + c];
      out[i * OC + o] = acc;
    }
}

template <class S>
void matmul_backward_reference(S* dinp, S* dweight, S* dbias, const S* dout, const S* inp,
                               const S* weight, size_t N, int C, int OC) {
  // from out[i,o] = sum_c inp[i,c] * weight[o,c] + bias[o]:
  if (dinp) {  // dinp[i,c] = sum_o dout[i,o] * weight[o,c]
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
      std::fill(dinp + i * C, dinp + (i + 1) * C, S(0));
      for (int o = 0; o < OC; o++) {
        const S d = dout[i * OC + o];
        for (int c = 0; c < C; c++) dinp[i * C + c] += d * weight[size_t(o) * C + c];
      }
    }
  }
  // dweight[o,c] += sum_i dout[i,o] * inp[i,c]; dbias[o] += sum_i dout[i,o]
#pragma omp parallel for schedule(static)
  for (int o = 0; o < OC; o++)
    for (size_t i = 0; i < N; i++) {
      const S d = dout[i * OC + o];
      for (int c = 0; c < C; c++) dweight[size_t(o) * C + c] += d * inp[i * C + c];
      if (dbias) dbias[o] += d;
    }
}

namespace {

// The float layers on one GEMM engine: sgemm (fp32) or gemm_bf16 (--dtype bf16).
using GemmFn = decltype(&sgemm);

template <GemmFn gemm>
void forward_on(float* out, const float* inp, const float* weight, const float* bias, size_t N, int C, int OC,
                const Epilogue& ep = {}) {
  GPT_CHECK(N < (size_t(1) << 31), "too many rows for one matmul: ", N);
  // out (N,OC) = inp (N,C) · weight (OC,C)^T + bias: A = inp (row-major N x C),
  // B(k=c, j=o) = weight[o*C + c]
  gemm(int(N), OC, C, inp, size_t(C), 1, weight, 1, size_t(C), out, size_t(OC), false, bias, ep);
}

template <GemmFn gemm>
void backward_on(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                 size_t N, int C, int OC, const Epilogue& ep = {}) {
  GPT_CHECK(N < (size_t(1) << 31), "too many rows for one matmul: ", N);
  // from out = inp · W^T:  dinp (N,C) = dout (N,OC) · W (OC,C)
  if (dinp) gemm(int(N), C, OC, dout, size_t(OC), 1, weight, size_t(C), 1, dinp, size_t(C), false, nullptr, ep);
  // dW (OC,C) += dout^T (OC,N) · inp (N,C)
  gemm(OC, C, int(N), dout, 1, size_t(OC), inp, size_t(C), 1, dweight, size_t(C), true, nullptr, {});
  // from + bias: dbias += column sums of dout
  if (dbias) bias_backward(dbias, dout, N, OC);
}

}  // namespace

template <class S>
void matmul_forward(S* out, const S* inp, const S* weight, const S* bias, size_t N, int C, int OC) {
  if constexpr (std::is_same_v<S, float>) {
    if (N <= 2) {  // decode: matrix-vector products, bandwidth bound
      for (size_t i = 0; i < N; i++) matvec(out + i * OC, weight, inp + i * C, bias, C, OC);
      return;
    }
    forward_on<sgemm>(out, inp, weight, bias, N, C, OC);
  } else {
    matmul_forward_reference(out, inp, weight, bias, N, C, OC);
  }
}

template <class S>
void matmul_backward(S* dinp, S* dweight, S* dbias, const S* dout, const S* inp, const S* weight,
                     size_t N, int C, int OC) {
  if constexpr (std::is_same_v<S, float>) {
    backward_on<sgemm>(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  } else {
    matmul_backward_reference(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  }
}

template <class S>
void matmul_gelu_forward(S* out, S* out_gelu, const S* inp, const S* weight, const S* bias, size_t N, int C, int OC) {
  if constexpr (std::is_same_v<S, float>) {
    if (N > 2) return forward_on<sgemm>(out, inp, weight, bias, N, C, OC, {Epilogue::gelu, out_gelu, nullptr});
  }
  matmul_forward(out, inp, weight, bias, N, C, OC);
  gelu_forward(out_gelu, out, N * size_t(OC));
}

template <class S>
void matmul_gelu_backward(S* dpre, S* dinp, S* dweight, S* dbias, const S* dout, const S* inp, const S* pre,
                          const S* weight, size_t N, int C, int OC) {
  // Without dinp the product lands in dpre and the GELU's derivative scales it in place
  // (elementwise: each element is read, then written).
  S* prod = dinp ? dinp : dpre;
  if constexpr (std::is_same_v<S, float>) {
    backward_on<sgemm>(prod, dweight, dbias, dout, inp, weight, N, C, OC, {Epilogue::gelu_grad, dpre, pre});
  } else {
    matmul_backward(prod, dweight, dbias, dout, inp, weight, N, C, OC);
    gelu_backward(dpre, pre, prod, N * size_t(C));
  }
}

void matmul_forward_bf16(float* out, const float* inp, const float* weight, const float* bias, size_t N, int C,
                         int OC) {
  forward_on<gemm_bf16>(out, inp, weight, bias, N, C, OC);
}
void matmul_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, size_t N, int C, int OC) {
  backward_on<gemm_bf16>(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}
void matmul_gelu_forward_bf16(float* out, float* out_gelu, const float* inp, const float* weight, const float* bias,
                              size_t N, int C, int OC) {
  forward_on<gemm_bf16>(out, inp, weight, bias, N, C, OC, {Epilogue::gelu, out_gelu, nullptr});
}
void matmul_gelu_backward_bf16(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* pre, const float* weight, size_t N, int C, int OC) {
  backward_on<gemm_bf16>(dinp ? dinp : dpre, dweight, dbias, dout, inp, weight, N, C, OC,
                         {Epilogue::gelu_grad, dpre, pre});
}

void to_bf16(uint16_t* dst, const float* src, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) dst[i] = float_to_bf16(src[i]);
}

void matmul_decode_bf16w(float* out, const float* inp, const uint16_t* weight, const float* bias, int C, int OC) {
  matvec_bf16w(out, weight, inp, bias, C, OC);
}

#define INSTANTIATE(S)                                                                              \
  template void matmul_gelu_forward<S>(S*, S*, const S*, const S*, const S*, size_t, int, int);     \
  template void matmul_gelu_backward<S>(S*, S*, S*, S*, const S*, const S*, const S*, const S*,     \
                                        size_t, int, int);                                          \
  template void matmul_forward<S>(S*, const S*, const S*, const S*, size_t, int, int);              \
  template void matmul_backward<S>(S*, S*, S*, const S*, const S*, const S*, size_t, int, int);     \
  template void matmul_forward_reference<S>(S*, const S*, const S*, const S*, size_t, int, int);    \
  template void matmul_backward_reference<S>(S*, S*, S*, const S*, const S*, const S*, size_t, int, \
                                             int);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace gpt::cpu
