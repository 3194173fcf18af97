// Tokenizers. Char-level: round trips (ASCII and multi-byte UTF-8), vocabulary order,
// strict UTF-8, unknown characters, the serialized blob (round trip, corruption).
// SentencePiece: exact round trips of odd and random text, byte fallback, streaming
// decode, agreement with the library's own Encode/Decode, blobs and .model files,
// vocabulary limits. llm.c's tokenizer file: read from files written by its spec.
// load_tokenizer_file: format detection.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "rng.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "rng.h"
#include "test_util.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"

#ifdef GPT_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace gpt {
namespace {

using test::expect_error;

TEST(CharTokenizer, AsciiRoundTrip) {
  const std::string text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\tAll: Speak, speak!";
  auto tok = build_char_tokenizer(text);
  EXPECT_EQ(tok->kind(), "char");
  auto ids = tok->encode(text);
  ASSERT_EQ(ids.size(), text.size());
  for (int id : ids) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, tok->vocab_size());
  }
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(tok->encode(""), std::vector<int>{});
}

TEST(CharTokenizer, MultiByteUtf8RoundTrip) {
  // 2-byte (é, ö), 3-byte (—, ✓) and 4-byte (𝄞) sequences.
  const std::string text = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x80\x94 \xE2\x9C\x93 \xF0\x9D\x84\x9E!";
  auto tok = build_char_tokenizer(text);
  auto ids = tok->encode(text);
  EXPECT_EQ(ids.size(), 18u);  // code points, not bytes
  // distinct: h é l o ' ' w ö r d — ✓ 𝄞 !
  EXPECT_EQ(tok->vocab_size(), 13);
  EXPECT_EQ(tok->decode(ids), text);
  // Each token decodes to one complete code point (streaming output).
  EXPECT_EQ(tok->decode_token(ids[1]), "\xC3\xA9");
  EXPECT_EQ(tok->decode_token(ids[16]), "\xF0\x9D\x84\x9E");
}

// Decodes a one-code-point UTF-8 string (test-only, trusts its input).
uint32_t code_point_of(const std::string& s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  if (s.size() == 1) return u[0];
  if (s.size() == 2) return (u[0] & 0x1Fu) << 6 | (u[1] & 0x3Fu);
  if (s.size() == 3) return (u[0] & 0x0Fu) << 12 | (u[1] & 0x3Fu) << 6 | (u[2] & 0x3Fu);
  return (u[0] & 0x07u) << 18 | (u[1] & 0x3Fu) << 12 | (u[2] & 0x3Fu) << 6 | (u[3] & 0x3Fu);
}

TEST(CharTokenizer, VocabIsSortedAndUnique) {
  auto banana = build_char_tokenizer("banana\nbandana");
  ASSERT_EQ(banana->vocab_size(), 5);
  EXPECT_EQ(banana->decode({0, 1, 2, 3, 4}), "\nabdn");
  EXPECT_EQ(banana->decode_token(4), "n");

  const std::string text = "zz\xE2\x9C\x93 a\xC3\xA9\xF0\x9D\x84\x9E" "a\xC3\xA9Z\n\xE2\x9C\x93";
  auto tok = build_char_tokenizer(text);
  ASSERT_EQ(tok->vocab_size(), 8);  // z ✓ ' ' a é 𝄞 Z \n
  for (int i = 1; i < tok->vocab_size(); i++)
    EXPECT_LT(code_point_of(tok->decode_token(i - 1)), code_point_of(tok->decode_token(i))) << "id " << i;
}

TEST(CharTokenizer, UnknownCharacterIsAnError) {
  auto tok = build_char_tokenizer("abc");
  expect_error([&] { tok->encode("abd"); }, {"'d'", "U+0064", "offset 2", "other text"});
  expect_error([&] { tok->encode("ab\n"); }, {"'\\n'", "U+000A", "offset 2"});
  // Byte offset vs character index differ after a multi-byte character.
  auto tok2 = build_char_tokenizer("a\xC3\xA9");
  expect_error([&] { tok2->encode("\xC3\xA9" "a\xE2\x9C\x93"); },
               {"\xE2\x9C\x93", "U+2713", "byte offset 3", "character 2", "other text"});
}

// A character that takes no room or passes for another is named, not drawn between
// quotes: a combining mark sat on the quote ('Ì'), a no-break space passed for a
// space. The same characters tokenize's table shows as \u{...}.
TEST(CharTokenizer, UnknownCharactersThatPrintAsNothingAreNamed) {
  auto tok = build_char_tokenizer("abe");
  struct Case {
    std::string text, needle;
  };
  const std::vector<Case> cases = {
      {"e\xCC\x81", "character U+0301 (a combining mark)"},
      {"a\xC2\xA0", "character U+00A0 (a no-break space)"},
      {"a\xE2\x80\xA8", "character U+2028 (a line or paragraph separator)"},
      {"a\xE2\x80\x8D", "character U+200D (an invisible character)"},
      {"\xEF\xBB\xBF" "a", "character U+FEFF (a byte-order mark)"},
      {"a\x07", "character U+0007 at"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.needle);
    const std::string ch = c.text[0] == 'a' || c.text[0] == 'e' ? c.text.substr(1) : c.text.substr(0, 3);
    try {
      tok->encode(c.text);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(c.needle), std::string::npos) << m;
      EXPECT_EQ(m.find("'" + ch + "'"), std::string::npos) << m;  // not drawn between quotes
    }
  }
}

// A byte-order mark that starts the text, or the \r of Windows line endings, that the
// vocabulary lacks: the error says how to remove it (it said to retrain on such text).
TEST(CharTokenizer, ALeadingByteOrderMarkOrACarriageReturnSaysHowToRemoveIt) {
  auto tok = build_char_tokenizer("ab\n");
  expect_error([&] { tok->encode("\xEF\xBB\xBF" "ab"); },
               {"U+FEFF (a byte-order mark) at byte offset 0", "starts with a byte-order mark", "sed -i '1s/^\\xEF"});
  expect_error([&] { tok->encode("ab\r\nab"); }, {"U+000D", "Windows line endings", "sed -i 's/\\r$//'"});
  for (const std::string& other : {std::string("a\xEF\xBB\xBF"), std::string("ab\rab")}) {  // mid-text: no such advice
    try {
      tok->encode(other);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find("sed -i"), std::string::npos) << e.what();
    }
  }
}

