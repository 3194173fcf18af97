// Token + positional embedding (encoder_forward/backward). Does not know the vocab
// size (Dims carries none), so it can only reject negative token ids.
#include <cstddef>

#include "check.h"
#include "layers.h"

namespace gpt::cpu {

namespace {
// Channels per block in the dwte reduction: one 64-byte line of floats.
constexpr int kChanBlock = 16;

void check_tokens(const int* inp, size_t n) {
  for (size_t i = 0; i < n; i++)
    GPT_CHECK(inp[i] >= 0, "token id ", inp[i], " at position ", i,
              " is negative; the token file or the tokenizer is corrupt");
}
}  // namespace

template <class S>
void encoder_forward(S* out, const int* inp, const S* wte, const S* pos_table, Dims d, int t0) {
  // out (B,T,C); inp (B,T); wte (Vp,C); pos_table (maxT,C) or nullptr
  const size_t N = d.BT();
  const int C = d.C;
  check_tokens(inp, N);
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; n++) {
    S* o = out + n * C;
    const S* w = wte + size_t(inp[n]) * C;
    if (pos_table) {
      const size_t t = size_t(t0) + n % size_t(d.T);
      const S* p = pos_table + t * C;
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] = w[c] + p[c];
    } else {
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] = w[c];
    }
  }
}

template <class S>
void encoder_backward(S* dwte, S* dwpe, const S* dout, const int* inp, Dims d) {
  // dwte (Vp,C), dwpe (maxT,C) or nullptr; dout (B,T,C); inp (B,T)
  const size_t N = d.BT();
  const int C = d.C, B = d.B, T = d.T;
  check_tokens(inp, N);
  // forward: o[c] = w[c] + ... with w = wte[inp[n]]. Rows may share a token, so each
  // thread owns a block of channels and walks every row in order: race-free, and
  // the summation order per element is fixed whatever the thread count.
  const int nblocks = (C + kChanBlock - 1) / kChanBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < nblocks; blk++) {
    const int c0 = blk * kChanBlock;
    const int c1 = c0 + kChanBlock < C ? c0 + kChanBlock : C;
    for (size_t n = 0; n < N; n++) {
      S* g = dwte + size_t(inp[n]) * C;
      const S* dn = dout + n * C;
#pragma omp simd
      for (int c = c0; c < c1; c++) g[c] += dn[c];
    }
  }
  if (!dwpe) return;
  // forward: o[c] = w[c] + p[c] with p = pos_table[t]; position t sums over b in order.
#pragma omp parallel for schedule(static)
  for (int t = 0; t < T; t++) {
    S* g = dwpe + size_t(t) * C;
    for (int b = 0; b < B; b++) {
      const S* dn = dout + (size_t(b) * T + t) * C;
#pragma omp simd
      for (int c = 0; c < C; c++) g[c] += dn[c];
    }
  }
}

#define GPT_INSTANTIATE(S)                                                      \
  template void encoder_forward<S>(S*, const int*, const S*, const S*, Dims, int); \
  template void encoder_backward<S>(S*, S*, const S*, const int*, Dims);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
