// Whole-model finite-difference check: GPT<double> (the same forward/backward code
// that trains in float) against central differences of its mean loss, tensor by
// tensor, for a given positional encoding and dropout (a fixed mask). And the device
// check: the same model in float on a device's backend against GPT<double>.
#include <cmath>

#include "backend.h"
#include "config.h"
#include "gradcheck.h"
#include "model.h"
#include "rng.h"

namespace gpt {

namespace {
// The checks' model and batch: 2 layers of 8 channels, 2 heads, vocabulary 11, a batch of
// 2 x 5, O(1) random weights (GPT-2's 0.02 would make the loss nearly flat and the check
// weak), LayerNorm gains near 1.
struct Problem {
  GPTConfig c;
  std::vector<double> params;
  std::vector<int> in, tg;
  static constexpr int B = 2, T = 5;
};
Problem problem(PosEnc pos, float dropout) {
  Problem p;
  p.c.max_seq_len = 6;
  p.c.vocab_size = 11;
  p.c.padded_vocab_size = pad_vocab(p.c.vocab_size);
  p.c.num_layers = 2;
  p.c.num_heads = 2;
  p.c.channels = 8;
  p.c.pos = pos;
  p.c.dropout = dropout;
  return p;
}
// Fills the problem's weights and batch from seed, for a model of this layout.
void fill(Problem& p, const ParamLayout& lay, size_t num_params, uint64_t seed) {
  SplitMix64 rng(seed);
  p.params.resize(num_params);
  for (double& x : p.params) x = rng.uniform() - 0.5;
  for (int id : {LN1W, LN2W, LNFW})
    for (size_t i = 0; i < lay.numel[id]; i++) p.params[lay.offset[id] + i] += 1.0;
  p.in.resize(Problem::B * Problem::T);
  p.tg.resize(Problem::B * Problem::T);
  for (auto& x : p.in) x = int(rng.below(p.c.vocab_size));
  for (auto& x : p.tg) x = int(rng.below(p.c.vocab_size));
}
std::string layer_name(const char* what, PosEnc pos, float dropout) {
  return std::string(what) + "/" + to_string(pos) + (dropout > 0 ? "+dropout" : "");
}
// The parameter tensors a check compares, and how many of each one's elements (the
// embedding's padded rows take no part).
size_t compared(const Problem& p, const ParamLayout& lay, int id) {
  return id == WTE ? size_t(p.c.vocab_size) * p.c.channels : lay.numel[id];
}
}  // namespace

std::vector<GradcheckRow> gradcheck_model(PosEnc pos, float dropout, uint64_t seed) {
  SingleThread one_thread;
  Problem p = problem(pos, dropout);
  GPT<double> model(p.c);
  const ParamLayout& lay = model.layout();
  fill(p, lay, model.num_params(), seed);
  model.write(Store::params, p.params);
  const DropoutKey key{seed, 7};
  auto loss = [&]() { return *model.forward(p.in.data(), p.tg.data(), Problem::B, Problem::T, true, key); };

  model.zero_grad();
  loss();
  model.backward(1.0);
  const std::vector<double> grads = model.read(Store::grads);
  const std::string layer = layer_name("model", pos, dropout);
  std::vector<GradcheckRow> rows;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    const size_t n = compared(p, lay, id);
    if (n == 0) continue;
    const size_t off = lay.offset[id];
    rows.push_back(gradcheck_compare(
        layer, tensor_spec(id).name, n, [&](size_t i) { return p.params[off + i]; },
        [&](size_t i, double v) { model.write(Store::params, &v, off + i, 1); },
        [&](size_t i) { return grads[off + i]; }, loss));
  }
  return rows;
}

std::vector<GradcheckRow> gradcheck_model_on_device(DeviceKind device, PosEnc pos, float dropout, uint64_t seed) {
  SingleThread one_thread;
  Problem p = problem(pos, dropout);
  GPT<double> ref(p.c);
  GPT<float> model(p.c, device);
  const ParamLayout& lay = ref.layout();
  fill(p, lay, ref.num_params(), seed);
  // Both models hold the float weights, so that only the arithmetic differs.
  const std::vector<float> pf(p.params.begin(), p.params.end());
  model.write(Store::params, pf);
  ref.write(Store::params, std::vector<double>(pf.begin(), pf.end()));
  const DropoutKey key{seed, 7};
  ref.zero_grad();
  model.zero_grad();
  const double want = *ref.forward(p.in.data(), p.tg.data(), Problem::B, Problem::T, true, key);
  const double got = *model.forward(p.in.data(), p.tg.data(), Problem::B, Problem::T, true, key);
  ref.backward(1.0);
  model.backward();
  const std::vector<double> gd = ref.read(Store::grads);
  const std::vector<float> gf = model.read(Store::grads);
  const std::string layer = layer_name(device == DeviceKind::cuda ? "cuda" : "float", pos, dropout);
  auto row = [&](const std::string& tensor) {
    GradcheckRow r;
    r.layer = layer;
    r.tensor = tensor;
    r.pass = true;
    r.abs_tol = kDeviceAbsTol;
    r.rel_tol = kDeviceRelTol;
    r.device = true;
    return r;
  };
  std::vector<GradcheckRow> rows;
  rows.push_back(row("loss"));
  rows.back().add(got, want);
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    const size_t n = compared(p, lay, id);
    if (n == 0) continue;
    const size_t off = lay.offset[id];
    rows.push_back(row(tensor_spec(id).name));
    for (size_t i = 0; i < n; i++) rows.back().add(double(gf[off + i]), gd[off + i]);
  }
  return rows;
}

}  // namespace gpt
