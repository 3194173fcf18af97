// gpt posenc: the positional encodings the model uses, as numbers or a heatmap:
// the sinusoidal table and the RoPE angles from the layer code itself
// (cpu::sinusoidal_table, cpu::rope_angles), or a checkpoint's learned table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>

#include "learn/attention_calc.h"
#include "check.h"
#include "formats/checkpoint.h"
#include "formats/model_io.h"
#include "commands/common.h"
#include "commands/run_info.h"
#include "fileio.h"
#include "layers.h"
#include "model.h"
#include "learn/svg.h"

namespace gpt {

int cmd_posenc(const Args& a) {
  const std::string kind = a.require("kind");
  if (kind != "sinusoidal" && kind != "rope" && kind != "learned")
    GPT_USAGE_FAIL("--kind: unknown encoding '", kind, "'; choose sinusoidal, rope or learned");
  require_output_file(a, "posenc.svg");
  const bool have_ckpt = a.has("ckpt");
  if (kind == "learned" && !have_ckpt)
    GPT_USAGE_FAIL("--kind learned needs --ckpt RUN: a learned table exists only in a trained model");

  int P = 0, D = 0;
  std::optional<Checkpoint> ck;
  std::string model_file;  // where the weights came from (messages)
  if (have_ckpt) {
    ck = load_model(a.str("ckpt"), heads_flag(a), nullptr, &model_file);  // any model file (model_io.h)
    if (kind == "learned") note_latest_checkpoint(a.str("ckpt"), *ck);  // the others show formulas
    const GPTConfig& mc = ck->model;
    // The model's own sizes: its context, and its width (the head size for RoPE).
    const int model_dim = kind == "rope" ? mc.channels / mc.num_heads : mc.channels;
    if (a.has("dim") && a.integer("dim") != model_dim)
      GPT_USAGE_FAIL("--dim ", a.integer("dim"), " does not match the checkpoint's ",
                     kind == "rope" ? "head size " : "width ", model_dim, "; drop --dim to use the model's");
    D = model_dim;
    P = a.has("positions") ? a.integer("positions") : mc.max_seq_len;
    // The formulas with another model's sizes: said, since the model does not use them.
    if (kind != "learned" && to_string(mc.pos) != kind)
      std::fprintf(stderr, "note: %s uses %s positions, not %s: this is the %s formula at its sizes, which the model "
                   "does not use (--kind %s shows what it does)\n", model_file.c_str(), to_string(mc.pos).c_str(),
                   kind.c_str(), kind.c_str(), to_string(mc.pos).c_str());
    if (kind == "learned" && mc.pos != PosEnc::learned)
      GPT_FAIL(model_file, ": the model uses ", to_string(mc.pos),
               " positions and has no learned table; try --kind ", to_string(mc.pos));
    if (kind == "learned" && P > mc.max_seq_len)
      GPT_USAGE_FAIL("--positions ", P, " exceeds the model's context ", mc.max_seq_len,
                     " (the learned table has one row per position)");
  } else {
    if (!a.has("positions") || !a.has("dim"))
      GPT_USAGE_FAIL("gpt posenc: --positions P and --dim D are required without --ckpt; e.g. `gpt posenc --kind ",
                     kind, " --positions 32 --dim 16`");
    P = a.integer("positions");
    D = a.integer("dim");
  }
  if (P < 1 || P > 65536) GPT_USAGE_FAIL("--positions must be in 1..65536, got ", P);
  if (D < 1 || D > 65536) GPT_USAGE_FAIL("--dim must be in 1..65536, got ", D);
  if (kind == "rope" && D % 2 != 0)
    GPT_USAGE_FAIL("--dim ", D, ": RoPE rotates pairs of dimensions, so the head size must be even");
  if (double(P) * D > double(1 << 24))
    GPT_USAGE_FAIL("--positions x --dim = ", format_count(double(P) * D), " numbers; at most ",
                   format_count(double(1 << 24)), ": give fewer --positions or a smaller --dim");

  const int cols = kind == "rope" ? D / 2 : D;
  if (a.has("out") && size_t(P) * size_t(cols) > svg::kMaxCells)
    GPT_USAGE_FAIL("--out: a heatmap of ", P, " x ", cols, " cells is too large to draw (at most ", svg::kMaxCells,
                   " cells); use fewer --positions or a smaller --dim");
  Matrix enc;
  std::string what;
  double scale = 1.0;  // of the sinusoidal table
  if (kind == "sinusoidal") {
    enc = Matrix(P, D);
    // The formula; with --ckpt of a sinusoidal model, the table that model adds (pos_scale
    // times the formula: it showed amplitude 1 where the model adds 0.1).
    if (ck && ck->model.pos == PosEnc::sinusoidal) scale = ck->model.pos_scale;
    cpu::sinusoidal_table(enc.v.data(), P, D, scale);
    char s_text[32] = "";
    if (scale != 1.0) std::snprintf(s_text, sizeof s_text, "%g * ", scale);
    what = std::string("sinusoidal table PE[pos, 2i] = ") + s_text + "sin(pos / 10000^(2i/D)), PE[pos, 2i+1] = " +
           s_text + "cos(same), D = " + std::to_string(D) +
           (scale != 1.0 ? " (the table " + model_file + " adds to its token embeddings)" : std::string());
  } else if (kind == "rope") {
    enc = Matrix(P, D / 2);
    cpu::rope_angles(enc.v.data(), P, D);
    what = "RoPE angles theta[pos, i] = pos * 10000^(-2i/hs) in radians, hs = " + std::to_string(D) +
           ": the pair (x[2i], x[2i+1]) of each q and k head is rotated by theta[pos, i]";
  } else {
    GPT<float> model(ck->model);
    load_weights(model, *ck, false);
    enc = Matrix(P, D);
    const std::vector<float> wpe = model.read_tensor(WPE);
    for (size_t i = 0; i < enc.v.size(); i++) enc.v[i] = double(wpe[i]);
    what = "learned table wpe of " + model_file + " (" + std::to_string(P) + " of " +
           std::to_string(ck->model.max_seq_len) + " positions x " + std::to_string(D) + ")";
  }

  if (a.has("json")) {
    Json j = Json::object();
    j.set("kind", Json::string(kind));
    j.set("positions", Json::integer(P));
    j.set("dim", Json::integer(D));
    if (kind == "sinusoidal") j.set("scale", Json::number(scale));
    j.set("encoding", matrix_json(enc));
    std::printf("%s\n", j.dump(-1, 15).c_str());
  } else {
    std::vector<std::string> rows, cols;
    for (int p = 0; p < enc.rows; p++) rows.push_back("pos " + std::to_string(p));
    for (int c = 0; c < enc.cols; c++) cols.push_back((kind == "rope" ? "i=" : "") + std::to_string(c));
    std::printf("%s\n%s", what.c_str(), format_table(enc, rows, cols, 4, 10, 20).c_str());
  }

  if (a.has("out")) {
    svg::Heatmap m;
    m.rows = enc.rows;
    m.cols = enc.cols;
    m.values = enc.v;
    double vmax = 1.0;
    std::string title;
    if (kind == "rope") {
      // Angles grow without bound; their cosine shows each pair's rotation frequency.
      for (double& x : m.values) x = std::cos(x);
      title = "RoPE: cos(theta[pos, i]), theta = pos * 10000^(-2i/" + std::to_string(D) + ")";
      m.col_axis = "pair i";
    } else {
      vmax = 0;
      for (double x : m.values) vmax = std::max(vmax, std::fabs(x));
      if (vmax == 0) vmax = 1;
      char sc[32] = "";
      if (scale != 1.0) std::snprintf(sc, sizeof sc, ", scale %g", scale);
      title = kind == "sinusoidal" ? "Sinusoidal positional encoding, D = " + std::to_string(D) + sc
                                   : "Learned positional embedding (wpe)";
      m.col_axis = "dimension";
    }
    m.row_axis = "position";
    m.cell = std::clamp(640.0 / std::max(P, enc.cols), 2.0, 16.0);
    m.label_every = std::max(1, int(std::ceil(11.0 / m.cell)));
    for (int p = 0; p < P; p++) m.row_labels.push_back(std::to_string(p));
    for (int c = 0; c < enc.cols; c++) m.col_labels.push_back(std::to_string(c));
    m.title = title;
    m.tooltips = size_t(P) * enc.cols <= 4096;
    write_svg(a.str("out"), svg::heatmap_grid({m}, 1, "gpt posenc --kind " + kind, -vmax, vmax,
                                              svg::Colormap::diverging));
  }
  return 0;
}

}  // namespace gpt
