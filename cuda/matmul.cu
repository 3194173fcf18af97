// The fully connected layer on the GPU (layers.h matmul_*). Every product is one call
// of sgemm: C(i,j) (= or +=) sum_k A(i,k) B(k,j) [+ bias(j)], A(i,k) = A[i*ars + k*acs],
// B(k,j) = B[k*brs + j*bcs] -- the strides the CPU engine (gemm.h) takes, so each product
// is set up exactly as on the CPU. Two engines behind it:
//   * cuBLAS (cublasSgemm, fp32, no TF32: the default math mode), loaded at run time
//     (dlopen of libcublas.so.13/.12, or $GPT_CUBLAS_LIBRARY), so bin/gpt starts where it
//     is missing; row-major products are handed over as their column-major transposes.
//   * gpt.cc's own kernel: 32x32 tiles through shared memory, k in order per element.
// GPT_GEMM=cublas|own|auto (default auto: cuBLAS when it loads, else the own kernel,
// said once on stderr). Both are deterministic run to run.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#ifdef GPT_CUDA_EMULATION
#include "cublas_v2.h"  // tests/cuda_emu's stand-in (types only)
#else
#include <cublas_v2.h>  // types only: the entry points come from dlsym
#endif

#include "bf16.h"
#include "common.cuh"
#include "device.h"

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

