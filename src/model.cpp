// GPT forward / backward / AdamW / KV-cache decoding, written once against the
// backend table (backend.h): every layer call goes through be_, every buffer is the
// backend's. The same code serves float training and the double-precision
// whole-model gradient check, and any device with a backend.
#include "model.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <cstring>

#include "check.h"
#include "rng.h"

namespace gpt {

template <class S>
GPT<S>::GPT(const GPTConfig& cfg, DeviceKind device, Dtype dtype) : cfg_(cfg), be_(backend_for<S>(device, dtype)) {
  validate(cfg_);
  layout_ = param_layout(cfg_);
  for (DeviceBuffer<S>* b : {&params_, &grads_, &m_, &v_, &sin_table_, &act_mem_, &grad_act_mem_, &kcache_,
                             &vcache_, &dec_mem_})
    b->bind(be_.mem);
  inputs_.bind(be_.mem);
  targets_.bind(be_.mem);
  dec_token_.bind(be_.mem);
  dec_w16_.bind(be_.mem);
  params_.resize(layout_.total);
  shard_hi_ = layout_.total;
  // grads, m, v: allocated by ensure_training_state on the first training call, so
  // sampling and exporting hold the weights only (a quarter of the memory).
  if (cfg_.pos == PosEnc::sinusoidal) {  // a fixed table, computed on the host once
    std::vector<S> table(size_t(cfg_.max_seq_len) * cfg_.channels);
    cpu::sinusoidal_table(table.data(), cfg_.max_seq_len, cfg_.channels, double(cfg_.pos_scale));
    sin_table_.resize(table.size());
    sin_table_.write(table.data(), 0, table.size());
  }
}

template <class S>
void GPT<S>::ensure_training_state() {
  if (has_training_state()) return;
  grads_.resize(layout_.total);
  m_.resize(shard_hi_ - shard_lo_);
  v_.resize(shard_hi_ - shard_lo_);
}

template <class S>
void GPT<S>::shard_optimizer(size_t begin, size_t end) {
  GPT_CHECK(begin <= end && end <= layout_.total, "shard [", begin, ", ", end, ") of ", layout_.total);
  GPT_CHECK(!has_training_state(), "shard_optimizer() before the first training call");
  shard_lo_ = begin;
  shard_hi_ = end;
}

template <class S>
DeviceBuffer<S>& GPT<S>::store(Store s) {
  return const_cast<DeviceBuffer<S>&>(static_cast<const GPT&>(*this).store(s));
}

template <class S>
const DeviceBuffer<S>& GPT<S>::store(Store s) const {
  switch (s) {
    case Store::params: return params_;
    case Store::grads: return grads_;
    case Store::m: return m_;
    case Store::v: return v_;
  }
  GPT_CHECK(false, "unknown store");
  return params_;
}

template <class S>
void GPT<S>::read(Store s, S* host, size_t off, size_t n) const {
  const DeviceBuffer<S>& b = store(s);
  const size_t base = store_base(s);
  GPT_CHECK(off >= base && off - base + n <= b.size(), "read of [", off, ", ", off + n, ") from a buffer of ",
            b.size(), " at ", base, " (gradients and optimizer state exist only after ensure_training_state)");
  b.read(host, off - base, n);
}

template <class S>
void GPT<S>::write(Store s, const S* host, size_t off, size_t n) {
  if (s != Store::params) ensure_training_state();
  DeviceBuffer<S>& b = store(s);
  const size_t base = store_base(s);
  GPT_CHECK(off >= base && off - base + n <= b.size(), "write of [", off, ", ", off + n, ") into a buffer of ",
            b.size(), " at ", base);
  b.write(host, off - base, n);
  if (s == Store::params) params_changed();
}

template <class S>
std::vector<S> GPT<S>::read(Store s) const {
  std::vector<S> out(store(s).size());
  read(s, out.data(), store_base(s), out.size());
  return out;
}

template <class S>
void GPT<S>::write(Store s, const std::vector<S>& host) {
  GPT_CHECK(host.size() == layout_.total, "expected ", layout_.total, " values, got ", host.size());
  if (s != Store::params) ensure_training_state();  // so m and v have their (shard) size
  const size_t base = store_base(s);
  write(s, host.data() + base, base, store(s).size());
}

template <class S>
std::vector<S> GPT<S>::read_tensor(int id) const {
  std::vector<S> out(layout_.numel[id]);
  read(Store::params, out.data(), layout_.offset[id], out.size());
  return out;
}

template <class S>
void GPT<S>::write_tensor(int id, const std::vector<S>& host) {
  GPT_CHECK(host.size() == layout_.numel[id], tensor_spec(id).name, ": expected ", layout_.numel[id],
            " values, got ", host.size());
  write(Store::params, host.data(), layout_.offset[id], host.size());
}

template <class S>
void GPT<S>::init_weights(uint64_t seed) {
  SplitMix64 rng(seed);
  const int L = cfg_.num_layers;
  std::vector<S> host(layout_.total);  // padded vocabulary rows stay exactly zero
  const size_t C = size_t(cfg_.channels);
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    S* p = host.data() + layout_.offset[id];
    const size_t n = layout_.numel[id];
    const bool is_weight = tensor_spec(id).decay;  // matrices and embeddings
    if (id == LN1W || id == LN2W || id == LNFW) {
      for (size_t i = 0; i < n; i++) p[i] = S(1);
    } else if (is_weight) {
      const double stdv = (id == ATTPROJW || id == FCPROJW) ? 0.02 / std::sqrt(2.0 * L) : 0.02;
      for (size_t i = 0; i < n; i++) p[i] = S(rng.normal() * stdv);
    }
  }
  // Padded vocabulary rows never receive gradient; keep them exactly zero.
  std::fill(host.begin() + layout_.offset[WTE] + size_t(cfg_.vocab_size) * C,
            host.begin() + layout_.offset[WTE] + size_t(cfg_.padded_vocab_size) * C, S(0));
  write(Store::params, host);
}

