// Causal multi-head attention on the GPU (layers.h attention_*, kv_cache_write,
// attention_decode). The model runs the flash-style kernels further down (heads up to
// 64 wide); the row kernels here are their reference, and serve requests for the
// weight or score matrices and wider heads. Row kernels: one block per (batch, head, query) row: scores
// over the keys, the row's max and log-sum-exp, weights, output. The backward recomputes
// the weights from the saved log-sum-exp (as the CPU flash path does) in two passes, so
// that nothing is summed with atomics: per query row dq and dS (into a (B,NH,T,T)
// scratch), then per key row dk and dv, each summing over the queries in order.
// Dropout on the weights uses the CPU's mask indices ((b*NH + h)*T + t)*T + t2.
#include <cmath>

#include "bf16.h"
#include "common.cuh"

namespace gpt::gpu {
namespace {
constexpr int kRow = 128;  // threads per row block

struct Geo {
  int B, T, C, NH, hs;
  float scale;  // 1/sqrt(hs) or 1
  bool causal;
};
Geo geo(Dims d, AttentionMode mode) {
  return {d.B, d.T, d.C, d.NH, d.hs(), mode.scaled ? 1.0f / std::sqrt(float(d.hs())) : 1.0f, mode.causal};
}
__device__ inline const float* q_of(const float* qkv, const Geo& g, int b, int t, int h) {
  return qkv + (size_t(b) * g.T + t) * 3 * g.C + size_t(h) * g.hs;
}
// kBf16 (--dtype bf16): the operands of every product are rounded to bf16 (bf16.h's
// rule, as the CPU's attention_bf16), sums and softmax in fp32.
template <bool kBf16>
__device__ inline float op(float x) {
  return kBf16 ? bf16_rounded(x) : x;
}
template <bool kBf16>
__device__ inline float dot(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int i = 0; i < n; i++) s += op<kBf16>(a[i]) * op<kBf16>(b[i]);
  return s;
}

// Scores of row (b,h,t) into srow (T floats of shared memory); returns the row's
// max and log-sum-exp over the keys it sees (n of them).
template <bool kBf16>
__device__ float2 score_row(float* srow, const float* qkv, const Geo& g, int b, int h, int t, int n) {
  const float* q = q_of(qkv, g, b, t, h);
  float mx = -INFINITY;
  for (int t2 = threadIdx.x; t2 < n; t2 += blockDim.x) {
    const float s = dot<kBf16>(q, q_of(qkv, g, b, t2, h) + g.C, g.hs) * g.scale;
    srow[t2] = s;
    mx = fmaxf(mx, s);
  }
  mx = block_max(mx);
  float z = 0.0f;
  for (int t2 = threadIdx.x; t2 < n; t2 += blockDim.x) z += expf(srow[t2] - mx);
  z = block_sum(z);
  return make_float2(mx, mx + logf(z));
}

template <bool kBf16>
__global__ void attention_forward_kernel(float* out, float* lse, float* att, float* scores, const float* qkv, Geo g,
                                         Dropout drop) {
  extern __shared__ float srow[];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int n = g.causal ? t + 1 : g.T;
  const float2 ml = score_row<kBf16>(srow, qkv, g, b, h, t, n);
  const size_t row = ((size_t(b) * g.NH + h) * g.T + t);
  __syncthreads();
  for (int t2 = threadIdx.x; t2 < g.T; t2 += blockDim.x) {
    const float w = t2 < n ? expf(srow[t2] - ml.y) : 0.0f;
    if (att) att[row * g.T + t2] = w;
    if (scores) scores[row * g.T + t2] = t2 < n ? srow[t2] : -INFINITY;
    if (t2 < n) srow[t2] = drop.active() ? w * drop.scale(row * g.T + t2) : w;
  }
  __syncthreads();
  float* o = out + (size_t(b) * g.T + t) * g.C + size_t(h) * g.hs;
  for (int e = threadIdx.x; e < g.hs; e += blockDim.x) {
    float s = 0.0f;
    for (int t2 = 0; t2 < n; t2++) s += op<kBf16>(srow[t2]) * op<kBf16>(q_of(qkv, g, b, t2, h)[2 * g.C + e]);
    o[e] = s;
  }
  if (threadIdx.x == 0) lse[row] = ml.y;
}

// Per query row: ds[t2] = w * (dropmask * dout.v[t2] - D) * scale, D = dout.out; dq += sum ds k.
template <bool kBf16>
__global__ void attention_backward_rows(float* dqkv, float* ds_all, const float* dout, const float* qkv,
                                        const float* out, const float* lse, Geo g, Dropout drop) {
  extern __shared__ float ds[];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int n = g.causal ? t + 1 : g.T;
  const size_t row = ((size_t(b) * g.NH + h) * g.T + t);
  const float* q = q_of(qkv, g, b, t, h);
  const float* dor = dout + (size_t(b) * g.T + t) * g.C + size_t(h) * g.hs;
  const float* orow = out + (size_t(b) * g.T + t) * g.C + size_t(h) * g.hs;
  float part = 0.0f;
  for (int e = threadIdx.x; e < g.hs; e += blockDim.x) part += dor[e] * orow[e];
  const float D = block_sum(part);
  const float L = lse[row];
  for (int t2 = threadIdx.x; t2 < g.T; t2 += blockDim.x) {
    float v = 0.0f;
    if (t2 < n) {
      const float* k = q_of(qkv, g, b, t2, h) + g.C;
      const float w = expf(dot<kBf16>(q, k, g.hs) * g.scale - L);
      float dw = dot<kBf16>(dor, k + g.C, g.hs);
      if (drop.active()) dw *= drop.scale(row * g.T + t2);
      v = w * (dw - D) * g.scale;  // times scale for the q.k product, before bf16 rounds it (as the CPU)
    }
    ds[t2] = v;
    ds_all[row * g.T + t2] = v;
  }
  __syncthreads();
  float* dq = dqkv + (size_t(b) * g.T + t) * 3 * g.C + size_t(h) * g.hs;
  for (int e = threadIdx.x; e < g.hs; e += blockDim.x) {
    float s = 0.0f;
    for (int t2 = 0; t2 < n; t2++) s += op<kBf16>(ds[t2]) * op<kBf16>(q_of(qkv, g, b, t2, h)[g.C + e]);
    dq[e] += s;
  }
}

// Per key row t2: dk += sum_t ds[t, t2] q_t; dv += sum_t w[t, t2] mask dout_t.
template <bool kBf16>
__global__ void attention_backward_keys(float* dqkv, const float* ds_all, const float* dout, const float* qkv,
                                        const float* lse, Geo g, Dropout drop) {
  const int t2 = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const float* k = q_of(qkv, g, b, t2, h) + g.C;
  float* dk = dqkv + (size_t(b) * g.T + t2) * 3 * g.C + g.C + size_t(h) * g.hs;
  float* dv = dk + g.C;
  const int t_first = g.causal ? t2 : 0;
  for (int e = threadIdx.x; e < g.hs; e += blockDim.x) {
    float sk = 0.0f, sv = 0.0f;
    for (int t = t_first; t < g.T; t++) {
      const size_t row = ((size_t(b) * g.NH + h) * g.T + t);
      const float* q = q_of(qkv, g, b, t, h);
      sk += op<kBf16>(ds_all[row * g.T + t2]) * op<kBf16>(q[e]);
      float w = expf(dot<kBf16>(q, k, g.hs) * g.scale - lse[row]);
      if (drop.active()) w *= drop.scale(row * g.T + t2);
      sv += op<kBf16>(w) * op<kBf16>(dout[(size_t(b) * g.T + t) * g.C + size_t(h) * g.hs + e]);
    }
    dk[e] += sk;
    dv[e] += sv;
  }
}

__global__ void kv_cache_write_kernel(float* kc, float* vc, const float* qkv, int B, int C, int NH, int maxT,
                                      int pos) {
  const int hs = C / NH;
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;  // (b, c)
  if (i >= size_t(B) * C) return;
  const int b = int(i / size_t(C)), c = int(i % size_t(C)), h = c / hs, e = c % hs;
  const size_t at = ((size_t(b) * NH + h) * maxT + pos) * hs + e;
  kc[at] = qkv[size_t(b) * 3 * C + C + c];
  vc[at] = qkv[size_t(b) * 3 * C + 2 * C + c];
}

__global__ void attention_decode_kernel(float* out, float* att_row, const float* q, const float* kc, const float* vc,
                                        int C, int NH, int maxT, int pos) {
  extern __shared__ float srow[];
  const int h = blockIdx.x, b = blockIdx.y, hs = C / NH, n = pos + 1;
  const float* qh = q + size_t(b) * C + size_t(h) * hs;  // q (B,C): the q third of a (B,3C) row when B = 1
  const float* K = kc + (size_t(b) * NH + h) * maxT * hs;
  const float* V = vc + (size_t(b) * NH + h) * maxT * hs;
  const float scale = 1.0f / sqrtf(float(hs));
  float mx = -INFINITY;
  for (int t2 = threadIdx.x; t2 < n; t2 += blockDim.x) {
    srow[t2] = dot<false>(qh, K + size_t(t2) * hs, hs) * scale;
    mx = fmaxf(mx, srow[t2]);
  }
  mx = block_max(mx);
  float z = 0.0f;
  for (int t2 = threadIdx.x; t2 < n; t2 += blockDim.x) z += expf(srow[t2] - mx);
  z = block_sum(z);
  for (int t2 = threadIdx.x; t2 < n; t2 += blockDim.x) {
    srow[t2] = expf(srow[t2] - mx) / z;
    if (att_row) att_row[(size_t(b) * NH + h) * n + t2] = srow[t2];
  }
  __syncthreads();
  for (int e = threadIdx.x; e < hs; e += blockDim.x) {
    float s = 0.0f;
    for (int t2 = 0; t2 < n; t2++) s += srow[t2] * V[size_t(t2) * hs + e];
    out[size_t(b) * C + size_t(h) * hs + e] = s;
  }
}

// ---- flash-style kernels (the model's path; the row kernels above are their reference) ----
// Tiles of kTile query rows and kTile keys of one (batch, head) in shared memory, head
// size at most kMaxHs; 256 threads = 8 warps. In the (row, key) products warp w owns rows
// w, w+8, w+16, w+24 and lane c owns key c, so a row's max and sum are warp shuffles.
// Forward in two passes over the keys: the row's max and log-sum-exp, then the output
// from the normalised weights exp(s - lse) (the weights the CPU rounds under bf16, and
// no rescaling). Backward as FlashAttention-2, without atomics: one kernel per key tile
// (dk, dv: summing over the query tiles in order), one per query tile (dq), both
// recomputing the weights from lse; D = dout . out per row first. Every sum runs in a
// fixed order: deterministic.
constexpr int kTile = 32, kFlashThreads = 256, kMaxHs = 64, kPad = kMaxHs + 1;
constexpr int kPerThread = kTile * kMaxHs / kFlashThreads;  // (row, e) pairs of a tile per thread

struct FlashTiles {
  int q0, k0;  // first query row and first key of the tiles
};
// Is key t2 seen by query t (and both inside the sequence)?
__device__ inline bool visible(const Geo& g, int t, int t2) { return t < g.T && t2 < g.T && (!g.causal || t2 <= t); }
// Rows [t0, t0 + kTile) of a (B, T, ...) tensor's head slice (row stride `stride`,
// offset `off` into the row) into sh[row][e], rounded under bf16; zeros past T.
template <bool kBf16>
__device__ void load_tile(float (*sh)[kPad], const float* base, size_t stride, const Geo& g, int b, int t0) {
  for (int i = threadIdx.x; i < kTile * g.hs; i += blockDim.x) {
    const int r = i / g.hs, e = i % g.hs, t = t0 + r;
    sh[r][e] = t < g.T ? op<kBf16>(base[(size_t(b) * g.T + t) * stride + e]) : 0.0f;
  }
}
__device__ inline float tile_dot(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int e = 0; e < n; e++) s += a[e] * b[e];
  return s;
}
// acc[n] += sum over c of a[r][c] b[c][e] for this thread's (r, e) pairs of the tile, c in
// order: the output (weights x v) and dq (dS x k) products.
__device__ inline void tile_product_add(float* acc, const float (*a)[kTile + 1], const float (*b)[kPad], int hs) {
  for (int i = threadIdx.x, n = 0; i < kTile * hs; i += blockDim.x, n++) {
    const int r = i / hs, e = i % hs;
    float x = acc[n];
    for (int c = 0; c < kTile; c++) x += a[r][c] * b[c][e];
    acc[n] = x;
  }
}
// The query side of the backward for rows [q0, q0 + kTile): q and dout tiles, each row's
// log-sum-exp and D = dout . out (zeros past T).
template <bool kBf16>
__device__ void load_query_side(float (*sQ)[kPad], float (*sdO)[kPad], float* sL, float* sD, const float* qkv,
                                const float* dout, const float* lse, const float* D, const Geo& g, int b,
                                size_t hoff, size_t row0, int q0) {
  load_tile<kBf16>(sQ, qkv + hoff, 3 * size_t(g.C), g, b, q0);
  load_tile<kBf16>(sdO, dout + hoff, size_t(g.C), g, b, q0);
  if (threadIdx.x < kTile) {
    const int t = q0 + threadIdx.x;
    sL[threadIdx.x] = t < g.T ? lse[row0 + t] : 0.0f;
    sD[threadIdx.x] = t < g.T ? D[row0 + t] : 0.0f;
  }
}
// Keys of the last tile a query tile starting at q0 needs (causal: up to its last row).
__device__ inline int key_end(const Geo& g, int q0) { return g.causal ? min(g.T, q0 + kTile) : g.T; }

