// cuBLASLt's matmul for the CUDA emulator (cublasLt.h here), from its documented
// definition, for what cuda/matmul.cu asks of it: column-major D (m x n, layout Ddesc) =
// alpha op(A) op(B) + beta C, A and B both fp32 or both bf16, C and D fp32, fp32 compute;
// beta = 0 means C is not read. Epilogues, with x that result:
//   BIAS           D = x + bias[i] on row i
//   GELU_AUX(_BIAS) aux = x (+ bias), D = gelu(aux)  (GELU's input kept for training)
//   DGELU          D = gelu'(aux) * x  (aux: the GELU's input, read)
// GELU is GPT-2's tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), written
// here from that formula (the documentation does not name the form). The auxiliary
// matrix has D's rows and columns at leading dimension AUX_LD.
// What it checks, as cuBLASLt does: the layouts agree with m, n, k and the ops (leading
// dimensions at least the rows), C and D have the same layout, a bias epilogue has a bias
// pointer, a GELU epilogue an auxiliary pointer and an AUX_LD at least D's rows and a
// multiple of 8, the compute and scale types, and pointers at least as aligned as the
// algorithm was chosen for (the preference's minimum alignments, 256 bytes unless set, and
// the bias and auxiliary pointers' when the heuristic ran); other epilogues, and DGELU
// with beta != 0, are NOT_SUPPORTED. A bias less than 16-byte aligned aborts the process:
// the real heuristic is not told the bias's alignment and may pick a kernel that faults
// on it (misaligned address, which ends the CUDA context; pytorch/pytorch#194497), so
// gpt.cc must never hand one over. Built as a shared library loaded like libcublasLt.so
// (GPT_CUBLASLT_LIBRARY).
#include "cublasLt.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

struct cublasLtContext {
  int magic;
};

namespace {
long g_calls = 0, g_gelu_calls = 0;  // every call; those with a GELU epilogue
struct Layout {
  cudaDataType type;
  uint64_t rows, cols;
  int64_t ld;
};
struct Desc {
  cublasComputeType_t compute;
  cudaDataType scale;
  int32_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  const void* aux = nullptr;
  int64_t aux_ld = 0;
};
bool has_bias(uint32_t e) { return e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS; }
bool has_aux(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_GELU_AUX || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS || e == CUBLASLT_EPILOGUE_DGELU;
}
bool known(uint32_t e) { return e == CUBLASLT_EPILOGUE_DEFAULT || has_bias(e) || has_aux(e); }
// What the epilogue's settings must be before a heuristic or a call (rows: D's).
bool epilogue_ok(const Desc& d, uint64_t rows) {
  if (!known(d.epilogue) || (has_bias(d.epilogue) && !d.bias)) return false;
  return !has_aux(d.epilogue) || (d.aux && d.aux_ld >= int64_t(rows) && d.aux_ld % 8 == 0);
}
// GELU, tanh form, and its derivative, in double then rounded (a library's own float
// code differs from gpt.cc's in the last bits; the tests allow for that). With
// GPT_FAKE_CUBLASLT_GELU=erf in the environment, the erf form instead (0.5 x (1 +
// erf(x / sqrt 2))): what gpt.cc must notice and not use, since it trains with the tanh form.
bool erf_form() {
  const char* e = std::getenv("GPT_FAKE_CUBLASLT_GELU");
  return e && std::strcmp(e, "erf") == 0;
}
float gelu(float x) {
  if (erf_form()) return float(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
  const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * double(x) * x * x);
  return float(0.5 * x * (1.0 + std::tanh(u)));
}
float gelu_derivative(float x) {
  if (erf_form())
    return float(0.5 * (1.0 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * double(x) * x) / std::sqrt(2.0 * M_PI));
  const double a = std::sqrt(2.0 / M_PI), u = a * (x + 0.044715 * double(x) * x * x), t = std::tanh(u);
  return float(0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * a * (1.0 + 3 * 0.044715 * double(x) * x));
}
// The preference: the workspace limit and the alignments (bytes) the algorithm may
// assume of A, B, C and D (256 unless set, as cuBLASLt's defaults).
struct Pref {
  uint64_t workspace = 0;
  uint32_t align[4] = {256, 256, 256, 256};
};
// An algorithm remembers the alignments it was chosen for (A, B, C, D, bias, aux); a
// call whose pointers have less is refused, as an algorithm needing them would be.
struct Algo {
  uint64_t magic;
  uint32_t align[6];
};
static_assert(sizeof(Algo) <= sizeof(cublasLtMatmulAlgo_t), "the algorithm fits cuBLASLt's opaque struct");
uint32_t alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return a & 255u ? uint32_t(a & (~a + 1)) : 256u;
}
Layout* L(cublasLtMatrixLayout_t p) { return reinterpret_cast<Layout*>(p); }
Desc* D(cublasLtMatmulDesc_t p) { return reinterpret_cast<Desc*>(p); }
float value(const Layout& l, const void* p, uint64_t r, uint64_t c) {
  const size_t i = r + c * size_t(l.ld);
  if (l.type == CUDA_R_32F) return static_cast<const float*>(p)[i];
  const uint32_t u = uint32_t(static_cast<const uint16_t*>(p)[i]) << 16;  // bf16: the high half of a float
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// The product's m, n, k from the layouts and ops; false when they disagree.
bool shape(const Desc& d, const Layout& a, const Layout& b, const Layout& c, const Layout& o, uint64_t* m,
           uint64_t* n, uint64_t* k) {
  *m = d.transa == CUBLAS_OP_N ? a.rows : a.cols;
  *k = d.transa == CUBLAS_OP_N ? a.cols : a.rows;
  const uint64_t kb = d.transb == CUBLAS_OP_N ? b.rows : b.cols;
  *n = d.transb == CUBLAS_OP_N ? b.cols : b.rows;
  const auto ld_ok = [](const Layout& l) { return l.ld >= int64_t(l.rows) && l.ld >= 1; };
  return kb == *k && o.rows == *m && o.cols == *n && c.rows == o.rows && c.cols == o.cols && c.ld == o.ld &&
         c.type == o.type && ld_ok(a) && ld_ok(b) && ld_ok(o) && a.type == b.type &&
         (a.type == CUDA_R_32F || a.type == CUDA_R_16BF) && o.type == CUDA_R_32F &&
         (d.transa == CUBLAS_OP_N || d.transa == CUBLAS_OP_T) && (d.transb == CUBLAS_OP_N || d.transb == CUBLAS_OP_T);
}
}  // namespace

