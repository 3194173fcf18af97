// The seam between the model and the hardware: one table per backend (CPU now, CUDA
// next) holding every layer function of layers.h plus the few memory operations the
// model needs. src/model.cpp calls only through this table, so a second backend is a
// second table, not a second model. Not here: which process does what (process_group.h).
//
// Contract (every backend keeps it; the CPU backend trivially):
//   * Memory. Buffers the model passes to layer entries live in the backend's memory,
//     allocated by mem.alloc (zeroed) and owned by a DeviceBuffer (RAII). Host pointers
//     are never passed to a layer entry, except where the signature says host below.
//   * Order. Every layer entry and mem.zero / mem.copy is enqueued in call order on the
//     backend's one stream and MAY RETURN BEFORE IT FINISHES (CUDA does). Their results
//     are visible to later calls on the same backend, never directly to host code.
//   * Synchronisation. mem.to_host, sum and sum_squares wait for all earlier work
//     and return host values; mem.to_device returns once the host buffer may be reused.
//     mem.synchronize waits for everything enqueued so far.
//   * Gradient rule and shapes: exactly layers.h's (the entries ARE the cpu:: functions'
//     signatures; a GPU entry whose signature drifts fails to compile where it is put
//     into its table).
//   * host_memory: true when backend memory is ordinary host memory (CPU). Code may then
//     read a buffer in place instead of copying (GPT::decode does); results are identical.
#pragma once
#include <cstddef>
#include <string>
#include <utility>

#include "layers.h"

namespace gpt {

enum class DeviceKind { cpu, cuda };
std::string to_string(DeviceKind d);
DeviceKind parse_device(const std::string& s);  // "cpu" | "cuda"; gpt::Error (exit 2) otherwise

// The precision of the matmul operands (--dtype). fp32: everything in float. bf16:
// weights and activations rounded to bf16 where they enter a product, fp32 sums; the
// master weights, gradients, AdamW m and v, LayerNorm statistics, softmax and losses
// stay fp32, so checkpoints are the same files. A dtype is a backend table: the model
// code does not change.
enum class Dtype { fp32, bf16 };
std::string to_string(Dtype t);
Dtype parse_dtype(const std::string& s);  // "fp32" | "bf16"; gpt::Error (exit 2) otherwise

// Untyped memory operations (sizes in bytes).
struct DeviceMemory {
  void* (*alloc)(size_t bytes);  // zeroed; throws std::bad_alloc (or gpt::Error) on failure
  void (*free)(void* p);
  void (*zero)(void* p, size_t bytes);
  void (*copy)(void* dst, const void* src, size_t bytes);              // device to device
  void (*to_host)(void* host_dst, const void* src, size_t bytes);      // synchronises
  void (*to_device)(void* dst, const void* host_src, size_t bytes);
  void (*synchronize)();
};

// One entry per layers.h function the model calls, typed from the cpu:: declaration.
template <class S>
struct Backend {
  template <auto F>
  using Fn = decltype(F);
  const char* name;
  DeviceKind kind;
  Dtype dtype;
  bool host_memory;
  DeviceMemory mem;
  // Synchronising reductions, accumulated in double: sum (losses) in index order;
  // sum_squares with layers.h's thread-count-independent chunking.
  double (*sum)(const S* x, size_t n);
  Fn<&cpu::sum_squares<S>> sum_squares;

