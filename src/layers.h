// Every layer of the GPT, forward and backward, declared once. cpu:: functions
// live in src/layers/<stem>.cpp; gpu:: twins (same names, same arguments) will
// live in cuda/<stem>.cu. The model (src/model.cpp) is written once against these.
//
// Legend: B = batch, T = time, C = channels, NH = heads, hs = C/NH head size,
//         V = vocab size, Vp = padded vocab size (rows of wte), N = B*T rows.
// Argument order: outputs, then inputs and weights, then dimensions.
//
// Gradient rule (the same on every backend):
//   * every backward ACCUMULATES (+=) into the parameter gradients and into the
//     activation gradients it writes (the model zeroes those buffers first);
//   * except the in-place transforms rope_backward and dropout_backward, which
//     rewrite their single buffer.
// Every function is a template over the scalar type: float for training, double
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
template <class T>
void encoder_forward(T* out, const int* inp, const T* wte, const T* pos_table, Dims d, int t0 = 0);
// dwte[inp[b,t]] += dout[b,t]; dwpe[t] += dout[b,t] (dwpe nullptr: not learned).
template <class T>
void encoder_backward(T* dwte, T* dwpe, const T* dout, const int* inp, Dims d);

// ---- posenc.cpp: fixed positional encodings --------------------------------
// table (maxT, C): PE[p, 2i] = sin(p / 10000^(2i/C)), PE[p, 2i+1] = cos(same).
template <class T>
void sinusoidal_table(T* table, int maxT, int C);
// RoPE on the q and k thirds of qkv (B,T,3C), in place: within each head, the pair
// (x[2i], x[2i+1]) at position p = t0 + t is rotated by angle p * 10000^(-2i/hs),
// the angle rope_angles reports.
template <class T>
void rope_forward(T* qkv, Dims d, int t0 = 0);
// In place: dqkv (gradient w.r.t. the rotated q,k) -> gradient w.r.t. unrotated.
template <class T>
void rope_backward(T* dqkv, Dims d, int t0 = 0);
// angles (P, hs/2): angles[p, i] = (t0 + p) * 10000^(-2i/hs), in radians: the very
// angles rope_forward rotates by (it calls this). hs must be even.
void rope_angles(double* angles, int P, int hs, int t0 = 0);

// ---- layernorm.cpp ----------------------------------------------------------
// inp, out (N,C); mean, rstd (N). out = (inp - mean) * rstd * weight + bias, eps 1e-5.
template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias,
                       size_t N, int C);
// Fused residual + LayerNorm: res = a + b (N,C), then out, mean, rstd = layernorm(res),
// bit-identical to residual_forward followed by layernorm_forward, one pass over memory.
template <class T>
void residual_layernorm_forward(T* res, T* out, T* mean, T* rstd, const T* a, const T* b, const T* weight,
                                const T* bias, size_t N, int C);
template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                        const T* mean, const T* rstd, size_t N, int C);

// ---- matmul.cpp -------------------------------------------------------------
// out (N,OC) = inp (N,C) · weight (OC,C)^T + bias (OC); bias may be nullptr.
template <class T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, size_t N, int C, int OC);
// dinp (N,C) += dout · weight; dweight (OC,C) += dout^T · inp; dbias += colsum(dout).
// dinp / dbias may be nullptr (not needed).
template <class T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     size_t N, int C, int OC);
// The fc layer with its GELU fused in (the GELU runs on each block of out while the
// GEMM has it in cache, instead of as a separate pass over memory):
//   matmul_gelu_forward:  out = inp · weight^T + bias, out_gelu = gelu(out)
//   matmul_gelu_backward: for the layer after the GELU (inp = gelu(pre)): matmul_backward,
//                         then dpre += gelu'(pre) * dinp  (dinp is still written)
// Same results as matmul_* followed by gelu_forward / gelu_backward.
template <class T>
void matmul_gelu_forward(T* out, T* out_gelu, const T* inp, const T* weight, const T* bias, size_t N, int C, int OC);
template <class T>
void matmul_gelu_backward(T* dpre, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* pre,
                          const T* weight, size_t N, int C, int OC);
