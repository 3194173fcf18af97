// The fully connected layer on the GPU (layers.h matmul_*), on one strided GEMM
// kernel: C(i,j) (= or +=) sum_k A(i,k) B(k,j) [+ bias(j)], A(i,k) = A[i*ars + k*acs],
// B(k,j) = B[k*brs + j*bcs] -- the same strides the CPU engine (gemm.h) takes, so each
// product is set up exactly as on the CPU. 32x32 tiles through shared memory, fp32,
// k in order per element (deterministic). A first, plain version: cuBLASLt with its
// bias/GELU epilogues is the next step (issue: GPU training).
#include "common.cuh"

namespace gpt::gpu {
namespace {
constexpr int kTile = 32;

__global__ void gemm_kernel(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs,
                            size_t bcs, float* C, size_t ldc, bool accumulate, const float* bias) {
  __shared__ float As[kTile][kTile + 1], Bs[kTile][kTile + 1];
  const int i = blockIdx.y * kTile + threadIdx.y, j = blockIdx.x * kTile + threadIdx.x;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += kTile) {
    const int ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    As[threadIdx.y][threadIdx.x] = (i < M && ka < K) ? A[size_t(i) * ars + size_t(ka) * acs] : 0.0f;
    Bs[threadIdx.y][threadIdx.x] = (kb < K && j < N) ? B[size_t(kb) * brs + size_t(j) * bcs] : 0.0f;
    __syncthreads();
#pragma unroll 8
    for (int k = 0; k < kTile; k++) acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
    __syncthreads();
  }
  if (i < M && j < N) {
    float* c = C + size_t(i) * ldc + j;
    if (bias) acc += bias[j];
    *c = accumulate ? *c + acc : acc;
  }
}

void sgemm(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs, size_t bcs,
           float* C, size_t ldc, bool accumulate, const float* bias) {
  if (M <= 0 || N <= 0) return;
  const dim3 block(kTile, kTile), grid(unsigned((N + kTile - 1) / kTile), unsigned((M + kTile - 1) / kTile));
  gemm_kernel<<<grid, block>>>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias);
  CUDA_LAUNCHED();
}

// dbias[o] += sum_i dout[i, o], rows in order.
__global__ void bias_backward_kernel(float* dbias, const float* dout, size_t N, int OC) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= OC) return;
  float s = 0.0f;
  for (size_t i = 0; i < N; i++) s += dout[i * OC + o];
  dbias[o] += s;
}
void bias_backward(float* dbias, const float* dout, size_t N, int OC) {
  bias_backward_kernel<<<grid_for(size_t(OC), 128), 128>>>(dbias, dout, N, OC);
  CUDA_LAUNCHED();
}
}  // namespace

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, size_t N, int C,
                           int OC) {
  GPT_CHECK(N < (size_t(1) << 31), "too many rows for one matmul: ", N);
  // out (N,OC) = inp (N,C) · weight (OC,C)^T + bias
  sgemm(int(N), OC, C, inp, size_t(C), 1, weight, 1, size_t(C), out, size_t(OC), false, bias);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, size_t N, int C, int OC) {
  GPT_CHECK(N < (size_t(1) << 31), "too many rows for one matmul: ", N);
  // dinp (N,C) += dout (N,OC) · W (OC,C)
  if (dinp) sgemm(int(N), C, OC, dout, size_t(OC), 1, weight, size_t(C), 1, dinp, size_t(C), true, nullptr);
  // dW (OC,C) += dout^T (OC,N) · inp (N,C)
  sgemm(OC, C, int(N), dout, 1, size_t(OC), inp, size_t(C), 1, dweight, size_t(C), true, nullptr);
  if (dbias) bias_backward(dbias, dout, N, OC);
}

void matmul_gelu_forward(float* out, float* out_gelu, const float* inp, const float* weight, const float* bias,
                                size_t N, int C, int OC) {
  matmul_forward(out, inp, weight, bias, N, C, OC);
  gelu_forward(out_gelu, out, N * size_t(OC));
}

void matmul_gelu_backward(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout,
                                 const float* inp, const float* pre, const float* weight, size_t N, int C, int OC) {
  matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  gelu_backward(dpre, pre, dinp, N * size_t(C));
}

}  // namespace gpt::gpu
