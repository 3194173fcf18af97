// A CPU emulation of the part of CUDA that cuda/*.cu uses, for running the CUDA
// backend's kernels on a machine without a GPU (tests only; see emu.cpp). The .cu files
// are compiled by g++ with this header in place of the toolkit's cuda_runtime.h, after
// tests/cuda_emu/translate.pl has rewritten `k<<<grid, block, smem>>>(args)` into
// `::gpt_emu::launch(k, grid, block, smem)(args)` and `extern __shared__ T x[];` into
// a pointer to the block's dynamic shared memory.
//
// What it models: the grid runs block after block; the threads of a block are fibers
// on one OS thread that switch only at __syncthreads and warp operations (shuffles,
// __syncwarp), so barriers, shared memory and warp shuffles behave as specified,
// including threads that returned early. Between barriers the threads run one after
// another, in alternating order from one barrier interval to the next, so a read of
// shared memory that another thread writes without a barrier between them shows up.
// What it checks besides: launch configurations CUDA rejects (empty grids, more than
// 1024 threads, grid.y/z above 65535, dynamic shared memory above 48 KiB without the
// attribute), __syncthreads reached by only part of a block (deadlock), cudaMemcpy
// directions that do not match where the pointers live, frees of unknown pointers.
// What it cannot show: speed, the memory model across blocks (blocks never overlap
// here), and numerical differences of the GPU's fast-math intrinsics.
#pragma once
#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#define GPT_CUDA_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __shared__ static  // blocks run one at a time: one copy per block is enough
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};
struct float2 {
  float x, y;
};
struct float4 {
  float x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// The running fiber's coordinates (set by the scheduler before it resumes a thread).
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
constexpr int warpSize = 32;

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaMemoryType {
  cudaMemoryTypeUnregistered = 0,
  cudaMemoryTypeHost = 1,
  cudaMemoryTypeDevice = 2,
  cudaMemoryTypeManaged = 3,
};
struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
  void* devicePointer;
  void* hostPointer;
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
typedef struct CUstream_st* cudaStream_t;
struct cudaDeviceProp {
  char name[256];
  int major, minor, multiProcessorCount;
  size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin;
};

const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaMalloc(void** p, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemset(void* p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p);
cudaError_t cudaFuncSetAttribute(const void* fn, cudaFuncAttribute attr, int value);
template <class F>
cudaError_t cudaFuncSetAttribute(F* fn, cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(fn), attr, value);
}

namespace gpt_emu {
// Scheduler entry points (emu.cpp).
void syncthreads();
void syncwarp();
int lane();                 // this thread's lane in its warp
uint64_t* warp_exchange();  // one slot per thread of the block, for shuffles
void* dynamic_shared();

struct LaunchConfig {
  dim3 grid, block;
  size_t smem;
  const void* kernel;
};
// Runs body(ctx) once per thread of every block, or records the launch error CUDA gives.
void run_grid(const LaunchConfig& cfg, void (*body)(void*), void* ctx);

template <class... P>
struct Launch {
  void (*kernel)(P...);
  LaunchConfig cfg;
  template <class... A>
  void operator()(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    std::tuple<std::decay_t<P>...> args(std::forward<A>(a)...);  // by value, as a launch copies them
    auto run = [&] { std::apply(kernel, args); };
    run_grid(cfg, [](void* c) { (*static_cast<decltype(run)*>(c))(); }, &run);
  }
};
template <class... P>
Launch<P...> launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem = 0, cudaStream_t = nullptr) {
  return Launch<P...>{kernel, LaunchConfig{grid, block, smem, reinterpret_cast<const void*>(kernel)}};
}

template <class T>
T shuffle_from(T v, int src) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "shuffle of a type wider than 8 bytes");
  uint64_t* x = warp_exchange();
  const int me = lane();
  const int base = int((threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z))) - me;
  std::memcpy(&x[base + me], &v, sizeof(T));
  syncwarp();
  T out = v;
  if (src >= 0 && src < 32) std::memcpy(&out, &x[base + src], sizeof(T));
  syncwarp();  // everyone has read before the slots are reused
  return out;
}
}  // namespace gpt_emu

inline void __syncthreads() { gpt_emu::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { gpt_emu::syncwarp(); }
template <class T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
  const int l = gpt_emu::lane();
  return gpt_emu::shuffle_from(v, (l / width) * width + src % width);
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  const int l = gpt_emu::lane(), s = l ^ mask;
  return gpt_emu::shuffle_from(v, (s / width == l / width) ? s : l);
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int l = gpt_emu::lane(), s = l + int(delta);
  return gpt_emu::shuffle_from(v, (s / width == l / width) ? s : l);
}
template <class T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int l = gpt_emu::lane(), s = l - int(delta);
  return gpt_emu::shuffle_from(v, (s >= 0 && s / width == l / width) ? s : l);
}
// One OS thread runs every fiber and switches only at barriers: plain updates are atomic.
template <class T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  const T old = *p;
  if (v > old) *p = v;
  return old;
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
// CUDA's min / max for integers (device functions there).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
// A product rounded on its own, never fused into a following add (CUDA's __fmul_rn):
// defined out of line in emu.cpp, where -ffp-contract cannot see the add.
float __fmul_rn(float a, float b);
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
