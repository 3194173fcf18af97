// Causal multi-head attention on the GPU (layers.h attention_*, kv_cache_write,
// attention_decode). The model runs the flash-style kernels further down (heads up to
// 64 wide): on the CUDA cores in fp32, on the tensor cores under --dtype bf16; the row
// kernels here are their reference, and serve requests for the weight or score matrices
// and wider heads. Row kernels: one block per (batch, head, query) row: scores
// over the keys, the row's max and log-sum-exp, weights, output. The backward recomputes
// the weights from the saved log-sum-exp (as the CPU flash path does) in two passes, so
// that nothing is summed with atomics: per query row dq and dS (into a (B,NH,T,T)
// scratch), then per key row dk and dv, each summing over the queries in order.
// Dropout on the weights uses the CPU's mask indices ((b*NH + h)*T + t)*T + t2.
#include <cuda_bf16.h>
#include <mma.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "bf16.h"
#include "common.cuh"

namespace gpt::gpu {
namespace {
constexpr int kRow = 128;  // threads per row block

struct Geo {
  int B, T, C, NH, hs;
  float scale;  // 1/sqrt(hs) or 1
  bool causal;
  bool vec4 = false;  // the tensor-core kernels may read head slices as float4 (with_vec4)
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
                                         Dropout drop, float* rows) {
  extern __shared__ float smem_row[];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int n = g.causal ? t + 1 : g.T;
  const size_t row = ((size_t(b) * g.NH + h) * g.T + t);
  float* srow = rows ? rows + row * g.T : smem_row;  // see kRowSmemBytes
  const float2 ml = score_row<kBf16>(srow, qkv, g, b, h, t, n);
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

// Per query row: ds[t2] = w * (dropmask * dout.v[t2] - D) * scale, D = dout.out; dq = sum ds k.
template <bool kBf16>
__global__ void attention_backward_rows(float* dqkv, float* ds_all, const float* dout, const float* qkv,
                                        const float* out, const float* lse, Geo g, Dropout drop, bool global_row) {
  extern __shared__ float smem_row[];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int n = g.causal ? t + 1 : g.T;
  const size_t row = ((size_t(b) * g.NH + h) * g.T + t);
  float* ds = global_row ? ds_all + row * g.T : smem_row;  // see kRowSmemBytes
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
    ds_all[row * g.T + t2] = v;  // the same element when global_row
  }
  __syncthreads();
  float* dq = dqkv + (size_t(b) * g.T + t) * 3 * g.C + size_t(h) * g.hs;
  for (int e = threadIdx.x; e < g.hs; e += blockDim.x) {
    float s = 0.0f;
    for (int t2 = 0; t2 < n; t2++) s += op<kBf16>(ds[t2]) * op<kBf16>(q_of(qkv, g, b, t2, h)[g.C + e]);
    dq[e] = s;
  }
}

// Per key row t2: dk = sum_t ds[t, t2] q_t; dv = sum_t w[t, t2] mask dout_t.
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
    dk[e] = sk;
    dv[e] = sv;
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
                                        int C, int NH, int maxT, int pos, float* rows) {
  extern __shared__ float smem_row[];
  const int h = blockIdx.x, b = blockIdx.y, hs = C / NH, n = pos + 1;
  float* srow = rows ? rows + (size_t(b) * NH + h) * n : smem_row;  // see kRowSmemBytes
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

// One (query t, key t2) element of the backward, from its score s = q.k, dp = dout.v, the
// row's log-sum-exp L and D: x = the dropped weight p m, y = dS = p (m dp - D) scale
// (p = exp(s scale - L), m the dropout mask's scale). The flash and tensor-core kernels'.
__device__ inline float2 weight_and_ds(float s, float dp, float L, float Dr, const Geo& g, size_t row0, int t,
                                       int t2, const Dropout& drop) {
  const float p = expf(s * g.scale - L);
  const float mk = drop.active() ? drop.scale((row0 + t) * g.T + t2) : 1.0f;
  return make_float2(p * mk, p * (dp * mk - Dr) * g.scale);
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
      const float2 e = weight_and_ds(tile_dot(sQ[r], sK[lane], g.hs), tile_dot(sdO[r], sV[lane], g.hs), sL[r], sD[r],
                                     g, row0, t, t2, drop);
      w = e.x;
      ds = e.y;
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
    d[g.C] = dk[n];
    d[2 * size_t(g.C)] = dv[n];
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
    if (t < g.T) dqkv[(size_t(b) * g.T + t) * C3 + hoff + e] = dq[n];
  }
}


// ---- tensor-core kernels (--dtype bf16, heads up to 64 wide: the model's bf16 path) ----
// The flash kernels' algorithm with every product on the tensor cores (wmma, 16x16x16,
// bf16 operands, fp32 sums): q, k, v and dout are rounded to bf16 by bf16.h's rule as
// they are loaded, the weights and dS as the CPU's attention_bf16 rounds them, so the
// results are the CPU bf16 path's up to the order of the fp32 sums. 4 warps per block;
// a warp owns 16 rows (queries, or keys in the dk/dv kernel) and the other side comes in
// tiles of 32. A warp's product lands in its own strip of shared memory, where lane j
// takes column j for the softmax arithmetic (one exp per element: the running max and
// sum of pass 1 are per lane and column, merged across lanes once at the end). Shared
// memory is one static buffer per kernel (under the 48 KiB a block gets without opting
// in); the staging of the warp-resident operands aliases the product strips.
namespace wmma = nvcuda::wmma;
constexpr int kTcWarps = 4, kTcThreads = 32 * kTcWarps, kTcRows = 16 * kTcWarps, kTcCols = 32;
constexpr int kLdH = kMaxHs + 8;    // bf16 tiles of q/k/v/dout: row stride (elements)
constexpr int kLdS = kTcCols + 4;   // fp32 product strips: row stride
constexpr int kLdP = kTcCols + 8;   // bf16 weight / dS strips: row stride
constexpr int kStripBytes = 16 * kLdS * 4;                    // one warp's fp32 16 x 32 strip
constexpr int kStripsBytes = kTcWarps * kStripBytes;          // all warps' strips
constexpr int kRowTileBytes = kTcRows * kLdH * 2;             // kTcRows rows of a head slice in bf16
constexpr int kColTileBytes = kTcCols * kLdH * 2;             // kTcCols rows of a head slice in bf16
constexpr int kPStripBytes = 16 * kLdP * 2;                   // one warp's bf16 16 x 32 strip
static_assert(kRowTileBytes == kStripsBytes, "the staging of 64 bf16 rows aliases the warps' fp32 strips");
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
using FragBt = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major>;  // rows of B^T
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

__device__ inline __nv_bfloat16 to_bf16(float x) {
  __nv_bfloat16_raw r;
  r.x = float_to_bf16(x);
  return __nv_bfloat16(r);
}
// Fragments along the head: hs rounded up to 16 (the columns past hs are loaded as zeros).
__device__ inline int head_frags(const Geo& g) { return (g.hs + 15) / 16; }
// The tile loads of the tensor-core kernels, in two halves: fetch_tile issues every load
// of a thread's part of a tile into registers, store_tile rounds it to bf16 into shared
// memory later, so a kernel fetches the next tile before it works on the current one and
// the loads' latency hides behind the products (one element at a time, each load waiting
// for the shared store before it, the H200 spent most of an attention call waiting:
// 2026-12-04, bench/results). A thread holds kRows * 16 / kTcThreads groups of 4
// consecutive elements of a row (float4 loads where Geo::vec4 allows: hs a multiple of 4,
// the tensors 16-byte aligned); rows past T and columns past hs are zeros.
template <int kRows>
struct TileRegs {
  static constexpr int kPer = kRows * (kMaxHs / 4) / kTcThreads;
  static_assert(kPer * kTcThreads == kRows * (kMaxHs / 4), "a tile is whole float4s per thread");
  float4 v[kPer];
};
template <int kRows>
__device__ inline void fetch_tile(TileRegs<kRows>& st, const float* base, size_t stride, const Geo& g, int b, int t0) {
#pragma unroll
  for (int j = 0; j < TileRegs<kRows>::kPer; j++) {
    const int i = int(threadIdx.x) + j * kTcThreads, r = i / (kMaxHs / 4), e = 4 * (i % (kMaxHs / 4)), t = t0 + r;
    float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (t < g.T && e < g.hs) {
      const float* p = base + (size_t(b) * g.T + t) * stride + e;
      if (g.vec4) {
        x = *reinterpret_cast<const float4*>(p);
      } else {
        x.x = p[0];
        if (e + 1 < g.hs) x.y = p[1];
        if (e + 2 < g.hs) x.z = p[2];
        if (e + 3 < g.hs) x.w = p[3];
      }
    }
    st.v[j] = x;
  }
}
template <int kRows>
__device__ inline void store_tile(__nv_bfloat16* sh, const TileRegs<kRows>& st) {
#pragma unroll
  for (int j = 0; j < TileRegs<kRows>::kPer; j++) {
    const int i = int(threadIdx.x) + j * kTcThreads, r = i / (kMaxHs / 4), e = 4 * (i % (kMaxHs / 4));
    __nv_bfloat16* d = sh + r * kLdH + e;
    d[0] = to_bf16(st.v[j].x);
    d[1] = to_bf16(st.v[j].y);
    d[2] = to_bf16(st.v[j].z);
    d[3] = to_bf16(st.v[j].w);
  }
}
// The query side of the tensor-core backward for the kTcCols rows from q0, in the same
// two halves: q and dout tiles, each row's log-sum-exp and D = dout . out (zeros past T).
struct QuerySideRegs {
  TileRegs<kTcCols> q, dout;
  float L, D;
};
__device__ inline void fetch_query_side(QuerySideRegs& st, const float* qkv, const float* dout, const float* lse,
                                        const float* D, const Geo& g, int b, size_t hoff, size_t row0, int q0) {
  fetch_tile(st.q, qkv + hoff, 3 * size_t(g.C), g, b, q0);
  fetch_tile(st.dout, dout + hoff, size_t(g.C), g, b, q0);
  const int t = q0 + int(threadIdx.x);
  st.L = int(threadIdx.x) < kTcCols && t < g.T ? lse[row0 + t] : 0.0f;
  st.D = int(threadIdx.x) < kTcCols && t < g.T ? D[row0 + t] : 0.0f;
}
__device__ inline void store_query_side(__nv_bfloat16* sQ, __nv_bfloat16* sdO, float* sL, float* sD,
                                        const QuerySideRegs& st) {
  store_tile(sQ, st.q);
  store_tile(sdO, st.dout);
  if (int(threadIdx.x) < kTcCols) sL[threadIdx.x] = st.L, sD[threadIdx.x] = st.D;
}
// The warp's 16 rows of a staged tile as A fragments (one per 16 columns of the head).
__device__ inline void load_rows(FragA (&f)[kMaxHs / 16], const __nv_bfloat16* rows, int nfrag) {
#pragma unroll
  for (int k = 0; k < kMaxHs / 16; k++)
    if (k < nfrag) wmma::load_matrix_sync(f[k], rows + 16 * k, kLdH);
}
// strip[16 x 32] = A (16 rows x head) times the transpose of tile (32 rows x head).
__device__ inline void strip_product(float* strip, const FragA (&a)[kMaxHs / 16], const __nv_bfloat16* tile,
                                     int nfrag) {
#pragma unroll
  for (int j = 0; j < kTcCols / 16; j++) {
    FragC s;
    wmma::fill_fragment(s, 0.0f);
#pragma unroll
    for (int k = 0; k < kMaxHs / 16; k++)
      if (k < nfrag) {
        FragBt bt;
        wmma::load_matrix_sync(bt, tile + 16 * j * kLdH + 16 * k, kLdH);
        wmma::mma_sync(s, a[k], bt, s);
      }
    wmma::store_matrix_sync(strip + 16 * j, s, kLdS, wmma::mem_row_major);
  }
}
// acc (16 x head) += P (the warp's bf16 16 x 32 strip) times tile (32 rows x head).
__device__ inline void strip_times_tile(FragC (&acc)[kMaxHs / 16], const __nv_bfloat16* p, const __nv_bfloat16* tile,
                                        int nfrag) {
#pragma unroll
  for (int kk = 0; kk < kTcCols / 16; kk++) {
    FragA a;
    wmma::load_matrix_sync(a, p + 16 * kk, kLdP);
#pragma unroll
    for (int n = 0; n < kMaxHs / 16; n++)
      if (n < nfrag) {
        FragB bm;
        wmma::load_matrix_sync(bm, tile + 16 * kk * kLdH + 16 * n, kLdH);
        wmma::mma_sync(acc[n], a, bm, acc[n]);
      }
  }
}
// Writes the warp's 16 x head accumulators to rows [r0, r0 + 16) of a (B, T, ...)
// tensor (row stride `stride`, the head at `dst`), staged through its strip.
__device__ void write_rows(float* dst, size_t stride, const FragC (&acc)[kMaxHs / 16], float* strip, const Geo& g,
                           int b, int r0) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int n = 0; n < kMaxHs / 16; n++)
    if (n < head_frags(g)) {
      __syncwarp();
      wmma::store_matrix_sync(strip, acc[n], kLdS, wmma::mem_row_major);
      __syncwarp();
      for (int i = lane; i < 256; i += 32) {
        const int r = i / 16, e = 16 * n + i % 16, t = r0 + r;
        if (t >= g.T || e >= g.hs) continue;
        float* d = dst + (size_t(b) * g.T + t) * stride + e;
        *d = strip[r * kLdS + i % 16];
      }
    }
}