template <bool kBf16>
__global__ void __launch_bounds__(kFlashThreads) flash_forward_kernel(float* out, float* lse, const float* qkv, Geo g,
                                                                     Dropout drop) {
  __shared__ float sQ[kTile][kPad], sK[kTile][kPad], sV[kTile][kPad], sP[kTile][kTile + 1];
  __shared__ float sL[kTile];
  const int h = blockIdx.y, b = blockIdx.z, q0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const size_t C3 = 3 * size_t(g.C), hoff = size_t(h) * g.hs;
  const size_t row0 = (size_t(b) * g.NH + h) * g.T;  // lse / dropout row of query 0
  load_tile<kBf16>(sQ, qkv + hoff, C3, g, b, q0);
  float m[4], l[4];
  for (int j = 0; j < 4; j++) m[j] = -INFINITY, l[j] = 0.0f;
  const int kend = key_end(g, q0);
  for (int k0 = 0; k0 < kend; k0 += kTile) {  // pass 1: max and sum of exp per row
    __syncthreads();
    load_tile<kBf16>(sK, qkv + g.C + hoff, C3, g, b, k0);
    __syncthreads();
    for (int j = 0; j < 4; j++) {
      const int r = warp + 8 * j, t = q0 + r, t2 = k0 + lane;
      const float s = visible(g, t, t2) ? tile_dot(sQ[r], sK[lane], g.hs) * g.scale : -INFINITY;
      float tmax = s;
      for (int o = 16; o > 0; o >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, o));
      const float mnew = fmaxf(m[j], tmax);
      float e = mnew == -INFINITY ? 0.0f : expf(s - mnew);
      for (int o = 16; o > 0; o >>= 1) e += __shfl_xor_sync(0xffffffffu, e, o);
      l[j] = (m[j] == -INFINITY ? 0.0f : l[j] * expf(m[j] - mnew)) + e;
      m[j] = mnew;
    }
  }
  for (int j = 0; j < 4; j++) {
    const int r = warp + 8 * j, t = q0 + r;
    const float L = m[j] + logf(l[j]);
    if (lane == 0) {
      sL[r] = L;
      if (t < g.T) lse[row0 + t] = L;
    }
  }
  float acc[kPerThread];  // this thread's (row, e) of the output
  for (float& a : acc) a = 0.0f;
  for (int k0 = 0; k0 < kend; k0 += kTile) {  // pass 2: out = sum of weights x v
    __syncthreads();
    load_tile<kBf16>(sK, qkv + g.C + hoff, C3, g, b, k0);
    load_tile<kBf16>(sV, qkv + 2 * size_t(g.C) + hoff, C3, g, b, k0);
    __syncthreads();
    for (int j = 0; j < 4; j++) {
      const int r = warp + 8 * j, t = q0 + r, t2 = k0 + lane;
      float w = 0.0f;
      if (visible(g, t, t2)) {
        w = expf(tile_dot(sQ[r], sK[lane], g.hs) * g.scale - sL[r]);
        if (drop.active()) w *= drop.scale((row0 + t) * g.T + t2);
      }
      sP[r][lane] = op<kBf16>(w);
    }
    __syncthreads();
    tile_product_add(acc, sP, sV, g.hs);
  }
  for (int i = threadIdx.x, n = 0; i < kTile * g.hs; i += blockDim.x, n++) {
    const int r = i / g.hs, e = i % g.hs, t = q0 + r;
    if (t < g.T) out[(size_t(b) * g.T + t) * g.C + hoff + e] = acc[n];
  }
}

