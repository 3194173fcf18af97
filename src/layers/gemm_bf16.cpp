// The bf16 GEMM engine behind --dtype bf16 (declared in gemm.h): operands rounded to
// bf16 while they are packed, fp32 accumulation, and three kernels over one packed
// layout (AMX tiles, AVX512-BF16 dot products, portable widening FMAs). Same blocking
// and task split as the fp32 engine (gemm.cpp), whose tiling and epilogues it shares.
//
// Packed layout (uint32_t units, each holding a bf16 pair: the even k in the low half,
// the odd k in the high half, as VDPBF16PS and AMX's TDPBF16PS both read them); depth
// padded with zeros to a multiple of KG = 32:
//   A sliver (MR = 32 rows):    a[(g * MR + i) * 16 + p]   row i, pair p of group g
//                               (so 16 rows of a group are one 16 x 64-byte AMX tile)
//   B sliver (NR = 32 columns): b[kp * NR + j]             pair kp, column j
//                               (16 pairs x 16 columns at stride NR * 4 bytes: a tile)
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bf16.h"
#include "buffer.h"
#include "check.h"
#include "layers/gemm.h"
#include "layers/simd.h"

namespace gpt::cpu {

using namespace gemm_detail;

namespace {

constexpr int MR = 32, NR = 32;  // rows of A / columns of B per packed sliver
constexpr int KG = 32;           // depth of one group (k is padded to a multiple)
constexpr int KCB = 768;         // depth of one packed panel (a multiple of KG)
constexpr int MCB = 128;         // rows per macro-tile (a multiple of MR)
constexpr int kSliver = MR * KCB / 2;  // uint32 pairs in one packed sliver of full depth

typedef uint32_t v16u __attribute__((vector_size(64)));
typedef uint32_t v16uu __attribute__((vector_size(64), aligned(4)));
typedef uint16_t v16h __attribute__((vector_size(32), aligned(2)));

inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// 16 floats -> the bits of their nearest bf16s in the upper halves (bf16.h's rule).
inline v16u round16(v16f x) {
  v16u u;
  std::memcpy(&u, &x, sizeof u);
  const v16u nan = (v16u)((u & 0x7FFFFFFFu) > 0x7F800000u);
  return bf16_round_bits(u, nan);
}
inline void store16h(uint16_t* dst, v16u upper) { *reinterpret_cast<v16h*>(dst) = __builtin_convertvector(upper >> 16, v16h); }
inline v16u load16u(const uint32_t* p) { return *reinterpret_cast<const v16uu*>(p); }
inline void store16u(uint32_t* p, v16u v) { *reinterpret_cast<v16uu*>(p) = v; }
inline v16f as_float(v16u u) {
  v16f f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline v16u as_bits(v16f f) {
  v16u u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// ---- packing ---------------------------------------------------------------------
// Rows [i0, i0+MR) x depth [p0, p0+kc) of A, rounded, zero-padded to MR rows and to
// a multiple of KG in depth.
void pack_a(uint32_t* dst32, const float* A, size_t ars, size_t acs, int i0, int M, int p0, int kc) {
  uint16_t* dst = reinterpret_cast<uint16_t*>(dst32);
  const int kcp = round_up(kc, KG), groups = kcp / KG, rows = std::min(MR, M - i0);
  auto at = [&](int g, int i) { return dst + (size_t(g) * MR + i) * KG; };  // KG bf16 of row i, group g
  if (acs == 1) {  // rows contiguous along k
    for (int i = 0; i < MR; i++) {
      const float* src = A + size_t(i0 + i) * ars + p0;
      for (int g = 0; g < groups; g++) {
        uint16_t* d = at(g, i);
        const int k0 = g * KG, n = std::min(KG, kc - k0);
        if (i >= rows) {
          std::memset(d, 0, KG * sizeof(uint16_t));
        } else if (n == KG) {
          store16h(d, round16(load16(src + k0)));
          store16h(d + 16, round16(load16(src + k0 + 16)));
        } else {
          for (int kk = 0; kk < KG; kk++) d[kk] = kk < n ? float_to_bf16(src[k0 + kk]) : 0;
        }
      }
    }
    return;
  }
  // Zero first (padding rows and depth) unless the transposing path below fills it all.
  const bool fills_all = ars == 1 && rows == MR && kc % KG == 0;
  if (!fills_all) std::memset(dst, 0, size_t(groups) * MR * KG * sizeof(uint16_t));
  int k0 = 0;
  if (ars == 1 && rows == MR) {  // A(i,k) = A[k*acs + i]: 16 x 16 blocks transposed in registers
    for (; k0 + 16 <= kc; k0 += 16) {
      for (int ib = 0; ib < MR; ib += 16) {
        v16f r[16];
        for (int k = 0; k < 16; k++) r[k] = load16(A + size_t(p0 + k0 + k) * acs + size_t(i0 + ib));
        transpose16(r);  // r[i]: row ib+i, depth k0..k0+16
        for (int i = 0; i < 16; i++) store16h(at(k0 / KG, ib + i) + k0 % KG, round16(r[i]));
      }
    }
  }
  for (int k = k0; k < kc; k++)
    for (int i = 0; i < rows; i++)
      at(k / KG, i)[k % KG] = float_to_bf16(A[size_t(p0 + k) * acs + size_t(i0 + i) * ars]);
}

// Columns [j0, j0+NR) x depth [p0, p0+kc) of B as bf16 pairs, zero-padded.
void pack_b(uint32_t* dst, const float* B, size_t brs, size_t bcs, int j0, int N, int p0, int kc) {
  const int kcp = round_up(kc, KG), cols = std::min(NR, N - j0);
  const int full_pairs = kc / 2;  // pairs with both k inside
  int kp0 = 0;
  if (bcs == 1 && cols == NR) {  // rows of B contiguous along j
    for (; kp0 < full_pairs; kp0++) {
      const float* even = B + size_t(p0 + 2 * kp0) * brs + j0;
      const float* odd = even + brs;
      for (int v = 0; v < NR; v += 16)
        store16u(dst + size_t(kp0) * NR + v, (round16(load16(even + v)) >> 16) | round16(load16(odd + v)));
    }
  } else if (brs == 1 && cols == NR) {  // B(k,j) = B[j*bcs + k]: columns contiguous along k
    static const v16u kEven = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    static const v16u kOdd = kEven + 1u;
    for (; kp0 + 16 <= full_pairs; kp0 += 16) {  // 32 k x 16 columns at a time
      for (int jb = 0; jb < NR; jb += 16) {
        v16f r[16];
        for (int j = 0; j < 16; j++) {
          const float* src = B + size_t(j0 + jb + j) * bcs + size_t(p0 + 2 * kp0);
          const v16u lo = round16(load16(src)), hi = round16(load16(src + 16));
          r[j] = as_float((__builtin_shuffle(lo, hi, kEven) >> 16) | __builtin_shuffle(lo, hi, kOdd));
        }
        transpose16(r);  // r[p]: pair kp0+p of columns jb..jb+16
        for (int p = 0; p < 16; p++) store16u(dst + size_t(kp0 + p) * NR + jb, as_bits(r[p]));
      }
    }
  }
  for (int kp = kp0; kp < kcp / 2; kp++)
    for (int j = 0; j < NR; j++) {
      const int k = 2 * kp;
      auto val = [&](int kk) -> uint32_t {
        return j < cols && kk < kc ? float_to_bf16(B[size_t(p0 + kk) * brs + size_t(j0 + j) * bcs]) : 0;
      };
      dst[size_t(kp) * NR + j] = val(k) | val(k + 1) << 16;
    }
}

// ---- kernels: one MR x NR block of products over depth kcp into tile[MR * NR] -------
// (rows: how many of the MR rows are real; the dot-product kernels skip the rest)

struct GenericBf16 {
  static constexpr const char* name = "generic";
  static void begin() {}
  static void end() {}
  static bool block(int, const uint32_t*, const uint32_t*, float*, size_t, int, int, bool, const float*) { return false; }
  static void run(int kcp, const uint32_t* a, const uint32_t* b, float* tile, int rows) {
    for (int r0 = 0; r0 < rows; r0 += 8) {
      v16f acc[8][2];
      for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = v16f{};
      for (int kp = 0; kp < kcp / 2; kp++) {
        const v16u b0 = load16u(b + size_t(kp) * NR), b1 = load16u(b + size_t(kp) * NR + 16);
        const v16f b0l = as_float(b0 << 16), b0h = as_float(b0 & 0xFFFF0000u);
        const v16f b1l = as_float(b1 << 16), b1h = as_float(b1 & 0xFFFF0000u);
        const uint32_t* ak = a + (size_t(kp / 16) * MR + r0) * 16 + kp % 16;
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
          const float al = bits_float(ak[i * 16] << 16), ah = bits_float(ak[i * 16] & 0xFFFF0000u);
          acc[i][0] += al * b0l;
          acc[i][0] += ah * b0h;
          acc[i][1] += al * b1l;
          acc[i][1] += ah * b1h;
        }
      }
      for (int i = 0; i < 8; i++) {
        store16(tile + (r0 + i) * NR, acc[i][0]);
        store16(tile + (r0 + i) * NR + 16, acc[i][1]);
      }
    }
  }
};

struct Avx512Bf16 {
  static constexpr const char* name = "avx512bf16";
  static void begin() {}
  static void end() {}
  static bool block(int, const uint32_t*, const uint32_t*, float*, size_t, int, int, bool, const float*) { return false; }
  __attribute__((target("avx512f,avx512bf16"))) static void run(int kcp, const uint32_t* a, const uint32_t* b,
                                                                  float* tile, int rows) {
    for (int r0 = 0; r0 < rows; r0 += 8) {
      __m512 acc0[8], acc1[8];
      for (int i = 0; i < 8; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
      for (int kp = 0; kp < kcp / 2; kp++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + size_t(kp) * NR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + size_t(kp) * NR + 16);
        const uint32_t* ak = a + (size_t(kp / 16) * MR + r0) * 16 + kp % 16;
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
          const __m512bh ai = (__m512bh)_mm512_set1_epi32(int(ak[i * 16]));
          acc0[i] = _mm512_dpbf16_ps(acc0[i], ai, b0);
          acc1[i] = _mm512_dpbf16_ps(acc1[i], ai, b1);
        }
      }
      for (int i = 0; i < 8; i++) {
        _mm512_storeu_ps(tile + (r0 + i) * NR, acc0[i]);
        _mm512_storeu_ps(tile + (r0 + i) * NR + 16, acc1[i]);
      }
    }
  }
};

// AMX: tiles 0-3 hold the four 16 x 16 quarters of C, 4-5 the two 16-row halves of the
// A sliver (16 rows x 32 k), 6-7 the two 16-column halves of the B sliver (16 pairs).
struct alignas(64) TileConfig {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
struct AmxBf16 {
  static constexpr const char* name = "amx";
  // The configuration lives in static memory, built at compile time: GCC 12 built for
  // -march=x86-64-v3 dropped the stores of a stack copy as dead (it wrote 16 of the
  // 64 bytes), and LDTILECFG then faulted on the rows left unset.
  static constexpr TileConfig kConfig = {1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};
  __attribute__((target("amx-tile"))) static void begin() { _tile_loadconfig(&kConfig); }
  __attribute__((target("amx-tile"))) static void end() { _tile_release(); }
  // A whole 32 x 32 block of C accumulated in the tiles and stored into C directly
  // (C's rows at stride ldc): started from C (accumulate), from the bias (a row read
  // 16 times: stride 0) or from zero. Edge blocks return false (run + combine).
  __attribute__((target("amx-tile,amx-bf16"))) static bool block(int kcp, const uint32_t* a, const uint32_t* b,
                                                                   float* c, size_t ldc, int rows, int cols,
                                                                   bool overwrite, const float* bias) {
    if (rows != MR || cols != NR) return false;
    const size_t stride = ldc * sizeof(float);
    if (!overwrite) {
      _tile_loadd(0, c, stride);
      _tile_loadd(1, c + 16, stride);
      _tile_loadd(2, c + 16 * ldc, stride);
      _tile_loadd(3, c + 16 * ldc + 16, stride);
    } else if (bias) {
      _tile_loadd(0, bias, 0);
      _tile_loadd(1, bias + 16, 0);
      _tile_loadd(2, bias, 0);
      _tile_loadd(3, bias + 16, 0);
    } else {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
    }
    products(kcp, a, b);
    _tile_stored(0, c, stride);
    _tile_stored(1, c + 16, stride);
    _tile_stored(2, c + 16 * ldc, stride);
    _tile_stored(3, c + 16 * ldc + 16, stride);
    return true;
  }
  __attribute__((target("amx-tile,amx-bf16"))) static void run(int kcp, const uint32_t* a, const uint32_t* b,
                                                                 float* tile, int /*rows*/) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    products(kcp, a, b);
    _tile_stored(0, tile, NR * 4);
    _tile_stored(1, tile + 16, NR * 4);
    _tile_stored(2, tile + 16 * NR, NR * 4);
    _tile_stored(3, tile + 16 * NR + 16, NR * 4);
  }
  // tiles 0-3 += the sliver products over depth kcp
  __attribute__((target("amx-tile,amx-bf16"))) static inline void products(int kcp, const uint32_t* a,
                                                                             const uint32_t* b) {
    for (int g = 0; g < kcp / KG; g++) {
      const uint32_t* ag = a + size_t(g) * MR * 16;
      const uint32_t* bg = b + size_t(g) * 16 * NR;
      _tile_loadd(4, ag, 64);
      _tile_loadd(5, ag + 16 * 16, 64);
      _tile_loadd(6, bg, NR * 4);
      _tile_loadd(7, bg + 16, NR * 4);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
};

// C block (rows x cols of the tile) = tile (+ bias), or += tile.
inline void combine(const float* tile, float* c, size_t ldc, int rows, int cols, bool overwrite, const float* bias) {
  for (int i = 0; i < rows; i++) {
    float* row = c + size_t(i) * ldc;
    const float* t = tile + i * NR;
    if (!overwrite) {
#pragma omp simd
      for (int j = 0; j < cols; j++) row[j] += t[j];
    } else if (bias) {
#pragma omp simd
      for (int j = 0; j < cols; j++) row[j] = t[j] + bias[j];
    } else {
#pragma omp simd
      for (int j = 0; j < cols; j++) row[j] = t[j];
    }
  }
}

// The packed panel of B: whole slivers of NR columns, min(K, KCB) deep rounded up to KG
// (it was KCB deep whatever K was).
size_t packed_b_words(int N, int K) {
  return size_t((N + NR - 1) / NR) * (size_t(NR) * size_t(round_up(std::min(KCB, K), KG)) / 2);
}
constexpr size_t kPackedAWords = size_t(MCB / MR) * kSliver;  // one thread's block of A

struct Bf16Buffers {
  HostBuffer<uint32_t> b;               // packed B for one k-block, shared by the team
  std::vector<HostBuffer<uint32_t>> a;  // per thread: one packed MCB x KCB block of A
  void reserve(int threads, size_t nb) {
    if (b.size() < nb) b.resize(nb);
    if (int(a.size()) < threads) a.resize(size_t(threads));
    for (auto& buf : a)
      if (buf.size() < kPackedAWords) buf.resize(kPackedAWords);
  }
};
// The team's buffers: called from outside a parallel region, the process's; called
// inside one (attention_bf16.cpp runs one head per thread, each calling gemm_bf16 with
// a team of one), the calling thread's own.
Bf16Buffers& bf16_buffers() {
  static Bf16Buffers p;
  thread_local Bf16Buffers mine;
  return omp_in_parallel() ? mine : p;
}

template <class Kern>
void gemm_with(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs, size_t bcs,
               float* C, size_t ldc, bool accumulate, const float* bias, const Epilogue& ep) {
  const int n_slivers = (N + NR - 1) / NR;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  Bf16Buffers& pb = bf16_buffers();
  pb.reserve(threads, packed_b_words(N, K));
  uint32_t* pbuf = pb.b.data();
  // Packing A (rounding, and transposing for the weight gradients) costs more next to
  // AMX's products than next to fp32 FMAs: one column group per row block where the
  // row blocks alone can share the work out (blocks down to 64 rows), not 4 tasks a thread.
  const Tiling tl = choose_tiling(M, N, MR, NR, threads, MCB, 2 * MR, 1);
  const int mc = tl.mc, n_groups = tl.n_groups, tasks = tl.m_tiles * tl.n_groups;
#pragma omp parallel num_threads(threads)
  {
    Kern::begin();
    uint32_t* pa = pb.a[size_t(omp_get_thread_num())].data();
    alignas(64) float tile[MR * NR];
    for (int p0 = 0; p0 < K; p0 += KCB) {
      const int kc = std::min(KCB, K - p0), kcp = round_up(kc, KG);
      const size_t sliver = size_t(MR) * kcp / 2;
      const bool overwrite = !accumulate && p0 == 0;
#pragma omp for schedule(static)
      for (int s = 0; s < n_slivers; s++) pack_b(pbuf + s * sliver, B, brs, bcs, s * NR, N, p0, kc);
      // As in the fp32 engine: each C element belongs to one task and sees the k-blocks
      // in order, so results do not depend on the thread count or the schedule.
#pragma omp for schedule(dynamic, 1)
      for (int t = 0; t < tasks; t++) {
        const int tm = t / n_groups, g = t % n_groups;
        const int i_begin = tm * mc, i_end = std::min(M, i_begin + mc);
        for (int i0 = i_begin; i0 < i_end; i0 += MR) pack_a(pa + (i0 - i_begin) / MR * sliver, A, ars, acs, i0, M, p0, kc);
        const int j_begin = group_begin(n_slivers, g, n_groups) * NR;
        const int j_end = std::min(N, group_begin(n_slivers, g + 1, n_groups) * NR);
        for (int j0 = j_begin; j0 < j_end; j0 += NR) {
          const uint32_t* bs = pbuf + (j0 / NR) * sliver;
          for (int i0 = i_begin; i0 < i_end; i0 += MR) {
            const int rows = std::min(MR, M - i0), cols = std::min(NR, N - j0);
            float* c = C + size_t(i0) * ldc + j0;
            const float* bj = bias ? bias + j0 : nullptr;
            if (!Kern::block(kcp, pa + (i0 - i_begin) / MR * sliver, bs, c, ldc, rows, cols, overwrite, bj)) {
              Kern::run(kcp, pa + (i0 - i_begin) / MR * sliver, bs, tile, rows);
              combine(tile, c, ldc, rows, cols, overwrite, bj);
            }
          }
        }
        // The task's block of C is final: its epilogue, in whole rows (apply_epilogue).
        if (ep.kind != Epilogue::none && p0 + kc == K)
          apply_epilogue(ep, C, ldc, i_begin, i_end, j_begin, j_end);
      }
    }
    Kern::end();
  }
}

bool cpuid_bit(unsigned leaf, unsigned sub, int reg, int bit) {
  unsigned r[4];
  if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3])) return false;
  return (r[reg] >> bit) & 1u;
}

// Linux hands out the AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM
// for XFEATURE_XTILEDATA); a kernel or hypervisor that refuses means no AMX.
bool amx_usable() {
  static const bool ok = [] {
    if (!cpuid_bit(7, 0, 3, 24) || !cpuid_bit(7, 0, 3, 22)) return false;  // EDX: AMX-TILE, AMX-BF16
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
}

Bf16Isa& current() {
  static Bf16Isa isa = choose_isa("GPT_GEMM_BF16", {Bf16Isa::amx, Bf16Isa::avx512bf16, Bf16Isa::generic},
                                   bf16_isa_name, bf16_isa_supported);
  return isa;
}

}  // namespace

const char* bf16_isa_name(Bf16Isa isa) {
  switch (isa) {
    case Bf16Isa::amx: return "amx";
    case Bf16Isa::avx512bf16: return "avx512bf16";
    case Bf16Isa::generic: return "generic";
  }
  return "?";
}

bool bf16_isa_supported(Bf16Isa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case Bf16Isa::amx: return amx_usable();
    case Bf16Isa::avx512bf16: return __builtin_cpu_supports("avx512f") && cpuid_bit(7, 1, 0, 5);  // EAX bit 5
    case Bf16Isa::generic: return true;
  }
  return false;
}

