// Every layer of the GPT, forward and backward, declared once. cpu:: functions
// live in src/layers/<stem>.cpp; gpu:: twins (same names, same arguments) will
// live in cuda/<stem>.cu. The model (src/model.cpp) is written once against these.
//
// Legend: B = batch, T = time, C = channels, NH = heads, hs = C/NH head size,
//         V = vocab size, Vp = padded vocab size (rows of wte), N = B*T rows.
// Argument order: outputs, then inputs and weights, then dimensions.
//
// Gradient rule (the same on every backend):
//   * every backward ACCUMULATES (+=) into the parameter gradients (micro-steps of
//     gradient accumulation add up there);
//   * activation gradients are WRITTEN (=) by the backward that produces them: no
//     buffer needs clearing first, and nothing reads a stale value. The one exception
//     is layernorm_backward's dinp, which adds (+=): it is the residual stream's
//     gradient, whose other half residual_backward has written just before;
//   * the in-place transforms rope_backward and dropout_backward rewrite their single
//     buffer.
// Every function is a template over the scalar type S (T is time): float for training, double
// for the finite-difference checks. Explicit instantiations are in each .cpp.
#pragma once
#include <cstddef>
#include <cstdint>

#include "buffer.h"
#include "rng.h"

namespace gpt {

// How attention_forward / attention_backward treat the scores. The model always uses
// the defaults; `gpt attention` (the step-by-step calculator) can turn either off.
struct AttentionMode {
  bool causal = true;  // false: no mask, every query sees every key
  bool scaled = true;  // scores = q.k / sqrt(hs); false: q.k (the "why divide by sqrt(d_k)" demo)
};

}  // namespace gpt

namespace gpt::cpu {

// Loops with less work than this (elements, or multiply-adds) run on the calling thread:
// waking the OpenMP team costs microseconds, more than such a loop, and decoding one
// token is some sixty layer calls on single rows.
constexpr size_t kParallelMin = size_t(1) << 15;

// ---- encoder.cpp: token + positional embedding -----------------------------
// out (B,T,C) = wte[inp[b,t]] + pos_table[t0 + t]; pos_table is (maxT, C): the
// learned wpe or the fixed sinusoidal table; nullptr for RoPE (no additive term).
template <class S>
void encoder_forward(S* out, const int* inp, const S* wte, const S* pos_table, Dims d, int t0 = 0);
// dwte[inp[b,t]] += dout[b,t]; dwpe[t] += dout[b,t] (dwpe nullptr: not learned).
template <class S>
void encoder_backward(S* dwte, S* dwpe, const S* dout, const int* inp, Dims d);

// ---- posenc.cpp: fixed positional encodings --------------------------------
// table (maxT, C): PE[p, 2i] = scale * sin(p / 10000^(2i/C)), PE[p, 2i+1] = scale * cos(same).
template <class S>
void sinusoidal_table(S* table, int maxT, int C, double scale);
// RoPE on the q and k thirds of qkv (B,T,3C), in place: within each head, the pair
// (x[2i], x[2i+1]) at position p = t0 + t is rotated by angle p * 10000^(-2i/hs),
// the angle rope_angles reports.
template <class S>
void rope_forward(S* qkv, Dims d, int t0 = 0);
// In place: dqkv (gradient w.r.t. the rotated q,k) -> gradient w.r.t. unrotated.
template <class S>
void rope_backward(S* dqkv, Dims d, int t0 = 0);
// angles (P, hs/2): angles[p, i] = (t0 + p) * 10000^(-2i/hs), in radians: the very
// angles rope_forward rotates by (it calls this). hs must be even.
void rope_angles(double* angles, int P, int hs, int t0 = 0);

// ---- layernorm.cpp ----------------------------------------------------------
// inp, out (N,C); mean, rstd (N). out = (inp - mean) * rstd * weight + bias, eps 1e-5.
template <class S>
void layernorm_forward(S* out, S* mean, S* rstd, const S* inp, const S* weight, const S* bias,
                       size_t N, int C);
// Fused residual + LayerNorm: res = a + b (N,C), then out, mean, rstd = layernorm(res),
// bit-identical to residual_forward followed by layernorm_forward, one pass over memory.
template <class S>
void residual_layernorm_forward(S* res, S* out, S* mean, S* rstd, const S* a, const S* b, const S* weight,
                                const S* bias, size_t N, int C);
// dinp += (the one activation gradient that adds: see the rule at the top); dweight,
// dbias +=.
template <class S>
void layernorm_backward(S* dinp, S* dweight, S* dbias, const S* dout, const S* inp, const S* weight,
                        const S* mean, const S* rstd, size_t N, int C);

// ---- matmul.cpp -------------------------------------------------------------
// out (N,OC) = inp (N,C) · weight (OC,C)^T + bias (OC); bias may be nullptr.
template <class S>
void matmul_forward(S* out, const S* inp, const S* weight, const S* bias, size_t N, int C, int OC);
// dinp (N,C) = dout · weight; dweight (OC,C) += dout^T · inp; dbias += colsum(dout).
// dinp / dbias may be nullptr (not needed).
template <class S>
void matmul_backward(S* dinp, S* dweight, S* dbias, const S* dout, const S* inp, const S* weight,
                     size_t N, int C, int OC);
// The fc layer with its GELU fused in (the GELU runs on each block of out while the
// GEMM has it in cache, instead of as a separate pass over memory):
//   matmul_gelu_forward:  out = inp · weight^T + bias, out_gelu = gelu(out)
//   matmul_gelu_backward: for the layer after the GELU (inp = gelu(pre)): matmul_backward,
//                         then dpre = gelu'(pre) * dinp. dinp may be nullptr (the
//                         model's case: it needs only dpre), and then the product goes
//                         straight into dpre, which the GELU's derivative scales in place
//                         (on the GPU: cuBLASLt's DGELU epilogue, one pass)
// Same results as matmul_* followed by gelu_forward / gelu_backward.
template <class S>
void matmul_gelu_forward(S* out, S* out_gelu, const S* inp, const S* weight, const S* bias, size_t N, int C, int OC);
template <class S>
void matmul_gelu_backward(S* dpre, S* dinp, S* dweight, S* dbias, const S* dout, const S* inp, const S* pre,
                          const S* weight, size_t N, int C, int OC);
// --dtype bf16: the same four with the operands of every product rounded to bf16 and
// fp32 sums (gemm.h's gemm_bf16); bias, GELU and the bias gradient stay in fp32. These
// fill the matmul entries of the CPU backend's bf16 table (backend.h).
void matmul_forward_bf16(float* out, const float* inp, const float* weight, const float* bias, size_t N, int C, int OC);
void matmul_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, size_t N, int C, int OC);
void matmul_gelu_forward_bf16(float* out, float* out_gelu, const float* inp, const float* weight, const float* bias,
                              size_t N, int C, int OC);
