// The NCCL process group: data-parallel training with one GPU per process, the
// collectives on the model's device buffers (process_group.h's contract). As in llm.c,
// MPI only starts the processes, passes NCCL's id from rank 0 to the others and does the
// host-side operations (broadcast of host bytes, barrier, any, abort); with one process
// (GPT_COMM=nccl) a one-rank NCCL group needs no MPI at all.
//
// NCCL is loaded at run time (dlopen of libnccl.so.2, or $GPT_NCCL_LIBRARY), never linked:
// bin/gpt starts on machines without it, and says how to find it when a run needs it.
// nccl.h supplies types only; every entry point is a pointer found with dlsym.
//
// Stream: the CUDA backend runs on the default stream (cuda/backend.cu), so the
// collectives are enqueued there too: each starts after the kernels that wrote its
// buffer. Each collective first waits for those kernels (compute, not counted), then
// times its own work and waits for it, so comm_seconds() is communication only.
//
// Compiled here; NOT yet run with more than one rank (a one-GPU machine allows one).
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.cuh"
#include "process_group.h"

namespace gpt {

namespace {

// The NCCL entry points used here (types from nccl.h, addresses from dlsym).
struct NcclApi {
  std::string library;  // what was loaded
  int version = 0;      // NCCL_VERSION_CODE of the loaded library
  decltype(&ncclGetVersion) GetVersion = nullptr;
  decltype(&ncclGetErrorString) GetErrorString = nullptr;
  decltype(&ncclGetUniqueId) GetUniqueId = nullptr;
  decltype(&ncclCommInitRank) CommInitRank = nullptr;
  decltype(&ncclCommDestroy) CommDestroy = nullptr;
  decltype(&ncclCommAbort) CommAbort = nullptr;
  decltype(&ncclAllReduce) AllReduce = nullptr;
  decltype(&ncclReduce) Reduce = nullptr;
  decltype(&ncclBroadcast) Broadcast = nullptr;
  decltype(&ncclSend) Send = nullptr;
  decltype(&ncclRecv) Recv = nullptr;
  decltype(&ncclGroupStart) GroupStart = nullptr;
  decltype(&ncclGroupEnd) GroupEnd = nullptr;
};

constexpr const char* kLibrary = "libnccl.so.2";
// ncclSend / ncclRecv (the gather) came with NCCL 2.7. Version codes are X*1000+Y*100+Z
// before 2.9 (2.7.8 is 2708) and X*10000+Y*100+Z since (2.18.5 is 21805).
bool version_supported(int code) { return code >= 10000 ? code >= 20700 : code >= 2700; }

std::string library_to_load() {
  const char* e = std::getenv("GPT_NCCL_LIBRARY");
  return e && *e ? std::string(e) : std::string(kLibrary);
}

std::string version_text(int code) {
  // NCCL_VERSION(X,Y,Z): X*1000+Y*100+Z before 2.9, X*10000+Y*100+Z since.
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

NcclApi load_nccl(const std::string& library) {
  void* h = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = dlerror();
    std::string reason = why ? why : "unknown reason";
    for (char& c : reason)
      if (c == '\n') c = ' ';
    GPT_USAGE_FAIL("cannot load NCCL, which GPT_COMM=nccl and several GPU processes need: dlopen(\"", library,
                   "\") failed (", reason, "); set LD_LIBRARY_PATH to the folder holding libnccl.so.2 (pip's "
                   "nvidia-nccl-cu12/-cu13 puts it in site-packages/nvidia/nccl/lib, e.g. under "
                   "/opt/torch/.venv/lib/python3.12/; the CUDA toolkit in /usr/local/cuda/lib64), or "
                   "GPT_NCCL_LIBRARY to its path");
  }
  NcclApi api;
  api.library = library;
  auto find = [&](auto& fn, const char* name) {
    void* p = dlsym(h, name);
    if (!p) GPT_USAGE_FAIL(library, " has no ", name, ": not NCCL, or NCCL older than 2.7; install NCCL 2.7 or newer");
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
  };
  find(api.GetVersion, "ncclGetVersion");
  find(api.GetErrorString, "ncclGetErrorString");
  find(api.GetUniqueId, "ncclGetUniqueId");
  find(api.CommInitRank, "ncclCommInitRank");
  find(api.CommDestroy, "ncclCommDestroy");
  find(api.CommAbort, "ncclCommAbort");
  find(api.AllReduce, "ncclAllReduce");
  find(api.Reduce, "ncclReduce");
  find(api.Broadcast, "ncclBroadcast");
  find(api.Send, "ncclSend");
  find(api.Recv, "ncclRecv");
  find(api.GroupStart, "ncclGroupStart");
  find(api.GroupEnd, "ncclGroupEnd");
  const ncclResult_t r = api.GetVersion(&api.version);
  if (r != ncclSuccess) GPT_FAIL(library, ": ncclGetVersion failed: ", api.GetErrorString(r));
  if (!version_supported(api.version))
    GPT_USAGE_FAIL(library, " is NCCL ", version_text(api.version), "; gpt needs NCCL 2.7 or newer");
  return api;
}

// Loaded once per process, on first use (a failed load is retried, and says why, each time).
const NcclApi& nccl_api() {
  static std::unique_ptr<NcclApi> api;
  if (!api) api = std::make_unique<NcclApi>(load_nccl(library_to_load()));
  return *api;
}

constexpr cudaStream_t kStream = nullptr;  // the CUDA backend's stream: the default one

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess)
    GPT_FAIL("NCCL process group: cannot allocate ", bytes, " bytes on the GPU for a collective (",
             cudaGetErrorString(e), ")");
  return p;
}
// A device allocation for one call (freed when it is done: the call synchronises first).
struct DeviceTemp {
  void* p;
  explicit DeviceTemp(size_t bytes) : p(device_alloc(bytes)) {}
  ~DeviceTemp() { cudaFree(p); }
  DeviceTemp(const DeviceTemp&) = delete;
  DeviceTemp& operator=(const DeviceTemp&) = delete;
};

