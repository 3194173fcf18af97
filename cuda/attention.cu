// Causal multi-head attention on the GPU (layers.h attention_*, kv_cache_write,
// attention_decode). A plain version, one block per (batch, head, query) row: scores
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
}  // namespace

namespace {
template <bool kBf16>
void forward(float* out, float* lse, const float* qkv, Dims d, Dropout drop, AttentionMode mode, float* att,
             float* scores) {
  const Geo g = geo(d, mode);
  const dim3 grid(unsigned(d.T), unsigned(d.NH), unsigned(d.B));
  attention_forward_kernel<kBf16><<<grid, kRow, size_t(d.T) * sizeof(float)>>>(out, lse, att, scores, qkv, g, drop);
  CUDA_LAUNCHED();
}
template <bool kBf16>
void backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, Dims d,
              Dropout drop, AttentionMode mode) {
  const Geo g = geo(d, mode);
  float* ds = nullptr;  // (B, NH, T, T) scratch
  CUDA_CHECK(cudaMalloc(&ds, size_t(d.B) * d.NH * d.T * d.T * sizeof(float)));
  const dim3 grid(unsigned(d.T), unsigned(d.NH), unsigned(d.B));
  attention_backward_rows<kBf16><<<grid, kRow, size_t(d.T) * sizeof(float)>>>(dqkv, ds, dout, qkv, out, lse, g, drop);
  CUDA_LAUNCHED();
  attention_backward_keys<kBf16><<<grid, kRow>>>(dqkv, ds, dout, qkv, lse, g, drop);
  CUDA_LAUNCHED();
  CUDA_CHECK(cudaFree(ds));  // cudaFree waits for the kernels that use it
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
