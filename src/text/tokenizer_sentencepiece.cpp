// SentencePiece tokenizers (BPE, unigram) through libsentencepiece: training in
// memory for `gpt prepare`, loading .model files (llama2.c's tokenizer.model is
// one), encode, and a decode of our own that streams token by token. Built
// without the library (no GPT_HAVE_SENTENCEPIECE) every entry point says how to
// get it; a .model file is still recognised (a tiny protobuf reader below), so
// the message can say what the file is.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "check.h"
#include "rng.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"

#ifdef GPT_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#endif

namespace gpt {

using namespace tokenizer_detail;

namespace {

constexpr int kSentencePieceBlobVersion = 1;
constexpr const char* kInstallHint =
    "this gpt.cc was built without SentencePiece: install libsentencepiece-dev (scripts/install_deps.sh, or "
    "`apt-get install libsentencepiece-dev`) and rebuild (make clean && make)";
constexpr const char* kSpaceSymbol = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space

// ---- The few ModelProto fields we need, read from the protobuf wire format ----
// (The library's own proto headers are not installed.) Field numbers from
// SentencePiece's sentencepiece_model.proto.
struct ModelInfo {
  size_t pieces = 0;
  int model_type = 1;  // TrainerSpec.model_type (3): UNIGRAM=1, BPE=2, WORD=3, CHAR=4
  bool byte_fallback = false;                 // TrainerSpec.byte_fallback (35)
  bool whitespace_as_suffix = false;          // TrainerSpec.treat_whitespace_as_suffix (24)
  std::string unk_surface = " \xE2\x81\x87 ";  // TrainerSpec.unk_surface (44): " ⁇ "
  std::string normalizer = "";                // NormalizerSpec.name (1)
  bool normalizer_rules = false;              // NormalizerSpec.precompiled_charsmap (2) not empty
  bool add_dummy_prefix = true;               // NormalizerSpec.add_dummy_prefix (3)
  bool remove_extra_whitespaces = true;       // NormalizerSpec.remove_extra_whitespaces (4)
  bool escape_whitespaces = true;             // NormalizerSpec.escape_whitespaces (5)
  bool denormalizer_rules = false;            // ModelProto.denormalizer_spec (5) with a charsmap (2)
  // The first NORMAL or USER_DEFINED piece that is empty or holds a NUL byte: the
  // library's trie takes C strings and throws on an empty key (found by fuzzing), so
  // such a model is refused before loading.
  std::optional<size_t> empty_piece;
};

class WireReader {
 public:
  explicit WireReader(std::string_view m)
      : p_(reinterpret_cast<const unsigned char*>(m.data())), end_(p_ + m.size()) {}
  bool done() const { return p_ == end_; }
  const char* position() const { return reinterpret_cast<const char*>(p_); }
  // One field: number, wire type, and its varint value or length-delimited payload.
  bool field(uint32_t& num, int& type, uint64_t& value, std::string_view& payload) {
    uint64_t tag = 0;
    if (!varint(tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF) return false;
    num = uint32_t(tag >> 3);
    type = int(tag & 7);
    switch (type) {
      case 0: return varint(value);
      case 1: return skip(8);
      case 5: return fixed32(value);  // SentencePiece.score is a float
      case 2: {
        uint64_t len = 0;
        if (!varint(len) || len > uint64_t(end_ - p_)) return false;
        payload = std::string_view(reinterpret_cast<const char*>(p_), size_t(len));
        p_ += len;
        return true;
      }
      default: return false;  // groups (3, 4) are not used by ModelProto; anything else is not protobuf
    }
  }

 private:
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const unsigned char b = *p_++;
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool fixed32(uint64_t& v) {
    if (end_ - p_ < 4) return false;
    v = uint64_t(p_[0]) | uint64_t(p_[1]) << 8 | uint64_t(p_[2]) << 16 | uint64_t(p_[3]) << 24;
    p_ += 4;
    return true;
  }
  bool skip(size_t n) {
    if (size_t(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  const unsigned char* p_;
  const unsigned char* end_;
};

// Calls f(num, type, value, payload) for each field; false if not well-formed.
template <class F>
bool for_each_field(std::string_view msg, F&& f) {
  WireReader r(msg);
  while (!r.done()) {
    uint32_t num;
    int type;
    uint64_t value = 0;
    std::string_view payload;
    if (!r.field(num, type, value, payload)) return false;
    if (!f(num, type, value, payload)) return false;
  }
  return true;
}

// `pieces`: when given, also each piece's text, score and type.
bool parse_model_info(const std::string& bytes, ModelInfo& info,
                      std::vector<SentencePieceModel::Piece>* pieces = nullptr) {
  // A serialized ModelProto starts with its first piece (field 1, length-delimited: 0x0A).
  if (bytes.empty() || static_cast<unsigned char>(bytes[0]) != 0x0A) return false;
  const bool ok = for_each_field(bytes, [&](uint32_t num, int type, uint64_t, std::string_view m) {
    if (type != 2) return true;  // ModelProto has only message fields; ignore unknown others
    if (num == 1) {              // SentencePiece { piece = 1; score = 2; type = 3; }
      bool has_piece = false, empty = false;
      uint64_t piece_type = 1;  // SentencePiece.Type: NORMAL = 1 (the default), USER_DEFINED = 4
      SentencePieceModel::Piece p;
      if (!for_each_field(m, [&](uint32_t n, int t, uint64_t v, std::string_view s) {
            if (n == 1 && t == 2) {
              has_piece = true, empty = s.empty() || s.find('\0') != std::string_view::npos;
              if (pieces) p.text = std::string(s);
            }
            if (n == 2 && t == 5) {
              const uint32_t bits = uint32_t(v);
              std::memcpy(&p.score, &bits, sizeof bits);
            }
            if (n == 3 && t == 0) piece_type = v;
            return true;
          }))
        return false;
      if (!has_piece) return false;
      if (pieces) {
        p.type = piece_type >= 1 && piece_type <= 6 ? SentencePieceModel::PieceType(piece_type)
                                                    : SentencePieceModel::PieceType::normal;
        pieces->push_back(std::move(p));
      }
      if (empty && (piece_type == 1 || piece_type == 4) && !info.empty_piece) info.empty_piece = info.pieces;
      info.pieces++;
    } else if (num == 2) {
      return for_each_field(m, [&](uint32_t n, int t, uint64_t v, std::string_view s) {
        if (n == 3 && t == 0) info.model_type = int(v);
        if (n == 24 && t == 0) info.whitespace_as_suffix = v != 0;
        if (n == 35 && t == 0) info.byte_fallback = v != 0;
        if (n == 44 && t == 2) info.unk_surface = std::string(s);
        return true;
      });
    } else if (num == 3) {
      return for_each_field(m, [&](uint32_t n, int t, uint64_t v, std::string_view s) {
        if (n == 1 && t == 2) info.normalizer = std::string(s);
        if (n == 2 && t == 2 && !s.empty()) info.normalizer_rules = true;
        if (n == 3 && t == 0) info.add_dummy_prefix = v != 0;
        if (n == 4 && t == 0) info.remove_extra_whitespaces = v != 0;
        if (n == 5 && t == 0) info.escape_whitespaces = v != 0;
        return true;
      });
    } else if (num == 5) {
      return for_each_field(m, [&](uint32_t n, int t, uint64_t, std::string_view s) {
        if (n == 2 && t == 2 && !s.empty()) info.denormalizer_rules = true;
        return true;
      });
    }
    return true;
  });
  return ok && info.pieces > 0;
}

// A .model cut off or damaged further on: its first field is a piece (ModelProto field 1)
// whose text (the piece's own field 1) is whole, though the file as a whole does not parse.
struct DamagedModel {
  std::string first_piece;
  size_t whole_pieces = 0;    // pieces read before the first field that does not parse
  size_t readable_bytes = 0;  // where that field starts
};
std::optional<DamagedModel> damaged_model(const std::string& bytes) {
  size_t at = 0;
  auto varint = [&](uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && at < bytes.size(); shift += 7) {
      const unsigned char b = static_cast<unsigned char>(bytes[at++]);
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  uint64_t len = 0, text_len = 0;
  // A piece message is its text (a tag, a length of at most 3 bytes for a piece, the text),
  // a score (5 bytes) and a type (2): text that begins "\nI\n\n" passed for one.
  if (bytes.size() < 4 || bytes[at++] != '\x0A' || !varint(len) || bytes[at++] != '\x0A' || !varint(text_len) ||
      text_len == 0 || text_len > bytes.size() - at || text_len + 2 > len || len > text_len + 4 + 7)
    return std::nullopt;
  // What follows the text inside the piece, if the file holds it: a score (tag 0x15) or a type (0x18).
  const size_t after = at + size_t(text_len);
  if (len > text_len + 2 + (text_len >= 128) && after < bytes.size() && bytes[after] != '\x15' && bytes[after] != '\x18')
    return std::nullopt;
  DamagedModel d;
  d.first_piece = bytes.substr(at, size_t(text_len));
  WireReader r(bytes);
  while (!r.done()) {
    uint32_t num;
    int type;
    uint64_t value = 0;
    std::string_view payload;
    if (!r.field(num, type, value, payload)) break;
    if (num == 1 && type == 2) {  // a piece that is whole and has its text (one without read as all readable)
      bool text = false;
      if (!for_each_field(payload,
                          [&](uint32_t n, int t, uint64_t, std::string_view s) {
                            text = text || (n == 1 && t == 2 && !s.empty());
                            return true;
                          }) ||
          !text)
        break;
      d.whole_pieces++;
    }
    d.readable_bytes = size_t(r.position() - bytes.data());
  }
  return d;
}

#ifdef GPT_HAVE_SENTENCEPIECE
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += char(0x80 | (v & 0x7F));
    v >>= 7;
  }
  out += char(v);
}

// The trained model without TrainerSpec.num_threads (field 16): the thread count
// changes nothing else, and leaving it out makes the same text give the same
// bytes (tokenizer.bin, tokenizer.model) on any machine. `proto` is well-formed.
std::string without_thread_count(const std::string& proto) {
  std::string out;
  WireReader top(proto);
  const char* at = proto.data();
  while (!top.done()) {
    uint32_t num;
    int type;
    uint64_t value = 0;
    std::string_view payload;
    GPT_CHECK(top.field(num, type, value, payload), "malformed model from the SentencePiece trainer");
    const char* next = top.position();
    if (num == 2 && type == 2) {
      std::string spec;
      WireReader inner(payload);
      const char* from = payload.data();
      while (!inner.done()) {
        GPT_CHECK(inner.field(num, type, value, payload), "malformed TrainerSpec from the SentencePiece trainer");
        if (!(num == 16 && type == 0)) spec.append(from, inner.position());
        from = inner.position();
      }
      out += char(0x12);  // field 2, length-delimited
      put_varint(out, spec.size());
      out += spec;
    } else {
      out.append(at, next);
    }
    at = next;
  }
  return out;
}
#endif

std::string model_type_name(int t) {
  switch (t) {
    case 1: return "unigram";
    case 2: return "BPE";
    case 3: return "word";
    case 4: return "char";
    default: return str("type ", t);
  }
}

#ifdef GPT_HAVE_SENTENCEPIECE

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(std::string proto, const ModelInfo& info,
                         std::unique_ptr<sentencepiece::SentencePieceProcessor> sp)
      : proto_(std::move(proto)), info_(info), sp_(std::move(sp)) {
    const int n = sp_->GetPieceSize();
    text_.resize(size_t(n));
    type_.resize(size_t(n), Type::normal);
    byte_id_.fill(-1);
    bool newline_inside = false;
    for (int id = 0; id < n; id++) {
      const std::string& piece = sp_->IdToPiece(id);
      std::string& t = text_[size_t(id)];
      if (sp_->IsControl(id)) {
        type_[size_t(id)] = Type::control;  // <s>, </s>: invisible
      } else if (sp_->IsUnknown(id)) {
        type_[size_t(id)] = Type::unknown;
        t = info_.unk_surface;
      } else if (sp_->IsByte(id)) {
        type_[size_t(id)] = Type::byte;
        uint64_t b = 0;  // "<0xE2>"
        GPT_CHECK(piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>' &&
                      parse_uint(piece.substr(3, 2), 255, b, 16),
                  "SentencePiece byte piece ", snippet(piece));
        t = std::string(1, char(b));
        byte_id_[b] = id;
      } else {
        // "▁" reads as a space; everything else as it is.
        for (size_t k = 0; k < piece.size();) {
          if (piece.compare(k, 3, kSpaceSymbol) == 0) t += ' ', k += 3;
          else t += piece[k++];
        }
        const size_t nl = piece.find('\n');
        if (nl != std::string::npos && nl + 1 < piece.size()) newline_inside = true;
        if (piece.compare(0, 3, kSpaceSymbol) == 0) type_[size_t(id)] = Type::normal_space_first;
      }
    }
    // SentencePiece's decode drops the space in front of the first word when the
    // encoder may have put it there (dummy prefix) or would have removed it anyway
    // (whitespace collapsing; then every leading space goes).
    strip_first_space_ = info_.add_dummy_prefix || info_.remove_extra_whitespaces;
    strip_all_leading_ = info_.remove_extra_whitespaces;
    // Without those, SentencePiece encodes any substring the same wherever it sits,
    // so the text can be cut into pieces that are encoded independently: at a
    // literal "▁" (which SentencePiece cannot tell from a space, so we spell it in
    // byte tokens), and after each newline when no piece continues past one
    // (always true for our models: they learn from lines), which is what makes
    // encoding fast and parallel. For a BPE model the result equals encoding the
    // whole text at once; a unigram model can differ only where two segmentations
    // score exactly the same (floating-point ties).
    segmentable_ = !strip_first_space_ && !info_.whitespace_as_suffix;
    by_lines_ = segmentable_ && !newline_inside;
    exact_space_symbol_ = segmentable_ && byte_id_[0xE2] >= 0 && byte_id_[0x96] >= 0 && byte_id_[0x81] >= 0;
  }

  std::string kind() const override { return "sentencepiece"; }
  std::string describe() const override {
    size_t bytes = 0;
    for (Type t : type_) bytes += t == Type::byte;
    std::string s = str("SentencePiece ", model_type_name(info_.model_type), ", ", text_.size(), " tokens");
    if (bytes) s += str(" (", bytes, " byte-fallback)");
    if (info_.add_dummy_prefix) s += ", dummy prefix";
    if (info_.remove_extra_whitespaces) s += ", collapses whitespace";
    if (!info_.normalizer.empty() && info_.normalizer != "identity") s += ", normalization " + info_.normalizer;
    return s;
  }
  int vocab_size() const override { return int(text_.size()); }

  std::vector<int> encode(const std::string& text) const override {
    check_utf8(text);
    if (!segmentable_) {
      std::vector<int> ids;
      encode_piece(text, ids);
      return ids;
    }
    // Blocks of whole lines (or the whole text), encoded in parallel; a block's
    // result does not depend on where the blocks end, only lines matter.
    std::vector<size_t> cuts{0};
    if (by_lines_) {
      constexpr size_t kBlock = 1 << 16;
      size_t pos = kBlock;
      while (pos < text.size()) {
        const size_t nl = text.find('\n', pos);
        if (nl == std::string::npos || nl + 1 >= text.size()) break;
        cuts.push_back(nl + 1);
        pos = nl + 1 + kBlock;
      }
    }
    cuts.push_back(text.size());
    const long nblocks = long(cuts.size()) - 1;
    std::vector<std::vector<int>> parts(cuts.size() - 1);
    std::vector<std::string> errors(cuts.size() - 1);
#pragma omp parallel for schedule(dynamic, 1)
    for (long b = 0; b < nblocks; b++) {
      try {
        encode_block(std::string_view(text).substr(cuts[size_t(b)], cuts[size_t(b) + 1] - cuts[size_t(b)]),
                     parts[size_t(b)]);
      } catch (const std::exception& e) {
        errors[size_t(b)] = e.what();
      }
    }
    for (const auto& e : errors)
      if (!e.empty()) GPT_FAIL(e);
    std::vector<int> ids;
    size_t total = 0;
    for (const auto& p : parts) total += p.size();
    ids.reserve(total);
    for (const auto& p : parts) ids.insert(ids.end(), p.begin(), p.end());
    return ids;
  }

  std::string decode_token(int id) const override { return text_[check_id(id)]; }

  std::string decode(const std::vector<int>& ids) const override {
    std::string out;
    out.reserve(ids.size() * 4);
    // At the start: before the first token that is not a control token (<s>), or,
    // for a model that collapses whitespace, before the first one that prints
    // something once its leading space is dropped. SentencePiece's rules, measured.
    bool start = strip_first_space_;
    Utf8Stream stream;
    for (int id : ids) {
      const size_t k = check_id(id);
      if (start && type_[k] != Type::control) {
        start = false;
        if (type_[k] == Type::normal_space_first) {
          out += stream.push(text_[k].substr(1));
          start = strip_all_leading_ && out.empty();
          continue;
        }
      }
      out += stream_token(id, stream);
    }
    return out + stream.finish();
  }

  std::string piece(int id) const override { return sp_->IdToPiece(int(check_id(id))); }

  // gptcc-tokenizer sentencepiece 1\n vocab_size V\n model_bytes N\n <the .model file, N bytes> end\n
  std::string serialize() const override {
    return str(kBlobMagic, " sentencepiece ", kSentencePieceBlobVersion, "\nvocab_size ", text_.size(),
               "\nmodel_bytes ", proto_.size(), "\n") +
           proto_ + "end\n";
  }
  std::string native_file() const override { return proto_; }
  std::optional<int> bos_id() const override {
    return sp_->bos_id() >= 0 ? std::optional<int>(sp_->bos_id()) : std::nullopt;
  }
  std::optional<int> eos_id() const override {
    return sp_->eos_id() >= 0 ? std::optional<int>(sp_->eos_id()) : std::nullopt;
  }

 private:
  enum class Type : uint8_t { normal, normal_space_first, control, unknown, byte };

  size_t check_id(int id) const {
    if (id < 0 || size_t(id) >= text_.size())
      GPT_FAIL("token id ", id, " is out of range for this SentencePiece tokenizer (vocabulary size ",
               text_.size(), "); the model and tokenizer do not belong together");
    return size_t(id);
  }

  void encode_piece(std::string_view s, std::vector<int>& out) const {
    if (s.empty()) return;
    std::vector<int> ids;
    const auto status = sp_->Encode(s, &ids);
    if (!status.ok()) GPT_FAIL("SentencePiece could not encode the text: ", status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }

  // Lines one by one (when allowed), literal "▁" as its three byte tokens.
  void encode_block(std::string_view block, std::vector<int>& out) const {
    size_t start = 0;
    while (start < block.size()) {
      size_t end = by_lines_ ? block.find('\n', start) : std::string_view::npos;
      end = end == std::string_view::npos ? block.size() : end + 1;
      std::string_view line = block.substr(start, end - start);
      if (exact_space_symbol_) {
        size_t at;
        while ((at = line.find(kSpaceSymbol)) != std::string_view::npos) {
          encode_piece(line.substr(0, at), out);
          for (unsigned char b : {0xE2, 0x96, 0x81}) out.push_back(byte_id_[b]);
          line.remove_prefix(at + 3);
        }
      }
      encode_piece(line, out);
      start = end;
    }
  }

  std::string proto_;
  ModelInfo info_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::vector<std::string> text_;  // decode_token of each id
  std::vector<Type> type_;
  std::array<int, 256> byte_id_;   // id of "<0xNN>", -1 without byte fallback
  bool strip_first_space_ = false, strip_all_leading_ = false;
  bool segmentable_ = false, by_lines_ = false, exact_space_symbol_ = false;
};

// Sentences for the trainer, served from the text without copying it whole.
class TextSentences final : public sentencepiece::SentenceIterator {
 public:
  explicit TextSentences(std::vector<std::string_view> s) : s_(std::move(s)) { load(); }
  bool done() const override { return i_ >= s_.size(); }
  void Next() override {
    i_++;
    load();
  }
  const std::string& value() const override { return cur_; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  void load() {
    if (i_ < s_.size()) cur_.assign(s_[i_].data(), s_[i_].size());
  }
  std::vector<std::string_view> s_;
  size_t i_ = 0;
  std::string cur_;
};

// Training sentences: the lines of the text, each with its newline (so pieces
// can end in "\n" but never continue past one, which keeps encoding by lines
// exact), long lines cut before a space (or at a character boundary) so that
// none exceeds kMaxSentenceBytes: SentencePiece silently skips longer sentences.
constexpr size_t kMaxSentenceBytes = 4096;

std::vector<std::string_view> training_sentences(const std::string& text) {
  std::vector<std::string_view> out;
  const std::string_view all(text);
  size_t start = 0;
  while (start < all.size()) {
    size_t nl = all.find('\n', start);
    size_t end = nl == std::string_view::npos ? all.size() : nl + 1;
    while (end - start > kMaxSentenceBytes) {
      size_t cut = all.rfind(' ', start + kMaxSentenceBytes);
      if (cut == std::string_view::npos || cut <= start) {
        cut = start + kMaxSentenceBytes;
        while ((static_cast<unsigned char>(all[cut]) & 0xC0) == 0x80) cut--;  // not inside a character
      }
      out.push_back(all.substr(start, cut - start));
      start = cut;
    }
    out.push_back(all.substr(start, end - start));
    start = end;
  }
  return out;
}

#endif  // GPT_HAVE_SENTENCEPIECE

}  // namespace

bool have_sentencepiece() {
#ifdef GPT_HAVE_SENTENCEPIECE
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& bytes, const std::string& source) {
  ModelInfo info;
  const bool parsed = parse_model_info(bytes, info);
  if (!parsed && damaged_model(bytes)) {
    const DamagedModel d = *damaged_model(bytes);
    GPT_FAIL(source, ": looks like a SentencePiece .model (it starts with piece \"", snippet(d.first_piece), "\"; ",
             count(d.whole_pieces, "whole piece"), "), but it is truncated or damaged (", bytes.size(), " bytes, "
             "unreadable from byte ", d.readable_bytes, "); give the whole file: copy it again, or the .model that "
             "SentencePiece training wrote");
  }
  if (!parsed)
    GPT_FAIL(source, ": not a SentencePiece model: expected a serialized ModelProto (protocol buffer, first "
             "byte 0x0A), found ", bytes.empty() ? std::string("0 bytes") : "\"" + snippet(bytes.substr(0, 16)) + "\"",
             "; give the .model file that SentencePiece training wrote");
  if (info.pieces > size_t(kMaxVocab))
    GPT_FAIL(source, ": SentencePiece model has ", info.pieces, " tokens, but shard tokens are uint16 (at most ",
             kMaxVocab, " ids); use a model with a smaller vocabulary");
  if (info.whitespace_as_suffix || info.denormalizer_rules)
    GPT_FAIL(source, ": this SentencePiece model ",
             info.whitespace_as_suffix ? "treats whitespace as a suffix" : "has denormalization rules",
             ", which gpt.cc's decoder does not reproduce; use a model without it");
  if (info.empty_piece)
    GPT_FAIL(source, ": SentencePiece model piece ", *info.empty_piece, " is empty or holds a NUL byte (a normal piece needs "
             "text); the file is damaged");
#ifdef GPT_HAVE_SENTENCEPIECE
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status status;
  try {
    status = sp->LoadFromSerializedProto(bytes);
  } catch (const std::exception& e) {  // the library's own checks throw too (its trie builder)
    GPT_FAIL(source, ": SentencePiece cannot load this model: ", e.what(), "; the file is damaged");
  }
  if (!status.ok())
    GPT_FAIL(source, ": SentencePiece cannot load this model: ", status.ToString(),
             "; the file is damaged or from an incompatible SentencePiece version");
  if (size_t(sp->GetPieceSize()) != info.pieces)
    GPT_FAIL(source, ": SentencePiece reports ", sp->GetPieceSize(), " pieces, the file lists ", info.pieces,
             "; the file is damaged");
  return std::make_unique<SentencePieceTokenizer>(bytes, info, std::move(sp));
#else
  GPT_FAIL(source, ": is a SentencePiece model (", model_type_name(info.model_type), ", ", info.pieces,
           " tokens), but ", kInstallHint);
#endif
}

std::unique_ptr<Tokenizer> train_sentencepiece(const std::string& text, const SentencePieceOptions& opt) {
  if (opt.model_type != "bpe" && opt.model_type != "unigram")
    GPT_USAGE_FAIL("unknown SentencePiece model type \"", opt.model_type, "\"; choose bpe or unigram");
  // 3 special tokens + 256 byte tokens + at least one piece.
  if (opt.vocab_size < 260 || opt.vocab_size > kMaxVocab)
    GPT_USAGE_FAIL("--vocab-size must be in [260, ", kMaxVocab, "], got ", opt.vocab_size,
                   opt.vocab_size > kMaxVocab ? " (shard tokens are uint16)"
                                              : " (256 byte tokens + <unk>, <s>, </s> + the text's characters)");
  if (!have_sentencepiece()) GPT_FAIL("--tokenizer ", opt.model_type, ": ", kInstallHint);
  if (text.empty()) GPT_FAIL("cannot train a SentencePiece tokenizer on empty text; give it some text");
  check_utf8(text);
#ifdef GPT_HAVE_SENTENCEPIECE
  std::vector<uint64_t> count(kMaxCodePoint + 1, 0);
  size_t distinct = 0;
  uint64_t total = 0;
  for (size_t i = 0; i < text.size();) {
    const uint32_t cp = next_code_point(text, i);
    if (count[cp]++ == 0) distinct++;
    total++;
  }
  // Characters with a piece of their own: all for alphabetic text; past 256 distinct
  // (CJK) SentencePiece's advice, 99.95% of the text's characters, the rarest going to
  // byte fallback. Where even those would leave fewer than half the ids free for merges
  // (a few thousand CJK characters and --vocab-size 2048; the library takes no coverage
  // below 98%), the trainer sees the text without all but the most frequent
  // (vocab_size - 259) / 2 characters, so only those get pieces; encoding spells the
  // others in bytes. SentencePiece refused such sizes although byte fallback spells any
  // character. (Alphabetic text keeps every character: a size too small for its few
  // dozen is refused, naming the size needed.)
  std::string coverage = distinct > 256 ? "0.9995" : "1.0";
  std::optional<std::string> kept_text;  // the text the trainer sees when rare characters are left out
  if (distinct > 256) {
    std::vector<std::pair<uint64_t, uint32_t>> f;  // (count, code point), most frequent first
    f.reserve(distinct);
    for (uint32_t cp = 0; cp <= kMaxCodePoint; cp++)
      if (count[cp]) f.emplace_back(count[cp], cp);
    std::sort(f.begin(), f.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first
                                                                                              : a.second < b.second; });
    size_t needed = 0;
    for (uint64_t acc = 0; needed < f.size() && double(acc) < 0.9995 * double(total); needed++) acc += f[needed].first;
    // Characters with pieces of their own: ▁ (a space: required_chars below), the newline
    // where there is room for two (the trainer's sentences are lines; at the smallest size
    // a newline is a byte token and the trainer's lines are cut at 4 KB), the most frequent.
    const size_t room = std::max<size_t>(1, size_t(opt.vocab_size - 259) / 2);
    if (needed + 1 > room) {
      std::vector<bool> keep(kMaxCodePoint + 1, false);
      keep[' '] = true;
      keep['\n'] = room >= 2;
      for (size_t k = 0, kept = 1 + keep['\n']; k < f.size() && kept < room; k++)
        if (f[k].second != ' ' && f[k].second != '\n') keep[f[k].second] = true, kept++;
      kept_text.emplace().reserve(text.size());
      for (size_t i = 0; i < text.size();) {
        const size_t at = i;
        if (keep[next_code_point(text, i)]) kept_text->append(text, at, i - at);
      }
      coverage = "1.0";
    }
  }
  // (SentencePiece's trainer takes 1..128 threads: OMP_NUM_THREADS=129, the default on a
  // machine with more cores, failed "Internal: ... num_threads() <= 128 ; check --vocab-size".)
  constexpr int kMostTrainerThreads = 128;
  const int threads = std::min(kMostTrainerThreads, opt.threads > 0 ? opt.threads : omp_get_max_threads());
  // Trainer options, beyond type and size:
  //  byte_fallback=true           characters without a piece of their own become byte tokens
  //                               <0x00>..<0xFF> instead of <unk>: any UTF-8 text round-trips.
  //  normalization_rule_name=identity, remove_extra_whitespaces=false
  //                               no NFKC, no collapsing or trimming of spaces: the text is
  //                               kept byte for byte (tabs, runs of spaces, blank lines).
  //  add_dummy_prefix=false       no space invented in front of the text: it is one stream,
  //                               not sentences, and a line start is trained as it is encoded.
  //  character_coverage           1.0 for alphabetic text (every character gets a piece);
  //                               0.9995 past 256 distinct characters (CJK), SentencePiece's
  //                               advice: the rarest 0.05% go to byte fallback; fewer where
  //                               the characters would crowd out the merges (above).
  //  max_sentence_length          our sentences are lines cut to <= 4096 bytes (longer ones
  //                               would be skipped silently).
  //  input_sentence_size=1000000 a random million lines train the model when there are more
  //                               (drawn here, seeded: see sentences below): bounds time and
  //                               memory on big inputs (Tiny Shakespeare has 40k).
  //  num_threads                  OpenMP's thread count, 128 at most (SentencePiece defaults to 16); not
  //                               stored in the model (see without_thread_count). BPE output
  //                               does not depend on it; unigram scores can differ in their
  //                               last bits (float sums split by thread), the pieces do not.
  //  allow_whitespace_only_pieces runs of spaces may be pieces ("▁▁▁▁"): code's indentation was
  //                               a token per space (1.79 characters per token on Python's
  //                               standard library at BPE 1024, now 2.53; prose unchanged).
  //  minloglevel=1                keep SentencePiece's progress log off stderr (warnings stay).
  //  required_chars=▁             a space is always a piece: SentencePiece turns every space
  //                               into ▁ before it looks pieces up, so where ▁ had none (a CSV
  //                               without spaces, CJK text with few) byte fallback spelled
  //                               the character ▁, and decoding gave "north▁widget" for
  //                               "north widget": the model learned ▁ where the text had spaces.
  //                               The trainer must see at least one space (its BPE aborts
  //                               the process on a required character it never saw): the
  //                               lines it gets hold one (below).
  // Seeded, so the same text gives the same model.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", opt.model_type},
      {"vocab_size", std::to_string(opt.vocab_size)},
      {"byte_fallback", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", opt.remove_extra_whitespaces ? "true" : "false"},
      {"add_dummy_prefix", opt.add_dummy_prefix ? "true" : "false"},
      {"character_coverage", coverage},
      {"max_sentence_length", std::to_string(kMaxSentenceBytes)},
      {"input_sentence_size", std::to_string(kMaxTrainingSentences)},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(std::max(1, threads))},
      {"allow_whitespace_only_pieces", "true"},
      {"minloglevel", "1"},
      {"required_chars", "\u2581"},
  };
  sentencepiece::SetRandomGeneratorSeed(1337);
  std::vector<std::string_view> lines = training_sentences(kept_text ? *kept_text : text);
  const bool drawn = lines.size() > kMaxTrainingSentences;
  if (drawn) {  // a seeded draw, so the trainer samples nothing more
    SplitMix64 r(1337);
    for (size_t i = kMaxTrainingSentences; i < lines.size(); i++) {
      const uint64_t j = r.below(i + 1);
      if (j < kMaxTrainingSentences) lines[j] = lines[i];
    }
    lines.resize(kMaxTrainingSentences);
  }
  // (A space in the text stays in the trainer's lines unless the draw left it out; the
  // kept text always keeps spaces.)
  if ((count[' '] == 0 || drawn) &&
      std::none_of(lines.begin(), lines.end(), [](std::string_view l) { return l.find(' ') != l.npos; })) {
    static const std::string kSpaceLine = " ";  // text without spaces: ▁ still gets its piece
    if (lines.size() == kMaxTrainingSentences) lines.back() = kSpaceLine;
    else lines.push_back(kSpaceLine);
  }
  TextSentences sentences(std::move(lines));
  std::string proto;
  // The library's log lines ("bpe_model_trainer.cc(242) LOG(WARNING) No valid symbol
  // found") go to a temp file: shown after a training that worked (its warnings), dropped
  // after one that failed (the error below says what it means).
  std::fflush(stderr);
  FILE* log = std::tmpfile();
  const int saved = log ? ::dup(2) : -1;
  if (saved >= 0 && ::dup2(::fileno(log), 2) < 0) {
    ::close(saved);
    std::fclose(log);
    log = nullptr;
  }
  auto restore = [&]() -> std::string {
    std::string said;
    if (!log) return said;
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::rewind(log);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, log)) > 0;) said.append(buf, n);
    std::fclose(log);
    log = nullptr;
    return said;
  };
  sentencepiece::util::Status status;
  try {
    status = sentencepiece::SentencePieceTrainer::Train(args, &sentences, &proto);
  } catch (...) {
    std::fputs(restore().c_str(), stderr);
    throw;
  }
  const std::string said = restore();
  if (status.ok()) std::fputs(said.c_str(), stderr);
  if (!status.ok()) {
    const std::string msg = status.ToString();
    std::string hint = "; check --vocab-size";
    // "Internal: ./src/trainer_interface.cc(660) [(trainer_spec_.vocab_size()) == ...]
    // Vocabulary size too high (1024). Please set it to a value <= 261.": the library's
    // file, line and check say nothing to a user; its numbers do.
    const size_t at_most = msg.find("<= ");
    const long most = at_most == std::string::npos ? 0 : std::atol(msg.c_str() + at_most + 3);
    if (msg.find("Vocabulary size too high") != std::string::npos && most > 0)
      GPT_USAGE_FAIL("SentencePiece ", opt.model_type, " training (vocab size ", opt.vocab_size, ") failed: the "
               "text is too small for ", opt.vocab_size, " tokens; use a smaller --vocab-size, at most ", most,
               " (--vocab-size ", most, "), or more text");
    if (msg.find("too high") != std::string::npos)
      hint = "; the text is too small for that many tokens: use a smaller --vocab-size (SentencePiece names the "
             "largest it can make) or more text";
    else if (msg.find("smaller than required_chars") != std::string::npos) {
      // "... required_chars. 280 vs 311. Increase vocab_size or decrease character_coverage
      // with --character_coverage option." The library's advice names its own flag, which
      // gpt does not have: say the size that is needed instead.
      const size_t vs = msg.find(" vs ");
      const long need = vs == std::string::npos ? 0 : std::atol(msg.c_str() + vs + 4);
      if (need > 0)
        GPT_USAGE_FAIL("SentencePiece ", opt.model_type, " training (vocab size ", opt.vocab_size, ") failed: the "
                 "text's characters, 256 byte tokens, <unk>, <s> and </s> need ", need, " ids; use a larger "
                 "--vocab-size: ", need, " or more");
      hint = "; use a larger --vocab-size: 256 byte tokens, <unk>, <s>, </s> and every character of the text "
             "need an id";
    }
    GPT_FAIL("SentencePiece ", opt.model_type, " training (vocab size ", opt.vocab_size, ") failed: ", msg, hint);
  }
  return load_sentencepiece_model(without_thread_count(proto), "the SentencePiece model just trained");
#else
  return nullptr;
#endif
}

