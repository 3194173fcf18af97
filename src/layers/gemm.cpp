// The float GEMM engine behind the matmul layer (matmul.cpp): packed, cache-blocked
// panels, register-blocked micro-kernels (AVX-512 / AVX2 intrinsics or portable vector
// extensions, chosen at run time), fused bias and GELU epilogues, and the matrix-vector
// product decoding uses. Knows nothing about layers or the model.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>


#include "check.h"
#include "layers.h"
#include "layers/fastmath.h"
#include "layers/gemm.h"
#include "layers/simd.h"

namespace gpt::cpu {

namespace gemm_detail {
// Row blocks sized so the threads finish together: mc (a multiple of MR, at most mc_max)
// is the one whose dynamic schedule (tasks handed out in order to whichever thread is
// free) has the shortest makespan, larger mc on ties. 120-row blocks would leave one of
// two threads idle a fifth of the time on a 384-row weight gradient (120+120 vs 120+24).
Tiling choose_tiling(int M, int N, int MR, int NR, int threads, int mc_max, int mc_min, int tasks_per_thread) {
  const int n_slivers = (N + NR - 1) / NR;
  Tiling best{mc_max, 0, 1};
  double best_span = 0;
  for (int mc = mc_max; mc >= std::min(mc_max, mc_min); mc -= MR) {
    const int m_tiles = (M + mc - 1) / mc;
    const int n_groups = std::min(n_slivers, (tasks_per_thread * threads + m_tiles - 1) / m_tiles);
    std::vector<double> busy(size_t(threads), 0.0);
    for (int t = 0; t < m_tiles * n_groups; t++) {
      const int tm = t / n_groups, g = t % n_groups;
      const int rows = std::min(mc, M - tm * mc);
      const int cols = group_begin(n_slivers, g + 1, n_groups) - group_begin(n_slivers, g, n_groups);
      *std::min_element(busy.begin(), busy.end()) += double(rows) * cols;
    }
    const double span = *std::max_element(busy.begin(), busy.end());
    if (best.m_tiles == 0 || span < best_span * 0.98) best = {mc, m_tiles, n_groups}, best_span = span;
  }
  return best;
}


void apply_epilogue(const Epilogue& ep, const float* C, size_t ldc, int i0, int i1, int j0, int j1) {
  for (int i = i0; i < i1; i++) {
    const size_t r = size_t(i) * ldc;
    const float* c = C + r;
    float* o = ep.out + r;
    if (ep.kind == Epilogue::gelu) {
#pragma omp simd
      for (int j = j0; j < j1; j++) o[j] = gelu_value(c[j]);
    } else {
      const float* x = ep.pre + r;
#pragma omp simd
      for (int j = j0; j < j1; j++) o[j] = gelu_grad(x[j]) * c[j];
    }
  }
}

}  // namespace gemm_detail
using namespace gemm_detail;

namespace {


// C(i,j) (= or +=) sum_k A(i,k) B(k,j) [+ bias(j)], with A(i,k) = A[i*ars + k*acs]
// and B(k,j) = B[k*brs + j*bcs]: the strides express all three transposes the
// model needs without copies beyond packing.
//
// Three micro-kernels over the same packed layout, chosen once at run time (cpuid):
//   avx512  MR x 32 tile, AVX-512F intrinsics (compiled with a target attribute, so
//           the binary runs on CPUs without AVX-512 when built for a generic -march)
//   avx2    MR x 16 tile, AVX2 + FMA intrinsics
//   generic MR x 32 tile in GCC vector extensions (whatever -march gives)
// GPT_GEMM=avx512|avx2|generic overrides the choice (tests and benchmarks use it).
constexpr int KC = 768;  // depth of one packed panel (768 beat 256-1536 on the GPT shapes here)
constexpr int MC = 120;  // rows per macro-tile (a multiple of every MR)
// The packs write 16-float vectors: rows of MR < 16 floats are stored as whole vectors
// in increasing order, each spilling into the next row's slots (rewritten by the next
// store); the last spill runs up to 16 floats past the sliver, into the next sliver
// (packed after it by the same thread) or the buffer's padding.
constexpr int kPackSpill = 16;


// The packed panel of B: whole slivers of NR columns, min(K, KC) deep. (It was KC deep
// whatever K was: for the logits of GPT-2's vocabulary, 154.5 MB on a model of width 64,
// of which 141.6 MB unused, and not in gpt train's memory estimate.)
size_t packed_b_floats(int N, int K, int NR) {
  return size_t((N + NR - 1) / NR) * size_t(NR) * size_t(std::min(KC, K));
}
constexpr size_t kPackedAFloats = size_t(MC) * KC + kPackSpill;  // one thread's block of A

struct PackBuffers {
  HostBuffer<float> b;                  // packed B for one k-block, shared by the team
  std::vector<HostBuffer<float>> a;     // per thread: one packed MC x KC block of A (stays in L2)
  void reserve(int threads, size_t nb) {
    if (b.size() < nb) b.resize(nb);
    if (int(a.size()) < threads) a.resize(size_t(threads));
    for (auto& buf : a)
      if (buf.size() < kPackedAFloats) buf.resize(kPackedAFloats);
  }
};
PackBuffers& pack_buffers() {
  static PackBuffers p;  // sgemm is called from one thread; its OpenMP team uses these
  return p;
}

// Packs rows [i0, i0+MR) x depth [p0, p0+kc) of A as dst[k*MR + ii], zero-padding rows >= M.
template <int MR>
inline void pack_a_sliver(float* dst, const float* A, size_t ars, size_t acs, int i0, int M, int p0, int kc) {
  static_assert(MR <= 16, "a packed row of A must fit one vector");
  const int rows = std::min(MR, M - i0);
  if (acs == 1) {
    int k0 = 0;
    if (rows == MR) {  // 16 steps of k at a time: MR rows (+ zero rows) transposed in registers
      for (; k0 + 16 <= kc; k0 += 16) {
        v16f r[16];
        for (int ii = 0; ii < 16; ii++) r[ii] = ii < MR ? load16(A + size_t(i0 + ii) * ars + p0 + k0) : v16f{};
        transpose16(r);
        for (int k = 0; k < 16; k++) store16(dst + (k0 + k) * MR, r[k]);
      }
    }
    for (int ii = 0; ii < rows; ii++) {
      const float* src = A + size_t(i0 + ii) * ars + p0;
      for (int k = k0; k < kc; k++) dst[k * MR + ii] = src[k];
    }
  } else if (ars == 1 && size_t(i0) + 16 <= acs) {  // MR consecutive floats per k (acs: the row length)
    for (int k = 0; k < kc; k++) store16(dst + k * MR, load16(A + size_t(p0 + k) * acs + size_t(i0)));
    if (rows == MR) return;
  } else {
    for (int k = 0; k < kc; k++) {
      const float* src = A + size_t(p0 + k) * acs + size_t(i0) * ars;
      for (int ii = 0; ii < rows; ii++) dst[k * MR + ii] = src[size_t(ii) * ars];
    }
  }
  for (int ii = rows; ii < MR; ii++)
    for (int k = 0; k < kc; k++) dst[k * MR + ii] = 0.0f;
}

// Packs columns [j0, j0+NR) x depth [p0, p0+kc) of B as dst[k*NR + jj], zero-padded.
template <int NR>
inline void pack_b_sliver(float* dst, const float* B, size_t brs, size_t bcs, int j0, int N, int p0, int kc) {
  static_assert(NR % 16 == 0, "a packed row of B is whole vectors");
  const int cols = std::min(NR, N - j0);
  if (bcs == 1 && cols == NR) {
    for (int k = 0; k < kc; k++)
      for (int v = 0; v < NR; v += 16) store16(dst + k * NR + v, load16(B + size_t(p0 + k) * brs + j0 + v));
  } else if (bcs == 1) {
    for (int k = 0; k < kc; k++) {
      const float* src = B + size_t(p0 + k) * brs + j0;
      for (int jj = 0; jj < cols; jj++) dst[k * NR + jj] = src[jj];
      for (int jj = cols; jj < NR; jj++) dst[k * NR + jj] = 0.0f;
    }
  } else {
    // Transposing pack (B(k,j) = W[j*bcs + k*brs]): 16 x 16 blocks transposed in
    // registers where W's rows are contiguous along k, else 8 rows at a time.
    int jj = 0, k0 = 0;
    if (brs == 1) {
      for (; jj + 16 <= cols; jj += 16) {
        const float* src = B + size_t(j0 + jj) * bcs + size_t(p0);
        for (k0 = 0; k0 + 16 <= kc; k0 += 16) transpose16(dst + size_t(k0) * NR + jj, NR, src + k0, bcs);
        for (int k = k0; k < kc; k++)
          for (int r = 0; r < 16; r++) dst[k * NR + jj + r] = src[size_t(r) * bcs + k];
      }
    }
    for (; jj + 8 <= cols; jj += 8) {
      const float* src[8];
      for (int r = 0; r < 8; r++) src[r] = B + size_t(j0 + jj + r) * bcs + size_t(p0) * brs;
      for (int k = 0; k < kc; k++)
        for (int r = 0; r < 8; r++) dst[k * NR + jj + r] = src[r][size_t(k) * brs];
    }
    for (; jj < cols; jj++) {
      const float* src = B + size_t(j0 + jj) * bcs + size_t(p0) * brs;
      for (int k = 0; k < kc; k++) dst[k * NR + jj] = src[size_t(k) * brs];
    }
    for (jj = cols; jj < NR; jj++)
      for (int k = 0; k < kc; k++) dst[k * NR + jj] = 0.0f;
  }
}

// ---- micro-kernels: one MR x NR tile over depth kc ---------------------------------
// overwrite: C = acc (+ bias), else C += acc. rows/cols < MR/NR at the edges.

struct GenericKernel {
  static constexpr int MR = 8, NR = 32;
  static constexpr const char* name = "generic";
  typedef float v16 __attribute__((vector_size(64)));
  typedef float v16u __attribute__((vector_size(64), aligned(4)));
  static void run(int kc, const float* __restrict a, const float* __restrict b, float* c, size_t ldc, int rows,
                  int cols, bool overwrite, const float* bias) {
    v16 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = v16{};
    for (int k = 0; k < kc; k++) {
      const v16 b0 = *reinterpret_cast<const v16*>(b + k * NR);
      const v16 b1 = *reinterpret_cast<const v16*>(b + k * NR + 16);
      const float* ak = a + k * MR;
#pragma GCC unroll 8
      for (int i = 0; i < MR; i++) {
        acc[i][0] += ak[i] * b0;
        acc[i][1] += ak[i] * b1;
      }
    }
    alignas(64) float tile[MR][NR];
    for (int i = 0; i < MR; i++) {
      *reinterpret_cast<v16*>(&tile[i][0]) = acc[i][0];
      *reinterpret_cast<v16*>(&tile[i][16]) = acc[i][1];
    }
    for (int i = 0; i < rows; i++) {
      float* row = c + size_t(i) * ldc;
      for (int j = 0; j < cols; j++) row[j] = overwrite ? tile[i][j] + (bias ? bias[j] : 0.0f) : row[j] + tile[i][j];
    }
  }
};

struct Avx512Kernel {
  // 12 x 32: 24 accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers;
  // per k: 2 loads + 12 broadcasts feed 24 FMAs.
  static constexpr int MR = 12, NR = 32;
  static constexpr const char* name = "avx512";
  __attribute__((target("avx512f,fma"))) static void run(int kc, const float* __restrict a,
                                                           const float* __restrict b, float* c, size_t ldc,
                                                           int rows, int cols, bool overwrite, const float* bias) {
    __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
      const __m512 b0 = _mm512_load_ps(b + k * NR), b1 = _mm512_load_ps(b + k * NR + 16);
      const float* ak = a + k * MR;
#pragma GCC unroll 12
      for (int i = 0; i < MR; i++) {
        const __m512 ai = _mm512_set1_ps(ak[i]);
        acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
        acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
      }
    }
    const __mmask16 m0 = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32 ? __mmask16(0xFFFF) : cols <= 16 ? __mmask16(0) : __mmask16((1u << (cols - 16)) - 1);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (overwrite && bias) {
      bias0 = _mm512_maskz_loadu_ps(m0, bias);
      bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      if (i >= rows) break;
      float* row = c + size_t(i) * ldc;
      if (overwrite) {
        _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(acc0[i], bias0));
        _mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(acc1[i], bias1));
      } else {
        _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(acc0[i], _mm512_maskz_loadu_ps(m0, row)));
        _mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(acc1[i], _mm512_maskz_loadu_ps(m1, row + 16)));
      }
    }
  }
};