class NcclGroup final : public ProcessGroup {
 public:
  NcclGroup(std::unique_ptr<ProcessGroup> host, int local_rank) : host_(std::move(host)) {
    try {
      init(local_rank);
    } catch (const Error& e) {
      // Several ranks: this is before the training loop's own error handling, so say it
      // here and end every rank (the others may wait for the id, or in ncclCommInitRank);
      // rank 0 first, as there.
      if (host_->size() > 1) {
        if (!host_->is_root()) std::this_thread::sleep_for(std::chrono::seconds(2));
        std::fprintf(stderr, "error (rank %d of %d): %s\n", host_->rank(), host_->size(), e.what());
        std::fflush(stderr);
        host_->abort(e.code);
      }
      throw;
    }
  }
  ~NcclGroup() override {
    if (scratch_) cudaFree(scratch_);
    // Leaving by an exception: abort (never waits for peers); else destroy (flushes).
    if (comm_) (std::uncaught_exceptions() > 0 ? nccl_->CommAbort : nccl_->CommDestroy)(comm_);
    // host_ goes after: MPI is finalised (or aborted) once NCCL is done with it.
  }
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }

  void all_reduce_sum(float* x, size_t n) override {
    if (n == 0) return;
    require_memory(x, true, "all_reduce_sum(float*)");
    timed([&] { check(nccl_->AllReduce(x, x, n, ncclFloat, ncclSum, comm_, kStream), "ncclAllReduce"); });
  }
  // The loop's scalars (the loss, a squared norm) are host doubles: staged through the GPU.
  void all_reduce_sum(double* x, size_t n) override {
    if (n == 0) return;
    require_memory(x, false, "all_reduce_sum(double*)");
    double* d = scratch<double>(n);
    timed([&] {
      CUDA_CHECK(cudaMemcpyAsync(d, x, n * sizeof(double), cudaMemcpyHostToDevice, kStream));
      check(nccl_->AllReduce(d, d, n, ncclDouble, ncclSum, comm_, kStream), "ncclAllReduce");
      CUDA_CHECK(cudaMemcpyAsync(x, d, n * sizeof(double), cudaMemcpyDeviceToHost, kStream));
    });
  }
  // Uneven blocks: ncclReduceScatter and ncclAllGather need every rank's block the same
  // size, and even_split's differ by one. Rather than pad (a copy of the whole buffer
  // into a padded one and back, and its memory), each block is its own collective:
  // block r reduced onto rank r (ncclReduce, in place), or broadcast from rank r
  // (ncclBroadcast, in place), all of them inside one ncclGroupStart/End, which NCCL
  // launches together. Each rank still sends about (P-1)/P of the buffer, like the
  // single collectives; the cost is P small operations' latency, once per step.
  void reduce_scatter_sum(float* x, const std::vector<size_t>& counts) override {
    require_counts(counts, "reduce_scatter_sum");
    if (total(counts) == 0) return;
    require_memory(x, true, "reduce_scatter_sum");
    timed([&] {
      per_block(counts, "ncclReduce", [&](int r, size_t off, size_t n) {
        return nccl_->Reduce(x + off, x + off, n, ncclFloat, ncclSum, r, comm_, kStream);
      });
    });
  }
  void all_gather(float* x, const std::vector<size_t>& counts) override {
    require_counts(counts, "all_gather");
    if (total(counts) == 0) return;
    require_memory(x, true, "all_gather");
    timed([&] {
      per_block(counts, "ncclBroadcast", [&](int r, size_t off, size_t n) {
        return nccl_->Broadcast(x + off, x + off, n, ncclFloat, r, comm_, kStream);
      });
    });
  }
  // `block` on the GPU, `full` in host memory on the root: the root receives every
  // block into one device buffer (ncclRecv from each rank, its own copied), then copies
  // it to the host. Checkpoint time only; the buffer is freed after (ZeRO-1 is there
  // to save GPU memory).
  void gather(const float* block, const std::vector<size_t>& counts, float* full) override {
    require_counts(counts, "gather");
    const size_t n = total(counts), mine = counts[size_t(rank())];
    if (mine) require_memory(block, true, "gather (block)");
    if (is_root()) {
      if (n && !full) GPT_FAIL("gather: the root needs a host buffer for the whole result");
      if (n) require_memory(full, false, "gather (full)");
    }
    if (n == 0) return;
    if (!is_root()) {
      if (mine) timed([&] { check(nccl_->Send(block, mine, ncclFloat, 0, comm_, kStream), "ncclSend"); });
      return;
    }
    DeviceTemp tmp(n * sizeof(float));  // freed after timed() has waited for the copies
    float* d = static_cast<float*>(tmp.p);
    timed([&] {
      if (mine) CUDA_CHECK(cudaMemcpyAsync(d, block, mine * sizeof(float), cudaMemcpyDeviceToDevice, kStream));
      per_block(counts, "ncclRecv", [&](int r, size_t off, size_t c) {
        return r == 0 ? ncclSuccess : nccl_->Recv(d + off, c, ncclFloat, r, comm_, kStream);
      });
      CUDA_CHECK(cudaMemcpyAsync(full, d, n * sizeof(float), cudaMemcpyDeviceToHost, kStream));
    });
  }
  // Host-side operations: the host group's (MPI's; nothing to do with one rank).
  void broadcast(void* host, size_t bytes, int root) override { host_->broadcast(host, bytes, root); }
  void barrier() override { host_->barrier(); }
  bool any(bool flag) override { return host_->any(flag); }
  double comm_seconds() const override { return comm_s_ + host_->comm_seconds(); }
  void abort(int code) override { host_->abort(code); }  // MPI_Abort ends every rank, NCCL's too

 private:
  void init(int local_rank) {
    nccl_ = &nccl_api();
    int devices = 0;
    CUDA_CHECK(cudaGetDeviceCount(&devices));
    if (local_rank < 0 || local_rank >= devices)
      GPT_USAGE_FAIL("NCCL: this is process ", local_rank + 1, " on its machine, which has ", devices,
                     " GPU(s): one GPU per process; start at most ", devices, " processes per machine");
    CUDA_CHECK(cudaSetDevice(local_rank));
    // Rank 0 makes the id; the host group (MPI, or nothing with one rank) hands it out.
    ncclUniqueId id{};
    if (host_->is_root()) check(nccl_->GetUniqueId(&id), "ncclGetUniqueId");
    host_->broadcast(&id, sizeof id, 0);
    check(nccl_->CommInitRank(&comm_, host_->size(), id, host_->rank()), "ncclCommInitRank");
  }
  void check(ncclResult_t r, const char* what) const {
    if (r != ncclSuccess)
      GPT_FAIL("NCCL ", what, " failed on rank ", rank(), " of ", size(), ": ", nccl_->GetErrorString(r), " (NCCL ",
               version_text(nccl_->version), " from ", nccl_->library, "; NCCL_DEBUG=WARN prints its own account)");
  }
  // The contract (process_group.h): which memory each buffer must be in. A pointer in
  // the wrong one would crash NCCL or the copies; this says which call got it.
  void require_memory(const void* p, bool device, const char* what) const {
    cudaPointerAttributes a{};
    CUDA_CHECK(cudaPointerGetAttributes(&a, p));
    const bool on_device = a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
    if (on_device != device)
      GPT_FAIL("NCCL process group: ", what, " was given ", on_device ? "GPU" : "host", " memory; it takes ",
               device ? "GPU memory (the CUDA backend's buffers)" : "host memory", " (process_group.h)");
  }
  void require_counts(const std::vector<size_t>& counts, const char* what) const {
    if (counts.size() != size_t(size()))
      GPT_FAIL("NCCL process group: ", what, " got ", counts.size(), " block sizes for ", size(), " ranks");
  }
  static size_t total(const std::vector<size_t>& counts) {
    size_t n = 0;
    for (size_t c : counts) n += c;
    return n;
  }
  // One NCCL call per non-empty block (rank r's at offset off), grouped so that they run
  // together; ncclGroupEnd is reached even when a call fails.
  template <class F>
  void per_block(const std::vector<size_t>& counts, const char* what, F&& op) {
    check(nccl_->GroupStart(), "ncclGroupStart");
    ncclResult_t first = ncclSuccess;
    size_t off = 0;
    for (int r = 0; r < size(); r++) {
      const size_t c = counts[size_t(r)];
      if (c) {
        const ncclResult_t e = op(r, off, c);
        if (first == ncclSuccess) first = e;
      }
      off += c;
    }
    const ncclResult_t end = nccl_->GroupEnd();
    check(first, what);
    check(end, "ncclGroupEnd");
  }
  // Waits for the kernels already queued (compute), then enqueues and waits for the
  // collective (communication, timed).
  template <class F>
  void timed(F&& enqueue) {
    CUDA_CHECK(cudaStreamSynchronize(kStream));
    const auto t0 = std::chrono::steady_clock::now();
    enqueue();
    CUDA_CHECK(cudaStreamSynchronize(kStream));
    comm_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  // A device buffer of at least n elements (the loop's few scalars), kept for the next call.
  template <class X>
  X* scratch(size_t n) {
    const size_t bytes = n * sizeof(X);
    if (bytes > scratch_bytes_) {
      CUDA_CHECK(cudaStreamSynchronize(kStream));  // the old one may still be in use
      if (scratch_) CUDA_CHECK(cudaFree(scratch_));
      scratch_ = nullptr;
      scratch_bytes_ = 0;
      scratch_ = device_alloc(bytes);
      scratch_bytes_ = bytes;
    }
    return static_cast<X*>(scratch_);
  }

  std::unique_ptr<ProcessGroup> host_;
  const NcclApi* nccl_ = nullptr;  // set first thing in init()
  ncclComm_t comm_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  double comm_s_ = 0.0;
};

}  // namespace

std::string nccl_version() {
  const NcclApi api = load_nccl(library_to_load());
  return version_text(api.version) + " (" + api.library + ")";
}

std::unique_ptr<ProcessGroup> nccl_process_group(std::unique_ptr<ProcessGroup> host, int local_rank) {
  return std::make_unique<NcclGroup>(std::move(host), local_rank);
}

}  // namespace gpt
