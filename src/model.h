// The GPT: owns parameters, gradients, AdamW state and activations (one contiguous
// allocation each, in its backend's memory) and runs forward, backward, the optimizer
// step and single-token decoding with a KV cache, written once against the backend
// table (backend.h), so the same code runs on every device.
// A template over the scalar S: GPT<float> trains; GPT<double> is what the whole-model
// finite-difference check differentiates. Not here: data, files, the CLI, processes.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "backend.h"
#include "config.h"
#include "tensors.h"

namespace gpt {

// Activations of one forward pass, one allocation; L = layers, N = B*T rows.
// Their gradients use the same type with two differences: backward never needs the
// rows marked (*) (they stay nullptr in the gradient set), and the per-layer rows hold
// ONE layer (L = 1), which every layer's backward reuses in turn. That works because
// each activation gradient is written before it is read (layers.h's rule) and is dead
// once its layer is done; the residual stream's gradient passes from layer l to l - 1
// in residual3's buffer (layer l reads it first, then writes layer l - 1's into it).
template <class S>
struct Activations {
  S* encoded;    // (B, T, C)      token + position embedding
  S* ln1;        // (L, B, T, C)   LayerNorm before attention
  S* ln1_mean;   // (L, B, T)      (*)
  S* ln1_rstd;   // (L, B, T)      (*)
  S* qkv;        // (L, B, T, 3C)  q | k | v (after RoPE when pos = rope)
  S* atty;       // (L, B, T, C)   attention output, heads concatenated
  S* att_lse;    // (L, B, NH, T)  log-sum-exp of each score row (*)
  S* attproj;    // (L, B, T, C)   attention projection
  S* residual2;  // (L, B, T, C)   residual + attproj
  S* ln2;        // (L, B, T, C)   LayerNorm before the MLP
  S* ln2_mean;   // (L, B, T)      (*)
  S* ln2_rstd;   // (L, B, T)      (*)
  S* fch;        // (L, B, T, 4C)  fc, before GELU
  S* fch_gelu;   // (L, B, T, 4C)  after GELU (*: backward goes from fcproj's gradient to fch's)
  S* fcproj;     // (L, B, T, C)   MLP projection
  S* residual3;  // (L, B, T, C)   residual2 + fcproj: the next layer's input
  S* lnf;        // (B, T, C)      final LayerNorm
  S* lnf_mean;   // (B, T)         (*)
  S* lnf_rstd;   // (B, T)         (*)
  S* logits;     // (B, T, Vp)     logits; with targets, overwritten by the probabilities,
                 //                which backward turns into the logits' gradient in place (*)
  S* losses;     // (B, T)         per-token loss (*)
};

// One layer's slice of Activations (layer_view), or the gradient set's one layer (grad_view).
template <class S>
struct LayerActivations {
  S *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att_lse, *attproj, *residual2, *ln2, *ln2_mean, *ln2_rstd, *fch,
      *fch_gelu, *fcproj, *residual3;
};

// Dropout masks are named by (seed, micro-step counter, site), so a resumed run
// and the GPU backend draw the same masks.
struct DropoutKey {
  uint64_t seed = 0;
  uint64_t counter = 0;  // global micro-step index
};
// Where dropout is applied: after the embedding, on the attention weights, after the
// attention projection and after the MLP projection of each layer.
enum class DropSite { embedding, attention, attn_proj, mlp_proj };

// The model's buffers that outlive a step, readable and writable from the host.
enum class Store { params, grads, m, v };

template <class S>
class GPT {
 public:
  explicit GPT(const GPTConfig& cfg, DeviceKind device = DeviceKind::cpu, Dtype dtype = Dtype::fp32);
  Dtype dtype() const { return be_.dtype; }
  const GPTConfig& config() const { return cfg_; }
  const ParamLayout& layout() const { return layout_; }
  const Backend<S>& backend() const { return be_; }
  size_t num_params() const { return layout_.total; }

  // GPT-2 initialisation: weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)),
  // biases 0, LayerNorm weight 1 / bias 0, padded vocabulary rows 0.
  void init_weights(uint64_t seed);

