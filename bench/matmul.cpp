// GEMM benchmark: the packed float kernel behind matmul_forward/backward on the GPT
// shapes of the two benchmark configs, in GFLOP/s, with the scalar reference timed
// side by side on one shape as the baseline. Prints a Markdown table.
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "layers.h"
#include "rng.h"

using namespace gpt;

namespace {
double seconds_per_call(const std::function<void()>& f, double min_s = 0.3) {
  f();  // warm-up (page faults, packing buffers)
  int reps = 0;
  auto t0 = std::chrono::steady_clock::now();
  double s = 0;
  do {
    f();
    reps++;
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (s < min_s);
  return s / reps;
}
std::vector<float> rnd(size_t n, uint64_t seed) {
  SplitMix64 r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(r.uniform() - 0.5);
  return v;
}
}  // namespace

int main() {
  struct Shape { const char* what; size_t N; int C, OC; };
  const Shape shapes[] = {
      {"6L qkv (B16 T256 C384)", 4096, 384, 1152}, {"6L fc", 4096, 384, 1536}, {"6L fcproj", 4096, 1536, 384},
      {"124M qkv (B4 T64 C768)", 256, 768, 2304},  {"124M fc", 256, 768, 3072}, {"124M fcproj", 256, 3072, 768},
      {"124M classifier (V 50304)", 256, 768, 50304},
  };
  std::printf("| shape | N x C -> OC | forward GFLOP/s | backward GFLOP/s |\n|---|---|---|---|\n");
  for (const Shape& s : shapes) {
    auto x = rnd(s.N * s.C, 1), w = rnd(size_t(s.OC) * s.C, 2), b = rnd(s.OC, 3), dy = rnd(s.N * s.OC, 4);
    std::vector<float> y(s.N * s.OC), dx(s.N * s.C), dw(size_t(s.OC) * s.C), db(s.OC);
    const double flops = 2.0 * double(s.N) * s.C * s.OC;
    const double tf = seconds_per_call([&] { cpu::matmul_forward(y.data(), x.data(), w.data(), b.data(), s.N, s.C, s.OC); });
    const double tb = seconds_per_call(
        [&] { cpu::matmul_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), s.N, s.C, s.OC); });
    std::printf("| %s | %zu x %d -> %d | %.1f | %.1f |\n", s.what, s.N, s.C, s.OC, flops / tf / 1e9, 2 * flops / tb / 1e9);
  }
  // Baseline in the same run: the scalar reference on a smaller shape.
  const size_t N = 512;
  const int C = 384, OC = 1152;
  auto x = rnd(N * C, 1), w = rnd(size_t(OC) * C, 2), b = rnd(OC, 3);
  std::vector<float> y(N * OC);
  const double tf = seconds_per_call([&] { cpu::matmul_forward(y.data(), x.data(), w.data(), b.data(), N, C, OC); });
  const double tr = seconds_per_call([&] { cpu::matmul_forward_reference(y.data(), x.data(), w.data(), b.data(), N, C, OC); }, 1.0);
  const double flops = 2.0 * N * C * OC;
  std::printf("\nBaseline, forward %zu x %d -> %d: packed GEMM %.1f GFLOP/s, scalar reference %.1f GFLOP/s, ratio %.1fx\n",
              N, C, OC, flops / tf / 1e9, flops / tr / 1e9, tr / tf);
  return 0;
}
