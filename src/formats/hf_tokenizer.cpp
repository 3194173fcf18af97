// tokenizer.json and tokenizer_config.json for gpt.cc's char and SentencePiece tokenizers
// (see hf_tokenizer.h). Tokens are written with SentencePiece's "▁" as the space it stands
// for ("▁the" is " the"), so no normalizer turns spaces into "▁" and a "▁" typed in the
// text stays a character the vocabulary lacks: byte tokens, as in gpt.cc's encode (a
// normalizer would make it a space). The one cost: `tokenizers` merge rules then hold
// spaces, which needs its list-of-pairs form (tokenizers 0.20, transformers 4.45).
#include "formats/hf_tokenizer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include "check.h"
#include "formats/json.h"

namespace gpt {

namespace {

using PieceType = SentencePieceModel::PieceType;
constexpr const char* kSpaceSymbol = "\xE2\x96\x81";  // U+2581 "▁"
constexpr const char* kCharUnk = "<unk>";             // not in a char vocabulary (one character each)

std::string with_spaces(const std::string& piece) {
  std::string out;
  for (size_t k = 0; k < piece.size();) {
    if (piece.compare(k, 3, kSpaceSymbol) == 0) out += ' ', k += 3;
    else out += piece[k++];
  }
  return out;
}

std::string quoted(const std::string& s) {
  std::string out;
  json_escape(out, s);
  return out;
}

// A piece for a why_not line: quoted as in JSON when it is UTF-8, else with every byte
// that is not printable ASCII as \xNN.
std::string shown(const std::string& piece) {
  if (is_utf8(piece)) return quoted(piece);
  std::string out = "\"";
  for (unsigned char c : piece) {
    char buf[8];
    std::snprintf(buf, sizeof buf, c >= 0x20 && c < 0x7F ? "%c" : "\\x%02X", c);
    out += buf;
  }
  return out + "\"";
}

// A float exactly (17 digits of the double it widens to): `tokenizers` adds scores in
// double, so the value SentencePiece stored is the value it sees.
std::string exact(float x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", double(x));
  return buf;
}

Json special_token(int id, const std::string& content) {
  Json t = Json::object();
  t.set("id", Json::integer(id));
  t.set("content", Json::string(content));
  t.set("single_word", Json::boolean(false));
  t.set("lstrip", Json::boolean(false));
  t.set("rstrip", Json::boolean(false));
  t.set("normalized", Json::boolean(false));
  t.set("special", Json::boolean(true));
  return t;
}

Json typed(const char* type) {
  Json j = Json::object();
  j.set("type", Json::string(type));
  return j;
}

// The whole file. The model's text is written by hand (`model_json`): Json::set looks
// keys up one by one, too slow for a vocabulary of 65536.
std::string tokenizer_json(const Json& added, const Json& normalizer, const Json& decoder,
                           const std::string& model_json) {
  return "{\n\"version\": \"1.0\",\n\"truncation\": null,\n\"padding\": null,\n\"added_tokens\": " + added.dump() +
         ",\n\"normalizer\": " + normalizer.dump() + ",\n\"pre_tokenizer\": null,\n\"post_processor\": null,\n"
         "\"decoder\": " + decoder.dump() + ",\n\"model\": " + model_json + "\n}\n";
}

std::string bpe_model(const std::vector<std::string>& vocab, const std::vector<std::pair<int, int>>& merges,
                      bool byte_fallback, const std::string& unk) {
  std::string s = "{\"type\": \"BPE\", \"dropout\": null, \"unk_token\": " + quoted(unk) +
                  ", \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, "
                  "\"byte_fallback\": " + (byte_fallback ? "true" : "false") +
                  ", \"ignore_merges\": false,\n\"vocab\": {";
  for (size_t id = 0; id < vocab.size(); id++) s += (id ? ",\n" : "\n") + quoted(vocab[id]) + ": " + std::to_string(id);
  s += "},\n\"merges\": [";
  for (size_t k = 0; k < merges.size(); k++)
    s += (k ? ",\n[" : "\n[") + quoted(vocab[size_t(merges[k].first)]) + ", " +
         quoted(vocab[size_t(merges[k].second)]) + "]";
  return s + "]}";
}

std::string config_json(int context, const std::vector<std::pair<const char*, std::string>>& specials) {
  Json c = Json::object();
  c.set("tokenizer_class", Json::string("PreTrainedTokenizerFast"));
  c.set("model_max_length", Json::integer(context));
  // transformers and tokenizers.js would otherwise "clean up" " ." into "." on decode.
  c.set("clean_up_tokenization_spaces", Json::boolean(false));
  // Without this transformers' default also returns token_type_ids, which its GPT-2 adds
  // to the input as embeddings of token 0 (every position shifted by wte[0]).
  c.set("model_input_names", Json::array({Json::string("input_ids"), Json::string("attention_mask")}));
  for (const auto& [key, token] : specials) c.set(key, Json::string(token));
  return c.dump(2) + "\n";
}

// Byte offsets where a character other than the first starts.
std::vector<size_t> inner_char_starts(const std::string& s) {
  std::vector<size_t> out;
  for (size_t i = 1; i < s.size(); i++)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  return out;
}

HfTokenizerFiles from_char(const Tokenizer& tok, int context) {
  HfTokenizerFiles f;
  std::vector<std::string> vocab(size_t(tok.vocab_size()));
  for (int id = 0; id < tok.vocab_size(); id++) vocab[size_t(id)] = tok.piece(id);
  // No merges: BPE splits the text into characters and looks each up. A character the
  // vocabulary lacks maps to the unk token, which is not in the vocabulary either:
  // `tokenizers` fails ("Unk token `<unk>` not found in the vocabulary"), as gpt.cc's
  // encode does. (tokenizers.js gives an undefined id instead.)
  f.tokenizer_json = tokenizer_json(Json::array(), Json(), typed("Fuse"), bpe_model(vocab, {}, false, kCharUnk));
  f.config_json = config_json(context, {});
  f.describe = str("one token per character, ", vocab.size(), " characters");
  return f;
}

// SentencePiece BPE merges two adjacent symbols when their concatenation is a piece,
// the piece with the highest score first (leftmost among equals). `tokenizers` merges
// pairs from a ranked list instead: every split of a piece into two pieces, ranked by
// the piece's score. (Two different splits of one piece get two ranks where
// SentencePiece takes the leftmost; they compete only in overlaps like "ab"+"a" and
// "a"+"ba" for "aba" next to each other, which BPE training makes rare.)
std::vector<std::pair<int, int>> derive_merges(const SentencePieceModel& m, const std::vector<std::string>& vocab) {
  std::unordered_map<std::string, int> normal;
  for (size_t id = 0; id < vocab.size(); id++)
    if (m.pieces[id].type == PieceType::normal) normal.emplace(vocab[id], int(id));
  struct Merge {
    int piece, left, right;
  };
  std::vector<Merge> merges;
  for (size_t id = 0; id < vocab.size(); id++) {
    if (m.pieces[id].type != PieceType::normal) continue;
    const std::string& p = vocab[id];
    for (size_t cut : inner_char_starts(p)) {
      const auto l = normal.find(p.substr(0, cut)), r = normal.find(p.substr(cut));
      if (l != normal.end() && r != normal.end()) merges.push_back({int(id), l->second, r->second});
    }
  }
  // Highest score first; equal scores by id (SentencePiece's trainer gives every merge its own).
  std::stable_sort(merges.begin(), merges.end(), [&](const Merge& a, const Merge& b) {
    return m.pieces[size_t(a.piece)].score > m.pieces[size_t(b.piece)].score;
  });
  std::vector<std::pair<int, int>> out;
  out.reserve(merges.size());
  for (const Merge& x : merges) out.emplace_back(x.left, x.right);
  return out;
}

HfTokenizerFiles not_converted(std::string why) {
  HfTokenizerFiles f;
  f.why_not = std::move(why);
  return f;
}

HfTokenizerFiles from_sentencepiece(const Tokenizer& tok, int context) {
  const std::optional<SentencePieceModel> parsed = parse_sentencepiece_model(tok.native_file());
  if (!parsed) return not_converted("its SentencePiece model could not be read");
  const SentencePieceModel& m = *parsed;
  const bool bpe = m.model_type == 2;
  if (m.model_type != 1 && !bpe)
    return not_converted("SentencePiece word and char models are not converted (BPE and unigram are)");
  if (!m.byte_fallback)
    return not_converted("the SentencePiece model has no byte fallback (unknown characters become <unk>); only "
                         "models with byte fallback are converted");
  if ((m.normalizer != "identity" && !m.normalizer.empty()) || m.normalizer_rules)
    return not_converted("the SentencePiece model normalizes text (" + m.normalizer +
                         "), which this export does not reproduce in tokenizer.json");
  if (m.remove_extra_whitespaces)
    return not_converted("the SentencePiece model collapses runs of spaces, which tokenizer.json cannot express "
                         "exactly");
  if (!m.escape_whitespaces || m.whitespace_as_suffix)
    return not_converted("the SentencePiece model treats whitespace in a way this export does not convert");
  std::vector<std::string> vocab(m.pieces.size());
  std::unordered_map<std::string, int> seen;
  std::string unk;
  std::vector<bool> has_byte(256, false);
  for (size_t id = 0; id < m.pieces.size(); id++) {
    const SentencePieceModel::Piece& p = m.pieces[id];
    // JSON strings are UTF-8 and JSON numbers finite: SentencePiece loads a model with a
    // piece of other bytes or a score that is NaN or infinite, tokenizer.json cannot hold
    // it (and BPE's merge order follows the scores).
    if (!is_utf8(p.text))
      return not_converted(str("SentencePiece piece ", id, " ", shown(p.text), " is not valid UTF-8, which a JSON "
                               "string cannot hold"));
    if (p.type == PieceType::normal && !std::isfinite(p.score)) {
      char score[32];
      std::snprintf(score, sizeof score, "%g", double(p.score));
      return not_converted(str("SentencePiece piece ", id, " ", shown(p.text), " has score ", score,
                               "; tokenizer.json needs finite scores (JSON has no NaN or infinity)"));
    }
    if (p.type == PieceType::user_defined || p.type == PieceType::unused)
      return not_converted(str("the SentencePiece model has ", p.type == PieceType::unused ? "unused" : "user-defined",
                               " pieces (", id, "), which this export does not convert"));
    if (p.type == PieceType::normal && p.text.find(' ') != std::string::npos)
      return not_converted(str("SentencePiece piece ", id, " holds a space, which tokenizer.json (spaces for \"",
                               kSpaceSymbol, "\") could not tell from \"", kSpaceSymbol, "\""));
    vocab[id] = p.type == PieceType::normal ? with_spaces(p.text) : p.text;
    if (!seen.emplace(vocab[id], int(id)).second)
      return not_converted(str("SentencePiece pieces ", seen[vocab[id]], " and ", id, " read the same once \"",
                               kSpaceSymbol, "\" is a space"));
    if (p.type == PieceType::unknown) unk = p.text;
    if (p.type == PieceType::byte) {
      unsigned b = 0;
      if (std::sscanf(p.text.c_str(), "<0x%2X>", &b) == 1 && b < 256) has_byte[b] = true;
    }
  }
  if (unk.empty()) return not_converted("the SentencePiece model has no unknown-token piece");
  if (std::find(has_byte.begin(), has_byte.end(), false) != has_byte.end())
    return not_converted("the SentencePiece model lacks some of the 256 byte pieces <0x00>..<0xFF>");

  // <unk>, <s>, </s>: special tokens, as transformers makes the ones tokenizer_config.json
  // names (so skip_special_tokens drops them, and a literal "<s>" in the text is read as
  // that token: gpt.cc spells it in pieces).
  Json added = Json::array();
  for (size_t id = 0; id < m.pieces.size(); id++)
    if (m.pieces[id].type == PieceType::control || m.pieces[id].type == PieceType::unknown)
      added.push(special_token(int(id), vocab[id]));
  // A dummy prefix: a space in front of the text (and a typed "▁" is a space, as
  // SentencePiece reads it when gpt.cc hands it the whole text); decoding drops the
  // space at the start, as gpt.cc's decode does.
  Json normalizer, decoder = typed("Sequence"), decoders = Json::array();
  if (m.add_dummy_prefix) {
    normalizer = typed("Sequence");
    Json replace = typed("Replace"), pattern = Json::object(), prepend = typed("Prepend");
    pattern.set("String", Json::string(kSpaceSymbol));
    replace.set("pattern", pattern);
    replace.set("content", Json::string(" "));
    prepend.set("prepend", Json::string(" "));
    normalizer.set("normalizers", Json::array({replace, prepend}));
  }
  decoders.push(typed("ByteFallback"));
  decoders.push(typed("Fuse"));
  if (m.add_dummy_prefix) {
    Json strip = typed("Strip");
    strip.set("content", Json::string(" "));
    strip.set("start", Json::integer(1));
    strip.set("stop", Json::integer(0));
    decoders.push(strip);
  }
  decoder.set("decoders", decoders);

  HfTokenizerFiles f;
  std::string model;
  if (bpe) {
    const auto merges = derive_merges(m, vocab);
    model = bpe_model(vocab, merges, true, unk);
    f.describe = str("BPE, ", vocab.size(), " tokens, ", merges.size(), " merges, byte fallback");
  } else {
    // Pieces that are never text (<unk>, <s>, </s>, <0x41>) get a score below every
    // piece, so that a typed "<0x41>" is read as its characters, not as byte 0x41
    // (`tokenizers` matches every vocabulary entry in the text; SentencePiece only
    // normal pieces).
    float lowest = 0.0f;
    for (const auto& p : m.pieces)
      if (p.type == PieceType::normal) lowest = std::min(lowest, p.score);
    model = str("{\"type\": \"Unigram\", \"unk_id\": ", seen[unk], ", \"byte_fallback\": true,\n\"vocab\": [");
    for (size_t id = 0; id < vocab.size(); id++) {
      const float score = m.pieces[id].type == PieceType::normal ? m.pieces[id].score : lowest - 1000.0f;
      model += (id ? ",\n[" : "\n[") + quoted(vocab[id]) + ", " + exact(score) + "]";
    }
    model += "]}";
    f.describe = str("unigram, ", vocab.size(), " tokens, byte fallback");
  }
  if (m.add_dummy_prefix) f.describe += ", dummy prefix";
  f.tokenizer_json = tokenizer_json(added, normalizer, decoder, model);
  std::vector<std::pair<const char*, std::string>> specials;
  if (tok.bos_id()) specials.emplace_back("bos_token", vocab[size_t(*tok.bos_id())]);
  if (tok.eos_id()) specials.emplace_back("eos_token", vocab[size_t(*tok.eos_id())]);
  specials.emplace_back("unk_token", unk);
  f.config_json = config_json(context, specials);
  return f;
}

}  // namespace

HfTokenizerFiles hf_tokenizer_files(const Tokenizer& tok, int context) {
  const std::string kind = tok.kind();
  if (kind == "llmc")
    return not_converted("llm.c's GPT-2 tokenizer file only decodes (it has no merge rules)");
  if (kind != "char" && kind != "sentencepiece") return not_converted("a " + kind + " tokenizer is not converted");
  HfTokenizerFiles f = kind == "char" ? from_char(tok, context) : from_sentencepiece(tok, context);
  // JSON is UTF-8 (from_sentencepiece checks each piece; this holds for all else written).
  if (f.written() && !is_utf8(f.tokenizer_json))
    return not_converted("tokenizer.json would not be valid UTF-8 (a token's text is not)");
  return f;
}

}  // namespace gpt
