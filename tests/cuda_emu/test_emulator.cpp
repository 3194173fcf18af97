// The CUDA emulator's own tests: that what it runs behaves as CUDA specifies (barriers,
// shuffles, shared memory, early returns) and that it refuses what CUDA refuses, so
// that a /cuda test row passing on it means the kernel logic is right; and the NCCL
// group on the emulator's one-rank NCCL. The device tests that also run on a real GPU
// are in tests/test_cuda.cpp (linked into both test binaries).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cuda_runtime.h"
#include "cuda_test_util.h"
#include "gpu.h"
#include "backend.h"
#include "fileio.h"
#include "formats/checkpoint.h"
#include "test_util.h"

namespace {

// Reverses a block's values through shared memory: correct only with the barrier.
__global__ void reverse_kernel(int* out, const int* in, bool with_barrier) {
  __shared__ int s[256];
  const int t = int(threadIdx.x), n = int(blockDim.x);
  s[t] = in[blockIdx.x * n + t];
  if (with_barrier) __syncthreads();
  out[blockIdx.x * n + t] = s[n - 1 - t];
}
__global__ void warp_sum_kernel(float* out, const float* in) {
  float v = in[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  out[threadIdx.x] = v;
}
__global__ void down_kernel(int* out) {
  int v = int(threadIdx.x);
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, v, 3);
}
// Threads past n return before a barrier the others still reach (allowed by CUDA).
__global__ void early_return_kernel(int* out, int n) {
  __shared__ int s[128];
  const int t = int(threadIdx.x);
  if (t >= n) return;
  s[t] = t * t;
  __syncthreads();
  out[t] = s[n - 1 - t];
}
// The odd lanes shuffle (a full-warp operation) while the even lanes of the same warp
// wait at __syncthreads: neither can finish, a hang on a GPU.
__global__ void divergent_barrier_kernel(int* out) {
  int v = int(threadIdx.x);
  if (threadIdx.x % 2) v = __shfl_xor_sync(0xffffffffu, v, 1);
  __syncthreads();
  out[threadIdx.x] = v;
}
__global__ void dynamic_shared_kernel(float* out) {
  float* buf = static_cast<float*>(::gpt_emu::dynamic_shared());
  buf[threadIdx.x] = float(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = buf[(threadIdx.x + 1) % blockDim.x];
}

TEST(CudaEmulator, BarrierOrdersSharedMemoryAndAMissingOneShows) {
  const int blocks = 3, n = 256;
  std::vector<int> in(blocks * n);
  for (size_t i = 0; i < in.size(); i++) in[i] = int(i) * 7 + 1;
  int* din = device_copy(in);
  int* dout = device_copy(std::vector<int>(in.size(), 0));
  ::gpt_emu::launch(reverse_kernel, blocks, n)(dout, din, true);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  std::vector<int> out = host_copy(dout, in.size());
  for (int b = 0; b < blocks; b++)
    for (int t = 0; t < n; t++) ASSERT_EQ(out[size_t(b * n + t)], in[size_t(b * n + n - 1 - t)]);
  // Without the barrier half the threads read slots not yet written (the emulator runs
  // the threads one after another), so the result is wrong, as it may be on a GPU.
  ::gpt_emu::launch(reverse_kernel, blocks, n)(dout, din, false);
  out = host_copy(dout, in.size());
  int wrong = 0;
  for (int b = 0; b < blocks; b++)
    for (int t = 0; t < n; t++) wrong += out[size_t(b * n + t)] != in[size_t(b * n + n - 1 - t)];
  EXPECT_GT(wrong, 0);
  cudaFree(din);
  cudaFree(dout);
}

TEST(CudaEmulator, ShufflesExchangeWithinTheWarp) {
  std::vector<float> in(64);
  for (int i = 0; i < 64; i++) in[size_t(i)] = float(i);
  float* din = device_copy(in);
  float* dout = device_copy(std::vector<float>(64, 0.0f));
  ::gpt_emu::launch(warp_sum_kernel, 1, 64)(dout, din);
  const std::vector<float> out = host_copy(dout, 64);
  for (int i = 0; i < 64; i++) EXPECT_EQ(out[size_t(i)], i < 32 ? 496.0f : 1520.0f) << i;  // sums of 0..31, 32..63
  int* di = device_copy(std::vector<int>(32, -1));
  ::gpt_emu::launch(down_kernel, 1, 32)(di);
  const std::vector<int> d = host_copy(di, 32);
  for (int i = 0; i < 32; i++) EXPECT_EQ(d[size_t(i)], i + 3 < 32 ? i + 3 : i) << i;  // out of range: own value
  cudaFree(din);
  cudaFree(dout);
  cudaFree(di);
}

TEST(CudaEmulator, ThreadsThatReturnDoNotHoldTheBarrier) {
  int* d = device_copy(std::vector<int>(128, -1));
  ::gpt_emu::launch(early_return_kernel, 1, 128)(d, 100);
  const std::vector<int> out = host_copy(d, 128);
  for (int t = 0; t < 100; t++) EXPECT_EQ(out[size_t(t)], (99 - t) * (99 - t));
  for (int t = 100; t < 128; t++) EXPECT_EQ(out[size_t(t)], -1);
  cudaFree(d);
}

TEST(CudaEmulator, DeadlockedBarrierIsAnExecutionError) {
  int* d = device_copy(std::vector<int>(64, 0));
  ::gpt_emu::launch(divergent_barrier_kernel, 1, 64)(d);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // the launch itself was fine
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cudaFree(d);
}

TEST(CudaEmulator, RefusesTheLaunchesCudaRefuses) {
  int* d = device_copy(std::vector<int>(64, 0));
  ::gpt_emu::launch(down_kernel, 0, 32)(d);  // empty grid (e.g. grid_for(0))
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  ::gpt_emu::launch(down_kernel, 1, 2048)(d);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  ::gpt_emu::launch(down_kernel, dim3(1, 70000), 32)(d);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  float* f = device_copy(std::vector<float>(64, 0.0f));
  ::gpt_emu::launch(dynamic_shared_kernel, 1, 64, 64 * 1024)(f);  // above 48 KiB without the attribute
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  ASSERT_EQ(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024),
            cudaSuccess);
  ::gpt_emu::launch(dynamic_shared_kernel, 1, 64, 64 * 1024)(f);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> out = host_copy(f, 64);
  for (int i = 0; i < 64; i++) EXPECT_EQ(out[size_t(i)], float((i + 1) % 64));
  cudaFree(d);
  cudaFree(f);
}

TEST(CudaEmulator, CopiesMustGoWhereTheirKindSays) {
  std::vector<float> h(16, 1.0f);
  float* d = device_copy(h);
  EXPECT_EQ(cudaMemcpy(d, h.data(), 64, cudaMemcpyDeviceToHost), cudaErrorInvalidMemcpyDirection);
  EXPECT_EQ(cudaMemcpy(h.data(), d, 64, cudaMemcpyHostToDevice), cudaErrorInvalidMemcpyDirection);
  EXPECT_EQ(cudaMemcpy(d, d + 8, 32, cudaMemcpyDeviceToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, h.data(), 128, cudaMemcpyHostToDevice), cudaErrorInvalidMemcpyDirection);  // past the end
  EXPECT_EQ(cudaFree(h.data()), cudaErrorInvalidDevicePointer);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
}

}  // namespace