  Fn<&cpu::encoder_forward<S>> encoder_forward;  // inp: backend memory (ints)
  Fn<&cpu::encoder_backward<S>> encoder_backward;
  Fn<&cpu::rope_forward<S>> rope_forward;
  Fn<&cpu::rope_backward<S>> rope_backward;
  Fn<&cpu::layernorm_forward<S>> layernorm_forward;
  Fn<&cpu::residual_layernorm_forward<S>> residual_layernorm_forward;
  Fn<&cpu::layernorm_backward<S>> layernorm_backward;
  Fn<&cpu::matmul_forward<S>> matmul_forward;
  Fn<&cpu::matmul_backward<S>> matmul_backward;
  Fn<&cpu::matmul_gelu_forward<S>> matmul_gelu_forward;
  Fn<&cpu::matmul_gelu_backward<S>> matmul_gelu_backward;
  // Decoding with bf16 weights (float models only; the double table holds them unused).
  Fn<&cpu::to_bf16> to_bf16;
  Fn<&cpu::matmul_decode_bf16w> matmul_decode_bf16w;
  Fn<&cpu::attention_forward<S>> attention_forward;
  Fn<&cpu::attention_backward<S>> attention_backward;
  Fn<&cpu::kv_cache_write<S>> kv_cache_write;
  Fn<&cpu::attention_decode<S>> attention_decode;
  Fn<&cpu::gelu_forward<S>> gelu_forward;
  Fn<&cpu::gelu_backward<S>> gelu_backward;
  Fn<&cpu::residual_forward<S>> residual_forward;
  Fn<&cpu::residual_backward<S>> residual_backward;
  Fn<&cpu::dropout_forward<S>> dropout_forward;
  Fn<&cpu::dropout_backward<S>> dropout_backward;
  Fn<&cpu::crossentropy_forward<S>> crossentropy_forward;  // targets: backend memory
  Fn<&cpu::crossentropy_backward_inplace<S>> crossentropy_backward_inplace;
  Fn<&cpu::crossentropy_fused<S>> crossentropy_fused;
  Fn<&cpu::adamw_update<S>> adamw_update;
};

// The CPU backend (float and double: the gradient checks run the model in double).
template <class S>
const Backend<S>& cpu_backend();
#ifdef GPT_HAVE_CUDA
// The CUDA backend (cuda/backend.cu): float only. Use backend_for, which checks for a device.
const Backend<float>& cuda_backend();
// Its bf16 table: cuda_backend() with the bf16 matmuls and attention (as cpu_backend_bf16).
const Backend<float>& cuda_backend_bf16();
#endif
// The CPU's bf16 table (float): cpu_backend<float>() with the bf16 matmuls.
const Backend<float>& cpu_backend_bf16();
// The backend for a device: cpu always; cuda when built with CUDA, for float, and a
// device is present. bf16: float, on either. Otherwise gpt::Error saying what is
// missing and what to do.
template <class S>
const Backend<S>& backend_for(DeviceKind d, Dtype t = Dtype::fp32);
// Whether backend_for(d) would succeed (tests skip on false); why_not explains a false.
bool backend_available(DeviceKind d, std::string* why_not = nullptr);

// A typed allocation in a backend's memory: zeroed, move-only, freed by its backend.
template <class S>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceMemory& mem, size_t n) : mem_(&mem) { resize(n); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : mem_(o.mem_), ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      mem_ = o.mem_;
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  void bind(const DeviceMemory& mem) { mem_ = &mem; }
  // Reallocates, zeroed (contents are not preserved).
  void resize(size_t n) {
    release();
    n_ = n;
    if (n) ptr_ = static_cast<S*>(mem_->alloc(n * sizeof(S)));
  }
  void zero() {
    if (n_) mem_->zero(ptr_, n_ * sizeof(S));
  }
  // Elements [off, off + n) to / from host memory.
  void read(S* host, size_t off, size_t n) const { if (n) mem_->to_host(host, ptr_ + off, n * sizeof(S)); }
  void write(const S* host, size_t off, size_t n) { if (n) mem_->to_device(ptr_ + off, host, n * sizeof(S)); }
  S* data() { return ptr_; }
  const S* data() const { return ptr_; }
  size_t size() const { return n_; }

 private:
  void release() {
    if (ptr_) mem_->free(ptr_);
    ptr_ = nullptr;
    n_ = 0;
  }
  const DeviceMemory* mem_ = nullptr;
  S* ptr_ = nullptr;
  size_t n_ = 0;
};

}  // namespace gpt
