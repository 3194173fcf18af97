// Model file formats: llm.c checkpoints (v3 float32, v5 bfloat16) and Hugging Face
// GPT-2 safetensors, against files this test writes itself from the formats'
// specifications (not with the code under test): exact round trips, the transposes,
// dtype conversion, the hub's naming, sinusoidal export, and every rejection.
#include <cmath>
#include <cstring>
#include <map>

#include "bf16.h"
#include "formats/checkpoint.h"
#include "fileio.h"
#include "formats/hf_gpt2.h"
#include "formats/json.h"
#include "formats/llmc.h"
#include "model.h"
#include "formats/model_io.h"
#include "formats/safetensors.h"
#include "test_util.h"

namespace gpt::test {
namespace {

// ------------------------------------------------------------------ helpers

void put_i32(std::string& s, int32_t v) {
  for (int k = 0; k < 4; k++) s += char((uint32_t(v) >> (8 * k)) & 0xFF);
}
void put_u64(std::string& s, uint64_t v) {
  for (int k = 0; k < 8; k++) s += char((v >> (8 * k)) & 0xFF);
}
uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
// float -> bfloat16, round to nearest even (what PyTorch's .to(torch.bfloat16) does
// for finite values; llm.c's train_gpt2.py writes version 5 that way).
uint16_t to_bf16_rne(float f) {
  const uint32_t b = bits_of(f);
  return uint16_t((b + 0x7FFF + ((b >> 16) & 1)) >> 16);
}
// float -> IEEE half, for values that are exactly representable as normal halves or 0.
uint16_t to_f16_exact(float f) {
  const uint32_t b = bits_of(f);
  const uint16_t sign = uint16_t((b >> 31) << 15);
  if ((b & 0x7FFFFFFF) == 0) return sign;
  const int e = int((b >> 23) & 0xFF) - 127 + 15;
  EXPECT_TRUE(e > 0 && e < 31 && (b & 0x1FFF) == 0) << f << " is not an exact normal half";
  return uint16_t(sign | (e << 10) | ((b >> 13) & 0x3FF));
}

// Parameter count of llm.c's GPT-2, from its formula (not from our layout table).
size_t llmc_count(int maxT, int L, int C, int Vp) {
  const size_t c = size_t(C);
  return size_t(Vp) * c + size_t(maxT) * c + size_t(L) * (12 * c * c + 13 * c) + 2 * c;
}

struct LlmcDims {
  int maxT = 16, V = 20, L = 2, NH = 2, C = 8, Vp = 24;  // Vp need not be a multiple of 128
};

// An llm.c checkpoint written from the spec: 256 int32 header, then the parameters.
std::string llmc_file(const LlmcDims& d, const std::vector<float>& params, int version) {
  std::string s;
  for (int32_t v : {20240326, version, d.maxT, d.V, d.L, d.NH, d.C, d.Vp}) put_i32(s, v);
  s.resize(1024, '\0');
  for (float f : params) {
    if (version == 3) {
      put_i32(s, int32_t(bits_of(f)));
    } else {
      const uint16_t h = to_bf16_rne(f);
      s += char(h & 0xFF);
      s += char(h >> 8);
    }
  }
  return s;
}

GPTConfig small_config(PosEnc pos = PosEnc::learned) { return small_gpt(12, 16, pos); }

std::vector<float> logits_of(GPT<float>& m, const std::vector<int>& toks) {
  m.forward(toks.data(), nullptr, 1, int(toks.size()));
  return m.logits();
}

std::vector<int> some_tokens(int n, int V) {
  std::vector<int> t(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) t[size_t(i)] = (i * 7 + 3) % V;
  return t;
}

// ------------------------------------------------------------------ llm.c

TEST(Llmc, ImportThenExportGivesTheSameBytes) {
  const std::string dir = scratch_dir();
  const LlmcDims d;
  const size_t n = llmc_count(d.maxT, d.L, d.C, d.Vp);
  // Random values everywhere, padded vocabulary rows included: the bytes must survive.
  const std::vector<float> params = random_vec<float>(n, 11, 2.0);
  const std::string path = join_path(dir, "model.bin");
  const std::string bytes = llmc_file(d, params, 3);
  write_file_atomic(path, bytes);

  ModelFormat f;
  const Checkpoint ck = load_model(path, std::nullopt, &f);
  EXPECT_EQ(f, ModelFormat::llmc);
  EXPECT_EQ(ck.model.max_seq_len, d.maxT);
  EXPECT_EQ(ck.model.vocab_size, d.V);
  EXPECT_EQ(ck.model.padded_vocab_size, d.Vp);
  EXPECT_EQ(ck.model.num_layers, d.L);
  EXPECT_EQ(ck.model.num_heads, d.NH);
  EXPECT_EQ(ck.model.channels, d.C);
  EXPECT_EQ(ck.model.pos, PosEnc::learned);
  EXPECT_TRUE(ck.tokenizer.empty());
  ASSERT_EQ(ck.params.size(), n);
  EXPECT_EQ(0, std::memcmp(ck.params.data(), params.data(), n * 4));

  // The tensors land where llm.c's order puts them: qkvb of layer 1 starts after
  // wte, wpe, ln1w, ln1b, qkvw (all layers) and layer 0's qkvb.
  GPT<float> m(ck.model);
  load_weights(m, ck, false);
  const size_t C = size_t(d.C), L = size_t(d.L);
  const size_t qkvb1 = size_t(d.Vp) * C + size_t(d.maxT) * C + 2 * L * C + L * 3 * C * C + 3 * C;
  EXPECT_EQ(m.read_tensor(QKVB)[m.layout().per_layer[QKVB]], params[qkvb1]);
  EXPECT_EQ(m.read_tensor(LNFB)[C - 1], params[n - 1]);

  EXPECT_EQ(llmc_bytes(ck.model, ck.params.data()), bytes);

  // Vp = 24 is used as it is: the same logits (first Vp columns) and loss as the same
  // weights in a model padded to 128 with zero rows.
  GPTConfig c128 = ck.model;
  c128.padded_vocab_size = 128;
  GPT<float> m128(c128);
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    std::vector<float> t = m.read_tensor(id);
    t.resize(m128.layout().numel[id], 0.0f);  // wte: its 24 rows, then zeros
    m128.write_tensor(id, t);
  }
  const auto toks = some_tokens(d.maxT, d.V);
  std::vector<int> targets(toks.begin() + 1, toks.end());
  targets.push_back(0);
  const double loss24 = *m.forward(toks.data(), targets.data(), 1, d.maxT);
  const double loss128 = *m128.forward(toks.data(), targets.data(), 1, d.maxT);
  EXPECT_NEAR(loss24, loss128, 1e-6 * loss128);
  const std::vector<float> l24 = m.logits(), l128 = m128.logits();
  for (int t = 0; t < d.maxT; t++) EXPECT_CLOSE(l24.data() + size_t(t) * 24, l128.data() + size_t(t) * 128, 24, 1e-6, 1e-5);
}

TEST(Llmc, Bf16ImportsTheRoundedValues) {
  const std::string dir = scratch_dir();
  const LlmcDims d;
  const size_t n = llmc_count(d.maxT, d.L, d.C, d.Vp);
  std::vector<float> params = random_vec<float>(n, 12, 3.0);
  params[0] = 1.0f;               // 0x3F80: exact
  params[1] = 1.0f / 3.0f;        // 0x3EAAAAAB rounds up to 0x3EAB = 0.333984375
  params[2] = -2.0f - 1.0f / 256;  // halfway between two bf16 values: ties to even (-2.0)
  const std::string path = join_path(dir, "model_bf16.bin");
  const std::string bytes = llmc_file(d, params, 5);
  EXPECT_EQ(bytes.size(), 1024 + 2 * n);
  write_file_atomic(path, bytes);
  const Checkpoint ck = load_model(path);
  ASSERT_EQ(ck.params.size(), n);
  EXPECT_EQ(ck.params[0], 1.0f);
  EXPECT_EQ(ck.params[1], 0.333984375f);
  EXPECT_EQ(ck.params[2], -2.0f);
  for (size_t i = 0; i < n; i++) {
    ASSERT_EQ(bits_of(ck.params[i]), uint32_t(to_bf16_rne(params[i])) << 16) << "parameter " << i;
    ASSERT_LE(std::fabs(ck.params[i] - params[i]), std::fabs(params[i]) / 256) << "parameter " << i;
  }
  // Exported as version 3: the widened values, float32.
  const std::string v3 = llmc_bytes(ck.model, ck.params.data());
  EXPECT_EQ(v3, llmc_file(d, ck.params, 3));
}

TEST(Llmc, RejectsDamagedOrForeignFiles) {
  const std::string dir = scratch_dir();
  const std::string path = join_path(dir, "bad.bin");
  const LlmcDims good;
  const size_t n = llmc_count(good.maxT, good.L, good.C, good.Vp);
  const std::vector<float> params(n, 0.5f);
  auto expect_bad = [&](const std::string& bytes, const std::vector<std::string>& words) {
    write_file_atomic(path, bytes);
    std::vector<std::string> w = words;
    w.push_back(path);
    expect_error([&] { load_llmc(path); }, w);
  };
  const std::string ok = llmc_file(good, params, 3);
  expect_bad(ok.substr(0, ok.size() - 1), {"truncated", std::to_string(4 * n)});
  expect_bad(ok + "xy", {"extra bytes"});
  expect_bad(ok.substr(0, 1000), {"1024-byte header", "1000 bytes"});
  std::string v = ok;
  v[4] = 4;  // version 4
  expect_bad(v, {"version 4", "3 (float32)", "5 (bfloat16)"});
  v = ok;
  v[0] = 1;
  expect_bad(v, {"magic", "20240326"});
  LlmcDims d = good;
  d.NH = 3;
  expect_bad(llmc_file(d, params, 3), {"num_heads 3 does not divide channels 8"});
  d = good;
  d.L = 0;
  expect_bad(llmc_file(d, params, 3), {"num_layers", "is 0", "positive"});
  d = good;
  d.Vp = 19;
  expect_bad(llmc_file(d, params, 3), {"padded_vocab_size 19 is smaller than vocab_size 20"});
  v = ok;
  v[4 * 100] = 7;  // a reserved header int
  expect_bad(v, {"int32 #100 is 7", "0"});
  d = good;
  d.C = 1 << 30;  // absurd sizes: refused by length, not by a giant allocation
  d.NH = 1;
  expect_bad(llmc_file(d, {}, 3), {"implies", "truncated"});
  // A version 5 file whose length is that of version 3.
  v = ok;
  v[4] = 5;
  expect_bad(v, {"bfloat16", "extra bytes"});
}

TEST(Llmc, SinusoidalExportsWithItsTableInWpeAndTheSameLogits) {
  // New models (kSinusoidalScale) and models from checkpoints before version 3 (scale 1).
  for (const float scale : {kSinusoidalScale, 1.0f}) {
    GPTConfig c = small_config(PosEnc::sinusoidal);
    c.pos_scale = scale;
    GPT<float> m(c);
    m.init_weights(4);
    std::vector<float> w = m.read(Store::params);
    for (float& x : w) x *= 5.0f;  // positions matter visibly
    m.write(Store::params, w);
    Checkpoint ck;
    ck.model = c;
    ck.params = m.read(Store::params);
    const LearnedPositions lp = with_learned_positions(ck, "x", "llm.c");
    EXPECT_TRUE(lp.baked);
    EXPECT_EQ(lp.cfg.pos, PosEnc::learned);
    // Through the file and back.
    const std::string dir = scratch_dir();
    const std::string path = join_path(dir, "sin.bin");
    write_file_atomic(path, llmc_bytes(lp.cfg, lp.params));
    const Checkpoint back = load_model(path);
    GPT<float> m2(back.model);
    load_weights(m2, back, false);
    // wpe row p, column 2i is scale * sin(p / 10000^(2i/C)) (computed here independently).
    const int p = 5, i = 3;
    EXPECT_NEAR(m2.read_tensor(WPE)[size_t(p) * 16 + 2 * i], scale * std::sin(p / std::pow(10000.0, 2.0 * i / 16)),
                1e-6)
        << "scale " << scale;
    const auto toks = some_tokens(12, 20);
    EXPECT_EQ(logits_of(m, toks), logits_of(m2, toks)) << "scale " << scale;
  }
}

TEST(Llmc, RopeIsRefused) {
  Checkpoint ck;
  ck.model = small_config(PosEnc::rope);
  ck.params.assign(param_layout(ck.model).total, 0.0f);
  expect_error([&] { with_learned_positions(ck, "runs/r", "llm.c's checkpoint format"); },
               {"runs/r", "RoPE", "llm.c's checkpoint format", "--pos learned"});
}

// ------------------------------------------------------------------ safetensors container

TEST(Safetensors, HalfAndBfloat16Conversions) {
  EXPECT_EQ(f16_to_float(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_float(0xC100), -2.5f);
  EXPECT_EQ(f16_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_float(0x0400), std::ldexp(1.0f, -14));          // smallest normal
  EXPECT_EQ(f16_to_float(0x0001), std::ldexp(1.0f, -24));          // smallest subnormal
  EXPECT_EQ(f16_to_float(0x03FF), 1023.0f * std::ldexp(1.0f, -24));  // largest subnormal
  EXPECT_EQ(f16_to_float(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::signbit(f16_to_float(0x8000)) && f16_to_float(0x8000) == 0.0f);
  EXPECT_EQ(f16_to_float(0xFC00), -INFINITY);
  EXPECT_TRUE(std::isnan(f16_to_float(0x7E00)));
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_float(0x4049), 3.140625f);
  EXPECT_EQ(bf16_to_float(0xFF80), -INFINITY);
}

// A safetensors file assembled here by hand: header text, padding, data.
struct Raw {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string data;  // little-endian element bytes
};

std::string assemble(const std::vector<Raw>& ts, const std::string& metadata = R"({"format":"pt"})") {
  std::string header = "{";
  if (!metadata.empty()) header += "\"__metadata__\":" + metadata;
  size_t off = 0;
  std::string data;
  for (const Raw& t : ts) {
    std::string shape;
    for (int64_t d : t.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += (header.size() > 1 ? "," : "") + ("\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[" +
                                                shape + "],\"data_offsets\":[" + std::to_string(off) + "," +
                                                std::to_string(off + t.data.size()) + "]}");
    off += t.data.size();
    data += t.data;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::string out;
  put_u64(out, header.size());
  return out + header + data;
}

std::string encode(const std::vector<float>& v, const std::string& dtype) {
  std::string s;
  for (float f : v) {
    if (dtype == "F32") {
      put_i32(s, int32_t(bits_of(f)));
    } else {
      const uint16_t h = dtype == "BF16" ? uint16_t(bits_of(f) >> 16) : to_f16_exact(f);
      s += char(h & 0xFF);
      s += char(h >> 8);
    }
  }
  return s;
}

TEST(Safetensors, ReadsEntriesAndRejectsDamage) {
  const std::string dir = scratch_dir();
  const std::string path = join_path(dir, "t.safetensors");
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {0.5f, -0.25f};
  const std::string good = assemble({{"a", "F32", {2, 3}, encode(a, "F32")}, {"b", "F16", {2}, encode(b, "F16")},
                                     {"empty", "F32", {0, 4}, ""}});
  write_file_atomic(path, good);
  const Safetensors st = Safetensors::read(path);
  ASSERT_EQ(st.tensors().size(), 3u);
  EXPECT_EQ(st.metadata().at(0).first, "format");
  EXPECT_EQ(st.find("a")->shape, (std::vector<int64_t>{2, 3}));
  std::vector<float> out(6);
  st.to_float(*st.find("a"), out.data());
  EXPECT_EQ(out, a);
  st.to_float(*st.find("b"), out.data());
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_EQ(out[1], -0.25f);
  EXPECT_EQ(st.data_start() % 8, 0u);

  auto expect_bad = [&](const std::string& bytes, const std::vector<std::string>& words) {
    write_file_atomic(path, bytes);
    std::vector<std::string> w = words;
    w.push_back(path);
    expect_error([&] { Safetensors::read(path); }, w);
  };
  expect_bad(good.substr(0, 5), {"truncated", "8-byte header length"});
  std::string big = good;
  big[0] = char(0xFF);
  big[1] = char(0xFF);
  expect_bad(big, {"header length", "only"});
  expect_bad(good.substr(0, good.size() - 1), {"\"b\"", "run past the data section"});
  expect_bad(good + "junk", {"4 bytes after the last tensor"});
  auto raw_header = [&](const std::string& json, size_t data_bytes) {
    std::string h = json;
    while (h.size() % 8) h += ' ';
    std::string s;
    put_u64(s, h.size());
    return s + h + std::string(data_bytes, '\0');
  };
  expect_bad(raw_header("[1, 2]", 0), {"'{'"});
  expect_bad(raw_header("{\"a\": {\"dtype\": \"F32\",\n \"shape\": [1], \"data_offsets\": [0, 4]", 4),
             {"line 2"});
  expect_bad(raw_header(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", 4),
             {"\"a\"", "unknown dtype \"Q7\""});
  expect_bad(raw_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
             {"\"a\"", "shape [3] of F32 needs 12 bytes", "hold 8"});
  expect_bad(
      raw_header(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          12),
      {"\"a\"", "\"b\"", "overlap"});
  expect_bad(raw_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
             {"[4, 8)", "hole", "\"b\""});
  expect_bad(raw_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4), {"not a range"});
  expect_bad(raw_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), {"negative dimension"});
  expect_bad(raw_header(R"({"a":{"dtype":"F32","shape":[1]}})", 4), {"data_offsets"});
  expect_bad(raw_header(R"({"__metadata__":{"k":1}})", 0), {"__metadata__", "strings"});
  // A dtype the format knows but model weights never use.
  write_file_atomic(path, raw_header(R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8));
  const Safetensors ints = Safetensors::read(path);
  expect_error([&] { ints.to_float(*ints.find("i"), out.data()); }, {"\"i\"", "I64", "F32, BF16 or F16"});
}

// ------------------------------------------------------------------ GPT-2 layout

// transformers' GPT2LMHeadModel names, from modeling_gpt2.py, spelled out here:
// (name, our tensor, transposed: Conv1D keeps (in, out)).
struct HfTensor {
  std::string name;
  int id, layer;
  bool transposed;
};
std::vector<HfTensor> hf_tensors(int L) {
  std::vector<HfTensor> t = {{"wte.weight", WTE, 0, false}, {"wpe.weight", WPE, 0, false}};
  for (int l = 0; l < L; l++) {
    const std::string p = "h." + std::to_string(l) + ".";
    t.push_back({p + "ln_1.weight", LN1W, l, false});
    t.push_back({p + "ln_1.bias", LN1B, l, false});
    t.push_back({p + "attn.c_attn.weight", QKVW, l, true});
    t.push_back({p + "attn.c_attn.bias", QKVB, l, false});
    t.push_back({p + "attn.c_proj.weight", ATTPROJW, l, true});
    t.push_back({p + "attn.c_proj.bias", ATTPROJB, l, false});
    t.push_back({p + "ln_2.weight", LN2W, l, false});
    t.push_back({p + "ln_2.bias", LN2B, l, false});
    t.push_back({p + "mlp.c_fc.weight", FCW, l, true});
    t.push_back({p + "mlp.c_fc.bias", FCB, l, false});
    t.push_back({p + "mlp.c_proj.weight", FCPROJW, l, true});
    t.push_back({p + "mlp.c_proj.bias", FCPROJB, l, false});
  }
  t.push_back({"ln_f.weight", LNFW, 0, false});
  t.push_back({"ln_f.bias", LNFB, 0, false});
  return t;
}

// HF shape of each tensor for config c (wte unpadded).
std::vector<int64_t> hf_shape_of(const HfTensor& t, const GPTConfig& c) {
  const int64_t C = c.channels;
  switch (t.id) {
    case WTE: return {c.vocab_size, C};
    case WPE: return {c.max_seq_len, C};
    case QKVW: return {C, 3 * C};
    case QKVB: return {3 * C};
    case ATTPROJW: return {C, C};
    case FCW: return {C, 4 * C};
    case FCB: return {4 * C};
    case FCPROJW: return {4 * C, C};
    default: return {C};
  }
}

TEST(HfGpt2, ExportImportRoundTripsWeightsLogitsAndBytes) {
  const std::string dir = scratch_dir();
  const GPTConfig c = small_config();
  GPT<float> m(c);
  m.init_weights(21);
  // Padded vocabulary rows made non-zero: HF's wte is (V, C), so they are dropped.
  const size_t C = size_t(c.channels), V = size_t(c.vocab_size), Vp = size_t(c.padded_vocab_size);
  std::vector<float> wte = m.read_tensor(WTE);
  for (size_t i = V * C; i < Vp * C; i++) wte[i] = 1.0f;
  m.write_tensor(WTE, wte);
  const std::vector<float> mp = m.read(Store::params);
  const size_t bytes = export_hf_gpt2(dir, c, mp.data());
  const std::string file = read_file(join_path(dir, "model.safetensors"));
  EXPECT_EQ(bytes, file.size());

  const Checkpoint ck = load_model(dir);  // the directory: config.json gives the shape
  EXPECT_EQ(ck.model.num_heads, c.num_heads);
  EXPECT_EQ(ck.model.max_seq_len, c.max_seq_len);
  EXPECT_EQ(ck.model.padded_vocab_size, int(Vp));
  ASSERT_EQ(ck.params.size(), m.num_params());
  for (size_t i = 0; i < ck.params.size(); i++) {
    const bool padded = i >= V * C && i < Vp * C;
    ASSERT_EQ(bits_of(ck.params[i]), padded ? 0u : bits_of(mp[i])) << "parameter " << i;
  }
  GPT<float> m2(ck.model);
  load_weights(m2, ck, false);
  const auto toks = some_tokens(12, 20);
  const auto l1 = logits_of(m, toks), l2 = logits_of(m2, toks);
  for (size_t t = 0; t < toks.size(); t++)  // the first V columns: the ones the model uses
    ASSERT_EQ(0, std::memcmp(&l1[t * Vp], &l2[t * Vp], V * 4)) << "position " << t;

  // Export again (now from the imported model): the same bytes; and the file alone
  // (config.json beside it) reads the same.
  const std::string dir2 = join_path(dir, "again");
  export_hf_gpt2(dir2, ck.model, ck.params.data());
  EXPECT_EQ(read_file(join_path(dir2, "model.safetensors")), file);
  EXPECT_EQ(read_file(join_path(dir2, "config.json")), read_file(join_path(dir, "config.json")));
  EXPECT_EQ(load_model(join_path(dir, "model.safetensors")).params, ck.params);
}

TEST(HfGpt2, HeaderIsValidJsonWithContiguousOffsetsAndTransposedWeights) {
  const GPTConfig c = small_config();
  GPT<float> m(c);
  m.init_weights(22);
  const std::string file = hf_gpt2_safetensors(c, m.read(Store::params).data());
  uint64_t n = 0;
  for (int k = 7; k >= 0; k--) n = n << 8 | uint8_t(file[size_t(k)]);
  EXPECT_EQ(n % 8, 0u);  // so the data section starts 8-byte aligned
  const std::string text = file.substr(8, n);
  EXPECT_EQ(text.find_last_not_of(' ') + 1, text.find_last_of('}') + 1);  // padding is spaces only
  const Json h = Json::parse(text, "header");
  const auto& obj = h.as_object("header");
  ASSERT_EQ(obj.front().first, "__metadata__");
  EXPECT_EQ(obj.front().second.find("format")->as_string("format"), "pt");
  const size_t data0 = 8 + n;
  size_t expect_begin = 0;
  const auto names = hf_tensors(c.num_layers);
  ASSERT_EQ(obj.size(), names.size() + 1);  // no lm_head (tied), nothing else
  for (size_t k = 0; k < names.size(); k++) {
    const auto& [name, v] = obj[k + 1];
    EXPECT_EQ(name, "transformer." + names[k].name);  // save_pretrained's names, in state_dict order
    EXPECT_EQ(v.find("dtype")->as_string("dtype"), "F32");
    std::vector<int64_t> shape;
    for (const Json& d : v.find("shape")->as_array("shape")) shape.push_back(d.as_int("d"));
    EXPECT_EQ(shape, hf_shape_of(names[k], c)) << name;
    const auto& off = v.find("data_offsets")->as_array("off");
    const size_t b = size_t(off[0].as_int("b")), e = size_t(off[1].as_int("e"));
    EXPECT_EQ(b, expect_begin) << name << ": offsets must be contiguous";
    size_t numel = 1;
    for (int64_t d : shape) numel *= size_t(d);
    EXPECT_EQ(e - b, 4 * numel) << name;
    // Element [i][j] of the stored tensor, read straight from the bytes.
    auto at = [&](size_t flat) {
      float f;
      std::memcpy(&f, file.data() + data0 + b + 4 * flat, 4);
      return f;
    };
    const std::vector<float> ours_v = param_slice(m, names[k].id, names[k].layer);
    const float* ours = ours_v.data();
    if (names[k].transposed) {  // HF (in, out) = ours (out, in) transposed
      const size_t in = size_t(shape[0]), out = size_t(shape[1]);
      for (size_t i : {size_t(0), in / 2, in - 1})
        for (size_t j : {size_t(0), out / 3, out - 1}) EXPECT_EQ(at(i * out + j), ours[j * in + i]) << name;
    } else {
      for (size_t i = 0; i < numel; i++) ASSERT_EQ(at(i), ours[i]) << name << " element " << i;
    }
    expect_begin = e;
  }
  EXPECT_EQ(data0 + expect_begin, file.size());
  // config.json: what GPT2LMHeadModel.from_pretrained reads.
  const Json cfg = hf_gpt2_config(c);
  EXPECT_EQ(cfg.find("model_type")->as_string("t"), "gpt2");
  EXPECT_EQ(cfg.find("architectures")->as_array("a").at(0).as_string("a"), "GPT2LMHeadModel");
  EXPECT_EQ(cfg.find("n_embd")->as_int("n"), 16);
  EXPECT_EQ(cfg.find("n_head")->as_int("n"), 2);
  EXPECT_EQ(cfg.find("n_layer")->as_int("n"), 2);
  EXPECT_EQ(cfg.find("n_positions")->as_int("n"), 12);
  EXPECT_EQ(cfg.find("vocab_size")->as_int("n"), 20);
  EXPECT_EQ(cfg.find("activation_function")->as_string("a"), "gelu_new");
  EXPECT_EQ(cfg.find("layer_norm_epsilon")->as_number("e"), 1e-5);
  EXPECT_TRUE(cfg.find("tie_word_embeddings")->as_bool("t"));
  EXPECT_TRUE(cfg.find("n_inner")->is_null());
  // No tokenizer and not GPT-2's vocabulary: no bos/eos (null), never an ordinary token's id.
  EXPECT_TRUE(cfg.find("eos_token_id")->is_null());
  EXPECT_TRUE(cfg.find("bos_token_id")->is_null());
  EXPECT_EQ(hf_gpt2_config(c, SpecialTokens{1, 2}).find("eos_token_id")->as_int("e"), 2);
  GPTConfig g2 = c;
  g2.vocab_size = 50257;
  g2.padded_vocab_size = 50304;
  g2.dropout = 0.1f;
  const Json cfg2 = hf_gpt2_config(g2);
  EXPECT_EQ(cfg2.find("eos_token_id")->as_int("e"), 50256);
  EXPECT_NE(cfg2.dump().find("\"resid_pdrop\":0.1,"), std::string::npos) << cfg2.dump();
}

// The hub's original gpt2 layout: no "transformer." prefix, mask buffers, and here
// mixed F32 / BF16 / F16 tensors with values exact in all three.
std::vector<Raw> hub_tensors(const GPTConfig& c, std::map<std::string, std::vector<float>>* values) {
  std::vector<Raw> out;
  SplitMix64 r(5);
  const char* dtypes[] = {"F32", "BF16", "F16"};
  int k = 0;
  for (const HfTensor& t : hf_tensors(c.num_layers)) {
    const auto shape = hf_shape_of(t, c);
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    std::vector<float> v(n);
    for (auto& x : v) x = float(int(r.below(511)) - 255) / 16.0f;  // 8 significant bits: exact everywhere
    (*values)[t.name] = v;
    out.push_back({t.name, dtypes[k++ % 3], shape, encode(v, dtypes[(k - 1) % 3])});
    if (t.id == ATTPROJB) {  // after each block's attention: the causal-mask buffers
      const int64_t T = c.max_seq_len;
      const std::string p = "h." + std::to_string(t.layer) + ".attn.";
      out.push_back({p + "bias", "F32", {1, 1, T, T}, std::string(size_t(T * T * 4), '\0')});
      out.push_back({p + "masked_bias", "F32", {}, encode({-1e4f}, "F32")});
    }
  }
  return out;
}

TEST(HfGpt2, ReadsTheHubLayoutWithoutPrefixInAnyFloatDtype) {
  const std::string dir = scratch_dir();
  const GPTConfig c = small_config();
  std::map<std::string, std::vector<float>> values;
  const auto tensors = hub_tensors(c, &values);
  const std::string path = join_path(dir, "gpt2.safetensors");
  write_file_atomic(path, assemble(tensors));
  // No config.json: the head count must come from --heads.
  expect_error([&] { load_model(path); }, {path, "--heads", "config.json"}, kExitUsage);
  const Checkpoint ck = load_model(path, 2);
  EXPECT_EQ(ck.model.num_layers, 2);
  EXPECT_EQ(ck.model.channels, 16);
  EXPECT_EQ(ck.model.max_seq_len, 12);
  EXPECT_EQ(ck.model.vocab_size, 20);
  EXPECT_EQ(ck.model.padded_vocab_size, 128);
  GPT<float> m(ck.model);
  load_weights(m, ck, false);
  for (const HfTensor& t : hf_tensors(2)) {
    const auto& v = values[t.name];
    const std::vector<float> ours_v = param_slice(m, t.id, t.layer);
    const float* ours = ours_v.data();
    const auto shape = hf_shape_of(t, c);
    for (size_t i = 0; i < v.size(); i++) {
      // HF element i: row i / cols, column i % cols; transposed ones are ours[col][row].
      const size_t cols = shape.size() == 2 ? size_t(shape[1]) : v.size();
      const size_t row = i / cols, col = i % cols;
      const float got = t.transposed ? ours[col * size_t(shape[0]) + row] : ours[i];
      ASSERT_EQ(got, v[i]) << t.name << " element " << i;
    }
  }
  const std::vector<float> wte = m.read_tensor(WTE);
  for (size_t i = 20 * 16; i < 128 * 16; i++) ASSERT_EQ(wte[i], 0.0f) << "padded row element " << i;

  // With a config.json beside it, --heads is not needed (and a different one is refused).
  write_file_atomic(join_path(dir, "config.json"), hf_gpt2_config(c).dump(2));
  EXPECT_EQ(load_model(path).params, ck.params);
  expect_error([&] { load_model(path, 4); }, {"--heads 4", "n_head 2"}, kExitUsage);
}

TEST(HfGpt2, RefusesMissingMisshapedUnknownAndForeignModels) {
  const std::string dir = scratch_dir();
  const GPTConfig c = small_config();
  std::map<std::string, std::vector<float>> values;
  const auto good = hub_tensors(c, &values);
  const std::string path = join_path(dir, "model.safetensors");
  auto expect_bad = [&](std::vector<Raw> ts, const std::vector<std::string>& words, int code = kExitFailure) {
    write_file_atomic(path, assemble(ts));
    expect_error([&] { load_model(path, 2); }, words, code);
  };
  auto without = [&](const std::string& name) {
    auto ts = good;
    for (size_t i = 0; i < ts.size(); i++)
      if (ts[i].name == name) ts.erase(ts.begin() + std::ptrdiff_t(i));
    return ts;
  };
  expect_bad(without("h.1.mlp.c_fc.bias"), {path, "missing tensor \"h.1.mlp.c_fc.bias\"", "[64]"});
  auto ts = good;
  for (auto& t : ts)
    if (t.name == "h.0.attn.c_attn.weight") t.shape = {48, 16};  // ours, not transposed
  expect_bad(ts, {path, "\"h.0.attn.c_attn.weight\" has shape [48, 16], expected [16, 48]"});
  ts = good;
  ts.push_back({"h.0.attn.rotary.inv_freq", "F32", {2}, encode({1, 2}, "F32")});
  expect_bad(ts, {path, "1 tensor that is not part of a GPT-2", "\"h.0.attn.rotary.inv_freq\""});
  ts = good;
  ts.push_back({"h.2.ln_1.weight", "F32", {16}, encode(std::vector<float>(16, 1.0f), "F32")});
  expect_bad(ts, {"missing tensor \"h.2.ln_1.bias\""});  // h.2 implies 3 layers: the rest of block 2 is missing
  // lm_head: the same as wte is fine, anything else is an untied head.
  ts = good;
  ts.push_back({"lm_head.weight", "F32", {20, 16}, encode(values["wte.weight"], "F32")});
  write_file_atomic(path, assemble(ts));
  EXPECT_NO_THROW(load_model(path, 2));
  ts.back().data[0] ^= 1;
  expect_bad(ts, {"lm_head.weight differs from wte.weight", "untied"});
  // Both spellings of one tensor.
  ts = good;
  ts.push_back({"transformer.ln_f.bias", "F32", {16}, encode(std::vector<float>(16, 0.0f), "F32")});
  expect_bad(ts, {"\"ln_f.bias\" appears twice"});
  // config.json describing a model gpt.cc would compute differently.
  write_file_atomic(path, assemble(good));
  Json cfg = hf_gpt2_config(c);
  auto expect_cfg = [&](const std::string& key, Json v, const std::string& word) {
    Json j = cfg;
    j.set(key, std::move(v));
    write_file_atomic(join_path(dir, "config.json"), j.dump(2));
    expect_error([&] { load_model(dir); }, {"config.json", word});
  };
  expect_cfg("activation_function", Json::string("gelu"), "\"activation_function\" is \"gelu\"");
  expect_cfg("layer_norm_epsilon", Json::number(1e-6), "\"layer_norm_epsilon\" is 1e-06");
  expect_cfg("model_type", Json::string("gpt_neox"), "model_type \"gpt_neox\"");
  expect_cfg("n_inner", Json::integer(100), "\"n_inner\" is 100");
  expect_cfg("tie_word_embeddings", Json::boolean(false), "\"tie_word_embeddings\" is false");
  expect_cfg("n_embd", Json::integer(32), "\"wte.weight\" has shape [20, 16], expected [20, 32]");
  write_file_atomic(join_path(dir, "config.json"), "{\"n_embd\": 16}");
  expect_error([&] { load_model(dir); }, {"config.json", "missing \"n_layer\""});
}

// A damaged config.json with absurd sizes: named against the tensors the file holds,
// before the model's memory is allocated (it was "out of memory", or a bare C++
// length_error, with no file named).
TEST(HfGpt2, ConfigSizesBeyondTheTensorsAreRefusedBeforeAllocating) {
  const std::string dir = scratch_dir();
  const GPTConfig c = small_config();  // 2 layers, dim 16
  std::map<std::string, std::vector<float>> values;
  write_file_atomic(join_path(dir, "model.safetensors"), assemble(hub_tensors(c, &values)));
  const Json cfg = hf_gpt2_config(c);
  auto expect_cfg = [&](const std::string& key, int64_t v, const std::vector<std::string>& words) {
    Json j = cfg;
    j.set(key, Json::integer(v));
    write_file_atomic(join_path(dir, "config.json"), j.dump(2));
    std::vector<std::string> w = words;
    w.push_back(join_path(dir, "model.safetensors"));
    expect_error([&] { load_model(dir); }, w);
  };
  expect_cfg("n_layer", 100000000, {"config.json says 100000000 layers", "blocks h.0 to h.1 only"});
  // 2 layers of dim 2^22: about 4.2e14 parameters (1.7 PB), fewer than kMaxParams.
  expect_cfg("n_embd", int64_t(1) << 22, {"\"wte.weight\" has shape [20, 16], expected [20, 4194304]",
                                          "config.json"});
  // 2^28: more than 2^50 parameters, refused as a shape whatever the file holds.
  expect_cfg("n_embd", int64_t(1) << 28, {"config.json", "2^50"});
}

// ------------------------------------------------------------------ any format

TEST(LoadModel, TellsFormatsApartByContent) {
  const std::string dir = scratch_dir();
  const GPTConfig c = small_config();
  GPT<float> m(c);
  m.init_weights(3);
  // Names that lie: the content decides.
  const std::string ours = join_path(dir, "a.safetensors"), llmc = join_path(dir, "b.ckpt"),
                    st = join_path(dir, "c.bin"), junk = join_path(dir, "d.bin");
  save_checkpoint(ours, m, TrainConfig{}, TrainState{}, "");
  const std::vector<float> mp = m.read(Store::params);
  write_file_atomic(llmc, llmc_bytes(c, mp.data()));
  write_file_atomic(st, hf_gpt2_safetensors(c, mp.data()));
  write_file_atomic(junk, "hello, world");
  ModelFormat f;
  EXPECT_EQ(load_model(ours, std::nullopt, &f).params, mp);
  EXPECT_EQ(f, ModelFormat::gptcc);
  EXPECT_EQ(load_model(llmc, std::nullopt, &f).params, load_model(ours).params);
  EXPECT_EQ(f, ModelFormat::llmc);
  EXPECT_EQ(load_model(st, 2, &f).params, load_model(ours).params);
  EXPECT_EQ(f, ModelFormat::safetensors);
  expect_error([&] { load_model(junk); }, {junk, "not a model file", "llm.c", "safetensors", "68 65 6c"});
  expect_error([&] { load_model(dir); }, {dir, "checkpoint.bin", "model.safetensors"});
  expect_error([&] { load_model(join_path(dir, "nope")); }, {"nope", "no such file"});
  // An llm.c file cannot be resumed (no optimizer state): the message says what to do.
  expect_error([&] { load_checkpoint(llmc); }, {llmc, "llm.c checkpoint", "--init"});
}

TEST(LoadModel, ShorterContextKeepsTheFirstPositionRows) {
  GPTConfig c = small_config();
  GPT<float> big(c);
  big.init_weights(8);
  Checkpoint ck;
  ck.model = c;
  ck.params = big.read(Store::params);
  GPTConfig s = c;
  s.max_seq_len = 5;
  GPT<float> small(s);
  load_weights(small, ck, false);
  EXPECT_EQ(small.num_params(), big.num_params() - 7 * 16);
  EXPECT_EQ(0, std::memcmp(small.read_tensor(WPE).data(), big.read_tensor(WPE).data(), 5 * 16 * 4));
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    if (id == WPE) continue;
    EXPECT_EQ(small.read_tensor(id), big.read_tensor(id)) << id;
  }
  // The same logits on a short sequence.
  const auto toks = some_tokens(5, 20);
  const auto a = logits_of(big, toks), b = logits_of(small, toks);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace gpt::test