TEST(CharTokenizer, InvalidUtf8IsAnError) {
  struct Case {
    std::string text;
    size_t offset;
  };
  const std::vector<Case> cases = {
      {"ab\xFF", 2},                  // never valid
      {"a\x80", 1},                   // stray continuation byte
      {"abc\xC3", 3},                 // cut off by the end
      {"\xC3(", 0},                   // cut off by a non-continuation byte
      {"x\xC0\xAF", 1},               // overlong '/'
      {"\xE0\x80\xAF", 0},            // overlong, 3 bytes
      {"ok\xED\xA0\x80", 2},          // UTF-16 surrogate
      {"\xF4\x90\x80\x80", 0},        // beyond U+10FFFF
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.offset);
    expect_error([&] { build_char_tokenizer(c.text); }, {"invalid UTF-8", "byte offset " + std::to_string(c.offset)});
  }
  auto tok = build_char_tokenizer("abc");
  expect_error([&] { tok->encode("a\xFF"); }, {"invalid UTF-8", "byte offset 1"});
}

TEST(CharTokenizer, EmptyTextAndBadIdsAreErrors) {
  expect_error([] { build_char_tokenizer(""); }, {"empty"});
  auto tok = build_char_tokenizer("abc");
  expect_error([&] { tok->decode_token(3); }, {"token id 3", "vocabulary size 3"});
  expect_error([&] { tok->decode({0, -1}); }, {"token id -1"});
}

TEST(TokenizerBlob, SerializeRoundTrip) {
  const std::string text = "To be, or not to be \xE2\x80\x94 that is the question.\n\xF0\x9D\x84\x9E";
  auto tok = build_char_tokenizer(text);
  const std::string blob = tok->serialize();
  EXPECT_EQ(blob.rfind("gptcc-tokenizer char 1\n", 0), 0u) << blob.substr(0, 40);
  auto back = Tokenizer::deserialize(blob, "test blob");
  EXPECT_EQ(back->kind(), "char");
  EXPECT_EQ(back->vocab_size(), tok->vocab_size());
  EXPECT_EQ(back->encode(text), tok->encode(text));
  EXPECT_EQ(back->serialize(), blob);
}

TEST(TokenizerBlob, CorruptBlobsAreErrors) {
  const std::string good = build_char_tokenizer("ba\n")->serialize();
  ASSERT_EQ(good, "gptcc-tokenizer char 1\nvocab_size 3\nU+000A\nU+0061\nU+0062\nend\n");
  const std::string src = "some/dir/tokenizer.bin";
  struct Case {
    std::string blob, needle;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"\x14\x0a\x35\x01 binary junk", "magic"},
      {"gptcc-tokenizer bpe 1\nwhatever\n", "unknown tokenizer kind \"bpe\""},
      {"gptcc-tokenizer char 2\nvocab_size 1\nU+0061\nend\n", "version 2"},
      {"gptcc-tokenizer char\nvocab_size 1\nU+0061\nend\n", "magic line"},
      {"gptcc-tokenizer char 1\nvocab_size 3\nU+000A\nU+0061\n", "truncated"},
      {"gptcc-tokenizer char 1\nvocab_size 3\nU+000A\nU+0061\nU+0062\nend", "truncated"},
      {"gptcc-tokenizer char 1\nvocab_size 2\nU+000A\nU+0061\nU+0062\nend\n", "end"},
      {"gptcc-tokenizer char 1\nvocab_size 3\nU+000A\nU+0062\nU+0061\nend\n", "increasing"},
      {"gptcc-tokenizer char 1\nvocab_size 3\nU+000A\nU+0061\nU+0061\nend\n", "increasing"},
      {"gptcc-tokenizer char 1\nvocab_size 3\nU+000A\nU+00G1\nU+0062\nend\n", "code point"},
      {"gptcc-tokenizer char 1\nvocab_size 1\nU+D800\nend\n", "code point"},
      {"gptcc-tokenizer char 1\nvocab_size 1\nU+110000\nend\n", "code point"},
      {"gptcc-tokenizer char 1\nvocab_size 0\nend\n", "vocab_size"},
      {"gptcc-tokenizer char 1\nvocab_size -1\nend\n", "vocab_size"},
      {"gptcc-tokenizer char 1\nvocab_size 99999999999999999999999\nend\n", "vocab_size"},
      {good + "x", "extra data"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.blob);
    expect_error([&] { Tokenizer::deserialize(c.blob, src); }, {src, c.needle});
  }
  // A corrupted byte anywhere either fails cleanly or yields a valid tokenizer; never UB.
  for (size_t i = 0; i < good.size(); i++) {
    std::string bad = good;
    bad[i] = char(bad[i] ^ 0x5A);
    try {
      Tokenizer::deserialize(bad, src);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(src), std::string::npos) << e.what();
    }
  }
}

TEST(TokenizerBlob, SaveAndLoadDir) {
  const std::string dir = test::scratch_dir();
  auto tok = build_char_tokenizer("h\xC3\xA9llo w\xC3\xB6rld");
  tok->save_dir(dir);
  const std::string path = join_path(dir, kTokenizerFile);
  EXPECT_EQ(read_file(path), tok->serialize());
  auto back = Tokenizer::load_dir(dir);
  EXPECT_EQ(back->serialize(), tok->serialize());

  const std::string empty_dir = join_path(dir, "nothing_here");
  make_dirs(empty_dir);
  expect_error([&] { Tokenizer::load_dir(empty_dir); }, {join_path(empty_dir, kTokenizerFile), "gpt prepare"});
  write_file_atomic(path, "gptcc-tokenizer char 7\n");
  expect_error([&] { Tokenizer::load_dir(dir); }, {path, "version 7"});
}

}  // namespace
}  // namespace gpt

