// Whole-model finite-difference check: GPT<double> (the same forward/backward code
// that trains in float) against central differences of its mean loss, tensor by
// tensor, for a given positional encoding and dropout (a fixed mask).
#include <cmath>

#include "config.h"
#include "gradcheck.h"
#include "model.h"
#include "rng.h"

namespace gpt {

std::vector<GradcheckRow> gradcheck_model(PosEnc pos, float dropout, uint64_t seed) {
  SingleThread one_thread;
  GPTConfig c;
  c.max_seq_len = 6;
  c.vocab_size = 11;
  c.padded_vocab_size = pad_vocab(c.vocab_size);
  c.num_layers = 2;
  c.num_heads = 2;
  c.channels = 8;
  c.pos = pos;
  c.dropout = dropout;
  GPT<double> model(c);
  // O(1) random weights (GPT-2's 0.02 would make the loss nearly flat and the check weak).
  SplitMix64 rng(seed);
  const ParamLayout& lay = model.layout();
  std::vector<double> params(model.num_params());
  for (double& p : params) p = rng.uniform() - 0.5;
  for (int id : {LN1W, LN2W, LNFW})
    for (size_t i = 0; i < lay.numel[id]; i++) params[lay.offset[id] + i] += 1.0;
  model.write(Store::params, params);
  const int B = 2, T = 5;
  std::vector<int> in(B * T), tg(B * T);
  for (auto& x : in) x = int(rng.below(c.vocab_size));
  for (auto& x : tg) x = int(rng.below(c.vocab_size));
  const DropoutKey key{seed, 7};
  auto loss = [&]() { return *model.forward(in.data(), tg.data(), B, T, true, key); };

  model.zero_grad();
  loss();
  model.backward(1.0);
  const std::vector<double> grads = model.read(Store::grads);
  const std::string layer = "model/" + to_string(pos) + (dropout > 0 ? "+dropout" : "");
  std::vector<GradcheckRow> rows;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    size_t n = lay.numel[id];
    if (n == 0) continue;
    if (id == WTE) n = size_t(c.vocab_size) * c.channels;  // padded rows take no part
    const size_t off = lay.offset[id];
    rows.push_back(gradcheck_compare(
        layer, tensor_spec(id).name, n, [&](size_t i) { return params[off + i]; },
        [&](size_t i, double v) { model.write(Store::params, &v, off + i, 1); },
        [&](size_t i) { return grads[off + i]; }, loss));
  }
  return rows;
}

}  // namespace gpt
