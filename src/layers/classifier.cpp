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

// One row: p = softmax(x[:V]) (p may be x), padded columns 0; returns -log p[target].
template <class S>
S softmax_row(S* p, const S* x, int V, int Vp, int target) {
  S maxv = x[0];
#pragma omp simd reduction(max : maxv)
  for (int i = 1; i < V; i++) maxv = x[i] > maxv ? x[i] : maxv;
  const S target_logit = x[target];  // read before p (maybe == x) is written
  const S sum = exp_shifted_sum(p, x, V, maxv);
  const S inv = S(1) / sum;
#pragma omp simd
  for (int i = 0; i < V; i++) p[i] *= inv;  // probs = softmax(logits[:V])
  for (int i = V; i < Vp; i++) p[i] = 0;
  // -log softmax[target] in log-sum-exp form: finite even when the prob underflows.
  return std::log(sum) + maxv - target_logit;
}
// One row of probabilities becomes its gradient: p * dloss, then dloss off the target.
template <class S>
void probs_to_grad_row(S* g, int V, int target, S dloss) {
#pragma omp simd
  for (int i = 0; i < V; i++) g[i] = g[i] * dloss;
  g[target] -= dloss;
}
}  // namespace

template <class S>
void crossentropy_forward(S* losses, S* probs, const S* logits, const int* targets, size_t N, int V,
                          int Vp) {
  // logits, probs (N,Vp) (may alias); losses, targets (N)
  check_targets(targets, N, V, Vp);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < N; n++) losses[n] = softmax_row(probs + n * Vp, logits + n * Vp, V, Vp, targets[n]);
}

template <class S>
void crossentropy_fused(S* losses, S* logits_to_dlogits, const int* targets, S dloss, size_t N, int V, int Vp) {
  // Each row while it is in cache: the softmax and loss, then the gradient.
  check_targets(targets, N, V, Vp);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < N; n++) {
    S* g = logits_to_dlogits + n * Vp;
    losses[n] = softmax_row(g, g, V, Vp, targets[n]);
    probs_to_grad_row(g, V, targets[n], dloss);
  }
}

template <class S>
void crossentropy_backward(S* dlogits, const S* probs, const int* targets, S dloss, size_t N, int V,
                           int Vp) {
  // dlogits, probs (N,Vp); targets (N); dloss: dL/dloss[n], the same for every row.
  // d(-log softmax[y])/dlogit_i = probs_i - [i == y]; columns >= V (padding) get 0.
  check_targets(targets, N, V, Vp);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < N; n++) {
    const S* p = probs + n * Vp;
    S* g = dlogits + n * Vp;
#pragma omp simd
    for (int i = 0; i < V; i++) g[i] = p[i] * dloss;
    for (int i = V; i < Vp; i++) g[i] = S(0);
    g[targets[n]] -= dloss;
  }
}

template <class S>
void crossentropy_backward_inplace(S* probs_to_dlogits, const int* targets, S dloss, size_t N, int V, int Vp) {
  // The same products as crossentropy_backward from zero (0 + p * dloss is p * dloss:
  // p >= 0, so no -0), then the same subtraction at the target.
  check_targets(targets, N, V, Vp);
#pragma omp parallel for schedule(static)
  for (size_t n = 0; n < N; n++) {
    S* g = probs_to_dlogits + n * Vp;
    for (int i = V; i < Vp; i++) g[i] = 0;
    probs_to_grad_row(g, V, targets[n], dloss);
  }
}

#define GPT_INSTANTIATE(S)                                                                     \
  template void crossentropy_forward<S>(S*, S*, const S*, const int*, size_t, int, int);       \
  template void crossentropy_backward<S>(S*, const S*, const int*, S, size_t, int, int);       \
  template void crossentropy_backward_inplace<S>(S*, const int*, S, size_t, int, int);       \
  template void crossentropy_fused<S>(S*, S*, const int*, S, size_t, int, int);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