// D[row] = dout . out over the head (one warp per row, lanes over e).
__global__ void flash_rowdot_kernel(float* D, const float* dout, const float* out, Geo g) {
  const size_t row = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;  // (b, h, t)
  const int lane = threadIdx.x % 32;
  if (row >= size_t(g.B) * g.NH * g.T) return;
  const int t = int(row % size_t(g.T)), h = int(row / size_t(g.T) % size_t(g.NH)), b = int(row / (size_t(g.T) * g.NH));
  const size_t at = (size_t(b) * g.T + t) * g.C + size_t(h) * g.hs;
  float s = 0.0f;
  for (int e = lane; e < g.hs; e += 32) s += dout[at + e] * out[at + e];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) D[row] = s;
}

// For rows [q0, q0 + kTile) and keys [k0, k0 + kTile): the dropped weight w = p m and
// dS = p (m dout.v - D) scale (operands of the gradient products, rounded under bf16).
template <bool kBf16>
__device__ void flash_grads(float (*sW)[kTile + 1], float (*sDS)[kTile + 1], float (*sQ)[kPad], float (*sK)[kPad],
                            float (*sV)[kPad], float (*sdO)[kPad], const float* sL, const float* sD, const Geo& g,
                            size_t row0, int q0, int k0, const Dropout& drop) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int j = 0; j < 4; j++) {
    const int r = warp + 8 * j, t = q0 + r, t2 = k0 + lane;
    float w = 0.0f, ds = 0.0f;
    if (visible(g, t, t2)) {
      const float p = expf(tile_dot(sQ[r], sK[lane], g.hs) * g.scale - sL[r]);
      const float mk = drop.active() ? drop.scale((row0 + t) * g.T + t2) : 1.0f;
      w = p * mk;
      ds = p * (tile_dot(sdO[r], sV[lane], g.hs) * mk - sD[r]) * g.scale;
    }
    sW[r][lane] = op<kBf16>(w);
    sDS[r][lane] = op<kBf16>(ds);
  }
}