namespace gpt::test {

// The NCCL process group (cuda/process_group_nccl.cu) with one rank (GPT_COMM=nccl) on
// the emulator, loading the emulator's one-rank NCCL (fake_nccl.cpp) as it would load
// libnccl.so.2: the group's wiring (loading, device-memory checks, the staged doubles,
// ZeRO-1's per-block calls and the gather by send/receive at checkpoints) gives the plain
// run's losses and checkpoint exactly, as a one-rank sum must.
TEST(CudaEmulator, OneRankNcclGroupGivesThePlainRunExactly) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  std::string err;
  std::vector<std::string> args = {"train", "--data", data, "--steps", "4", "--log-every", "1", "--eval-every", "2",
                                   "--eval-batches", "1", "--save-every", "2", "--dropout", "0.1", "--device", "cuda",
                                   "--layers", "1", "--heads", "2", "--dim", "16", "--context", "8", "--batch", "2"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = args;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  ASSERT_EQ(run_gpt(with({"--out", dir + "/plain"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(with({"--out", dir + "/plain1", "--zero", "1"}), nullptr, &err), 0) << err;
  ::setenv("GPT_NCCL_LIBRARY", GPT_EMU_NCCL, 1);
  ::setenv("GPT_COMM", "nccl", 1);
  const int rc0 = run_gpt(with({"--out", dir + "/nccl"}), nullptr, &err);
  const std::string err0 = err;
  const int rc1 = run_gpt(with({"--out", dir + "/nccl1", "--zero", "1"}), nullptr, &err);
  ::unsetenv("GPT_COMM");
  ::unsetenv("GPT_NCCL_LIBRARY");
  ASSERT_EQ(rc0, 0) << err0;
  ASSERT_EQ(rc1, 0) << err;
  const auto plain = read_losses(dir + "/plain/metrics.jsonl");
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(read_losses(dir + "/plain1/metrics.jsonl"), plain);
  EXPECT_EQ(read_losses(dir + "/nccl/metrics.jsonl"), plain);
  EXPECT_EQ(read_losses(dir + "/nccl1/metrics.jsonl"), plain);
  const Checkpoint p = load_checkpoint(dir + "/plain");
  for (const char* run : {"/plain1", "/nccl", "/nccl1"}) {
    const Checkpoint c = load_checkpoint(dir + run);
    EXPECT_EQ(c.params, p.params) << run;
    EXPECT_EQ(c.m, p.m) << run;  // ZeRO-1 gathers m and v from the GPU for the file
    EXPECT_EQ(c.v, p.v) << run;
  }
  // The fake library really was the one used (it counts the data-moving calls).
  void* h = dlopen(GPT_EMU_NCCL, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr) << "the NCCL group did not load " << GPT_EMU_NCCL;
  auto calls = reinterpret_cast<long (*)()>(dlsym(h, "gpt_fake_nccl_calls"));
  ASSERT_NE(calls, nullptr);
  EXPECT_GE(calls(), 8);  // at least one gradient all-reduce per step in each run
  dlclose(h);
}

// The matrix products go through the emulator's cuBLAS (fake_cublas.cpp, cuBLAS's
// documented column-major SGEMM with its argument checks) unless a test says otherwise,
// as they will through libcublas on a GPU: set before any test runs.
const bool use_emulated_cublas = [] {
  ::setenv("GPT_CUBLAS_LIBRARY", GPT_EMU_CUBLAS, 0);
  return true;
}();

// GPT_CUDA_SYNC=1 waits after every launch, so a kernel that failed is reported at the
// launch that follows it (file and line), not at some later synchronising call.
TEST(CudaEmulator, SyncLaunchesReportAFailureAtTheNextLaunch) {
  float* x = device_copy(std::vector<float>(64, 1.0f));
  int* d = device_copy(std::vector<int>(64, 0));
  for (bool sync : {false, true}) {
    if (sync) ::setenv("GPT_CUDA_SYNC", "1", 1);
    ::gpt_emu::launch(divergent_barrier_kernel, 1, 64)(d);  // fails while it runs
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    std::string what;
    try {
      gpu::residual_forward(x, x, x, 64);
    } catch (const Error& e) {
      what = e.what();
    }
    ::unsetenv("GPT_CUDA_SYNC");
    if (sync) {
      EXPECT_NE(what.find("residual.cu"), std::string::npos) << what;
      EXPECT_NE(what.find("cudaErrorLaunchFailure"), std::string::npos) << what;
    } else {
      EXPECT_EQ(what, "");  // reported later, by the next synchronising call
      EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
    }
  }
  cudaFree(x);
  cudaFree(d);
}

}  // namespace gpt::test
