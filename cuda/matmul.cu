// The fully connected layer on the GPU (layers.h matmul_*). Every product is one call
// of sgemm: C(i,j) (= or +=) sum_k A(i,k) B(k,j) [+ bias(j)], A(i,k) = A[i*ars + k*acs],
// B(k,j) = B[k*brs + j*bcs] -- the strides the CPU engine (gemm.h) takes, so each product
// is set up exactly as on the CPU. Two engines behind it:
//   * cuBLAS (cublasSgemm, fp32, no TF32: the default math mode), loaded at run time
//     (dlopen of libcublas.so.13/.12, or $GPT_CUBLAS_LIBRARY), so bin/gpt starts where it
//     is missing; row-major products are handed over as their column-major transposes.
//   * with it, cuBLASLt (libcublasLt.so.13/.12, or $GPT_CUBLASLT_LIBRARY) for the
//     products with work in their epilogue: the forward's bias (CUBLASLT_EPILOGUE_BIAS,
//     instead of writing the bias first and reading it back in a cuBLAS product with
//     beta = 1), the fc layer's bias and GELU (GELU_AUX_BIAS: the GELU's output, and
//     its input as the auxiliary matrix, in one pass) and the GELU's derivative in the
//     backward (DGELU: dpre = gelu'(pre) * (dout · W), the product never stored alone).
//     Where cuBLASLt refuses a shape the cuBLAS way runs, with GELU as a separate kernel.
//   * gpt.cc's own kernel: 32x32 tiles through shared memory, k in order per element.
// GPT_CUDA_GEMM=auto|cublaslt|cublas|own (default auto: cuBLAS with cuBLASLt when both load,
// cuBLAS alone when only it does, else the own kernel, said once on stderr). All are
// deterministic run to run.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#ifdef GPT_CUDA_EMULATION
#include "cublasLt.h"  // tests/cuda_emu's stand-ins (types only)
#include "cublas_v2.h"
#else
#include <cublasLt.h>  // types only: the entry points come from dlsym
#include <cublas_v2.h>
#endif

#include "bf16.h"
#include "common.cuh"
#include "device.h"
#include "layers/pointwise.h"

namespace gpt::gpu {
namespace {
constexpr int kTile = 32;

// kBf16: every operand rounded to bf16 as it is loaded (bf16.h's rule), fp32 sums.
template <bool kBf16>
__global__ void gemm_kernel(int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs,
                            size_t bcs, float* C, size_t ldc, bool accumulate, const float* bias) {
  __shared__ float As[kTile][kTile + 1], Bs[kTile][kTile + 1];
  const int i = blockIdx.y * kTile + threadIdx.y, j = blockIdx.x * kTile + threadIdx.x;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += kTile) {
    const int ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    const float a = (i < M && ka < K) ? A[size_t(i) * ars + size_t(ka) * acs] : 0.0f;
    const float b = (kb < K && j < N) ? B[size_t(kb) * brs + size_t(j) * bcs] : 0.0f;
    As[threadIdx.y][threadIdx.x] = kBf16 ? bf16_rounded(a) : a;
    Bs[threadIdx.y][threadIdx.x] = kBf16 ? bf16_rounded(b) : b;
    __syncthreads();
#pragma unroll 8
    for (int k = 0; k < kTile; k++) acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
    __syncthreads();
  }
  if (i < M && j < N) {
    float* c = C + size_t(i) * ldc + j;
    if (bias) acc += bias[j];
    *c = accumulate ? *c + acc : acc;
  }
}

void own_sgemm(bool bf16, int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs,
               size_t bcs, float* C, size_t ldc, bool accumulate, const float* bias) {
  const dim3 block(kTile, kTile), grid(unsigned((N + kTile - 1) / kTile), unsigned((M + kTile - 1) / kTile));
  if (bf16)
    gemm_kernel<true><<<grid, block>>>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias);
  else
    gemm_kernel<false><<<grid, block>>>(M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias);
  CUDA_LAUNCHED();
}

// dst (rows x cols, column j at dst + j*rows) = bf16 of src's (column j at src + j*ld).
__global__ void to_bf16_dense_kernel(uint16_t* dst, const float* src, size_t rows, size_t cols, size_t ld) {
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * cols) return;
  const size_t r = idx % rows, c = idx / rows;
  dst[idx] = float_to_bf16(src[r + c * ld]);
}
// C(i, j) = bias[j] for every row (then cuBLAS adds the product with beta = 1), or
// C(i, j) += bias[j] after a product that accumulated.
__global__ void bias_rows_kernel(float* C, size_t ldc, const float* bias, int M, int N, bool add) {
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= size_t(M) * N) return;
  const size_t i = idx / size_t(N), j = idx % size_t(N);
  C[i * ldc + j] = add ? C[i * ldc + j] + bias[j] : bias[j];
}

