// Built by Portability.Bf16KernelsRunWhenBuiltForX86_64_v3 with -march=x86-64-v3 together
// with src/layers/gemm.cpp and gemm_bf16.cpp (the flags of scripts/gpu_check.sh's
// portable build), then run: every bf16 kernel this CPU supports must give the exact
// product of small integers, also when called inside a parallel region (attention's
// way). Exit 0: all agree; 1: a wrong element; 2: none to test. Prints what it ran.
#include <omp.h>

#include <cstdio>
#include <vector>

#include "layers/gemm.h"

using namespace gpt::cpu;

int main() {
  const int M = 70, N = 45, K = 100;
  std::vector<float> a(size_t(M) * K), b(size_t(K) * N), ref(size_t(M) * N, 0.0f);
  for (size_t i = 0; i < a.size(); i++) a[i] = float(int(i * 7 % 17) - 8);
  for (size_t i = 0; i < b.size(); i++) b[i] = float(int(i * 5 % 13) - 6);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++)
      for (int k = 0; k < K; k++) ref[size_t(i) * N + j] += a[size_t(i) * K + k] * b[size_t(k) * N + j];
  int tested = 0;
  for (Bf16Isa isa : {Bf16Isa::generic, Bf16Isa::avx512bf16, Bf16Isa::amx}) {
    if (!bf16_isa_supported(isa)) continue;
    set_bf16_isa(isa);
    for (int nested = 0; nested < 2; nested++) {
      std::vector<float> c(size_t(M) * N, -1.0f);
#pragma omp parallel num_threads(2) if (nested)
      {
#pragma omp single
        gemm_bf16(M, N, K, a.data(), size_t(K), 1, b.data(), size_t(N), 1, c.data(), size_t(N), false, nullptr);
      }
      for (size_t i = 0; i < c.size(); i++)
        if (c[i] != ref[i]) {
          std::printf("%s%s: element %zu is %g, expected %g\n", bf16_isa_name(isa), nested ? " (nested)" : "", i,
                      double(c[i]), double(ref[i]));
          return 1;
        }
    }
    std::printf("%s ok\n", bf16_isa_name(isa));
    tested++;
  }
  return tested ? 0 : 2;
}
