// Causal multi-head self-attention. The model's path is flash-style: forward keeps
// only each row's log-sum-exp, never the (B,NH,T,T) weights; backward recomputes
// them tile by tile. The row-by-row reference (materialises the weights) is kept for
// the tests, and its attend_row also serves single-query decode against a KV cache.
// Not fused with the qkv/proj matmuls.
// The mask and the 1/sqrt(hs) scaling can be switched off (AttentionMode) so that
// `gpt attention` shows this very code at work in double precision.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "check.h"
#include "layers.h"
#include "layers/fastmath.h"
#include "layers/simd.h"
#include "rng.h"

namespace gpt::cpu {

namespace {

void check_dims(Dims d) {
  GPT_CHECK(d.B > 0 && d.T > 0 && d.NH > 0 && d.C > 0 && d.C % d.NH == 0, "B ", d.B, ", T ", d.T,
            ", C ", d.C, ", NH ", d.NH, ": C must be a positive multiple of NH");
}

// One query against n keys/values (rows kv_stride apart): att_row[0..n) receives the
// softmax weights, out (hs) the dropout-weighted mix of v, scores_row[0..n) (when
// non-null) the pre-softmax scores. Shared by forward and decode and kept out of
// line, so both produce bit-identical rows.
template <class S>
__attribute__((noinline)) void attend_row(S* out, S* att_row, S* scores_row, const S* q, const S* k,
                                          const S* v, size_t kv_stride, int n, int hs, S scale,
                                          const Dropout& drop, size_t drop_base) {
  S maxv = -INFINITY;
  for (int t2 = 0; t2 < n; t2++) {
    const S* kt = k + size_t(t2) * kv_stride;
    S dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int i = 0; i < hs; i++) dot += q[i] * kt[i];
    dot *= scale;  // (1) pre-softmax score
    att_row[t2] = dot;
    if (dot > maxv) maxv = dot;
  }
  if (scores_row)
    for (int t2 = 0; t2 < n; t2++) scores_row[t2] = att_row[t2];
  const S sum = exp_shifted_sum(att_row, att_row, n, maxv);
  const S inv = S(1) / sum;
  for (int t2 = 0; t2 < n; t2++) att_row[t2] *= inv;  // (2) softmax
  for (int i = 0; i < hs; i++) out[i] = 0;
  const bool dropping = drop.active();
  for (int t2 = 0; t2 < n; t2++) {
    S w = att_row[t2];
    if (dropping) w *= S(drop.scale(drop_base + t2));  // (3) dropout on the weights
    if (w == S(0)) continue;
    const S* vt = v + size_t(t2) * kv_stride;
#pragma omp simd
    for (int i = 0; i < hs; i++) out[i] += w * vt[i];  // (4) mix values
  }
}

// ---- flash-style attention (the model's path) -------------------------------------
// Queries in blocks of kBQ rows against keys in blocks of kBK: the scores of one block
// pair live in a kBQ x kBK tile (never the whole (T,T) row set), the softmax runs
// online (running max m and sum l per query row, output rescaled when m grows), and
// backward recomputes the tile from q, k and the saved log-sum-exp lse = m + log l.
constexpr int kBQ = 16;
constexpr int kBK = 32;

// Per-thread scratch for one block pair: s, p (kBQ, kBK).
template <class S>
struct FlashScratch {
  std::vector<S> s, p;
  FlashScratch() : s(kBQ * kBK), p(kBQ * kBK) {}
};

// Keys (and values) of every head transposed once per call, (B*NH, hs, Tp) with Tp =
// T rounded up to kBK and zero padding: the score tiles read kBK consecutive keys of
// one dimension as a vector. (Transposing per tile instead cost as much as the tile's
// products: each key is reused by only kBQ queries per tile.)
inline int padded_len(int T) { return (T + kBK - 1) / kBK * kBK; }

template <class S>
HostBuffer<S>& transpose_scratch() {
  static HostBuffer<S> buf;  // grow-only; attention runs on one calling thread at a time
  return buf;
}

// dst[(bh*hs + e)*Tp + t] = src row t of head h in batch b, element e (src: the k or v
// third of qkv, rows C3 apart).
template <class S>
void transpose_heads(S* dst, const S* src, Dims d) {
  const int B = d.B, T = d.T, C = d.C, NH = d.NH, hs = d.hs(), Tp = padded_len(T);
  const size_t C3 = 3 * size_t(C);
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const S* s = src + size_t(b) * T * C3 + size_t(h) * hs;
    S* dh = dst + size_t(bh) * hs * Tp;
    constexpr int TB = 16;  // a block of rows: reads whole cache lines, writes TB-long runs
    for (int t0 = 0; t0 < T; t0 += TB) {
      const int nt = std::min(TB, T - t0);
      int e0 = 0;
      if constexpr (std::is_same_v<S, float>)
        if (nt == TB)
          for (; e0 + 16 <= hs; e0 += 16) transpose16(dh + size_t(e0) * Tp + t0, size_t(Tp), s + size_t(t0) * C3 + e0, C3);
      for (int e = e0; e < hs; e++) {
        S* row = dh + size_t(e) * Tp + t0;
        for (int t = 0; t < nt; t++) row[t] = s[size_t(t0 + t) * C3 + e];
      }
    }
    for (int e = 0; e < hs; e++)
      for (int t = T; t < Tp; t++) dh[size_t(e) * Tp + t] = S(0);
  }
}