// ---- SentencePiece, llm.c's tokenizer file, load_tokenizer_file -------------------------
namespace gpt {
namespace {

using test::expect_error;

// English-like training text: a few dozen words, punctuation, lines of varying length.
std::string corpus(size_t bytes = 30000) {
  const char* words[] = {
      "the",    "king",   "and",     "queen",  "of",      "my",     "lord",    "shall",  "not",    "speak",
      "to",     "thee",   "with",    "what",   "good",    "night",  "sweet",   "prince", "come",   "away",
      "death",  "love",   "is",      "a",      "sword",   "house",  "Rome",    "never",  "again",  "here",
      "there",  "Romeo",  "Juliet",  "I",      "you",     "be",     "father",  "mother", "brother", "sister",
      "gentle", "noble",  "heaven",  "earth",  "tomorrow", "yesterday", "fortune", "honour", "daughter", "crown",
      "which",  "whose",  "wherefore", "art",  "thou",    "hath",   "doth",    "upon",   "against", "marry",
      "villain", "madam", "sirrah",  "tongue", "heart",   "blood",  "grave",   "peace",  "war",    "Verona"};
  const char* punct[] = {" ", " ", " ", " ", ", ", ". ", "; ", "! ", "? ", ":\n", ".\n", "\n\n"};
  SplitMix64 r(7);
  std::string text;
  while (text.size() < bytes) {
    text += words[r.below(sizeof words / sizeof *words)];
    text += punct[r.below(sizeof punct / sizeof *punct)];
  }
  return text;
}

// One model per configuration, trained once for the whole test binary.
const Tokenizer& trained(const std::string& type, bool dummy_prefix = false, bool remove_ws = false) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  const std::string key = type + (dummy_prefix ? "+dummy" : "") + (remove_ws ? "+ws" : "");
  auto& slot = cache[key];
  if (!slot) {
    SentencePieceOptions o;
    o.model_type = type;
    o.vocab_size = 350;
    o.add_dummy_prefix = dummy_prefix;
    o.remove_extra_whitespaces = remove_ws;
    slot = train_sentencepiece(corpus(), o);
  }
  return *slot;
}

// Token by token through a Utf8Stream, as `gpt sample` prints them.
std::string streamed(const Tokenizer& tok, const std::vector<int>& ids) {
  Utf8Stream stream;
  std::string s;
  for (int id : ids) s += tok.stream_token(id, stream);
  return s + stream.finish();
}

// Texts that break lossy tokenizers: whitespace of every kind, characters absent
// from the training text, things that look like SentencePiece's own markup.
const std::vector<std::string>& odd_texts() {
  static const std::vector<std::string> texts = {
      "",
      "x",
      "the king and the queen",
      " leading space",
      "   three leading spaces",
      "trailing spaces   ",
      "several     spaces    inside",
      " ",
      "   ",
      "\n",
      "\n ",
      "\n\n\nblank lines\n\n\n\nbetween\n\n",
      "\ttabs\tand\t\ttabs \t \n",
      "windows\r\nline\r\nends\r\n",
      "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 and a flag \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7",
      "CJK \xE4\xB8\xAD\xE6\x96\x87 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
      "accents: caf\xC3\xA9 na\xC3\xAFve \xC3\x85ngstr\xC3\xB6m",
      "combining e\xCC\x81 vs precomposed \xC3\xA9",           // NFC would merge these
      "fullwidth \xEF\xBC\xA1\xEF\xBC\xA2 and ligature \xEF\xAC\x81",  // NFKC would change these
      "SentencePiece's space \xE2\x96\x81 written literally \xE2\x96\x81\xE2\x96\x81x \xE2\x96\x81",
      "\xE2\x96\x81",
      "<s> </s> <unk> <0x0A> <pad> look like special tokens",
      std::string("nul \0 and bell \x07 bytes", 22),
      "\xEF\xBB\xBF" "byte order mark",
      "Z\xC3\x9F\xE2\x82\xAC\xF0\x9D\x84\x9E",  // ZSS-euro-clef: 1, 2, 3 and 4 UTF-8 bytes
  };
  return texts;
}

class SentencePieceTypes : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  }
};

TEST_P(SentencePieceTypes, TrainsTheRequestedVocabulary) {
  const Tokenizer& tok = trained(GetParam());
  EXPECT_EQ(tok.kind(), "sentencepiece");
  EXPECT_EQ(tok.vocab_size(), 350);
  EXPECT_TRUE(tok.can_encode());
  EXPECT_NE(tok.describe().find(GetParam() == "bpe" ? "BPE" : "unigram"), std::string::npos) << tok.describe();
  // Every byte has its token (byte fallback), and it decodes to that raw byte.
  std::vector<bool> byte_seen(256, false);
  for (int id = 0; id < tok.vocab_size(); id++) {
    const std::string p = tok.piece(id);
    if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
      const int b = std::stoi(p.substr(3, 2), nullptr, 16);
      EXPECT_EQ(tok.decode_token(id), std::string(1, char(b))) << p;
      byte_seen[size_t(b)] = true;
    }
  }
  EXPECT_EQ(std::count(byte_seen.begin(), byte_seen.end(), true), 256);
}

TEST_P(SentencePieceTypes, OddTextRoundTripsExactly) {
  const Tokenizer& tok = trained(GetParam());
  for (const std::string& text : odd_texts()) {
    SCOPED_TRACE(text);
    const auto ids = tok.encode(text);
    for (int id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size()) << id;
    EXPECT_EQ(tok.decode(ids), text);
    EXPECT_EQ(streamed(tok, ids), text);  // no dummy prefix: streaming is decode
  }
  EXPECT_TRUE(tok.encode("").empty());
}

TEST_P(SentencePieceTypes, UnseenCharactersBecomeTheirUtf8Bytes) {
  const Tokenizer& tok = trained(GetParam());
  // U+4E2D is E4 B8 AD in UTF-8; the training text has no CJK at all.
  const auto ids = tok.encode("\xE4\xB8\xAD");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(tok.piece(ids[0]), "<0xE4>");
  EXPECT_EQ(tok.piece(ids[1]), "<0xB8>");
  EXPECT_EQ(tok.piece(ids[2]), "<0xAD>");
  // A literal U+2581 (E2 96 81) is SentencePiece's space symbol: spelled in bytes, so
  // it does not come back as a space.
  const auto sp = tok.encode("a\xE2\x96\x81" "b");
  ASSERT_GE(sp.size(), 5u);
  EXPECT_EQ(tok.piece(sp[1]), "<0xE2>");
  EXPECT_EQ(tok.decode(sp), "a\xE2\x96\x81" "b");
  // Spaces are "▁" in pieces and ' ' in text; no piece text contains the marker.
  for (int id = 0; id < tok.vocab_size(); id++)
    EXPECT_EQ(tok.decode_token(id).find("\xE2\x96\x81"), std::string::npos) << tok.piece(id);
}

TEST_P(SentencePieceTypes, RandomTextRoundTrips) {
  const Tokenizer& tok = trained(GetParam());
  const std::vector<std::string> parts = {"a", "b", "e", "th", "king", " ", "  ", "\n", "\n\n", "\t", "\r", ",",
                                          "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xE2\x96\x81", "<",
                                          "0x", std::string(1, '\x01'), "'", "Q", "\xCC\x81"};
  SplitMix64 r(99);
  for (int c = 0; c < 300; c++) {
    std::string text;
    const int n = int(r.below(40));
    for (int k = 0; k < n; k++) text += parts[r.below(parts.size())];
    const auto ids = tok.encode(text);
    ASSERT_EQ(tok.decode(ids), text) << "case " << c;
    ASSERT_EQ(streamed(tok, ids), text) << "case " << c;
  }
}