template <class S>
const S* GPT<S>::pos_table() {
  switch (cfg_.pos) {
    case PosEnc::learned: return param(WPE);
    case PosEnc::sinusoidal: return sin_table_.data();
    case PosEnc::rope: return nullptr;
  }
  return nullptr;
}

template <class S>
Dropout GPT<S>::dropout(DropSite site, int layer) const {
  if (!train_) return Dropout{};
  // Stream numbers: 0 for the embedding, then three per layer (attention, its
  // projection, the MLP projection); the micro-step counter above them.
  const uint64_t s = site == DropSite::embedding ? 0 : 1 + 3 * uint64_t(layer) + uint64_t(int(site) - 1);
  return Dropout{cfg_.dropout, key_.seed, (key_.counter << 16) | s};
}

namespace {
// Sizes of the activation tensors in Activations' member order (what its comments
// say). Gradients skip what backward never needs (the rows marked (*)) and hold one
// layer of the per-layer rows.
template <class S>
size_t assign_activations(Activations<S>& a, S* base, const GPTConfig& c, int B, int T, bool for_grads) {
  const size_t L = for_grads ? 1 : size_t(c.num_layers), N = size_t(B) * T, C = size_t(c.channels);
  const size_t NH = size_t(c.num_heads), Vp = size_t(c.padded_vocab_size);
  const size_t g = for_grads ? 0 : 1;
  struct Slot { S** ptr; size_t n; };
  const Slot slots[] = {
      {&a.encoded, N * C},       {&a.ln1, L * N * C},          {&a.ln1_mean, g * L * N},
      {&a.ln1_rstd, g * L * N},  {&a.qkv, L * N * 3 * C},      {&a.atty, L * N * C},
      {&a.att_lse, g * L * NH * N}, {&a.attproj, L * N * C},   {&a.residual2, L * N * C},
      {&a.ln2, L * N * C},       {&a.ln2_mean, g * L * N},     {&a.ln2_rstd, g * L * N},
      {&a.fch, L * N * 4 * C},   {&a.fch_gelu, g * L * N * 4 * C}, {&a.fcproj, L * N * C},
      {&a.residual3, L * N * C}, {&a.lnf, N * C},              {&a.lnf_mean, g * N},
      {&a.lnf_rstd, g * N},      {&a.logits, g * N * Vp},      {&a.losses, g * N},
  };
  static_assert(sizeof(slots) / sizeof(slots[0]) * sizeof(S*) == sizeof(Activations<S>),
                "one slot per Activations member");
  size_t off = 0;
  for (const Slot& s : slots) {
    *s.ptr = base && s.n ? base + off : nullptr;
    off += (s.n + 15) / 16 * 16;  // keep every tensor 64-byte aligned
  }
  return off;
}

// p + off, or nullptr for a tensor the set does not hold.
template <class S>
S* at(S* p, size_t off) {
  return p ? p + off : nullptr;
}
}  // namespace

