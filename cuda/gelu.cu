// GELU (tanh approximation, as GPT-2) on the GPU (layers.h gelu_*): one thread per
// element, the CPU's formulas (pointwise.h), so both give the same bits.
#include "common.cuh"
#include "layers/pointwise.h"

namespace gpt::gpu {
namespace {
__global__ void gelu_forward_kernel(float* out, const float* x, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = gelu_value(x[i]);
}
__global__ void gelu_backward_kernel(float* dinp, const float* x, const float* dout, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dinp[i] = gelu_grad(x[i]) * dout[i];
}
}  // namespace
void gelu_forward(float* out, const float* inp, size_t N) {
  if (!N) return;
  gelu_forward_kernel<<<grid_for(N), kThreads>>>(out, inp, N);
  CUDA_LAUNCHED();
}
void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N) {
  if (!N) return;
  gelu_backward_kernel<<<grid_for(N), kThreads>>>(dinp, inp, dout, N);
  CUDA_LAUNCHED();
}
}  // namespace gpt::gpu
