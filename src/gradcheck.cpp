// Central finite differences against every backward in src/layers, run on the double
// instantiations with small, awkward shapes. Gradient buffers are pre-filled with
// random values and the fill is subtracted afterwards, which also checks the += rule.
#include "gradcheck.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"
#include "layers.h"
#include "rng.h"

namespace gpt {

namespace {

constexpr double kStep = 1e-5;    // central-difference step

}  // namespace

namespace {

using Vec = std::vector<double>;

// Awkward sizes: nothing is a power of two except where the layer needs it.
constexpr int kB = 2, kT = 5, kC = 12, kNH = 3, kV = 7, kVp = 8, kOC = 7;
constexpr Dims kDims{kB, kT, kC, kNH};

Vec random_vec(size_t n, SplitMix64& rng, double scale = 1.0, double offset = 0.0) {
  Vec v(n);
  for (auto& x : v) x = offset + (rng.uniform() * 2 - 1) * scale;
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

// How a backward treats one of its gradient buffers (layers.h's rule): parameter
// gradients (and layernorm's dinp) are added to, other activation gradients written.
enum class Rule { add, write };
struct GradBuf {
  size_t n;
  Rule rule;
};
// Runs a backward on pre-filled buffers and returns what it computed: for `add`, the
// buffer starts with random values and the increment is returned; for `write`, it
// starts as NaN, so an element the backward does not write (or adds to) fails the check.
std::vector<Vec> run_backward(const std::vector<GradBuf>& bufs, SplitMix64& rng,
                              const std::function<void(std::vector<Vec>&)>& run) {
  std::vector<Vec> before, after;
  for (const GradBuf& b : bufs)
    before.push_back(b.rule == Rule::add ? random_vec(b.n, rng, 3.0) : Vec(b.n, std::nan("")));
  after = before;
  run(after);
  for (size_t k = 0; k < bufs.size(); k++)
    if (bufs[k].rule == Rule::add)
      for (size_t i = 0; i < bufs[k].n; i++) after[k][i] -= before[k][i];
  return after;
}

// Every element of x: numeric dL/dx by central differences vs analytic[i].
GradcheckRow compare(const std::string& layer, const std::string& tensor, Vec& x,
                     const Vec& analytic, const std::function<double()>& loss) {
  GPT_CHECK(x.size() == analytic.size(), layer, " ", tensor, ": ", x.size(), " vs ",
            analytic.size());
  return gradcheck_compare(
      layer, tensor, x.size(), [&](size_t i) { return x[i]; }, [&](size_t i, double v) { x[i] = v; },
      [&](size_t i) { return analytic[i]; }, loss);
}

std::vector<int> random_tokens(size_t n, int V, SplitMix64& rng) {
  std::vector<int> t(n);
  for (auto& x : t) x = int(rng.below(uint64_t(V)));
  if (n > 3) t[3] = t[0];  // at least one repeated token: its gradient rows add up
  return t;
}

// "embedding", "pos-learned", "pos-sinusoidal": which positional table the encoder adds.
enum class PosKind { none, learned, sinusoidal };

std::vector<GradcheckRow> check_encoder(const std::string& layer, PosKind kind, SplitMix64& rng) {
  const Dims d = kDims;
  const int maxT = kT + 2;
  const size_t N = d.BT();
  std::vector<int> inp = random_tokens(N, kV, rng);
  Vec wte = random_vec(size_t(kVp) * kC, rng);
  Vec pos(size_t(maxT) * kC);
  if (kind == PosKind::learned) pos = random_vec(pos.size(), rng);
  if (kind == PosKind::sinusoidal) cpu::sinusoidal_table(pos.data(), maxT, kC, 1.0);
  const double* pos_ptr = kind == PosKind::none ? nullptr : pos.data();
  Vec R = random_vec(N * kC, rng), out(N * kC);
  auto loss = [&] {
    cpu::encoder_forward(out.data(), inp.data(), wte.data(), pos_ptr, d);
    return dot(out, R);
  };
  const bool learned = kind == PosKind::learned;
  auto g = run_backward({{wte.size(), Rule::add}, {pos.size(), Rule::add}}, rng, [&](std::vector<Vec>& gs) {
    cpu::encoder_backward(gs[0].data(), learned ? gs[1].data() : nullptr, R.data(), inp.data(), d);
  });
  std::vector<GradcheckRow> rows{compare(layer, "dwte", wte, g[0], loss)};
  if (learned) rows.push_back(compare(layer, "dwpe", pos, g[1], loss));
  return rows;
}

std::vector<GradcheckRow> check_rope(SplitMix64& rng) {
  const Dims d = kDims;  // hs = 4, even
  const int t0 = 3;      // a decode-like offset
  const size_t n = d.BT() * 3 * kC;
  Vec qkv = random_vec(n, rng), R = random_vec(n, rng), y(n);
  auto loss = [&] {
    y = qkv;
    cpu::rope_forward(y.data(), d, t0);
    return dot(y, R);
  };
  Vec g = R;  // in place and overwriting: dqkv starts as dL/dy = R
  cpu::rope_backward(g.data(), d, t0);
  return {compare("rope", "dqkv", qkv, g, loss)};
}

std::vector<GradcheckRow> check_layernorm(SplitMix64& rng) {
  const size_t N = kDims.BT();
  const int C = kC;
  Vec inp = random_vec(N * C, rng, 2.0, 0.5), w = random_vec(C, rng, 0.5, 1.0),
      b = random_vec(C, rng, 0.5);
  Vec R = random_vec(N * C, rng), out(N * C), mean(N), rstd(N);
  auto loss = [&] {
    cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N,
                           C);
    return dot(out, R);
  };
  loss();  // mean, rstd for the backward
  auto g = run_backward({{inp.size(), Rule::add}, {w.size(), Rule::add}, {b.size(), Rule::add}}, rng,
                        [&](std::vector<Vec>& gs) {
    cpu::layernorm_backward(gs[0].data(), gs[1].data(), gs[2].data(), R.data(), inp.data(),
                            w.data(), mean.data(), rstd.data(), N, C);
  });
  return {compare("layernorm", "dinp", inp, g[0], loss),
          compare("layernorm", "dweight", w, g[1], loss),
          compare("layernorm", "dbias", b, g[2], loss)};
}

std::vector<GradcheckRow> check_matmul(SplitMix64& rng) {
  const size_t N = kDims.BT();
  const int C = kC, OC = kOC;
  Vec inp = random_vec(N * C, rng), w = random_vec(size_t(OC) * C, rng), b = random_vec(OC, rng);
  Vec R = random_vec(N * OC, rng), out(N * OC);
  auto loss = [&] {
    cpu::matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
    return dot(out, R);
  };
  auto g = run_backward({{inp.size(), Rule::write}, {w.size(), Rule::add}, {b.size(), Rule::add}}, rng,
                        [&](std::vector<Vec>& gs) {
    cpu::matmul_backward(gs[0].data(), gs[1].data(), gs[2].data(), R.data(), inp.data(), w.data(),
                         N, C, OC);
  });
  return {compare("matmul", "dinp", inp, g[0], loss), compare("matmul", "dweight", w, g[1], loss),
          compare("matmul", "dbias", b, g[2], loss)};
}

std::vector<GradcheckRow> check_attention(SplitMix64& rng) {
  const Dims d = kDims;
  const size_t n = d.BT() * 3 * kC;
  Vec qkv = random_vec(n, rng, 1.5);  // large enough for uneven softmax weights
  Vec R = random_vec(d.BT() * kC, rng), out(d.BT() * kC);
  Vec lse(size_t(kB) * kNH * kT);
  std::vector<GradcheckRow> rows;
  struct Case {
    const char* name;
    Dropout drop;
    AttentionMode mode;
  };
  // The model's causal, scaled attention (with and without dropout), and the
  // unmasked, unscaled variant `gpt attention` can show.
  const Case cases[] = {{"dqkv", Dropout{}, AttentionMode{}},
                        {"dqkv (dropout 0.3)", Dropout{0.3f, 42, 7}, AttentionMode{}},
                        {"dqkv (no mask, unscaled)", Dropout{}, AttentionMode{false, false}}};
  for (const Case& c : cases) {
    auto loss = [&] {
      cpu::attention_forward(out.data(), lse.data(), qkv.data(), d, c.drop, c.mode);
      return dot(out, R);
    };
    loss();  // out and lse for the backward
    auto g = run_backward({{n, Rule::write}}, rng, [&](std::vector<Vec>& gs) {
      cpu::attention_backward(gs[0].data(), R.data(), qkv.data(), out.data(), lse.data(), d, c.drop, c.mode);
    });
    rows.push_back(compare("attention", c.name, qkv, g[0], loss));
  }
  return rows;
}

std::vector<GradcheckRow> check_gelu(SplitMix64& rng) {
  const size_t N = kDims.BT() * kC;
  Vec inp = random_vec(N, rng, 4.0), R = random_vec(N, rng), out(N);
  auto loss = [&] {
    cpu::gelu_forward(out.data(), inp.data(), N);
    return dot(out, R);
  };
  auto g = run_backward({{N, Rule::write}}, rng, [&](std::vector<Vec>& gs) {
    cpu::gelu_backward(gs[0].data(), inp.data(), R.data(), N);
  });
  return {compare("gelu", "dinp", inp, g[0], loss)};
}

std::vector<GradcheckRow> check_residual(SplitMix64& rng) {
  const size_t N = kDims.BT() * kC;
  Vec a = random_vec(N, rng), b = random_vec(N, rng), R = random_vec(N, rng), out(N);
  auto loss = [&] {
    cpu::residual_forward(out.data(), a.data(), b.data(), N);
    return dot(out, R);
  };
  auto g = run_backward({{N, Rule::write}, {N, Rule::write}}, rng, [&](std::vector<Vec>& gs) {
    cpu::residual_backward(gs[0].data(), gs[1].data(), R.data(), N);
  });
  return {compare("residual", "dinp1", a, g[0], loss),
          compare("residual", "dinp2", b, g[1], loss)};
}

std::vector<GradcheckRow> check_dropout(SplitMix64& rng) {
  const size_t N = kDims.BT() * kC + 3;  // not a multiple of 4 (Philox word groups)
  const Dropout drop{0.5f, 99, 3};
  Vec x = random_vec(N, rng), R = random_vec(N, rng), y(N);
  auto loss = [&] {
    y = x;
    cpu::dropout_forward(y.data(), N, drop);
    return dot(y, R);
  };
  Vec g = R;  // in place and overwriting
  cpu::dropout_backward(g.data(), N, drop);
  return {compare("dropout", "dinp (p 0.5)", x, g, loss)};
}

std::vector<GradcheckRow> check_crossentropy(SplitMix64& rng) {
  const size_t N = kDims.BT();
  const int V = kV, Vp = kVp;  // V < Vp: the padded column must get no gradient
  Vec logits = random_vec(N * Vp, rng, 3.0), probs(N * Vp), losses(N);
  std::vector<int> targets = random_tokens(N, V, rng);
  const double dloss = 1.0 / double(N);  // L = mean loss
  auto loss = [&] {
    cpu::crossentropy_forward(losses.data(), probs.data(), logits.data(), targets.data(), N, V, Vp);
    double s = 0;
    for (double l : losses) s += l;
    return s * dloss;
  };
  loss();  // probs for the backward
  auto g = run_backward({{logits.size(), Rule::write}}, rng, [&](std::vector<Vec>& gs) {
    cpu::crossentropy_backward(gs[0].data(), probs.data(), targets.data(), dloss, N, V, Vp);
  });
  return {compare("crossentropy", "dlogits", logits, g[0], loss)};
}

struct Entry {
  const char* name;
  std::function<std::vector<GradcheckRow>(SplitMix64&)> run;
};

const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries{
      {"embedding", [](SplitMix64& r) { return check_encoder("embedding", PosKind::none, r); }},
      {"pos-learned",
       [](SplitMix64& r) { return check_encoder("pos-learned", PosKind::learned, r); }},
      {"pos-sinusoidal",
       [](SplitMix64& r) { return check_encoder("pos-sinusoidal", PosKind::sinusoidal, r); }},
      {"rope", check_rope},
      {"layernorm", check_layernorm},
      {"matmul", check_matmul},
      {"attention", check_attention},
      {"gelu", check_gelu},
      {"residual", check_residual},
      {"dropout", check_dropout},
      {"crossentropy", check_crossentropy},
  };
  return entries;
}

}  // namespace

