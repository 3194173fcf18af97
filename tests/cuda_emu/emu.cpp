// The CUDA emulator's runtime (see cuda_runtime.h in this folder for what it models and
// checks): "device" memory is host memory tracked in a table, launches run here and
// now, block after block, each block's threads as fibers (ucontext) that switch at
// barriers. Errors follow CUDA's split: a bad launch configuration is returned by
// cudaGetLastError; a failure while a kernel runs (a deadlocked barrier) by the next
// synchronising call.
#include "cuda_runtime.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

uint3 threadIdx{0, 0, 0}, blockIdx{0, 0, 0};
dim3 blockDim{1, 1, 1}, gridDim{1, 1, 1};

namespace gpt_emu {
namespace {

constexpr size_t kStack = 256 * 1024;
constexpr size_t kMaxThreads = 1024;
constexpr size_t kDefaultSharedLimit = 48 * 1024;

cudaError_t g_last_error = cudaSuccess;  // launch errors (cudaGetLastError)
cudaError_t g_exec_error = cudaSuccess;  // execution errors (next synchronising call)
std::map<uintptr_t, size_t> g_allocs;    // device allocations: start -> bytes
std::map<const void*, int> g_smem_optin;  // cudaFuncSetAttribute(MaxDynamicSharedMemorySize)

enum State { kRunnable, kAtBlockBarrier, kAtWarpBarrier, kDone };
// A fiber starts on its own stack (x86-64: two instructions that move the stack pointer
// and call the entry; elsewhere makecontext/setcontext); after that the switches are
// _setjmp/_longjmp, which save no signal mask (swapcontext and setcontext make a system
// call each time, which made the emulator several times slower).
struct Fiber {
#if !defined(__x86_64__)
  ucontext_t ctx;
#endif
  jmp_buf jb;
  uint3 tid;
  int linear;
  State state;
  bool started;
};
jmp_buf g_sched;
std::vector<Fiber> g_fibers;
char* g_stacks = nullptr;
int g_current = -1;
void (*g_body)(void*) = nullptr;
void* g_ctx = nullptr;
std::vector<uint64_t> g_exchange(kMaxThreads);
std::vector<unsigned char> g_dynamic;

void yield(State s) {
  Fiber& f = g_fibers[size_t(g_current)];
  f.state = s;
  if (_setjmp(f.jb) == 0) _longjmp(g_sched, 1);
}
void fiber_entry() {
  g_body(g_ctx);
  yield(kDone);  // never resumed
  std::abort();
}
#if defined(__x86_64__)
[[noreturn]] void start_on_stack(char* top) {
  asm volatile("mov %0, %%rsp\n\tcall *%1\n\tud2" : : "r"(top), "r"(&fiber_entry) : "memory");
  __builtin_unreachable();
}
#endif

// Runs thread i until it yields (its own frame, so no local of the caller lives across
// the jump).
__attribute__((noinline)) void resume(unsigned i) {
  g_current = int(i);
  threadIdx = g_fibers[i].tid;
  if (_setjmp(g_sched) == 0) {
    Fiber& f = g_fibers[i];
    if (!f.started) {
      f.started = true;
#if defined(__x86_64__)
      start_on_stack(g_stacks + size_t(i + 1) * kStack);  // top of its stack (16-byte aligned)
#else
      setcontext(&f.ctx);
#endif
    }
    _longjmp(f.jb, 1);
  }
}

bool is_device(const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second;
}
cudaError_t take_exec_error() {
  const cudaError_t e = g_exec_error;
  g_exec_error = cudaSuccess;
  return e;
}

// One block: every thread from the start to its end, switching at barriers.
bool run_block(unsigned nthreads) {
  if (!g_stacks) {
    void* m = mmap(nullptr, kStack * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) {
      std::fprintf(stderr, "cuda emulator: cannot map fiber stacks\n");
      std::abort();
    }
    g_stacks = static_cast<char*>(m);
  }
  g_fibers.resize(nthreads);
  for (unsigned i = 0; i < nthreads; i++) {
    Fiber& f = g_fibers[i];
    f.linear = int(i);
    f.tid = {i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y)};
    f.state = kRunnable;
    f.started = false;
#if !defined(__x86_64__)
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = g_stacks + size_t(i) * kStack;
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_entry, 0);
#endif
  }
  const unsigned warps = (nthreads + 31) / 32;
  for (int pass = 0;; pass++) {
    // Warps progress independently: each warp runs on (through its shuffles) until all
    // its threads wait at __syncthreads or have ended, before the next warp starts; the
    // order of the warps, and of the threads within a warp, alternates from one pass to
    // the next. A missing barrier between warps or threads then shows in the results.
    const bool forward = pass % 2 == 0;
    for (unsigned wk = 0; wk < warps; wk++) {
      const unsigned w = forward ? wk : warps - 1 - wk;
      const unsigned lo = w * 32, hi = std::min(nthreads, lo + 32);
      for (;;) {
        for (unsigned k = lo; k < hi; k++) {
          const unsigned i = forward ? k : hi - 1 - (k - lo);
          if (g_fibers[i].state == kRunnable) resume(i);
        }
        unsigned live = 0, waiting = 0;
        for (unsigned i = lo; i < hi; i++) {
          live += g_fibers[i].state != kDone;
          waiting += g_fibers[i].state == kAtWarpBarrier;
        }
        if (waiting == 0 || waiting != live) break;
        for (unsigned i = lo; i < hi; i++) g_fibers[i].state = g_fibers[i].state == kDone ? kDone : kRunnable;
      }
    }
    unsigned done = 0, at_block = 0, at_warp = 0;
    for (const Fiber& f : g_fibers) {
      done += f.state == kDone;
      at_block += f.state == kAtBlockBarrier;
      at_warp += f.state == kAtWarpBarrier;
    }
    if (done == nthreads) return true;
    if (at_block == nthreads - done) {
      for (Fiber& f : g_fibers)
        if (f.state == kAtBlockBarrier) f.state = kRunnable;
      continue;
    }
    std::fprintf(stderr,
                 "cuda emulator: deadlock in block (%u,%u,%u): %u threads wait at __syncthreads, %u at a warp "
                 "operation whose warp has lanes elsewhere, %u have returned\n",
                 blockIdx.x, blockIdx.y, blockIdx.z, at_block, at_warp, done);
    return false;  // the abandoned fibers' stacks are reused by the next block
  }
}

