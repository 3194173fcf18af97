// GEMM benchmark: the packed float kernels behind matmul_forward/backward on the GPT
// shapes of the two benchmark configs, in GFLOP/s, side by side with OpenBLAS's
// cblas_sgemm on the same shapes (when the bench is built with it: a yardstick here,
// never linked into bin/gpt) and with the scalar reference on one shape. Also measures
// the machine's FMA peak (register-only FMA chains on every thread) so the report can
// say what fraction of it each kernel reaches. Prints Markdown.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#ifdef GPT_BENCH_OPENBLAS
#include <cblas.h>
#endif

#include "layers.h"
#include "layers/gemm.h"
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

// FMA peak: each thread runs 12 independent FMA chains on registers (enough to cover
// the latency of two pipes), nothing touches memory.
double fma_peak_gflops(long iters = 100000000) {
  double t0 = omp_get_wtime();
  float sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    __m512 a[12];
    const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(float(i + omp_get_thread_num()));
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    for (int i = 1; i < 12; i++) a[0] = _mm512_add_ps(a[0], a[i]);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, a[0]);
    for (float l : lanes) sink += l;
  }
  const double t = omp_get_wtime() - t0;
  if (sink == 12345.0f) std::printf(" ");
  return 2.0 * 16 * 12 * double(iters) * omp_get_max_threads() / t / 1e9;
}
}  // namespace

// Read bandwidth: every thread sums its part of a buffer of `bytes` (best of 10), the
// yardstick for decoding, which streams the weights once per token.
double read_gbps(size_t bytes) {
  const size_t n = bytes / sizeof(float) / 64 * 64;
  float* a = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) a[i] = 1.0f;
  double best = 1e30;
  float sink = 0;
  for (int r = 0; r < 10; r++) {
    const double t0 = omp_get_wtime();
    float tot = 0;
#pragma omp parallel reduction(+ : tot)
    {
      __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
#pragma omp for schedule(static)
      for (size_t i = 0; i < n; i += 64)
        for (int k = 0; k < 4; k++) acc[k] = _mm512_add_ps(acc[k], _mm512_load_ps(a + i + 16 * k));
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
      for (float l : lanes) tot += l;
    }
    best = std::min(best, omp_get_wtime() - t0);
    sink += tot;
  }
  std::free(a);
  if (sink == 12345.0f) std::printf(" ");
  return double(n * sizeof(float)) / best / 1e9;
}

