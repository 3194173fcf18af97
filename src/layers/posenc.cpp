// Fixed positional encodings: the sinusoidal table (added by the encoder) and RoPE
// (rotates q and k in place). Angles are computed in double for both precisions.
#include <cmath>
#include <cstddef>
#include <vector>

#include "check.h"
#include "layers.h"

namespace gpt::cpu {

template <class S>
void sinusoidal_table(S* table, int maxT, int C, double scale) {
  // table (maxT, C)
  GPT_CHECK(maxT >= 0 && C > 0, "maxT ", maxT, ", C ", C);
  // scale * sin in double, rounded once: with scale 1 the table is what it always was.
  // scale * sin in double, rounded once: with scale 1 the table is what it always was.
#pragma omp parallel for schedule(static)
  for (int p = 0; p < maxT; p++) {
    S* row = table + size_t(p) * C;
    for (int c = 0; c < C; c += 2) {
      const double angle = double(p) / std::pow(10000.0, double(c) / double(C));
      row[c] = S(scale * std::sin(angle));
      if (c + 1 < C) row[c + 1] = S(scale * std::cos(angle));
    }
  }
}

void rope_angles(double* angles, int P, int hs, int t0) {
  // angles (P, hs/2)
  GPT_CHECK(P >= 0 && hs > 0, "P ", P, ", hs ", hs);
  GPT_CHECK(hs % 2 == 0, "RoPE needs an even head size, got hs = ", hs);
  const int half = hs / 2;
  std::vector<double> inv_freq(half);
  for (int i = 0; i < half; i++) inv_freq[i] = std::pow(10000.0, -2.0 * i / hs);
  for (int p = 0; p < P; p++)
    for (int i = 0; i < half; i++) angles[size_t(p) * half + i] = (double(t0) + double(p)) * inv_freq[i];
}

namespace {
// Rotates every (x[2i], x[2i+1]) pair of the q and k heads of qkv (B,T,3C) by
// sign * rope_angles[p, i]; sign -1 applies the inverse (transposed) rotation.
template <class S>
void rope_apply(S* qkv, Dims d, int t0, double sign) {
  const int C = d.C, NH = d.NH;
  GPT_CHECK(NH > 0 && C % NH == 0, "C ", C, " is not a multiple of NH ", NH);
  const int hs = C / NH;
  GPT_CHECK(hs % 2 == 0, "RoPE needs an even head size, got hs = ", hs);
  const int half = hs / 2;
  const size_t N = d.BT();
  std::vector<double> angles(size_t(d.T) * half);  // one row per position t0 .. t0+T-1
  rope_angles(angles.data(), d.T, hs, t0);
#pragma omp parallel if (N * size_t(C) >= kParallelMin)
  {
    std::vector<S> cs(half), sn(half);  // per thread: cos/sin for one position
#pragma omp for schedule(static)
    for (size_t n = 0; n < N; n++) {
      const double* ang = angles.data() + (n % size_t(d.T)) * half;
      for (int i = 0; i < half; i++) {
        cs[i] = S(std::cos(ang[i]));
        sn[i] = S(sign * std::sin(ang[i]));
      }
      S* row = qkv + n * 3 * size_t(C);
      for (int h = 0; h < 2 * NH; h++) {  // q heads then k heads (contiguous)
        S* x = row + size_t(h) * hs;
        for (int i = 0; i < half; i++) {
          const S x0 = x[2 * i], x1 = x[2 * i + 1];
          x[2 * i] = cs[i] * x0 - sn[i] * x1;
          x[2 * i + 1] = sn[i] * x0 + cs[i] * x1;
        }
      }
    }
  }
}
}  // namespace

template <class S>
void rope_forward(S* qkv, Dims d, int t0) {
  // qkv (B,T,3C), in place on the q and k thirds
  rope_apply(qkv, d, t0, 1.0);
}

template <class S>
void rope_backward(S* dqkv, Dims d, int t0) {
  // dqkv (B,T,3C), in place. Forward: y0 = c*x0 - s*x1; y1 = s*x0 + c*x1, i.e. y = R x
  // with R orthogonal, so dx = R^T dy: the same rotation with -s.
  rope_apply(dqkv, d, t0, -1.0);
}

#define GPT_INSTANTIATE(S)                                   \
  template void sinusoidal_table<S>(S*, int, int, double);   \
  template void rope_forward<S>(S*, Dims, int);              \
  template void rope_backward<S>(S*, Dims, int);
GPT_INSTANTIATE(float)
GPT_INSTANTIATE(double)
#undef GPT_INSTANTIATE

}  // namespace gpt::cpu