std::optional<SentencePieceModel> parse_sentencepiece_model(const std::string& bytes) {
  ModelInfo info;
  SentencePieceModel m;
  if (!parse_model_info(bytes, info, &m.pieces)) return std::nullopt;
  m.model_type = info.model_type;
  m.byte_fallback = info.byte_fallback;
  m.whitespace_as_suffix = info.whitespace_as_suffix;
  m.normalizer = info.normalizer;
  m.normalizer_rules = info.normalizer_rules;
  m.add_dummy_prefix = info.add_dummy_prefix;
  m.remove_extra_whitespaces = info.remove_extra_whitespaces;
  m.escape_whitespaces = info.escape_whitespaces;
  return m;
}

namespace tokenizer_detail {

bool looks_like_sentencepiece_model(const std::string& bytes) {
  ModelInfo info;
  return parse_model_info(bytes, info) || damaged_model(bytes);
}

std::unique_ptr<Tokenizer> deserialize_sentencepiece(LineReader& in, int version) {
  if (version != kSentencePieceBlobVersion)
    in.unsupported("sentencepiece tokenizer version ", version, " is not supported (this build reads version ",
                   kSentencePieceBlobVersion, "); use the gpt.cc version that wrote it");
  const uint64_t vocab = in.number("vocab_size", 1, uint64_t(kMaxVocab));
  const uint64_t n = in.number("model_bytes", 1, uint64_t(1) << 40);
  const std::string model = in.bytes(n, "the SentencePiece model");
  const std::string end = in.next("\"end\"");
  if (end != "end")
    in.fail("expected \"end\" after the ", n, " bytes of the SentencePiece model, found \"", snippet(end), "\"");
  if (!in.at_end()) in.fail("extra data after \"end\" on line ", in.line());
  auto tok = load_sentencepiece_model(model, in.source() + " (the SentencePiece model inside it)");
  if (uint64_t(tok->vocab_size()) != vocab)
    in.fail("vocab_size ", vocab, " disagrees with the embedded SentencePiece model (", tok->vocab_size(),
            " tokens)");
  return tok;
}

}  // namespace tokenizer_detail

}  // namespace gpt