template <bool kBf16>
__global__ void __launch_bounds__(kFlashThreads) flash_backward_kv_kernel(float* dqkv, const float* dout,
                                                                         const float* qkv, const float* lse,
                                                                         const float* D, Geo g, Dropout drop) {
  __shared__ float sQ[kTile][kPad], sK[kTile][kPad], sV[kTile][kPad], sdO[kTile][kPad];
  __shared__ float sW[kTile][kTile + 1], sDS[kTile][kTile + 1], sL[kTile], sD[kTile];
  const int h = blockIdx.y, b = blockIdx.z, k0 = blockIdx.x * kTile;
  const size_t C3 = 3 * size_t(g.C), hoff = size_t(h) * g.hs, row0 = (size_t(b) * g.NH + h) * g.T;
  load_tile<kBf16>(sK, qkv + g.C + hoff, C3, g, b, k0);
  load_tile<kBf16>(sV, qkv + 2 * size_t(g.C) + hoff, C3, g, b, k0);
  float dk[kPerThread], dv[kPerThread];
  for (int n = 0; n < kPerThread; n++) dk[n] = dv[n] = 0.0f;
  for (int q0 = g.causal ? k0 : 0; q0 < g.T; q0 += kTile) {  // causal: queries from this tile on
    __syncthreads();
    load_query_side<kBf16>(sQ, sdO, sL, sD, qkv, dout, lse, D, g, b, hoff, row0, q0);
    __syncthreads();
    flash_grads<kBf16>(sW, sDS, sQ, sK, sV, sdO, sL, sD, g, row0, q0, k0, drop);
    __syncthreads();
    for (int i = threadIdx.x, n = 0; i < kTile * g.hs; i += blockDim.x, n++) {
      const int c = i / g.hs, e = i % g.hs;  // key c of the tile, element e
      float a = dv[n], k = dk[n];
      for (int r = 0; r < kTile; r++) {
        a += sW[r][c] * sdO[r][e];
        k += sDS[r][c] * sQ[r][e];
      }
      dv[n] = a;
      dk[n] = k;
    }
  }
  for (int i = threadIdx.x, n = 0; i < kTile * g.hs; i += blockDim.x, n++) {
    const int c = i / g.hs, e = i % g.hs, t2 = k0 + c;
    if (t2 >= g.T) continue;
    float* d = dqkv + (size_t(b) * g.T + t2) * C3 + hoff + e;
    d[g.C] += dk[n];
    d[2 * size_t(g.C)] += dv[n];
  }
}