Bf16Isa bf16_isa() { return current(); }

void set_bf16_isa(Bf16Isa isa) {
  if (!bf16_isa_supported(isa)) GPT_FAIL("bf16 GEMM kernel ", bf16_isa_name(isa), " is not supported by this CPU");
  current() = isa;
}

namespace {
float g_peak_sink;  // keeps the peak loops' results alive

// Instructions of the current kernel on registers only, every thread: AMX 4 independent
// TDPBF16PS on tiles (16 x 16 x 32 multiply-adds each); AVX512-BF16 12 independent
// VDPBF16PS chains (16 lanes x 2 products each). Returns GFLOP/s, or 0 for the generic
// kernel (its peak is the fp32 FMA peak).
__attribute__((target("amx-tile,amx-bf16"))) double amx_run(long iters) {
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
  {
    AmxBf16::begin();
    alignas(64) uint16_t ones[16 * 32];
    for (auto& x : ones) x = 0x3F80;  // 1.0
    alignas(64) float out[16 * 16];
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ones, 64);
    _tile_loadd(5, ones, 64);
    _tile_loadd(6, ones, 64);
    _tile_loadd(7, ones, 64);
    for (long it = 0; it < iters; it++) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, 64);
    AmxBf16::end();
#pragma omp critical
    g_peak_sink += out[0];
  }
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 4.0 * 2 * 16 * 16 * 32 * double(iters) * omp_get_max_threads() / t / 1e9;
}
__attribute__((target("avx512f,avx512bf16"))) double dpbf16_run(long iters) {
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
  {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps(float(i));
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3F80), b = (__m512bh)_mm512_set1_epi16(0x3800);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    for (int i = 1; i < 12; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc[0]);
#pragma omp critical
    g_peak_sink += lanes[0];
  }
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 4.0 * 16 * 12 * double(iters) * omp_get_max_threads() / t / 1e9;
}
}  // namespace

