// Causal multi-head self-attention: forward (stores only the softmax weights),
// backward (recomputes per (b,h) with one scratch row, no (B,NH,T,T) gradient), and
// single-query decode against a KV cache. Not fused with the qkv/proj matmuls.
// The mask and the 1/sqrt(hs) scaling can be switched off (AttentionMode) so that
// `gpt attention` shows this very code at work in double precision.
#include <cmath>
#include <cstddef>
#include <vector>

#include "check.h"
#include "layers.h"
#include "layers/fastmath.h"

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
template <class T>
__attribute__((noinline)) void attend_row(T* out, T* att_row, T* scores_row, const T* q, const T* k,
                                          const T* v, size_t kv_stride, int n, int hs, T scale,
                                          const Dropout& drop, size_t drop_base) {
  T maxv = -INFINITY;
  for (int t2 = 0; t2 < n; t2++) {
    const T* kt = k + size_t(t2) * kv_stride;
    T dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int i = 0; i < hs; i++) dot += q[i] * kt[i];
    dot *= scale;  // (1) pre-softmax score
    att_row[t2] = dot;
    if (dot > maxv) maxv = dot;
  }
  if (scores_row)
    for (int t2 = 0; t2 < n; t2++) scores_row[t2] = att_row[t2];
  const T sum = exp_shifted_sum(att_row, att_row, n, maxv);
  const T inv = T(1) / sum;
  for (int t2 = 0; t2 < n; t2++) att_row[t2] *= inv;  // (2) softmax
  for (int i = 0; i < hs; i++) out[i] = 0;
  const bool dropping = drop.active();
  for (int t2 = 0; t2 < n; t2++) {
    T w = att_row[t2];
    if (dropping) w *= T(drop.scale(drop_base + t2));  // (3) dropout on the weights
    if (w == T(0)) continue;
    const T* vt = v + size_t(t2) * kv_stride;
#pragma omp simd
    for (int i = 0; i < hs; i++) out[i] += w * vt[i];  // (4) mix values
  }
}

}  // namespace

// 1/sqrt(hs): keeps q.k at unit variance when q and k have unit-variance entries.
template <class T>
T score_scale(AttentionMode mode, int hs) {
  return mode.scaled ? T(1) / std::sqrt(T(hs)) : T(1);
}

