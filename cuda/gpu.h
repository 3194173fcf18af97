// The CUDA backend's functions, for the .cu files (through common.cuh) and for host
// code such as tests/test_cuda.cpp: plain C++, no CUDA types, so g++ can include it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "layers.h"

namespace gpt::gpu {

// ---- the layer functions (float), with the signatures of cpu::X<float> (layers.h); the
// table in backend.cu takes each by the cpu:: type, so a drifting signature fails there ----
void encoder_forward(float* out, const int* inp, const float* wte, const float* pos_table, Dims d, int t0);
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, Dims d);
void rope_forward(float* qkv, Dims d, int t0);
void rope_backward(float* dqkv, Dims d, int t0);
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias, size_t N, int C);
void residual_layernorm_forward(float* res, float* out, float* mean, float* rstd, const float* a, const float* b, const float* weight, const float* bias, size_t N, int C);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight, const float* mean, const float* rstd, size_t N, int C);
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, size_t N, int C, int OC);
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight, size_t N, int C, int OC);
void matmul_gelu_forward(float* out, float* out_gelu, const float* inp, const float* weight, const float* bias, size_t N, int C, int OC);
void matmul_gelu_backward(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* pre, const float* weight, size_t N, int C, int OC);
void attention_forward(float* out, float* lse, const float* qkv, Dims d, Dropout drop, AttentionMode mode, float* att, float* scores);
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, Dims d, Dropout drop, AttentionMode mode);
// --dtype bf16's entries (layers.h *_bf16): the products' operands rounded to bf16.
void matmul_forward_bf16(float* out, const float* inp, const float* weight, const float* bias, size_t N, int C, int OC);
void matmul_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight, size_t N, int C, int OC);
void matmul_gelu_forward_bf16(float* out, float* out_gelu, const float* inp, const float* weight, const float* bias, size_t N, int C, int OC);
void matmul_gelu_backward_bf16(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* pre, const float* weight, size_t N, int C, int OC);
void attention_forward_bf16(float* out, float* lse, const float* qkv, Dims d, Dropout drop, AttentionMode mode, float* att, float* scores);
void attention_backward_bf16(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, Dims d, Dropout drop, AttentionMode mode);
void kv_cache_write(float* kcache, float* vcache, const float* qkv, Dims d, int maxT, int pos);
void attention_decode(float* out, float* att_row, const float* q, const float* kcache, const float* vcache, Dims d, int maxT, int pos);
void to_bf16(uint16_t* dst, const float* src, size_t n);
void matmul_decode_bf16w(float* out, const float* inp, const uint16_t* weight, const float* bias, int C, int OC);
void gelu_forward(float* out, const float* inp, size_t N);
void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N);
void residual_forward(float* out, const float* inp1, const float* inp2, size_t N);
void residual_backward(float* dinp1, float* dinp2, const float* dout, size_t N);
void dropout_forward(float* x, size_t N, Dropout drop);
void dropout_backward(float* dx, size_t N, Dropout drop);
void crossentropy_forward(float* losses, float* probs, const float* logits, const int* targets, size_t N, int V, int Vp);
void crossentropy_backward_inplace(float* probs_to_dlogits, const int* targets, float dloss, size_t N, int V, int Vp);
void crossentropy_fused(float* losses, float* logits_to_dlogits, const int* targets, float dloss, size_t N, int V, int Vp);
void adamw_update(float* param, float* m, float* v, const float* grad, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay, long t, float grad_scale);
double sum_squares(const float* x, size_t n);
double sum(const float* x, size_t n);

// Device scratch kept between calls (cuda/backend.cu), one buffer per slot, grown as
// needed: layers use it instead of a cudaMalloc/cudaFree per call (cudaFree waits for the
// whole device). One stream, so a later call's kernels run after the earlier ones that
// used the same slot.
enum ScratchSlot {
  kScratchBf16X,
  kScratchBf16Y,
  kScratchAttnRowDot,
  kScratchAttnScores,
  kScratchReduce,
  kScratchColumns,
  kScratchEncoderPlan,
  kScratchGeluProbe,
  kScratchSlots
};
void* device_scratch(ScratchSlot slot, size_t bytes);
// GPT_CUDA_SYNC=1: every kernel launch is followed by a synchronisation (CUDA_LAUNCHED).
bool sync_launches();

// Which engine runs the matrix products (cuda/matmul.cu): "cuBLAS (library), ..." (with or
// without cuBLASLt's epilogues) or "gpt.cc's own kernel"; and a test hook forcing one
// (-1: GPT_CUDA_GEMM decides, read again from the environment; 0 own, 1 cuBLAS alone, 2 cuBLAS
// with cuBLASLt).
std::string gemm_engine();
void set_gemm_engine_for_tests(int engine);
// Whether cuBLASLt's GELU epilogues compute gpt.cc's GELU (cuda/matmul.cu lt_gelu_agrees,
// asked once per process; ask_again: ask now): 1 yes, 0 no (GELU then runs as a kernel),
// -1 no cuBLAS/cuBLASLt.
int gelu_epilogue_agrees_for_tests(bool ask_again);
// Attention kernels (cuda/attention.cu) for tests: -1 as GPT_CUDA_ATTENTION says (read again), 0 rows, 1 flash,
// 2 tensor cores (bf16; fp32 runs flash); the kernels fall back to rows where they do not apply.
void set_attention_kernel_for_tests(int kernel);
// The row and decode kernels' score rows live in shared memory up to 47 KiB per block
// and in global memory past it (long contexts); tests lower the limit (bytes; 0: back to
// 47 KiB) to run the global path at small T.
void set_attention_row_smem_for_tests(size_t bytes);

}  // namespace gpt::gpu
