// `gpt export --to safetensors` writes the tokenizer as Hugging Face's tokenizer.json +
// tokenizer_config.json. Checked with Hugging Face's own code: tokenizers.js (the npm
// package @huggingface/tokenizers 0.2.0, which `scripts/install_deps.sh --test` puts in
// build/node) must encode texts to gpt.cc's ids and decode gpt.cc's ids to gpt.cc's text,
// byte for byte. Those tests skip without node or the package. (Python's transformers is
// not run here.) Also: which tokenizers are not converted, and the summary line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "fileio.h"
#include "formats/hf_tokenizer.h"
#include "formats/json.h"
#include "rng.h"
#include "test_util.h"
#include "text/dataloader.h"
#include "text/tokenizer.h"

namespace gpt::test {
namespace {

constexpr const char* kTokenizersJsVersion = "0.2.0";

// The install prefix of tokenizers.js ("" when it or node is missing; *why says which).
std::string tokenizers_js(std::string* why) {
  const std::string pkg = repo_file("build/node/node_modules/@huggingface/tokenizers/package.json");
  if (pkg.empty()) {
    *why = "tokenizers.js is not installed in build/node (scripts/install_deps.sh --test installs it with npm)";
    return "";
  }
  if (std::system("node --version >/dev/null 2>&1") != 0) {
    *why = "node is not on PATH (tokenizers.js needs it)";
    return "";
  }
  return pkg.substr(0, pkg.find("/node_modules/"));
}

#define SKIP_WITHOUT_TOKENIZERS_JS(prefix)          \
  std::string why_;                                 \
  const std::string prefix = tokenizers_js(&why_); \
  if (prefix.empty()) GTEST_SKIP() << why_

// What tokenizers.js makes of DIR's tokenizer.json: the ids of each text (nullopt where it
// gives no id) and the text of each id list.
struct JsAnswer {
  std::string version;
  std::vector<std::vector<std::optional<int>>> ids;
  std::vector<std::string> text;
};

JsAnswer ask_tokenizers_js(const std::string& prefix, const std::string& dir, const std::vector<std::string>& texts,
                           const std::vector<std::vector<int>>& id_lists) {
  Json req = Json::object(), enc = Json::array(), dec = Json::array();
  for (const auto& t : texts) enc.push(Json::string(t));
  for (const auto& ids : id_lists) {
    Json a = Json::array();
    for (int id : ids) a.push(Json::integer(id));
    dec.push(a);
  }
  req.set("encode", enc);
  req.set("decode", dec);
  const std::string request = dir + "/request.json", out = dir + "/answer.json", err = dir + "/node.err";
  write_file_atomic(request, req.dump());
  const std::string cmd = "node '" + repo_file("scripts/hf_tokenizer_check.mjs") + "' '" + prefix + "' '" + dir +
                          "' '" + request + "' >'" + out + "' 2>'" + err + "'";
  JsAnswer a;
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << "tokenizers.js failed on " << dir << ": " << read_file(err);
    return a;
  }
  const Json j = Json::parse(read_file(out), out);
  a.version = j.find("version")->as_string("version");
  for (const Json& ids : j.find("encode")->as_array("encode")) {
    a.ids.emplace_back();
    for (const Json& id : ids.as_array("ids"))
      a.ids.back().push_back(id.is_null() ? std::nullopt : std::optional<int>(int(id.as_int("id"))));
  }
  for (const Json& t : j.find("decode")->as_array("decode")) a.text.push_back(t.as_string("text"));
  return a;
}

std::vector<std::optional<int>> as_optional(const std::vector<int>& ids) {
  return std::vector<std::optional<int>>(ids.begin(), ids.end());
}

std::string show(const std::vector<std::optional<int>>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : " ") + (id ? std::to_string(*id) : std::string("null"));
  return s;
}

