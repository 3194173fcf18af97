// GELU (tanh approximation, as GPT-2) on the GPU (layers.h gelu_*): one thread per element.
#include "common.cuh"

namespace gpt::gpu {
namespace {
constexpr float kSqrt2OverPi = 0.79788456080286535588f, kCubic = 0.044715f;

__global__ void gelu_forward_kernel(float* out, const float* x, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i], u = kSqrt2OverPi * (v + kCubic * v * v * v);
  out[i] = 0.5f * v * (1.0f + tanhf(u));
}
__global__ void gelu_backward_kernel(float* dinp, const float* x, const float* dout, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i], u = kSqrt2OverPi * (v + kCubic * v * v * v), th = tanhf(u);
  const float g = 0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * kSqrt2OverPi * (1.0f + 3.0f * kCubic * v * v);
  dinp[i] = g * dout[i];
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