TEST_P(SentencePieceTypes, StreamedTokensEqualDecodeForAnyIds) {
  const Tokenizer& tok = trained(GetParam());
  SplitMix64 r(5);
  for (int c = 0; c < 200; c++) {
    std::vector<int> ids(r.below(20));
    for (int& id : ids) id = int(r.below(uint64_t(tok.vocab_size())));
    EXPECT_EQ(streamed(tok, ids), tok.decode(ids));
  }
  // Control tokens print nothing; <unk> prints SentencePiece's " ⁇ ".
  EXPECT_EQ(tok.piece(0), "<unk>");
  EXPECT_EQ(tok.decode_token(0), " \xE2\x81\x87 ");
  EXPECT_EQ(tok.piece(1), "<s>");
  EXPECT_EQ(tok.decode_token(1), "");
  EXPECT_EQ(tok.decode_token(2), "");
  expect_error([&] { tok.decode_token(350); }, {"token id 350", "vocabulary size 350"});
  expect_error([&] { tok.decode({-1}); }, {"token id -1"});
}

TEST_P(SentencePieceTypes, InvalidUtf8IsAnError) {
  const Tokenizer& tok = trained(GetParam());
  expect_error([&] { tok.encode("ok\xFF"); }, {"invalid UTF-8", "byte offset 2"});
  expect_error([&] { tok.encode("\xE2\x96"); }, {"invalid UTF-8", "byte offset 0"});
}

TEST_P(SentencePieceTypes, BlobAndModelFileRoundTrip) {
  const Tokenizer& tok = trained(GetParam());
  const std::string blob = tok.serialize();
  const std::string model = tok.native_file();
  const std::string head = "gptcc-tokenizer sentencepiece 1\nvocab_size 350\nmodel_bytes " +
                           std::to_string(model.size()) + "\n";
  ASSERT_EQ(blob, head + model + "end\n");
  auto back = Tokenizer::deserialize(blob, "blob");
  EXPECT_EQ(back->serialize(), blob);
  const std::string dir = test::scratch_dir();
  const std::string path = join_path(dir, "my.model");
  write_file_atomic(path, model);
  auto from_file = load_tokenizer_file(path);
  EXPECT_EQ(from_file->serialize(), blob);
  const std::string text = corpus(2000) + odd_texts()[14];
  EXPECT_EQ(back->encode(text), tok.encode(text));
  EXPECT_EQ(from_file->encode(text), tok.encode(text));
  // The blob written as a file is detected too.
  write_file_atomic(join_path(dir, "t.bin"), blob);
  EXPECT_EQ(load_tokenizer_file(join_path(dir, "t.bin"))->serialize(), blob);
}

TEST_P(SentencePieceTypes, TrainingIsDeterministic) {
  SentencePieceOptions o;
  o.model_type = GetParam();
  o.vocab_size = 350;
  const Tokenizer& tok = trained(GetParam());
  EXPECT_EQ(train_sentencepiece(corpus(), o)->native_file(), tok.native_file());
  // Another thread count: BPE gives the same bytes; unigram the same pieces (its
  // scores are float sums whose last bits depend on how the work was split).
  o.threads = 1;
  auto one = train_sentencepiece(corpus(), o);
  if (GetParam() == "bpe") {
    EXPECT_EQ(one->native_file(), tok.native_file());
  }
  for (int id = 0; id < tok.vocab_size(); id++) ASSERT_EQ(one->piece(id), tok.piece(id));
  EXPECT_EQ(one->encode(corpus(3000)), tok.encode(corpus(3000)));
}

INSTANTIATE_TEST_SUITE_P(SentencePiece, SentencePieceTypes, ::testing::Values("bpe", "unigram"));

#ifdef GPT_HAVE_SENTENCEPIECE
// Against the library itself: our encode is SentencePiece's Encode, our decode its
// Decode, for models with and without a dummy prefix / whitespace collapsing.
struct LibraryCase {
  std::string type;
  bool dummy, remove_ws;
};
std::ostream& operator<<(std::ostream& o, const LibraryCase& c) {
  return o << c.type << (c.dummy ? " dummy prefix" : "") << (c.remove_ws ? " collapsing whitespace" : "");
}

class SentencePieceLibrary : public ::testing::TestWithParam<LibraryCase> {};

TEST_P(SentencePieceLibrary, EncodeAndDecodeMatchTheLibrary) {
  const LibraryCase c = GetParam();
  const Tokenizer& tok = trained(c.type, c.dummy, c.remove_ws);
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.LoadFromSerializedProto(tok.native_file()).ok());
  ASSERT_EQ(sp.GetPieceSize(), tok.vocab_size());
  std::vector<std::string> texts = odd_texts();
  texts.push_back(corpus(5000));
  for (const std::string& text : texts) {
    SCOPED_TRACE(text.substr(0, 60));
    std::vector<int> want;
    ASSERT_TRUE(sp.Encode(text, &want).ok());
    const auto ids = tok.encode(text);
    const bool literal_space_symbol = text.find("\xE2\x96\x81") != std::string::npos;
    const bool several_lines = text.find('\n') != std::string::npos && text.find('\n') + 1 < text.size();
    // Differences by design: without a dummy prefix a literal U+2581 is spelled in
    // bytes (SentencePiece reads it as a space); a unigram model encodes line by line
    // (the same up to exact score ties).
    if (!(literal_space_symbol && !c.dummy && !c.remove_ws) && !(c.type == "unigram" && several_lines)) {
      EXPECT_EQ(ids, want);
    }
    std::string lib;
    ASSERT_TRUE(sp.Decode(ids, &lib).ok());
    EXPECT_EQ(tok.decode(ids), lib);
    for (int id : ids) EXPECT_EQ(tok.piece(id), sp.IdToPiece(id));
  }
  // Any ids at all: control tokens first, <unk>, "▁" pieces, byte tokens that
  // form no character (U+FFFD), and a stream of the tokens agrees when the model
  // has no dummy prefix.
  SplitMix64 r(11);
  for (int k = 0; k < 1000; k++) {
    std::vector<int> ids;
    const int n = int(r.below(8));
    for (int i = 0; i < n; i++) {
      const uint64_t kind = r.below(4);
      ids.push_back(kind == 0 ? int(r.below(3)) : kind == 1 ? int(3 + r.below(256)) : int(r.below(uint64_t(tok.vocab_size()))));
    }
    std::string lib;
    ASSERT_TRUE(sp.Decode(ids, &lib).ok());
    EXPECT_EQ(tok.decode(ids), lib) << "case " << k;
    if (!c.dummy && !c.remove_ws) {
      EXPECT_EQ(streamed(tok, ids), lib) << "case " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SentencePiece, SentencePieceLibrary,
                         ::testing::Values(LibraryCase{"bpe", false, false}, LibraryCase{"unigram", false, false},
                                           LibraryCase{"bpe", true, false}, LibraryCase{"unigram", true, false},
                                           LibraryCase{"bpe", false, true}, LibraryCase{"bpe", true, true}),
                         [](const auto& info) {
                           return info.param.type + (info.param.dummy ? "_dummy" : "") +
                                  (info.param.remove_ws ? "_collapse" : "");
                         });
#endif

// Code: each indentation space was a token of its own ("▁" seven times before
// "return"), 1.79 characters per token on Python's standard library at BPE 1024. Runs of
// spaces may now be pieces (2.53 there; prose such as Tiny Shakespeare unchanged).
TEST(SentencePiece, RunsOfSpacesBecomePieces) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  std::string code;
  for (int i = 0; i < 1500; i++)
    code += "def f" + std::to_string(i) + "(x):\n    if x > " + std::to_string(i % 7) + ":\n        return x + " +
            std::to_string(i % 13) + "\n    return None\n\n";
  for (const char* type : {"bpe", "unigram"}) {
    SentencePieceOptions opt;
    opt.model_type = type;
    opt.vocab_size = 400;
    const auto tok = train_sentencepiece(code, opt);
    const std::string line = "        return x + 1\n";
    const auto ids = tok->encode(line);
    EXPECT_EQ(tok->decode(ids), line) << type;
    size_t space_tokens = 0;  // tokens made of spaces only
    for (int id : ids) space_tokens += tok->decode_token(id).find_first_not_of(' ') == std::string::npos;
    EXPECT_LE(space_tokens, 4u) << type << ": " << ids.size() << " tokens";  // were 7 (bpe) and 10 (unigram)
  }
}