template <class S>
LayerActivations<S> GPT<S>::layer_view(const Activations<S>& a, int l) const {
  const size_t N = dims().BT(), C = size_t(cfg_.channels), li = size_t(l);
  const size_t o1 = li * N * C, o3 = 3 * o1, o4 = 4 * o1, os = li * N;
  return {at(a.ln1, o1),       at(a.ln1_mean, os), at(a.ln1_rstd, os), at(a.qkv, o3),
          at(a.atty, o1),      at(a.att_lse, li * size_t(cfg_.num_heads) * N),
          at(a.attproj, o1),   at(a.residual2, o1), at(a.ln2, o1),     at(a.ln2_mean, os),
          at(a.ln2_rstd, os),  at(a.fch, o4),       at(a.fch_gelu, o4), at(a.fcproj, o1),
          at(a.residual3, o1)};
}

template <class S>
void GPT<S>::ensure_acts(int B, int T) {
  GPT_CHECK(B >= 1, "batch size ", B);
  GPT_CHECK(T >= 1 && T <= cfg_.max_seq_len, "sequence length ", T, " outside 1..", cfg_.max_seq_len);
  B_ = B;
  T_ = T;
  if (B == alloc_B_ && T == alloc_T_) return;
  act_mem_.resize(assign_activations<S>(acts_, nullptr, cfg_, B, T, false));
  assign_activations<S>(acts_, act_mem_.data(), cfg_, B, T, false);
  grad_act_mem_.resize(assign_activations<S>(dacts_, nullptr, cfg_, B, T, true));
  assign_activations<S>(dacts_, grad_act_mem_.data(), cfg_, B, T, true);
  inputs_.resize(size_t(B) * T);
  targets_.resize(size_t(B) * T);
  alloc_B_ = B;
  alloc_T_ = T;
}

template <class S>
std::optional<double> GPT<S>::forward(const int* inputs, const int* targets, int B, int T, bool train,
                                      DropoutKey key) {
  return forward_impl(inputs, targets, B, T, train, key, std::nullopt);
}

