// Tokenizer plumbing (decode, blob I/O, format detection of tokenizer files),
// the helpers every kind shares (strict UTF-8, the blob line reader), and the
// char-level tokenizer: one token per Unicode code point, vocabulary = sorted
// unique code points of the training text. Strict UTF-8 only; no normalization,
// no byte fallback, no unknown-token id. SentencePiece and llm.c's tokenizer live
// in tokenizer_sentencepiece.cpp and tokenizer_llmc.cpp.
#include "text/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <unordered_map>

#include "check.h"
#include "config.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "text/tokenizer_internal.h"

namespace gpt {

// One code point as UTF-8 (declared in tokenizer.h; JSON string escapes use it too).
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

const char* hidden_character(uint32_t c) {
  if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) return "a control character";
  if (c == 0xA0) return "a no-break space";
  if (c >= 0x0300 && c <= 0x036F) return "a combining mark";
  if (c == 0x2028 || c == 0x2029) return "a line or paragraph separator";
  if (c == 0xFEFF) return "a byte-order mark";
  if (c == 0xAD || (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) ||
      (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0100 && c <= 0xE01EF))
    return "an invisible character";
  return nullptr;
}

namespace tokenizer_detail {

std::string hex_byte(unsigned char b) {
  const char* d = "0123456789ABCDEF";
  return std::string("0x") + d[b >> 4] + d[b & 15];
}

std::string snippet(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 40; i++) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) out += char(c);
    else out += "\\x" + hex_byte(c).substr(2);
  }
  return s.size() > 40 ? out + "..." : out;
}

uint32_t next_code_point(std::string_view text, size_t& i) {
  const size_t start = i;
  const unsigned char b0 = static_cast<unsigned char>(text[i]);
  auto bad = [&](const char* why) {
    GPT_FAIL("invalid UTF-8 at byte offset ", start, " (byte ", hex_byte(b0), "): ", why,
             "; the tokenizer needs UTF-8 text (convert it, e.g. `iconv -f latin1 -t utf-8`)");
  };
  if (b0 < 0x80) {
    i++;
    return b0;
  }
  int len;
  uint32_t cp, min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else if (b0 >= 0x80 && b0 <= 0xBF) {
    bad("continuation byte without a lead byte");
    return 0;
  } else {
    bad(b0 == 0xC0 || b0 == 0xC1 ? "overlong encoding" : "byte never valid in UTF-8");
    return 0;
  }
  if (text.size() - start < size_t(len)) bad("sequence cut off by the end of the text");
  for (int k = 1; k < len; k++) {
    const unsigned char b = static_cast<unsigned char>(text[start + k]);
    if ((b & 0xC0) != 0x80) bad("sequence cut off by a non-continuation byte");
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min) bad("overlong encoding");
  if (cp >= 0xD800 && cp <= 0xDFFF) bad("encodes a UTF-16 surrogate");
  if (cp > kMaxCodePoint) bad("code point beyond U+10FFFF");
  i = start + len;
  return cp;
}

size_t check_utf8(std::string_view text) {
  size_t i = 0, n = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) i++;  // ASCII fast path
    else next_code_point(text, i);
    n++;
  }
  return n;
}

bool parse_uint(const std::string& s, uint64_t max, uint64_t& out, int base) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= base || v > (max - uint64_t(d)) / uint64_t(base)) return false;
    v = v * uint64_t(base) + uint64_t(d);
  }
  out = v;
  return true;
}

std::string LineReader::next(const char* what) {
  if (pos_ >= blob_.size())
    fail("truncated: expected ", what, " on line ", line_ + 1, ", found the end of the data");
  size_t nl = blob_.find('\n', pos_);
  if (nl == std::string::npos) fail("truncated: line ", line_ + 1, " (", what, ") has no terminating newline");
  std::string s = blob_.substr(pos_, nl - pos_);
  pos_ = nl + 1;
  line_++;
  return s;
}

uint64_t LineReader::number(const char* key, uint64_t lo, uint64_t hi) {
  const std::string prefix = std::string(key) + " ";
  const std::string line = next(("\"" + prefix + "N\"").c_str());
  uint64_t n = 0;
  if (line.compare(0, prefix.size(), prefix) != 0 || !parse_uint(line.substr(prefix.size()), hi, n) || n < lo)
    fail("expected \"", key, " N\" with ", lo, " <= N <= ", hi, " on line ", line_, ", found \"", snippet(line),
         "\"");
  return n;
}