// A space is always a piece. SentencePiece turns spaces into ▁ before it looks pieces up;
// trained on text with no spaces (a CSV) or few (CJK prose), ▁ had no piece, byte fallback
// spelled the character ▁, and decoding gave "north▁widget" for "north widget" (also in
// the prepared shards: the model learned ▁ where the text had a space).
TEST(SentencePiece, ASpaceDecodesAsASpaceWhateverTheTrainingTextHeld) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  std::string csv, cjk;
  SplitMix64 r(3);
  for (int i = 0; i < 3000; i++)
    csv += std::to_string(i) + ",2026-01-" + std::to_string(1 + i % 28) + "," + (i % 3 ? "north" : "south") +
           "," + std::to_string(r.below(1000)) + "\n";
  // 400 distinct CJK characters (past 256: the trainer keeps only the most frequent) and
  // one space in 200 lines.
  for (int line = 0; line < 2000; line++) {
    for (int k = 0; k < 30; k++) {
      const uint32_t cp = 0x4E00 + uint32_t(r.below(400));
      cjk += char(0xE0 | (cp >> 12));
      cjk += char(0x80 | ((cp >> 6) & 0x3F));
      cjk += char(0x80 | (cp & 0x3F));
    }
    cjk += line % 200 == 0 ? " 临\n" : "\n";
  }
  for (const auto& [name, text] : {std::pair<std::string, std::string>{"csv", csv}, {"cjk", cjk}})
    for (const char* type : {"bpe", "unigram"}) {
      SentencePieceOptions opt;
      opt.model_type = type;
      opt.vocab_size = 400;
      const auto tok = train_sentencepiece(text, opt);
      for (const std::string& probe : {std::string("1,2026-01-01,north widget\n"), std::string("a b  c\n"),
                                       std::string("\xe4\xb8\x80 \xe4\xb8\x81\n")})
        EXPECT_EQ(tok->decode(tok->encode(probe)), probe) << name << " " << type;
      EXPECT_TRUE(tok->decode(tok->encode(text)) == text) << name << " " << type << ": the training text itself";
    }
}

TEST(SentencePiece, DummyPrefixIsDroppedOnlyAtTheStart) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  // llama-style model: the encoder puts "▁" in front of the text.
  const Tokenizer& tok = trained("bpe", true);
  EXPECT_NE(tok.describe().find("dummy prefix"), std::string::npos) << tok.describe();
  for (const std::string& text : {std::string("the king"), std::string(" the king"), std::string("x\ny")}) {
    const auto ids = tok.encode(text);
    EXPECT_EQ(tok.decode(ids), text);
    // Token by token, the first piece keeps its space: streaming prints " the king".
    // (`gpt sample` prints the prompt as given and streams only what follows it.)
    EXPECT_EQ(streamed(tok, ids), " " + text);
  }
  // Control tokens before the first word do not count as the start.
  auto ids = tok.encode("the king");
  ids.insert(ids.begin(), 1);  // <s>
  EXPECT_EQ(tok.decode(ids), "the king");
}

TEST(SentencePiece, ShakespeareRoundTripsThroughPrepare) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  std::string path = "data/tinyshakespeare.txt";
  if (const char* m = std::getenv("GPT_DATA_MIRROR")) path = join_path(m, "tinyshakespeare.txt");
  if (!file_exists(path)) GTEST_SKIP() << path << " not found (run scripts/get_data.sh)";
  const std::string text = read_file(path);
  const std::string out = test::scratch_dir();
  const std::string summary = prepare_data(path, out, "bpe", 0.1, 512);
  auto tok = Tokenizer::load_dir(out);
  EXPECT_EQ(tok->kind(), "sentencepiece");
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(read_file(join_path(out, kSentencePieceFile)), tok->native_file());
  const auto train = read_shard(join_path(out, "train.bin")), val = read_shard(join_path(out, "val.bin"));
  const size_t n = train.size() + val.size();
  EXPECT_LT(n, text.size() * 2 / 3);  // BPE-512: well under one token per character
  EXPECT_EQ(val.size(), size_t(std::llround(0.1 * double(n))));
  std::vector<int> ids(train.begin(), train.end());
  ids.insert(ids.end(), val.begin(), val.end());
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(streamed(*tok, ids), text);
  EXPECT_EQ(tok->encode(text), ids);
  EXPECT_EQ(summary.find("WARNING"), std::string::npos) << summary;
  // Unigram on the same text.
  SentencePieceOptions o;
  o.model_type = "unigram";
  o.vocab_size = 2048;
  auto uni = train_sentencepiece(text, o);
  EXPECT_EQ(uni->decode(uni->encode(text)), text);
}

