// What every CUDA layer file shares: error checks that turn CUDA failures into
// gpt::Error, launch sizes, block reductions, and the gpu:: declarations of the layer
// functions (the same signatures as cpu::, layers.h). One stream: the default one.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "check.h"
#include "gpu.h"
#include "layers.h"

#define CUDA_CHECK(call)                                                                             \
  do {                                                                                               \
    const cudaError_t e_ = (call);                                                                   \
    if (e_ != cudaSuccess)                                                                           \
      GPT_FAIL(__FILE__, ":", __LINE__, ": ", #call, ": ", cudaGetErrorName(e_), " (", cudaGetErrorString(e_), ")"); \
  } while (0)
// After a kernel launch: launch errors now, execution errors at the next synchronising
// call -- or, with GPT_CUDA_SYNC=1 (for debugging), here: every launch is waited for, so
// a kernel that fails is named by the file and line that launched it.
#define CUDA_LAUNCHED()                                                  \
  do {                                                                   \
    CUDA_CHECK(cudaGetLastError());                                      \
    if (::gpt::gpu::sync_launches()) CUDA_CHECK(cudaDeviceSynchronize()); \
  } while (0)

namespace gpt::gpu {

constexpr int kThreads = 256;
inline unsigned grid_for(size_t n, int threads = kThreads) { return unsigned((n + size_t(threads) - 1) / size_t(threads)); }

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
template <class X>
__device__ inline X block_sum(X v) {
  __shared__ X partial[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  X s = 0;
  for (int w = 0; w < int(blockDim.x >> 5); w++) s += partial[w];
  return s;
}
__device__ inline float block_max(float v) {
  __shared__ float partial[32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float m = partial[0];
  for (int w = 1; w < int(blockDim.x >> 5); w++) m = fmaxf(m, partial[w]);
  return m;
}

// out[c] += sum over rows n < N of f(n, c), for c < C: the gradients of a bias or a
// LayerNorm weight. Deterministic and parallel: blocks of 32 columns x 256 rows sum their
// rows in a fixed order into partials, then one thread per column adds its partials in
// order. F is a struct with `__device__ float operator()(size_t n, int c) const`.
constexpr int kColTile = 32, kRowLanes = 8, kRowsPerChunk = 256;
template <class F>
__global__ void column_partials_kernel(float* partial, size_t N, int C, F f) {
  __shared__ float sh[kRowLanes][kColTile];
  const int c = int(blockIdx.x) * kColTile + int(threadIdx.x);
  const size_t r0 = size_t(blockIdx.y) * kRowsPerChunk, r1 = r0 + kRowsPerChunk < N ? r0 + kRowsPerChunk : N;
  float s = 0.0f;
  if (c < C)
    for (size_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) s += f(r, c);
  sh[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float t = 0.0f;
    for (int k = 0; k < kRowLanes; k++) t += sh[k][threadIdx.x];
    partial[size_t(blockIdx.y) * C + c] = t;
  }
}
__global__ void column_finish_kernel(float* out, const float* partial, unsigned chunks, int C);
// F for column_sums over a row-major (N, C) tensor's elements: the gradient of a bias.
struct RowMajorAt {
  const float* x;
  int C;
  __device__ float operator()(size_t n, int c) const { return x[n * size_t(C) + c]; }
};
template <class F>
void column_sums(float* out, size_t N, int C, F f) {
  if (N == 0 || C <= 0) return;
  const size_t chunks = (N + kRowsPerChunk - 1) / kRowsPerChunk;
  GPT_CHECK(chunks <= 65535, "too many rows for a column sum: ", N);
  float* partial = static_cast<float*>(device_scratch(kScratchColumns, chunks * size_t(C) * sizeof(float)));
  const dim3 grid(unsigned((C + kColTile - 1) / kColTile), unsigned(chunks)), block(kColTile, kRowLanes);
  column_partials_kernel<F><<<grid, block>>>(partial, N, C, f);
  CUDA_LAUNCHED();
  column_finish_kernel<<<grid_for(size_t(C)), kThreads>>>(out, partial, unsigned(chunks), C);
  CUDA_LAUNCHED();
}

}  // namespace gpt::gpu