template <class S>
std::optional<double> GPT<S>::forward_impl(const int* inputs, const int* targets, int B, int T, bool train,
                                           DropoutKey key, std::optional<S> fused_dloss) {
  ensure_acts(B, T);
  const Dims d = dims();
  const size_t N = d.BT();
  const int C = cfg_.channels, L = cfg_.num_layers, V = cfg_.vocab_size, Vp = cfg_.padded_vocab_size;
  for (size_t i = 0; i < N; i++) {
    if (inputs[i] < 0 || inputs[i] >= V)
      GPT_FAIL("token id ", inputs[i], " at position ", i, " is outside the model's vocabulary 0..", V - 1,
               "; were the data prepared with a different tokenizer?");
    if (targets && (targets[i] < 0 || targets[i] >= V))
      GPT_FAIL("target token id ", targets[i], " is outside the model's vocabulary 0..", V - 1);
  }
  inputs_.write(inputs, 0, N);
  have_targets_ = targets != nullptr;
  if (targets) targets_.write(targets, 0, N);
  train_ = train && cfg_.dropout > 0.0f;
  key_ = key;
  const Backend<S>& be = be_;
  const Activations<S>& a = acts_;

  be.encoder_forward(a.encoded, inputs_.data(), param(WTE), pos_table(), d, 0);
  if (train_) be.dropout_forward(a.encoded, N * C, dropout(DropSite::embedding, 0));
  for (int l = 0; l < L; l++) {
    const LayerActivations<S> x = layer_view(a, l);
    const S* residual = l == 0 ? a.encoded : layer_view(a, l - 1).residual3;
    if (l == 0)  // later layers get ln1 from the fused residual + LayerNorm below
      be.layernorm_forward(x.ln1, x.ln1_mean, x.ln1_rstd, residual, param(LN1W, 0), param(LN1B, 0), N, C);
    be.matmul_forward(x.qkv, x.ln1, param(QKVW, l), param(QKVB, l), N, C, 3 * C);
    if (cfg_.pos == PosEnc::rope) be.rope_forward(x.qkv, d, 0);
    be.attention_forward(x.atty, x.att_lse, x.qkv, d, dropout(DropSite::attention, l), AttentionMode{}, nullptr,
                         nullptr);
    be.matmul_forward(x.attproj, x.atty, param(ATTPROJW, l), param(ATTPROJB, l), N, C, C);
    if (train_) be.dropout_forward(x.attproj, N * C, dropout(DropSite::attn_proj, l));
    be.residual_layernorm_forward(x.residual2, x.ln2, x.ln2_mean, x.ln2_rstd, residual, x.attproj, param(LN2W, l),
                                  param(LN2B, l), N, C);
    be.matmul_gelu_forward(x.fch, x.fch_gelu, x.ln2, param(FCW, l), param(FCB, l), N, C, 4 * C);
    be.matmul_forward(x.fcproj, x.fch_gelu, param(FCPROJW, l), param(FCPROJB, l), N, 4 * C, C);
    if (train_) be.dropout_forward(x.fcproj, N * C, dropout(DropSite::mlp_proj, l));
    // residual3 = residual2 + fcproj, fused with the LayerNorm that reads it: the next
    // layer's ln1, or the final lnf.
    if (l + 1 < L) {
      const LayerActivations<S> next = layer_view(a, l + 1);
      be.residual_layernorm_forward(x.residual3, next.ln1, next.ln1_mean, next.ln1_rstd, x.residual2, x.fcproj,
                                    param(LN1W, l + 1), param(LN1B, l + 1), N, C);
    } else {
      be.residual_layernorm_forward(x.residual3, a.lnf, a.lnf_mean, a.lnf_rstd, x.residual2, x.fcproj,
                                    param(LNFW), param(LNFB), N, C);
    }
  }
  // Tied output head: logits = lnf · wte^T (padded rows give padded columns, ignored).
  be.matmul_forward(a.logits, a.lnf, param(WTE), static_cast<const S*>(nullptr), N, C, Vp);
  if (!targets) return std::nullopt;
  if (fused_dloss)
    be.crossentropy_fused(a.losses, a.logits, targets_.data(), *fused_dloss, N, V, Vp);
  else
    be.crossentropy_forward(a.losses, a.logits, a.logits, targets_.data(), N, V, Vp);
  return be.sum(a.losses, N) / double(N);
}

template <class S>
std::vector<S> GPT<S>::logits() const {
  std::vector<S> out(dims().BT() * size_t(cfg_.padded_vocab_size));
  if (acts_.logits) be_.mem.to_host(out.data(), acts_.logits, out.size() * sizeof(S));
  return out;
}

template <class S>
std::vector<S> GPT<S>::losses() const {
  GPT_CHECK(have_targets_, "losses() needs a forward() with targets first");
  std::vector<S> out(dims().BT());
  be_.mem.to_host(out.data(), acts_.losses, out.size() * sizeof(S));
  return out;
}

template <class S>
double GPT<S>::forward_backward(const int* inputs, const int* targets, int B, int T, DropoutKey key, S loss_scale) {
  GPT_CHECK(targets != nullptr, "forward_backward() needs targets");
  // dloss as backward computes it, so the fused classifier's gradient has its bits
  const double loss = *forward_impl(inputs, targets, B, T, true, key, S(loss_scale / S(size_t(B) * size_t(T))));
  backward_from_logits();
  return loss;
}

