// Tokenizers behind one interface: char-level (one token per Unicode code point
// of the training text), SentencePiece BPE / unigram (trained by `gpt prepare` or
// read from a .model file; needs libsentencepiece), and llm.c's GPT-2 tokenizer
// file (decode only). A tokenizer serializes to a self-describing blob that data
// dirs and checkpoints store (formats in data/README.md).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpt {

// Shard tokens are uint16, so no tokenizer may have more ids than this.
constexpr int kMaxVocab = 65536;

// Bytes -> valid UTF-8, piece by piece, for printing tokens as they are sampled:
// holds back the start of a character until its last byte arrives; a byte that
// cannot start or continue a character (stray continuation byte, cut-off or
// overlong sequence, surrogate, past U+10FFFF) becomes U+FFFD, one per byte, as
// in SentencePiece's decode. Pushing a text in any pieces, then finish(), gives
// the same bytes as valid_utf8(text); valid UTF-8 passes through unchanged.
class Utf8Stream {
 public:
  std::string push(const std::string& bytes);  // what can be printed now
  std::string finish();                         // a cut-off character at the end: U+FFFD per byte
 private:
  std::string held_;
};
std::string valid_utf8(const std::string& bytes);
// Whether `bytes` is valid UTF-8: valid_utf8 leaves it as it is.
inline bool is_utf8(const std::string& bytes) { return valid_utf8(bytes) == bytes; }

// What bytes that are not UTF-8 text are, told by their first bytes, for the advice a
// message gives: UTF-16 and UTF-32 text (a byte-order mark, or UTF-16 without one: a NUL
// in every other byte), compressed data, archives, PDFs, programs. nullopt when none of
// these (text in another encoding, such as Latin-1, or data this does not know).
struct NotUtf8Text {
  std::string what;  // "UTF-16 text (little-endian, byte-order mark FF FE)"
  std::string todo;  // "convert it with `iconv -f utf-16 -t utf-8 FILE > FILE.txt`" ("" for a program)
};
std::optional<NotUtf8Text> what_is_not_utf8(std::string_view bytes);
// For text that is none of those: the usual advice.
constexpr const char* kOtherEncodingAdvice =
    "text in another encoding can be converted, e.g. `iconv -f latin1 -t utf-8`";

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;      // blob kind: "char", "sentencepiece", "llmc"
  virtual std::string describe() const = 0;  // one line for people, e.g. "SentencePiece BPE, 1024 tokens, ..."
  virtual int vocab_size() const = 0;
  // False for decode-only tokenizers (llm.c's file has no merge rules): encode throws.
  virtual bool can_encode() const { return true; }
  // Input must be valid UTF-8 (gpt::Error naming the byte offset otherwise).
  // char: throws naming the first character not in the vocabulary.
  virtual std::vector<int> encode(const std::string& text) const = 0;
  // Bytes of one token as it reads in the middle of a text. char: one complete
  // code point. SentencePiece: "▁" as a space, a byte token "<0xE2>" as that raw
  // byte (a character may span tokens), control tokens (<s>, </s>) as nothing.
  // llm.c: the token's bytes (GPT-2 also splits characters). To print tokens as
  // they come, feed these to a Utf8Stream.
  virtual std::string decode_token(int id) const = 0;
  // The text of a sequence: stream_token of each id (so always valid UTF-8;
  // bytes that form no character become U+FFFD), except that
  // a SentencePiece model with a dummy prefix (llama's tokenizer.model) drops the
  // space it put in front of the first word. Both exactly as SentencePiece's own
  // decode does. Streaming after a prompt needs no dummy-prefix rule: the prompt
  // is printed as given.
  virtual std::string decode(const std::vector<int>& ids) const;
  // For printing tokens as they come: decode_token(id) through `stream`; a token
  // that prints nothing (a control token such as </s>) ends a character cut
  // short, as in SentencePiece's decode. Streaming a sequence this way and then
  // stream.finish() gives decode's text (up to the dummy-prefix space).
  std::string stream_token(int id, Utf8Stream& stream) const;
  // The token as the tokenizer itself names it: "▁the" and "<0x0A>" for
  // SentencePiece, the character for char, the raw bytes for llm.c's file.
  virtual std::string piece(int id) const = 0;
  // Self-describing bytes (starts with a magic line naming the kind and version).
  virtual std::string serialize() const = 0;
  // The tokenizer's own file format where it has one (SentencePiece: the .model
  // file; llm.c: its tokenizer file); empty for char.
  virtual std::string native_file() const { return {}; }
  // The ids that open and close a text where the tokenizer has them (SentencePiece's
  // <s> and </s>, llm.c's end-of-text for both); char has none.
  virtual std::optional<int> bos_id() const { return std::nullopt; }
  virtual std::optional<int> eos_id() const { return std::nullopt; }

  static std::unique_ptr<Tokenizer> deserialize(const std::string& blob, const std::string& source);
  // DIR/tokenizer.bin (the file name is kTokenizerFile).
  static std::unique_ptr<Tokenizer> load_dir(const std::string& dir);
  void save_dir(const std::string& dir) const;  // atomic write
};


