// Fused softmax + cross-entropy on the GPU (layers.h crossentropy_*): one block per row;
// the probabilities overwrite the logits in place when asked (the model does), the
// loss in log-sum-exp form as on the CPU; the model's backward turns them into the logit
// gradient in place (crossentropy_backward_inplace), so no separate buffer holds it.
#include "common.cuh"

namespace gpt::gpu {
namespace {
// Two reads of the row: each thread's running max and sum of exp over its columns in
// one pass (rescaled when its max grows), merged over the block; then the probabilities.
__global__ void crossentropy_forward_kernel(float* losses, float* probs, const float* logits, const int* targets,
                                            int V, int Vp) {
  const size_t row = blockIdx.x;
  const float* x = logits + row * Vp;
  float* p = probs + row * Vp;
  float m = -INFINITY, s = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float v = x[i];
    if (v > m) {
      s = s * expf(m - v) + 1.0f;
      m = v;
    } else {
      s += expf(v - m);
    }
  }
  const float mx = block_max(m);
  const float target_logit = x[targets[row]];  // read before p (maybe == x) is written
  const float z = block_sum(m == -INFINITY ? 0.0f : s * expf(m - mx));
  for (int i = threadIdx.x; i < Vp; i += blockDim.x) p[i] = i < V ? expf(x[i] - mx) / z : 0.0f;
  if (threadIdx.x == 0) losses[row] = logf(z) + mx - target_logit;
}
// dlogits = (probs - onehot) * dloss in place, with the CPU's operations: p * dloss,
// then dloss subtracted at the target; padded columns 0. One thread per element.
__global__ void crossentropy_backward_inplace_kernel(float* g, const int* targets, float dloss, size_t N, int V,
                                                     int Vp) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * size_t(Vp)) return;
  const size_t n = i / size_t(Vp);
  const int v = int(i % size_t(Vp));
  if (v >= V) {
    g[i] = 0.0f;
    return;
  }
  const float d = g[i] * dloss;
  g[i] = v == targets[n] ? d - dloss : d;
}
}  // namespace

void crossentropy_backward_inplace(float* probs_to_dlogits, const int* targets, float dloss, size_t N, int V, int Vp) {
  if (N == 0) return;
  crossentropy_backward_inplace_kernel<<<grid_for(N * size_t(Vp)), kThreads>>>(probs_to_dlogits, targets, dloss, N, V,
                                                                              Vp);
  CUDA_LAUNCHED();
}

void crossentropy_forward(float* losses, float* probs, const float* logits, const int* targets, size_t N, int V,
                                 int Vp) {
  if (N == 0) return;
  crossentropy_forward_kernel<<<unsigned(N), kThreads>>>(losses, probs, logits, targets, V, Vp);
  CUDA_LAUNCHED();
}

}  // namespace gpt::gpu