  // Host access to parameters, gradients, AdamW m and v (synchronising copies; offsets
  // in the layout of layout()). grads, m and v exist once has_training_state(). With a
  // sharded optimizer (below), m and v hold [shard_begin, shard_end) only: read/write
  // offsets must fall there, and the whole-vector read(m|v) returns that shard while
  // write(m|v, whole vector) keeps its shard's slice.
  void read(Store s, S* host, size_t off, size_t n) const;
  void write(Store s, const S* host, size_t off, size_t n);
  std::vector<S> read(Store s) const;
  void write(Store s, const std::vector<S>& host);
  // One tensor (all layers of a per-layer tensor).
  std::vector<S> read_tensor(int id) const;
  void write_tensor(int id, const std::vector<S>& host);

  // Forward on inputs (B,T) (host ints). With targets, returns the mean loss and keeps
  // the probabilities for backward; without, logits() gives raw logits (B,T,Vp).
  // `train` enables dropout (masks named by `key`).
  std::optional<double> forward(const int* inputs, const int* targets, int B, int T, bool train = false,
                                DropoutKey key = {});
  // Of the last forward: probabilities when it had targets (after backward: the gradient
  // with respect to the logits, which backward writes over them).
  std::vector<S> logits() const;
  std::vector<S> losses() const;  // per token, of the last forward with targets
  // Elements held for the activations and their gradients (for the memory estimate's test).
  size_t activation_elements() const { return act_mem_.size() + grad_act_mem_.size(); }

  // Allocates (zeroed) grads, m and v if they are not there yet; every training call
  // does this itself, so only code that touches them directly needs it.
  void ensure_training_state();
  bool has_training_state() const { return grads_.size() == layout_.total; }
  void zero_grad() {
    ensure_training_state();
    grads_.zero();
  }
  // Accumulates into the gradients the gradient of (loss_scale * mean loss) of the last
  // forward (which must have had targets).
  void backward(S loss_scale = S(1));
  // forward (with targets, training) then backward(loss_scale), the classifier fused: its
  // forward pass writes the logits' gradient as it takes the loss (layers.h
  // crossentropy_fused), so no pass stores the probabilities or reads them back. The same
  // bits as the two calls. Returns the mean loss.
  double forward_backward(const int* inputs, const int* targets, int B, int T, DropoutKey key, S loss_scale);
  // Adds every other rank's gradients to this one's (sum over pg; see process_group.h).
  template <class Group>
  void all_reduce_gradients(Group& pg) {
    ensure_training_state();
    pg.all_reduce_sum(grads_.data(), grads_.size());
  }
  // Global L2 norm of grad_scale * gradients (synchronises).
  double grad_norm(double grad_scale = 1.0) const;
  // With g = grad_scale * gradients (1/ranks after an all-reduce sum): clips g to the
  // global norm tc.grad_clip (when > 0), then one AdamW step with 1-based step t.
  // Returns the norm of g before clipping.
  double step(float lr, const TrainConfig& tc, long t, double grad_scale = 1.0);

  // ZeRO-1: this process keeps AdamW's m and v, and updates the parameters, for the
  // elements [begin, end) of the flat parameter vector only (before the first training
  // call). Gradients and parameters stay whole; the training loop reduce-scatters the
  // gradients into this shard and all-gathers the updated parameters.
  void shard_optimizer(size_t begin, size_t end);
  size_t shard_begin() const { return shard_lo_; }
  size_t shard_end() const { return shard_hi_; }
  // Sum of squares of the gradients in the shard (synchronises).
  double shard_grad_sum_squares() const;
  // The AdamW step on the shard with a norm computed elsewhere (the global one):
  // what step() does after computing the norm. Returns nothing; throws on a
  // non-finite norm like step().
  void update_shard(float lr, const TrainConfig& tc, long t, double grad_scale, double norm);
  // Collectives over the model's own buffers (Group: process_group.h).
  template <class Group>
  void reduce_scatter_gradients(Group& pg, const std::vector<size_t>& counts) {
    ensure_training_state();
    pg.reduce_scatter_sum(grads_.data(), counts);
  }
  template <class Group>
  void all_gather_params(Group& pg, const std::vector<size_t>& counts) {
    pg.all_gather(params_.data(), counts);
    params_changed();
  }
  // m or v gathered whole into `full` (host memory) on the root (others pass an empty
  // vector). One process reads its own (the single-process group copies host memory
  // only, and this store may be on a GPU).
  template <class Group>
  void gather_optimizer_state(Group& pg, Store s, const std::vector<size_t>& counts, std::vector<S>* full) {
    ensure_training_state();
    if (pg.size() == 1) {
      read(s, full->data(), shard_lo_, shard_hi_ - shard_lo_);
      return;
    }
    pg.gather(store(s).data(), counts, pg.is_root() ? full->data() : nullptr);
  }