double bf16_peak_gflops(double seconds) {
  const Bf16Isa isa = current();
  if (isa == Bf16Isa::generic) return 0.0;
  long iters = 1000;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    const double g = isa == Bf16Isa::amx ? amx_run(iters) : dpbf16_run(iters);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (t >= seconds || iters > (1L << 40)) return g;
    iters = long(double(iters) * (t > 0 ? std::max(2.0, std::min(16.0, 1.2 * seconds / t)) : 16.0));
  }
}

size_t gemm_bf16_workspace_bytes(int N, int K, int threads) {
  return host_alloc_bytes(packed_b_words(N, K) * sizeof(uint32_t)) +
         size_t(std::max(1, threads)) * host_alloc_bytes(kPackedAWords * sizeof(uint32_t));
}

void gemm_bf16(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs, size_t bcs,
               float* C, size_t ldc, bool accumulate, const float* bias, const Epilogue& ep) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return sgemm(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias, ep);  // the empty sum
  switch (current()) {
    case Bf16Isa::amx: return gemm_with<AmxBf16>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias, ep);
    case Bf16Isa::avx512bf16:
      return gemm_with<Avx512Bf16>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias, ep);
    case Bf16Isa::generic:
      return gemm_with<GenericBf16>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias, ep);
  }
}