// The scalar, obviously-correct versions the fast ones are tested against.
template <class T>
void matmul_forward_reference(T* out, const T* inp, const T* weight, const T* bias, size_t N, int C,
                              int OC);
template <class T>
void matmul_backward_reference(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                               const T* weight, size_t N, int C, int OC);

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
template <class T>
void attention_forward(T* out, T* lse, const T* qkv, Dims d, Dropout drop = {}, AttentionMode mode = {},
                       T* att = nullptr, T* scores = nullptr);
// dqkv += gradient through attention_forward with the same drop and mode; out and
// lse are what that forward produced.
template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, Dims d,
                        Dropout drop = {}, AttentionMode mode = {});
// The row-by-row reference: att (B,NH,T,T) is required and stored; backward reads it.
// Same inputs, same dropout indexing; the tests hold the flash path against it.
template <class T>
void attention_forward_reference(T* out, T* att, const T* qkv, Dims d, Dropout drop = {},
                                 AttentionMode mode = {}, T* scores = nullptr);
template <class T>
void attention_backward_reference(T* dqkv, const T* dout, const T* qkv, const T* att, Dims d,
                                  Dropout drop = {}, AttentionMode mode = {});
// The KV cache for decoding, kcache and vcache (B, NH, maxT, hs): one head's keys (and
// values) are a contiguous run that attention_decode streams front to back.
// kv_cache_write stores the k and v thirds of qkv (B,3C), the token at position pos.
template <class T>
void kv_cache_write(T* kcache, T* vcache, const T* qkv, Dims d, int maxT, int pos);
// One new query per sequence against the cache: q (B,C) at position pos; the cache holds
// keys/values for positions 0..pos (inclusive, already written).
// out (B,C); att_row (B,NH,pos+1) receives the weights (may be nullptr).
template <class T>
void attention_decode(T* out, T* att_row, const T* q, const T* kcache, const T* vcache, Dims d,
                      int maxT, int pos);

// ---- gelu.cpp: tanh approximation, as in GPT-2 -----------------------------
template <class T>
void gelu_forward(T* out, const T* inp, size_t N);
template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, size_t N);

// ---- residual.cpp -----------------------------------------------------------
template <class T>
void residual_forward(T* out, const T* inp1, const T* inp2, size_t N);
template <class T>
void residual_backward(T* dinp1, T* dinp2, const T* dout, size_t N);

// ---- dropout.cpp: inverted dropout with a counter-based (Philox) mask --------
// x *= drop.scale(i) in place; element i's mask depends only on (seed, stream, i).
template <class T>
void dropout_forward(T* x, size_t N, Dropout drop);
// dx *= drop.scale(i) in place (the same mask).
template <class T>
void dropout_backward(T* dx, size_t N, Dropout drop);

// ---- classifier.cpp: fused softmax + cross-entropy ---------------------------
// logits (N,Vp); only the first V columns are real. probs (N,Vp) = softmax over
// those V (padded columns set to 0); losses (N) = -log probs[target].
// probs may alias logits (in place).
template <class T>
void crossentropy_forward(T* losses, T* probs, const T* logits, const int* targets, size_t N, int V,
                          int Vp);
// dlogits (N,Vp) += (probs - onehot(target)) * dloss (padded columns untouched).
template <class T>
void crossentropy_backward(T* dlogits, const T* probs, const int* targets, T dloss, size_t N, int V,
                           int Vp);

// ---- adamw.cpp --------------------------------------------------------------
// One AdamW step (Loshchilov & Hutter) on n elements; t is the 1-based step.
// param -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * param), with the moments
// taken of g = grad * grad_scale (gradient clipping's factor, applied in this pass
// rather than by a separate pass over the gradients; the same bits as scaling first).
template <class T>
void adamw_update(T* param, T* m, T* v, const T* grad, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, long t, T grad_scale = T(1));
// Sum of squares, accumulated in double with a chunking that does not depend on
// the thread count (same result on 1 or 16 threads).
template <class T>
double sum_squares(const T* x, size_t n);

}  // namespace gpt::cpu
