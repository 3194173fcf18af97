// GPT forward / backward / AdamW / KV-cache decoding, written once against the
// layer functions (layers.h). The same code serves float training and the
// double-precision whole-model gradient check.
#include "model.h"

#include <cmath>
#include <cstring>

#include "check.h"
#include "layers.h"
#include "rng.h"

namespace gpt {

using namespace cpu;

template <class T>
GPT<T>::GPT(const GPTConfig& cfg) : cfg_(cfg) {
  validate(cfg_);
  layout_ = param_layout(cfg_);
  params.resize(layout_.total);
  // grads, m, v: allocated by ensure_training_state on the first training call, so
  // sampling and exporting hold the weights only (a quarter of the memory).
  if (cfg_.pos == PosEnc::sinusoidal) {
    sin_table_.resize(size_t(cfg_.max_seq_len) * cfg_.channels);
    sinusoidal_table(sin_table_.data(), cfg_.max_seq_len, cfg_.channels);
  }
}

template <class T>
void GPT<T>::ensure_training_state() {
  if (grads.size() == layout_.total) return;
  grads.resize(layout_.total);
  m.resize(layout_.total);
  v.resize(layout_.total);
}

template <class T>
void GPT<T>::init_weights(uint64_t seed) {
  SplitMix64 rng(seed);
  const int L = cfg_.num_layers;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    T* p = param(id);
    const size_t n = layout_.numel[id];
    const bool is_weight = tensor_spec(id).decay;  // matrices and embeddings
    if (id == LN1W || id == LN2W || id == LNFW) {
      for (size_t i = 0; i < n; i++) p[i] = T(1);
    } else if (is_weight) {
      const double stdv = (id == ATTPROJW || id == FCPROJW) ? 0.02 / std::sqrt(2.0 * L) : 0.02;
      for (size_t i = 0; i < n; i++) p[i] = T(rng.normal() * stdv);
    } else {
      for (size_t i = 0; i < n; i++) p[i] = T(0);
    }
  }
  // Padded vocabulary rows never receive gradient; keep them exactly zero.
  const size_t C = size_t(cfg_.channels);
  std::memset(static_cast<void*>(param(WTE) + size_t(cfg_.vocab_size) * C), 0,
              (size_t(cfg_.padded_vocab_size) - cfg_.vocab_size) * C * sizeof(T));
}

template <class T>
const T* GPT<T>::pos_table() const {
  switch (cfg_.pos) {
    case PosEnc::learned: return params.data() + layout_.offset[WPE];
    case PosEnc::sinusoidal: return sin_table_.data();
    case PosEnc::rope: return nullptr;
  }
  return nullptr;
}

namespace {
// Sizes of the activation tensors in Activations' member order. Gradients skip
// what backward never needs (attention log-sum-exps, LayerNorm statistics, losses).
template <class T>
void assign_activations(Activations<T>& a, T* base, size_t* total, const GPTConfig& c, int B, int Tlen,
                        bool for_grads) {
  const size_t L = size_t(c.num_layers), BT = size_t(B) * Tlen, C = size_t(c.channels);
  const size_t NH = size_t(c.num_heads), Vp = size_t(c.padded_vocab_size);
  const size_t g = for_grads ? 0 : 1;
  struct Slot { T** ptr; size_t n; };
  Slot slots[] = {
      {&a.encoded, BT * C},          {&a.ln1, L * BT * C},         {&a.ln1_mean, g * L * BT},
      {&a.ln1_rstd, g * L * BT},     {&a.qkv, L * BT * 3 * C},     {&a.atty, L * BT * C},
      {&a.att_lse, g * L * B * NH * Tlen}, {&a.attproj, L * BT * C}, {&a.residual2, L * BT * C},
      {&a.ln2, L * BT * C},          {&a.ln2_mean, g * L * BT},    {&a.ln2_rstd, g * L * BT},
      {&a.fch, L * BT * 4 * C},      {&a.fch_gelu, L * BT * 4 * C}, {&a.fcproj, L * BT * C},
      {&a.residual3, L * BT * C},    {&a.lnf, BT * C},             {&a.lnf_mean, g * BT},
      {&a.lnf_rstd, g * BT},         {&a.logits, BT * Vp},         {&a.losses, g * BT},
  };
  size_t off = 0;
  for (auto& s : slots) {
    *s.ptr = base ? (s.n ? base + off : nullptr) : nullptr;
    off += (s.n + 15) / 16 * 16;  // keep every tensor 64-byte aligned
  }
  *total = off;
}
}  // namespace

