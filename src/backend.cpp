// The CPU backend's table (the cpu:: layer functions and host memory), and the choice
// of backend by device. The CUDA table will live in cuda/backend.cu; until its layers
// exist, asking for cuda says so.
#include "backend.h"

#include <omp.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "backend_profile.h"
#include "buffer.h"
#include "check.h"
#include "device.h"

namespace gpt {

std::string to_string(DeviceKind d) { return d == DeviceKind::cpu ? "cpu" : "cuda"; }

DeviceKind parse_device(const std::string& s) {
  if (s == "cpu") return DeviceKind::cpu;
  if (s == "cuda") return DeviceKind::cuda;
  GPT_USAGE_FAIL("--device: unknown device '", s, "'; choose cpu or cuda");
}

std::string to_string(Dtype t) { return t == Dtype::fp32 ? "fp32" : "bf16"; }

Dtype parse_dtype(const std::string& s) {
  if (s == "fp32") return Dtype::fp32;
  if (s == "bf16") return Dtype::bf16;
  GPT_USAGE_FAIL("--dtype: unknown type '", s, "'; choose fp32 or bf16");
}

namespace {

void host_free(void* p) { std::free(p); }
// Zeroing is bandwidth-bound: a large buffer (the gradients, every step) is split across
// the threads, whose cores write faster together than one alone.
void host_zero(void* p, size_t bytes) {
  constexpr size_t kSerial = size_t(1) << 20;
  const int n = omp_get_max_threads();
  if (bytes < kSerial || n == 1) {
    std::memset(p, 0, bytes);
    return;
  }
  char* c = static_cast<char*>(p);
#pragma omp parallel for schedule(static) num_threads(n)
  for (int i = 0; i < n; i++) {
    const size_t lo = bytes / size_t(n) * size_t(i), hi = i + 1 == n ? bytes : bytes / size_t(n) * size_t(i + 1);
    std::memset(c + lo, 0, hi - lo);
  }
}
void host_copy(void* dst, const void* src, size_t bytes) {
  if (dst != src) std::memcpy(dst, src, bytes);
}
void host_sync() {}

constexpr DeviceMemory kHostMemory{host_alloc_zeroed, host_free, host_zero, host_copy, host_copy, host_copy, host_sync};

template <class S>
double host_sum(const S* x, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += double(x[i]);
  return s;
}

template <class S>
Backend<S> make_cpu_backend() {
  Backend<S> b{};
  b.name = "cpu";
  b.kind = DeviceKind::cpu;
  b.dtype = Dtype::fp32;
  b.host_memory = true;
  b.mem = kHostMemory;
  b.sum = host_sum<S>;
  b.sum_squares = cpu::sum_squares<S>;
  b.encoder_forward = cpu::encoder_forward<S>;
  b.encoder_backward = cpu::encoder_backward<S>;
  b.rope_forward = cpu::rope_forward<S>;
  b.rope_backward = cpu::rope_backward<S>;
  b.layernorm_forward = cpu::layernorm_forward<S>;
  b.residual_layernorm_forward = cpu::residual_layernorm_forward<S>;
  b.layernorm_backward = cpu::layernorm_backward<S>;
  b.matmul_forward = cpu::matmul_forward<S>;
  b.matmul_backward = cpu::matmul_backward<S>;
  b.matmul_gelu_forward = cpu::matmul_gelu_forward<S>;
  b.matmul_gelu_backward = cpu::matmul_gelu_backward<S>;
  b.to_bf16 = cpu::to_bf16;
  b.matmul_decode_bf16w = cpu::matmul_decode_bf16w;
  b.attention_forward = cpu::attention_forward<S>;
  b.attention_backward = cpu::attention_backward<S>;
  b.kv_cache_write = cpu::kv_cache_write<S>;
  b.attention_decode = cpu::attention_decode<S>;
  b.gelu_forward = cpu::gelu_forward<S>;
  b.gelu_backward = cpu::gelu_backward<S>;
  b.residual_forward = cpu::residual_forward<S>;
  b.residual_backward = cpu::residual_backward<S>;
  b.dropout_forward = cpu::dropout_forward<S>;
  b.dropout_backward = cpu::dropout_backward<S>;
  b.crossentropy_forward = cpu::crossentropy_forward<S>;
  b.crossentropy_backward_inplace = cpu::crossentropy_backward_inplace<S>;
  b.crossentropy_fused = cpu::crossentropy_fused<S>;
  b.adamw_update = cpu::adamw_update<S>;
  return b;
}

// Every entry filled: a table with a null entry would crash mid-run instead of failing here.
template <class S>
void check_complete(const Backend<S>& b) {
  const void* const* p = reinterpret_cast<const void* const*>(&b.sum);
  static_assert(offsetof(Backend<S>, sum) % sizeof(void*) == 0, "the entries are pointers from sum on");
  const void* const* end = reinterpret_cast<const void* const*>(&b + 1);
  for (; p < end; p++) GPT_CHECK(*p != nullptr, "backend ", b.name, " has an empty entry");
}

}  // namespace

template <class S>
const Backend<S>& cpu_backend() {
  static const Backend<S> b = [] {
    Backend<S> t = make_cpu_backend<S>();
    check_complete(t);
    return t;
  }();
  return b;
}

const Backend<float>& cpu_backend_bf16() {
  static const Backend<float> b = [] {
    Backend<float> t = make_cpu_backend<float>();
    t.dtype = Dtype::bf16;
    t.matmul_forward = cpu::matmul_forward_bf16;
    t.matmul_backward = cpu::matmul_backward_bf16;
    t.matmul_gelu_forward = cpu::matmul_gelu_forward_bf16;
    t.matmul_gelu_backward = cpu::matmul_gelu_backward_bf16;
    t.attention_forward = cpu::attention_forward_bf16;
    t.attention_backward = cpu::attention_backward_bf16;
    check_complete(t);
    return t;
  }();
  return b;
}

bool backend_available(DeviceKind d, std::string* why_not) {
  if (d == DeviceKind::cpu) return true;
  const CudaStatus st = cuda_status();
  std::string why;
  if (!st.built) why = st.error + "; install the CUDA toolkit (/usr/local/cuda) and rebuild, or use --device cpu";
  else if (st.devices == 0) why = st.error + "; use --device cpu on this machine";
  if (why_not) *why_not = why;
  return why.empty();
}

namespace {
template <class S>
const Backend<S>& select_backend(DeviceKind d, Dtype t) {
  if (t == Dtype::bf16) {
    if constexpr (!std::is_same_v<S, float>) {
      GPT_USAGE_FAIL("--dtype bf16: the double-precision checks (gradcheck) run in double only; drop --dtype");
    } else {
      if (d == DeviceKind::cpu) return cpu_backend_bf16();
      std::string why;
      if (!backend_available(d, &why)) GPT_USAGE_FAIL("--device ", to_string(d), ": ", why);
#ifdef GPT_HAVE_CUDA
      return cuda_backend_bf16();
#endif
    }
  }
  if (d == DeviceKind::cpu) return cpu_backend<S>();
  std::string why;
  if (!backend_available(d, &why)) GPT_USAGE_FAIL("--device ", to_string(d), ": ", why);
#ifdef GPT_HAVE_CUDA
  if constexpr (std::is_same_v<S, float>) return cuda_backend();
#endif
  GPT_USAGE_FAIL("--device ", to_string(d), ": the CUDA backend is float only (the double-precision checks run on "
                 "the CPU)");
}
}  // namespace

template <class S>
const Backend<S>& backend_for(DeviceKind d, Dtype t) {
  const Backend<S>& b = select_backend<S>(d, t);
  if constexpr (std::is_same_v<S, float>)
    if (backend_profile_enabled()) return profiled_backend(b);  // train --profile
  return b;
}

template const Backend<float>& cpu_backend<float>();
template const Backend<double>& cpu_backend<double>();
template const Backend<float>& backend_for<float>(DeviceKind, Dtype);
template const Backend<double>& backend_for<double>(DeviceKind, Dtype);

}  // namespace gpt