std::string LineReader::bytes(uint64_t n, const char* what) {
  if (n > blob_.size() - pos_)
    fail("truncated: expected ", n, " bytes of ", what, " after line ", line_, ", found ", blob_.size() - pos_);
  std::string s = blob_.substr(pos_, size_t(n));
  pos_ += size_t(n);
  line_ += int(std::count(s.begin(), s.end(), '\n'));  // line numbers stay true for what follows
  return s;
}

}  // namespace tokenizer_detail

using namespace tokenizer_detail;

namespace {

constexpr int kCharVersion = 1;

std::string code_point_name(uint32_t cp) {  // "U+00E9"
  const char* d = "0123456789ABCDEF";
  std::string s;
  for (int shift = cp > 0xFFFF ? 20 : 12; shift >= 0; shift -= 4) s += d[(cp >> shift) & 15];
  return "U+" + s;
}


// Human-readable form for error messages: 'x' (U+0078), '\n' (U+000A), U+0007.
std::string printable(uint32_t cp) {
  std::string name = code_point_name(cp);
  switch (cp) {
    case '\n': return "'\\n' (" + name + ")";
    case '\t': return "'\\t' (" + name + ")";
    case '\r': return "'\\r' (" + name + ")";
    default: break;
  }
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) return name;  // control characters
  // Characters that take no room on screen or pass for another (quotes around them would
  // look empty, or hold a space; a combining mark would sit on the quote).
  if (const char* hidden = hidden_character(cp)) return name + " (" + hidden + ")";
  std::string s = "'";
  append_utf8(s, cp);
  return s + "' (" + name + ")";
}

class CharTokenizer final : public Tokenizer {
 public:
  // vocab: strictly increasing valid code points (callers guarantee it).
  explicit CharTokenizer(std::vector<uint32_t> vocab) : vocab_(std::move(vocab)) {
    ascii_.fill(-1);
    pieces_.reserve(vocab_.size());
    for (size_t id = 0; id < vocab_.size(); id++) {
      const uint32_t cp = vocab_[id];
      if (cp < ascii_.size()) ascii_[cp] = int(id);
      else index_.emplace(cp, int(id));
      std::string piece;
      append_utf8(piece, cp);
      pieces_.push_back(std::move(piece));
    }
  }

  std::string kind() const override { return "char"; }
  std::string describe() const override { return str("char-level, ", count(vocab_.size(), "character")); }
  int vocab_size() const override { return int(vocab_.size()); }

  std::vector<int> encode(const std::string& text) const override {
    std::vector<int> ids;
    ids.reserve(text.size());
    size_t i = 0, chars = 0;
    while (i < text.size()) {
      const size_t at = i;
      const uint32_t cp = next_code_point(text, i);
      int id = -1;
      if (cp < ascii_.size()) {
        id = ascii_[cp];
      } else {
        auto it = index_.find(cp);
        if (it != index_.end()) id = it->second;
      }
      if (id < 0)
        GPT_FAIL("character ", printable(cp), " at byte offset ", at, " (character ", chars,
                 ") is not in the vocabulary of this char tokenizer (", vocab_.size(),
                 " characters); the tokenizer was built from other text. ",
                 cp == 0xFEFF && at == 0 ? "The text starts with a byte-order mark, which some editors write: remove "
                                           "it (sed -i '1s/^\\xEF\\xBB\\xBF//' FILE)"
                 : cp == '\r' && i < text.size() && text[i] == '\n'
                     ? "The text has Windows line endings (\\r\\n) and the model's had none: convert them "
                       "(sed -i 's/\\r$//' FILE)"
                              : "Use text made of the same characters, or re-run `gpt prepare` on text that includes "
                                "it (and retrain)");
      ids.push_back(id);
      chars++;
    }
    return ids;
  }

  std::string decode_token(int id) const override {
    if (id < 0 || size_t(id) >= pieces_.size())
      GPT_FAIL("token id ", id, " is out of range for this char tokenizer (vocabulary size ",
               pieces_.size(), "); the model and tokenizer do not belong together");
    return pieces_[size_t(id)];
  }
  std::string piece(int id) const override { return decode_token(id); }