// Text with words, indentation, runs of spaces, tabs and blank lines, so that the
// SentencePiece models learn whitespace-only pieces and the merges between words.
std::string corpus() {
  const char* words[] = {"the", "cat", "sat", "on", "a", "mat.", "dog", "ran", "quickly", "over", "hill", "and",
                         "then", "there", "was", "one", "more", "thing", "to", "say:", "return", "x", "+", "1",
                         "<b>", "0x41"};
  const char* gaps[] = {" ", " ", " ", " ", "  ", "\t", "    ", "\n", "\n    ", "\n        ", "\n\n", "   "};
  SplitMix64 r(11);
  std::string text;
  while (text.size() < 30000) {
    text += words[r.below(26)];
    text += gaps[r.below(12)];
  }
  return text + "\n";
}

// About 80 pieces beyond bytes, specials and characters (as many as the text gives unigram).
int vocab_size(const std::string& tokenizer) { return tokenizer == "char" ? 0 : tokenizer == "bpe" ? 420 : 340; }

// Texts for the comparison: whitespace of every kind, characters the training text
// lacks (byte fallback), a typed "▁", a piece of markup that looks like a byte token,
// and a long stretch of the training text (many merges).
std::vector<std::string> texts_for(const std::string& training) {
  return {
      "the cat sat on the mat.",
      " leading space",
      "   three leading spaces",
      "trailing spaces   ",
      "several     spaces    inside",
      " ",
      "\n",
      "\n\n\nblank lines\n\n\n\nbetween\n\n",
      "\ttabs\tand\t\ttabs \t \n",
      "        return x + 1\n    return x\n",
      "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 and CJK \xE4\xB8\xAD\xE6\x96\x87 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
      "caf\xC3\xA9 na\xC3\xAFve, unseen: QZ!?",
      "SentencePiece's space \xE2\x96\x81 typed \xE2\x96\x81\xE2\x96\x81x \xE2\x96\x81",
      "<0x41> looks like a byte token",
      training.substr(0, 3000),
  };
}

