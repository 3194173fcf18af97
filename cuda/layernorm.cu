// LayerNorm on the GPU (layers.h layernorm_*): one block per row; the weight and bias
// gradients by one thread per channel walking the rows in order (deterministic).
#include "common.cuh"

namespace gpt::gpu {
namespace {
constexpr float kEps = 1e-5f;

// res = a + b (when a is given; else x = b), then out, mean, rstd of that row.
__global__ void layernorm_kernel(float* res, float* out, float* mean, float* rstd, const float* a, const float* x,
                                 const float* w, const float* bias, int C) {
  const size_t row = blockIdx.x;
  const float* xr = x + row * C;
  float* rr = res ? res + row * C : nullptr;
  float s = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float v = xr[c];
    if (a) {
      v += a[row * C + c];
      rr[c] = v;
    }
    s += v;
  }
  const float m = block_sum(s) / float(C);
  const float* src = a ? rr : xr;  // this thread wrote (and now reads) its own elements
  float sq = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float xm = src[c] - m;
    sq += xm * xm;
  }
  const float r = 1.0f / sqrtf(block_sum(sq) / float(C) + kEps);
  for (int c = threadIdx.x; c < C; c += blockDim.x) out[row * C + c] = (src[c] - m) * r * w[c] + bias[c];
  if (threadIdx.x == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

__global__ void layernorm_backward_rows(float* dinp, const float* dout, const float* x, const float* w,
                                        const float* mean, const float* rstd, int C) {
  const size_t row = blockIdx.x;
  const float m = mean[row], s = rstd[row];
  const float* xr = x + row * C;
  const float* dr = dout + row * C;
  float a = 0.0f, b = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float dn = dr[c] * w[c];
    a += dn;
    b += dn * (xr[c] - m) * s;
  }
  const float mean_dn = block_sum(a) / float(C), mean_dnn = block_sum(b) / float(C);
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float norm = (xr[c] - m) * s;
    dinp[row * C + c] += s * (dr[c] * w[c] - mean_dn - norm * mean_dnn);
  }
}

// dweight[c] += sum_n dout (x - mean) rstd, dbias[c] += sum_n dout (column_sums).
struct NormGrad {
  const float *dout, *x, *mean, *rstd;
  int C;
  __device__ float operator()(size_t n, int c) const {
    const size_t i = n * size_t(C) + c;
    return dout[i] * (x[i] - mean[n]) * rstd[n];
  }
};
}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                              const float* bias, size_t N, int C) {
  if (N == 0) return;
  layernorm_kernel<<<unsigned(N), kThreads>>>(nullptr, out, mean, rstd, nullptr, inp, weight, bias, C);
  CUDA_LAUNCHED();
}

void residual_layernorm_forward(float* res, float* out, float* mean, float* rstd, const float* a,
                                       const float* b, const float* weight, const float* bias, size_t N, int C) {
  if (N == 0) return;
  layernorm_kernel<<<unsigned(N), kThreads>>>(res, out, mean, rstd, a, b, weight, bias, C);
  CUDA_LAUNCHED();
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                               const float* weight, const float* mean, const float* rstd, size_t N, int C) {
  if (N == 0) return;
  layernorm_backward_rows<<<unsigned(N), kThreads>>>(dinp, dout, inp, weight, mean, rstd, C);
  CUDA_LAUNCHED();
  column_sums(dweight, N, C, NormGrad{dout, inp, mean, rstd, C});
  column_sums(dbias, N, C, RowMajorAt{dout, C});
}

}  // namespace gpt::gpu
