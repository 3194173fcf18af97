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
// After a kernel launch: launch errors now, execution errors at the next synchronising call.
#define CUDA_LAUNCHED() CUDA_CHECK(cudaGetLastError())

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

}  // namespace gpt::gpu