struct Avx2Kernel {
  // 6 x 16: 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
  static constexpr int MR = 6, NR = 16;
  static constexpr const char* name = "avx2";
  __attribute__((target("avx2,fma"))) static void run(int kc, const float* __restrict a, const float* __restrict b,
                                                        float* c, size_t ldc, int rows, int cols, bool overwrite,
                                                        const float* bias) {
    __m256 acc0[MR], acc1[MR];
    for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
      const __m256 b0 = _mm256_load_ps(b + k * NR), b1 = _mm256_load_ps(b + k * NR + 8);
      const float* ak = a + k * MR;
#pragma GCC unroll 6
      for (int i = 0; i < MR; i++) {
        const __m256 ai = _mm256_broadcast_ss(ak + i);
        acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
        acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
      }
    }
    if (rows == MR && cols == NR) {
      __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
      if (overwrite && bias) bias0 = _mm256_loadu_ps(bias), bias1 = _mm256_loadu_ps(bias + 8);
      for (int i = 0; i < MR; i++) {
        float* row = c + size_t(i) * ldc;
        if (overwrite) {
          _mm256_storeu_ps(row, _mm256_add_ps(acc0[i], bias0));
          _mm256_storeu_ps(row + 8, _mm256_add_ps(acc1[i], bias1));
        } else {
          _mm256_storeu_ps(row, _mm256_add_ps(acc0[i], _mm256_loadu_ps(row)));
          _mm256_storeu_ps(row + 8, _mm256_add_ps(acc1[i], _mm256_loadu_ps(row + 8)));
        }
      }
      return;
    }
    alignas(32) float tile[MR][NR];
    for (int i = 0; i < MR; i++) _mm256_store_ps(&tile[i][0], acc0[i]), _mm256_store_ps(&tile[i][8], acc1[i]);
    for (int i = 0; i < rows; i++) {
      float* row = c + size_t(i) * ldc;
      for (int j = 0; j < cols; j++) row[j] = overwrite ? tile[i][j] + (bias ? bias[j] : 0.0f) : row[j] + tile[i][j];
    }
  }
};