template <class T>
void attention_forward(T* out, T* att, const T* qkv, Dims d, Dropout drop, AttentionMode mode, T* scores) {
  // qkv (B,T,3C) = q | k | v; out (B,T,C); att, scores (B,NH,T,T)
  check_dims(d);
  const int B = d.B, Tn = d.T, C = d.C, NH = d.NH, hs = d.hs();
  const size_t C3 = 3 * size_t(C);
  const T scale = score_scale<T>(mode, hs);
  // Row t costs O(t): chunks of one iteration interleave the threads over t.
#pragma omp parallel for collapse(3) schedule(static, 1)
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < Tn; t++) {
      for (int h = 0; h < NH; h++) {
        const T* base = qkv + size_t(b) * Tn * C3;
        const T* q = base + size_t(t) * C3 + size_t(h) * hs;
        const size_t row = ((size_t(b) * NH + h) * Tn + t) * Tn;
        const int n = mode.causal ? t + 1 : Tn;  // keys this query sees
        T* att_row = att + row;
        T* scores_row = scores ? scores + row : nullptr;
        attend_row(out + (size_t(b) * Tn + t) * C + size_t(h) * hs, att_row, scores_row, q,
                   base + C + size_t(h) * hs, base + 2 * size_t(C) + size_t(h) * hs, C3, n, hs,
                   scale, drop, row);
        for (int t2 = n; t2 < Tn; t2++) {  // causal mask: score -inf, weight 0
          att_row[t2] = 0;
          if (scores_row) scores_row[t2] = -INFINITY;
        }
      }
    }
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* att, Dims d, Dropout drop,
                        AttentionMode mode) {
  // dqkv, qkv (B,T,3C); dout (B,T,C); att (B,NH,T,T) from the forward. dqkv +=.
  check_dims(d);
  const int B = d.B, Tn = d.T, C = d.C, NH = d.NH, hs = d.hs();
  const size_t C3 = 3 * size_t(C);
  const T scale = score_scale<T>(mode, hs);
  const bool dropping = drop.active();
  // One (b,h) per iteration: every dk/dv row it touches belongs to that (b,h).
#pragma omp parallel
  {
    std::vector<T> datt(Tn);  // per thread: gradient of one row of weights
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
      const int b = bh / NH, h = bh % NH;
      const size_t hoff = size_t(h) * hs;
      const T* base = qkv + size_t(b) * Tn * C3;
      T* dbase = dqkv + size_t(b) * Tn * C3;
      const T* k = base + C + hoff;
      const T* v = base + 2 * size_t(C) + hoff;
      T* dk = dbase + C + hoff;
      T* dv = dbase + 2 * size_t(C) + hoff;
      for (int t = 0; t < Tn; t++) {
        const int n = mode.causal ? t + 1 : Tn;  // keys query t saw (the rest have weight 0)
        const size_t row = (size_t(bh) * Tn + t) * Tn;
        const T* att_row = att + row;
        const T* q = base + size_t(t) * C3 + hoff;
        T* dq = dbase + size_t(t) * C3 + hoff;
        const T* dn = dout + (size_t(b) * Tn + t) * C + hoff;
        for (int t2 = 0; t2 < n; t2++) {
          const T s = dropping ? T(drop.scale(row + t2)) : T(1);
          const T w = att_row[t2] * s;
          const T* vt = v + size_t(t2) * C3;
          T* dvt = dv + size_t(t2) * C3;
          T dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int i = 0; i < hs; i++) {
            dot += dn[i] * vt[i];   // (4) out += w * v  =>  dw = dout . v
            dvt[i] += w * dn[i];    // (4)               =>  dv += w * dout
          }
          datt[t2] = dot * s;  // (3) w = att * s  =>  datt = dw * s
        }
        // (2) softmax: dpre[t2] = att[t2] * (datt[t2] - sum_j att[j] datt[j])
        T wsum = 0;
        for (int t2 = 0; t2 < n; t2++) wsum += att_row[t2] * datt[t2];
        for (int t2 = 0; t2 < n; t2++) {
          // (1) pre = scale * q . k  =>  dq += dpre*scale*k; dk += dpre*scale*q
          const T dpre = att_row[t2] * (datt[t2] - wsum) * scale;
          const T* kt = k + size_t(t2) * C3;
          T* dkt = dk + size_t(t2) * C3;
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

template <class T>
void attention_decode(T* out, T* att_row, const T* q, const T* kcache, const T* vcache, Dims d,
                      int maxT, int pos) {
  // q, out (B,C); kcache, vcache (B,maxT,C) filled for 0..pos; att_row (B,NH,pos+1) or nullptr
  check_dims(d);
  GPT_CHECK(pos >= 0 && pos < maxT, "decode position ", pos, " outside the cache of ", maxT);
  const int B = d.B, C = d.C, NH = d.NH, hs = d.hs();
  const int n = pos + 1;
  const T scale = score_scale<T>(AttentionMode{}, hs);
#pragma omp parallel
  {
    std::vector<T> scratch(att_row ? 0 : n);
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
      const int b = bh / NH, h = bh % NH;
      const size_t hoff = size_t(h) * hs;
      const size_t cache = size_t(b) * maxT * C + hoff;
      T* row = att_row ? att_row + size_t(bh) * n : scratch.data();
      attend_row(out + size_t(b) * C + hoff, row, static_cast<T*>(nullptr), q + size_t(b) * C + hoff, kcache + cache,
                 vcache + cache, size_t(C), n, hs, scale, Dropout{}, 0);
    }
  }
}

#define GPT_INSTANTIATE(T)                                                                   \
  template void attention_forward<T>(T*, T*, const T*, Dims, Dropout, AttentionMode, T*);    \
  template void attention_backward<T>(T*, const T*, const T*, const T*, Dims, Dropout,       \
                                      AttentionMode);                                        \
  template void attention_decode<T>(T*, T*, const T*, const T*, const T*, Dims, int, int);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