__global__ void __launch_bounds__(kTcThreads) tc_forward_kernel(float* out, float* lse, const float* qkv, Geo g,
                                                               Dropout drop) {
  constexpr int kBytes = kStripsBytes + 2 * kColTileBytes + kTcWarps * kPStripBytes;
  static_assert(kBytes <= 48 * 1024, "static shared memory above 48 KiB");
  __shared__ __align__(128) unsigned char smem[kBytes];
  // The last query tiles first: under a causal mask they do the most work (the tail of
  // the launch is then the short ones).
  const int q0 = (int(gridDim.x) - 1 - int(blockIdx.x)) * kTcRows;
  const int h = blockIdx.y, b = blockIdx.z, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int nf = head_frags(g), r0 = q0 + 16 * warp;  // the warp's first query row
  const size_t C3 = 3 * size_t(g.C), hoff = size_t(h) * g.hs, row0 = (size_t(b) * g.NH + h) * g.T;
  float* strip = reinterpret_cast<float*>(smem) + 16 * warp * kLdS;
  auto* sK = reinterpret_cast<__nv_bfloat16*>(smem + kStripsBytes);
  auto* sV = sK + kTcCols * kLdH;
  auto* pstrip = sV + kTcCols * kLdH + 16 * warp * kLdP;
  const float *kbase = qkv + g.C + hoff, *vbase = qkv + 2 * size_t(g.C) + hoff;
  TileRegs<kTcCols> kr, vr;  // the next key tile (pass 2: and value tile) on its way
  fetch_tile(kr, kbase, C3, g, b, 0);
  {
    TileRegs<kTcRows> qr;
    fetch_tile(qr, qkv + hoff, C3, g, b, q0);
    store_tile(reinterpret_cast<__nv_bfloat16*>(smem), qr);  // staging, over the strips
    __syncthreads();
  }
  FragA q[kMaxHs / 16];
  load_rows(q, reinterpret_cast<const __nv_bfloat16*>(smem) + 16 * warp * kLdH, nf);
  const int kend = g.causal ? min(g.T, q0 + kTcRows) : g.T;
  // Does the warp's strip see any key of the tile at k0? (Causal: not past its last row;
  // rows past T see nothing.)
  auto sees = [&](int k0) { return r0 < g.T && (!g.causal || k0 <= r0 + 15); };
  float m[16], l[16];  // pass 1: per row, this lane's running max and sum over its column's keys
#pragma unroll
  for (int i = 0; i < 16; i++) m[i] = -INFINITY, l[i] = 0.0f;
  for (int k0 = 0; k0 < kend; k0 += kTcCols) {
    __syncthreads();
    store_tile(sK, kr);
    __syncthreads();
    if (k0 + kTcCols < kend) fetch_tile(kr, kbase, C3, g, b, k0 + kTcCols);
    if (!sees(k0)) continue;
    strip_product(strip, q, sK, nf);
    __syncwarp();
#pragma unroll
    for (int i = 0; i < 16; i++) {
      if (!visible(g, r0 + i, k0 + lane)) continue;
      const float s = strip[i * kLdS + lane] * g.scale;
      if (s > m[i]) {
        l[i] = l[i] * expf(m[i] - s) + 1.0f;
        m[i] = s;
      } else {
        l[i] += expf(s - m[i]);
      }
    }
    __syncwarp();
  }
  float L[16];  // each row's log-sum-exp (every lane has it)
#pragma unroll
  for (int i = 0; i < 16; i++) {
    float mx = m[i];
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float z = m[i] == -INFINITY ? 0.0f : l[i] * expf(m[i] - mx);
    for (int o = 16; o > 0; o >>= 1) z += __shfl_xor_sync(0xffffffffu, z, o);
    L[i] = mx + logf(z);
    if (lane == 0 && r0 + i < g.T) lse[row0 + r0 + i] = L[i];
  }
  FragC acc[kMaxHs / 16];
#pragma unroll
  for (int n = 0; n < kMaxHs / 16; n++) wmma::fill_fragment(acc[n], 0.0f);
  fetch_tile(kr, kbase, C3, g, b, 0);
  fetch_tile(vr, vbase, C3, g, b, 0);
  for (int k0 = 0; k0 < kend; k0 += kTcCols) {  // pass 2: out = normalised weights x v
    __syncthreads();
    store_tile(sK, kr);
    store_tile(sV, vr);
    __syncthreads();
    if (k0 + kTcCols < kend) {
      fetch_tile(kr, kbase, C3, g, b, k0 + kTcCols);
      fetch_tile(vr, vbase, C3, g, b, k0 + kTcCols);
    }
    if (!sees(k0)) continue;
    strip_product(strip, q, sK, nf);
    __syncwarp();
#pragma unroll
    for (int i = 0; i < 16; i++) {
      const int t = r0 + i, t2 = k0 + lane;
      float w = 0.0f;
      if (visible(g, t, t2)) {
        w = expf(strip[i * kLdS + lane] * g.scale - L[i]);
        if (drop.active()) w *= drop.scale((row0 + t) * g.T + t2);
      }
      pstrip[i * kLdP + lane] = to_bf16(w);
    }
    __syncwarp();
    strip_times_tile(acc, pstrip, sV, nf);
  }
  write_rows(out + hoff, size_t(g.C), acc, strip, g, b, r0);
}