// Prepares `text` with `tokenizer` (char, bpe, unigram), trains one step, exports to
// DIR/hf; returns the export's directory.
std::string export_run(const std::string& dir, const std::string& text, const std::string& tokenizer) {
  write_file_atomic(dir + "/in.txt", text);
  prepare_data(dir + "/in.txt", dir + "/data", tokenizer, 0.1, vocab_size(tokenizer));
  std::string out, err;
  EXPECT_EQ(run_gpt({"train", "--data", dir + "/data", "--out", dir + "/run", "--steps", "1", "--eval-every", "0",
                     "--layers", "1", "--heads", "2", "--dim", "16", "--context", "8", "--batch", "2",
                     "--threads", "2"},
                    &out, &err),
            0)
      << err;
  EXPECT_EQ(run_gpt({"export", "--ckpt", dir + "/run", "--to", "safetensors", "--out", dir + "/hf"}, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("Hugging Face tokenizer: " + dir + "/hf/tokenizer.json + tokenizer_config.json"),
            std::string::npos)
      << out;
  return dir + "/hf";
}

// gpt.cc's ids with each run of byte tokens as one unknown token: what tokenizers.js
// 0.2.0 gives for a unigram model (its Unigram has no byte fallback; Rust's has).
std::vector<std::optional<int>> bytes_as_unk(const Tokenizer& tok, const std::vector<int>& ids, int unk) {
  std::vector<std::optional<int>> out;
  bool in_bytes = false;
  for (int id : ids) {
    const std::string p = tok.piece(id);
    const bool byte = p.size() == 6 && p.compare(0, 3, "<0x") == 0;
    if (!byte) out.push_back(id);
    else if (!in_bytes) out.push_back(unk);
    in_bytes = byte;
  }
  return out;
}

// Encodes and decodes `texts` with gpt.cc's tokenizer and with tokenizers.js on DIR's
// tokenizer.json: the same ids, the same text.
// (A model with a dummy prefix reads a typed "▁" as a space, as SentencePiece does: those
// texts do not come back as they were, in gpt.cc or in tokenizers.js.)
void expect_same(const std::string& prefix, const std::string& dir, const Tokenizer& tok,
                 const std::vector<std::string>& texts, bool js_unigram = false, bool round_trips = true) {
  std::vector<std::vector<int>> ids;
  for (const auto& t : texts) ids.push_back(tok.encode(t));
  const JsAnswer js = ask_tokenizers_js(prefix, dir, texts, ids);
  EXPECT_EQ(js.version, kTokenizersJsVersion);
  ASSERT_EQ(js.ids.size(), texts.size());
  ASSERT_EQ(js.text.size(), texts.size());
  size_t reordered = 0;
  for (size_t k = 0; k < texts.size(); k++) {
    auto want = js_unigram ? bytes_as_unk(tok, ids[k], 0) : as_optional(ids[k]);
    auto got = js.ids[k];
    if (js_unigram && got != want) {
      // Unigram: where two segmentations score exactly the same ("▁▁▁▁" + "▁" or "▁" +
      // "▁▁▁▁" for five spaces), SentencePiece's float sums and tokenizers' double sums
      // can round the tie either way: the same pieces in another order, the same text.
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
      reordered++;
    }
    EXPECT_EQ(show(got), show(want)) << "encode of text " << k << ": \"" << texts[k].substr(0, 80) << "\"";
    EXPECT_EQ(js.text[k], tok.decode(ids[k])) << "decode of text " << k;
    if (round_trips) {
      EXPECT_EQ(js.text[k], texts[k]) << "decode of text " << k;
    }
  }
  if (reordered) std::printf("  (%zu of %zu texts: tied unigram pieces in another order)\n", reordered, texts.size());
}

TEST(HfTokenizer, CharExportReadsTheSameInTokenizersJs) {
  SKIP_WITHOUT_TOKENIZERS_JS(prefix);
  const std::string dir = scratch_dir();
  // The vocabulary: every character of the texts (emoji, CJK, "▁", "\r" included).
  std::string text = corpus();
  for (const auto& t : texts_for(corpus())) text += t + "\r\n";
  const std::string hf = export_run(dir, text, "char");
  const auto tok = load_tokenizer_file(hf + "/" + kTokenizerFile);
  expect_same(prefix, hf, *tok, texts_for(text));
  // A character not in the vocabulary: gpt.cc refuses the text; tokenizers.js gives no id
  // for it (Rust's tokenizers fails: its unk token is not in the vocabulary either).
  EXPECT_THROW(tok->encode("the #one"), Error);
  const JsAnswer js = ask_tokenizers_js(prefix, hf, {"the #one"}, {});
  ASSERT_EQ(js.ids.size(), 1u);
  auto want = as_optional(tok->encode("the one"));
  want.insert(want.begin() + 4, std::nullopt);
  EXPECT_EQ(show(js.ids[0]), show(want));
  const Json cfg = Json::parse(read_file(hf + "/tokenizer_config.json"), "tokenizer_config.json");
  EXPECT_EQ(cfg.find("tokenizer_class")->as_string("class"), "PreTrainedTokenizerFast");
  EXPECT_EQ(cfg.find("model_max_length")->as_int("len"), 8);
  EXPECT_EQ(cfg.find("model_input_names")->dump(), "[\"input_ids\",\"attention_mask\"]");  // no token_type_ids
  EXPECT_EQ(cfg.find("bos_token"), nullptr);  // a char vocabulary has none
  EXPECT_EQ(cfg.find("unk_token"), nullptr);
}

class HfSentencePiece : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  }
};

