// Fused softmax + cross-entropy over the first V of Vp logit columns (the padded
// columns exist only for alignment: probability 0, gradient untouched).
#include <cmath>
#include <cstddef>

#include "check.h"
#include "layers.h"
#include "layers/fastmath.h"

namespace gpt::cpu {

namespace {
void check_targets(const int* targets, size_t N, int V, int Vp) {
  GPT_CHECK(V > 0 && V <= Vp, "vocab size V = ", V, " must be in [1, Vp = ", Vp, "]");
  for (size_t n = 0; n < N; n++)
    GPT_CHECK(targets[n] >= 0 && targets[n] < V, "target token id ", targets[n], " at row ", n,
              " is outside the vocabulary [0, ", V, "); was the data tokenized with another vocab?");
}
}  // namespace

template <class T>
void crossentropy_forward(T* losses, T* probs, const T* logits, const int* targets, size_t N, int V,
                          int Vp) {
  // logits, probs (N,Vp) (may alias); losses, targets (N)
  check_targets(targets, N, V, Vp);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < N; n++) {
    const T* x = logits + n * Vp;
    T* p = probs + n * Vp;
    T maxv = x[0];
#pragma omp simd reduction(max : maxv)
    for (int i = 1; i < V; i++) maxv = x[i] > maxv ? x[i] : maxv;
    const T target_logit = x[targets[n]];  // read before p (maybe == x) is written
    const T sum = exp_shifted_sum(p, x, V, maxv);
    const T inv = T(1) / sum;
#pragma omp simd
    for (int i = 0; i < V; i++) p[i] *= inv;  // probs = softmax(logits[:V])
    for (int i = V; i < Vp; i++) p[i] = 0;
    // -log softmax[target] in log-sum-exp form: finite even when the prob underflows.
    losses[n] = std::log(sum) + maxv - target_logit;
  }
}

template <class T>
void crossentropy_backward(T* dlogits, const T* probs, const int* targets, T dloss, size_t N, int V,
                           int Vp) {
  // dlogits, probs (N,Vp); targets (N); dloss: dL/dloss[n], the same for every row.
  // d(-log softmax[y])/dlogit_i = probs_i - [i == y]; columns >= V are left alone.
  check_targets(targets, N, V, Vp);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < N; n++) {
    const T* p = probs + n * Vp;
    T* g = dlogits + n * Vp;
#pragma omp simd
    for (int i = 0; i < V; i++) g[i] += p[i] * dloss;
    g[targets[n]] -= dloss;
  }
}

#define GPT_INSTANTIATE(T)                                                                     \
  template void crossentropy_forward<T>(T*, T*, const T*, const int*, size_t, int, int);       \
  template void crossentropy_backward<T>(T*, const T*, const int*, T, size_t, int, int);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
