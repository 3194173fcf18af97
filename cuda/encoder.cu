// Token + positional embedding on the GPU (see layers.h encoder_*). The backward is
// deterministic: each thread owns one channel (of wte) or one (t, c) (of wpe) and adds
// the rows in order, no atomics.
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
// dwte[inp[n], c] += dout[n, c], rows n in order, one thread per channel.
__global__ void encoder_backward_wte_kernel(float* dwte, const float* dout, const int* inp, int BT, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (int n = 0; n < BT; n++) dwte[size_t(inp[n]) * C + c] += dout[size_t(n) * C + c];
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
  encoder_backward_wte_kernel<<<grid_for(size_t(d.C), 128), 128>>>(dwte, dout, inp, int(d.BT()), d.C);
  CUDA_LAUNCHED();
  if (dwpe) {
    encoder_backward_wpe_kernel<<<grid_for(size_t(d.T) * d.C), kThreads>>>(dwpe, dout, d.B, d.T, d.C);
    CUDA_LAUNCHED();
  }
}

}  // namespace gpt::gpu
