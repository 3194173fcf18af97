// AdamW and the reductions (sum of squares for the clip norm, the loss sum) on the GPU.
// The reductions are deterministic: fixed 4096-element chunks (as the CPU's), each
// summed in double by one block, the chunk partials added on the host in order.
#include <cmath>
#include <vector>

#include "common.cuh"
#include "layers/pointwise.h"

namespace gpt::gpu {
namespace {
constexpr size_t kChunk = 4096;

// The CPU's formula (pointwise.h adamw_element), so the update is the CPU's bit for bit.
__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, size_t n, AdamwCoefficients<float> c,
                             float scale) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) adamw_element(p[i], m[i], v[i], g[i], scale, c);
}

template <bool kSquare>
__global__ void chunk_sums(double* partial, const float* x, size_t n) {
  const size_t c0 = size_t(blockIdx.x) * kChunk, c1 = c0 + kChunk < n ? c0 + kChunk : n;
  double s = 0.0;
  for (size_t i = c0 + threadIdx.x; i < c1; i += blockDim.x) s += kSquare ? double(x[i]) * double(x[i]) : double(x[i]);
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <bool kSquare>
double reduce(const float* x, size_t n) {
  if (n == 0) return 0.0;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  double* d = static_cast<double*>(device_scratch(kScratchReduce, chunks * sizeof(double)));
  chunk_sums<kSquare><<<unsigned(chunks), kThreads>>>(d, x, n);
  CUDA_LAUNCHED();
  std::vector<double> h(chunks);
  CUDA_CHECK(cudaMemcpy(h.data(), d, chunks * sizeof(double), cudaMemcpyDeviceToHost));
  double s = 0.0;
  for (double p : h) s += p;
  return s;
}
}  // namespace

void adamw_update(float* param, float* m, float* v, const float* grad, size_t n, float lr, float beta1,
                         float beta2, float eps, float weight_decay, long t, float grad_scale) {
  GPT_CHECK(t >= 1, "AdamW step t = ", t, " must be 1-based");
  if (n == 0) return;
  const AdamwCoefficients<float> c = adamw_coefficients<float>(lr, beta1, beta2, eps, weight_decay, t);
  adamw_kernel<<<grid_for(n), kThreads>>>(param, m, v, grad, n, c, grad_scale);
  CUDA_LAUNCHED();
}

double sum_squares(const float* x, size_t n) { return reduce<true>(x, n); }
double sum(const float* x, size_t n) { return reduce<false>(x, n); }

}  // namespace gpt::gpu