// ---- tile products -----------------------------------------------------------------
// The two shapes flash attention is made of, written so that the accumulators stay in
// registers, rows of a compile-time width in 16-float vectors.
//   tile_dot:   s[i, j] = a[i] . bt[:, j]      (i < n rows of a, j < kBK; bt rows bts apart)
//   rows_axpy:  out[r] += sum_k coef(r, k) src[k]   (rows of hs values)

// R rows of s at once: 2R accumulators, per dimension 2 loads of bt and R broadcasts.
template <int R>
__attribute__((noinline)) void tile_dot_rows(float* s, const float* a, size_t a_stride, const float* bt, size_t bts, int hs) {
  v16f acc[R][2] = {};
  const float* ar[R];
  for (int r = 0; r < R; r++) ar[r] = a + size_t(r) * a_stride;
  for (int d = 0; d < hs; d++) {
    const v16f b0 = load16(bt + size_t(d) * bts);
    const v16f b1 = load16(bt + size_t(d) * bts + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      acc[r][0] += ar[r][d] * b0;
      acc[r][1] += ar[r][d] * b1;
    }
  }
  for (int r = 0; r < R; r++) {
    store16(s + size_t(r) * kBK, acc[r][0]);
    store16(s + size_t(r) * kBK + 16, acc[r][1]);
  }
}

template <class S>
inline void tile_dot(S* s, const S* a, size_t a_stride, int n, const S* bt, size_t bts, int hs) {
  if constexpr (std::is_same_v<S, float> && kBK == 32) {
    int i = 0;
    for (; i + 8 <= n; i += 8) tile_dot_rows<8>(s + size_t(i) * kBK, a + size_t(i) * a_stride, a_stride, bt, bts, hs);
    for (; i + 4 <= n; i += 4) tile_dot_rows<4>(s + size_t(i) * kBK, a + size_t(i) * a_stride, a_stride, bt, bts, hs);
    for (; i < n; i++) tile_dot_rows<1>(s + size_t(i) * kBK, a + size_t(i) * a_stride, a_stride, bt, bts, hs);
  } else {
    for (int i = 0; i < n; i++) {
      S acc[kBK] = {};
      const S* ai = a + size_t(i) * a_stride;
      for (int d = 0; d < hs; d++) {
        const S ad = ai[d];
        const S* bd = bt + size_t(d) * bts;
#pragma omp simd
        for (int j = 0; j < kBK; j++) acc[j] += ad * bd[j];
      }
      for (int j = 0; j < kBK; j++) s[size_t(i) * kBK + j] = acc[j];
    }
  }
}