template <class Kern>
void sgemm_with(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs, size_t bcs,
                float* C, size_t ldc, bool accumulate, const float* bias, const Epilogue& ep) {
  constexpr int MR = Kern::MR, NR = Kern::NR;
  static_assert(MC % MR == 0, "macro-tiles must hold whole micro-tiles");
  const int n_slivers = (N + NR - 1) / NR;
  const int threads = omp_get_max_threads();
  PackBuffers& pb = pack_buffers();
  pb.reserve(threads, packed_b_floats(N, K, NR));
  float* pbuf = pb.b.data();
  // A task is one mc-row block of C: its thread packs that block of A into its own
  // buffer (which stays in L2, packing overlaps the other thread's compute) and sweeps
  // every column. With few row blocks, tasks also split the columns into groups (about
  // 4 tasks per thread; the A block is then packed once per group).
  const Tiling tl = choose_tiling(M, N, MR, NR, threads, MC, 4 * MR, 4);
  const int mc = tl.mc, m_tiles = tl.m_tiles, n_groups = tl.n_groups;
  const int tasks = m_tiles * n_groups;
#pragma omp parallel
  {
    float* pa = pb.a[size_t(omp_get_thread_num())].data();
    for (int p0 = 0; p0 < K; p0 += KC) {
      const int kc = std::min(KC, K - p0);
      const bool overwrite = !accumulate && p0 == 0;
#pragma omp for schedule(static)
      for (int s = 0; s < n_slivers; s++) pack_b_sliver<NR>(pbuf + size_t(s) * NR * kc, B, brs, bcs, s * NR, N, p0, kc);
      // Each C element belongs to one task and sees the k-blocks in order: the result
      // does not depend on the thread count or the schedule.
#pragma omp for schedule(dynamic, 1)
      for (int t = 0; t < tasks; t++) {
        const int tm = t / n_groups, g = t % n_groups;  // column group g
        const int i_begin = tm * mc, i_end = std::min(M, i_begin + mc);
        for (int i0 = i_begin; i0 < i_end; i0 += MR)
          pack_a_sliver<MR>(pa + size_t(i0 - i_begin) / MR * MR * kc, A, ars, acs, i0, M, p0, kc);
        const int j_begin = group_begin(n_slivers, g, n_groups) * NR;
        const int j_end = std::min(N, group_begin(n_slivers, g + 1, n_groups) * NR);
        for (int j0 = j_begin; j0 < j_end; j0 += NR) {
          const float* bs = pbuf + size_t(j0 / NR) * NR * kc;
          for (int i0 = i_begin; i0 < i_end; i0 += MR) {
            Kern::run(kc, pa + size_t(i0 - i_begin) / MR * MR * kc, bs, C + size_t(i0) * ldc + j0, ldc,
                      std::min(MR, M - i0), std::min(NR, N - j0), overwrite, bias ? bias + j0 : nullptr);
          }
        }
        // The task's block of C is final: its epilogue, in whole rows (apply_epilogue).
        if (ep.kind != Epilogue::none && p0 + kc == K)
          apply_epilogue(ep, C, ldc, i_begin, i_end, j_begin, j_end);
      }
      // implicit barrier: the packed B is rewritten by the next k-block
    }
  }
}