// dk, dv for the keys [k0, k0 + kTcRows) (warp: 16 keys), over the query tiles in order.
// Per tile the warp forms S^T = K Q^T and dP^T = V dO^T (keys x queries), from them the
// weights W^T and dS^T, then dv += W^T dO and dk += dS^T Q.
__global__ void __launch_bounds__(kTcThreads) tc_backward_kv_kernel(float* dqkv, const float* dout, const float* qkv,
                                                                   const float* lse, const float* D, Geo g,
                                                                   Dropout drop) {
  constexpr int kBytes = 2 * kStripsBytes + 2 * kColTileBytes + 2 * kTcWarps * kPStripBytes + 2 * kTcCols * 4;
  static_assert(kBytes <= 48 * 1024, "static shared memory above 48 KiB");
  static_assert(2 * kRowTileBytes == 2 * kStripsBytes, "k and v are staged over the strips");
  __shared__ __align__(128) unsigned char smem[kBytes];
  const int h = blockIdx.y, b = blockIdx.z, k0 = blockIdx.x * kTcRows, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int nf = head_frags(g), c0 = k0 + 16 * warp;  // the warp's first key
  const size_t C3 = 3 * size_t(g.C), hoff = size_t(h) * g.hs, row0 = (size_t(b) * g.NH + h) * g.T;
  float* sst = reinterpret_cast<float*>(smem) + 16 * warp * kLdS;                       // S^T strip
  float* dpt = reinterpret_cast<float*>(smem + kStripsBytes) + 16 * warp * kLdS;        // dP^T strip
  auto* sQ = reinterpret_cast<__nv_bfloat16*>(smem + 2 * kStripsBytes);
  auto* sdO = sQ + kTcCols * kLdH;
  auto* wt = sdO + kTcCols * kLdH + 16 * warp * kLdP;                                   // W^T strip
  auto* dst = sdO + kTcCols * kLdH + kTcWarps * kLdP * 16 + 16 * warp * kLdP;           // dS^T strip
  float* sL = reinterpret_cast<float*>(smem + 2 * kStripsBytes + 2 * kColTileBytes + 2 * kTcWarps * kPStripBytes);
  float* sD = sL + kTcCols;
  const int qstart = g.causal ? k0 : 0;
  QuerySideRegs qs;  // the next query tile's side on its way
  fetch_query_side(qs, qkv, dout, lse, D, g, b, hoff, row0, qstart);
  FragA kf[kMaxHs / 16], vf[kMaxHs / 16];
  {
    auto* stK = reinterpret_cast<__nv_bfloat16*>(smem);  // staging, over the strips
    auto* stV = reinterpret_cast<__nv_bfloat16*>(smem + kRowTileBytes);
    {
      TileRegs<kTcRows> kr;
      fetch_tile(kr, qkv + g.C + hoff, C3, g, b, k0);
      store_tile(stK, kr);
    }
    {
      TileRegs<kTcRows> vr;
      fetch_tile(vr, qkv + 2 * size_t(g.C) + hoff, C3, g, b, k0);
      store_tile(stV, vr);
    }
    __syncthreads();
    load_rows(kf, stK + 16 * warp * kLdH, nf);
    load_rows(vf, stV + 16 * warp * kLdH, nf);
  }
  FragC dk[kMaxHs / 16], dv[kMaxHs / 16];
#pragma unroll
  for (int n = 0; n < kMaxHs / 16; n++) wmma::fill_fragment(dk[n], 0.0f), wmma::fill_fragment(dv[n], 0.0f);
  for (int q0 = qstart; q0 < g.T; q0 += kTcCols) {
    __syncthreads();
    store_query_side(sQ, sdO, sL, sD, qs);
    __syncthreads();
    if (q0 + kTcCols < g.T) fetch_query_side(qs, qkv, dout, lse, D, g, b, hoff, row0, q0 + kTcCols);
    if (c0 >= g.T || (g.causal && q0 + kTcCols - 1 < c0)) continue;  // no query of the tile sees the warp's keys
    strip_product(sst, kf, sQ, nf);
    strip_product(dpt, vf, sdO, nf);
    __syncwarp();
    const int t = q0 + lane;
#pragma unroll
    for (int i = 0; i < 16; i++) {
      const int t2 = c0 + i;
      float w = 0.0f, ds = 0.0f;
      if (visible(g, t, t2)) {
        const float2 e = weight_and_ds(sst[i * kLdS + lane], dpt[i * kLdS + lane], sL[lane], sD[lane], g, row0, t, t2,
                                       drop);
        w = e.x;
        ds = e.y;
      }
      wt[i * kLdP + lane] = to_bf16(w);
      dst[i * kLdP + lane] = to_bf16(ds);
    }
    __syncwarp();
    strip_times_tile(dv, wt, sdO, nf);
    strip_times_tile(dk, dst, sQ, nf);
  }
  __syncthreads();  // the strips are free: stage the results through them
  write_rows(dqkv + g.C + hoff, C3, dk, sst, g, b, c0);
  write_rows(dqkv + 2 * size_t(g.C) + hoff, C3, dv, sst, g, b, c0);
}

