// The float GEMM engine (gemm.cpp) that the matmul layer (matmul.cpp) runs on: one
// strided product with fused bias and GELU epilogues, the matrix-vector product of
// decoding, and the run-time choice of micro-kernel. CPU only; not a layer.
#pragma once
#include <cstddef>

namespace gpt::cpu {

// The micro-kernel, chosen at first use from cpuid (GPT_GEMM=avx512|avx2|generic
// overrides). Every kernel computes the same sums in the same order per element.
enum class GemmIsa { generic, avx2, avx512 };
const char* gemm_isa_name(GemmIsa isa);
bool gemm_isa_supported(GemmIsa isa);
GemmIsa gemm_isa();
void set_gemm_isa(GemmIsa isa);  // gpt::Error if the CPU lacks it

// What happens to each finished block of C (all k-blocks summed) while it is in cache:
//   gelu:      out[i, j] = gelu(C[i, j])
//   gelu_grad: out[i, j] += gelu'(pre[i, j]) * C[i, j]
// out and pre have C's shape and row stride.
struct Epilogue {
  enum Kind { none, gelu, gelu_grad } kind = none;
  float* out = nullptr;
  const float* pre = nullptr;
};
// C(i,j) (= or +=, per accumulate) sum_k A(i,k) B(k,j) [+ bias(j)], with
// A(i,k) = A[i*ars + k*acs] and B(k,j) = B[k*brs + j*bcs]: the strides express all
// three transposes the model needs without copies beyond packing. OpenMP inside.
void sgemm(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs, size_t bcs,
           float* C, size_t ldc, bool accumulate, const float* bias, const Epilogue& ep = {});
// y (OC) = W (OC,C) · x (C) + bias (bias may be nullptr): streams W once.
void matvec(float* y, const float* W, const float* x, const float* bias, int C, int OC);

}  // namespace gpt::cpu
