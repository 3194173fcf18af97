// Fused softmax + cross-entropy on the GPU (layers.h crossentropy_*): one block per row,
// the loss in log-sum-exp form as on the CPU. Training's call (crossentropy_fused) writes
// the logits' gradient over the logits in the same kernel (llm.c's fused classifier: the
// probabilities are never stored); crossentropy_forward writes the probabilities (in place
// when asked), which crossentropy_backward_inplace turns into the gradient.
#include "common.cuh"

namespace gpt::gpu {
namespace {
// A probability's gradient, with the CPU's operations (classifier.cpp probs_to_grad_row):
// p * dloss rounded alone (no FMA with the subtraction), then dloss off at the target.
__device__ inline float grad_of_prob(float p, bool target, float dloss) {
  const float d = __fmul_rn(p, dloss);
  return target ? d - dloss : d;
}
// Two reads of the row: each thread's running max and sum of exp over its columns in
// one pass (rescaled when its max grows), merged over the block; then the probabilities,
// or with kGrad their gradient (grad_of_prob).
template <bool kGrad>
__global__ void crossentropy_forward_kernel(float* losses, float* probs, const float* logits, const int* targets,
                                            int V, int Vp, float dloss) {
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
  const int t = targets[row];
  const float target_logit = x[t];  // read before p (maybe == x) is written
  const float z = block_sum(m == -INFINITY ? 0.0f : s * expf(m - mx));
  for (int i = threadIdx.x; i < Vp; i += blockDim.x) {
    const float p_i = i < V ? expf(x[i] - mx) / z : 0.0f;
    p[i] = kGrad ? grad_of_prob(p_i, i == t, dloss) : p_i;
  }
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
  g[i] = grad_of_prob(g[i], v == targets[n], dloss);
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
  crossentropy_forward_kernel<false><<<unsigned(N), kThreads>>>(losses, probs, logits, targets, V, Vp, 0.0f);
  CUDA_LAUNCHED();
}
void crossentropy_fused(float* losses, float* logits_to_dlogits, const int* targets, float dloss, size_t N, int V,
                        int Vp) {
  if (N == 0) return;
  crossentropy_forward_kernel<true><<<unsigned(N), kThreads>>>(losses, logits_to_dlogits, logits_to_dlogits, targets,
                                                               V, Vp, dloss);
  CUDA_LAUNCHED();
}

}  // namespace gpt::gpu