void matmul_gelu_backward_bf16(float* dpre, float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* pre, const float* weight, size_t N, int C, int OC);
// Decoding with bf16 weights (gpt sample --dtype bf16): to_bf16 rounds n floats
// (bf16.h's rule); matmul_decode_bf16w is matmul_forward for one row with the weight
// in bf16 (out, inp, bias and the sums fp32), reading half the bytes.
void to_bf16(uint16_t* dst, const float* src, size_t n);
void matmul_decode_bf16w(float* out, const float* inp, const uint16_t* weight, const float* bias, int C, int OC);
// The scalar, obviously-correct versions the fast ones are tested against.
template <class S>
void matmul_forward_reference(S* out, const S* inp, const S* weight, const S* bias, size_t N, int C,
                              int OC);
template <class S>
void matmul_backward_reference(S* dinp, S* dweight, S* dbias, const S* dout, const S* inp,
                               const S* weight, size_t N, int C, int OC);

// ---- attention.cpp: causal multi-head self-attention ------------------------
// qkv (B,T,3C) holds q | k | v; out (B,T,C); weights softmax(q·k^T / sqrt(hs)) with
// the causal mask (key t2 > query t gets weight 0).
// Flash-style (the model's path): query blocks against key blocks with an online
// softmax; lse (B,NH,T) receives each row's log-sum-exp of the scores, which is all
// backward needs besides q, k, v, out. att and scores (B,NH,T,T), when non-null,
// receive the softmax weights (pre-dropout) and the pre-softmax scores (masked entries
// -inf): `gpt attention` asks for them, training never does.
// drop: dropout applied to the weights when mixing v; the mask element of (b,h,t,t2)
// is the flat index ((b*NH + h)*T + t)*T + t2, as if the weights were stored.
// mode: no mask and/or no 1/sqrt(hs) (see AttentionMode; the model keeps the defaults).
template <class S>
void attention_forward(S* out, S* lse, const S* qkv, Dims d, Dropout drop = {}, AttentionMode mode = {},
                       S* att = nullptr, S* scores = nullptr);
// dqkv = gradient through attention_forward with the same drop and mode; out and
// lse are what that forward produced.
template <class S>
void attention_backward(S* dqkv, const S* dout, const S* qkv, const S* out, const S* lse, Dims d,
                        Dropout drop = {}, AttentionMode mode = {});