struct Cublas {
  std::string library;
  cublasHandle_t handle = nullptr;
  decltype(&cublasSgemm_v2) Sgemm = nullptr;
  decltype(&cublasGetStatusString) StatusString = nullptr;
  // cublasGemmEx's C signature (cublas_api.h also has a C++ overload, so no decltype).
  using GemmExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                      const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                                      cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  GemmExFn GemmEx = nullptr;
};

// dlopen of the file $env names, else the first of the sonames (CUDA 13's, 12's, the
// unversioned one) that loads: the handle and its name, or nullptr and *why (what was
// tried and dlerror's last word).
void* open_library(const char* env, const char* stem, std::string* library, std::string* why) {
  std::string tried;
  const char* forced = std::getenv(env);
  const std::string names[] = {forced ? forced : "", stem + std::string(".so.13"), stem + std::string(".so.12"),
                               stem + std::string(".so")};
  for (const std::string& name : names) {
    if (name.empty()) continue;
    tried += (tried.empty() ? "" : ", ") + name;
    if (void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      *library = name;
      return h;
    }
    if (const char* e = dlerror()) *why = e;
    if (forced && name == forced) break;  // the file asked for, or nothing
  }
  *why = "tried " + tried + ": " + *why;
  return nullptr;
}

// cuBLAS, loaded once; nullptr (and *why set) when it cannot be.
const Cublas* load_cublas(std::string* why_not) {
  static Cublas c;
  static bool tried_once = false, ok = false;
  static std::string why;
  if (!tried_once) {
    tried_once = true;
    void* h = open_library("GPT_CUBLAS_LIBRARY", "libcublas", &c.library, &why);
    if (h) {
      auto Create = reinterpret_cast<decltype(&cublasCreate_v2)>(dlsym(h, "cublasCreate_v2"));
      c.Sgemm = reinterpret_cast<decltype(&cublasSgemm_v2)>(dlsym(h, "cublasSgemm_v2"));
      c.StatusString = reinterpret_cast<decltype(&cublasGetStatusString)>(dlsym(h, "cublasGetStatusString"));
      c.GemmEx = reinterpret_cast<Cublas::GemmExFn>(dlsym(h, "cublasGemmEx"));
      cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
      if (!Create || !c.Sgemm || !c.StatusString || !c.GemmEx)
        why = c.library + " lacks cublasCreate_v2, cublasSgemm_v2, cublasGemmEx or cublasGetStatusString";
      else if ((st = Create(&c.handle)) != CUBLAS_STATUS_SUCCESS)
        why = std::string("cublasCreate failed: ") + c.StatusString(st);
      else
        ok = true;
    }
  }
  if (!ok && why_not) *why_not = why;
  return ok ? &c : nullptr;
}

// cuBLASLt's entry points (dlsym), its handle and workspace, and the algorithm chosen
// per product shape (cublasLtMatmulAlgoGetHeuristic once per shape and alignment).
struct CublasLt {
  std::string library;
  cublasLtHandle_t handle = nullptr;
  decltype(&cublasLtMatmulDescCreate) DescCreate = nullptr;
  decltype(&cublasLtMatmulDescDestroy) DescDestroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) DescSet = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) LayoutCreate = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) LayoutDestroy = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) PrefCreate = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) PrefDestroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) PrefSet = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) Heuristic = nullptr;
  decltype(&cublasLtMatmul) Matmul = nullptr;
  void* workspace = nullptr;
  static constexpr size_t kWorkspace = size_t(32) << 20;  // what cuBLAS itself keeps on Hopper
  // (bf16, epilogue, op A, op B, m, n, k, lda, ldb, ldd, the alignments of A, B, C/D, the
  // bias and the auxiliary matrix) -> algorithm; absent: not asked yet; algo_ok false:
  // cuBLASLt refused the shape.
  using Key = std::tuple<bool, uint32_t, int, int, int, int, int, int, int, int, uint32_t, uint32_t, uint32_t,
                         uint32_t, uint32_t>;
  struct Choice {
    cublasLtMatmulAlgo_t algo;
    bool algo_ok;
  };
  std::map<Key, Choice> choices;
  int gelu_agrees = -1;  // lt_gelu_agrees's answer, once asked (-1: not yet)
};