TEST_P(HfSentencePiece, ExportReadsTheSameInTokenizersJs) {
  SKIP_WITHOUT_TOKENIZERS_JS(prefix);
  const std::string dir = scratch_dir(), text = corpus();
  const std::string hf = export_run(dir, text, GetParam());
  const auto tok = load_tokenizer_file(hf + "/" + kSentencePieceFile);
  // The trained model has whitespace-only pieces and merges (else the test proves little).
  const std::string four_spaces = "\xE2\x96\x81\xE2\x96\x81\xE2\x96\x81\xE2\x96\x81";
  bool spaces_piece = false;
  for (int id = 0; id < tok->vocab_size(); id++) spaces_piece = spaces_piece || tok->piece(id) == four_spaces;
  EXPECT_TRUE(spaces_piece);
  expect_same(prefix, hf, *tok, texts_for(text), GetParam() == "unigram");
  const Json cfg = Json::parse(read_file(hf + "/tokenizer_config.json"), "tokenizer_config.json");
  EXPECT_EQ(cfg.find("bos_token")->as_string("bos"), "<s>");
  EXPECT_EQ(cfg.find("eos_token")->as_string("eos"), "</s>");
  EXPECT_EQ(cfg.find("unk_token")->as_string("unk"), "<unk>");
  EXPECT_FALSE(cfg.find("clean_up_tokenization_spaces")->as_bool("cleanup"));
}

// A llama-style model (a space in front of the text), written by the writer directly:
// `gpt prepare` never trains one, but gpt.cc reads such .model files.
TEST_P(HfSentencePiece, DummyPrefixModelReadsTheSameInTokenizersJs) {
  SKIP_WITHOUT_TOKENIZERS_JS(prefix);
  const std::string dir = scratch_dir(), text = corpus();
  SentencePieceOptions opt;
  opt.model_type = GetParam();
  opt.vocab_size = vocab_size(GetParam());
  opt.add_dummy_prefix = true;
  const auto tok = train_sentencepiece(text, opt);
  const HfTokenizerFiles f = hf_tokenizer_files(*tok, 64);
  ASSERT_TRUE(f.written()) << f.why_not;
  EXPECT_NE(f.describe.find("dummy prefix"), std::string::npos) << f.describe;
  write_file_atomic(dir + "/tokenizer.json", f.tokenizer_json);
  write_file_atomic(dir + "/tokenizer_config.json", f.config_json);
  expect_same(prefix, dir, *tok, texts_for(text), GetParam() == "unigram", false);
}

INSTANTIATE_TEST_SUITE_P(Types, HfSentencePiece, ::testing::Values("bpe", "unigram"));

// What tokenizer.json cannot express is not written, and the reason is given.
TEST(HfTokenizer, SettingsItCannotExpressAreNotConverted) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  SentencePieceOptions opt;
  opt.vocab_size = 300;
  opt.remove_extra_whitespaces = true;
  const auto collapsing = train_sentencepiece(corpus(), opt);
  const HfTokenizerFiles f = hf_tokenizer_files(*collapsing, 64);
  EXPECT_FALSE(f.written());
  EXPECT_TRUE(f.config_json.empty());
  EXPECT_NE(f.why_not.find("collapses runs of spaces"), std::string::npos) << f.why_not;
  // llm.c's GPT-2 tokenizer file: decode only.
  std::string llmc(256 * 4, '\0');
  const int32_t header[4] = {kLlmcTokenizerMagic, 2, 2, 1};
  std::memcpy(&llmc[0], header, sizeof header);
  llmc += std::string("\x01" "a" "\x01" "b", 4);
  const HfTokenizerFiles g = hf_tokenizer_files(*load_llmc_tokenizer(llmc, "test"), 64);
  EXPECT_FALSE(g.written());
  EXPECT_NE(g.why_not.find("only decodes"), std::string::npos) << g.why_not;
}

// A .model with one more normal piece (text, score) after the others, written from the
// protobuf wire format: ModelProto field 1 holds SentencePiece { piece = 1; score = 2 (a
// float); type = 3 }.
std::string with_piece(const std::string& model, const std::string& text, float score) {
  std::string msg = std::string(1, '\x0A') + char(text.size()) + text + '\x15';
  char bits[4];
  std::memcpy(bits, &score, 4);
  msg += std::string(bits, 4) + '\x18' + '\x01';
  return model + '\x0A' + char(msg.size()) + msg;
}

