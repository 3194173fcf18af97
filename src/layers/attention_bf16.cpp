// Attention for --dtype bf16: per head, the score and mixing products as bf16 GEMMs
// (gemm_bf16: AMX where the CPU has it) over (T,T) score matrices held in a per-thread
// scratch, softmax and everything elementwise in fp32. One head per thread (each calls
// gemm_bf16 with a team of one). The products run over blocks of kRows queries (or
// keys), each as far as the causal mask lets it see: the blocks on the diagonal are
// computed whole and masked, the ones above it not at all.
// Same contract as attention_forward / attention_backward (layers.h): lse saved per
// row, the same dropout index ((b*NH + h)*T + t)*T + t2, dqkv written (=). The `gpt attention`
// path (att / scores wanted) and non-causal modes run the fp32 kernels.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "buffer.h"
#include "check.h"
#include "layers.h"
#include "layers/fastmath.h"
#include "layers/gemm.h"
#include "rng.h"

namespace gpt::cpu {

namespace {
// Per-thread (T,T) scratch matrices.
float* scratch(int which, size_t n) {
  thread_local HostBuffer<float> buf[2];
  if (buf[which].size() < n) buf[which].resize(n);
  return buf[which].data();
}

// body(i) for i in [0, n) over the threads, one at a time each (schedule dynamic, 1).
// A bad_alloc in a body (the (T, T) scratch, gemm_bf16's packing buffers) is thrown again
// after the loop: one escaping a parallel region ends the process (std::terminate), and
// a long --context aborted instead of reaching the out-of-memory message.
template <class F>
void for_each_head(int n, const F& body) {
  bool no_memory = false;
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n; i++) {
    try {
      body(i);
    } catch (const std::bad_alloc&) {
#pragma omp atomic write
      no_memory = true;
    }
  }
  if (no_memory) throw std::bad_alloc();
}

// Queries (keys) per block of the products: smaller blocks skip more of the masked
// triangle but make more, smaller products; 64 was slower than whole matrices up to
// T = 256, 128 equal there and 18% faster at T = 1024 (one thread, fwd + bwd).
constexpr int kRows = 128;

// Row t of the causal softmax of scale * s: p[t2] = exp(scale s[t2] - lse) for t2 <= t
// (n = t + 1), 0 after up to `width`; returns lse (when `given` is null; else uses *given).
inline float softmax_row(float* p, const float* s, int n, int width, float scale, const float* given) {
  float lse;
  if (given) {
    lse = *given;
  } else {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)  // (a scalar max chain was 40% of the forward)
    for (int j = 0; j < n; j++) m = std::max(m, scale * s[j]);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) sum += fast_expf(scale * s[j] - m);
    lse = m + std::log(sum);
  }
#pragma omp simd
  for (int j = 0; j < n; j++) p[j] = fast_expf(scale * s[j] - lse);
  for (int j = n; j < width; j++) p[j] = 0.0f;
  return lse;
}
}  // namespace

void attention_forward_bf16(float* out, float* lse, const float* qkv, Dims d, Dropout drop, AttentionMode mode,
                            float* att, float* scores) {
  if (att || scores || !mode.causal) return attention_forward<float>(out, lse, qkv, d, drop, mode, att, scores);
  const int B = d.B, T = d.T, C = d.C, NH = d.NH, hs = d.hs();
  GPT_CHECK(B > 0 && T > 0 && NH > 0 && C % NH == 0, "attention dims");
  const size_t C3 = 3 * size_t(C), TT = size_t(T) * T;
  const float scale = mode.scaled ? 1.0f / std::sqrt(float(hs)) : 1.0f;
  for_each_head(B * NH, [&](int bh) {
    const int b = bh / NH, h = bh % NH;
    const float* q = qkv + size_t(b) * T * C3 + size_t(h) * hs;
    const float *k = q + C, *v = q + 2 * size_t(C);
    float* s = scratch(0, TT);
    float* p = scratch(1, TT);
    for (int i0 = 0; i0 < T; i0 += kRows) {  // queries [i0, i1) see keys [0, i1)
      const int i1 = std::min(T, i0 + kRows), R = i1 - i0;
      // s (R, i1) = q k^T: A = q rows (stride C3), B(e, t2) = k[t2*C3 + e]
      gemm_bf16(R, i1, hs, q + size_t(i0) * C3, C3, 1, k, 1, C3, s + size_t(i0) * T, size_t(T), false, nullptr);
      for (int t = i0; t < i1; t++) {
        float* pt = p + size_t(t) * T;
        lse[size_t(bh) * T + t] = softmax_row(pt, s + size_t(t) * T, t + 1, i1, scale, nullptr);
        if (drop.active()) {
          float* m = s + size_t(t) * T;  // this row of s is used up
          dropout_scales(m, (size_t(bh) * T + t) * T, size_t(t) + 1, drop);
#pragma omp simd
          for (int j = 0; j <= t; j++) pt[j] *= m[j];
        }
      }
      // out (R, hs) = p v: B(t2, e) = v[t2*C3 + e]; rows of out C apart
      gemm_bf16(R, hs, i1, p + size_t(i0) * T, size_t(T), 1, v, C3, 1,
                out + (size_t(b) * T + i0) * C + size_t(h) * hs, size_t(C), false, nullptr);
    }
  });
}