namespace {
// Rows [o0, o1) of y = W x + b with W in bf16: 8 rows at a time (8 FMA chains), each
// 16 weights widened to floats by a shift.
// (GCC 12's _mm512_reduce_add_ps trips -Wmaybe-uninitialized on its own undefined vector.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// 16 bf16 weights widened to floats (a shift into the upper halves); tail: masked.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 wload(const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 wload_tail(__mmask16 tail, const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(tail, p)), 16));
}
__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) void matvec_bf16w_avx512(
    float* y, const uint16_t* W, const float* x, const float* bias, int C, int o0, int o1) {
  const int cfull = C & ~15;
  const __mmask16 tail = __mmask16((1u << (C - cfull)) - 1);
  for (int o = o0; o < o1; o += 8) {
    const int nr = std::min(8, o1 - o);
    __m512 acc[8];
    for (int r = 0; r < 8; r++) acc[r] = _mm512_setzero_ps();
    const uint16_t* w = W + size_t(o) * C;
    for (int c = 0; c < cfull; c += 16) {
      const __m512 xv = _mm512_loadu_ps(x + c);
      for (int r = 0; r < nr; r++) acc[r] = _mm512_fmadd_ps(wload(w + size_t(r) * C + c), xv, acc[r]);
    }
    if (tail) {
      const __m512 xv = _mm512_maskz_loadu_ps(tail, x + cfull);
      for (int r = 0; r < nr; r++) acc[r] = _mm512_fmadd_ps(wload_tail(tail, w + size_t(r) * C + cfull), xv, acc[r]);
    }
    for (int r = 0; r < nr; r++) y[o + r] = _mm512_reduce_add_ps(acc[r]) + (bias ? bias[o + r] : 0.0f);
  }
}
#pragma GCC diagnostic pop

void matvec_bf16w_generic(float* y, const uint16_t* W, const float* x, const float* bias, int C, int o0, int o1) {
  for (int o = o0; o < o1; o++) {
    const uint16_t* w = W + size_t(o) * C;
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int c = 0; c < C; c++) acc += bf16_to_float(w[c]) * x[c];
    y[o] = acc + (bias ? bias[o] : 0.0f);
  }
}
}  // namespace

void matvec_bf16w(float* y, const uint16_t* W, const float* x, const float* bias, int C, int OC) {
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512vl");
  const bool fast = avx512 && gemm_isa() == GemmIsa::avx512;
  const int threads = size_t(OC) * C < 65536 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int per = (OC / nt + 7) & ~7;
    const int o0 = std::min(OC, t * per), o1 = t == nt - 1 ? OC : std::min(OC, o0 + per);
    if (fast) matvec_bf16w_avx512(y, W, x, bias, C, o0, o1);
    else matvec_bf16w_generic(y, W, x, bias, C, o0, o1);
  }
}

}  // namespace gpt::cpu
