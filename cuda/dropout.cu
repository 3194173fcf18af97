// Dropout on the GPU (layers.h dropout_*): the same Philox mask as the CPU (rng.h is
// compiled for both), so the masks match bit for bit.
#include "common.cuh"

namespace gpt::gpu {
namespace {
__global__ void dropout_kernel(float* x, size_t n, Dropout drop) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= drop.scale(i);
}
}  // namespace

void dropout_forward(float* x, size_t N, Dropout drop) {
  if (!N || !drop.active()) return;
  dropout_kernel<<<grid_for(N), kThreads>>>(x, N, drop);
  CUDA_LAUNCHED();
}
void dropout_backward(float* dx, size_t N, Dropout drop) {
  dropout_forward(dx, N, drop);
}

}  // namespace gpt::gpu
