// bf16 weights for decoding on the GPU (layers.h to_bf16 / matmul_decode_bf16w): the
// rounding is bf16.h's (the same function as the CPU's), the product one warp per
// output row with fp32 sums.
#include "bf16.h"
#include "common.cuh"

namespace gpt::gpu {
namespace {
__global__ void to_bf16_kernel(uint16_t* dst, const float* src, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = float_to_bf16(src[i]);
}
// One warp per row o: lanes stride over C, then a shuffle reduction (fixed order).
__global__ void decode_bf16w_kernel(float* out, const float* inp, const uint16_t* w, const float* bias, int C, int OC) {
  const int o = int((size_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32), lane = int(threadIdx.x % 32);
  if (o >= OC) return;
  const uint16_t* row = w + size_t(o) * C;
  float acc = 0.0f;
  for (int c = lane; c < C; c += 32) acc += bf16_to_float(row[c]) * inp[c];
  for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xFFFFFFFFu, acc, off);
  if (lane == 0) out[o] = acc + (bias ? bias[o] : 0.0f);
}
}  // namespace

void to_bf16(uint16_t* dst, const float* src, size_t n) {
  if (!n) return;
  to_bf16_kernel<<<grid_for(n), kThreads>>>(dst, src, n);
  CUDA_LAUNCHED();
}
void matmul_decode_bf16w(float* out, const float* inp, const uint16_t* weight, const float* bias, int C, int OC) {
  if (OC <= 0) return;
  decode_bf16w_kernel<<<grid_for(size_t(OC) * 32), kThreads>>>(out, inp, weight, bias, C, OC);
  CUDA_LAUNCHED();
}
}  // namespace gpt::gpu
