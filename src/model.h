// The GPT: owns parameters, gradients, AdamW state and activations (one contiguous
// allocation each) and runs forward, backward, the optimizer step and single-token
// decoding with a KV cache, written once against the layer functions in layers.h.
// A template over the scalar: GPT<float> trains; GPT<double> is what the whole-model
// finite-difference check differentiates. Not here: data, files, the CLI.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "buffer.h"
#include "config.h"
#include "tensors.h"

namespace gpt {

// Activations of one forward pass (and, with the same type, their gradients).
template <class T>
struct Activations {
  T *encoded, *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att_lse, *attproj, *residual2, *ln2, *ln2_mean,
      *ln2_rstd, *fch, *fch_gelu, *fcproj, *residual3, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;
};

// Dropout masks are named by (seed, micro-step counter, site), so a resumed run
// and the GPU backend draw the same masks.
struct DropoutKey {
  uint64_t seed = 0;
  uint64_t counter = 0;  // global micro-step index
};

template <class T>
class GPT {
 public:
  explicit GPT(const GPTConfig& cfg);
  const GPTConfig& config() const { return cfg_; }
  const ParamLayout& layout() const { return layout_; }
  size_t num_params() const { return layout_.total; }

  // GPT-2 initialisation: weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)),
  // biases 0, LayerNorm weight 1 / bias 0, padded vocabulary rows 0.
  void init_weights(uint64_t seed);

  T* param(int id, int layer = 0) { return params.data() + layout_.offset[id] + size_t(layer) * layout_.per_layer[id]; }
  T* grad(int id, int layer = 0) { return grads.data() + layout_.offset[id] + size_t(layer) * layout_.per_layer[id]; }

  // Forward on inputs (B,T). With targets, returns the mean loss and keeps the
  // probabilities for backward; without, logits() holds raw logits (B,T,Vp).
  // `train` enables dropout (masks named by `key`).
  std::optional<double> forward(const int* inputs, const int* targets, int B, int Tlen, bool train = false,
                                DropoutKey key = {});
  const T* logits() const { return acts_.logits; }
  const T* losses() const { return acts_.losses; }

  // Allocates (zeroed) grads, m and v if they are not there yet; every training call
  // does this itself, so only code that touches them directly needs it.
  void ensure_training_state();
  void zero_grad() {
    ensure_training_state();
    grads.zero();
  }
  // Accumulates into grads the gradient of (loss_scale * mean loss) of the last
  // forward (which must have had targets).
  void backward(T loss_scale = T(1));
  double grad_norm() const;
  // Clips (global norm, when clip > 0), then one AdamW step with 1-based step t.
  // Returns the norm before clipping.
  double step(float lr, const TrainConfig& tc, long t);

  // Generation with a KV cache (batch 1). decode() feeds one token at position pos
  // (0 <= pos < max_seq_len; positions before it must have been fed) and returns the
  // logits (Vp). att_maps, when non-null, receives each layer's weights (L, NH, pos+1).
  const T* decode(int token, int pos, std::vector<T>* att_maps = nullptr);

  HostBuffer<T> params, grads, m, v;  // grads, m, v empty until ensure_training_state()

 private:
  void ensure_acts(int B, int Tlen);
  Dims dims() const { return Dims{B_, T_, cfg_.channels, cfg_.num_heads}; }
  const T* pos_table() const;
  uint64_t dropout_stream(int site) const { return (key_.counter << 16) | uint64_t(site); }

  GPTConfig cfg_;
  ParamLayout layout_;
  HostBuffer<T> sin_table_;  // (maxT, C) for sinusoidal encodings
  HostBuffer<T> act_mem_, grad_act_mem_;
  Activations<T> acts_{}, dacts_{};
  int B_ = 0, T_ = 0, alloc_B_ = 0, alloc_T_ = 0;
  std::vector<int> inputs_, targets_;
  bool train_ = false;
  DropoutKey key_{};
  // decode state
  HostBuffer<T> kcache_, vcache_, dec_mem_;
};

extern template class GPT<float>;
extern template class GPT<double>;

}  // namespace gpt