CublasLt* load_cublaslt(std::string* why_not) {
  static CublasLt c;
  static bool tried_once = false, ok = false;
  static std::string why;
  if (!tried_once) {
    tried_once = true;
    void* h = open_library("GPT_CUBLASLT_LIBRARY", "libcublasLt", &c.library, &why);
    if (h) {
      auto sym = [&](auto& fn, const char* name) { fn = reinterpret_cast<std::decay_t<decltype(fn)>>(dlsym(h, name)); };
      decltype(&cublasLtCreate) Create = nullptr;
      sym(Create, "cublasLtCreate");
      sym(c.DescCreate, "cublasLtMatmulDescCreate");
      sym(c.DescDestroy, "cublasLtMatmulDescDestroy");
      sym(c.DescSet, "cublasLtMatmulDescSetAttribute");
      sym(c.LayoutCreate, "cublasLtMatrixLayoutCreate");
      sym(c.LayoutDestroy, "cublasLtMatrixLayoutDestroy");
      sym(c.PrefCreate, "cublasLtMatmulPreferenceCreate");
      sym(c.PrefDestroy, "cublasLtMatmulPreferenceDestroy");
      sym(c.PrefSet, "cublasLtMatmulPreferenceSetAttribute");
      sym(c.Heuristic, "cublasLtMatmulAlgoGetHeuristic");
      sym(c.Matmul, "cublasLtMatmul");
      if (!Create || !c.DescCreate || !c.DescDestroy || !c.DescSet || !c.LayoutCreate || !c.LayoutDestroy ||
          !c.PrefCreate || !c.PrefDestroy || !c.PrefSet || !c.Heuristic || !c.Matmul)
        why = c.library + " lacks one of the cublasLt entry points gpt.cc uses";
      else if (Create(&c.handle) != CUBLAS_STATUS_SUCCESS)
        why = "cublasLtCreate failed";
      else if (cudaMalloc(&c.workspace, CublasLt::kWorkspace) != cudaSuccess)
        why = "no device memory for cuBLASLt's workspace";
      else
        ok = true;
    }
  }
  if (!ok && why_not) *why_not = why;
  return ok ? &c : nullptr;
}

int g_engine_for_tests = -1;  // set_gemm_engine_for_tests: -1 GPT_CUDA_GEMM, 0 own, 1 cuBLAS, 2 cuBLAS + cuBLASLt

struct Engine {
  const Cublas* blas;   // nullptr: the own kernel
  CublasLt* lt;         // nullptr: no epilogues (bias written first)
};
std::optional<Engine> g_env_engine;  // GPT_CUDA_GEMM's, read at first use (set_gemm_engine_for_tests(-1) forgets it)
// The engine GPT_CUDA_GEMM asks for.
Engine engine() {
  if (g_engine_for_tests >= 0) {
    if (g_engine_for_tests == 0) return {nullptr, nullptr};
    std::string why;
    const Cublas* c = load_cublas(&why);
    if (!c) GPT_FAIL("cuBLAS asked for by a test could not be loaded (", why, ")");
    if (g_engine_for_tests == 1) return {c, nullptr};
    CublasLt* lt = load_cublaslt(&why);
    if (!lt) GPT_FAIL("cuBLASLt asked for by a test could not be loaded (", why, ")");
    return {c, lt};
  }
  if (!g_env_engine) g_env_engine = []() -> Engine {
    const char* env = std::getenv("GPT_CUDA_GEMM");
    const std::string want = env && *env ? env : "auto";
    if (want != "auto" && want != "cublaslt" && want != "cublas" && want != "own")
      GPT_USAGE_FAIL("GPT_CUDA_GEMM='", want, "' is not an engine: auto (the default), cublaslt, cublas or own");
    if (want == "own") return {nullptr, nullptr};
    std::string why;
    const Cublas* c = load_cublas(&why);
    const char* where = "set LD_LIBRARY_PATH to the folder of the library (the CUDA toolkit's lib64, or PyTorch's "
                        "site-packages/nvidia/*/lib)";
    if (!c && want != "auto")
      GPT_USAGE_FAIL("GPT_CUDA_GEMM=", want, ", but cuBLAS could not be loaded (", why, "); ", where,
                     " or GPT_CUBLAS_LIBRARY to its path");
    if (!c) {
      std::fprintf(stderr,
                   "cuda: cuBLAS not loaded (%s); matrix products use gpt.cc's own, slower kernel (LD_LIBRARY_PATH or "
                   "GPT_CUBLAS_LIBRARY finds cuBLAS; GPT_CUDA_GEMM=own silences this)\n",
                   why.c_str());
      return {nullptr, nullptr};
    }
    if (want == "cublas") return {c, nullptr};
    CublasLt* lt = load_cublaslt(&why);
    if (!lt && want == "cublaslt")
      GPT_USAGE_FAIL("GPT_CUDA_GEMM=cublaslt, but cuBLASLt could not be loaded (", why, "); ", where,
                     " or GPT_CUBLASLT_LIBRARY to its path");
    return {c, lt};  // auto without cuBLASLt: biases written first (the train header says)
  }();
  return *g_env_engine;
}