int main(int argc, char** argv) {
  const char* usage =
      "usage: bench_matmul                     the GEMM report (measures both peaks first)\n"
      "       bench_matmul --peaks FP32 BF16   the GEMM report against peaks measured before (scripts/bench.sh:\n"
      "                                        one measurement for the whole report)\n"
      "       bench_matmul --peak-only         the fp32 FMA peak, GFLOP/s\n"
      "       bench_matmul --bf16-peak-only    the bf16 kernel's peak, GFLOP/s (the fp32 peak without one)\n"
      "       bench_matmul --bandwidth BYTES   read bandwidth over a buffer of BYTES, GB/s\n";
  const std::string a1 = argc > 1 ? argv[1] : "";
  const bool known = argc == 1 || ((a1 == "--peak-only" || a1 == "--bf16-peak-only") && argc == 2) ||
                     ((a1 == "--bandwidth") && argc == 3) || (a1 == "--peaks" && argc == 4);
  if (a1 == "-h" || a1 == "--help") {
    std::fputs(usage, stdout);
    return 0;
  }
  if (!known) {  // (--help ran the whole benchmark)
    std::fprintf(stderr, "bench_matmul: unknown arguments\n%s", usage);
    return 2;
  }
  if (a1 == "--bandwidth") {
    std::printf("%.1f\n", read_gbps(size_t(std::atof(argv[2]))));
    return 0;
  }
  double peak = 0, peak16 = 0;
  if (a1 == "--peaks") {
    peak = std::atof(argv[2]), peak16 = std::atof(argv[3]);
    if (!(peak > 0) || !(peak16 > 0)) {
      std::fprintf(stderr, "bench_matmul: --peaks needs two positive GFLOP/s figures, got '%s' '%s'\n", argv[2],
                   argv[3]);
      return 2;
    }
    if (cpu::bf16_isa() == cpu::Bf16Isa::generic) peak16 = 0;  // (--bf16-peak-only gave the fp32 peak)
  } else {
    for (int r = 0; r < 3; r++)  // best of three: the first run also pays thread start-up and clock ramp-up
      peak = std::max(peak, fma_peak_gflops());
    if (a1 == "--peak-only") {
      std::printf("%.0f\n", peak);
      return 0;
    }
    for (int r = 0; r < 3; r++) peak16 = std::max(peak16, cpu::bf16_peak_gflops(0.2));
    if (a1 == "--bf16-peak-only") {
      std::printf("%.0f\n", peak16 > 0 ? peak16 : peak);
      return 0;
    }
  }
  std::printf("Measured fp32 FMA peak: %.0f GFLOP/s (%d threads, 512-bit FMA chains in registers%s)\n\n", peak,
              omp_get_max_threads(), a1 == "--peaks" ? "; measured once for this whole report" : "");
  struct Shape { const char* what; size_t N; int C, OC; };
  const Shape shapes[] = {
      {"6L qkv (B16 T256 C384)", 4096, 384, 1152}, {"6L fc", 4096, 384, 1536}, {"6L fcproj", 4096, 1536, 384},
      {"124M qkv (B4 T64 C768)", 256, 768, 2304},  {"124M fc", 256, 768, 3072}, {"124M fcproj", 256, 3072, 768},
      {"124M classifier (V 50304)", 256, 768, 50304},
  };
#ifdef GPT_BENCH_OPENBLAS
  std::printf("| shape | N x C -> OC | fwd ours | fwd OpenBLAS | fwd ratio | bwd ours | bwd OpenBLAS | bwd ratio |\n"
              "|---|---|---|---|---|---|---|---|\n");
#else
  std::printf("| shape | N x C -> OC | forward GFLOP/s | backward GFLOP/s |\n|---|---|---|---|\n");
#endif
  double sum_ours = 0, sum_blas = 0;
  for (const Shape& s : shapes) {
    auto x = rnd(s.N * s.C, 1), w = rnd(size_t(s.OC) * s.C, 2), b = rnd(s.OC, 3), dy = rnd(s.N * s.OC, 4);
    std::vector<float> y(s.N * s.OC), dx(s.N * s.C), dw(size_t(s.OC) * s.C), db(s.OC);
    const double flops = 2.0 * double(s.N) * s.C * s.OC;
    const double tf = seconds_per_call([&] { cpu::matmul_forward(y.data(), x.data(), w.data(), b.data(), s.N, s.C, s.OC); });
    const double tb = seconds_per_call(
        [&] { cpu::matmul_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), s.N, s.C, s.OC); });
#ifdef GPT_BENCH_OPENBLAS
    const int N = int(s.N), C = s.C, OC = s.OC;
    // The same three products: y = x w^T (+ bias), dx += dy w, dw += dy^T x (+ the bias sum).
    const double bf = seconds_per_call([&] {
      for (int i = 0; i < N; i++) std::memcpy(y.data() + size_t(i) * OC, b.data(), OC * sizeof(float));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, x.data(), C, w.data(), C, 1.0f, y.data(), OC);
    });
    const double bb = seconds_per_call([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dy.data(), OC, w.data(), C, 1.0f, dx.data(), C);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dy.data(), OC, x.data(), C, 1.0f, dw.data(), C);
      for (int i = 0; i < N; i++)
        for (int o = 0; o < OC; o++) db[o] += dy[size_t(i) * OC + o];
    });
    std::printf("| %s | %zu x %d -> %d | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |\n", s.what, s.N, s.C, s.OC,
                flops / tf / 1e9, flops / bf / 1e9, bf / tf, 2 * flops / tb / 1e9, 2 * flops / bb / 1e9, bb / tb);
    sum_ours += tf + tb;
    sum_blas += bf + bb;