constexpr const char* kTokenizerFile = "tokenizer.bin";

// Appends code point cp (<= U+10FFFF) to out as UTF-8.
void append_utf8(std::string& out, uint32_t cp);
// Characters a message names by code point rather than draws: ones that take no room on
// screen or pass for another (control characters, the no-break space, soft hyphen,
// combining marks, which would sit on the quote, zero-width and bidi format characters,
// line and paragraph separators, variation selectors, the byte-order mark). What it is
// ("a combining mark"), or nullptr for a character that can be shown as it is.
const char* hidden_character(uint32_t cp);
constexpr const char* kSentencePieceFile = "tokenizer.model";  // written next to it for SentencePiece

// Vocabulary = the sorted set of code points in text. Invalid UTF-8 bytes are an error.
std::unique_ptr<Tokenizer> build_char_tokenizer(const std::string& text);

// Detects the format of a tokenizer file: gpt.cc's blob (tokenizer.bin), a
// SentencePiece .model, or an llm.c tokenizer file (gpt2_tokenizer.bin).
// Anything else, or more than kMaxVocab ids: gpt::Error naming the file.
std::unique_ptr<Tokenizer> load_tokenizer_file(const std::string& path);

// ---- SentencePiece ----------------------------------------------------------
// False when built without libsentencepiece: training or loading such a
// tokenizer then fails with a message saying to install libsentencepiece-dev.
bool have_sentencepiece();

struct SentencePieceOptions {
  std::string model_type = "bpe";  // "bpe" | "unigram"
  int vocab_size = 1024;           // including 256 byte tokens and <unk>, <s>, </s>
  int threads = 0;                 // 0: OpenMP's thread count (the trainer takes 128 at most)
  // Normalizer settings `gpt prepare` never changes (both off: the text is one
  // stream, kept byte for byte). Tests turn them on to build models that behave
  // like other people's (llama's tokenizer.model has a dummy prefix).
  bool add_dummy_prefix = false;
  bool remove_extra_whitespaces = false;
};
// Trains on `text` in memory (no files); errors from the trainer become gpt::Error.
std::unique_ptr<Tokenizer> train_sentencepiece(const std::string& text, const SentencePieceOptions& opt);
// Lines SentencePiece's trainer sees at most (a seeded draw of the text's lines beyond).
constexpr size_t kMaxTrainingSentences = 1000000;
// Memory SentencePiece's trainer holds beyond a char-level prepare's, per byte of the
// lines it trains on (peak RSS, vocabulary 1024, English with many distinct words: BPE
// 18.5 at 3.3 MB, 13 at 10 MB; unigram 23 and 24; repetitive text needs less).
inline double sentencepiece_training_bytes_per_byte(const std::string& model_type) {
  return model_type == "unigram" ? 28.0 : 20.0;
}
// And what it holds whatever the text's size (unigram's suffix array of 0.5 MB of English
// failed, SentencePiece's own fatal exit, under ulimit -v 48 MB with 28 bytes per byte
// alone counted; it needs about 56).
inline double sentencepiece_training_fixed_bytes(const std::string& model_type) {
  return (model_type == "unigram" ? 16.0 : 8.0) * 1048576.0;
}
// From the bytes of a .model file (a serialized ModelProto); `source` names it in errors.
std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& bytes, const std::string& source);

// What a .model file holds, read from its protocol buffer (works without the library):
// the pieces with their scores and types, and the settings that decide how text is
// encoded. For writers of other formats (formats/hf_tokenizer.cpp); field numbers from
// SentencePiece's sentencepiece_model.proto.
struct SentencePieceModel {
  enum class PieceType { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };
  struct Piece {
    std::string text;  // as stored: "▁the", "<0x0A>", "<s>"
    float score = 0.0f;
    PieceType type = PieceType::normal;
  };
  std::vector<Piece> pieces;  // id order
  int model_type = 1;         // UNIGRAM = 1, BPE = 2, WORD = 3, CHAR = 4
  bool byte_fallback = false;
  bool whitespace_as_suffix = false;
  std::string normalizer;         // NormalizerSpec.name: "identity", "nmt_nfkc", ...
  bool normalizer_rules = false;  // a precompiled character map (what a non-identity normalizer applies)
  bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
};
// nullopt when `bytes` is not a serialized ModelProto.
std::optional<SentencePieceModel> parse_sentencepiece_model(const std::string& bytes);

// ---- llm.c --------------------------------------------------------------------
constexpr int kLlmcTokenizerMagic = 20240328;
// From the bytes of an llm.c tokenizer file (256 int32 header: magic, version 1|2,
// vocab size, EOT id (version 2); then per token a uint8 length and its bytes).
std::unique_ptr<Tokenizer> load_llmc_tokenizer(const std::string& bytes, const std::string& source);

}  // namespace gpt