template <bool kBf16>
__global__ void __launch_bounds__(kFlashThreads) flash_backward_q_kernel(float* dqkv, const float* dout,
                                                                        const float* qkv, const float* lse,
                                                                        const float* D, Geo g, Dropout drop) {
  __shared__ float sQ[kTile][kPad], sK[kTile][kPad], sV[kTile][kPad], sdO[kTile][kPad];
  __shared__ float sW[kTile][kTile + 1], sDS[kTile][kTile + 1], sL[kTile], sD[kTile];
  const int h = blockIdx.y, b = blockIdx.z, q0 = blockIdx.x * kTile;
  const size_t C3 = 3 * size_t(g.C), hoff = size_t(h) * g.hs, row0 = (size_t(b) * g.NH + h) * g.T;
  load_query_side<kBf16>(sQ, sdO, sL, sD, qkv, dout, lse, D, g, b, hoff, row0, q0);
  float dq[kPerThread];
  for (float& a : dq) a = 0.0f;
  const int kend = key_end(g, q0);
  for (int k0 = 0; k0 < kend; k0 += kTile) {
    __syncthreads();
    load_tile<kBf16>(sK, qkv + g.C + hoff, C3, g, b, k0);
    load_tile<kBf16>(sV, qkv + 2 * size_t(g.C) + hoff, C3, g, b, k0);
    __syncthreads();
    flash_grads<kBf16>(sW, sDS, sQ, sK, sV, sdO, sL, sD, g, row0, q0, k0, drop);
    __syncthreads();
    tile_product_add(dq, sDS, sK, g.hs);
  }
  for (int i = threadIdx.x, n = 0; i < kTile * g.hs; i += blockDim.x, n++) {
    const int r = i / g.hs, e = i % g.hs, t = q0 + r;
    if (t < g.T) dqkv[(size_t(b) * g.T + t) * C3 + hoff + e] += dq[n];
  }
}