template <int HS>
__attribute__((noinline)) void rows_axpy_f(float* out, size_t os, int nr, const float* coef, int crs, int ccs, const float* src,
                        size_t ss, int nk) {
  constexpr int NV = HS / 16;
  int r = 0;
  for (; r + 4 <= nr; r += 4) {
    v16f acc[4][NV];
    for (int i = 0; i < 4; i++)
      for (int v = 0; v < NV; v++) acc[i][v] = load16(out + size_t(r + i) * os + 16 * v);
    for (int k = 0; k < nk; k++) {
      v16f sv[NV];
      for (int v = 0; v < NV; v++) {
        sv[v] = load16(src + size_t(k) * ss + 16 * v);
#ifdef __AVX512F__  // a 64-byte vector fits one register only with AVX-512 (-march=x86-64-v3 has none)
        asm("" : "+v"(sv[v]));  // keep it in a register: GCC would reload it for every row
#endif
      }
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) {
        const float c = coef[size_t(r + i) * crs + size_t(k) * ccs];
        for (int v = 0; v < NV; v++) acc[i][v] += c * sv[v];
      }
    }
    for (int i = 0; i < 4; i++)
      for (int v = 0; v < NV; v++) store16(out + size_t(r + i) * os + 16 * v, acc[i][v]);
  }
  for (; r < nr; r++) {
    v16f acc[NV];
    for (int v = 0; v < NV; v++) acc[v] = load16(out + size_t(r) * os + 16 * v);
    for (int k = 0; k < nk; k++) {
      const float c = coef[size_t(r) * crs + size_t(k) * ccs];
      for (int v = 0; v < NV; v++) acc[v] += c * load16(src + size_t(k) * ss + 16 * v);
    }
    for (int v = 0; v < NV; v++) store16(out + size_t(r) * os + 16 * v, acc[v]);
  }
}

template <class S>
inline void rows_axpy(S* out, size_t os, int nr, const S* coef, int crs, int ccs, const S* src, size_t ss, int nk,
                      int hs) {
  if constexpr (std::is_same_v<S, float>) {
    switch (hs) {
      case 16: return rows_axpy_f<16>(out, os, nr, coef, crs, ccs, src, ss, nk);
      case 32: return rows_axpy_f<32>(out, os, nr, coef, crs, ccs, src, ss, nk);
      case 48: return rows_axpy_f<48>(out, os, nr, coef, crs, ccs, src, ss, nk);
      case 64: return rows_axpy_f<64>(out, os, nr, coef, crs, ccs, src, ss, nk);
      default: break;
    }
  }
  for (int r = 0; r < nr; r++) {
    S* o = out + size_t(r) * os;
    for (int k = 0; k < nk; k++) {
      const S c = coef[size_t(r) * crs + size_t(k) * ccs];
      const S* sk = src + size_t(k) * ss;
#pragma omp simd
      for (int e = 0; e < hs; e++) o[e] += c * sk[e];
    }
  }
}

// s[i, j] = scale * q[i0+i] . k[j0+j] for the tile (kt: the head's k transposed, rows
// kts apart); vis[i] = the
// number of keys row i may see (causal: key j0+j visible iff j0+j <= i0+i; the tile
// may end before kBK).
template <class S>
inline void score_tile(S* s, int* vis, const S* q, size_t stride, const S* kt, size_t kts, int i0, int nq, int j0,
                       int nk, int hs, S scale, bool causal) {
  tile_dot(s, q + size_t(i0) * stride, stride, nq, kt + j0, kts, hs);
  for (int i = 0; i < nq; i++) {
    S* si = s + size_t(i) * kBK;
#pragma omp simd
    for (int j = 0; j < kBK; j++) si[j] *= scale;  // (1) score
    vis[i] = causal ? std::min(nk, std::max(0, i0 + i - j0 + 1)) : nk;
  }
}

}  // namespace

// 1/sqrt(hs): keeps q.k at unit variance when q and k have unit-variance entries.
template <class S>
S score_scale(AttentionMode mode, int hs) {
  return mode.scaled ? S(1) / std::sqrt(S(hs)) : S(1);
}