  // gptcc-tokenizer char 1\n vocab_size N\n then N lines "U+XXXX\n", then "end\n".
  std::string serialize() const override {
    std::string s = str(kBlobMagic, " char ", kCharVersion, "\nvocab_size ", vocab_.size(), "\n");
    for (uint32_t cp : vocab_) s += code_point_name(cp) + "\n";
    return s + "end\n";
  }

 private:
  std::vector<uint32_t> vocab_;
  std::array<int, 128> ascii_;                // fast path for ASCII
  std::unordered_map<uint32_t, int> index_;  // everything else
  std::vector<std::string> pieces_;           // UTF-8 of each token
};

std::unique_ptr<Tokenizer> deserialize_char(LineReader& in, int version) {
  if (version != kCharVersion)
    in.unsupported("char tokenizer version ", version, " is not supported (this build reads version ",
                   kCharVersion, "); use the gpt.cc version that wrote it, or re-run `gpt prepare`");
  std::string line = in.next("\"vocab_size N\"");
  uint64_t n = 0;
  if (line.rfind("vocab_size ", 0) != 0 || !parse_uint(line.substr(11), kMaxCodePoint + 1, n) || n == 0)
    in.fail("expected \"vocab_size N\" with 1 <= N <= ", kMaxCodePoint + 1, " on line ", in.line(),
            ", found \"", snippet(line), "\"");
  std::vector<uint32_t> vocab;
  vocab.reserve(size_t(n));
  for (uint64_t k = 0; k < n; k++) {
    line = in.next("a code point \"U+XXXX\"");
    uint64_t cp = 0;
    if (line.size() < 6 || line.size() > 8 || line.compare(0, 2, "U+") != 0 ||
        !parse_uint(line.substr(2), kMaxCodePoint, cp, 16) || (cp >= 0xD800 && cp <= 0xDFFF))
      in.fail("expected a code point \"U+XXXX\" (token ", k, ") on line ", in.line(), ", found \"",
              snippet(line), "\"");
    if (!vocab.empty() && cp <= vocab.back())
      in.fail("code points must be strictly increasing, but token ", k, " (", code_point_name(uint32_t(cp)),
              ") on line ", in.line(), " follows ", code_point_name(vocab.back()));
    vocab.push_back(uint32_t(cp));
  }
  line = in.next("\"end\"");
  if (line != "end")
    in.fail("expected \"end\" after ", n, " code points on line ", in.line(), ", found \"", snippet(line),
            "\" (vocab_size disagrees with the data)");
  if (!in.at_end()) in.fail("extra data after \"end\" on line ", in.line());
  return std::make_unique<CharTokenizer>(std::move(vocab));
}

uint32_t le32(const std::string& b) {
  const auto* u = reinterpret_cast<const unsigned char*>(b.data());
  return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

}  // namespace

