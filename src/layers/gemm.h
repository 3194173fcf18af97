// The float GEMM engine (gemm.cpp) that the matmul layer (matmul.cpp) runs on: one
// strided product with fused bias and GELU epilogues, the matrix-vector product of
// decoding, and the run-time choice of micro-kernel. CPU only; not a layer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "check.h"

namespace gpt::cpu {

// The micro-kernel, chosen at first use from cpuid (GPT_GEMM=avx512|avx2|generic
// overrides). Every kernel computes the same sums in the same order per element.
enum class GemmIsa { generic, avx2, avx512 };
const char* gemm_isa_name(GemmIsa isa);
bool gemm_isa_supported(GemmIsa isa);
GemmIsa gemm_isa();
void set_gemm_isa(GemmIsa isa);  // gpt::Error if the CPU lacks it

// What happens to each finished block of C (all k-blocks summed) while it is in cache:
//   gelu:      out[i, j] = gelu(C[i, j])
//   gelu_grad: out[i, j] = gelu'(pre[i, j]) * C[i, j]
// out and pre have C's shape and row stride; out may be C itself (gelu_grad in place).
struct Epilogue {
  enum Kind { none, gelu, gelu_grad } kind = none;
  float* out = nullptr;
  const float* pre = nullptr;
};
// C(i,j) (= or +=, per accumulate) sum_k A(i,k) B(k,j) [+ bias(j)], with
// A(i,k) = A[i*ars + k*acs] and B(k,j) = B[k*brs + j*bcs]: the strides express all
// three transposes the model needs without copies beyond packing. OpenMP inside.
void sgemm(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs, size_t bcs,
           float* C, size_t ldc, bool accumulate, const float* bias, const Epilogue& ep = {});
// The bytes sgemm keeps its packed operands in for a product of N columns and depth K
// on `threads` threads: a panel of B for the team and a block of A for each thread, as
// allocated. The buffers grow to the largest product and stay (gpt train's memory
// estimate counts them).
size_t sgemm_workspace_bytes(int N, int K, int threads);
// y (OC) = W (OC,C) · x (C) + bias (bias may be nullptr): streams W once.
void matvec(float* y, const float* W, const float* x, const float* bias, int C, int OC);

// ---- bf16 (gemm_bf16.cpp): the products of --dtype bf16 ------------------------------
// The same product as sgemm, with A and B rounded to bf16 (bf16.h) as they are packed
// and every sum accumulated in fp32. Three kernels over one packed layout, chosen at
// first use (GPT_GEMM_BF16=amx|avx512bf16|generic overrides):
//   amx         Intel AMX tiles (TDPBF16PS), 32 x 32 blocks of C
//   avx512bf16  VDPBF16PS (AVX512-BF16: Zen 4/5, Cooper Lake and later Xeons)
//   generic     the rounded operands widened back to float and FMA'd (any CPU)
// Each gives the fp32 sum of the products of the rounded operands, up to fp32
// rounding; the three differ from each other there (order of the partial sums, and
// VDPBF16PS/AMX round each pair's sum), so they are not bit-identical. On operands
// whose products and partial sums are exactly representable, all three are exact.
enum class Bf16Isa { generic, avx512bf16, amx };
const char* bf16_isa_name(Bf16Isa isa);
bool bf16_isa_supported(Bf16Isa isa);  // amx: also asks the kernel for the tile state
Bf16Isa bf16_isa();
void set_bf16_isa(Bf16Isa isa);  // gpt::Error if the CPU lacks it
// Called inside a parallel region it runs on the calling thread alone (own buffers),
// so threads may run independent products at once.
void gemm_bf16(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs, size_t bcs,
               float* C, size_t ldc, bool accumulate, const float* bias, const Epilogue& ep = {});
// The same for gemm_bf16. (Called inside a parallel region, each thread keeps its own.)
size_t gemm_bf16_workspace_bytes(int N, int K, int threads);
// The current bf16 kernel's peak on all OpenMP threads (its instruction on registers
// only, for about `seconds`), GFLOP/s; 0 for the generic kernel (whose peak is the
// fp32 FMA peak).
double bf16_peak_gflops(double seconds = 0.05);
// y (OC) = W (OC,C) · x (C) + bias, with W in bf16 (half the bytes streamed of matvec)
// and x, the sums and y in fp32.
void matvec_bf16w(float* y, const uint16_t* W, const float* x, const float* bias, int C, int OC);

// Internals shared by gemm.cpp and gemm_bf16.cpp.
namespace gemm_detail {
struct Tiling {
  int mc, m_tiles, n_groups;
};
// Column group g of n_groups: slivers [first, end) of n_slivers.
inline int group_begin(int n_slivers, int g, int n_groups) { return int(int64_t(n_slivers) * g / n_groups); }
// Row blocks of mc rows (a multiple of MR in [mc_min, mc_max]) and column groups (about
// tasks_per_thread tasks per thread; each group packs its row block of A again).
Tiling choose_tiling(int M, int N, int MR, int NR, int threads, int mc_max, int mc_min, int tasks_per_thread);
// The epilogue on C's block [i0, i1) x [j0, j1), once that block is final. Both engines
// call it once per task over the task's whole block: per NR-column strip (rows of 128
// bytes at a large stride) it defeated the prefetchers and cost 2.3x a separate pass.
void apply_epilogue(const Epilogue& ep, const float* C, size_t ldc, int i0, int i1, int j0, int j1);
// The kernel to run: the one the environment variable `var` names (gpt::Error if it
// names none, or one this CPU lacks), else the first supported of `best_first`.
template <class Isa, size_t N>
Isa choose_isa(const char* var, const Isa (&best_first)[N], const char* (*name)(Isa), bool (*supported)(Isa)) {
  if (const char* e = std::getenv(var)) {
    std::string choices;
    for (Isa isa : best_first) {
      if (std::string(e) == name(isa)) {
        if (!supported(isa)) GPT_FAIL(var, "=", e, ": this CPU does not support it");
        return isa;
      }
      choices += std::string(choices.empty() ? "" : ", ") + name(isa);
    }
    GPT_FAIL(var, "='", e, "': choose one of ", choices, " (or unset it for the automatic choice)");
  }
  for (Isa isa : best_first)
    if (supported(isa)) return isa;
  return best_first[N - 1];
}
}  // namespace gemm_detail

}  // namespace gpt::cpu
