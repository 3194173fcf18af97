// Fused softmax + cross-entropy on the GPU (layers.h crossentropy_*): one block per row;
// the probabilities overwrite the logits in place when asked (the model does), the
// loss in log-sum-exp form as on the CPU.
#include "common.cuh"

namespace gpt::gpu {
namespace {
__global__ void crossentropy_forward_kernel(float* losses, float* probs, const float* logits, const int* targets,
                                            int V, int Vp) {
  const size_t row = blockIdx.x;
  const float* x = logits + row * Vp;
  float* p = probs + row * Vp;
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, x[i]);
  mx = block_max(mx);
  const float target_logit = x[targets[row]];  // read before p (maybe == x) is written
  float z = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) z += expf(x[i] - mx);
  z = block_sum(z);
  for (int i = threadIdx.x; i < Vp; i += blockDim.x) p[i] = i < V ? expf(x[i] - mx) / z : 0.0f;
  if (threadIdx.x == 0) losses[row] = logf(z) + mx - target_logit;
}
__global__ void crossentropy_backward_kernel(float* dlogits, const float* probs, const int* targets, float dloss,
                                             size_t N, int V, int Vp) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * size_t(V)) return;
  const size_t n = i / size_t(V);
  const int v = int(i % size_t(V));
  dlogits[n * Vp + v] += (probs[n * Vp + v] - (v == targets[n] ? 1.0f : 0.0f)) * dloss;
}
}  // namespace

void crossentropy_forward(float* losses, float* probs, const float* logits, const int* targets, size_t N, int V,
                                 int Vp) {
  if (N == 0) return;
  crossentropy_forward_kernel<<<unsigned(N), kThreads>>>(losses, probs, logits, targets, V, Vp);
  CUDA_LAUNCHED();
}

void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, size_t N, int V,
                                  int Vp) {
  if (N == 0) return;
  crossentropy_backward_kernel<<<grid_for(N * size_t(V)), kThreads>>>(dlogits, probs, targets, dloss, N, V, Vp);
  CUDA_LAUNCHED();
}

}  // namespace gpt::gpu
