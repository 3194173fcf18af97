// Char-level tokenizer: round trips (ASCII and multi-byte UTF-8), vocabulary order,
// strict UTF-8, unknown characters, and the serialized blob (round trip, corruption).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "check.h"
#include "fileio.h"
#include "test_util.h"
#include "tokenizer.h"

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