template <class S>
void GPT<S>::backward(S loss_scale) {
  GPT_CHECK(have_targets_, "backward() needs a forward() with targets first");
  // loss = mean over N of losses; the probabilities become the logits' gradient in place
  // (nothing reads them after this), so the gradients hold no (N, Vp) tensor.
  const size_t N = dims().BT();
  be_.crossentropy_backward_inplace(acts_.logits, targets_.data(), S(loss_scale / S(N)), N, cfg_.vocab_size,
                                    cfg_.padded_vocab_size);
  backward_from_logits();
}

template <class S>
void GPT<S>::backward_from_logits() {
  ensure_training_state();
  const Dims d = dims();
  const size_t N = d.BT();
  const int C = cfg_.channels, L = cfg_.num_layers, Vp = cfg_.padded_vocab_size;
  const Backend<S>& be = be_;
  const Activations<S>& a = acts_;
  const Activations<S>& g = dacts_;

  // logits = lnf · wte^T
  be.matmul_backward(g.lnf, grad(WTE), static_cast<S*>(nullptr), a.logits, a.lnf, param(WTE), N, C, Vp);
  // One layer of gradient buffers serves every layer (model.h, Activations).
  const LayerActivations<S> dx = grad_view();
  // lnf = layernorm(residual3[L-1]). Every other activation gradient is first written
  // by an overwriting backward (layers.h's rule); this one is only added to.
  be.mem.zero(dx.residual3, N * size_t(C) * sizeof(S));
  be.layernorm_backward(dx.residual3, grad(LNFW), grad(LNFB), g.lnf, layer_view(a, L - 1).residual3, param(LNFW),
                        a.lnf_mean, a.lnf_rstd, N, C);
  for (int l = L - 1; l >= 0; l--) {
    const LayerActivations<S> x = layer_view(a, l);
    const S* residual = l == 0 ? a.encoded : layer_view(a, l - 1).residual3;
    // The gradient of this layer's input: layer l - 1's residual3 gradient, the buffer
    // dx.residual3 itself, free again once residual_backward below has read it.
    S* dresidual = l == 0 ? g.encoded : dx.residual3;
    // residual3 = residual2 + fcproj
    be.residual_backward(dx.residual2, dx.fcproj, dx.residual3, N * C);
    if (train_) be.dropout_backward(dx.fcproj, N * C, dropout(DropSite::mlp_proj, l));
    // fcproj = fch_gelu · fcprojw^T + fcprojb, and fch_gelu = gelu(fch): straight to fch's
    // gradient (no fch_gelu gradient is kept)
    be.matmul_gelu_backward(dx.fch, static_cast<S*>(nullptr), grad(FCPROJW, l), grad(FCPROJB, l), dx.fcproj,
                            x.fch_gelu, x.fch, param(FCPROJW, l), N, 4 * C, C);
    // fch = ln2 · fcw^T + fcb
    be.matmul_backward(dx.ln2, grad(FCW, l), grad(FCB, l), dx.fch, x.ln2, param(FCW, l), N, C, 4 * C);
    // ln2 = layernorm(residual2)
    be.layernorm_backward(dx.residual2, grad(LN2W, l), grad(LN2B, l), dx.ln2, x.residual2, param(LN2W, l),
                          x.ln2_mean, x.ln2_rstd, N, C);
    // residual2 = residual + attproj
    be.residual_backward(dresidual, dx.attproj, dx.residual2, N * C);
    if (train_) be.dropout_backward(dx.attproj, N * C, dropout(DropSite::attn_proj, l));
    // attproj = atty · attprojw^T + attprojb
    be.matmul_backward(dx.atty, grad(ATTPROJW, l), grad(ATTPROJB, l), dx.attproj, x.atty, param(ATTPROJW, l), N,
                       C, C);
    // atty = attention(qkv)
    be.attention_backward(dx.qkv, dx.atty, x.qkv, x.atty, x.att_lse, d, dropout(DropSite::attention, l),
                          AttentionMode{});
    // qkv = rope(qkv_linear)
    if (cfg_.pos == PosEnc::rope) be.rope_backward(dx.qkv, d, 0);
    // qkv = ln1 · qkvw^T + qkvb
    be.matmul_backward(dx.ln1, grad(QKVW, l), grad(QKVB, l), dx.qkv, x.ln1, param(QKVW, l), N, C, 3 * C);
    // ln1 = layernorm(residual)
    be.layernorm_backward(dresidual, grad(LN1W, l), grad(LN1B, l), dx.ln1, residual, param(LN1W, l), x.ln1_mean,
                          x.ln1_rstd, N, C);
  }
  if (train_) be.dropout_backward(g.encoded, N * C, dropout(DropSite::embedding, 0));
  // encoded = wte[inputs] + wpe[t]
  be.encoder_backward(grad(WTE), cfg_.pos == PosEnc::learned ? grad(WPE) : static_cast<S*>(nullptr), g.encoded,
                      inputs_.data(), d);
}