GemmIsa& current_isa() {
  static GemmIsa isa = choose_isa("GPT_GEMM", {GemmIsa::avx512, GemmIsa::avx2, GemmIsa::generic}, gemm_isa_name,
                                   gemm_isa_supported);
  return isa;
}

}  // namespace

size_t sgemm_workspace_bytes(int N, int K, int threads) {
  constexpr int kWidestNR = 32;  // (the avx512 and generic kernels'; avx2's is 16)
  return host_alloc_bytes(packed_b_floats(N, K, kWidestNR) * sizeof(float)) +
         size_t(std::max(1, threads)) * host_alloc_bytes(kPackedAFloats * sizeof(float));
}

void sgemm(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs, size_t bcs,
           float* C, size_t ldc, bool accumulate, const float* bias, const Epilogue& ep) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // empty sum: C = bias (or unchanged when accumulating)
    if (!accumulate)
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[size_t(i) * ldc + j] = bias ? bias[j] : 0.0f;
    if (ep.kind != Epilogue::none) apply_epilogue(ep, C, ldc, 0, M, 0, N);
    return;
  }
  switch (current_isa()) {
    case GemmIsa::avx512:
      return sgemm_with<Avx512Kernel>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias, ep);
    case GemmIsa::avx2:
      return sgemm_with<Avx2Kernel>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias, ep);
    case GemmIsa::generic:
      return sgemm_with<GenericKernel>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias, ep);
  }
}