// cuBLAS, loaded once; nullptr (and *why set) when it cannot be.
const Cublas* load_cublas(std::string* why_not) {
  static Cublas c;
  static bool tried_once = false, ok = false;
  static std::string why;
  if (!tried_once) {
    tried_once = true;
    std::string tried;
    void* h = nullptr;
    const char* forced = std::getenv("GPT_CUBLAS_LIBRARY");
    for (const char* name : {forced, "libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
      if (!name || !*name) continue;
      tried += (tried.empty() ? "" : ", ") + std::string(name);
      h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (h) {
        c.library = name;
        break;
      }
      if (const char* e = dlerror()) why = e;
      if (name == forced) break;  // the file asked for, or nothing
    }
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
    why = "tried " + tried + ": " + why;
  }
  if (!ok && why_not) *why_not = why;
  return ok ? &c : nullptr;
}

int g_engine_for_tests = -1;  // set_gemm_engine_for_tests: -1 GPT_GEMM, 0 own, 1 cuBLAS

// The engine GPT_GEMM asks for: cuBLAS, or nullptr for the own kernel.
const Cublas* cublas() {
  if (g_engine_for_tests == 0) return nullptr;
  if (g_engine_for_tests == 1) {
    std::string why;
    const Cublas* c = load_cublas(&why);
    if (!c) GPT_FAIL("cuBLAS asked for by a test could not be loaded (", why, ")");
    return c;
  }
  static const Cublas* chosen = []() -> const Cublas* {
    const char* env = std::getenv("GPT_GEMM");
    const std::string want = env && *env ? env : "auto";
    if (want != "auto" && want != "cublas" && want != "own")
      GPT_USAGE_FAIL("GPT_GEMM='", want, "' is not an engine: cublas, own or auto (the default)");
    if (want == "own") return nullptr;
    std::string why;
    const Cublas* c = load_cublas(&why);
    if (c) return c;
    if (want == "cublas")
      GPT_USAGE_FAIL("GPT_GEMM=cublas, but cuBLAS could not be loaded (", why,
                     "); set LD_LIBRARY_PATH to the folder of libcublas.so (the CUDA toolkit's lib64, or PyTorch's "
                     "site-packages/nvidia/*/lib) or GPT_CUBLAS_LIBRARY to its path");
    std::fprintf(stderr,
                 "cuda: cuBLAS not loaded (%s); matrix products use gpt.cc's own, slower kernel (LD_LIBRARY_PATH or "
                 "GPT_CUBLAS_LIBRARY finds cuBLAS; GPT_GEMM=own silences this)\n",
                 why.c_str());
    return nullptr;
  }();
  return chosen;
}

// Row-major C (M x N) = A B is, read column-major, C^T (N x M, ld ldc) = B^T A^T: cuBLAS's
// X = B^T (N x K) and Y = A^T (K x M). An operand with unit stride along its rows is
// stored as it is read (op N); one with unit stride along its columns, transposed (op T).
// Stored, each is `cols` columns of `rows` contiguous elements, `ld` apart.
struct Stored {
  cublasOperation_t op;
  size_t rows, cols, ld;
};
// bf16: the operands are first rounded into dense bf16 copies in their stored
// orientation (coalesced), then one cublasGemmEx with bf16 inputs and fp32 sums.
void sgemm(bool bf16, int M, int N, int K, const float* A, size_t ars, size_t acs, const float* B, size_t brs,
           size_t bcs, float* C, size_t ldc, bool accumulate, const float* bias) {
  if (M <= 0 || N <= 0) return;
  const Cublas* cb = cublas();
  const bool b_n = bcs == 1, b_t = brs == 1, a_n = acs == 1, a_t = ars == 1;
  const Stored x = b_n ? Stored{CUBLAS_OP_N, size_t(N), size_t(K), brs} : Stored{CUBLAS_OP_T, size_t(K), size_t(N), bcs};
  const Stored y = a_n ? Stored{CUBLAS_OP_N, size_t(K), size_t(M), ars} : Stored{CUBLAS_OP_T, size_t(M), size_t(K), acs};
  // cuBLAS wants ld >= the stored rows; a smaller stride is harmless only where it is
  // never used (one column).
  const bool layout_ok = (b_n || b_t) && (a_n || a_t) && (x.ld >= x.rows || x.cols <= 1) &&
                         (y.ld >= y.rows || y.cols <= 1) && ldc >= size_t(N);
  if (!cb || K <= 0 || !layout_ok) {
    own_sgemm(bf16, M, N, K, A, ars, acs, B, brs, bcs, C, ldc, accumulate, bias);
    return;
  }
  if (bias && !accumulate) {
    bias_rows_kernel<<<grid_for(size_t(M) * N), kThreads>>>(C, ldc, bias, M, N, false);
    CUDA_LAUNCHED();
  }
  const float one = 1.0f, zero = 0.0f;
  const float* beta = (accumulate || bias) ? &one : &zero;
  cublasStatus_t st;
  if (!bf16) {
    const int lx = int(x.ld < x.rows ? x.rows : x.ld), ly = int(y.ld < y.rows ? y.rows : y.ld);
    st = cb->Sgemm(cb->handle, x.op, y.op, N, M, K, &one, B, lx, A, ly, beta, C, int(ldc));
  } else {
    auto* x16 = static_cast<uint16_t*>(device_scratch(kScratchBf16X, x.rows * x.cols * sizeof(uint16_t)));
    auto* y16 = static_cast<uint16_t*>(device_scratch(kScratchBf16Y, y.rows * y.cols * sizeof(uint16_t)));
    to_bf16_dense_kernel<<<grid_for(x.rows * x.cols), kThreads>>>(x16, B, x.rows, x.cols, x.ld);
    CUDA_LAUNCHED();
    to_bf16_dense_kernel<<<grid_for(y.rows * y.cols), kThreads>>>(y16, A, y.rows, y.cols, y.ld);
    CUDA_LAUNCHED();
    st = cb->GemmEx(cb->handle, x.op, y.op, N, M, K, &one, x16, CUDA_R_16BF, int(x.rows), y16, CUDA_R_16BF,
                    int(y.rows), beta, C, CUDA_R_32F, int(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  }
  if (st != CUBLAS_STATUS_SUCCESS)
    GPT_FAIL(bf16 ? "cublasGemmEx (bf16, " : "cublasSgemm (", M, " x ", N, " x ", K, ") failed: ",
             cb->StatusString(st), " (", cb->library, ")");
  if (bias && accumulate) {
    bias_rows_kernel<<<grid_for(size_t(M) * N), kThreads>>>(C, ldc, bias, M, N, true);
    CUDA_LAUNCHED();
  }
}

// dbias[o] += sum_i dout[i, o] (column_sums: fixed order, deterministic).
struct DoutAt {
  const float* dout;
  int OC;
  __device__ float operator()(size_t n, int o) const { return dout[n * size_t(OC) + o]; }
};
void bias_backward(float* dbias, const float* dout, size_t N, int OC) { column_sums(dbias, N, OC, DoutAt{dout, OC}); }
}  // namespace

void set_gemm_engine_for_tests(int engine) { g_engine_for_tests = engine; }
std::string gemm_engine() {
  const Cublas* c = cublas();
  return c ? "cuBLAS (" + c->library + ")" : "gpt.cc's own kernel";
}

}  // namespace gpt::gpu

namespace gpt {
std::string cuda_matmul_engine() { return gpu::gemm_engine(); }
}  // namespace gpt

namespace gpt::gpu {

namespace {
// The layer's products (layers.h's matmul_* contract), in fp32 or with bf16 operands.
void forward(bool bf16, float* out, const float* inp, const float* weight, const float* bias, size_t N, int C,
             int OC) {
  GPT_CHECK(N < (size_t(1) << 31), "too many rows for one matmul: ", N);
  // out (N,OC) = inp (N,C) · weight (OC,C)^T + bias
  sgemm(bf16, int(N), OC, C, inp, size_t(C), 1, weight, 1, size_t(C), out, size_t(OC), false, bias);
}
void backward(bool bf16, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
              const float* weight, size_t N, int C, int OC) {
  GPT_CHECK(N < (size_t(1) << 31), "too many rows for one matmul: ", N);
  // dinp (N,C) += dout (N,OC) · W (OC,C)
  if (dinp) sgemm(bf16, int(N), C, OC, dout, size_t(OC), 1, weight, size_t(C), 1, dinp, size_t(C), true, nullptr);
  // dW (OC,C) += dout^T (OC,N) · inp (N,C)
  sgemm(bf16, OC, C, int(N), dout, 1, size_t(OC), inp, size_t(C), 1, dweight, size_t(C), true, nullptr);
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
  forward(false, out, inp, weight, bias, N, C, OC);
  gelu_forward(out_gelu, out, N * size_t(OC));
}
void matmul_gelu_backward(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* pre, const float* weight, size_t N, int C, int OC) {
  backward(false, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  gelu_backward(dpre, pre, dinp, N * size_t(C));
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
  forward(true, out, inp, weight, bias, N, C, OC);
  gelu_forward(out_gelu, out, N * size_t(OC));
}
void matmul_gelu_backward_bf16(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* pre, const float* weight, size_t N, int C, int OC) {
  backward(true, dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  gelu_backward(dpre, pre, dinp, N * size_t(C));
}

}  // namespace gpt::gpu