template <class T>
void GPT<T>::ensure_acts(int B, int Tlen) {
  GPT_CHECK(B >= 1, "batch size ", B);
  GPT_CHECK(Tlen >= 1 && Tlen <= cfg_.max_seq_len, "sequence length ", Tlen, " outside 1..", cfg_.max_seq_len);
  B_ = B;
  T_ = Tlen;
  if (B == alloc_B_ && Tlen == alloc_T_) return;
  size_t n = 0;
  assign_activations<T>(acts_, nullptr, &n, cfg_, B, Tlen, false);
  act_mem_.resize(n);
  assign_activations<T>(acts_, act_mem_.data(), &n, cfg_, B, Tlen, false);
  assign_activations<T>(dacts_, nullptr, &n, cfg_, B, Tlen, true);
  grad_act_mem_.resize(n);
  assign_activations<T>(dacts_, grad_act_mem_.data(), &n, cfg_, B, Tlen, true);
  alloc_B_ = B;
  alloc_T_ = Tlen;
}

template <class T>
std::optional<double> GPT<T>::forward(const int* inputs, const int* targets, int B, int Tlen, bool train,
                                      DropoutKey key) {
  ensure_acts(B, Tlen);
  const int Tl = Tlen;
  const Dims d = dims();
  const size_t BT = d.BT(), C = size_t(cfg_.channels), L = size_t(cfg_.num_layers);
  const int V = cfg_.vocab_size, Vp = cfg_.padded_vocab_size;
  for (size_t i = 0; i < BT; i++) {
    if (inputs[i] < 0 || inputs[i] >= V)
      GPT_FAIL("token id ", inputs[i], " at position ", i, " is outside the model's vocabulary 0..", V - 1,
               "; were the data prepared with a different tokenizer?");
    if (targets && (targets[i] < 0 || targets[i] >= V))
      GPT_FAIL("target token id ", targets[i], " is outside the model's vocabulary 0..", V - 1);
  }
  inputs_.assign(inputs, inputs + BT);
  if (targets) targets_.assign(targets, targets + BT);
  else targets_.clear();
  train_ = train && cfg_.dropout > 0.0f;
  key_ = key;
  auto drop = [&](int site) {
    return train_ ? Dropout{cfg_.dropout, key_.seed, dropout_stream(site)} : Dropout{};
  };
  Activations<T>& a = acts_;

  encoder_forward(a.encoded, inputs, param(WTE), pos_table(), d);
  if (train_) dropout_forward(a.encoded, BT * C, drop(0));
  for (size_t l = 0; l < L; l++) {
    const T* residual = l == 0 ? a.encoded : a.residual3 + (l - 1) * BT * C;
    T* ln1 = a.ln1 + l * BT * C;
    T* qkv = a.qkv + l * BT * 3 * C;
    T* atty = a.atty + l * BT * C;
    T* attproj = a.attproj + l * BT * C;
    T* residual2 = a.residual2 + l * BT * C;
    T* ln2 = a.ln2 + l * BT * C;
    T* fch = a.fch + l * BT * 4 * C;
    T* fch_gelu = a.fch_gelu + l * BT * 4 * C;
    T* fcproj = a.fcproj + l * BT * C;
    T* residual3 = a.residual3 + l * BT * C;
    const int li = int(l);
    if (l == 0)  // later layers get ln1 from the fused residual + LayerNorm below
      layernorm_forward(ln1, a.ln1_mean, a.ln1_rstd, residual, param(LN1W, 0), param(LN1B, 0), BT, int(C));
    matmul_forward(qkv, ln1, param(QKVW, li), param(QKVB, li), BT, int(C), int(3 * C));
    if (cfg_.pos == PosEnc::rope) rope_forward(qkv, d);
    attention_forward(atty, a.att_lse + l * size_t(B) * d.NH * Tl, qkv, d, drop(1 + 3 * li));
    matmul_forward(attproj, atty, param(ATTPROJW, li), param(ATTPROJB, li), BT, int(C), int(C));
    if (train_) dropout_forward(attproj, BT * C, drop(2 + 3 * li));
    residual_layernorm_forward(residual2, ln2, a.ln2_mean + l * BT, a.ln2_rstd + l * BT, residual, attproj,
                               param(LN2W, li), param(LN2B, li), BT, int(C));
    matmul_gelu_forward(fch, fch_gelu, ln2, param(FCW, li), param(FCB, li), BT, int(C), int(4 * C));
    matmul_forward(fcproj, fch_gelu, param(FCPROJW, li), param(FCPROJB, li), BT, int(4 * C), int(C));
    if (train_) dropout_forward(fcproj, BT * C, drop(3 + 3 * li));
    // residual3 = residual2 + fcproj, fused with the LayerNorm that reads it: the next
    // layer's ln1, or the final lnf.
    if (l + 1 < L)
      residual_layernorm_forward(residual3, a.ln1 + (l + 1) * BT * C, a.ln1_mean + (l + 1) * BT,
                                 a.ln1_rstd + (l + 1) * BT, residual2, fcproj, param(LN1W, li + 1),
                                 param(LN1B, li + 1), BT, int(C));
    else
      residual_layernorm_forward(residual3, a.lnf, a.lnf_mean, a.lnf_rstd, residual2, fcproj, param(LNFW),
                                 param(LNFB), BT, int(C));
  }
  // Tied output head: logits = lnf · wte^T (padded rows give padded columns, ignored).
  matmul_forward(a.logits, a.lnf, param(WTE), static_cast<const T*>(nullptr), BT, int(C), Vp);
  if (!targets) return std::nullopt;
  crossentropy_forward(a.losses, a.logits, a.logits, targets, BT, V, Vp);
  double sum = 0.0;
  for (size_t i = 0; i < BT; i++) sum += double(a.losses[i]);
  return sum / double(BT);
}