#else
    std::printf("| %s | %zu x %d -> %d | %.1f | %.1f |\n", s.what, s.N, s.C, s.OC, flops / tf / 1e9, 2 * flops / tb / 1e9);
#endif
  }
#ifdef GPT_BENCH_OPENBLAS
  std::printf("\nAll shapes, forward + backward: ours %.2fx OpenBLAS's speed (time ratio, > 1 = ours faster).\n",
              sum_blas / sum_ours);
#else
  std::printf("\n(OpenBLAS comparison not built: install libopenblas-dev and rerun make bench.)\n");
  (void)sum_ours, (void)sum_blas;
#endif
  // Baseline in the same run: the scalar reference on a smaller shape.
  const size_t N = 512;
  const int C = 384, OC = 1152;
  auto x = rnd(N * C, 1), w = rnd(size_t(OC) * C, 2), b = rnd(OC, 3);
  std::vector<float> y(N * OC);
  const double tf = seconds_per_call([&] { cpu::matmul_forward(y.data(), x.data(), w.data(), b.data(), N, C, OC); });
  const double tr = seconds_per_call([&] { cpu::matmul_forward_reference(y.data(), x.data(), w.data(), b.data(), N, C, OC); }, 1.0);
  const double flops = 2.0 * N * C * OC;
  std::printf("\nScalar baseline, forward %zu x %d -> %d: packed GEMM %.1f GFLOP/s, scalar reference %.1f GFLOP/s, ratio %.1fx\n",
              N, C, OC, flops / tf / 1e9, flops / tr / 1e9, tr / tf);

  // --dtype bf16's products (gemm_bf16) against the fp32 engine, same shapes, same run.
  std::printf("\n### bf16 (--dtype bf16): %s kernels; measured bf16 peak %.0f GFLOP/s (%s)\n\n",
              cpu::bf16_isa_name(cpu::bf16_isa()), peak16 > 0 ? peak16 : peak,
              peak16 > 0 ? "the kernel's instruction on registers, all threads" : "generic kernel: the fp32 FMA peak");
  std::printf("| shape | N x C -> OC | fwd fp32 | fwd bf16 | fwd ratio | bwd fp32 | bwd bf16 | bwd ratio |\n"
              "|---|---|---|---|---|---|---|---|\n");
  double t32 = 0, t16 = 0;
  for (const Shape& s : shapes) {
    auto x = rnd(s.N * s.C, 1), w = rnd(size_t(s.OC) * s.C, 2), b = rnd(s.OC, 3), dy = rnd(s.N * s.OC, 4);
    std::vector<float> y(s.N * s.OC), dx(s.N * s.C), dw(size_t(s.OC) * s.C), db(s.OC);
    const double fl = 2.0 * double(s.N) * s.C * s.OC;
    const double f32 = seconds_per_call([&] { cpu::matmul_forward(y.data(), x.data(), w.data(), b.data(), s.N, s.C, s.OC); });
    const double f16 = seconds_per_call([&] { cpu::matmul_forward_bf16(y.data(), x.data(), w.data(), b.data(), s.N, s.C, s.OC); });
    const double b32 = seconds_per_call(
        [&] { cpu::matmul_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), s.N, s.C, s.OC); });
    const double b16 = seconds_per_call(
        [&] { cpu::matmul_backward_bf16(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), s.N, s.C, s.OC); });
    std::printf("| %s | %zu x %d -> %d | %.0f | %.0f | %.2fx | %.0f | %.0f | %.2fx |\n", s.what, s.N, s.C, s.OC,
                fl / f32 / 1e9, fl / f16 / 1e9, f32 / f16, 2 * fl / b32 / 1e9, 2 * fl / b16 / 1e9, b32 / b16);
    t32 += f32 + b32;
    t16 += f16 + b16;
  }
  std::printf("\nAll shapes, forward + backward: bf16 %.2fx fp32's speed (time ratio).\n", t32 / t16);
  return 0;
}