GradcheckRow gradcheck_compare(const std::string& layer, const std::string& tensor, size_t n,
                               const std::function<double(size_t)>& get,
                               const std::function<void(size_t, double)>& set,
                               const std::function<double(size_t)>& analytic, const std::function<double()>& loss) {
  GradcheckRow row{layer, tensor, 0, 0, true};
  for (size_t i = 0; i < n; i++) {
    const double saved = get(i);
    set(i, saved + kStep);
    const double lp = loss();
    set(i, saved - kStep);
    const double lm = loss();
    set(i, saved);
    row.add(analytic(i), (lp - lm) / (2 * kStep));
  }
  return row;
}

std::vector<std::string> gradcheck_layer_names() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.push_back(e.name);
  return names;
}

std::vector<GradcheckRow> gradcheck_layer(const std::string& name, uint64_t seed) {
  for (const auto& e : registry()) {
    if (name != e.name) continue;
    SingleThread one;
    SplitMix64 rng(seed);
    return e.run(rng);
  }
  std::string valid;
  for (const auto& n : gradcheck_layer_names()) valid += (valid.empty() ? "" : ", ") + n;
  GPT_USAGE_FAIL("unknown layer '", name, "' for gradcheck; valid: ", valid,
                 ", or all (every layer) or model (the whole model's gradient)");
}