namespace {
// ---- matrix-vector products (decoding one token) -----------------------------------
// y[o] = W[o,:]·x + b[o]. Streams W once; 8 rows at a time give 8 independent FMA
// chains, each row is then reduced across its 16 lanes. Threads take contiguous row
// ranges (a multiple of 8 rows) so each streams its own part of W.
// (GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm256_undefined_pd.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f,fma"))) inline float hsum512(__m512 v) {
  const __m256 lo = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 0));
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}
#pragma GCC diagnostic pop

__attribute__((target("avx512f,fma"))) void matvec_rows_avx512(float* y, const float* W, const float* x,
                                                                 const float* bias, int C, int o0, int o1) {
  const int cfull = C & ~15;
  const __mmask16 tail = __mmask16((1u << (C - cfull)) - 1);
  int o = o0;
  for (; o + 8 <= o1; o += 8) {
    __m512 acc[8];
    for (int r = 0; r < 8; r++) acc[r] = _mm512_setzero_ps();
    const float* w = W + size_t(o) * C;
    for (int c = 0; c < cfull; c += 16) {
      const __m512 xv = _mm512_loadu_ps(x + c);
#pragma GCC unroll 8
      for (int r = 0; r < 8; r++) acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(w + size_t(r) * C + c), xv, acc[r]);
    }
    if (tail) {
      const __m512 xv = _mm512_maskz_loadu_ps(tail, x + cfull);
      for (int r = 0; r < 8; r++)
        acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w + size_t(r) * C + cfull), xv, acc[r]);
    }
    for (int r = 0; r < 8; r++) y[o + r] = hsum512(acc[r]) + (bias ? bias[o + r] : 0.0f);
  }
  for (; o < o1; o++) {
    __m512 acc = _mm512_setzero_ps();
    const float* w = W + size_t(o) * C;
    for (int c = 0; c < cfull; c += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(w + c), _mm512_loadu_ps(x + c), acc);
    if (tail) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w + cfull), _mm512_maskz_loadu_ps(tail, x + cfull), acc);
    y[o] = hsum512(acc) + (bias ? bias[o] : 0.0f);
  }
}