// Row-major C (M x N) = A B is, read column-major, C^T (N x M, ld ldc) = B^T A^T: cuBLAS's
// X = B^T (N x K) and Y = A^T (K x M). An operand with unit stride along its rows is
// stored as it is read (op N); one with unit stride along its columns, transposed (op T).
// Stored, each is `cols` columns of `rows` contiguous elements, `ld` apart.
struct Stored {
  cublasOperation_t op;
  size_t rows, cols, ld;
};
// What a product does after the sum (sgemm's `gelu`): none; forward: C = AB + bias
// is GELU's input and out = gelu(C); backward: C = gelu'(pre) * AB (no bias, C written).
struct Gelu {
  enum Kind { none, forward, backward } kind = none;
  float* out = nullptr;        // forward: the GELU's output (C's shape and stride)
  const float* pre = nullptr;  // backward: the GELU's input (C's shape and stride)
};
// C (row-major M x N, ld ldc) = the product through cuBLASLt with its epilogue doing the
// rest: + bias (CUBLASLT_EPILOGUE_BIAS), or for g.forward the GELU too (GELU_AUX_BIAS:
// D = g.out = gelu(product + bias), the auxiliary matrix = C = product + bias), or for
// g.backward its derivative (DGELU: D = C = gelu'(aux) * product, aux = g.pre). Read
// column-major, D is N x M with ld ldc, bias along its rows (C's columns); the auxiliary
// matrix has D's layout (cuBLASLt wants its ld a multiple of 8). x, y: the operands as
// stored, fp32 (leading dimensions lx, ly) or the dense bf16 copies.
// False where cuBLASLt refuses the shape (the caller then runs the cuBLAS way); a failing
// cublasLtMatmul is said once and its shape goes the cuBLAS way after.
bool lt_gemm(CublasLt& lt, const Cublas& cb, bool bf16, const Stored& x, const void* xp, int lx, const Stored& y,
             const void* yp, int ly, int N, int M, int K, float* C, size_t ldc, const float* bias, const Gelu& g) {
  constexpr cublasStatus_t kOk = CUBLAS_STATUS_SUCCESS;
  const cudaDataType ab = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  // Each pointer's alignment (the largest power of two dividing it, at most 256): the
  // heuristic assumes 256 unless told, and an algorithm chosen for more than a pointer
  // has would refuse it.
  auto align = [](const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    return uint32_t(a & 255u ? a & (~a + 1) : 256u);
  };
  float* D = g.kind == Gelu::forward ? g.out : C;  // where the epilogue's result goes
  const void* aux = g.kind == Gelu::forward ? static_cast<const void*>(C) : g.pre;
  uint32_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  if (g.kind == Gelu::forward) epilogue = bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
  if (g.kind == Gelu::backward) epilogue = CUBLASLT_EPILOGUE_DGELU;
  const int64_t aux_ld = int64_t(ldc);
  if (g.kind != Gelu::none && aux_ld % 8 != 0) return false;  // cuBLASLt's rule for the auxiliary matrix
  const uint32_t ax = align(xp), ay = align(yp), ac = align(C) < align(D) ? align(C) : align(D),
                 ab_ = bias ? align(bias) : 256u, aa = aux ? align(aux) : 256u;
  // The preferences tell the heuristic A, B, C and D's alignments, not the bias's or the
  // auxiliary matrix's: it may pick a kernel that loads them 16 bytes at a time, which
  // then faults (misaligned address, a sticky error that ends every later CUDA call of the
  // process) on a bias at an odd offset of a buffer (pytorch/pytorch#194497; Marian's
  // cuBLASLt path asks 16 bytes of the bias for the same reason). Such products run the
  // cuBLAS way. The model keeps its epilogues: its activations are 64-byte aligned, its
  // biases 16-byte aligned whenever C is a multiple of 4 (parameter offsets are multiples of C).
  if (ab_ < 16 || aa < 16) return false;
  const CublasLt::Key key{bf16, epilogue, int(x.op), int(y.op), N, M, K, lx, ly, int(ldc), ax, ay, ac, ab_, aa};
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  const int32_t ta = x.op, tb = y.op;
  bool ok = lt.DescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == kOk &&
            lt.DescSet(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) == kOk &&
            lt.DescSet(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) == kOk &&
            lt.DescSet(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue) == kOk &&
            (!bias || lt.DescSet(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias) == kOk) &&
            (g.kind == Gelu::none ||
             (lt.DescSet(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux) == kOk &&
              lt.DescSet(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof aux_ld) == kOk)) &&
            lt.LayoutCreate(&la, ab, x.rows, x.cols, lx) == kOk && lt.LayoutCreate(&lb, ab, y.rows, y.cols, ly) == kOk &&
            lt.LayoutCreate(&ld, CUDA_R_32F, uint64_t(N), uint64_t(M), int64_t(ldc)) == kOk;
  auto it = lt.choices.find(key);
  if (ok && it == lt.choices.end()) {
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulHeuristicResult_t res{};
    int found = 0;
    const uint64_t ws = CublasLt::kWorkspace;
    const bool asked = lt.PrefCreate(&pref) == kOk &&
                       lt.PrefSet(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws) == kOk &&
                       lt.PrefSet(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &ax, sizeof ax) == kOk &&
                       lt.PrefSet(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ay, sizeof ay) == kOk &&
                       lt.PrefSet(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac, sizeof ac) == kOk &&
                       lt.PrefSet(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ac, sizeof ac) == kOk &&
                       lt.Heuristic(lt.handle, desc, la, lb, ld, ld, pref, 1, &res, &found) == kOk;
    if (pref) lt.PrefDestroy(pref);
    it = lt.choices.emplace(key, CublasLt::Choice{res.algo, asked && found > 0 && res.state == kOk}).first;
  }
  ok = ok && it->second.algo_ok;
  if (ok) {
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t st = lt.Matmul(lt.handle, desc, &one, xp, la, yp, lb, &zero, D, ld, D, ld, &it->second.algo,
                                        lt.workspace, CublasLt::kWorkspace, nullptr);
    if (st != kOk) {  // said once per epilogue; this shape goes the cuBLAS way from now on
      static bool said[3] = {false, false, false};
      if (!said[g.kind])
        std::fprintf(stderr,
                     "cuda: cublasLtMatmul (%s, %d x %d x %d, %s epilogue) failed: %s; such products run the cuBLAS "
                     "way\n",
                     bf16 ? "bf16" : "fp32", M, N, K,
                     g.kind == Gelu::forward ? "GELU" : g.kind == Gelu::backward ? "GELU derivative" : "bias",
                     cb.StatusString(st));
      said[g.kind] = true;
      it->second.algo_ok = false;
      ok = false;
    }
  }
  for (cublasLtMatrixLayout_t l : {la, lb, ld})
    if (l) lt.LayoutDestroy(l);
  if (desc) lt.DescDestroy(desc);
  return ok;
}

