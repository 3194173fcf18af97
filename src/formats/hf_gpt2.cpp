// GPT-2 <-> Hugging Face layout (see hf_gpt2.h and data/README.md, "Hugging Face
// GPT-2"). Names and transposes follow transformers' modeling_gpt2.py:
// GPT2Model.{wte, wpe, h[i], ln_f}, GPT2Block.{ln_1, attn, ln_2, mlp},
// GPT2Attention.{c_attn, c_proj}, GPT2MLP.{c_fc, c_proj}; Conv1D(nf, nx) holds a
// weight of shape (nx, nf) = (in, out) and computes x @ W + b.
#include "formats/hf_gpt2.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "check.h"
#include "fileio.h"
#include "formats/safetensors.h"
#include "tensors.h"

namespace gpt {

namespace {

struct HfName {
  const char* suffix;  // after "h.{i}." for per-layer tensors
  bool transposed;     // HF stores (in, out): the transpose of our (out, in)
};

// Indexed by ParamId, in HF's state_dict order (which is ours).
const HfName kNames[NUM_PARAM_TENSORS] = {
    {"wte.weight", false},        {"wpe.weight", false},       {"ln_1.weight", false},
    {"ln_1.bias", false},         {"attn.c_attn.weight", true}, {"attn.c_attn.bias", false},
    {"attn.c_proj.weight", true}, {"attn.c_proj.bias", false},  {"ln_2.weight", false},
    {"ln_2.bias", false},         {"mlp.c_fc.weight", true},    {"mlp.c_fc.bias", false},
    {"mlp.c_proj.weight", true},  {"mlp.c_proj.bias", false},   {"ln_f.weight", false},
    {"ln_f.bias", false},
};

std::string hf_name(int id, int layer) {
  return tensor_spec(id).per_layer ? "h." + std::to_string(layer) + "." + kNames[id].suffix : kNames[id].suffix;
}

// HF shape of one tensor (one layer's slice): ours, transposed where HF's Conv1D is,
// and wte without the padded rows.
std::vector<int64_t> hf_shape(int id, const GPTConfig& c) {
  std::vector<int64_t> s;
  for (size_t d : tensor_shape(id, c)) s.push_back(int64_t(d));
  if (id == WTE) s[0] = c.vocab_size;
  if (kNames[id].transposed) std::swap(s[0], s[1]);
  return s;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); i++) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

// (rows, cols) -> (cols, rows)
void transpose(float* dst, const float* src, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

// The shortest decimal that reads back as the same float (0.1f -> 0.1, not 0.100000001).
double shortest_decimal(float f) { return std::strtod(shortest_text(f).c_str(), nullptr); }

// "h.12.attn.c_attn.weight" -> (12, "attn.c_attn.weight"); false if not "h.N.rest".
bool split_layer_name(const std::string& name, int* layer, std::string* rest) {
  if (name.rfind("h.", 0) != 0) return false;
  size_t i = 2, v = 0;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && v < 100000000)
    v = v * 10 + size_t(name[i++] - '0');
  if (i >= name.size() || name[i] != '.') return false;
  *layer = int(v);
  *rest = name.substr(i + 1);
  return true;
}

std::string dirname_of(const std::string& path) {
  const size_t s = path.find_last_of('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : path.substr(0, s));
}

// The model's shape from config.json, refusing what gpt.cc would compute differently.
GPTConfig config_from_json(const std::string& path) {
  const Json j = Json::parse(read_file(path), path);
  if (!j.is_object()) GPT_FAIL(path, ": expected a JSON object (a transformers GPT-2 config)");
  auto what = [&](const char* key) { return path + ": \"" + key + "\""; };
  auto get_int = [&](const char* key) -> int {
    const Json* v = j.find(key);
    if (!v) GPT_FAIL(path, ": missing \"", key, "\"; a GPT-2 config.json has n_embd, n_layer, n_head, "
                     "n_positions and vocab_size");
    const int64_t x = v->as_int(what(key));
    if (x < 1 || x > (int64_t(1) << 30)) GPT_FAIL(what(key), ": ", x, " is not a usable size");
    return int(x);
  };
  auto refuse = [&](const char* key, const std::string& found, const std::string& want) {
    GPT_FAIL(path, ": \"", key, "\" is ", found, "; gpt.cc computes GPT-2 with ", want,
             " only, so this model would give different results");
  };
  if (const Json* t = j.find("model_type"); t && t->as_string(what("model_type")) != "gpt2")
    GPT_FAIL(path, ": model_type \"", t->as_string(what("model_type")),
             "\"; gpt.cc reads GPT-2 models (model_type \"gpt2\")");
  if (const Json* a = j.find("activation_function")) {
    const std::string s = a->as_string(what("activation_function"));
    // gelu_new and gelu_pytorch_tanh are both the tanh approximation gpt.cc uses.
    if (s != "gelu_new" && s != "gelu_pytorch_tanh")
      refuse("activation_function", "\"" + s + "\"", "gelu_new (tanh GELU)");
  }
  if (const Json* e = j.find("layer_norm_epsilon")) {
    const double eps = e->as_number(what("layer_norm_epsilon"));
    if (std::fabs(eps - 1e-5) > 1e-12) refuse("layer_norm_epsilon", e->dump(), "1e-05");
  }
  GPTConfig c;
  c.channels = get_int("n_embd");
  c.num_layers = get_int("n_layer");
  c.num_heads = get_int("n_head");
  c.vocab_size = get_int("vocab_size");
  c.max_seq_len = j.find("n_positions") ? get_int("n_positions") : get_int("n_ctx");
  c.padded_vocab_size = pad_vocab(c.vocab_size);
  c.pos = PosEnc::learned;
  if (const Json* n = j.find("n_inner"); n && !n->is_null() && n->as_int(what("n_inner")) != 4 * int64_t(c.channels))
    refuse("n_inner", n->dump(), "an MLP of 4 x n_embd (n_inner null)");
  if (const Json* t = j.find("tie_word_embeddings"); t && !t->as_bool(what("tie_word_embeddings")))
    refuse("tie_word_embeddings", "false", "the output head tied to wte");
  if (const Json* t = j.find("scale_attn_weights"); t && !t->as_bool(what("scale_attn_weights")))
    refuse("scale_attn_weights", "false", "attention scaled by 1/sqrt(head size)");
  if (const Json* t = j.find("scale_attn_by_inverse_layer_idx"); t && t->as_bool(what("scale_attn_by_inverse_layer_idx")))
    refuse("scale_attn_by_inverse_layer_idx", "true", "no per-layer attention scaling");
  // One dropout for all sites; transformers' default is 0.1 (resid_pdrop wins if they differ).
  const Json* d = j.find("resid_pdrop");
  c.dropout = d ? float(d->as_number(what("resid_pdrop"))) : 0.1f;
  return c;
}

}  // namespace

Json hf_gpt2_config(const GPTConfig& c, std::optional<SpecialTokens> special) {
  GPT_CHECK(c.pos == PosEnc::learned, "the HF GPT-2 layout needs learned positions");
  const double p = shortest_decimal(c.dropout);
  // GPT-2's own vocabulary ends with <|endoftext|> = 50256. Any other vocabulary
  // without a tokenizer that names them has no such ids: null (GPT2Config accepts
  // None; generate() then stops only at max_length), never an ordinary token.
  if (!special) {
    special = SpecialTokens{};
    if (c.vocab_size == 50257) special->bos = special->eos = 50256;
  }
  auto id = [](std::optional<int> t) { return t ? Json::integer(*t) : Json(); };
  Json j = Json::object();
  j.set("activation_function", Json::string("gelu_new"));
  j.set("architectures", Json::array({Json::string("GPT2LMHeadModel")}));
  j.set("attn_pdrop", Json::number(p));
  j.set("bos_token_id", id(special->bos));
  j.set("embd_pdrop", Json::number(p));
  j.set("eos_token_id", id(special->eos));
  j.set("initializer_range", Json::number(0.02));
  j.set("layer_norm_epsilon", Json::number(1e-5));
  j.set("model_type", Json::string("gpt2"));
  j.set("n_ctx", Json::integer(c.max_seq_len));
  j.set("n_embd", Json::integer(c.channels));
  j.set("n_head", Json::integer(c.num_heads));
  j.set("n_inner", Json());
  j.set("n_layer", Json::integer(c.num_layers));
  j.set("n_positions", Json::integer(c.max_seq_len));
  j.set("reorder_and_upcast_attn", Json::boolean(false));
  j.set("resid_pdrop", Json::number(p));
  j.set("scale_attn_by_inverse_layer_idx", Json::boolean(false));
  j.set("scale_attn_weights", Json::boolean(true));
  j.set("tie_word_embeddings", Json::boolean(true));
  j.set("torch_dtype", Json::string("float32"));
  j.set("use_cache", Json::boolean(true));
  j.set("vocab_size", Json::integer(c.vocab_size));
  return j;
}

std::string hf_gpt2_safetensors(const GPTConfig& c, const float* params) {
  GPT_CHECK(c.pos == PosEnc::learned, "the HF GPT-2 layout needs learned positions");
  const ParamLayout lay = param_layout(c);
  std::vector<TensorOut> out;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    if (tensor_spec(id).per_layer) continue;
    if (id == LNFW) break;  // ln_f comes after the blocks
    const float* src = params + lay.offset[id];
    const size_t n = size_t(hf_shape(id, c)[0]) * size_t(c.channels);  // wte: the first V rows only
    out.push_back({std::string("transformer.") + hf_name(id, 0), hf_shape(id, c),
                   [src, n](float* dst) { std::memcpy(dst, src, n * sizeof(float)); }});
  }
  for (int l = 0; l < c.num_layers; l++) {
    for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
      if (!tensor_spec(id).per_layer) continue;
      const float* src = params + lay.offset[id] + size_t(l) * lay.per_layer[id];
      const auto ours = tensor_shape(id, c);
      const size_t n = lay.per_layer[id];
      std::function<void(float*)> fill;
      if (kNames[id].transposed)
        fill = [src, ours](float* dst) { transpose(dst, src, ours[0], ours[1]); };
      else
        fill = [src, n](float* dst) { std::memcpy(dst, src, n * sizeof(float)); };
      out.push_back({"transformer." + hf_name(id, l), hf_shape(id, c), fill});
    }
  }
  for (int id : {LNFW, LNFB}) {
    const float* src = params + lay.offset[id];
    const size_t n = lay.numel[id];
    out.push_back({std::string("transformer.") + hf_name(id, 0), hf_shape(id, c),
                   [src, n](float* dst) { std::memcpy(dst, src, n * sizeof(float)); }});
  }
  return safetensors_bytes(out, {{"format", "pt"}});
}