template <class S>
void attention_forward_reference(S* out, S* att, const S* qkv, Dims d, Dropout drop, AttentionMode mode,
                                 S* scores) {
  // qkv (B,T,3C) = q | k | v; out (B,T,C); att, scores (B,NH,T,T)
  check_dims(d);
  const int B = d.B, T = d.T, C = d.C, NH = d.NH, hs = d.hs();
  const size_t C3 = 3 * size_t(C);
  const S scale = score_scale<S>(mode, hs);
  // Row t costs O(t): chunks of one iteration interleave the threads over t.
#pragma omp parallel for collapse(3) schedule(static, 1)
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      for (int h = 0; h < NH; h++) {
        const S* base = qkv + size_t(b) * T * C3;
        const S* q = base + size_t(t) * C3 + size_t(h) * hs;
        const size_t row = ((size_t(b) * NH + h) * T + t) * T;
        const int n = mode.causal ? t + 1 : T;  // keys this query sees
        S* att_row = att + row;
        S* scores_row = scores ? scores + row : nullptr;
        attend_row(out + (size_t(b) * T + t) * C + size_t(h) * hs, att_row, scores_row, q,
                   base + C + size_t(h) * hs, base + 2 * size_t(C) + size_t(h) * hs, C3, n, hs,
                   scale, drop, row);
        for (int t2 = n; t2 < T; t2++) {  // causal mask: score -inf, weight 0
          att_row[t2] = 0;
          if (scores_row) scores_row[t2] = -INFINITY;
        }
      }
    }
  }
}

template <class S>
void attention_backward_reference(S* dqkv, const S* dout, const S* qkv, const S* att, Dims d, Dropout drop,
                                  AttentionMode mode) {
  // dqkv, qkv (B,T,3C); dout (B,T,C); att (B,NH,T,T) from the forward. dqkv = (the head's
  // slices are cleared first, then summed into).
  check_dims(d);
  const int B = d.B, T = d.T, C = d.C, NH = d.NH, hs = d.hs();
  const size_t C3 = 3 * size_t(C);
  const S scale = score_scale<S>(mode, hs);
  const bool dropping = drop.active();
  // One (b,h) per iteration: every dk/dv row it touches belongs to that (b,h).
#pragma omp parallel
  {
    std::vector<S> datt(T);  // per thread: gradient of one row of weights
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
      const int b = bh / NH, h = bh % NH;
      const size_t hoff = size_t(h) * hs;
      const S* base = qkv + size_t(b) * T * C3;
      S* dbase = dqkv + size_t(b) * T * C3;
      const S* k = base + C + hoff;
      const S* v = base + 2 * size_t(C) + hoff;
      S* dk = dbase + C + hoff;
      S* dv = dbase + 2 * size_t(C) + hoff;
      for (int t = 0; t < T; t++)
        for (S* p : {dbase + size_t(t) * C3 + hoff, dk + size_t(t) * C3, dv + size_t(t) * C3})
          std::fill(p, p + hs, S(0));
      for (int t = 0; t < T; t++) {
        const int n = mode.causal ? t + 1 : T;  // keys query t saw (the rest have weight 0)
        const size_t row = (size_t(bh) * T + t) * T;
        const S* att_row = att + row;
        const S* q = base + size_t(t) * C3 + hoff;
        S* dq = dbase + size_t(t) * C3 + hoff;
        const S* dn = dout + (size_t(b) * T + t) * C + hoff;
        for (int t2 = 0; t2 < n; t2++) {
          const S s = dropping ? S(drop.scale(row + t2)) : S(1);
          const S w = att_row[t2] * s;
          const S* vt = v + size_t(t2) * C3;
          S* dvt = dv + size_t(t2) * C3;
          S dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int i = 0; i < hs; i++) {
            dot += dn[i] * vt[i];   // (4) out += w * v  =>  dw = dout . v
            dvt[i] += w * dn[i];    // (4)               =>  dv += w * dout
          }
          datt[t2] = dot * s;  // (3) w = att * s  =>  datt = dw * s
        }
        // (2) softmax: dpre[t2] = att[t2] * (datt[t2] - sum_j att[j] datt[j])
        S wsum = 0;
        for (int t2 = 0; t2 < n; t2++) wsum += att_row[t2] * datt[t2];
        for (int t2 = 0; t2 < n; t2++) {
          // (1) pre = scale * q . k  =>  dq += dpre*scale*k; dk += dpre*scale*q
          const S dpre = att_row[t2] * (datt[t2] - wsum) * scale;
          const S* kt = k + size_t(t2) * C3;
          S* dkt = dk + size_t(t2) * C3;
#pragma omp simd
          for (int i = 0; i < hs; i++) {
            dq[i] += dpre * kt[i];
            dkt[i] += dpre * q[i];
          }
        }
      }
    }
  }
}

