// HostBuffer<T>: one aligned, zero-initialised, move-only allocation. Dims: the
// shape every layer function takes. Nothing here knows about the model.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sys/mman.h>
#include <utility>

namespace gpt {

// B = batch, T = time (sequence length), C = channels, NH = heads.
struct Dims {
  int B = 1, T = 1, C = 1, NH = 1;
  size_t BT() const { return size_t(B) * size_t(T); }
  int hs() const { return C / NH; }
};

// host_alloc_zeroed's alignment for `bytes`: large buffers are 2 MiB aligned and marked
// for transparent huge pages, which cuts first-touch page faults 512-fold (seconds on a
// VM for GB of activations); others 64-byte aligned.
constexpr size_t kHostAlign = 64, kHugePage = size_t(2) << 20, kHugeThreshold = size_t(8) << 20;
inline size_t host_alloc_align(size_t bytes) { return bytes >= kHugeThreshold ? kHugePage : kHostAlign; }
// The bytes host_alloc_zeroed(bytes) takes and touches: `bytes` rounded up to its alignment
// (up to 2 MiB more; the memory estimate of gpt train counts it).
inline size_t host_alloc_bytes(size_t bytes) {
  const size_t align = host_alloc_align(bytes);
  return (bytes + align - 1) / align * align;
}
// A zeroed allocation of `bytes`, freed with std::free.
inline void* host_alloc_zeroed(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t align = host_alloc_align(bytes), rounded = host_alloc_bytes(bytes);
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
  if (align == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);
  std::memset(p, 0, rounded);
  return p;
}

template <class T>
class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(size_t n) { resize(n); }
  ~HostBuffer() { std::free(ptr_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  HostBuffer(HostBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  HostBuffer& operator=(HostBuffer&& o) noexcept {
    if (this != &o) {
      std::free(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  // Reallocates and zeroes (contents are not preserved).
  void resize(size_t n) {
    std::free(ptr_);
    ptr_ = nullptr;
    n_ = 0;  // (until the allocation succeeds: a failed one left size n over no memory)
    if (n) ptr_ = static_cast<T*>(host_alloc_zeroed(n * sizeof(T)));
    n_ = n;
  }
  void zero() {
    if (n_) std::memset(static_cast<void*>(ptr_), 0, n_ * sizeof(T));
  }
  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return ptr_[i]; }
  const T& operator[](size_t i) const { return ptr_[i]; }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

}  // namespace gpt
