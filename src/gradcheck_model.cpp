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
  for (size_t i = 0; i < model.num_params(); i++) model.params[i] = rng.uniform() - 0.5;
  for (int id : {LN1W, LN2W, LNFW})
    for (size_t i = 0; i < lay.numel[id]; i++) model.params[lay.offset[id] + i] += 1.0;
  const int B = 2, T = 5;
  std::vector<int> in(B * T), tg(B * T);
  for (auto& x : in) x = int(rng.below(c.vocab_size));
  for (auto& x : tg) x = int(rng.below(c.vocab_size));
  const DropoutKey key{seed, 7};
  auto loss = [&]() { return *model.forward(in.data(), tg.data(), B, T, true, key); };

  model.zero_grad();
  loss();
  model.backward(1.0);
  const std::string layer = "model/" + to_string(pos) + (dropout > 0 ? "+dropout" : "");
  std::vector<GradcheckRow> rows;
  const double h = 1e-5;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    size_t n = lay.numel[id];
    if (n == 0) continue;
    if (id == WTE) n = size_t(c.vocab_size) * c.channels;  // padded rows take no part
    GradcheckRow row{layer, tensor_spec(id).name, 0, 0, true};
    for (size_t i = 0; i < n; i++) {
      double& p = model.params[lay.offset[id] + i];
      const double saved = p;
      p = saved + h;
      const double lp = loss();
      p = saved - h;
      const double lm = loss();
      p = saved;
      const double num = (lp - lm) / (2 * h);
      const double ana = model.grads[lay.offset[id] + i];
      const double err = std::fabs(ana - num);
      row.max_abs_err = std::max(row.max_abs_err, err);
      row.max_rel_err = std::max(row.max_rel_err, err / std::max(std::fabs(num), 1e-8));
      if (!(err <= 1e-6 + 1e-5 * std::fabs(num))) row.pass = false;
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace gpt