// --dtype bf16 (attention_bf16.cpp): the same contract with the q.k and weights.v
// products (and their gradients) on bf16 operands, fp32 softmax and sums. Requests for
// att / scores and non-causal modes run the fp32 functions above.
void attention_forward_bf16(float* out, float* lse, const float* qkv, Dims d, Dropout drop = {},
                            AttentionMode mode = {}, float* att = nullptr, float* scores = nullptr);
void attention_backward_bf16(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                             Dims d, Dropout drop = {}, AttentionMode mode = {});
// The row-by-row reference: att (B,NH,T,T) is required and stored; backward reads it.
// Same inputs, same dropout indexing; the tests hold the flash path against it.
template <class S>
void attention_forward_reference(S* out, S* att, const S* qkv, Dims d, Dropout drop = {},
                                 AttentionMode mode = {}, S* scores = nullptr);
template <class S>
void attention_backward_reference(S* dqkv, const S* dout, const S* qkv, const S* att, Dims d,
                                  Dropout drop = {}, AttentionMode mode = {});
// The KV cache for decoding, kcache and vcache (B, NH, maxT, hs): one head's keys (and
// values) are a contiguous run that attention_decode streams front to back.
// kv_cache_write stores the k and v thirds of qkv (B,3C), the token at position pos.
template <class S>
void kv_cache_write(S* kcache, S* vcache, const S* qkv, Dims d, int maxT, int pos);
// One new query per sequence against the cache: q (B,C) at position pos; the cache holds
// keys/values for positions 0..pos (inclusive, already written).
// out (B,C); att_row (B,NH,pos+1) receives the weights (may be nullptr).
template <class S>
void attention_decode(S* out, S* att_row, const S* q, const S* kcache, const S* vcache, Dims d,
                      int maxT, int pos);

// ---- gelu.cpp: tanh approximation, as in GPT-2 -----------------------------
template <class S>
void gelu_forward(S* out, const S* inp, size_t N);
// dinp = gelu'(inp) * dout.
template <class S>
void gelu_backward(S* dinp, const S* inp, const S* dout, size_t N);

// ---- residual.cpp -----------------------------------------------------------
template <class S>
void residual_forward(S* out, const S* inp1, const S* inp2, size_t N);
// dinp1 = dinp2 = dout.
template <class S>
void residual_backward(S* dinp1, S* dinp2, const S* dout, size_t N);

// ---- dropout.cpp: inverted dropout with a counter-based (Philox) mask --------
// x *= drop.scale(i) in place; element i's mask depends only on (seed, stream, i).
template <class S>
void dropout_forward(S* x, size_t N, Dropout drop);
// dx *= drop.scale(i) in place (the same mask).
template <class S>
void dropout_backward(S* dx, size_t N, Dropout drop);

// ---- classifier.cpp: fused softmax + cross-entropy ---------------------------
// logits (N,Vp); only the first V columns are real. probs (N,Vp) = softmax over
// those V (padded columns set to 0); losses (N) = -log probs[target].
// probs may alias logits (in place).
template <class S>
void crossentropy_forward(S* losses, S* probs, const S* logits, const int* targets, size_t N, int V,
                          int Vp);
// dlogits (N,Vp) = (probs - onehot(target)) * dloss (padded columns 0).
template <class S>
void crossentropy_backward(S* dlogits, const S* probs, const int* targets, S dloss, size_t N, int V,
                           int Vp);
// GPT::backward's after a plain forward: probs (N,Vp) become dlogits = (probs -
// onehot(target)) * dloss in place, padded columns 0 -- crossentropy_backward's result,
// bit for bit, without a second (N,Vp) buffer.
template <class S>
void crossentropy_backward_inplace(S* probs_to_dlogits, const int* targets, S dloss, size_t N, int V, int Vp);
// Training's: crossentropy_forward and crossentropy_backward_inplace in one pass, the
// logits becoming dlogits as each row's loss is taken (llm.c's fused classifier: the
// probabilities are never stored, nor read back), bit for bit the two calls' results.
template <class S>
void crossentropy_fused(S* losses, S* logits_to_dlogits, const int* targets, S dloss, size_t N, int V, int Vp);

// ---- adamw.cpp --------------------------------------------------------------
// One AdamW step (Loshchilov & Hutter) on n elements; t is the 1-based step.
// param -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * param), with the moments
// taken of g = grad * grad_scale (gradient clipping's factor, applied in this pass
// rather than by a separate pass over the gradients; the same bits as scaling first).
template <class S>
void adamw_update(S* param, S* m, S* v, const S* grad, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, long t, S grad_scale = S(1));
// Sum of squares, accumulated in double with a chunking that does not depend on
// the thread count (same result on 1 or 16 threads).
template <class S>
double sum_squares(const S* x, size_t n);

}  // namespace gpt::cpu