template <class S>
double GPT<S>::grad_norm(double grad_scale) const {
  GPT_CHECK(has_training_state(), "grad_norm() before any backward()");
  return std::sqrt(be_.sum_squares(grads_.data(), grads_.size())) * grad_scale;
}

template <class S>
double GPT<S>::step(float lr, const TrainConfig& tc, long t, double grad_scale) {
  ensure_training_state();
  const double norm = grad_norm(grad_scale);
  update_shard(lr, tc, t, grad_scale, norm);
  return norm;
}

template <class S>
double GPT<S>::shard_grad_sum_squares() const {
  GPT_CHECK(has_training_state(), "shard_grad_sum_squares() before any backward()");
  return be_.sum_squares(grads_.data() + shard_lo_, shard_hi_ - shard_lo_);
}

template <class S>
void GPT<S>::update_shard(float lr, const TrainConfig& tc, long t, double grad_scale, double norm) {
  ensure_training_state();
  if (!std::isfinite(norm))
    GPT_FAIL("gradient norm is ", norm, " at step ", t,
             ": training diverged; lower --lr or enable --grad-clip, then --resume from the last checkpoint");
  // Clipping scales the gradients inside the update pass (grads stay as backward left them).
  const S clip = tc.grad_clip > 0.0f && norm > tc.grad_clip ? S(tc.grad_clip / (norm + 1e-6)) : S(1);
  const S scale = clip * S(grad_scale);
  // Each tensor's part inside the shard (all of it when the optimizer is not sharded).
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    const size_t a = std::max(layout_.offset[id], shard_lo_);
    const size_t b = std::min(layout_.offset[id] + layout_.numel[id], shard_hi_);
    if (a >= b) continue;
    be_.adamw_update(params_.data() + a, m_.data() + (a - shard_lo_), v_.data() + (a - shard_lo_), grads_.data() + a,
                     b - a, lr, tc.beta1, tc.beta2, tc.eps, tensor_spec(id).decay ? tc.weight_decay : 0.0f, t, scale);
  }
  params_changed();
}

// Decode scratch, one allocation: the residual stream x (C), ln (C), qkv (3C), atty (C),
// tmp (C), fch (4C), fcg (4C), logits (Vp), att (NH, maxT), mean (1), rstd (1).
namespace {
struct DecodeScratch {
  size_t x, ln, qkv, atty, tmp, fch, fcg, logits, att, mean, rstd, total;
  DecodeScratch(size_t C, size_t Vp, size_t NH, size_t maxT) {
    size_t o = 0;
    auto take = [&o](size_t n) { const size_t at = o; o += n; return at; };
    x = take(C), ln = take(C), qkv = take(3 * C), atty = take(C), tmp = take(C), fch = take(4 * C),
    fcg = take(4 * C), logits = take(Vp), att = take(NH * maxT), mean = take(1), rstd = take(1);
    total = o;
  }
};
}  // namespace