// One query row's online-softmax step over a tile row si (kBK scores, the first n
// visible, n >= 1): raises the running max m, returns the factor that rescales what
// was summed under the old max, writes p = exp(s - m) (0 past n) and adds its sum to l.
template <class S>
inline S online_softmax_row(S* pi, const S* si, int n, S& m, S& l) {
  S mx = m;
#pragma omp simd reduction(max : mx)
  for (int j = 0; j < kBK; j++) mx = std::max(mx, j < n ? si[j] : S(-INFINITY));
  const S corr = m == S(-INFINITY) ? S(0) : exp_t(m - mx);
  S psum = 0;
#pragma omp simd reduction(+ : psum)
  for (int j = 0; j < kBK; j++) {
    const S e = j < n ? exp_t(si[j] - mx) : S(0);
    pi[j] = e;
    psum += e;
  }
  l = l * corr + psum;
  m = mx;
  return corr;
}

template <class S>
void attention_forward(S* out, S* lse, const S* qkv, Dims d, Dropout drop, AttentionMode mode, S* att, S* scores) {
  // qkv (B,T,3C) = q | k | v; out (B,T,C); lse (B,NH,T); att, scores (B,NH,T,T) optional
  check_dims(d);
  const int B = d.B, T = d.T, C = d.C, NH = d.NH, hs = d.hs(), Tp = padded_len(T);
  const size_t C3 = 3 * size_t(C);
  const S scale = score_scale<S>(mode, hs);
  const int nqb = (T + kBQ - 1) / kBQ;
  const bool dropping = drop.active();
  HostBuffer<S>& ktbuf = transpose_scratch<S>();
  if (ktbuf.size() < size_t(B) * NH * hs * Tp) ktbuf.resize(size_t(B) * NH * hs * Tp);
  transpose_heads(ktbuf.data(), qkv + C, d);
  // One (b, h, query block) per task, all on one thread: results do not depend on the
  // thread count. Later query blocks see more keys: dynamic scheduling evens that out.
#pragma omp parallel
  {
    FlashScratch<S> sc;
    float mk[kBQ * kBK];  // the tile's dropout scales, rows of nk (one Philox call per weight: 4x the time)
    std::vector<S> o(size_t(kBQ) * hs);
#pragma omp for schedule(dynamic, 1) collapse(2)
    for (int bh = 0; bh < B * NH; bh++) {
      for (int qb = 0; qb < nqb; qb++) {
        const int b = bh / NH, h = bh % NH;
        const size_t hoff = size_t(h) * hs;
        const S* base = qkv + size_t(b) * T * C3;
        const S *q = base + hoff, *v = base + 2 * size_t(C) + hoff;
        const S* kt = ktbuf.data() + size_t(bh) * hs * Tp;
        const int i0 = qb * kBQ, nq = std::min(kBQ, T - i0);
        const int kend = mode.causal ? i0 + nq : T;  // keys any row of this block sees
        S m[kBQ], l[kBQ];
        int vis[kBQ];
        for (int i = 0; i < kBQ; i++) m[i] = -INFINITY, l[i] = S(0);
        std::fill(o.begin(), o.end(), S(0));
        for (int j0 = 0; j0 < kend; j0 += kBK) {
          const int nk = std::min(kBK, kend - j0);
          score_tile(sc.s.data(), vis, q, C3, kt, size_t(Tp), i0, nq, j0, nk, hs, scale, mode.causal);
          if (dropping) dropout_scales_tile(mk, (size_t(bh) * T + size_t(i0)) * T + size_t(j0), size_t(T), nq, nk, drop);
          for (int i = 0; i < nq; i++) {
            const int n = vis[i];
            S* pi = sc.p.data() + size_t(i) * kBK;
            if (n == 0) {  // this row sees none of these keys
              std::fill(pi, pi + kBK, S(0));
              continue;
            }
            // (2) online softmax: rescale what was summed under the old max
            const S corr = online_softmax_row(pi, sc.s.data() + size_t(i) * kBK, n, m[i], l[i]);
            S* oi = o.data() + size_t(i) * hs;
#pragma omp simd
            for (int e = 0; e < hs; e++) oi[e] *= corr;
            if (dropping)  // (3) dropout on the weights
              for (int j = 0; j < n; j++) pi[j] *= S(mk[size_t(i) * nk + j]);
          }
          // (4) mix values: o[i] += sum_j w[i, j] v[j]
          rows_axpy(o.data(), size_t(hs), nq, sc.p.data(), kBK, 1, v + size_t(j0) * C3, C3, nk, hs);
        }
        for (int i = 0; i < nq; i++) {
          const S inv = S(1) / l[i];
          S* dst = out + (size_t(b) * T + i0 + i) * C + hoff;
          const S* oi = o.data() + size_t(i) * hs;
#pragma omp simd
          for (int e = 0; e < hs; e++) dst[e] = oi[e] * inv;  // (2) normalise
          lse[size_t(bh) * T + i0 + i] = m[i] + std::log(l[i]);
        }
        // Optional full rows for the calculator and attention maps: one more pass.
        if (att || scores) {
          for (int i = 0; i < nq; i++) {
            const size_t row = (size_t(bh) * T + i0 + i) * T;
            if (att) std::fill(att + row, att + row + T, S(0));
            if (scores) std::fill(scores + row, scores + row + T, S(-INFINITY));
          }
          for (int j0 = 0; j0 < kend; j0 += kBK) {
            const int nk = std::min(kBK, kend - j0);
            score_tile(sc.s.data(), vis, q, C3, kt, size_t(Tp), i0, nq, j0, nk, hs, scale, mode.causal);
            for (int i = 0; i < nq; i++) {
              const size_t row = (size_t(bh) * T + i0 + i) * T + size_t(j0);
              const S L = lse[size_t(bh) * T + i0 + i];
              for (int j = 0; j < vis[i]; j++) {
                const S sij = sc.s[size_t(i) * kBK + j];
                if (scores) scores[row + j] = sij;
                if (att) att[row + j] = exp_t(sij - L);
              }
            }
          }
        }
      }
    }
  }
}