template <class T>
void GPT<T>::backward(T loss_scale) {
  GPT_CHECK(!targets_.empty(), "backward() needs a forward() with targets first");
  ensure_training_state();
  grad_act_mem_.zero();
  const Dims d = dims();
  const int B = B_, Tl = T_;
  const size_t BT = d.BT(), C = size_t(cfg_.channels), L = size_t(cfg_.num_layers);
  const int V = cfg_.vocab_size, Vp = cfg_.padded_vocab_size;
  auto drop = [&](int site) {
    return train_ ? Dropout{cfg_.dropout, key_.seed, dropout_stream(site)} : Dropout{};
  };
  Activations<T>& a = acts_;
  Activations<T>& g = dacts_;

  // loss = mean over BT of losses
  crossentropy_backward(g.logits, a.logits, targets_.data(), T(loss_scale / T(BT)), BT, V, Vp);
  // logits = lnf · wte^T
  matmul_backward(g.lnf, grad(WTE), static_cast<T*>(nullptr), g.logits, a.lnf, param(WTE), BT, int(C), Vp);
  // lnf = layernorm(residual3[L-1])
  T* dlast = g.residual3 + (L - 1) * BT * C;
  layernorm_backward(dlast, grad(LNFW), grad(LNFB), g.lnf, a.residual3 + (L - 1) * BT * C, param(LNFW),
                     a.lnf_mean, a.lnf_rstd, BT, int(C));
  for (size_t l = L; l-- > 0;) {
    const int li = int(l);
    const T* residual = l == 0 ? a.encoded : a.residual3 + (l - 1) * BT * C;
    T* dresidual = l == 0 ? g.encoded : g.residual3 + (l - 1) * BT * C;
    const size_t o1 = l * BT * C, o3 = l * BT * 3 * C, o4 = l * BT * 4 * C;
    // residual3 = residual2 + fcproj
    residual_backward(g.residual2 + o1, g.fcproj + o1, g.residual3 + o1, BT * C);
    if (train_) dropout_backward(g.fcproj + o1, BT * C, drop(3 + 3 * li));
    // fcproj = fch_gelu · fcprojw^T + fcprojb, and fch_gelu = gelu(fch)
    matmul_gelu_backward(g.fch + o4, g.fch_gelu + o4, grad(FCPROJW, li), grad(FCPROJB, li), g.fcproj + o1,
                         a.fch_gelu + o4, a.fch + o4, param(FCPROJW, li), BT, int(4 * C), int(C));
    // fch = ln2 · fcw^T + fcb
    matmul_backward(g.ln2 + o1, grad(FCW, li), grad(FCB, li), g.fch + o4, a.ln2 + o1, param(FCW, li), BT,
                    int(C), int(4 * C));
    // ln2 = layernorm(residual2)
    layernorm_backward(g.residual2 + o1, grad(LN2W, li), grad(LN2B, li), g.ln2 + o1, a.residual2 + o1,
                       param(LN2W, li), a.ln2_mean + l * BT, a.ln2_rstd + l * BT, BT, int(C));
    // residual2 = residual + attproj
    residual_backward(dresidual, g.attproj + o1, g.residual2 + o1, BT * C);
    if (train_) dropout_backward(g.attproj + o1, BT * C, drop(2 + 3 * li));
    // attproj = atty · attprojw^T + attprojb
    matmul_backward(g.atty + o1, grad(ATTPROJW, li), grad(ATTPROJB, li), g.attproj + o1, a.atty + o1,
                    param(ATTPROJW, li), BT, int(C), int(C));
    // atty = attention(qkv)
    attention_backward(g.qkv + o3, g.atty + o1, a.qkv + o3, a.atty + o1, a.att_lse + l * size_t(B) * d.NH * Tl,
                       d, drop(1 + 3 * li));
    // qkv = rope(qkv_linear)
    if (cfg_.pos == PosEnc::rope) rope_backward(g.qkv + o3, d);
    // qkv = ln1 · qkvw^T + qkvb
    matmul_backward(g.ln1 + o1, grad(QKVW, li), grad(QKVB, li), g.qkv + o3, a.ln1 + o1, param(QKVW, li), BT,
                    int(C), int(3 * C));
    // ln1 = layernorm(residual)
    layernorm_backward(dresidual, grad(LN1W, li), grad(LN1B, li), g.ln1 + o1, residual, param(LN1W, li),
                       a.ln1_mean + l * BT, a.ln1_rstd + l * BT, BT, int(C));
  }
  if (train_) dropout_backward(g.encoded, BT * C, drop(0));
  // encoded = wte[inputs] + wpe[t]
  encoder_backward(grad(WTE), cfg_.pos == PosEnc::learned ? grad(WPE) : static_cast<T*>(nullptr), g.encoded,
                   inputs_.data(), d);
}