// SentencePiece loads a model with a score that is not a number or a piece that is not
// UTF-8, but JSON cannot hold either: export wrote bare nan / inf and raw bytes into
// tokenizer.json (no JSON reader takes it) and said it worked. Not converted now.
TEST_P(HfSentencePiece, PiecesJsonCannotHoldAreNotConverted) {
  SentencePieceOptions opt;
  opt.model_type = GetParam();
  opt.vocab_size = vocab_size(GetParam());
  const auto tok = train_sentencepiece(corpus(), opt);
  const HfTokenizerFiles good = hf_tokenizer_files(*tok, 64);
  ASSERT_TRUE(good.written()) << good.why_not;
  const int id = tok->vocab_size();  // the added piece's id
  struct Case {
    std::string text;
    float score;
    std::vector<std::string> needles;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<Case> cases = {
      {"zzq", std::numeric_limits<float>::quiet_NaN(), {std::to_string(id), "zzq", "nan", "finite"}},
      {"zzq", inf, {std::to_string(id), "zzq", "inf", "finite"}},
      {"zzq", -inf, {std::to_string(id), "zzq", "-inf", "finite"}},
      {"\xFF\xFEzz", -999.0f, {std::to_string(id), "not valid UTF-8", "\\xFF\\xFEzz"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.needles[2]);
    const auto edited = load_sentencepiece_model(with_piece(tok->native_file(), c.text, c.score), "edited.model");
    ASSERT_EQ(edited->vocab_size(), id + 1);
    const HfTokenizerFiles f = hf_tokenizer_files(*edited, 64);
    EXPECT_FALSE(f.written()) << f.tokenizer_json.substr(0, 200);
    EXPECT_TRUE(f.config_json.empty());
    for (const std::string& n : c.needles) EXPECT_NE(f.why_not.find(n), std::string::npos) << n << " in: " << f.why_not;
  }
  // An ordinary extra piece is still converted, and the file is valid UTF-8.
  const HfTokenizerFiles f =
      hf_tokenizer_files(*load_sentencepiece_model(with_piece(tok->native_file(), "zzq", -999.0f), "x"), 64);
  ASSERT_TRUE(f.written()) << f.why_not;
  EXPECT_EQ(valid_utf8(f.tokenizer_json), f.tokenizer_json);
  EXPECT_NO_THROW(Json::parse(f.tokenizer_json, "tokenizer.json"));
}

// BPE merges come from the pieces: every split into two pieces, in score order.
TEST(HfTokenizer, BpeMergesFollowThePiecesScores) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  SentencePieceOptions opt;
  opt.vocab_size = vocab_size("bpe");
  const auto tok = train_sentencepiece(corpus(), opt);
  const HfTokenizerFiles f = hf_tokenizer_files(*tok, 64);
  ASSERT_TRUE(f.written()) << f.why_not;
  const Json j = Json::parse(f.tokenizer_json, "tokenizer.json");
  const Json& model = *j.find("model");
  EXPECT_EQ(model.find("type")->as_string("type"), "BPE");
  EXPECT_TRUE(model.find("byte_fallback")->as_bool("byte_fallback"));
  const auto& merges = model.find("merges")->as_array("merges");
  ASSERT_GT(merges.size(), 50u);
  const auto& vocab = *model.find("vocab");
  int last = -1;  // the merged pieces' ids (SentencePiece BPE: score order is id order)
  for (const Json& m : merges) {
    const auto& pair = m.as_array("merge");
    ASSERT_EQ(pair.size(), 2u);
    const std::string merged = pair[0].as_string("left") + pair[1].as_string("right");
    const Json* id = vocab.find(merged);
    ASSERT_NE(id, nullptr) << merged;
    EXPECT_GE(int(id->as_int("id")), last) << merged;
    last = int(id->as_int("id"));
    // Spaces are spaces ("▁" only where the text has one, which no piece does).
    EXPECT_EQ(merged.find("\xE2\x96\x81"), std::string::npos) << merged;
  }
}

}  // namespace
}  // namespace gpt::test
