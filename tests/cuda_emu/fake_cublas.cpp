// cuBLAS's SGEMM and GemmEx (fp32 or bf16 operands, fp32 C and sums) for the CUDA emulator (cublas_v2.h here), from its documented
// definition: column-major C (m x n, ld ldc) = alpha op(A) op(B) + beta C, op(A) m x k
// (A stored m x k with lda >= m when N, k x m with lda >= k when T), op(B) k x n alike;
// beta = 0 means C is not read. The argument checks are cuBLAS's (INVALID_VALUE), so a
// wrong leading dimension fails here as it would on the GPU. Built as a shared library
// that cuda/matmul.cu loads like libcublas.so (GPT_CUBLAS_LIBRARY).
#include <cstdint>
#include <cstring>
#include <vector>

#include "cublas_v2.h"

struct cublasContext {
  int magic;
};

namespace {
long g_calls = 0;
float at(const float* X, int ld, cublasOperation_t op, int r, int c) {  // op(X)(r, c)
  return op == CUBLAS_OP_N ? X[r + size_t(c) * ld] : X[c + size_t(r) * ld];
}
float at16(const uint16_t* X, int ld, cublasOperation_t op, int r, int c) {  // bf16: the high half of a float
  const uint32_t u = uint32_t(op == CUBLAS_OP_N ? X[r + size_t(c) * ld] : X[c + size_t(r) * ld]) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
bool args_ok(cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, int lda, int ldb, int ldc) {
  const auto rows = [](cublasOperation_t op, int r, int c) { return op == CUBLAS_OP_N ? r : c; };
  return m >= 0 && n >= 0 && k >= 0 && (transa == CUBLAS_OP_N || transa == CUBLAS_OP_T) &&
         (transb == CUBLAS_OP_N || transb == CUBLAS_OP_T) && lda >= (rows(transa, m, k) > 1 ? rows(transa, m, k) : 1) &&
         ldb >= (rows(transb, k, n) > 1 ? rows(transb, k, n) : 1) && ldc >= (m > 1 ? m : 1);
}
}  // namespace

extern "C" {
long gpt_fake_cublas_calls() { return g_calls; }

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  *handle = new cublasContext{0x6b1a5};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                              int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                              const float* beta, float* C, int ldc) {
  if (!handle || handle->magic != 0x6b1a5) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!args_ok(transa, transb, m, n, k, lda, ldb, ldc) || !alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
  g_calls++;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      float s = 0.0f;
      for (int l = 0; l < k; l++) s += at(A, lda, transa, i, l) * at(B, ldb, transb, l, j);
      float& c = C[i + size_t(j) * ldc];
      c = *beta == 0.0f ? *alpha * s : *alpha * s + *beta * c;
    }
  return CUBLAS_STATUS_SUCCESS;
}
// A and B both fp32 or both bf16; C fp32; fp32 compute (what cuda/matmul.cu asks for).
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  if (!handle || handle->magic != 0x6b1a5) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!args_ok(transa, transb, m, n, k, lda, ldb, ldc) || !alpha || !beta || Atype != Btype ||
      (Atype != CUDA_R_32F && Atype != CUDA_R_16BF) || Ctype != CUDA_R_32F || computeType != CUBLAS_COMPUTE_32F ||
      algo != CUBLAS_GEMM_DEFAULT)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (Atype == CUDA_R_32F)
    return cublasSgemm_v2(handle, transa, transb, m, n, k, static_cast<const float*>(alpha),
                          static_cast<const float*>(A), lda, static_cast<const float*>(B), ldb,
                          static_cast<const float*>(beta), static_cast<float*>(C), ldc);
  g_calls++;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  const auto* a = static_cast<const uint16_t*>(A);
  const auto* b = static_cast<const uint16_t*>(B);
  float* c = static_cast<float*>(C);
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      float s = 0.0f;
      for (int l = 0; l < k; l++) s += at16(a, lda, transa, i, l) * at16(b, ldb, transb, l, j);
      float& out = c[i + size_t(j) * ldc];
      out = be == 0.0f ? al * s : al * s + be * out;
    }
  return CUBLAS_STATUS_SUCCESS;
}
}