TEST(SentencePiece, PrepareReusesAModelFile) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  const std::string dir = test::scratch_dir();
  const std::string model = join_path(dir, "shared.model"), input = join_path(dir, "input.txt");
  write_file_atomic(model, trained("unigram").native_file());
  const std::string text = corpus(8000) + odd_texts()[15];
  write_file_atomic(input, text);
  const std::string out = join_path(dir, "data");
  prepare_data(input, out, model, 0.2);
  auto tok = Tokenizer::load_dir(out);
  EXPECT_EQ(tok->serialize(), trained("unigram").serialize());
  EXPECT_EQ(read_file(join_path(out, kSentencePieceFile)), read_file(model));
  const auto train = read_shard(join_path(out, "train.bin")), val = read_shard(join_path(out, "val.bin"));
  std::vector<int> ids(train.begin(), train.end());
  ids.insert(ids.end(), val.begin(), val.end());
  EXPECT_EQ(ids, tok->encode(text));
  EXPECT_EQ(tok->decode(ids), text);
  // The model decides the vocabulary.
  expect_error([&] { prepare_data(input, out, model, 0.2, 500); }, {"--vocab-size", "tokenizer file"}, kExitUsage);
  // A char prepare into the same directory removes the now-stale tokenizer.model.
  prepare_data(input, out, "char", 0.2);
  EXPECT_FALSE(file_exists(join_path(out, kSentencePieceFile)));
}

TEST(SentencePiece, PrepareNeverSplitsInsideACharacter) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  const std::string dir = test::scratch_dir();
  const std::string model = join_path(dir, "ascii.model"), input = join_path(dir, "input.txt");
  write_file_atomic(model, trained("bpe").native_file());
  // The end of the text is characters the model spells in 3 or 4 byte tokens.
  std::string text = corpus(3000);
  for (int i = 0; i < 300; i++) text += i % 2 ? "\xE4\xB8\xAD" : "\xF0\x9F\x98\x80";
  write_file_atomic(input, text);
  for (double vf : {0.2, 0.201, 0.202, 0.203, 0.25, 0.3}) {
    SCOPED_TRACE(vf);
    const std::string out = join_path(dir, "data");
    prepare_data(input, out, model, vf);
    auto tok = Tokenizer::load_dir(out);
    const auto train = read_shard(join_path(out, "train.bin")), val = read_shard(join_path(out, "val.bin"));
    const std::string a = tok->decode(std::vector<int>(train.begin(), train.end()));
    const std::string b = tok->decode(std::vector<int>(val.begin(), val.end()));
    EXPECT_EQ(a + b, text);
    const double want = vf * double(train.size() + val.size());
    EXPECT_LE(std::fabs(double(val.size()) - want), 3.0);  // moved by at most 3 byte tokens
  }
}

TEST(SentencePiece, VocabularyLimits) {
  // A .model with 65537 pieces, written from the protobuf wire format: ModelProto
  // field 1 (pieces), each a SentencePiece message with field 1 (piece) = "pN".
  std::string proto;
  for (int i = 0; i < 65537; i++) {
    const std::string name = "p" + std::to_string(i);
    const std::string msg = std::string(1, '\x0A') + char(name.size()) + name;
    proto += std::string(1, '\x0A') + char(msg.size()) + msg;
  }
  const std::string dir = test::scratch_dir();
  const std::string path = join_path(dir, "huge.model");
  write_file_atomic(path, proto);
  expect_error([&] { load_tokenizer_file(path); }, {path, "65537", "65536"});
  SentencePieceOptions o;
  o.vocab_size = 65537;
  expect_error([&] { train_sentencepiece("abc", o); }, {"--vocab-size", "65536"}, kExitUsage);
  o.vocab_size = 100;
  expect_error([&] { train_sentencepiece("abc", o); }, {"--vocab-size", "260"}, kExitUsage);
  o.model_type = "wordpiece";
  expect_error([&] { train_sentencepiece("abc", o); }, {"wordpiece", "bpe or unigram"}, kExitUsage);
  if (!have_sentencepiece()) return;
  // More tokens than the text can make, or fewer than it needs.
  o.model_type = "bpe";
  o.vocab_size = 5000;
  expect_error([&] { train_sentencepiece("a tiny text\n", o); }, {"failed", "smaller --vocab-size"}, kExitUsage);
  o.vocab_size = 270;
  std::string many_chars;
  for (uint32_t cp = 0x4E00; cp < 0x4E00 + 40; cp++) {
    many_chars += char(0xE0 | (cp >> 12));
    many_chars += char(0x80 | ((cp >> 6) & 0x3F));
    many_chars += char(0x80 | (cp & 0x3F));
  }
  expect_error([&] { train_sentencepiece(many_chars, o); }, {"failed", "larger --vocab-size"}, kExitUsage);
}

// More tokens than the text can make: the library's own words leaked ("Internal:
// ./src/trainer_interface.cc(660) [(trainer_spec_.vocab_size()) == ...] Vocabulary size too
// high (5000). Please set it to a value <= 271."). The numbers are said plainly, and the
// largest size named works.
TEST(SentencePiece, TooLargeAVocabularyIsSaidInPlainWords) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  for (const char* type : {"bpe", "unigram"}) {
    SCOPED_TRACE(type);
    SentencePieceOptions o;
    o.model_type = type;
    o.vocab_size = 5000;
    std::string msg;
    try {
      train_sentencepiece("a tiny text\n", o);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      msg = e.what();
    }
    for (const char* leak : {"Internal", ".cc(", "trainer_spec_", "Please set"})
      EXPECT_EQ(msg.find(leak), std::string::npos) << leak << " in: " << msg;
    const size_t at = msg.find("at most ");
    ASSERT_NE(at, std::string::npos) << msg;
    const int most = std::atoi(msg.c_str() + at + 8);
    EXPECT_GE(most, 260) << msg;
    EXPECT_NE(msg.find("5000"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--vocab-size " + std::to_string(most)), std::string::npos) << msg;
    if (std::string(type) == "bpe") {  // (unigram's limit is an estimate; bpe's is exact)
      o.vocab_size = most;
      EXPECT_EQ(train_sentencepiece("a tiny text\n", o)->vocab_size(), most);
    }
  }
}

TEST(SentencePiece, WithoutTheLibraryErrorsSayHowToGetIt) {
  if (have_sentencepiece()) GTEST_SKIP() << "built with SentencePiece";
  const std::string dir = test::scratch_dir();
  const std::string input = join_path(dir, "input.txt");
  write_file_atomic(input, corpus(1000));
  expect_error([&] { prepare_data(input, dir, "bpe", 0.1); }, {"libsentencepiece-dev", "char"});
  SentencePieceOptions o;
  expect_error([&] { train_sentencepiece(corpus(1000), o); }, {"libsentencepiece-dev"});
  // A .model file is still recognised, and the message says what it is.
  std::string proto;
  for (const char* p : {"<unk>", "a", "b"}) {
    const std::string msg = std::string(1, '\x0A') + char(std::strlen(p)) + p;
    proto += std::string(1, '\x0A') + char(msg.size()) + msg;
  }
  write_file_atomic(join_path(dir, "x.model"), proto);
  expect_error([&] { load_tokenizer_file(join_path(dir, "x.model")); },
               {"x.model", "SentencePiece model", "3 tokens", "libsentencepiece-dev"});
}

TEST(SentencePiece, CorruptBlobsAreErrors) {
  const std::string src = "d/tokenizer.bin";
  const std::string head = "gptcc-tokenizer sentencepiece 1\n";
  struct Case {
    std::string blob, needle;
  };
  const std::vector<Case> cases = {
      {"gptcc-tokenizer sentencepiece 2\nvocab_size 3\n", "version 2"},
      {head + "vocab_size 0\nmodel_bytes 3\nabcend\n", "vocab_size"},
      {head + "vocab_size 70000\nmodel_bytes 3\nabcend\n", "vocab_size"},
      {head + "vocab_size 3\nbytes 3\nabcend\n", "model_bytes"},
      {head + "vocab_size 3\nmodel_bytes 100\nabcend\n", "truncated"},
      {head + "vocab_size 3\nmodel_bytes 3\nabcd\n", "end"},
      {head + "vocab_size 3\nmodel_bytes 3\nabcend\nmore", "extra data"},
      {head + "vocab_size 3\nmodel_bytes 3\nabcend\n", "not a SentencePiece model"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.blob);
    expect_error([&] { Tokenizer::deserialize(c.blob, src); }, {src, c.needle});
  }
  if (!have_sentencepiece()) return;
  const std::string good = trained("bpe").serialize();
  expect_error([&] { Tokenizer::deserialize(std::string(good).replace(good.find("350"), 3, "351"), src); },
               {src, "vocab_size 351 disagrees"});
  // A flipped byte anywhere fails cleanly or still loads; never a crash.
  SplitMix64 r(3);
  for (int k = 0; k < 300; k++) {
    std::string bad = good;
    bad[r.below(bad.size())] ^= char(1 + r.below(255));
    try {
      auto t = Tokenizer::deserialize(bad, src);
      t->decode(t->encode("the king\n"));
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(src), std::string::npos) << e.what();
    }
  }
}

