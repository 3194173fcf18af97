// Residual add on the GPU (layers.h residual_*): one thread per element.
#include "common.cuh"

namespace gpt::gpu {
namespace {
__global__ void residual_forward_kernel(float* out, const float* a, const float* b, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}
__global__ void residual_backward_kernel(float* da, float* db, const float* dout, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  da[i] = dout[i];
  db[i] = dout[i];
}
}  // namespace

void residual_forward(float* out, const float* inp1, const float* inp2, size_t N) {
  if (!N) return;
  residual_forward_kernel<<<grid_for(N), kThreads>>>(out, inp1, inp2, N);
  CUDA_LAUNCHED();
}
void residual_backward(float* dinp1, float* dinp2, const float* dout, size_t N) {
  if (!N) return;
  residual_backward_kernel<<<grid_for(N), kThreads>>>(dinp1, dinp2, dout, N);
  CUDA_LAUNCHED();
}
}  // namespace gpt::gpu
