// Token + positional embedding on the GPU (see layers.h encoder_*). The backward is
// deterministic, no atomics: the wte gradient sums each token's positions in order (one
// block per distinct token), the wpe gradient one thread per (t, c) over the batch in order.
#include <vector>

#include "common.cuh"

namespace gpt::gpu {
namespace {
__global__ void encoder_forward_kernel(float* out, const int* inp, const float* wte, const float* pos, int BT, int T,
                                       int C, int t0) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(BT) * C) return;
  const size_t n = i / size_t(C);
  const int c = int(i % size_t(C)), t = int(n % size_t(T));
  float v = wte[size_t(inp[n]) * C + c];
  if (pos) v += pos[size_t(t0 + t) * C + c];
  out[i] = v;
}
// dwte[v, c] += the sum of dout[n, c] over the positions n holding token v, n in
// increasing order: one block per distinct token (its positions listed together by the
// host), threads over the channels. Deterministic, and parallel over tokens x channels.
__global__ void encoder_backward_wte_kernel(float* dwte, const float* dout, const int* order, const int* segs, int C) {
  const int seg = blockIdx.x, c = int(blockIdx.y * blockDim.x + threadIdx.x);
  if (c >= C) return;
  const int token = segs[3 * seg], begin = segs[3 * seg + 1], end = segs[3 * seg + 2];
  float s = 0.0f;
  for (int i = begin; i < end; i++) s += dout[size_t(order[i]) * C + c];
  dwte[size_t(token) * C + c] += s;
}
// dwpe[t, c] += sum_b dout[b, t, c], b in order.
__global__ void encoder_backward_wpe_kernel(float* dwpe, const float* dout, int B, int T, int C) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= size_t(T) * C) return;
  float s = 0.0f;
  for (int b = 0; b < B; b++) s += dout[size_t(b) * T * C + i];
  dwpe[i] += s;
}
}  // namespace

void encoder_forward(float* out, const int* inp, const float* wte, const float* pos_table, Dims d, int t0) {
  const size_t n = d.BT() * size_t(d.C);
  encoder_forward_kernel<<<grid_for(n), kThreads>>>(out, inp, wte, pos_table, int(d.BT()), d.T, d.C, t0);
  CUDA_LAUNCHED();
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, Dims d) {
  // The positions grouped by token (a stable counting sort on the host: the tokens are a
  // few KB; the copy waits for the backward so far, which the gradient norm right after
  // waits for anyway), then one block per distinct token.
  const size_t BT = d.BT();
  if (BT == 0) return;
  GPT_CHECK(BT < (size_t(1) << 31), "too many positions for the embedding backward: ", BT);
  std::vector<int> tok(BT);
  CUDA_CHECK(cudaMemcpy(tok.data(), inp, BT * sizeof(int), cudaMemcpyDeviceToHost));
  int vmax = 0;
  for (int t : tok) {
    GPT_CHECK(t >= 0, "negative token id ", t, " in the embedding backward");
    vmax = t > vmax ? t : vmax;
  }
  std::vector<int> count(size_t(vmax) + 2, 0);
  for (int t : tok) count[size_t(t) + 1]++;
  for (size_t v = 1; v < count.size(); v++) count[v] += count[v - 1];  // count[v] = start of token v
  std::vector<int> plan(BT);                                            // order, then the segments
  std::vector<int> next(count.begin(), count.end() - 1);
  for (size_t n = 0; n < BT; n++) plan[size_t(next[size_t(tok[n])]++)] = int(n);
  size_t segs = 0;
  for (int v = 0; v <= vmax; v++)
    if (count[size_t(v) + 1] > count[size_t(v)]) {
      plan.insert(plan.end(), {v, count[size_t(v)], count[size_t(v) + 1]});
      segs++;
    }
  int* dplan = static_cast<int*>(device_scratch(kScratchEncoderPlan, plan.size() * sizeof(int)));
  CUDA_CHECK(cudaMemcpy(dplan, plan.data(), plan.size() * sizeof(int), cudaMemcpyHostToDevice));
  const dim3 grid(unsigned(segs), unsigned((d.C + 127) / 128));
  encoder_backward_wte_kernel<<<grid, 128>>>(dwte, dout, dplan, dplan + BT, d.C);
  CUDA_LAUNCHED();
  if (dwpe) {
    encoder_backward_wpe_kernel<<<grid_for(size_t(d.T) * d.C), kThreads>>>(dwpe, dout, d.B, d.T, d.C);
    CUDA_LAUNCHED();
  }
}

}  // namespace gpt::gpu