extern "C" {
long gpt_fake_cublaslt_calls() { return g_calls; }
long gpt_fake_cublaslt_gelu_calls() { return g_gelu_calls; }

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  *handle = new cublasLtContext{0x17};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t computeType,
                                        cudaDataType_t scaleType) {
  if (computeType != CUBLAS_COMPUTE_32F || scaleType != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *desc = reinterpret_cast<cublasLtMatmulDesc_t>(new Desc{computeType, scaleType});
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete D(desc);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, size_t size) {
  Desc* d = D(desc);
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB:
      if (size != sizeof(int32_t)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(attr == CUBLASLT_MATMUL_DESC_TRANSA ? &d->transa : &d->transb, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      if (size != sizeof(uint32_t)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&d->epilogue, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      if (size != sizeof(void*)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&d->bias, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
      if (size != sizeof(void*)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&d->aux, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD:
      if (size != sizeof(int64_t)) return CUBLAS_STATUS_INVALID_VALUE;
      std::memcpy(&d->aux_ld, buf, size);
      return CUBLAS_STATUS_SUCCESS;
    default:
      return CUBLAS_STATUS_INVALID_VALUE;
  }
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(new Layout{type, rows, cols, ld});
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete L(layout);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  *pref = reinterpret_cast<cublasLtMatmulPreference_t>(new Pref);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete reinterpret_cast<Pref*>(pref);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                    size_t size) {
  Pref* p = reinterpret_cast<Pref*>(pref);
  if (attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES && size == sizeof(uint64_t)) {
    std::memcpy(&p->workspace, buf, size);
    return CUBLAS_STATUS_SUCCESS;
  }
  if (attr >= CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES && attr <= CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES &&
      size == sizeof(uint32_t)) {
    std::memcpy(&p->align[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES], buf, size);
    return CUBLAS_STATUS_SUCCESS;
  }
  return CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                                              cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                                              cublasLtMatmulPreference_t preference, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int* returned) {
  if (!handle || handle->magic != 0x17) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (requested <= 0) return CUBLAS_STATUS_INVALID_VALUE;
  uint64_t m, n, k;
  const Desc& d = *D(desc);
  if (!shape(d, *L(Adesc), *L(Bdesc), *L(Cdesc), *L(Ddesc), &m, &n, &k) || !epilogue_ok(d, m)) {
    *returned = 0;
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  results[0] = cublasLtMatmulHeuristicResult_t{};
  const Pref& p = *reinterpret_cast<Pref*>(preference);
  const Algo algo{0xa1,
                  {p.align[0], p.align[1], p.align[2], p.align[3], d.bias ? alignment(d.bias) : 256u,
                   d.aux ? alignment(d.aux) : 256u}};
  std::memcpy(&results[0].algo, &algo, sizeof algo);
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* A,
                              cublasLtMatrixLayout_t Adesc, const void* B, cublasLtMatrixLayout_t Bdesc,
                              const void* beta, const void* C, cublasLtMatrixLayout_t Cdesc, void* Dp,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t* algo, void*, size_t,
                              cudaStream_t) {
  if (!handle || handle->magic != 0x17) return CUBLAS_STATUS_NOT_INITIALIZED;
  const Desc& d = *D(desc);
  const Layout &a = *L(Adesc), &b = *L(Bdesc), &c = *L(Cdesc), &o = *L(Ddesc);
  uint64_t m, n, k;
  Algo chosen{};
  if (algo) std::memcpy(&chosen, algo, sizeof chosen);
  if (!alpha || !beta || !shape(d, a, b, c, o, &m, &n, &k) || !algo || chosen.magic != 0xa1)
    return CUBLAS_STATUS_INVALID_VALUE;
  const void* ptrs[6] = {A, B, C, Dp, d.bias, d.aux};
  for (int i = 0; i < 6; i++)
    if (ptrs[i] && alignment(ptrs[i]) < chosen.align[i]) return CUBLAS_STATUS_INVALID_VALUE;  // less than assumed
  if (!known(d.epilogue)) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (!epilogue_ok(d, m)) return CUBLAS_STATUS_INVALID_VALUE;
  if (has_bias(d.epilogue) && alignment(d.bias) < 16) {
    std::fprintf(stderr, "fake cuBLASLt: bias %p is less than 16-byte aligned: a real cuBLASLt kernel may fault "
                 "(misaligned address)\n", d.bias);
    std::abort();
  }
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  if (d.epilogue == CUBLASLT_EPILOGUE_DGELU && be != 0.0f) return CUBLAS_STATUS_NOT_SUPPORTED;
  g_calls++;
  if (has_aux(d.epilogue)) g_gelu_calls++;
  const auto* bias = static_cast<const float*>(d.bias);
  float* aux_out = static_cast<float*>(const_cast<void*>(d.aux));
  float* out = static_cast<float*>(Dp);
  const auto* cin = static_cast<const float*>(C);
  for (uint64_t j = 0; j < n; j++)
    for (uint64_t i = 0; i < m; i++) {
      float s = 0.0f;
      for (uint64_t l = 0; l < k; l++) {
        const float x = d.transa == CUBLAS_OP_N ? value(a, A, i, l) : value(a, A, l, i);
        const float y = d.transb == CUBLAS_OP_N ? value(b, B, l, j) : value(b, B, j, l);
        s += x * y;
      }
      float r = be == 0.0f ? al * s : al * s + be * cin[i + j * size_t(c.ld)];
      if (has_bias(d.epilogue)) r += bias[i];
      float* aux = aux_out ? aux_out + i + j * size_t(d.aux_ld) : nullptr;
      if (d.epilogue == CUBLASLT_EPILOGUE_DGELU) {
        r = gelu_derivative(*aux) * r;
      } else if (aux) {  // GELU_AUX(_BIAS): the GELU's input kept
        *aux = r;
        r = gelu(r);
      }
      out[i + j * size_t(o.ld)] = r;
    }
  return CUBLAS_STATUS_SUCCESS;
}
}
