// The float paths' exp and GELU (pointwise.h, shared with the CUDA kernels) and the
// softmax core on top of them. glibc's expf/tanhf are scalar calls unless -ffast-math,
// which we never use. Double keeps std::exp / std::tanh, so the finite-difference checks
// run on the library functions.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "layers/pointwise.h"

namespace gpt::cpu {

using gpt::fast_expf;
using gpt::fast_tanhf;

// out[i] = exp(in[i] - shift) for i < n, returns their sum: the shared core of every
// softmax (attention weights, cross-entropy). out may alias in.
template <class S>
inline S exp_shifted_sum(S* out, const S* in, int n, S shift) {
  S sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; i++) {
    const S e = exp_t(in[i] - shift);
    out[i] = e;
    sum += e;
  }
  return sum;
}

}  // namespace gpt::cpu
