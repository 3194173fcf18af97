// Pieces shared by the tokenizer implementations (tokenizer.cpp, tokenizer_sentencepiece.cpp,
// tokenizer_llmc.cpp): strict UTF-8, the blob line reader, and each kind's blob reader.
// Not part of the interface: include tokenizer.h instead.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "check.h"
#include "text/tokenizer.h"

namespace gpt::tokenizer_detail {

constexpr const char* kBlobMagic = "gptcc-tokenizer";
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

std::string hex_byte(unsigned char b);  // "0xE2"
// At most 40 bytes of s for an error message, non-printable bytes as \xNN.
std::string snippet(const std::string& s);

// Strict UTF-8 decoding of the sequence at text[i]: rejects stray continuation
// bytes, truncated sequences, overlong forms, surrogates and values past U+10FFFF.
// Returns the code point and advances i; throws naming the byte offset.
uint32_t next_code_point(std::string_view text, size_t& i);
// Throws like next_code_point at the first invalid sequence; returns the number of code points.
size_t check_utf8(std::string_view text);

// "123" -> 123; no sign, no spaces, no overflow past `max`.
bool parse_uint(const std::string& s, uint64_t max, uint64_t& out, int base = 10);

// Line-by-line reader over a blob; every error names the source and the line.
class LineReader {
 public:
  LineReader(const std::string& blob, const std::string& source) : blob_(blob), source_(source) {}
  std::string next(const char* what);
  // "<key> N" with N in [lo, hi]; the whole line must be that.
  uint64_t number(const char* key, uint64_t lo, uint64_t hi);
  // n raw bytes (binary payloads), not a line.
  std::string bytes(uint64_t n, const char* what);
  bool at_end() const { return pos_ == blob_.size(); }
  int line() const { return line_; }
  const std::string& source() const { return source_; }
  // Damaged data.
  template <class... A>
  [[noreturn]] void fail(A&&... a) const {
    GPT_FAIL(source_, ": bad tokenizer data: ", std::forward<A>(a)...,
             "; the file is corrupt or was not written by gpt.cc. Re-run `gpt prepare` to recreate it");
  }
  // Well-formed data this build cannot read (unknown kind or version).
  template <class... A>
  [[noreturn]] void unsupported(A&&... a) const {
    GPT_FAIL(source_, ": ", std::forward<A>(a)...);
  }

 private:
  const std::string& blob_;
  const std::string& source_;
  size_t pos_ = 0;
  int line_ = 0;
};

// Blob readers per kind; `in` is positioned after the magic line.
std::unique_ptr<Tokenizer> deserialize_sentencepiece(LineReader& in, int version);
std::unique_ptr<Tokenizer> deserialize_llmc(LineReader& in, int version);

// Does `bytes` parse as protocol-buffer wire format whose first field is
// ModelProto.pieces? (Detects a SentencePiece .model without the library.) Also true for
// one cut off or damaged after its first piece's text: load_sentencepiece_model names it.
bool looks_like_sentencepiece_model(const std::string& bytes);

}  // namespace gpt::tokenizer_detail