template <class S>
const S* GPT<S>::decode(int token, int pos, std::vector<S>* att_maps) {
  const int maxT = cfg_.max_seq_len, L = cfg_.num_layers, NH = cfg_.num_heads, C = cfg_.channels;
  const int Vp = cfg_.padded_vocab_size;
  GPT_CHECK(pos >= 0 && pos < maxT, "decode position ", pos, " outside 0..", maxT - 1);
  if (token < 0 || token >= cfg_.vocab_size)
    GPT_FAIL("token id ", token, " is outside the model's vocabulary 0..", cfg_.vocab_size - 1);
  const DecodeScratch sc{size_t(C), size_t(Vp), size_t(NH), size_t(maxT)};
  if (kcache_.size() == 0) {
    kcache_.resize(size_t(L) * maxT * C);
    vcache_.resize(size_t(L) * maxT * C);
    dec_mem_.resize(sc.total);
    dec_token_.resize(1);
  }
  S* const base = dec_mem_.data();
  S *x = base + sc.x, *ln = base + sc.ln, *qkv = base + sc.qkv, *atty = base + sc.atty, *tmp = base + sc.tmp;
  S *fch = base + sc.fch, *fcg = base + sc.fcg, *logits = base + sc.logits, *att = base + sc.att;
  S *mean = base + sc.mean, *rstd = base + sc.rstd;
  const Dims d{1, 1, C, NH};
  const Backend<S>& be = be_;
  if (att_maps) att_maps->assign(size_t(L) * NH * (pos + 1), S(0));
  dec_token_.write(&token, 0, 1);
  // The products: fp32 weights, or (bf16 dtype) their bf16 copy, refreshed when stale.
  const bool w16 = std::is_same_v<S, float> && be.dtype == Dtype::bf16;
  if constexpr (std::is_same_v<S, float>) {
    if (w16 && dec_w16_version_ != params_version_) {
      if (dec_w16_.size() != layout_.total) dec_w16_.resize(layout_.total);
      be.to_bf16(dec_w16_.data(), params_.data(), layout_.total);
      dec_w16_version_ = params_version_;
    }
  }
  auto product = [&](S* out, const S* in, int id, int l, const S* bias, int Cin, int Cout) {
    if constexpr (std::is_same_v<S, float>)
      if (w16) return be.matmul_decode_bf16w(out, in, param16(id, l), bias, Cin, Cout);
    be.matmul_forward(out, in, param(id, l), bias, 1, Cin, Cout);
  };

  be.encoder_forward(x, dec_token_.data(), param(WTE), pos_table(), d, pos);
  for (int l = 0; l < L; l++) {
    be.layernorm_forward(ln, mean, rstd, x, param(LN1W, l), param(LN1B, l), 1, C);
    product(qkv, ln, QKVW, l, param(QKVB, l), C, 3 * C);
    if (cfg_.pos == PosEnc::rope) be.rope_forward(qkv, d, pos);
    S* kc = kcache_.data() + size_t(l) * maxT * C;
    S* vc = vcache_.data() + size_t(l) * maxT * C;
    be.kv_cache_write(kc, vc, qkv, d, maxT, pos);
    be.attention_decode(atty, att, qkv, kc, vc, d, maxT, pos);
    if (att_maps)
      be.mem.to_host(att_maps->data() + size_t(l) * NH * (pos + 1), att, size_t(NH) * (pos + 1) * sizeof(S));
    product(tmp, atty, ATTPROJW, l, param(ATTPROJB, l), C, C);
    be.residual_forward(x, x, tmp, size_t(C));
    be.layernorm_forward(ln, mean, rstd, x, param(LN2W, l), param(LN2B, l), 1, C);
    product(fch, ln, FCW, l, param(FCB, l), C, 4 * C);
    be.gelu_forward(fcg, fch, 4 * size_t(C));
    product(tmp, fcg, FCPROJW, l, param(FCPROJB, l), 4 * C, C);
    be.residual_forward(x, x, tmp, size_t(C));
  }
  be.layernorm_forward(ln, mean, rstd, x, param(LNFW), param(LNFB), 1, C);
  product(logits, ln, WTE, 0, nullptr, C, Vp);
  if (be.host_memory) return logits;  // read in place: backend memory is host memory
  dec_logits_host_.resize(size_t(Vp));
  be.mem.to_host(dec_logits_host_.data(), logits, size_t(Vp) * sizeof(S));
  return dec_logits_host_.data();
}

template class GPT<float>;
template class GPT<double>;

}  // namespace gpt