// cuBLASLt's documentation does not say which GELU its epilogues compute (GPT-2's tanh
// form, which gpt.cc trains with, or the erf form, 4e-4 apart; exactly or with a fast
// tanh). Asked once per process: a product whose sums are exact (one term each), through
// GELU_AUX_BIAS and DGELU, over pre-activations across [-6, 6], against pointwise.h's
// gelu_value and gelu_grad. The GELU epilogues are used only when every element agrees
// within 1e-5 + 1e-5 |value| (the layer tests' bound; float GELU itself is off by ~2e-6
// where 1 + tanh cancels, near x = -4, and the erf form by up to 4e-4); else GELU runs
// as gpt.cc's kernel, and that is said once.
bool lt_gelu_agrees(CublasLt& lt, const Cublas& cb) {
  if (lt.gelu_agrees >= 0) return lt.gelu_agrees == 1;
  constexpr int M = 16, N = 64, K = 8;
  std::vector<float> a(M * K, 0.0f), b(K * N), bias(N, 0.0f), pre(M * N);
  for (int i = 0; i < M; i++) a[i * K + i % K] = 1.0f;  // row i of the product is row i % K of b
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) b[k * N + j] = -6.0f + 12.0f * float(k * N + j) / float(K * N - 1);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) pre[i * N + j] = b[(i % K) * N + j];
  auto* d = static_cast<float*>(device_scratch(kScratchGeluProbe, (M * K + K * N + N + 4 * M * N) * sizeof(float)));
  float *da = d, *db = da + M * K, *dbias = db + K * N, *dc = dbias + N, *dout = dc + M * N, *dpre = dout + M * N,
        *dgrad = dpre + M * N;
  CUDA_CHECK(cudaMemcpy(da, a.data(), a.size() * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(db, b.data(), b.size() * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dbias, bias.data(), bias.size() * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dpre, pre.data(), pre.size() * sizeof(float), cudaMemcpyHostToDevice));
  // C (M x N) = A (M x K, row-major) B (K x N, row-major), as sgemm hands them over
  const Stored x{CUBLAS_OP_N, size_t(N), size_t(K), size_t(N)}, y{CUBLAS_OP_N, size_t(K), size_t(M), size_t(K)};
  const bool ran = lt_gemm(lt, cb, false, x, db, N, y, da, K, N, M, K, dc, N, dbias, {Gelu::forward, dout, nullptr}) &&
                   lt_gemm(lt, cb, false, x, db, N, y, da, K, N, M, K, dgrad, N, nullptr, {Gelu::backward, nullptr, dpre});
  double worst = 0;  // the largest difference over its tolerance
  if (ran) {
    std::vector<float> out(M * N), aux(M * N), grad(M * N);
    CUDA_CHECK(cudaMemcpy(out.data(), dout, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(aux.data(), dc, aux.size() * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(grad.data(), dgrad, grad.size() * sizeof(float), cudaMemcpyDeviceToHost));
    auto off = [](float got, float want) { return std::fabs(double(got) - want) / (1e-5 + 1e-5 * std::fabs(want)); };
    for (int i = 0; i < M * N; i++) {
      const float v = pre[i];
      worst = std::max({worst, off(aux[i], v), off(out[i], gelu_value(v)), off(grad[i], gelu_grad(v) * v)});
    }
  }
  lt.gelu_agrees = ran && worst <= 1.0 ? 1 : 0;
  if (ran && !lt.gelu_agrees)
    std::fprintf(stderr,
                 "cuda: cuBLASLt's GELU epilogue is not gpt.cc's GELU (tanh form; off by %.1fx the bound "
                 "1e-5 + 1e-5 |x|): GELU runs as gpt.cc's kernel, the bias stays in cuBLASLt's epilogue\n",
                 worst);
  return lt.gelu_agrees == 1;
}

// What the bf16 scratch of operand A holds: the dense copy (at dst) of src's rows x cols,
// leading dimension ld; reused by the next product whose caller says A is unchanged.
struct DenseCopy {
  const void* dst;
  const float* src;
  size_t rows, cols, ld;
  bool operator==(const DenseCopy& o) const {
    return dst == o.dst && src == o.src && rows == o.rows && cols == o.cols && ld == o.ld;
  }
};
DenseCopy g_a_copy{};

// The GELU part of a product (Gelu above) as separate kernels, where no epilogue did it.
void gelu_apart(const Gelu& g, float* C, size_t n) {
  if (g.kind == Gelu::forward) gelu_forward(g.out, C, n);
  if (g.kind == Gelu::backward) gelu_backward(C, g.pre, C, n);  // in place: each element read, then written
}

// bf16: the operands are first rounded into dense bf16 copies in their stored
// orientation (coalesced), then one cublasGemmEx with bf16 inputs and fp32 sums (or
// cublasLtMatmul for a product with a bias or a GELU). a_unchanged: A was not written
// since the previous product (the backward's two products of dout), so a copy of it made
// there serves again: the same bytes, whichever way the product reads them. g: the
// GELU after the product (C dense: ldc == N; backward: no bias, not accumulating).
void sgemm(bool bf16, int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs,
           size_t bcs, float* C, size_t ldc, bool accumulate, const float* bias, bool a_unchanged = false,
           const Gelu& g = {}) {
  if (M <= 0 || N <= 0) return;
  GPT_CHECK(g.kind == Gelu::none || (ldc == size_t(N) && !accumulate && (g.kind == Gelu::forward || !bias)),
            "a GELU after a product needs a dense, written C");
  const Engine eng = engine();
  const Cublas* cb = eng.blas;
  const bool b_n = bcs == 1, b_t = brs == 1, a_n = acs == 1, a_t = ars == 1;
  const Stored x = b_n ? Stored{CUBLAS_OP_N, size_t(N), size_t(K), brs} : Stored{CUBLAS_OP_T, size_t(K), size_t(N), bcs};
  const Stored y = a_n ? Stored{CUBLAS_OP_N, size_t(K), size_t(M), ars} : Stored{CUBLAS_OP_T, size_t(M), size_t(K), acs};
  // cuBLAS wants ld >= the stored rows; a smaller stride is harmless only where it is
  // never used (one column).
  const bool layout_ok = (b_n || b_t) && (a_n || a_t) && (x.ld >= x.rows || x.cols <= 1) &&
                         (y.ld >= y.rows || y.cols <= 1) && ldc >= size_t(N);
  if (!cb || K <= 0 || !layout_ok) {
    own_sgemm(bf16, M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias);
    gelu_apart(g, C, size_t(M) * N);
    return;
  }
  // The operands as cuBLAS reads them: as they are (fp32), or dense bf16 copies.
  const void *xp = B, *yp = A;
  int lx = int(x.ld < x.rows ? x.rows : x.ld), ly = int(y.ld < y.rows ? y.rows : y.ld);
  if (bf16) {
    auto* x16 = static_cast<uint16_t*>(device_scratch(kScratchBf16X, x.rows * x.cols * sizeof(uint16_t)));
    auto* y16 = static_cast<uint16_t*>(device_scratch(kScratchBf16Y, y.rows * y.cols * sizeof(uint16_t)));
    to_bf16_dense_kernel<<<grid_for(x.rows * x.cols), kThreads>>>(x16, B, x.rows, x.cols, x.ld);
    CUDA_LAUNCHED();
    const DenseCopy a_copy{y16, A, y.rows, y.cols, y.ld};
    if (!(a_unchanged && g_a_copy == a_copy)) {
      to_bf16_dense_kernel<<<grid_for(y.rows * y.cols), kThreads>>>(y16, A, y.rows, y.cols, y.ld);
      CUDA_LAUNCHED();
    }
    g_a_copy = a_copy;
    xp = x16, yp = y16, lx = int(x.rows), ly = int(y.rows);
  }
  if ((bias || g.kind != Gelu::none) && !accumulate && eng.lt) {
    if ((g.kind == Gelu::none || lt_gelu_agrees(*eng.lt, *cb)) &&
        lt_gemm(*eng.lt, *cb, bf16, x, xp, lx, y, yp, ly, N, M, K, C, ldc, bias, g))
      return;
    // the GELU epilogue refused: the bias alone there, the GELU apart
    if (bias && g.kind != Gelu::none && lt_gemm(*eng.lt, *cb, bf16, x, xp, lx, y, yp, ly, N, M, K, C, ldc, bias, {})) {
      gelu_apart(g, C, size_t(M) * N);
      return;
    }
  }
  if (bias && !accumulate) {
    bias_rows_kernel<<<grid_for(size_t(M) * N), kThreads>>>(C, ldc, bias, M, N, false);
    CUDA_LAUNCHED();
  }
  const float one = 1.0f, zero = 0.0f;
  const float* beta = (accumulate || bias) ? &one : &zero;
  const cublasStatus_t st =
      bf16 ? cb->GemmEx(cb->handle, x.op, y.op, N, M, K, &one, xp, CUDA_R_16BF, lx, yp, CUDA_R_16BF, ly, beta, C,
                        CUDA_R_32F, int(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)
           : cb->Sgemm(cb->handle, x.op, y.op, N, M, K, &one, static_cast<const float*>(xp), lx,
                       static_cast<const float*>(yp), ly, beta, C, int(ldc));
  if (st != CUBLAS_STATUS_SUCCESS)
    GPT_FAIL(bf16 ? "cublasGemmEx (bf16, " : "cublasSgemm (", M, " x ", N, " x ", K, ") failed: ",
             cb->StatusString(st), " (", cb->library, ")");
  if (bias && accumulate) {
    bias_rows_kernel<<<grid_for(size_t(M) * N), kThreads>>>(C, ldc, bias, M, N, true);
    CUDA_LAUNCHED();
  }
  gelu_apart(g, C, size_t(M) * N);
}

// dbias[o] += sum_i dout[i, o] (column_sums: fixed order, deterministic).
void bias_backward(float* dbias, const float* dout, size_t N, int OC) {
  column_sums(dbias, N, OC, RowMajorAt{dout, OC});
}
}  // namespace

void set_gemm_engine_for_tests(int engine) {
  g_engine_for_tests = engine;
  if (engine < 0) g_env_engine.reset();
}
int gelu_epilogue_agrees_for_tests(bool ask_again) {
  std::string why;
  CublasLt* lt = load_cublaslt(&why);
  const Cublas* cb = load_cublas(&why);
  if (!lt || !cb) return -1;
  if (ask_again) lt->gelu_agrees = -1;
  return lt_gelu_agrees(*lt, *cb) ? 1 : 0;
}
std::string gemm_engine() {
  const Engine e = engine();
  if (!e.blas) return "gpt.cc's own kernel";
  return "cuBLAS (" + e.blas->library + ")" +
         (e.lt ? ", bias and GELU in cuBLASLt's epilogues (" + e.lt->library + ")"
               : ", without cuBLASLt (biases and GELU apart)");
}

}  // namespace gpt::gpu

namespace gpt {
std::string cuda_matmul_engine() { return gpu::gemm_engine(); }
}  // namespace gpt

namespace gpt::gpu {

namespace {
// The layer's products (layers.h's matmul_* contract), in fp32 or with bf16 operands.
// g: the fc layer's GELU (forward: out_gelu = gelu(out)).
void forward(bool bf16, float* out, const float* inp, const float* weight, const float* bias, size_t N, int C,
             int OC, const Gelu& g = {}) {
  GPT_CHECK(N < (size_t(1) << 31), "too many rows for one matmul: ", N);
  // out (N,OC) = inp (N,C) · weight (OC,C)^T + bias
  sgemm(bf16, int(N), OC, C, inp, size_t(C), 1, weight, 1, size_t(C), out, size_t(OC), false, bias, false, g);
}
// g: the GELU before the layer (backward: dinp = gelu'(pre) * (dout · W)).
void backward(bool bf16, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
              const float* weight, size_t N, int C, int OC, const Gelu& g = {}) {
  GPT_CHECK(N < (size_t(1) << 31), "too many rows for one matmul: ", N);
  // dinp (N,C) = dout (N,OC) · W (OC,C)
  if (dinp)
    sgemm(bf16, int(N), C, OC, dout, size_t(OC), 1, weight, size_t(C), 1, dinp, size_t(C), false, nullptr, false, g);
  // dW (OC,C) += dout^T (OC,N) · inp (N,C); under bf16 dout's copy from the product above
  // serves again (dinp is another buffer).
  sgemm(bf16, OC, C, int(N), dout, 1, size_t(OC), inp, size_t(C), 1, dweight, size_t(C), true, nullptr,
        dinp != nullptr && dinp != dout);
  if (dbias) bias_backward(dbias, dout, N, OC);
}
}  // namespace

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, size_t N, int C, int OC) {
  forward(false, out, inp, weight, bias, N, C, OC);
}
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, size_t N, int C, int OC) {
  backward(false, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}
void matmul_gelu_forward(float* out, float* out_gelu, const float* inp, const float* weight, const float* bias,
                         size_t N, int C, int OC) {
  forward(false, out, inp, weight, bias, N, C, OC, {Gelu::forward, out_gelu, nullptr});
}
// With dinp (the product wanted too) the GELU's derivative runs apart; without it, in the
// product's epilogue.
void matmul_gelu_backward(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* pre, const float* weight, size_t N, int C, int OC) {
  backward(false, dinp ? dinp : dpre, dweight, dbias, dout, inp, weight, N, C, OC,
           dinp ? Gelu{} : Gelu{Gelu::backward, nullptr, pre});
  if (dinp) gelu_backward(dpre, pre, dinp, N * size_t(C));
}

// --dtype bf16 (layers.h *_bf16): the same with the products' operands rounded to bf16;
// bias, GELU and the bias gradient in fp32, as on the CPU.
void matmul_forward_bf16(float* out, const float* inp, const float* weight, const float* bias, size_t N, int C,
                         int OC) {
  forward(true, out, inp, weight, bias, N, C, OC);
}
void matmul_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, size_t N, int C, int OC) {
  backward(true, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}
void matmul_gelu_forward_bf16(float* out, float* out_gelu, const float* inp, const float* weight, const float* bias,
                              size_t N, int C, int OC) {
  forward(true, out, inp, weight, bias, N, C, OC, {Gelu::forward, out_gelu, nullptr});
}
void matmul_gelu_backward_bf16(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* pre, const float* weight, size_t N, int C, int OC) {
  backward(true, dinp ? dinp : dpre, dweight, dbias, dout, inp, weight, N, C, OC,
           dinp ? Gelu{} : Gelu{Gelu::backward, nullptr, pre});
  if (dinp) gelu_backward(dpre, pre, dinp, N * size_t(C));
}

}  // namespace gpt::gpu