// dq for the queries [q0, q0 + kTcRows) (warp: 16 rows), over the key tiles in order:
// S = Q K^T and dP = dO V^T, dS from them, dq += dS K.
__global__ void __launch_bounds__(kTcThreads) tc_backward_q_kernel(float* dqkv, const float* dout, const float* qkv,
                                                                  const float* lse, const float* D, Geo g,
                                                                  Dropout drop) {
  constexpr int kBytes = 2 * kStripsBytes + 2 * kColTileBytes + kTcWarps * kPStripBytes + 2 * kTcRows * 4;
  static_assert(kBytes <= 48 * 1024, "static shared memory above 48 KiB");
  __shared__ __align__(128) unsigned char smem[kBytes];
  // The last query tiles first: under a causal mask they do the most work (the tail of
  // the launch is then the short ones).
  const int q0 = (int(gridDim.x) - 1 - int(blockIdx.x)) * kTcRows;
  const int h = blockIdx.y, b = blockIdx.z, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int nf = head_frags(g), r0 = q0 + 16 * warp;
  const size_t C3 = 3 * size_t(g.C), hoff = size_t(h) * g.hs, row0 = (size_t(b) * g.NH + h) * g.T;
  float* ss = reinterpret_cast<float*>(smem) + 16 * warp * kLdS;
  float* dp = reinterpret_cast<float*>(smem + kStripsBytes) + 16 * warp * kLdS;
  auto* sK = reinterpret_cast<__nv_bfloat16*>(smem + 2 * kStripsBytes);
  auto* sV = sK + kTcCols * kLdH;
  auto* dsp = sV + kTcCols * kLdH + 16 * warp * kLdP;
  float* sL = reinterpret_cast<float*>(smem + 2 * kStripsBytes + 2 * kColTileBytes + kTcWarps * kPStripBytes);
  float* sD = sL + kTcRows;
  const float *kbase = qkv + g.C + hoff, *vbase = qkv + 2 * size_t(g.C) + hoff;
  TileRegs<kTcCols> kr, vr;  // the next key and value tiles on their way
  fetch_tile(kr, kbase, C3, g, b, 0);
  fetch_tile(vr, vbase, C3, g, b, 0);
  FragA qf[kMaxHs / 16], of[kMaxHs / 16];
  {
    auto* stQ = reinterpret_cast<__nv_bfloat16*>(smem);  // staging, over the strips
    auto* stO = reinterpret_cast<__nv_bfloat16*>(smem + kRowTileBytes);
    {
      TileRegs<kTcRows> qr;
      fetch_tile(qr, qkv + hoff, C3, g, b, q0);
      store_tile(stQ, qr);
    }
    {
      TileRegs<kTcRows> orr;
      fetch_tile(orr, dout + hoff, size_t(g.C), g, b, q0);
      store_tile(stO, orr);
    }
    if (int(threadIdx.x) < kTcRows) {
      const int t = q0 + int(threadIdx.x);
      sL[threadIdx.x] = t < g.T ? lse[row0 + t] : 0.0f;
      sD[threadIdx.x] = t < g.T ? D[row0 + t] : 0.0f;
    }
    __syncthreads();
    load_rows(qf, stQ + 16 * warp * kLdH, nf);
    load_rows(of, stO + 16 * warp * kLdH, nf);
  }
  FragC dq[kMaxHs / 16];
#pragma unroll
  for (int n = 0; n < kMaxHs / 16; n++) wmma::fill_fragment(dq[n], 0.0f);
  const int kend = g.causal ? min(g.T, q0 + kTcRows) : g.T;
  for (int k0 = 0; k0 < kend; k0 += kTcCols) {
    __syncthreads();
    store_tile(sK, kr);
    store_tile(sV, vr);
    __syncthreads();
    if (k0 + kTcCols < kend) {
      fetch_tile(kr, kbase, C3, g, b, k0 + kTcCols);
      fetch_tile(vr, vbase, C3, g, b, k0 + kTcCols);
    }
    if (r0 >= g.T || (g.causal && k0 > r0 + 15)) continue;
    strip_product(ss, qf, sK, nf);
    strip_product(dp, of, sV, nf);
    __syncwarp();
    const int t2 = k0 + lane;
#pragma unroll
    for (int i = 0; i < 16; i++) {
      const int t = r0 + i;
      float ds = 0.0f;
      if (visible(g, t, t2))
        ds = weight_and_ds(ss[i * kLdS + lane], dp[i * kLdS + lane], sL[16 * warp + i], sD[16 * warp + i], g, row0, t,
                           t2, drop)
                 .y;
      dsp[i * kLdP + lane] = to_bf16(ds);
    }
    __syncwarp();
    strip_times_tile(dq, dsp, sK, nf);
  }
  __syncthreads();
  write_rows(dqkv + hoff, C3, dq, ss, g, b, r0);
}