template <class S>
void attention_backward(S* dqkv, const S* dout, const S* qkv, const S* out, const S* lse, Dims d, Dropout drop,
                        AttentionMode mode) {
  // dqkv, qkv (B,T,3C); dout, out (B,T,C); lse (B,NH,T) from the forward. dqkv =.
  check_dims(d);
  const int B = d.B, T = d.T, C = d.C, NH = d.NH, hs = d.hs(), Tp = padded_len(T);
  const size_t C3 = 3 * size_t(C);
  const S scale = score_scale<S>(mode, hs);
  const bool dropping = drop.active();
  const size_t head_t = size_t(hs) * Tp;  // one head's transposed keys (or values)
  HostBuffer<S>& tbuf = transpose_scratch<S>();
  if (tbuf.size() < 2 * size_t(B) * NH * head_t) tbuf.resize(2 * size_t(B) * NH * head_t);
  S* ktall = tbuf.data();
  S* vtall = tbuf.data() + size_t(B) * NH * head_t;
  transpose_heads(ktall, qkv + C, d);
  transpose_heads(vtall, qkv + 2 * size_t(C), d);
  // One (b,h) per task: every dq/dk/dv row it touches belongs to that (b,h).
#pragma omp parallel
  {
    FlashScratch<S> sc;
    float mk[kBQ * kBK];  // the tile's dropout scales, rows of nk (one Philox call per weight: 4x the time)
    std::vector<S> Dsum(T), dk_blk(size_t(kBK) * hs), dv_blk(size_t(kBK) * hs), ds(size_t(kBQ) * kBK),
        dw(size_t(kBQ) * kBK);
    std::vector<S> dq_head(size_t(T) * hs);  // this head's dq, contiguous, stored into dqkv at the end
    int vis[kBQ];
#pragma omp for schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
      const int b = bh / NH, h = bh % NH;
      const size_t hoff = size_t(h) * hs;
      const S* base = qkv + size_t(b) * T * C3;
      S* dbase = dqkv + size_t(b) * T * C3;
      const S *q = base + hoff, *k = base + C + hoff;
      const S* kt = ktall + size_t(bh) * head_t;
      const S* vt = vtall + size_t(bh) * head_t;
      S *dq = dbase + hoff, *dk = dbase + C + hoff, *dv = dbase + 2 * size_t(C) + hoff;
      const S* dO = dout + size_t(b) * T * C + hoff;
      const S* O = out + size_t(b) * T * C + hoff;
      // D[t] = sum_j att[t,j] dw[t,j] = dout[t] . out[t]  (softmax backward's row term)
      for (int t = 0; t < T; t++) {
        S acc = 0;
        const S *a = dO + size_t(t) * C, *o = O + size_t(t) * C;
#pragma omp simd reduction(+ : acc)
        for (int e = 0; e < hs; e++) acc += a[e] * o[e];
        Dsum[t] = acc;
      }
      std::fill(dq_head.begin(), dq_head.end(), S(0));
      for (int j0 = 0; j0 < T; j0 += kBK) {
        const int nk = std::min(kBK, T - j0);
        std::fill(dk_blk.begin(), dk_blk.end(), S(0));
        std::fill(dv_blk.begin(), dv_blk.end(), S(0));
        const int q_first = mode.causal ? j0 / kBQ * kBQ : 0;  // earlier queries see none of these keys
        for (int i0 = q_first; i0 < T; i0 += kBQ) {
          const int nq = std::min(kBQ, T - i0);
          score_tile(sc.s.data(), vis, q, C3, kt, size_t(Tp), i0, nq, j0, nk, hs, scale, mode.causal);
          // dw[i, j] = dout[i] . v[j]  (from (4)), as a tile product against v transposed
          tile_dot(dw.data(), dO + size_t(i0) * C, size_t(C), nq, vt + j0, size_t(Tp), hs);
          if (dropping) dropout_scales_tile(mk, (size_t(bh) * T + size_t(i0)) * T + size_t(j0), size_t(T), nq, nk, drop);
          for (int i = 0; i < nq; i++) {
            const int n = vis[i];
            const int t = i0 + i;
            const S L = lse[size_t(bh) * T + t], Dt = Dsum[t];
            const S* si = sc.s.data() + size_t(i) * kBK;
            const S* dwi = dw.data() + size_t(i) * kBK;
            S* pi = sc.p.data() + size_t(i) * kBK;
            S* dsi = ds.data() + size_t(i) * kBK;
            if (!dropping) {
#pragma omp simd
              for (int j = 0; j < kBK; j++) {
                const S p = j < n ? exp_t(si[j] - L) : S(0);  // (2) the weight, recomputed
                pi[j] = p;
                dsi[j] = p * (dwi[j] - Dt) * scale;  // (2),(1): d score * scale
              }
              continue;
            }
            const float* mi = mk + size_t(i) * nk;
#pragma omp simd
            for (int j = 0; j < n; j++) {
              const S p = exp_t(si[j] - L);
              const S sd = S(mi[j]);
              pi[j] = p * sd;                           // (3) weight after dropout
              dsi[j] = p * (dwi[j] * sd - Dt) * scale;  // (3),(2),(1)
            }
            for (int j = n; j < kBK; j++) pi[j] = dsi[j] = S(0);
          }
          // (4) dv[j] += sum_i w[i,j] dout[i];  (1) dk[j] += sum_i ds[i,j] q[i];  dq[i] += sum_j ds[i,j] k[j]
          rows_axpy(dv_blk.data(), size_t(hs), nk, sc.p.data(), 1, kBK, dO + size_t(i0) * C, size_t(C), nq, hs);
          rows_axpy(dk_blk.data(), size_t(hs), nk, ds.data(), 1, kBK, q + size_t(i0) * C3, C3, nq, hs);
          rows_axpy(dq_head.data() + size_t(i0) * hs, size_t(hs), nq, ds.data(), kBK, 1, k + size_t(j0) * C3, C3,
                    nk, hs);
        }
        for (int j = 0; j < nk; j++) {
          S* dkj = dk + size_t(j0 + j) * C3;
          S* dvj = dv + size_t(j0 + j) * C3;
          const S* a = dk_blk.data() + size_t(j) * hs;
          const S* c = dv_blk.data() + size_t(j) * hs;
#pragma omp simd
          for (int e = 0; e < hs; e++) dkj[e] = a[e], dvj[e] = c[e];
        }
      }
      for (int t = 0; t < T; t++) {
        S* dqt = dq + size_t(t) * C3;
        const S* a = dq_head.data() + size_t(t) * hs;
#pragma omp simd
        for (int e = 0; e < hs; e++) dqt[e] = a[e];
      }
    }
  }
}

