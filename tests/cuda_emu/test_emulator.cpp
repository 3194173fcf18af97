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
#include "mma.h"
#include "gpu.h"
#include "backend.h"
#include "bf16.h"
#include "fileio.h"
#include "formats/checkpoint.h"
#include "process_group.h"
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
// d = a b + c per warp (warp w: matrices at offset 256 w), a row-major, b row-major or
// column-major (b_col), through shared memory as cuda/attention.cu loads them.
__global__ void wmma_kernel(float* d, const float* a, const float* b, const float* c, bool b_col) {
  namespace wmma = nvcuda::wmma;
  __shared__ __align__(32) __nv_bfloat16 sa[2][256], sb[2][256];
  __shared__ __align__(32) float sc[2][256];
  const int w = int(threadIdx.x / 32), lane = int(threadIdx.x % 32);
  for (int i = lane; i < 256; i += 32) {
    sa[w][i] = __nv_bfloat16_raw{gpt::float_to_bf16(a[256 * w + i])};  // a and b are bf16 values already
    sb[w][i] = __nv_bfloat16_raw{gpt::float_to_bf16(b[256 * w + i])};
    sc[w][i] = c[256 * w + i];
  }
  __syncwarp();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
  wmma::load_matrix_sync(fa, sa[w], 16);
  wmma::load_matrix_sync(fc, sc[w], 16, wmma::mem_row_major);
  if (b_col) {
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
    wmma::load_matrix_sync(fb, sb[w], 16);
    wmma::mma_sync(fc, fa, fb, fc);
  } else {
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
    wmma::load_matrix_sync(fb, sb[w], 16);
    wmma::mma_sync(fc, fa, fb, fc);
  }
  wmma::store_matrix_sync(sc[w], fc, 16, wmma::mem_row_major);
  __syncwarp();
  for (int i = lane; i < 256; i += 32) d[256 * w + i] = sc[w][i];
}
// A fragment loaded from a pointer that is not 256-bit aligned (CUDA requires it).
__global__ void wmma_misaligned_kernel(float* out) {
  namespace wmma = nvcuda::wmma;
  __shared__ __align__(32) __nv_bfloat16 s[512];
  for (int i = int(threadIdx.x); i < 512; i += 32) s[i] = __nv_bfloat16_raw{0};
  __syncwarp();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
  wmma::load_matrix_sync(fa, s + 8, 16);  // 16 bytes past an aligned address
  out[threadIdx.x] = __bfloat162float(fa.x[0]);
}
__global__ void dynamic_shared_kernel(float* out) {
  float* buf = static_cast<float*>(::gpt_emu::dynamic_shared());
  buf[threadIdx.x] = float(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = buf[(threadIdx.x + 1) % blockDim.x];
}

// The warp matrix product: each warp's d = a b + c against a host product, with b in
// either layout; the emulator spreads fragments over the lanes in a scrambled order, so
// this also checks that load, product and store agree on it.
TEST(CudaEmulator, WarpMatrixProductMatchesAHostProduct) {
  auto bf16_values = [](size_t n, unsigned seed) {
    std::vector<float> v = gpt::test::random_vec<float>(n, seed);
    for (float& x : v) x = gpt::bf16_rounded(x);
    return v;
  };
  const std::vector<float> a = bf16_values(512, 1), b = bf16_values(512, 2), c = gpt::test::random_vec<float>(512, 3);
  for (bool b_col : {false, true}) {
    float *da = device_copy(a), *db = device_copy(b), *dc = device_copy(c);
    float* dd = device_copy(std::vector<float>(512, NAN));
    ::gpt_emu::launch(wmma_kernel, 1, 64)(dd, da, db, dc, b_col);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> d = host_copy(dd, 512);
    for (int w = 0; w < 2; w++)
      for (int m = 0; m < 16; m++)
        for (int n = 0; n < 16; n++) {
          double want = c[size_t(256 * w + 16 * m + n)];
          for (int k = 0; k < 16; k++) {
            const float bv = b_col ? b[size_t(256 * w + 16 * n + k)] : b[size_t(256 * w + 16 * k + n)];
            want += double(a[size_t(256 * w + 16 * m + k)]) * bv;
          }
          ASSERT_NEAR(d[size_t(256 * w + 16 * m + n)], want, 1e-5) << "warp " << w << " (" << m << ", " << n << ")"
                                                                    << (b_col ? " b column-major" : "");
        }
    for (float* p : {da, db, dc, dd}) cudaFree(p);
  }
}
TEST(CudaEmulator, WarpMatrixLoadFromAMisalignedPointerIsRefused) {
  float* out = device_copy(std::vector<float>(32, 0.0f));
  EXPECT_DEATH(::gpt_emu::launch(wmma_misaligned_kernel, 1, 32)(out), "load_matrix_sync: pointer not 256-bit aligned");
  cudaFree(out);
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

// NCCL before 2.9 coded its version as X*1000+Y*100+Z: 2.8.4 is 2804, which a plain
// "code >= 20700" refused while the message asked for 2.7 or newer.
TEST(CudaEmulator, NcclVersionsOfBothCodingsAreReadAndChecked) {
  const ScopedEnv library("GPT_NCCL_LIBRARY", GPT_EMU_NCCL);
  const std::vector<std::pair<const char*, const char*>> accepted = {
      {"2708", "2.7.8 ("}, {"2804", "2.8.4 ("}, {"20903", "2.9.3 ("}, {"21805", "2.18.5 ("}};
  for (const auto& [code, text] : accepted) {
    const ScopedEnv version("GPT_FAKE_NCCL_VERSION_CODE", code);
    EXPECT_EQ(nccl_version().rfind(text, 0), 0u) << code;
  }
  for (const char* code : {"2604", "20604"}) {
    const ScopedEnv version("GPT_FAKE_NCCL_VERSION_CODE", code);
    try {
      nccl_version();
      ADD_FAILURE() << code << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is NCCL 2.6.4; gpt needs NCCL 2.7 or newer"), std::string::npos)
          << e.what();
    }
  }
}

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
  int rc0, rc1;
  std::string err0;
  {
    const ScopedEnv library("GPT_NCCL_LIBRARY", GPT_EMU_NCCL), comm("GPT_COMM", "nccl");
    rc0 = run_gpt(with({"--out", dir + "/nccl"}), nullptr, &err);
    err0 = err;
    rc1 = run_gpt(with({"--out", dir + "/nccl1", "--zero", "1"}), nullptr, &err);
  }
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

// The matrix products go through the emulator's cuBLAS and cuBLASLt (fake_cublas.cpp,
// fake_cublaslt.cpp: their documented column-major products with their argument checks)
// unless a test says otherwise,
// as they will through libcublas on a GPU: set before any test runs.
const bool use_emulated_cublas = [] {
  ::setenv("GPT_CUBLAS_LIBRARY", GPT_EMU_CUBLAS, 0);
  ::setenv("GPT_CUBLASLT_LIBRARY", GPT_EMU_CUBLASLT, 0);
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