// GPT_EMU_PROFILE=1: seconds, launches and threads per kernel, printed at exit (the
// kernels' addresses; `nm -C` on the binary names them).
struct ProfileTable {
  struct Row {
    double seconds = 0;
    size_t launches = 0, threads = 0;
  };
  std::map<const void*, Row> rows;
  bool on = std::getenv("GPT_EMU_PROFILE") != nullptr;
  ~ProfileTable() {
    for (const auto& r : rows)
      std::fprintf(stderr, "emu profile %p %8.3f s %8zu launches %12zu threads\n", r.first, r.second.seconds,
                   r.second.launches, r.second.threads);
  }
};
ProfileTable g_profile;
struct Profile {
  const void* k;
  size_t threads;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  Profile(const void* k_, size_t n) : k(k_), threads(n) {}
  ~Profile() {
    if (!g_profile.on) return;
    auto& r = g_profile.rows[k];
    r.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.launches++;
    r.threads += threads;
  }
};

}  // namespace

void syncthreads() { yield(kAtBlockBarrier); }
void fault(const char* what) {
  std::fprintf(stderr, "cuda emulator: %s (block (%u,%u,%u), thread (%u,%u,%u))\n", what, blockIdx.x, blockIdx.y,
               blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
  std::abort();
}
void syncwarp() { yield(kAtWarpBarrier); }
int lane() { return g_fibers[size_t(g_current)].linear % 32; }
uint64_t* warp_exchange() { return g_exchange.data(); }
void* dynamic_shared() { return g_dynamic.empty() ? nullptr : g_dynamic.data(); }

void run_grid(const LaunchConfig& cfg, void (*body)(void*), void* ctx) {
  const dim3 g = cfg.grid, b = cfg.block;
  const size_t nthreads = size_t(b.x) * b.y * b.z;
  size_t smem_limit = kDefaultSharedLimit;
  if (auto it = g_smem_optin.find(cfg.kernel); it != g_smem_optin.end()) smem_limit = size_t(it->second);
  const char* bad = nullptr;
  if (g.x == 0 || g.y == 0 || g.z == 0) bad = "empty grid";
  else if (b.x == 0 || b.y == 0 || b.z == 0) bad = "empty block";
  else if (nthreads > kMaxThreads || b.z > 64) bad = "too many threads per block";
  else if (g.y > 65535 || g.z > 65535 || g.x > 2147483647u) bad = "grid too large";
  else if (cfg.smem > smem_limit) bad = "dynamic shared memory above the limit (cudaFuncSetAttribute)";
  if (bad) {
    std::fprintf(stderr, "cuda emulator: launch refused (%s): grid (%u,%u,%u), block (%u,%u,%u), %zu bytes shared\n",
                 bad, g.x, g.y, g.z, b.x, b.y, b.z, cfg.smem);
    g_last_error = cudaErrorInvalidConfiguration;
    return;
  }
  if (g_exec_error != cudaSuccess) return;  // a failed kernel stops the stream
  Profile prof(cfg.kernel, size_t(g.x) * g.y * g.z * nthreads);
  gridDim = g;
  blockDim = b;
  g_body = body;
  g_ctx = ctx;
  g_dynamic.assign(cfg.smem, 0xFF);  // unwritten shared memory reads as NaN
  for (unsigned z = 0; z < g.z; z++)
    for (unsigned y = 0; y < g.y; y++)
      for (unsigned x = 0; x < g.x; x++) {
        blockIdx = {x, y, z};
        std::fill(g_dynamic.begin(), g_dynamic.end(), 0xFF);
        if (!run_block(unsigned(nthreads))) {
          g_exec_error = cudaErrorLaunchFailure;
          return;
        }
      }
}

}  // namespace gpt_emu

