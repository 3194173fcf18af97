// RoPE on the GPU (layers.h rope_*): the pair (x[2i], x[2i+1]) of each q and k head at
// position p = t0 + t rotated by p * 10000^(-2i/hs), the angle computed in double
// as rope_angles does, its cosine and sine rounded to float as the CPU does.
#include "common.cuh"

namespace gpt::gpu {
namespace {
__global__ void rope_kernel(float* qkv, int BT, int T, int C, int NH, int t0, double sign) {
  const int hs = C / NH, half = hs / 2;
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;  // (n, head of q|k, pair)
  const size_t per_row = size_t(2 * NH) * half;
  if (i >= size_t(BT) * per_row) return;
  const size_t n = i / per_row;
  const int h = int((i % per_row) / half), k = int(i % size_t(half));
  const int p = t0 + int(n % size_t(T));
  const double angle = double(p) * pow(10000.0, -2.0 * k / hs);
  const float cs = float(cos(angle)), sn = float(sign * sin(angle));
  float* x = qkv + n * 3 * size_t(C) + size_t(h) * hs + 2 * k;
  const float x0 = x[0], x1 = x[1];
  x[0] = cs * x0 - sn * x1;
  x[1] = sn * x0 + cs * x1;
}
void rope(float* qkv, Dims d, int t0, double sign) {
  GPT_CHECK(d.hs() % 2 == 0, "RoPE needs an even head size, got hs = ", d.hs());
  const size_t n = d.BT() * size_t(2 * d.NH) * size_t(d.hs() / 2);
  rope_kernel<<<grid_for(n), kThreads>>>(qkv, int(d.BT()), d.T, d.C, d.NH, t0, sign);
  CUDA_LAUNCHED();
}
}  // namespace

void rope_forward(float* qkv, Dims d, int t0) { rope(qkv, d, t0, 1.0); }
void rope_backward(float* dqkv, Dims d, int t0) { rope(dqkv, d, t0, -1.0); }

}  // namespace gpt::gpu