size_t export_hf_gpt2(const std::string& dir, const GPTConfig& c, const float* params,
                      std::optional<SpecialTokens> special) {
  if (file_exists(dir) && !is_directory(dir))
    GPT_FAIL(dir, ": exists and is not a directory; --to safetensors writes a directory (model.safetensors, "
             "config.json)");
  make_dirs(dir);
  const std::string bytes = hf_gpt2_safetensors(c, params);
  write_file_atomic(join_path(dir, kSafetensorsFile), bytes);
  write_file_atomic(join_path(dir, kHfConfigFile), hf_gpt2_config(c, special).dump(2) + "\n");
  return bytes.size();
}

Checkpoint load_hf_gpt2(const std::string& file_or_dir, std::optional<int> heads) {
  std::string file = file_or_dir, config_path;
  if (is_directory(file_or_dir)) {
    file = join_path(file_or_dir, kSafetensorsFile);
    if (!file_exists(file)) {
      if (file_exists(join_path(file_or_dir, "model.safetensors.index.json")))
        GPT_FAIL(file_or_dir, ": holds a sharded safetensors checkpoint (model.safetensors.index.json); gpt.cc "
                 "reads a single model.safetensors");
      GPT_FAIL(file_or_dir, ": no ", kSafetensorsFile, " here; expected a directory written by `gpt export --to "
               "safetensors` or transformers' save_pretrained");
    }
    config_path = join_path(file_or_dir, kHfConfigFile);
  } else {
    config_path = join_path(dirname_of(file_or_dir), kHfConfigFile);
  }
  const Safetensors st = Safetensors::read(file);

  // Names without the optional "transformer." prefix; sort out what is what.
  std::map<std::string, const SafetensorsEntry*> by_name;
  const SafetensorsEntry* lm_head = nullptr;
  std::vector<std::string> unknown;
  int max_layer = -1;
  std::set<std::string> known_suffixes;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++)
    if (tensor_spec(id).per_layer) known_suffixes.insert(kNames[id].suffix);
  for (const auto& e : st.tensors()) {
    std::string n = e.name;
    if (n.rfind("transformer.", 0) == 0) n = n.substr(12);
    if (n == "lm_head.weight" && e.name == n) {
      lm_head = &e;
      continue;
    }
    int layer;
    std::string rest;
    if (split_layer_name(n, &layer, &rest)) {
      if (rest == "attn.bias" || rest == "attn.masked_bias") continue;  // causal-mask buffers, not weights
      if (known_suffixes.count(rest)) {
        max_layer = std::max(max_layer, layer);
        if (!by_name.emplace(n, &e).second) GPT_FAIL(file, ": tensor \"", n, "\" appears twice (with and without "
                                                     "the \"transformer.\" prefix)");
        continue;
      }
    } else if (n == "wte.weight" || n == "wpe.weight" || n == "ln_f.weight" || n == "ln_f.bias") {
      if (!by_name.emplace(n, &e).second)
        GPT_FAIL(file, ": tensor \"", n, "\" appears twice (with and without the \"transformer.\" prefix)");
      continue;
    }
    unknown.push_back(e.name);
  }
  if (!unknown.empty()) {
    std::string list;
    for (size_t i = 0; i < unknown.size() && i < 5; i++) list += (i ? ", " : "") + ("\"" + unknown[i] + "\"");
    if (unknown.size() > 5) list += " and " + std::to_string(unknown.size() - 5) + " more";
    GPT_FAIL(file, ": ", count(unknown.size(), "tensor"), " that ", unknown.size() == 1 ? "is" : "are",
             " not part of a GPT-2 (GPT2LMHeadModel): ", list,
             "; gpt.cc reads GPT-2 weights only and will not guess what others mean");
  }

  // The shape: config.json, or what the tensors say plus --heads.
  GPTConfig c;
  std::string shape_source;
  if (file_exists(config_path)) {
    c = config_from_json(config_path);
    shape_source = " (shape from " + config_path + ")";
    if (heads && *heads != c.num_heads)
      GPT_USAGE_FAIL("--heads ", *heads, " disagrees with ", config_path, " (n_head ", c.num_heads,
                     "); drop --heads");
  } else {
    auto need = [&](const char* name) {
      auto it = by_name.find(name);
      if (it == by_name.end() || it->second->shape.size() != 2)
        GPT_FAIL(file, ": ", it == by_name.end() ? "missing tensor \"" : "tensor \"", name, "\"",
                 it == by_name.end() ? "" : " is not 2-D", "; without config.json the model's shape is read from "
                 "wte.weight (vocab, channels) and wpe.weight (context, channels)");
      return it->second->shape;
    };
    const auto wte = need("wte.weight"), wpe = need("wpe.weight");
    if (!heads)
      GPT_USAGE_FAIL(file, ": no ", kHfConfigFile, " beside it, and the number of attention heads cannot be read "
                     "from the tensors (c_attn is (C, 3C) whatever the head count). Pass --heads N (12 for GPT-2 "
                     "124M, 16 for 350M, 20 for 774M, 25 for 1558M), or put the model's config.json next to it");
    if (max_layer < 0) GPT_FAIL(file, ": no transformer blocks (h.0.*) found; not a GPT-2 checkpoint");
    if (wte[0] > (int64_t(1) << 30) || wte[1] > (int64_t(1) << 30) || wpe[0] > (int64_t(1) << 30))
      GPT_FAIL(file, ": wte.weight ", shape_text(wte), " / wpe.weight ", shape_text(wpe), " are not usable sizes");
    c.vocab_size = int(wte[0]);
    c.channels = int(wte[1]);
    c.max_seq_len = int(wpe[0]);
    c.num_layers = max_layer + 1;
    c.num_heads = *heads;
    c.padded_vocab_size = pad_vocab(c.vocab_size);
    c.pos = PosEnc::learned;
    c.dropout = 0.0f;
    shape_source = " (shape read from the tensors; no " + std::string(kHfConfigFile) + ")";
  }
  try {
    validate(c);
  } catch (const Error& e) {
    GPT_FAIL(file, ": this GPT-2 cannot be loaded by gpt.cc", shape_source, ": ", e.what());
  }
  if (max_layer >= c.num_layers)
    GPT_FAIL(file, ": has tensors of block h.", max_layer, " but the model has ", count(c.num_layers, "layer"),
             shape_source);

  // Every tensor the shape implies is there, with its shape, before anything is
  // allocated: a damaged config.json (n_layer 100000000) is named, not an out-of-memory.
  if (max_layer + 1 < c.num_layers)
    GPT_FAIL(file, ": ", config_path, " says ", count(c.num_layers, "layer"), ", but this file has ",
             max_layer < 0 ? std::string("no transformer blocks (h.0.*)")
                           : max_layer == 0 ? std::string("block h.0 only") : str("blocks h.0 to h.", max_layer, " only"),
             "; config.json is damaged or belongs to another model");
  auto entry = [&](int id, int l) -> const SafetensorsEntry& {
    const std::string name = hf_name(id, l);
    const auto want = hf_shape(id, c);
    auto it = by_name.find(name);
    if (it == by_name.end()) GPT_FAIL(file, ": missing tensor \"", name, "\" ", shape_text(want), shape_source);
    if (it->second->shape != want)
      GPT_FAIL(file, ": tensor \"", it->second->name, "\" has shape ", shape_text(it->second->shape), ", expected ",
               shape_text(want), shape_source);
    return *it->second;
  };
  for (int id = 0; id < NUM_PARAM_TENSORS; id++)
    for (int l = 0; l < (tensor_spec(id).per_layer ? c.num_layers : 1); l++) entry(id, l);

  Checkpoint ck;
  ck.model = c;
  const ParamLayout lay = param_layout(c);
  ck.params.assign(lay.total, 0.0f);  // padded vocabulary rows stay zero
  std::vector<float> tmp;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    const int layers = tensor_spec(id).per_layer ? c.num_layers : 1;
    for (int l = 0; l < layers; l++) {
      const auto want = hf_shape(id, c);
      const SafetensorsEntry& e = entry(id, l);
      float* dst = ck.params.data() + lay.offset[id] + size_t(l) * lay.per_layer[id];
      if (kNames[id].transposed) {
        tmp.resize(e.numel);
        st.to_float(e, tmp.data());
        transpose(dst, tmp.data(), size_t(want[0]), size_t(want[1]));
      } else {
        st.to_float(e, dst);
      }
    }
  }
  if (lm_head) {
    // A tied head saved anyway must be wte itself; anything else is a model gpt.cc cannot represent.
    const auto want = hf_shape(WTE, c);
    if (lm_head->shape != want)
      GPT_FAIL(file, ": lm_head.weight has shape ", shape_text(lm_head->shape), ", expected ", shape_text(want));
    tmp.resize(lm_head->numel);
    st.to_float(*lm_head, tmp.data());
    if (std::memcmp(tmp.data(), ck.params.data() + lay.offset[WTE], tmp.size() * sizeof(float)) != 0)
      GPT_FAIL(file, ": lm_head.weight differs from wte.weight: an untied output head, which gpt.cc's GPT-2 "
               "(head tied to the token embedding) cannot represent");
  }
  require_finite_weights(ck, file);
  return ck;
}

}  // namespace gpt