void matvec_rows_generic(float* y, const float* W, const float* x, const float* bias, int C, int o0, int o1) {
  for (int o = o0; o < o1; o++) {
    const float* w = W + size_t(o) * C;
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int c = 0; c < C; c++) acc += w[c] * x[c];
    y[o] = acc + (bias ? bias[o] : 0.0f);
  }
}

}  // namespace

void matvec(float* y, const float* W, const float* x, const float* bias, int C, int OC) {
  const bool avx512 = current_isa() == GemmIsa::avx512;
  // Small products are not worth waking the team for.
  const int threads = size_t(OC) * C < 32768 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int per = (OC / nt + 7) & ~7;
    const int o0 = std::min(OC, t * per), o1 = t == nt - 1 ? OC : std::min(OC, o0 + per);
    if (avx512) matvec_rows_avx512(y, W, x, bias, C, o0, o1);
    else matvec_rows_generic(y, W, x, bias, C, o0, o1);
  }
}


const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::avx512: return "avx512";
    case GemmIsa::avx2: return "avx2";
    case GemmIsa::generic: return "generic";
  }
  return "?";
}

bool gemm_isa_supported(GemmIsa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case GemmIsa::avx512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    case GemmIsa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmIsa::generic: return true;
  }
  return false;
}

GemmIsa gemm_isa() { return current_isa(); }

void set_gemm_isa(GemmIsa isa) {
  if (!gemm_isa_supported(isa)) GPT_FAIL("GEMM kernel ", gemm_isa_name(isa), " is not supported by this CPU");
  current_isa() = isa;
}

}  // namespace gpt::cpu