// ---- Utf8Stream ----

std::string fffd(int n) {
  std::string s;
  for (int i = 0; i < n; i++) s += "\xEF\xBF\xBD";
  return s;
}

TEST(Utf8Stream, InvalidBytesBecomeOneReplacementEach) {
  // What SentencePiece's decode makes of these byte tokens (measured with
  // libsentencepiece 0.1.97), and Unicode's rules for well-formed UTF-8.
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"\xE2", fffd(1)},                                  // cut off by the end
      {"\xE2\x82", fffd(2)},
      {"\xE2\x82" "A", fffd(2) + "A"},                   // cut off by a non-continuation byte
      {"\xF0\x9F\x98", fffd(3)},
      {"\x80\x80", fffd(2)},                             // stray continuation bytes
      {"\xED\xA0\x80", fffd(3)},                         // UTF-16 surrogate
      {"\xC0\xAF", fffd(2)},                             // overlong '/'
      {"\xE0\x80\xAF", fffd(3)},                         // overlong, 3 bytes
      {"\xF4\x90\x80\x80", fffd(4)},                     // past U+10FFFF
      {"\xE2(\xA1", fffd(1) + "(" + fffd(1)},
      {"\xF8" "A", fffd(1) + "A"},
      {"\xFF", fffd(1)},
      {"\xC3\xA9", "\xC3\xA9"},
      {"a\xE2\x82\xAC" "b", "a\xE2\x82\xAC" "b"},
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(valid_utf8(c.in), c.out) << c.in;
  for (const std::string& text : odd_texts()) EXPECT_EQ(valid_utf8(text), text);
}

TEST(Utf8Stream, HoldsACharacterBackUntilItIsWhole) {
  Utf8Stream s;
  EXPECT_EQ(s.push("x\xE2"), "x");
  EXPECT_EQ(s.push("\x82"), "");
  EXPECT_EQ(s.push("\xAC\xF0\x9F"), "\xE2\x82\xAC");  // "€", then half an emoji held
  EXPECT_EQ(s.push("\x98\x80!"), "\xF0\x9F\x98\x80!");
  EXPECT_EQ(s.push("\xC3"), "");
  EXPECT_EQ(s.finish(), fffd(1));
  EXPECT_EQ(s.finish(), "");
}

TEST(Utf8Stream, AnySplitGivesTheSameBytes) {
  const std::vector<std::string> parts = {"a", " ", "\n", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80",
                                          "\xC3", "\xE4\xB8", "\xF0\x9F", "\x80", "\xBF", "\xFF", "\xED\xA0",
                                          "\xC0", "\xF4\x90"};
  SplitMix64 r(21);
  for (int c = 0; c < 500; c++) {
    std::string text;
    for (int k = int(r.below(12)); k > 0; k--) text += parts[r.below(parts.size())];
    const std::string whole = valid_utf8(text);
    EXPECT_NO_THROW(tokenizer_detail::check_utf8(whole)) << text;
    Utf8Stream s;
    std::string pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min(text.size() - i, size_t(1 + r.below(4)));
      pieces += s.push(text.substr(i, n));
      i += n;
    }
    EXPECT_EQ(pieces + s.finish(), whole) << text;
  }
}

// ---- llm.c's tokenizer file ----

// Writes an llm.c tokenizer file by its specification (llm.c's tokenizer.h).
std::string llmc_file(int version, const std::vector<std::string>& tokens, int eot = -1) {
  std::vector<int32_t> header(256, 0);
  header[0] = 20240328;
  header[1] = version;
  header[2] = int32_t(tokens.size());
  if (version == 2) header[3] = eot;
  std::string out;
  for (int32_t h : header)
    for (int k = 0; k < 4; k++) out += char((uint32_t(h) >> (8 * k)) & 0xFF);
  for (const auto& t : tokens) out += char(t.size()) + t;
  return out;
}

const std::vector<std::string> kLlmcTokens = {"!", "Hello", " world", "\xE2\x80", "\x94", "\n", "<|endoftext|>"};