  // Generation with a KV cache (batch 1). decode() feeds one token at position pos
  // (0 <= pos < max_seq_len; positions before it must have been fed) and returns the
  // logits (Vp) in host memory, valid until the next call. att_maps, when non-null,
  // receives each layer's weights (L, NH, pos+1).
  const S* decode(int token, int pos, std::vector<S>* att_maps = nullptr);

 private:
  void ensure_acts(int B, int T);
  Dims dims() const { return Dims{B_, T_, cfg_.channels, cfg_.num_heads}; }
  S* param(int id, int layer = 0) { return params_.data() + layout_.offset[id] + size_t(layer) * layout_.per_layer[id]; }
  S* grad(int id, int layer = 0) { return grads_.data() + layout_.offset[id] + size_t(layer) * layout_.per_layer[id]; }
  const S* pos_table();
  LayerActivations<S> layer_view(const Activations<S>& a, int l) const;
  LayerActivations<S> grad_view() const { return layer_view(dacts_, 0); }  // the gradient set's one layer
  // forward with, when fused_dloss is set, the classifier writing the logits' gradient
  // (crossentropy_fused) instead of the probabilities.
  std::optional<double> forward_impl(const int* inputs, const int* targets, int B, int T, bool train, DropoutKey key,
                                     std::optional<S> fused_dloss);
  // backward from the logits' gradient, which acts_.logits holds.
  void backward_from_logits();
  Dropout dropout(DropSite site, int layer) const;
  DeviceBuffer<S>& store(Store s);
  // Flat-layout offset of a store's first element: the shard's start for m and v.
  size_t store_base(Store s) const { return s == Store::m || s == Store::v ? shard_lo_ : 0; }
  const DeviceBuffer<S>& store(Store s) const;

  GPTConfig cfg_;
  ParamLayout layout_;
  const Backend<S>& be_;
  DeviceBuffer<S> params_, grads_, m_, v_;  // grads, m, v empty until ensure_training_state()
  size_t shard_lo_ = 0, shard_hi_ = 0;      // m, v cover [shard_lo_, shard_hi_) (all by default)
  DeviceBuffer<S> sin_table_;               // (maxT, C) for sinusoidal encodings
  DeviceBuffer<S> act_mem_, grad_act_mem_;
  Activations<S> acts_{}, dacts_{};
  int B_ = 0, T_ = 0, alloc_B_ = 0, alloc_T_ = 0;
  DeviceBuffer<int> inputs_, targets_;      // of the last forward, (B,T)
  std::vector<int> host_inputs_;
  bool have_targets_ = false;
  bool train_ = false;
  DropoutKey key_{};
  // decode state: caches (L, NH, maxT, hs) for keys and values, scratch, the token
  DeviceBuffer<S> kcache_, vcache_, dec_mem_;
  DeviceBuffer<int> dec_token_;
  // bf16 dtype: the parameters rounded to bf16 for decoding (same offsets as params_),
  // redone on the first decode after any change of the parameters.
  DeviceBuffer<uint16_t> dec_w16_;
  uint64_t params_version_ = 1, dec_w16_version_ = 0;
  void params_changed() { params_version_++; }
  const uint16_t* param16(int id, int layer = 0) const {
    return dec_w16_.data() + layout_.offset[id] + size_t(layer) * layout_.per_layer[id];
  }
  std::vector<S> dec_logits_host_;
};

extern template class GPT<float>;
extern template class GPT<double>;

}  // namespace gpt
