// Stand-in for the toolkit's mma.h (nvcuda::wmma, warp matrix products on tensor cores)
// on the CUDA emulator, for the 16x16x16 shapes with bf16 operands and fp32 accumulators
// that cuda/attention.cu uses. What it models and checks:
// - a fragment's elements belong to the 32 lanes of a warp in an order CUDA leaves
//   unspecified; here the order is a scrambled one (lane l's element i holds matrix
//   entry (37 * (8 l + i)) mod 256), so code that assumes any particular order reads
//   the wrong entries and fails its tests;
// - load/store/mma are warp-collective: every lane must call them with the same pointer
//   and stride (checked), the pointer 256-bit aligned and the stride a multiple of 16
//   bytes (checked, as the CUDA guide requires); a lane that skips one deadlocks its warp
//   (the scheduler reports it);
// - the product sums k in order in fp32 (bf16 x bf16 products are exact in fp32); the
//   hardware's tensor cores sum in another order, so tests allow for rounding.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace gpt_emu {
[[noreturn]] void fault(const char* what);  // emu.cpp: names the block and thread, aborts
inline float wmma_exchange[32][3][256];      // per warp of the running block: a, b, c
inline int warp_index() {
  return int((threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) / 32);
}
inline int wmma_entry(int lane, int i) { return (37 * (8 * lane + i)) % 256; }
inline float wmma_value(float v) { return v; }
inline float wmma_value(__nv_bfloat16 v) { return __bfloat162float(v); }
// Every lane passed the same pointer and stride; the pointer and stride are aligned.
template <class T>
void wmma_check_args(const T* p, unsigned ldm, const char* op) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) fault(op);
  if ((size_t(ldm) * sizeof(T)) % 16 != 0) fault(op);
  uint64_t* x = warp_exchange();
  const int me = lane(), base = int(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) - me;
  x[base + me] = reinterpret_cast<uintptr_t>(p) ^ (uint64_t(ldm) << 48);
  syncwarp();
  const bool same = x[base] == x[base + me];
  syncwarp();
  if (!same) fault(op);
}
}  // namespace gpt_emu

namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulator has the 16x16x16 shapes only");
  using element_type = T;
  static constexpr int num_elements = 8;
  T x[8];
};

template <class Use, class T, class Layout>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout>& f, T v) {
  for (T& e : f.x) e = v;
}
namespace detail {
// Where lane l's element i of a fragment lies in memory at p (stride ldm, between rows
// or columns): the one addressing of every load and store.
template <class P>
P* element(P* p, unsigned ldm, bool row_major, int l, int i) {
  const int e = gpt_emu::wmma_entry(l, i), r = e / 16, c = e % 16;
  return row_major ? p + size_t(r) * ldm + c : p + size_t(c) * ldm + r;
}
constexpr const char* kLoad = "wmma::load_matrix_sync: pointer not 256-bit aligned, stride not a multiple of 16 "
                              "bytes, or lanes disagree on them";
constexpr const char* kStore = "wmma::store_matrix_sync: pointer not 256-bit aligned, stride not a multiple of 16 "
                               "bytes, or lanes disagree on them";
}  // namespace detail

template <class Use, class T, class Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const T* p, unsigned ldm) {
  static_assert(!std::is_same_v<Use, accumulator>, "an accumulator load names its layout");
  gpt_emu::wmma_check_args(p, ldm, detail::kLoad);
  for (int i = 0; i < 8; i++) f.x[i] = *detail::element(p, ldm, std::is_same_v<Layout, row_major>, gpt_emu::lane(), i);
}
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm,
                             layout_t layout) {
  gpt_emu::wmma_check_args(p, ldm, detail::kLoad);
  for (int i = 0; i < 8; i++) f.x[i] = *detail::element(p, ldm, layout == mem_row_major, gpt_emu::lane(), i);
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm,
                              layout_t layout) {
  gpt_emu::wmma_check_args(p, ldm, detail::kStore);
  for (int i = 0; i < 8; i++) *detail::element(p, ldm, layout == mem_row_major, gpt_emu::lane(), i) = f.x[i];
}
// d = a b + c, a 16x16 (row index m, column k), b 16x16 (k, n).
template <class T, class LA, class LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, LA>& a,
              const fragment<matrix_b, 16, 16, 16, T, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float(&x)[3][256] = gpt_emu::wmma_exchange[gpt_emu::warp_index()];
  const int l = gpt_emu::lane();
  for (int i = 0; i < 8; i++) {
    const int e = gpt_emu::wmma_entry(l, i);
    x[0][e] = gpt_emu::wmma_value(a.x[i]);
    x[1][e] = gpt_emu::wmma_value(b.x[i]);
    x[2][e] = c.x[i];
  }
  gpt_emu::syncwarp();
  float out[8];
  for (int i = 0; i < 8; i++) {
    const int e = gpt_emu::wmma_entry(l, i), m = e / 16, n = e % 16;
    float s = x[2][e];
    for (int k = 0; k < 16; k++) s += x[0][m * 16 + k] * x[1][k * 16 + n];
    out[i] = s;
  }
  gpt_emu::syncwarp();  // every lane has read before the slots are reused
  for (int i = 0; i < 8; i++) d.x[i] = out[i];
}
}  // namespace nvcuda::wmma