template <class T>
double GPT<T>::grad_norm() const {
  return std::sqrt(sum_squares(grads.data(), grads.size()));
}

template <class T>
double GPT<T>::step(float lr, const TrainConfig& tc, long t) {
  ensure_training_state();
  const double norm = grad_norm();
  if (!std::isfinite(norm))
    GPT_FAIL("gradient norm is ", norm, " at step ", t,
             ": training diverged; lower --lr or enable --grad-clip, then --resume from the last checkpoint");
  // Clipping scales the gradients inside the update pass (grads stay as backward left them).
  const T clip = tc.grad_clip > 0.0f && norm > tc.grad_clip ? T(tc.grad_clip / (norm + 1e-6)) : T(1);
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    const size_t off = layout_.offset[id], n = layout_.numel[id];
    if (n == 0) continue;
    adamw_update(params.data() + off, m.data() + off, v.data() + off, grads.data() + off, n, lr, tc.beta1,
                 tc.beta2, tc.eps, tensor_spec(id).decay ? tc.weight_decay : 0.0f, t, clip);
  }
  return norm;
}

template <class T>
const T* GPT<T>::decode(int token, int pos, std::vector<T>* att_maps) {
  const int maxT = cfg_.max_seq_len, L = cfg_.num_layers, NH = cfg_.num_heads;
  const size_t C = size_t(cfg_.channels), Vp = size_t(cfg_.padded_vocab_size);
  GPT_CHECK(pos >= 0 && pos < maxT, "decode position ", pos, " outside 0..", maxT - 1);
  if (token < 0 || token >= cfg_.vocab_size)
    GPT_FAIL("token id ", token, " is outside the model's vocabulary 0..", cfg_.vocab_size - 1);
  if (kcache_.size() == 0) {
    kcache_.resize(size_t(L) * maxT * C);
    vcache_.resize(size_t(L) * maxT * C);
    dec_mem_.resize(16 * C + 4 * C + Vp + size_t(NH) * maxT);
  }
  T* x = dec_mem_.data();       // residual stream (C)
  T* ln = x + C;                // (C)
  T* qkv = ln + C;              // (3C)
  T* atty = qkv + 3 * C;        // (C)
  T* tmp = atty + C;            // (C)
  T* fch = tmp + C;             // (4C)
  T* fcg = fch + 4 * C;         // (4C)
  T* logits = fcg + 4 * C;      // (Vp)
  T* att = logits + Vp;         // (NH, maxT)
  T* mean = att + size_t(NH) * maxT;
  T* rstd = mean + 1;
  const Dims d{1, 1, int(C), NH};
  if (att_maps) att_maps->assign(size_t(L) * NH * (pos + 1), T(0));

  encoder_forward(x, &token, param(WTE), pos_table(), d, pos);
  for (int l = 0; l < L; l++) {
    layernorm_forward(ln, mean, rstd, x, param(LN1W, l), param(LN1B, l), 1, int(C));
    matmul_forward(qkv, ln, param(QKVW, l), param(QKVB, l), 1, int(C), int(3 * C));
    if (cfg_.pos == PosEnc::rope) rope_forward(qkv, d, pos);
    T* kc = kcache_.data() + size_t(l) * maxT * C;
    T* vc = vcache_.data() + size_t(l) * maxT * C;
    kv_cache_write(kc, vc, qkv, d, maxT, pos);
    attention_decode(atty, att, qkv, kc, vc, d, maxT, pos);
    if (att_maps)
      std::memcpy(att_maps->data() + size_t(l) * NH * (pos + 1), att, size_t(NH) * (pos + 1) * sizeof(T));
    matmul_forward(tmp, atty, param(ATTPROJW, l), param(ATTPROJB, l), 1, int(C), int(C));
    residual_forward(x, x, tmp, C);
    layernorm_forward(ln, mean, rstd, x, param(LN2W, l), param(LN2B, l), 1, int(C));
    matmul_forward(fch, ln, param(FCW, l), param(FCB, l), 1, int(C), int(4 * C));
    gelu_forward(fcg, fch, 4 * C);
    matmul_forward(tmp, fcg, param(FCPROJW, l), param(FCPROJB, l), 1, int(4 * C), int(C));
    residual_forward(x, x, tmp, C);
  }
  layernorm_forward(ln, mean, rstd, x, param(LNFW), param(LNFB), 1, int(C));
  matmul_forward(logits, ln, param(WTE), static_cast<const T*>(nullptr), 1, int(C), int(Vp));
  return logits;
}

template class GPT<float>;
template class GPT<double>;

}  // namespace gpt