void attention_backward_bf16(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                             Dims d, Dropout drop, AttentionMode mode) {
  if (!mode.causal) return attention_backward<float>(dqkv, dout, qkv, out, lse, d, drop, mode);
  const int B = d.B, T = d.T, C = d.C, NH = d.NH, hs = d.hs();
  const size_t C3 = 3 * size_t(C), TT = size_t(T) * T;
  const float scale = mode.scaled ? 1.0f / std::sqrt(float(hs)) : 1.0f;
  for_each_head(B * NH, [&](int bh) {
    const int b = bh / NH, h = bh % NH;
    const size_t hoff = size_t(h) * hs;
    const float* q = qkv + size_t(b) * T * C3 + hoff;
    const float *k = q + C, *v = q + 2 * size_t(C);
    float* dq = dqkv + size_t(b) * T * C3 + hoff;
    float *dk = dq + C, *dv = dq + 2 * size_t(C);
    const float* dO = dout + size_t(b) * T * C + hoff;
    const float* O = out + size_t(b) * T * C + hoff;
    float* s = scratch(0, TT);  // scores, then dS
    float* p = scratch(1, TT);  // weights after dropout
    thread_local std::vector<float> mrow;
    if (mrow.size() < size_t(T)) mrow.resize(size_t(T));
    for (int i0 = 0; i0 < T; i0 += kRows) {  // queries [i0, i1) see keys [0, i1)
      const int i1 = std::min(T, i0 + kRows), R = i1 - i0;
      float* sb = s + size_t(i0) * T;
      gemm_bf16(R, i1, hs, q + size_t(i0) * C3, C3, 1, k, 1, C3, sb, size_t(T), false, nullptr);
      for (int t = i0; t < i1; t++)
        softmax_row(p + size_t(t) * T, s + size_t(t) * T, t + 1, i1, scale, lse + size_t(bh) * T + t);
      // dw (R, i1) = dout v^T into s: B(e, t2) = v[t2*C3 + e]
      gemm_bf16(R, i1, hs, dO + size_t(i0) * C, size_t(C), 1, v, 1, C3, sb, size_t(T), false, nullptr);
      for (int t = i0; t < i1; t++) {
        float* pt = p + size_t(t) * T;
        float* st = s + size_t(t) * T;
        // D = sum_t2 w dw = dout . out (out = sum_t2 w v)
        float D = 0;
        for (int e = 0; e < hs; e++) D += dO[size_t(t) * C + e] * O[size_t(t) * C + e];
        if (drop.active()) {
          float* m = mrow.data();
          dropout_scales(m, (size_t(bh) * T + t) * T, size_t(t) + 1, drop);
#pragma omp simd
          for (int j = 0; j <= t; j++) {
            const float datt = st[j] * m[j];        // through w = att * m
            st[j] = pt[j] * (datt - D) * scale;     // dpre, times scale for the q.k product
            pt[j] *= m[j];                          // w, for dv
          }
        } else {  // the same without the mask (a mask test inside the loop kept it scalar)
#pragma omp simd
          for (int j = 0; j <= t; j++) st[j] = pt[j] * (st[j] - D) * scale;
        }
        for (int j = t + 1; j < i1; j++) st[j] = 0.0f;
      }
      // dq (t, e) = sum_t2 dpre[t, t2] k[t2, e]
      gemm_bf16(R, hs, i1, sb, size_t(T), 1, k, C3, 1, dq + size_t(i0) * C3, C3, false, nullptr);
    }
    // Keys [j0, j1) get weight from queries [j0, T) only. Over the same blocks, rows from
    // j0 on hold w and dpre for every column of [j0, j1) (zeros past the diagonal).
    for (int j0 = 0; j0 < T; j0 += kRows) {
      const int j1 = std::min(T, j0 + kRows), R = j1 - j0, K = T - j0;
      const size_t at = size_t(j0) * T + j0;
      // dv (t2, e) = sum_t w[t, t2] dout[t, e]: A(t2, t) = p[t*T + t2]
      gemm_bf16(R, hs, K, p + at, 1, size_t(T), dO + size_t(j0) * C, size_t(C), 1, dv + size_t(j0) * C3, C3, false,
                nullptr);
      // dk (t2, e) = sum_t dpre[t, t2] q[t, e]
      gemm_bf16(R, hs, K, s + at, 1, size_t(T), q + size_t(j0) * C3, C3, 1, dk + size_t(j0) * C3, C3, false, nullptr);
    }
  });
}

}  // namespace gpt::cpu