// Which kernels run: GPT_CUDA_ATTENTION=auto (the default: tensor cores under --dtype bf16,
// the flash kernels otherwise), flash (the fp32 flash kernels, also under bf16: the A/B
// of gpu_check.sh) or rows (the reference kernels), where they apply: the flash and
// tensor-core kernels take heads up to 64 wide and do not return the weight matrices.
enum class Kernel { rows, flash, tensor };
int g_attention_kernel_for_tests = -1;  // -1: GPT_CUDA_ATTENTION; else a Kernel
// The row and decode kernels keep a block's score row (T floats) in shared memory while
// it fits the 48 KiB a kernel may use without opting in (less 1 KiB for their static
// reduction partials: at most 256 B), past that (contexts over 12032) in global memory,
// one row per block in kScratchAttnScores (opting in would reach only ~58000).
constexpr size_t kRowSmemBytes = 47 * 1024;
size_t g_row_smem_for_tests = 0;  // set_attention_row_smem_for_tests; 0: kRowSmemBytes
size_t row_smem_bytes() { return g_row_smem_for_tests ? g_row_smem_for_tests : kRowSmemBytes; }
std::optional<Kernel> g_env_kernel;      // GPT_CUDA_ATTENTION's, read at first use (the test hook's -1 forgets it)
Kernel wanted_kernel() {
  if (g_attention_kernel_for_tests >= 0) return Kernel(g_attention_kernel_for_tests);
  if (!g_env_kernel) g_env_kernel = [] {
    const char* env = std::getenv("GPT_CUDA_ATTENTION");
    const std::string want = env ? env : "auto";
    if (want == "auto" || want.empty()) return Kernel::tensor;
    if (want == "flash") return Kernel::flash;
    if (want == "rows") return Kernel::rows;
    GPT_USAGE_FAIL("GPT_CUDA_ATTENTION='", want, "' is not an attention kernel: auto (the default), flash or rows");
  }();
  return *g_env_kernel;
}
Kernel kernel_for(Dims d, bool bf16, bool wants_matrices) {
  if (wants_matrices || d.hs() > kMaxHs) return Kernel::rows;  // att / scores, or heads too wide for the tiles
  const Kernel k = wanted_kernel();
  if (k == Kernel::tensor && !bf16) return Kernel::flash;  // fp32 stays fp32 (no TF32)
  return k;
}
}  // namespace

