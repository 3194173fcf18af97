// gpt attention: the step-by-step calculator (--input FILE.json, see attention_calc.h)
// and a trained model's attention maps (--ckpt RUN --text TEXT), taken from the
// model's own KV-cache forward (GPT<float>::decode), drawn as an SVG heatmap.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>

#include "learn/attention_calc.h"
#include "check.h"
#include "formats/checkpoint.h"
#include "formats/model_io.h"
#include "commands/common.h"
#include "commands/generate.h"
#include "commands/run_info.h"
#include "fileio.h"
#include "model.h"
#include "run_dir.h"
#include "learn/svg.h"
#include "text/tokenizer.h"

namespace gpt {

namespace {

int grid_columns(size_t n) { return std::max(1, int(std::ceil(std::sqrt(double(n))))); }

int run_calculator(const Args& a) {
  for (const char* f : {"text", "layer", "head", "tokenizer"})
    if (a.has(f))
      GPT_USAGE_FAIL("gpt attention: --", f, " goes with --ckpt RUN (a trained model), not with --input; see "
                     "`gpt attention --help`");
  const AttentionProblem p = load_attention_problem(a.str("input"));
  const bool scaled = !a.has("no-scale");
  const std::string input = a.str("input");
  auto run = [&](bool sc) {
    try {
      return run_attention(p, sc);
    } catch (const Error& e) {
      throw Error(e.code, input + ": " + e.what());
    }
  };
  // (as for a trained model's maps below, and posenc: a picture past this many cells was
  // hundreds of MB of SVG and gigabytes of memory)
  if (a.has("out") && size_t(p.heads) * size_t(p.T()) * size_t(p.T()) > svg::kMaxCells)
    GPT_USAGE_FAIL("--out: ", p.heads, " heads of ", p.T(), " x ", p.T(), " tokens are too many cells to draw (at "
                   "most ", svg::kMaxCells, "); use fewer tokens or heads for the picture (the tables print any size)");
  const AttentionResult r = run(scaled);
  std::optional<AttentionResult> other;
  if (!scaled) other = run(true);
  const AttentionResult* o = other ? &*other : nullptr;
  if (a.has("json")) std::printf("%s\n", attention_json(p, r, o).dump(-1, 15).c_str());
  else std::printf("%s", format_attention(p, r, o).c_str());
  if (a.has("out")) {
    std::vector<svg::Heatmap> maps;
    for (size_t h = 0; h < r.heads.size(); h++) {
      svg::Heatmap m;
      m.values = r.heads[h].weights.v;
      m.rows = m.cols = p.T();
      for (int t = 0; t < p.T(); t++) m.row_labels.push_back("t" + std::to_string(t));
      m.col_labels = m.row_labels;
      m.title = "head " + std::to_string(h);
      m.row_axis = "query";
      m.col_axis = "key";
      m.cell = 28;
      maps.push_back(std::move(m));
    }
    write_svg(a.str("out"), svg::heatmap_grid(maps, grid_columns(maps.size()),
                                              "Attention weights: " + a.str("input"), 0.0, 1.0,
                                              svg::Colormap::sequential));
  }
  return 0;
}

int run_model_map(const Args& a) {
  if (a.has("no-scale"))
    GPT_USAGE_FAIL("gpt attention: --no-scale goes with --input (the calculator); a trained model always "
                   "scales by 1/sqrt(head size)");
  const std::string text = a.require("text");
  std::string tok_file;
  const Checkpoint ck = load_model(a.str("ckpt"), heads_flag(a), nullptr, nullptr, &tok_file);  // any model file
  note_latest_checkpoint(a.str("ckpt"), ck);
  const GPTConfig& mc = ck.model;
  const int layer = a.integer("layer");
  if (layer < 0 || layer >= mc.num_layers)
    GPT_USAGE_FAIL("--layer ", layer, " is outside 0..", mc.num_layers - 1, " (the model has ",
                   count(mc.num_layers, "layer"), ", counted from 0)");
  std::vector<int> heads;
  if (a.has("head")) {
    const int h = a.integer("head");
    if (h < 0 || h >= mc.num_heads)
      GPT_USAGE_FAIL("--head ", h, " is outside 0..", mc.num_heads - 1, " (the model has ",
                     count(mc.num_heads, "head"), " per layer, counted from 0)");
    heads.push_back(h);
  } else {
    for (int h = 0; h < mc.num_heads; h++) heads.push_back(h);
  }

  // Text -> tokens and their labels, with the checkpoint's own tokenizer.
  // Without a tokenizer, or with one that only decodes (llm.c's file), the text is token
  // ids, as sample's prompt is then.
  std::vector<int> ids;
  std::vector<std::string> pieces;
  std::unique_ptr<Tokenizer> tok;
  if (a.has("tokenizer")) {  // as sample's: supplies or replaces the model's
    std::string source;
    tok = load_tokenizer_from(a.require("tokenizer"), &source, "; give a tokenizer file");
    // (refused first: a note on how it differs, then the refusal, said one thing twice)
    require_tokenizer_fits(tok->vocab_size(), mc.vocab_size, source,
                           ". Give the tokenizer the model was trained with (the one in the model's run or data "
                           "directory)");
    if (!ck.tokenizer.empty())
      if (const std::string n = tokenizer_mismatch_note(*tok, source, ck.tokenizer, tok_file); !n.empty())
        std::fprintf(stderr, "note: %s\n", n.c_str());
  } else if (!ck.tokenizer.empty()) {
    tok = Tokenizer::deserialize(ck.tokenizer, tok_file);
    require_tokenizer_fits(tok->vocab_size(), mc.vocab_size, tok_file);
  }
  if (tok && tok->can_encode()) {
    ids = encode_text(*tok, text, "--text");
    for (int id : ids) pieces.push_back(tok->decode_token(id));
  } else {
    std::istringstream in(text);
    std::string w;
    while (in >> w) {
      char* end = nullptr;
      const long id = std::strtol(w.c_str(), &end, 10);
      if (*end || id < 0 || id >= mc.vocab_size)
        GPT_USAGE_FAIL("--text: ", tok ? "this tokenizer can only decode (" + tok->describe() + ")"
                                       : "this checkpoint has no tokenizer (none stored in it, " +
                                             tokenizer_beside_note(a.str("ckpt")) + "; --tokenizer FILE gives one)",
                       ", so the text must be token ids 0..", mc.vocab_size - 1, " separated by spaces; got '", w,
                       "'");
      ids.push_back(int(id));
      pieces.push_back(tok ? tok->decode_token(int(id)) : w);
    }
  }
  const int T = int(ids.size());
  if (T == 0) GPT_USAGE_FAIL("--text is empty; give at least one token");
  for (int id : ids)
    if (id >= mc.vocab_size)
      GPT_FAIL("token id ", id, " is outside the model's vocabulary (", mc.vocab_size, ")");
  if (T > mc.max_seq_len)
    GPT_USAGE_FAIL("--text is ", T, " tokens but the model's context is ", mc.max_seq_len, "; shorten it");
  if (a.has("out") && heads.size() * size_t(T) * size_t(T) > svg::kMaxCells)
    GPT_USAGE_FAIL("--out: ", heads.size(), " heads of ", T, " x ", T, " tokens are too many cells to draw (at most ",
                   svg::kMaxCells, "); pick one head with --head or shorten --text");

  // The model's own forward, one position at a time through the KV cache: decode()
  // hands back each layer's weights (L, NH, pos+1) for the newest query.
  GPT<float> model(mc);
  load_weights(model, ck, false);
  const int NH = mc.num_heads;
  // Each head's T x T weights are kept only for --json or --out, and only for the heads
  // shown; the entropies are summed row by row as the rows arrive. (All heads' maps were
  // kept whatever was asked: at a long context that was gigabytes, allocated before any
  // check, and failed with a bare "out of memory".)
  const bool keep = a.has("json") || a.has("out");
  if (keep) {
    // --json also builds the document in memory: a number node and its text per weight.
    const double per_weight = a.has("json") ? double(sizeof(double) + sizeof(Json) + 24) : double(sizeof(double));
    const double need = double(heads.size()) * double(T) * double(T) * per_weight;
    // (The decode's threads take their stacks and allocate nothing.)
    const auto avail = available_memory(CommandThreads{omp_get_max_threads(), false});
    if (avail && need > *avail)
      GPT_USAGE_FAIL(a.has("json") ? "--json" : "--out", ": ", count(int(heads.size()), "head"), " of ", T, " x ", T,
                     " attention weights need about ", format_bytes(need), " but only ", format_bytes(*avail),
                     " is available (", kAvailableMemorySources, "); pick one head with --head, shorten --text, "
                     "or leave out --json to print only each head's entropy");
  }
  std::vector<std::vector<double>> w(heads.size());
  if (keep)
    for (auto& m : w) m.assign(size_t(T) * T, 0.0);
  std::vector<double> entropy(static_cast<size_t>(NH), 0.0);
  std::vector<double> row(size_t(T), 0.0);
  std::vector<float> maps;
  for (int pos = 0; pos < T; pos++) {
    model.decode(ids[size_t(pos)], pos, &maps);
    for (size_t k = 0; k < heads.size(); k++) {
      const int h = heads[k];
      std::fill(row.begin(), row.end(), 0.0);
      for (int s = 0; s <= pos; s++) {
        const float x = maps[(size_t(layer) * NH + h) * (pos + 1) + s];
        if (!std::isfinite(x))  // (NaN drew as entropy 0 and, in --json, as null: the marker of a masked score)
          GPT_FAIL(a.str("ckpt"), ": layer ", layer, " head ", h, "'s attention weight of token ", pos, " on token ",
                   s, " is ", x, ": ", forward_overflows("no attention to show"));
        row[size_t(s)] = x;
      }
      entropy[size_t(h)] += row_entropy(row.data(), T);
      if (keep) std::copy(row.begin(), row.end(), w[k].begin() + std::ptrdiff_t(pos) * T);
    }
  }
  for (int h : heads) entropy[size_t(h)] /= T;

  double uniform = 0;
  for (int t = 0; t < T; t++) uniform += std::log(double(t + 1));
  uniform /= T;

  if (a.has("json")) {
    Json j = Json::object(), toks = Json::array(), hs = Json::array();
    for (const auto& s : pieces) toks.push(Json::string(valid_utf8(s)));  // (raw bytes made the JSON invalid)
    j.set("tokens", std::move(toks));
    // The ids too: a byte-fallback token's text is part of a character, which JSON can
    // only show as U+FFFD; its id says which byte it is.
    Json id_list = Json::array();
    for (int id : ids) id_list.push(Json::integer(id));
    j.set("ids", std::move(id_list));
    j.set("layer", Json::integer(layer));
    for (size_t k = 0; k < heads.size(); k++) {
      const int h = heads[k];
      Json o = Json::object();
      Matrix m(T, T);
      m.v = w[k];
      o.set("head", Json::integer(h));
      o.set("weights", matrix_json(m));
      o.set("entropy", Json::number(entropy[size_t(h)]));
      hs.push(std::move(o));
    }
    j.set("heads", std::move(hs));
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("layer %d, %s: mean entropy of each head's weights (nats; uniform over the visible keys "
                "%.4f, one-hot 0)\n",
                layer, count(T, "token").c_str(), uniform);
    for (int h : heads) std::printf("  head %d: %.4f\n", h, entropy[size_t(h)]);
  }

  if (a.has("out")) {
    std::vector<std::string> labels;
    for (const auto& s : pieces) labels.push_back(svg::token_label(s));
    std::vector<svg::Heatmap> panels;
    for (size_t k = 0; k < heads.size(); k++) {
      const int h = heads[k];
      svg::Heatmap m;
      m.values = std::move(w[k]);  // (--json, if given, has been printed already)
      m.rows = m.cols = T;
      m.row_labels = m.col_labels = labels;
      char title[96];
      std::snprintf(title, sizeof title, "layer %d head %d (entropy %.3f)", layer, h, entropy[size_t(h)]);
      m.title = title;
      m.row_axis = "query";
      m.col_axis = "key";
      m.cell = T <= 24 ? 18 : std::max(4.0, 432.0 / T);
      m.tooltips = T <= 64;
      panels.push_back(std::move(m));
    }
    double vmax = 0;
    for (const auto& p : panels) vmax = std::max(vmax, *std::max_element(p.values.begin(), p.values.end()));
    std::string shown = text;
    if (shown.size() > 60) {  // cut on a character boundary
      size_t cut = 57;
      while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) cut--;
      shown = shown.substr(0, cut) + "...";
    }
    write_svg(a.str("out"), svg::heatmap_grid(panels, grid_columns(panels.size()),
                                              "Attention weights, layer " + std::to_string(layer) + ": \"" + shown +
                                                  "\"",
                                              0.0, vmax > 0 ? vmax : 1.0, svg::Colormap::sequential));
  }
  return 0;
}

}  // namespace

int cmd_attention(const Args& a) {
  const bool calc = a.has("input"), ckpt = a.has("ckpt");
  if (calc == ckpt)
    GPT_USAGE_FAIL("gpt attention: give either --input FILE.json (the step-by-step calculator) or --ckpt RUN "
                   "--text TEXT (a trained model's attention map); see `gpt attention --help`");
  require_output_file(a, "attention.svg");
  return calc ? run_calculator(a) : run_model_map(a);
}

}  // namespace gpt
