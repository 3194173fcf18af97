// The CUDA emulator's own tests: that what it runs behaves as CUDA specifies (barriers,
// shuffles, shared memory, early returns) and that it refuses what CUDA refuses, so
// that a /cuda test row passing on it means the kernel logic is right.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common.cuh"
#include "cuda_runtime.h"
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

template <class T>
T* device_copy(const std::vector<T>& h) {
  T* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, h.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return d;
}
template <class T>
std::vector<T> host_copy(const T* d, size_t n) {
  std::vector<T> h(n);
  EXPECT_EQ(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
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

// What scripts/gpu_check.sh checks on a GPU, through the command line on the emulator:
// `train --device cuda` from one checkpoint on the same batches (sequential, dropout)
// tracks `--device cpu` step by step; a run stopped on the GPU resumes on the CPU
// (the same checkpoint files) and lands where the CPU-only run does; sampling on the
// GPU reads the same checkpoint. The float sums run in a different order on the two
// backends, hence a tolerance and not equality.
TEST(CudaEmulator, TrainOnCudaTracksTheCpuResumesOnTheCpuAndSamples) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  std::string err;
  auto model = tiny_model_flags();
  std::vector<std::string> init = {"train", "--data", data, "--out", dir + "/init", "--steps", "1", "--eval-every", "0"};
  init.insert(init.end(), model.begin(), model.end());
  ASSERT_EQ(run_gpt(init, nullptr, &err), 0) << err;
  const std::vector<std::string> common = {"train", "--data", data, "--init", dir + "/init", "--sampling", "sequential",
                                           "--dropout", "0.1", "--steps", "6", "--batch", "4", "--log-every", "1",
                                           "--eval-every", "3", "--eval-batches", "1", "--save-every", "0",
                                           "--warmup", "2", "--lr", "3e-3"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = common;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  ASSERT_EQ(run_gpt(with({"--out", dir + "/cpu", "--device", "cpu"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(with({"--out", dir + "/gpu", "--device", "cuda"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(with({"--out", dir + "/mix", "--device", "cuda", "--stop-at", "3"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt({"train", "--resume", dir + "/mix", "--device", "cpu"}, nullptr, &err), 0) << err;
  const auto cpu = read_losses(dir + "/cpu/metrics.jsonl"), gpu = read_losses(dir + "/gpu/metrics.jsonl"),
             mix = read_losses(dir + "/mix/metrics.jsonl");
  ASSERT_EQ(cpu.size(), 6u);
  ASSERT_EQ(gpu.size(), 6u);
  ASSERT_EQ(mix.size(), 6u);
  auto value = [](const std::string& s) { return std::stod(s.substr(0, s.find('/'))); };
  for (const auto& [step, text] : cpu) {
    const double want = value(text);
    EXPECT_NEAR(value(gpu.at(step)), want, 1e-4 * want) << "step " << step;
    EXPECT_NEAR(value(mix.at(step)), want, 1e-4 * want) << "step " << step << " (cuda to 3, then cpu)";
  }
  EXPECT_NE(cpu.at(1), cpu.at(6));  // it trained
  const Checkpoint a = load_checkpoint(dir + "/cpu"), b = load_checkpoint(dir + "/gpu");
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); i++)
    ASSERT_NEAR(a.params[i], b.params[i], 1e-4 + 1e-4 * std::fabs(a.params[i])) << "parameter " << i;
  std::string out;
  ASSERT_EQ(run_gpt({"sample", "--ckpt", dir + "/gpu", "--device", "cuda", "--tokens", "30", "--prompt", "the "}, &out,
                    &err), 0) << err;
  EXPECT_GE(out.size(), 34u) << out;
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

// Both GEMM engines of cuda/matmul.cu against the CPU layer on shapes that are not
// multiples of the tiles (and M, K or N of 1): forward with bias, and the backward's
// three products (dinp +=, dW +=, dbias +=), from non-zero gradients.
TEST(CudaEmulator, BothGemmEnginesMatchTheCpuLayer) {
  struct Shape {
    size_t N;
    int C, OC;
  };
  auto calls = [] {
    void* h = dlopen(GPT_EMU_CUBLAS, RTLD_NOW | RTLD_NOLOAD);
    auto f = h ? reinterpret_cast<long (*)()>(dlsym(h, "gpt_fake_cublas_calls")) : nullptr;
    return f ? f() : -1L;
  };
  for (int engine : {0, 1}) {
    gpu::set_gemm_engine_for_tests(engine);
    EXPECT_EQ(gpu::gemm_engine().find("cuBLAS") == 0, engine == 1) << gpu::gemm_engine();
    const long before = calls();
    for (const Shape& s : {Shape{1, 1, 1}, Shape{1, 33, 7}, Shape{37, 1, 5}, Shape{70, 48, 1}, Shape{45, 67, 100}}) {
      const size_t N = s.N, C = size_t(s.C), OC = size_t(s.OC);
      const auto inp = random_vec<float>(N * C, 1), w = random_vec<float>(OC * C, 2), b = random_vec<float>(OC, 3);
      const auto dout = random_vec<float>(N * OC, 4), dinp0 = random_vec<float>(N * C, 5),
                 dw0 = random_vec<float>(OC * C, 6), db0 = random_vec<float>(OC, 7);
      std::vector<float> out(N * OC), dinp = dinp0, dw = dw0, db = db0;
      cpu::matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, s.C, s.OC);
      cpu::matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, s.C, s.OC);
      float *d_inp = device_copy(inp), *d_w = device_copy(w), *d_b = device_copy(b), *d_dout = device_copy(dout);
      float *d_out = device_copy(std::vector<float>(N * OC, NAN)), *d_dinp = device_copy(dinp0),
            *d_dw = device_copy(dw0), *d_db = device_copy(db0);
      gpu::matmul_forward(d_out, d_inp, d_w, d_b, N, s.C, s.OC);
      gpu::matmul_backward(d_dinp, d_dw, d_db, d_dout, d_inp, d_w, N, s.C, s.OC);
      ASSERT_EQ(cudaGetLastError(), cudaSuccess);
      const std::string at = "engine " + std::to_string(engine) + ", N " + std::to_string(N) + ", C " +
                             std::to_string(C) + ", OC " + std::to_string(OC);
      EXPECT_CLOSE(host_copy(d_out, N * OC).data(), out.data(), N * OC, 1e-5, 1e-5) << at;
      EXPECT_CLOSE(host_copy(d_dinp, N * C).data(), dinp.data(), N * C, 1e-5, 1e-5) << at;
      EXPECT_CLOSE(host_copy(d_dw, OC * C).data(), dw.data(), OC * C, 1e-5, 1e-5) << at;
      EXPECT_CLOSE(host_copy(d_db, OC).data(), db.data(), OC, 1e-5, 1e-5) << at;
      for (float* p : {d_inp, d_w, d_b, d_dout, d_out, d_dinp, d_dw, d_db}) cudaFree(p);
    }
    if (engine == 0) {
      EXPECT_EQ(calls(), before) << "the own kernel called cuBLAS";
    } else {
      EXPECT_GE(calls(), before + 15) << "cuBLAS was not used";  // 3 products x 5 shapes
    }
  }
  gpu::set_gemm_engine_for_tests(-1);
}

// --dtype bf16 on the GPU is the CPU's bf16 (the same operands rounded by bf16.h's rule,
// fp32 sums), so the two agree to the order of the fp32 sums; and both differ from fp32.
TEST(CudaEmulator, Bf16TableComputesTheCpuBf16Layers) {
  double worst_vs_fp32 = 0;
  for (int engine : {0, 1}) {
    gpu::set_gemm_engine_for_tests(engine);
    const size_t N = 37;
    const int C = 48, OC = 70;
    const auto inp = random_vec<float>(N * C, 11), w = random_vec<float>(size_t(OC) * C, 12),
               b = random_vec<float>(size_t(OC), 13), dout = random_vec<float>(N * OC, 14);
    std::vector<float> out(N * OC), out32(N * OC), dinp(N * C, 0.5f), dw(size_t(OC) * C, -0.25f), db(size_t(OC), 1.0f);
    cpu::matmul_forward_bf16(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
    cpu::matmul_forward(out32.data(), inp.data(), w.data(), b.data(), N, C, OC);
    cpu::matmul_backward_bf16(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
    float *d_inp = device_copy(inp), *d_w = device_copy(w), *d_b = device_copy(b), *d_dout = device_copy(dout);
    float *d_out = device_copy(std::vector<float>(N * OC, NAN)), *d_dinp = device_copy(std::vector<float>(N * C, 0.5f)),
          *d_dw = device_copy(std::vector<float>(size_t(OC) * C, -0.25f)),
          *d_db = device_copy(std::vector<float>(size_t(OC), 1.0f));
    const Backend<float>& be = cuda_backend_bf16();
    EXPECT_EQ(be.dtype, Dtype::bf16);
    be.matmul_forward(d_out, d_inp, d_w, d_b, N, C, OC);
    be.matmul_backward(d_dinp, d_dw, d_db, d_dout, d_inp, d_w, N, C, OC);
    const std::vector<float> got = host_copy(d_out, N * OC);
    EXPECT_CLOSE(got.data(), out.data(), N * OC, 1e-5, 1e-5) << "engine " << engine;
    EXPECT_CLOSE(host_copy(d_dinp, N * C).data(), dinp.data(), N * C, 1e-5, 1e-5) << "engine " << engine;
    EXPECT_CLOSE(host_copy(d_dw, size_t(OC) * C).data(), dw.data(), size_t(OC) * C, 1e-5, 1e-5) << "engine " << engine;
    EXPECT_CLOSE(host_copy(d_db, size_t(OC)).data(), db.data(), size_t(OC), 1e-6, 1e-6) << "engine " << engine;
    for (size_t i = 0; i < got.size(); i++) worst_vs_fp32 = std::max(worst_vs_fp32, double(std::fabs(got[i] - out32[i])));
    for (float* p : {d_inp, d_w, d_b, d_dout, d_out, d_dinp, d_dw, d_db}) cudaFree(p);
  }
  gpu::set_gemm_engine_for_tests(-1);
  EXPECT_GT(worst_vs_fp32, 1e-3) << "the bf16 products were not rounded";

  // Attention, with dropout, T not a multiple of anything.
  const Dims d{2, 13, 24, 3};
  const Dropout drop{0.1f, 9, 4};
  const size_t nqkv = d.BT() * 3 * size_t(d.C), nout = d.BT() * size_t(d.C), nrow = size_t(d.B) * d.NH * d.T;
  const auto qkv = random_vec<float>(nqkv, 21), dout = random_vec<float>(nout, 22);
  std::vector<float> out(nout), lse(nrow), dqkv(nqkv, 0.0f);
  cpu::attention_forward_bf16(out.data(), lse.data(), qkv.data(), d, drop);
  cpu::attention_backward_bf16(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), d, drop);
  float *g_qkv = device_copy(qkv), *g_dout = device_copy(dout), *g_out = device_copy(std::vector<float>(nout, NAN)),
        *g_lse = device_copy(std::vector<float>(nrow, NAN)), *g_dqkv = device_copy(std::vector<float>(nqkv, 0.0f));
  const Backend<float>& be = cuda_backend_bf16();
  be.attention_forward(g_out, g_lse, g_qkv, d, drop, {}, nullptr, nullptr);
  be.attention_backward(g_dqkv, g_dout, g_qkv, g_out, g_lse, d, drop, {});
  EXPECT_CLOSE(host_copy(g_out, nout).data(), out.data(), nout, 1e-5, 1e-4);
  EXPECT_CLOSE(host_copy(g_lse, nrow).data(), lse.data(), nrow, 1e-5, 1e-5);
  EXPECT_CLOSE(host_copy(g_dqkv, nqkv).data(), dqkv.data(), nqkv, 1e-5, 1e-4);
  for (float* p : {g_qkv, g_dout, g_out, g_lse, g_dqkv}) cudaFree(p);
}

// `train --dtype bf16 --device cuda` is the CPU's bf16 run to the order of the sums, and
// not the fp32 run; a bf16 GPU run resumes on the CPU (run.json keeps the dtype).
TEST(CudaEmulator, Bf16TrainingOnCudaTracksTheCpuBf16Run) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  std::string err;
  std::vector<std::string> args = {"train", "--data", data, "--steps", "5", "--log-every", "1", "--eval-every", "0",
                                   "--save-every", "0", "--dropout", "0.1", "--sampling", "sequential", "--seed", "3",
                                   "--layers", "2", "--heads", "2", "--dim", "32", "--context", "16", "--batch", "4",
                                   "--lr", "3e-3", "--warmup", "1"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = args;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  ASSERT_EQ(run_gpt(with({"--out", dir + "/cpu16", "--dtype", "bf16"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(with({"--out", dir + "/gpu16", "--dtype", "bf16", "--device", "cuda"}), nullptr, &err), 0) << err;
  EXPECT_NE(err.find("matmuls on cuBLAS"), std::string::npos) << err;
  ASSERT_EQ(run_gpt(with({"--out", dir + "/gpu32", "--device", "cuda"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(with({"--out", dir + "/mix", "--dtype", "bf16", "--device", "cuda", "--stop-at", "2"}), nullptr,
                    &err), 0) << err;
  ASSERT_EQ(run_gpt({"train", "--resume", dir + "/mix", "--device", "cpu"}, nullptr, &err), 0) << err;
  const auto c16 = read_losses(dir + "/cpu16/metrics.jsonl"), g16 = read_losses(dir + "/gpu16/metrics.jsonl"),
             g32 = read_losses(dir + "/gpu32/metrics.jsonl"), mix = read_losses(dir + "/mix/metrics.jsonl");
  ASSERT_EQ(c16.size(), 5u);
  ASSERT_EQ(g16.size(), 5u);
  ASSERT_EQ(mix.size(), 5u);
  auto value = [](const std::string& s) { return std::stod(s.substr(0, s.find('/'))); };
  double worst_vs_fp32 = 0;
  for (const auto& [step, text] : c16) {
    const double want = value(text);
    EXPECT_NEAR(value(g16.at(step)), want, 1e-4 * want) << "step " << step;
    EXPECT_NEAR(value(mix.at(step)), want, 1e-4 * want) << "step " << step << " (bf16 cuda to 2, then cpu)";
    worst_vs_fp32 = std::max(worst_vs_fp32, std::fabs(value(g32.at(step)) - value(g16.at(step))) / want);
  }
  EXPECT_GT(worst_vs_fp32, 1e-5) << "the bf16 run on cuda equals the fp32 one";
  EXPECT_NE(read_file(dir + "/mix/run.json").find("bf16"), std::string::npos);
}

// The flash-style attention kernels (the model's) against the row kernels (their
// reference, cuda/attention.cu), fp32 and bf16, causal or not, with dropout, T of 1, not
// a multiple of the 32-row tiles, or several tiles; head sizes up to the tiles' 64.
TEST(CudaEmulator, FlashAttentionMatchesTheRowKernels) {
  struct Case {
    Dims d;
    bool causal;
    float p;
  };
  const std::vector<Case> cases = {{{1, 1, 16, 2}, true, 0.0f},  {{2, 33, 24, 3}, true, 0.1f},
                                   {{1, 70, 128, 2}, true, 0.2f}, {{2, 40, 16, 2}, false, 0.1f},
                                   {{1, 64, 64, 1}, true, 0.0f}};
  for (bool bf16 : {false, true}) {
    const Backend<float>& be = bf16 ? cuda_backend_bf16() : cuda_backend();
    for (const Case& k : cases) {
      const Dims d = k.d;
      const Dropout drop{k.p, 5, 6};
      const AttentionMode mode{k.causal, true};
      const size_t nqkv = d.BT() * 3 * size_t(d.C), nout = d.BT() * size_t(d.C), nrow = size_t(d.B) * d.NH * d.T;
      const auto qkv = random_vec<float>(nqkv, 31), dout = random_vec<float>(nout, 32), dq0 = random_vec<float>(nqkv, 33);
      std::vector<float> out[2], lse[2], dqkv[2];
      for (int kernel : {0, 1}) {
        gpu::set_attention_kernel_for_tests(kernel);
        float *g_qkv = device_copy(qkv), *g_dout = device_copy(dout), *g_out = device_copy(std::vector<float>(nout, NAN)),
              *g_lse = device_copy(std::vector<float>(nrow, NAN)), *g_dqkv = device_copy(dq0);
        be.attention_forward(g_out, g_lse, g_qkv, d, drop, mode, nullptr, nullptr);
        be.attention_backward(g_dqkv, g_dout, g_qkv, g_out, g_lse, d, drop, mode);
        EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        out[kernel] = host_copy(g_out, nout);
        lse[kernel] = host_copy(g_lse, nrow);
        dqkv[kernel] = host_copy(g_dqkv, nqkv);
        for (float* p : {g_qkv, g_dout, g_out, g_lse, g_dqkv}) cudaFree(p);
      }
      const std::string at = std::string(bf16 ? "bf16" : "fp32") + " B " + std::to_string(d.B) + " T " +
                             std::to_string(d.T) + " C " + std::to_string(d.C) + " NH " + std::to_string(d.NH) +
                             (k.causal ? " causal" : " full") + " p " + std::to_string(k.p);
      EXPECT_CLOSE(out[1].data(), out[0].data(), nout, 1e-5, 1e-4) << at;
      EXPECT_CLOSE(lse[1].data(), lse[0].data(), nrow, 1e-5, 1e-5) << at;
      EXPECT_CLOSE(dqkv[1].data(), dqkv[0].data(), nqkv, 1e-5, 1e-4) << at;
    }
  }
  gpu::set_attention_kernel_for_tests(-1);
}

}  // namespace gpt::test