template <class S>
void kv_cache_write(S* kcache, S* vcache, const S* qkv, Dims d, int maxT, int pos) {
  check_dims(d);
  GPT_CHECK(pos >= 0 && pos < maxT, "decode position ", pos, " outside the cache of ", maxT);
  const int hs = d.hs();
  const size_t C = size_t(d.C);
  for (int b = 0; b < d.B; b++)
    for (int h = 0; h < d.NH; h++) {
      const size_t dst = ((size_t(b) * d.NH + h) * maxT + pos) * hs;
      const S* src = qkv + size_t(b) * 3 * C + size_t(h) * hs;
      std::copy(src + C, src + C + hs, kcache + dst);
      std::copy(src + 2 * C, src + 2 * C + hs, vcache + dst);
    }
}

template <class S>
void attention_decode(S* out, S* att_row, const S* q, const S* kcache, const S* vcache, Dims d,
                      int maxT, int pos) {
  // q, out (B,C); kcache, vcache (B,NH,maxT,hs) filled for 0..pos; att_row (B,NH,pos+1) or nullptr
  check_dims(d);
  GPT_CHECK(pos >= 0 && pos < maxT, "decode position ", pos, " outside the cache of ", maxT);
  const int B = d.B, C = d.C, NH = d.NH, hs = d.hs();
  const int n = pos + 1;
  const S scale = score_scale<S>(AttentionMode{}, hs);
#pragma omp parallel if (size_t(B) * C * n >= kParallelMin)
  {
    std::vector<S> scratch(att_row ? 0 : n);
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
      const int b = bh / NH, h = bh % NH;
      const size_t hoff = size_t(h) * hs;
      const size_t cache = size_t(bh) * maxT * hs;
      S* row = att_row ? att_row + size_t(bh) * n : scratch.data();
      attend_row(out + size_t(b) * C + hoff, row, static_cast<S*>(nullptr), q + size_t(b) * C + hoff, kcache + cache,
                 vcache + cache, size_t(hs), n, hs, scale, Dropout{}, 0);
    }
  }
}

#define GPT_INSTANTIATE(S)                                                                          \
  template void attention_forward<S>(S*, S*, const S*, Dims, Dropout, AttentionMode, S*, S*);       \
  template void attention_backward<S>(S*, const S*, const S*, const S*, const S*, Dims, Dropout,    \
                                      AttentionMode);                                               \
  template void attention_forward_reference<S>(S*, S*, const S*, Dims, Dropout, AttentionMode, S*); \
  template void attention_backward_reference<S>(S*, const S*, const S*, const S*, Dims, Dropout,    \
                                                AttentionMode);                                     \
  template void kv_cache_write<S>(S*, S*, const S*, Dims, int, int);                               \
  template void attention_decode<S>(S*, S*, const S*, const S*, const S*, Dims, int, int);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