namespace {
// g with vec4 set where the tensor-core kernels may read q, k, v (and dout) as float4:
// heads a multiple of 4 wide (so every row of every slice is) and the tensors 16-byte
// aligned (cudaMalloc's are; a tensor inside a larger buffer need not be).
Geo with_vec4(Geo g, const float* a, const float* b = nullptr) {
  auto aligned = [](const float* p) { return !p || reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  g.vec4 = g.hs % 4 == 0 && aligned(a) && aligned(b);
  return g;
}
template <bool kBf16>
void forward(float* out, float* lse, const float* qkv, Dims d, Dropout drop, AttentionMode mode, float* att,
             float* scores) {
  const Geo g = geo(d, mode);
  const Kernel kernel = kernel_for(d, kBf16, att || scores);
  if (kernel == Kernel::tensor) {
    const dim3 tiles(unsigned((d.T + kTcRows - 1) / kTcRows), unsigned(d.NH), unsigned(d.B));
    tc_forward_kernel<<<tiles, kTcThreads>>>(out, lse, qkv, with_vec4(g, qkv), drop);
    CUDA_LAUNCHED();
    return;
  }
  if (kernel == Kernel::flash) {
    const dim3 tiles(unsigned((d.T + kTile - 1) / kTile), unsigned(d.NH), unsigned(d.B));
    flash_forward_kernel<kBf16><<<tiles, kFlashThreads>>>(out, lse, qkv, g, drop);
    CUDA_LAUNCHED();
    return;
  }
  const dim3 grid(unsigned(d.T), unsigned(d.NH), unsigned(d.B));
  const size_t row_bytes = size_t(d.T) * sizeof(float);
  float* rows = row_bytes <= row_smem_bytes()
                    ? nullptr
                    : static_cast<float*>(device_scratch(kScratchAttnScores, size_t(d.B) * d.NH * d.T * row_bytes));
  attention_forward_kernel<kBf16><<<grid, kRow, rows ? 0 : row_bytes>>>(out, lse, att, scores, qkv, g, drop, rows);
  CUDA_LAUNCHED();
}
template <bool kBf16>
void backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, Dims d,
              Dropout drop, AttentionMode mode) {
  const Geo g = geo(d, mode);
  const Kernel kernel = kernel_for(d, kBf16, false);
  if (kernel != Kernel::rows) {
    const size_t rows = size_t(d.B) * d.NH * d.T;
    float* D = static_cast<float*>(device_scratch(kScratchAttnRowDot, rows * sizeof(float)));  // dout . out per row
    flash_rowdot_kernel<<<grid_for(rows * 32), kThreads>>>(D, dout, out, g);
    CUDA_LAUNCHED();
    if (kernel == Kernel::tensor) {
      const dim3 tiles(unsigned((d.T + kTcRows - 1) / kTcRows), unsigned(d.NH), unsigned(d.B));
      const Geo gv = with_vec4(g, qkv, dout);
      tc_backward_kv_kernel<<<tiles, kTcThreads>>>(dqkv, dout, qkv, lse, D, gv, drop);
      CUDA_LAUNCHED();
      tc_backward_q_kernel<<<tiles, kTcThreads>>>(dqkv, dout, qkv, lse, D, gv, drop);
      CUDA_LAUNCHED();
      return;
    }
    const dim3 tiles(unsigned((d.T + kTile - 1) / kTile), unsigned(d.NH), unsigned(d.B));
    flash_backward_kv_kernel<kBf16><<<tiles, kFlashThreads>>>(dqkv, dout, qkv, lse, D, g, drop);
    CUDA_LAUNCHED();
    flash_backward_q_kernel<kBf16><<<tiles, kFlashThreads>>>(dqkv, dout, qkv, lse, D, g, drop);
    CUDA_LAUNCHED();
    return;
  }
  float* ds = static_cast<float*>(device_scratch(kScratchAttnScores, size_t(d.B) * d.NH * d.T * d.T * sizeof(float)));
  const dim3 grid(unsigned(d.T), unsigned(d.NH), unsigned(d.B));
  const size_t row_bytes = size_t(d.T) * sizeof(float);
  const bool global_row = row_bytes > row_smem_bytes();
  attention_backward_rows<kBf16><<<grid, kRow, global_row ? 0 : row_bytes>>>(dqkv, ds, dout, qkv, out, lse, g, drop,
                                                                             global_row);
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

void set_attention_row_smem_for_tests(size_t bytes) { g_row_smem_for_tests = bytes; }

void set_attention_kernel_for_tests(int kernel) {
  g_attention_kernel_for_tests = kernel;
  if (kernel < 0) g_env_kernel.reset();
}

void kv_cache_write(float* kcache, float* vcache, const float* qkv, Dims d, int maxT, int pos) {
  GPT_CHECK(pos >= 0 && pos < maxT, "cache position ", pos, " outside 0..", maxT - 1);
  kv_cache_write_kernel<<<grid_for(size_t(d.B) * d.C), kThreads>>>(kcache, vcache, qkv, d.B, d.C, d.NH, maxT, pos);
  CUDA_LAUNCHED();
}

void attention_decode(float* out, float* att_row, const float* q, const float* kcache, const float* vcache,
                             Dims d, int maxT, int pos) {
  GPT_CHECK(pos >= 0 && pos < maxT, "decode position ", pos, " outside 0..", maxT - 1);
  const dim3 grid(unsigned(d.NH), unsigned(d.B));
  const size_t row_bytes = size_t(pos + 1) * sizeof(float);
  float* rows = row_bytes <= row_smem_bytes()
                    ? nullptr
                    : static_cast<float*>(device_scratch(kScratchAttnScores, size_t(d.B) * d.NH * row_bytes));
  attention_decode_kernel<<<grid, kRow, rows ? 0 : row_bytes>>>(out, att_row, q, kcache, vcache, d.C, d.NH, maxT,
                                                                pos, rows);
  CUDA_LAUNCHED();
}

}  // namespace gpt::gpu