using gpt_emu::g_allocs;

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy (emulator: pointer not where the kind says)";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulator: a barrier deadlocked; see stderr)";
  }
  return "unknown error";
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = gpt_emu::g_last_error;
  gpt_emu::g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return gpt_emu::g_last_error; }
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "%s", "CUDA emulator on the CPU (tests/cuda_emu)");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 1;
  p->totalGlobalMem = size_t(4) << 30;
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  // Exactly `bytes` (256-aligned, as cudaMalloc's): under AddressSanitizer (make sanitize)
  // a kernel reading or writing one element past a buffer is reported.
  void* m = nullptr;
  if (posix_memalign(&m, 256, bytes) != 0) return cudaErrorMemoryAllocation;
  std::memset(m, 0xFF, bytes);  // cudaMalloc does not zero: neither does this
  g_allocs[reinterpret_cast<uintptr_t>(m)] = bytes;
  *p = m;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs.end()) return cudaErrorInvalidDevicePointer;
  g_allocs.erase(it);
  std::free(p);
  return gpt_emu::take_exec_error();
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dd = gpt_emu::is_device(dst, bytes), sd = gpt_emu::is_device(src, bytes);
  const bool ok = kind == cudaMemcpyDefault || (kind == cudaMemcpyHostToDevice && dd && !sd) ||
                  (kind == cudaMemcpyDeviceToHost && !dd && sd) || (kind == cudaMemcpyDeviceToDevice && dd && sd) ||
                  (kind == cudaMemcpyHostToHost && !dd && !sd);
  if (!ok) return cudaErrorInvalidMemcpyDirection;
  std::memmove(dst, src, bytes);
  return gpt_emu::take_exec_error();
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!gpt_emu::is_device(p, bytes)) return cudaErrorInvalidValue;
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) { return cudaMemset(p, value, bytes); }
cudaError_t cudaDeviceSynchronize() { return gpt_emu::take_exec_error(); }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return gpt_emu::take_exec_error(); }
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = size_t(4) << 30;
  size_t used = 0;
  for (const auto& a : g_allocs) used += a.second;
  *free_bytes = used < *total_bytes ? *total_bytes - used : 0;
  return cudaSuccess;
}
// Device memory is what cudaMalloc returned (any byte inside it); the rest is host memory
// that CUDA does not know (unregistered), as for malloc'd memory on a GPU machine.
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  *a = cudaPointerAttributes{};
  if (gpt_emu::is_device(p, 1)) {
    a->type = cudaMemoryTypeDevice;
    a->devicePointer = const_cast<void*>(p);
  } else {
    a->type = cudaMemoryTypeUnregistered;
    a->hostPointer = const_cast<void*>(p);
  }
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* fn, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > 227 * 1024)
    return cudaErrorInvalidValue;
  gpt_emu::g_smem_optin[fn] = value;
  return cudaSuccess;
}

float __fmul_rn(float a, float b) { return a * b; }