void GradcheckRow::add(double analytic, double numeric) {
  const double err = std::fabs(analytic - numeric), tol = abs_tol + rel_tol * std::fabs(numeric);
  if (!(err <= tol)) pass = false;  // NaN fails
  if (!(err <= max_abs_err)) max_abs_err = err;
  const double rel = err / std::max(std::fabs(numeric), 1e-8);
  if (!(rel <= max_rel_err)) max_rel_err = rel, rel_err_grad = std::fabs(numeric);
  if (worst_tol == 0 || !(err / tol <= worst_err / worst_tol)) worst_err = err, worst_tol = tol;
}

std::string format_gradcheck_table(const std::vector<GradcheckRow>& rows) {
  constexpr size_t N = 6;
  std::vector<std::vector<std::string>> cells{
      {"layer", "tensor", "max abs err", "max rel err", "worst err / its tolerance", "result"}};
  std::string notes;
  for (const auto& r : rows) {
    char a[32], b[32], w[64];
    std::snprintf(a, sizeof a, "%.2e", r.max_abs_err);
    std::snprintf(b, sizeof b, "%.2e", r.max_rel_err);
    std::snprintf(w, sizeof w, "%.2e / %.2e", r.worst_err, r.worst_tol);
    cells.push_back({r.layer, r.tensor, a, b, w, std::string(r.pass ? "PASS" : "FAIL") + (r.rel_err_is_noise() ? " *" : "")});
    if (r.rel_err_is_noise()) {
      // (Not only ~0: at a gradient of 1e-5 the difference quotient's own error, ~1e-10
      // from the step's truncation, is already over 1e-5 of it. Said as it is.)
      char n[400];
      if (r.device)
        std::snprintf(n, sizeof n, "* %s %s: the largest relative error is at a small gradient, %.1e, a sum of "
                      "larger terms whose float rounding is more than %.0e of it; there the absolute floor %.0e "
                      "decides\n", r.layer.c_str(), r.tensor.c_str(), r.rel_err_grad, r.rel_tol, r.abs_tol);
      else if (r.rel_err_grad < kGradNoiseFloor)
        std::snprintf(n, sizeof n, "* %s %s: the largest relative error is at a gradient of %.1e, i.e. ~0 (rounding "
                      "noise over rounding noise); there the absolute floor %.0e decides\n", r.layer.c_str(),
                      r.tensor.c_str(), r.rel_err_grad, kGradAbsTol);
      else
        std::snprintf(n, sizeof n, "* %s %s: the largest relative error is at a small gradient, %.1e, where the "
                      "finite difference's own error (%.1e there) is more than %.0e of it; there the absolute floor "
                      "%.0e decides\n", r.layer.c_str(), r.tensor.c_str(), r.rel_err_grad,
                      r.max_rel_err * r.rel_err_grad, kGradRelTol, kGradAbsTol);
      notes += n;
    }
  }
  size_t width[N] = {};
  for (const auto& row : cells)
    for (size_t k = 0; k < N; k++) width[k] = std::max(width[k], row[k].size());
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t k = 0; k < N; k++) {
      const bool right = k >= 2 && k <= 4;  // numbers right-aligned
      const std::string pad(width[k] - row[k].size(), ' ');
      line += (k ? "  " : "") + (right ? pad + row[k] : row[k] + (k < N - 1 ? pad : ""));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out + notes;
}

}  // namespace gpt