int g_attention_kernel_for_tests = -1;  // -1: flash where it applies; 0: the row kernels; 1: flash
bool use_flash(Dims d, bool wants_matrices) {
  if (wants_matrices || d.hs() > kMaxHs) return false;  // att / scores, or heads too wide for the tiles
  return g_attention_kernel_for_tests != 0;
}
}  // namespace

namespace {
template <bool kBf16>
void forward(float* out, float* lse, const float* qkv, Dims d, Dropout drop, AttentionMode mode, float* att,
             float* scores) {
  const Geo g = geo(d, mode);
  if (use_flash(d, att || scores)) {
    const dim3 tiles(unsigned((d.T + kTile - 1) / kTile), unsigned(d.NH), unsigned(d.B));
    flash_forward_kernel<kBf16><<<tiles, kFlashThreads>>>(out, lse, qkv, g, drop);
    CUDA_LAUNCHED();
    return;
  }
  const dim3 grid(unsigned(d.T), unsigned(d.NH), unsigned(d.B));
  attention_forward_kernel<kBf16><<<grid, kRow, size_t(d.T) * sizeof(float)>>>(out, lse, att, scores, qkv, g, drop);
  CUDA_LAUNCHED();
}
template <bool kBf16>
void backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, Dims d,
              Dropout drop, AttentionMode mode) {
  const Geo g = geo(d, mode);
  if (use_flash(d, false)) {
    const size_t rows = size_t(d.B) * d.NH * d.T;
    float* D = static_cast<float*>(device_scratch(kScratchAttnRowDot, rows * sizeof(float)));  // dout . out per row
    flash_rowdot_kernel<<<grid_for(rows * 32), kThreads>>>(D, dout, out, g);
    CUDA_LAUNCHED();
    const dim3 tiles(unsigned((d.T + kTile - 1) / kTile), unsigned(d.NH), unsigned(d.B));
    flash_backward_kv_kernel<kBf16><<<tiles, kFlashThreads>>>(dqkv, dout, qkv, lse, D, g, drop);
    CUDA_LAUNCHED();
    flash_backward_q_kernel<kBf16><<<tiles, kFlashThreads>>>(dqkv, dout, qkv, lse, D, g, drop);
    CUDA_LAUNCHED();
    return;
  }
  float* ds = static_cast<float*>(device_scratch(kScratchAttnScores, size_t(d.B) * d.NH * d.T * d.T * sizeof(float)));
  const dim3 grid(unsigned(d.T), unsigned(d.NH), unsigned(d.B));
  attention_backward_rows<kBf16><<<grid, kRow, size_t(d.T) * sizeof(float)>>>(dqkv, ds, dout, qkv, out, lse, g, drop);
  CUDA_LAUNCHED();
  attention_backward_keys<kBf16><<<grid, kRow>>>(dqkv, ds, dout, qkv, lse, g, drop);
  CUDA_LAUNCHED();
}
}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, Dims d, Dropout drop, AttentionMode mode, float* att,
                       float* scores) {
  forward<false>(out, lse, qkv, d, drop, mode, att, scores);
}
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, Dims d,
                        Dropout drop, AttentionMode mode) {
  backward<false>(dqkv, dout, qkv, out, lse, d, drop, mode);
}
// --dtype bf16: as the CPU's attention_*_bf16, requests for att / scores and the
// non-causal modes run the fp32 kernels.
void attention_forward_bf16(float* out, float* lse, const float* qkv, Dims d, Dropout drop, AttentionMode mode,
                            float* att, float* scores) {
  const bool plain = att || scores || !mode.causal;
  if (plain) forward<false>(out, lse, qkv, d, drop, mode, att, scores);
  else forward<true>(out, lse, qkv, d, drop, mode, att, scores);
}
void attention_backward_bf16(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                             Dims d, Dropout drop, AttentionMode mode) {
  if (!mode.causal) backward<false>(dqkv, dout, qkv, out, lse, d, drop, mode);
  else backward<true>(dqkv, dout, qkv, out, lse, d, drop, mode);
}

void set_attention_kernel_for_tests(int kernel) { g_attention_kernel_for_tests = kernel; }

void kv_cache_write(float* kcache, float* vcache, const float* qkv, Dims d, int maxT, int pos) {
  GPT_CHECK(pos >= 0 && pos < maxT, "cache position ", pos, " outside 0..", maxT - 1);
  kv_cache_write_kernel<<<grid_for(size_t(d.B) * d.C), kThreads>>>(kcache, vcache, qkv, d.B, d.C, d.NH, maxT, pos);
  CUDA_LAUNCHED();
}

void attention_decode(float* out, float* att_row, const float* q, const float* kcache, const float* vcache,
                             Dims d, int maxT, int pos) {
  GPT_CHECK(pos >= 0 && pos < maxT, "decode position ", pos, " outside 0..", maxT - 1);
  const dim3 grid(unsigned(d.NH), unsigned(d.B));
  attention_decode_kernel<<<grid, kRow, size_t(pos + 1) * sizeof(float)>>>(out, att_row, q, kcache, vcache, d.C,
                                                                          d.NH, maxT, pos);
  CUDA_LAUNCHED();
}

}  // namespace gpt::gpu