TEST(LlmcTokenizer, DecodesVersion1And2Files) {
  const std::string dir = test::scratch_dir();
  for (int version : {1, 2}) {
    SCOPED_TRACE(version);
    const std::string path = join_path(dir, "gpt2_tokenizer_v" + std::to_string(version) + ".bin");
    write_file_atomic(path, llmc_file(version, kLlmcTokens, 6));
    auto tok = load_tokenizer_file(path);
    EXPECT_EQ(tok->kind(), "llmc");
    EXPECT_EQ(tok->vocab_size(), 7);
    EXPECT_FALSE(tok->can_encode());
    EXPECT_EQ(tok->describe().find("end-of-text id 6") != std::string::npos, version == 2) << tok->describe();
    for (int id = 0; id < 7; id++) {
      EXPECT_EQ(tok->decode_token(id), kLlmcTokens[size_t(id)]);
      EXPECT_EQ(tok->piece(id), kLlmcTokens[size_t(id)]);
    }
    // "—" (E2 80 94) split across two tokens comes back whole.
    EXPECT_EQ(tok->decode({1, 2, 3, 4, 0, 5, 6}), "Hello world\xE2\x80\x94!\n<|endoftext|>");
    expect_error([&] { tok->encode("Hello"); }, {"can only decode", "token ids"});
    expect_error([&] { tok->decode_token(7); }, {"token id 7", "vocabulary size 7"});
    // Into our blob and back: the original file, byte for byte.
    const std::string blob = tok->serialize();
    EXPECT_EQ(blob, "gptcc-tokenizer llmc 1\nvocab_size 7\nfile_bytes " + std::to_string(read_file(path).size()) +
                        "\n" + read_file(path) + "end\n");
    auto back = Tokenizer::deserialize(blob, "blob");
    EXPECT_EQ(back->serialize(), blob);
    EXPECT_EQ(back->decode({2, 5}), " world\n");
  }
}

TEST(LlmcTokenizer, BadFilesAreErrors) {
  const std::string dir = test::scratch_dir();
  const std::string good = llmc_file(2, kLlmcTokens, 6);
  auto with_int = [&](int index, int32_t v) {
    std::string s = good;
    for (int k = 0; k < 4; k++) s[size_t(4 * index + k)] = char((uint32_t(v) >> (8 * k)) & 0xFF);
    return s;
  };
  struct Case {
    std::string bytes, needle;
  };
  const std::vector<Case> cases = {
      {good.substr(0, 100), "1024-byte header"},
      {with_int(1, 3), "version 3"},
      {with_int(2, 0), "vocabulary size 0"},
      {with_int(2, 70000), "65536"},
      {with_int(3, 7), "end-of-text id 7"},
      {good.substr(0, good.size() - 3), "truncated"},
      {good.substr(0, 1024 + 3), "truncated"},
      {good + "xx", "2 extra bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.needle);
    const std::string path = join_path(dir, "bad.bin");
    write_file_atomic(path, c.bytes);
    expect_error([&] { load_tokenizer_file(path); }, {path, c.needle});
  }
}

TEST(TokenizerFile, DetectsTheFormatOrSaysWhatItIs) {
  const std::string dir = test::scratch_dir();
  auto at = [&](const std::string& name, const std::string& bytes) {
    const std::string p = join_path(dir, name);
    write_file_atomic(p, bytes);
    return p;
  };
  auto chars = build_char_tokenizer("ab\n");
  EXPECT_EQ(load_tokenizer_file(at("tokenizer.bin", chars->serialize()))->serialize(), chars->serialize());
  expect_error([&] { load_tokenizer_file(join_path(dir, "missing")); }, {"missing", "no such file"});
  expect_error([&] { load_tokenizer_file(dir); }, {dir, "directory", kTokenizerFile});
  expect_error([&] { load_tokenizer_file(at("empty", "")); }, {"empty", "not a tokenizer file", "empty file"});
  expect_error([&] { load_tokenizer_file(at("text.txt", "To be or not to be\n")); },
               {"text.txt", "not a tokenizer file", "SentencePiece", "llm.c", "To be"});
  expect_error([&] { load_tokenizer_file(at("newline.txt", "\nnot protobuf at all\n")); }, {"not a tokenizer file"});
  write_shard(join_path(dir, "train.bin"), {1, 2, 3});
  expect_error([&] { load_tokenizer_file(join_path(dir, "train.bin")); }, {"train.bin", "token shard"});
  expect_error([&] { load_tokenizer_file(at("ck.bin", std::string("ctpg\x01\0\0\0", 8))); }, {"checkpoint", "--ckpt"});
  // A damaged blob still names the file.
  expect_error([&] { load_tokenizer_file(at("bad.bin", "gptcc-tokenizer char 1\nvocab_size 2\nU+0061\n")); },
               {"bad.bin", "truncated"});
}

// A .model cut off (a copy that stopped, a download) was "not a tokenizer file": the
// check for a SentencePiece model needs the whole protocol buffer. A file whose start
// reads as SentencePiece pieces is named as a damaged .model, with its size.
TEST(TokenizerFile, ATruncatedSentencePieceModelIsNamedAsOne) {
  const std::string dir = test::scratch_dir();
  std::string proto;  // ModelProto field 1 (pieces), each with field 1 (piece) and 2 (score)
  for (int i = 0; i < 300; i++) {
    const std::string name = i == 0 ? "<unk>" : "p" + std::to_string(i);
    const std::string msg = std::string(1, '\x0A') + char(name.size()) + name + std::string("\x15\0\0\x80\xBF", 5);
    proto += std::string(1, '\x0A') + char(msg.size()) + msg;
  }
  for (size_t cut : {size_t(1000), size_t(2001), size_t(11)}) {
    SCOPED_TRACE(cut);
    const std::string path = join_path(dir, "cut" + std::to_string(cut) + ".model");
    write_file_atomic(path, proto.substr(0, cut));
    expect_error([&] { load_tokenizer_file(path); },
                 {path, "SentencePiece .model", "truncated or damaged", std::to_string(cut) + " bytes", "<unk>"});
    expect_error([&] { load_sentencepiece_model(proto.substr(0, cut), "x.model"); },
                 {"x.model", "truncated or damaged"});
  }
  // Not even one whole piece: nothing says it is a .model.
  const std::string path = join_path(dir, "cut5.model");
  write_file_atomic(path, proto.substr(0, 5));
  expect_error([&] { load_tokenizer_file(path); }, {path, "not a tokenizer file"});
  // Text whose first bytes read as a piece's tags ("\nI\n\n": a field of 73 bytes holding
  // one of 10) is text, not a damaged .model: a piece is its text, a score and a type.
  const std::string book = join_path(dir, "chapter.txt");
  write_file_atomic(book, "\nI\n\nIt was the best of times.\n");
  expect_error([&] { load_tokenizer_file(book); }, {book, "not a tokenizer file"});
  // A whole model and then a piece without its text: unreadable from where that piece
  // starts (it said "unreadable from byte" the file's size, every byte read).
  const std::string textless = join_path(dir, "textless.model");
  write_file_atomic(textless, proto + std::string("\x0A\x05\x15\0\0\x80\xBF", 7));
  expect_error([&] { load_tokenizer_file(textless); },
               {textless, "truncated or damaged", std::to_string(proto.size() + 7) + " bytes",
                "unreadable from byte " + std::to_string(proto.size()) + ")", "300 whole pieces"});
}

}  // namespace
}  // namespace gpt