namespace {

// The UTF-8 sequence at s[i]: its length when valid and complete, 0 when s[i]
// cannot start one here (invalid), -1 when valid so far but cut off by the end of s.
int utf8_sequence(const std::string& s, size_t i) {
  const unsigned char b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
  else if (b0 == 0xE0) len = 3, lo = 0xA0;  // no overlong forms
  else if (b0 >= 0xE1 && b0 <= 0xEC) len = 3;
  else if (b0 == 0xED) len = 3, hi = 0x9F;  // no surrogates
  else if (b0 >= 0xEE && b0 <= 0xEF) len = 3;
  else if (b0 == 0xF0) len = 4, lo = 0x90;
  else if (b0 >= 0xF1 && b0 <= 0xF3) len = 4;
  else if (b0 == 0xF4) len = 4, hi = 0x8F;  // nothing past U+10FFFF
  else return 0;
  for (int k = 1; k < len; k++) {
    if (i + size_t(k) >= s.size()) return -1;
    const unsigned char b = static_cast<unsigned char>(s[i + size_t(k)]);
    if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return 0;
  }
  return len;
}

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

std::string Utf8Stream::push(const std::string& bytes) {
  held_ += bytes;
  std::string out;
  size_t i = 0;
  while (i < held_.size()) {
    const int n = utf8_sequence(held_, i);
    if (n < 0) break;  // wait for the rest of this character
    if (n == 0) out += kReplacement, i++;
    else out.append(held_, i, size_t(n)), i += size_t(n);
  }
  held_.erase(0, i);
  return out;
}

std::string Utf8Stream::finish() {
  std::string out;
  // Whatever is held is a cut-off sequence: its lead byte and, in turn, each stray
  // continuation byte after it.
  for (size_t k = 0; k < held_.size(); k++) out += kReplacement;
  held_.clear();
  return out;
}

std::string valid_utf8(const std::string& bytes) {
  Utf8Stream s;
  std::string out = s.push(bytes);
  return out + s.finish();
}

std::optional<NotUtf8Text> what_is_not_utf8(std::string_view b) {
  auto starts = [&](std::string_view m) { return b.substr(0, m.size()) == m; };
  auto is = [](std::string what, std::string todo) { return NotUtf8Text{std::move(what), std::move(todo)}; };
  // UTF-32's marks first: FF FE 00 00 starts like UTF-16's FF FE.
  const std::string utf32 = "convert it with `iconv -f utf-32 -t utf-8 FILE > FILE.txt`";
  const std::string utf16 = "convert it with `iconv -f utf-16 -t utf-8 FILE > FILE.txt`";
  if (starts(std::string_view("\xFF\xFE\0\0", 4)))
    return is("UTF-32 text (little-endian, byte-order mark FF FE 00 00)", utf32);
  if (starts(std::string_view("\0\0\xFE\xFF", 4)))
    return is("UTF-32 text (big-endian, byte-order mark 00 00 FE FF)", utf32);
  if (starts("\xFF\xFE")) return is("UTF-16 text (little-endian, byte-order mark FF FE)", utf16);
  if (starts("\xFE\xFF")) return is("UTF-16 text (big-endian, byte-order mark FE FF)", utf16);
  if (starts("\x1f\x8b")) return is("gzip-compressed data", "decompress it first with `zcat FILE > FILE.txt`");
  if (starts("BZh")) return is("bzip2-compressed data", "decompress it first with `bzcat FILE > FILE.txt`");
  if (starts("\xfd" "7zXZ")) return is("xz-compressed data", "decompress it first with `xzcat FILE > FILE.txt`");
  if (starts("PK\x03\x04")) return is("a zip archive", "unzip it and give the text files or their directory");
  if (starts("%PDF")) return is("a PDF", "extract its text first, e.g. with `pdftotext FILE FILE.txt`");
  if (starts("\x7f" "ELF")) return is("a program (ELF), not text", "");
  // UTF-16 without a mark, as mostly-Latin text is (of the first 4 KB): at least 3 in 4
  // characters an ASCII one (a NUL, then a printable byte or a line break; so "It’s", whose
  // ’ is 19 20, is still UTF-16, as binary data with NULs seldom is), and a NUL in at most
  // 1 in 16 of the other bytes (Ā, U+0100, is 00 01).
  const size_t n = std::min<size_t>(b.size(), 4096) & ~size_t(1);
  for (size_t zero = 0; zero < 2 && n >= 4; zero++) {
    size_t ascii = 0, other_nul = 0;
    for (size_t i = 0; i < n; i += 2) {
      const unsigned char c = static_cast<unsigned char>(b[i + 1 - zero]);
      if (b[i + zero] == '\0' && ((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\r' || c == '\t')) ascii++;
      other_nul += c == 0;
    }
    const size_t pairs = n / 2;
    const bool utf16 = 4 * ascii >= 3 * pairs && 16 * other_nul <= pairs;
    if (utf16)
      return is(zero ? "UTF-16 text (little-endian, without a byte-order mark: a NUL in every other byte)"
                     : "UTF-16 text (big-endian, without a byte-order mark: a NUL in every other byte)",
                zero ? "convert it with `iconv -f utf-16le -t utf-8 FILE > FILE.txt`"
                     : "convert it with `iconv -f utf-16be -t utf-8 FILE > FILE.txt`");
  }
  // UTF-8 text cut short inside its last character (`head -c`, a broken download): the
  // Latin-1 advice would turn all of its other characters into garbage.
  for (size_t k = 1; k <= 3 && k < b.size(); k++) {
    const unsigned char lead = static_cast<unsigned char>(b[b.size() - k]);
    const size_t len = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3
                       : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
    if (len == 0) {
      if ((lead & 0xC0) == 0x80) continue;  // a continuation byte: the lead is further back
      break;
    }
    const std::string_view whole = b.substr(0, b.size() - k);
    if (len <= k || whole.find('\0') != std::string_view::npos) break;
    try {
      check_utf8(whole);
    } catch (const Error&) {
      break;
    }
    // ASCII text whose last byte alone is not ("Caf\xE9", Latin-1's é) is more likely
    // Latin-1 than UTF-8 cut short: cut off only where the rest holds a character of
    // several bytes, or the end holds a lead and its continuations ("fox\xE2\x80").
    if (k == 1 &&
        std::none_of(whole.begin(), whole.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
      break;
    return is(str("text cut off inside its last character (its first ", whole.size(), " bytes are UTF-8 text; the "
                  "last ", k, " begin a character of ", len, " bytes that never ends)"),
              str("keep its whole characters with `truncate -s ", whole.size(), " FILE` (a file cut short, by "
                  "`head -c` or a broken download?)"));
  }
  // UTF-8 text with a few stray bytes (a paste from elsewhere, a file joined from parts):
  // the Latin-1 advice would turn all of its characters of several bytes into garbage.
  // Latin-1 text rarely holds a valid sequence of several bytes, so more of those than
  // invalid bytes says UTF-8.
  size_t valid_multi = 0, invalid = 0, first_bad = 0;
  for (size_t i = 0; i < b.size() && invalid <= 1000;) {
    if (static_cast<unsigned char>(b[i]) < 0x80) {
      i++;
      continue;
    }
    size_t at = i;
    try {
      next_code_point(b, at);
      valid_multi++;
      i = at;
    } catch (const Error&) {
      if (invalid++ == 0) first_bad = i;
      i++;
    }
  }
  if (invalid > 0 && valid_multi > invalid)
    return is(str("UTF-8 text but for ", invalid > 1000 ? "over 1000" : std::to_string(invalid), " ",
                  invalid == 1 ? "byte that is" : "bytes that are", " not (the first at byte offset ", first_bad,
                  ", ", hex_byte(static_cast<unsigned char>(b[first_bad])), "; ", valid_multi,
                  " characters of several bytes are valid UTF-8)"),
              "it is in no other encoding (converting it from Latin-1 would garble its other characters): fix or "
              "remove those bytes, or drop them with `iconv -f utf-8 -t utf-8 -c FILE > FILE.txt`");
  return std::nullopt;
}

std::string Tokenizer::stream_token(int id, Utf8Stream& stream) const {
  const std::string text = decode_token(id);
  return text.empty() ? stream.finish() : stream.push(text);
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  out.reserve(ids.size());
  Utf8Stream stream;
  for (int id : ids) out += stream_token(id, stream);
  return out + stream.finish();
}

std::unique_ptr<Tokenizer> Tokenizer::deserialize(const std::string& blob, const std::string& source) {
  LineReader in(blob, source);
  if (blob.empty()) in.fail("empty (0 bytes); expected a line \"", kBlobMagic, " <kind> <version>\"");
  if (blob.compare(0, std::string(kBlobMagic).size() + 1, std::string(kBlobMagic) + " ") != 0)
    in.fail("expected magic \"", kBlobMagic, " <kind> <version>\" at the start, found \"",
            snippet(blob.substr(0, blob.find('\n'))), "\"");
  const std::string magic = in.next("the magic line");
  // "gptcc-tokenizer KIND VERSION"
  const size_t sp1 = magic.find(' '), sp2 = magic.find(' ', sp1 + 1);
  uint64_t version = 0;
  if (sp2 == std::string::npos || magic.find(' ', sp2 + 1) != std::string::npos ||
      !parse_uint(magic.substr(sp2 + 1), 1u << 30, version))
    in.fail("expected magic line \"", kBlobMagic, " <kind> <version>\", found \"", snippet(magic), "\"");
  const std::string kind = magic.substr(sp1 + 1, sp2 - sp1 - 1);
  if (kind == "char") return deserialize_char(in, int(version));
  if (kind == "sentencepiece") return deserialize_sentencepiece(in, int(version));
  if (kind == "llmc") return deserialize_llmc(in, int(version));
  in.unsupported("unknown tokenizer kind \"", snippet(kind), "\" (version ", version,
                 "); this build knows: char, sentencepiece, llmc. It may have been written by a newer gpt.cc; "
                 "use that version, or re-run `gpt prepare`");
}

std::unique_ptr<Tokenizer> Tokenizer::load_dir(const std::string& dir) {
  const std::string path = join_path(dir, kTokenizerFile);
  if (!file_exists(path))
    GPT_FAIL(path, ": not found; expected the tokenizer written by `gpt prepare` next to train.bin and "
             "val.bin. Run `gpt prepare` for this data directory");
  return deserialize(read_file(path), path);
}

void Tokenizer::save_dir(const std::string& dir) const {
  write_file_atomic(join_path(dir, kTokenizerFile), serialize());
}

std::unique_ptr<Tokenizer> build_char_tokenizer(const std::string& text) {
  std::vector<bool> seen(kMaxCodePoint + 1, false);  // 136 KiB bitmap: sorted and unique for free
  size_t i = 0, distinct = 0;
  while (i < text.size()) {
    const uint32_t cp = next_code_point(text, i);
    if (!seen[cp]) seen[cp] = true, distinct++;
  }
  if (distinct == 0) GPT_FAIL("cannot build a char tokenizer from empty text; give it some text");
  std::vector<uint32_t> vocab;
  vocab.reserve(distinct);
  for (uint32_t cp = 0; cp <= kMaxCodePoint; cp++)
    if (seen[cp]) vocab.push_back(cp);
  return std::make_unique<CharTokenizer>(std::move(vocab));
}

std::unique_ptr<Tokenizer> load_tokenizer_file(const std::string& path) {
  const char* kinds =
      "gpt.cc's tokenizer.bin (from `gpt prepare`), a SentencePiece .model file, or an llm.c tokenizer file "
      "(gpt2_tokenizer.bin)";
  if (is_directory(path))
    GPT_FAIL(path, ": is a directory; expected a tokenizer file: ", kinds, ". For a data directory give ",
             join_path(path, kTokenizerFile));
  if (!file_exists(path)) GPT_FAIL(path, ": no such file; expected a tokenizer file: ", kinds);
  if (!is_regular_file(path))  // a FIFO or device would block or never end
    GPT_FAIL(path, ": not a regular file (a FIFO, socket or device); expected a tokenizer file: ", kinds);
  const std::string bytes = read_file(path);
  std::unique_ptr<Tokenizer> tok;
  const std::string magic = std::string(kBlobMagic) + " ";
  if (bytes.compare(0, magic.size(), magic) == 0) {
    tok = Tokenizer::deserialize(bytes, path);
  } else if (bytes.size() >= 4 && le32(bytes) == uint32_t(kLlmcTokenizerMagic)) {
    tok = load_llmc_tokenizer(bytes, path);
  } else if (looks_like_sentencepiece_model(bytes)) {
    tok = load_sentencepiece_model(bytes, path);
  } else if (bytes.size() >= 4 && le32(bytes) == uint32_t(kShardMagic)) {
    GPT_FAIL(path, ": is a token shard (magic ", kShardMagic, "), not a tokenizer; the tokenizer of a data "
             "directory is its ", kTokenizerFile);
  } else if (bytes.size() >= 4 && le32(bytes) == kCheckpointMagic) {
    GPT_FAIL(path, ": is a gpt.cc checkpoint, not a tokenizer file; to use the tokenizer stored in a "
             "checkpoint give the checkpoint with --ckpt");
  } else if (bytes.find_first_not_of(" \t\r\n") < bytes.size() && bytes[bytes.find_first_not_of(" \t\r\n")] == '{' &&
             bytes.find("\"model\"") != std::string::npos && bytes.find("\"type\"") != std::string::npos) {
    const std::string dir = parent_dir(path);
    GPT_FAIL(path, ": is a Hugging Face tokenizer.json, which gpt.cc writes for transformers but does not read; "
             "give a tokenizer in gpt.cc's formats: ", kinds,
             file_exists(join_path(dir, kTokenizerFile)) ? ". Beside it: " + join_path(dir, kTokenizerFile)
             : file_exists(join_path(dir, kSentencePieceFile)) ? ". Beside it: " + join_path(dir, kSentencePieceFile)
                                                               : std::string());
  } else {
    GPT_FAIL(path, ": not a tokenizer file: expected ", kinds, "; found ",
             bytes.empty() ? std::string("an empty file") : "bytes \"" + snippet(bytes.substr(0, 16)) + "\"");
  }
  if (tok->vocab_size() > kMaxVocab)
    GPT_FAIL(path, ": has ", tok->vocab_size(), " tokens, but shard tokens are uint16 (at most ", kMaxVocab,
             " ids); use a tokenizer with a smaller vocabulary");
  return tok;
}

}  // namespace gpt
