// The tokenizers from the command line: `gpt tokenize` (rows, ids, exit codes),
// `gpt sample --tokenizer` (overriding or supplying a checkpoint's tokenizer,
// decode-only tokenizers taking ids), and prepare -> train -> sample on
// SentencePiece data printing clean text.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "check.h"
#include "formats/checkpoint.h"
#include "formats/hf_gpt2.h"
#include "formats/json.h"
#include "cli.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "model.h"
#include "rng.h"
#include "test_util.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"

namespace gpt {
namespace {

struct CliRun {
  int rc;
  std::string out, err;
};

// The CLI in-process, stdout and stderr captured.
CliRun gpt_cli(std::vector<std::string> args) {
  CliRun r;
  r.rc = test::run_gpt(std::move(args), &r.out, &r.err);
  return r;
}

std::string words_text(size_t bytes) {
  const char* words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat. ", "dog ", "ran\n", "and ", "then ", "slept.\n"};
  SplitMix64 r(17);
  std::string text;
  while (text.size() < bytes) text += words[r.below(sizeof words / sizeof *words)];
  return text;
}

// DIR/data prepared from `text` with `tokenizer`; returns the data directory.
std::string prepared(const std::string& dir, const std::string& text, const std::string& tokenizer, int vocab = 0) {
  const std::string txt = join_path(dir, "input.txt"), data = join_path(dir, "data_" + tokenizer);
  write_file_atomic(txt, text);
  prepare_data(txt, data, tokenizer, 0.1, vocab);
  return data;
}

// A tiny model trained for a few steps on `data`; returns the run directory.
std::string trained_run(const std::string& dir, const std::string& data, int steps) {
  const std::string run = join_path(dir, "run");
  const CliRun r = gpt_cli({"train", "--data", data, "--out", run, "--steps", std::to_string(steps), "--layers", "2",
                         "--heads", "2", "--dim", "32", "--context", "16", "--batch", "4", "--threads", "2",
                         "--lr", "3e-3", "--warmup", "5", "--eval-every", "0", "--log-every", "100"});
  EXPECT_EQ(r.rc, 0) << r.err;
  return run;
}

std::string llmc_file(const std::vector<std::string>& tokens) {
  std::string out;
  const int32_t header[4] = {20240328, 2, int32_t(tokens.size()), int32_t(tokens.size()) - 1};
  for (int i = 0; i < 256; i++)
    for (int k = 0; k < 4; k++) out += char(i < 4 ? (uint32_t(header[i]) >> (8 * k)) & 0xFF : 0);
  for (const auto& t : tokens) out += char(t.size()) + t;
  return out;
}

TEST(TokenizeCli, RejectsBadCombinationsWithExitCode2) {
  const std::string dir = test::scratch_dir();
  const std::string data = prepared(dir, "hello world\n", "char");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"tokenize", "--encode", "hi"}, "exactly one tokenizer source"},
      {{"tokenize", "--data", data, "--ckpt", "x", "--encode", "hi"}, "exactly one tokenizer source"},
      {{"tokenize", "--data", data, "--tokenizer", "x", "--decode", "1"}, "exactly one tokenizer source"},
      {{"tokenize", "--data", data}, "exactly one of --encode"},
      {{"tokenize", "--data", data, "--encode", "a", "--decode", "1"}, "exactly one of --encode"},
      {{"tokenize", "--data", data, "--decode", "1 x 2"}, "'x'"},
      {{"tokenize", "--data", data, "--decode", "-3"}, "'-3'"},
      {{"tokenize", "--data", data, "--decode", " "}, "at least one token id"},
      {{"tokenize", "--data", data, "--decode", "1 9"}, "token id 9 is outside"},
      {{"tokenize", "--data", data, "--encoed", "a"}, "did you mean --encode"},
  };
  for (const auto& c : cases) {
    const CliRun r = gpt_cli(c.args);
    EXPECT_EQ(r.rc, 2) << c.message << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << "expected '" << c.message << "' in: " << r.err;
  }
  // Bad files: exit 1, the file named.
  CliRun r = gpt_cli({"tokenize", "--data", join_path(dir, "nope"), "--encode", "a"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(join_path(dir, "nope")), std::string::npos) << r.err;
  // Text the tokenizer cannot encode is the flag's value: exit 2 naming it, as `sample
  // --prompt` does (it was 1, unnamed; helper-21).
  r = gpt_cli({"tokenize", "--data", data, "--encode", "hello!"});  // '!' is not in the char vocabulary
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--encode: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'!'"), std::string::npos) << r.err;
}

TEST(TokenizeCli, EncodeShowsEachTokenAndTheIds) {
  const std::string dir = test::scratch_dir();
  // Vocabulary of "hello world\n", sorted: \n=0 ' '=1 d=2 e=3 h=4 l=5 o=6 r=7 w=8.
  const std::string data = prepared(dir, "hello world\n", "char");
  const CliRun r = gpt_cli({"tokenize", "--data", data, "--encode", "he\tl\n"});
  ASSERT_EQ(r.rc, 2) << "tab is not in the vocabulary";
  const CliRun ok = gpt_cli({"tokenize", "--data", data, "--encode", "hole\n"});
  ASSERT_EQ(ok.rc, 0) << ok.err;
  const std::string expected =
      "tokenizer: char-level, 9 characters (" + join_path(data, kTokenizerFile) + ")\n"
      "index     id  text    piece\n"
      "    0      4  \"h\"     \"h\"\n"
      "    1      6  \"o\"     \"o\"\n"
      "    2      5  \"l\"     \"l\"\n"
      "    3      3  \"e\"     \"e\"\n"
      "    4      0  \"\\n\"    \"\\n\"\n"
      "ids: 4 6 5 3 0\n"
      "5 characters (5 bytes) -> 5 tokens, 1.00 characters per token\n";
  EXPECT_EQ(ok.out, expected);
  const CliRun dec = gpt_cli({"tokenize", "--data", data, "--decode", "8,6 7 5 2"});
  ASSERT_EQ(dec.rc, 0) << dec.err;
  EXPECT_NE(dec.out.find("5 tokens -> 5 characters (5 bytes)\ntext:\nworld\n"), std::string::npos) << dec.out;
  EXPECT_NE(dec.out.find("    0      8  \"w\""), std::string::npos) << dec.out;
}

TEST(TokenizeCli, SentencePieceRowsShowPiecesAndBytes) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  const std::string dir = test::scratch_dir();
  const std::string data = prepared(dir, words_text(20000), "bpe", 300);
  const std::string model = join_path(data, kSentencePieceFile);
  auto tok = load_tokenizer_file(model);
  // "é" is not in the ASCII training text: two byte tokens C3 A9.
  const CliRun r = gpt_cli({"tokenize", "--tokenizer", model, "--encode", "the caf\xC3\xA9\n"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto ids = tok->encode("the caf\xC3\xA9\n");
  std::string id_line = "ids:";
  for (int id : ids) id_line += " " + std::to_string(id);
  EXPECT_NE(r.out.find(id_line + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"\\xC3\"  \"<0xC3>\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"\\xA9\"  \"<0xA9>\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\xE2\x96\x81"), std::string::npos) << r.out;   // pieces show "▁"
  EXPECT_NE(r.out.find("9 characters (10 bytes) -> " + std::to_string(ids.size()) + " tokens"), std::string::npos)
      << r.out;
  // Decoding the two byte tokens gives the character back.
  const int c3 = ids[ids.size() - 3], a9 = ids[ids.size() - 2];
  const CliRun d = gpt_cli({"tokenize", "--data", data, "--decode", std::to_string(c3) + " " + std::to_string(a9)});
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_NE(d.out.find("2 tokens -> 1 character (2 bytes)\ntext:\n\xC3\xA9\n"), std::string::npos) << d.out;
}

TEST(TokenizeCli, LlmcTokenizerDecodesButRefusesToEncode) {
  const std::string dir = test::scratch_dir();
  const std::string file = join_path(dir, "gpt2_tokenizer.bin");
  write_file_atomic(file, llmc_file({"Hello", ",", " world", "\xE2\x80", "\x94", "<|endoftext|>"}));
  CliRun r = gpt_cli({"tokenize", "--tokenizer", file, "--decode", "0 1 2 3 4 5"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("text:\nHello, world\xE2\x80\x94<|endoftext|>\n"), std::string::npos) << r.out;
  // Half a character, made visible in both columns.
  const size_t row = r.out.find("\n    3      3  \"\\xE2\\x80\" ");
  ASSERT_NE(row, std::string::npos) << r.out;
  const std::string line = r.out.substr(row + 1, r.out.find('\n', row + 1) - row - 1);
  EXPECT_EQ(line.substr(line.size() - 10), "\"\\xE2\\x80\"") << line;
  EXPECT_NE(r.out.find("end-of-text id 5"), std::string::npos) << r.out;
  r = gpt_cli({"tokenize", "--tokenizer", file, "--encode", "Hello"});
  EXPECT_EQ(r.rc, 2);  // helper-37: 1, where sample's same mistake is 2; and its header went to stdout first
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("can only decode"), std::string::npos) << r.err;
  // The advice named sample's --prompt, a flag tokenize does not have.
  EXPECT_NE(r.err.find("--decode \"5\""), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--prompt"), std::string::npos) << r.err;
}

// tokenize --data RUN (or an export) said "tokenizer.bin: not found ... Run `gpt prepare`",
// and --ckpt DATA did not say to give --data: the other flag is named. An export whose
// tokenizer.model / tokenizer.bin is gone but whose tokenizer.json is there: "no
// tokenizer, none beside it" though one lies beside it; the messages say gpt.cc does not
// read tokenizer.json and which files it reads.
TEST(TokenizeCli, TheOtherSourceFlagAndALoneTokenizerJsonAreNamed) {
  const std::string dir = test::scratch_dir();
  std::string text;
  while (text.size() < 3000) text += "hello world\n";
  const std::string data = prepared(dir, text, "char"), run = trained_run(dir, data, 2);
  const std::string hf = join_path(dir, "hf");
  ASSERT_EQ(gpt_cli({"export", "--ckpt", run, "--to", "safetensors", "--out", hf}).rc, 0);
  ASSERT_TRUE(file_exists(join_path(hf, "tokenizer.json")));
  CliRun r = gpt_cli({"tokenize", "--data", run, "--encode", "hi"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--ckpt " + run), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Run `gpt prepare`"), std::string::npos) << r.err;
  r = gpt_cli({"tokenize", "--ckpt", data, "--encode", "hi"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--data " + data), std::string::npos) << r.err;
  // The export without its tokenizer.bin: tokenizer.json alone.
  std::remove(join_path(hf, kTokenizerFile).c_str());
  r = gpt_cli({"tokenize", "--data", hf, "--encode", "hi"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--ckpt " + hf), std::string::npos) << r.err;
  const std::vector<std::string> needles = {join_path(hf, "tokenizer.json"), "which gpt.cc does not read",
                                            join_path(hf, kSentencePieceFile), join_path(hf, kTokenizerFile)};
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"tokenize", "--ckpt", hf, "--encode", "hi"},
           {"sample", "--ckpt", hf, "--prompt", "hello", "--tokens", "2"},
           {"prepare", "--input", join_path(dir, "input.txt"), "--out", join_path(dir, "d2"), "--tokenizer", hf}}) {
    SCOPED_TRACE(args[0]);
    r = gpt_cli(args);
    EXPECT_NE(r.rc, 0);
    for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << n << " in: " << r.err;
  }
  // A sample without a prompt names it too (refused: a 9-token vocabulary has no token to
  // start from; review 2).
  r = gpt_cli({"sample", "--ckpt", hf, "--tokens", "2"});
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("which gpt.cc does not read"), std::string::npos) << r.err;
}

// attention --text with a model whose tokenizer only decodes (an llm.c export beside an
// llm.c tokenizer file) failed with advice to give ids as --prompt "5": attention has no
// --prompt, and did not take ids there. It takes ids, as sample does, labelled by the tokenizer.
TEST(TokenizeCli, AttentionTakesIdsWithADecodeOnlyTokenizer) {
  const std::string dir = test::scratch_dir();
  std::string text;
  while (text.size() < 3000) text += "hello world\n";
  const std::string run = trained_run(dir, prepared(dir, text, "char"), 2);
  const std::string m = join_path(dir, "m.bin");
  ASSERT_EQ(gpt_cli({"export", "--ckpt", run, "--to", "llmc", "--out", m}).rc, 0);
  write_file_atomic(join_path(dir, "m.tokenizer.bin"), llmc_file({"\n", " ", "d", "e", "h", "l", "o", "r", "w"}));
  CliRun r = gpt_cli({"attention", "--ckpt", m, "--text", "4 3 5 5 6", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const Json j = Json::parse(r.out, "attention --json");
  EXPECT_EQ(j.find("tokens")->dump(), "[\"h\",\"e\",\"l\",\"l\",\"o\"]");
  r = gpt_cli({"attention", "--ckpt", m, "--text", "hello"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("can only decode"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("token ids"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--prompt"), std::string::npos) << r.err;
}

TEST(SampleCli, TokenizerFlagOverridesOrSuppliesTheCheckpoints) {
  const std::string dir = test::scratch_dir();
  const std::string data = prepared(dir, words_text(6000), "char");
  const std::string run = trained_run(dir, data, 20);
  const std::vector<std::string> base = {"sample", "--ckpt", run, "--tokens", "30", "--seed", "5", "--threads", "2"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return gpt_cli(a);
  };
  const CliRun own = with({"--prompt", "the "});
  ASSERT_EQ(own.rc, 0) << own.err;
  ASSERT_EQ(own.out.rfind("the ", 0), 0u) << own.out;
  // The same tokenizer from its file: the same text.
  const CliRun file = with({"--prompt", "the ", "--tokenizer", join_path(data, kTokenizerFile)});
  ASSERT_EQ(file.rc, 0) << file.err;
  EXPECT_EQ(file.out, own.out);

  // A decode-only tokenizer (llm.c's format) whose token i prints as "<i>": the
  // prompt is ids, and every generated id must match the run above.
  auto char_tok = Tokenizer::load_dir(data);
  std::vector<std::string> names;
  for (int i = 0; i < char_tok->vocab_size(); i++) names.push_back("<" + std::to_string(i) + ">");
  const std::string llmc = join_path(dir, "names.bin");
  write_file_atomic(llmc, llmc_file(names));
  const auto prompt_ids = char_tok->encode("the ");
  std::string prompt, expected;
  for (int id : prompt_ids) prompt += std::to_string(id) + " ";
  for (int id : char_tok->encode(own.out.substr(0, own.out.size() - 1))) expected += "<" + std::to_string(id) + ">";
  const CliRun named = with({"--prompt", prompt, "--tokenizer", llmc});
  ASSERT_EQ(named.rc, 0) << named.err;
  EXPECT_EQ(named.out, expected + "\n");
  // Text is not ids for a decode-only tokenizer.
  const CliRun text_prompt = with({"--prompt", "the ", "--tokenizer", llmc});
  EXPECT_EQ(text_prompt.rc, 2);
  EXPECT_NE(text_prompt.err.find("can only decode"), std::string::npos) << text_prompt.err;
  // Too few tokens for the model: refused before sampling.
  write_file_atomic(llmc, llmc_file({"a", "b"}));
  const CliRun small = with({"--tokenizer", llmc});
  EXPECT_EQ(small.rc, 1);
  EXPECT_NE(small.err.find("do not belong together"), std::string::npos) << small.err;
  // helper-35: refused alone, not after a note on how the two tokenizers differ (sample and attention).
  EXPECT_EQ(small.err.find("is not the tokenizer"), std::string::npos) << small.err;
  const CliRun small_att = gpt_cli({"attention", "--ckpt", base[2], "--tokenizer", llmc, "--text", "1 2"});
  EXPECT_EQ(small_att.rc, 1) << small_att.err;
  EXPECT_NE(small_att.err.find("do not belong together"), std::string::npos) << small_att.err;
  EXPECT_EQ(small_att.err.find("is not the tokenizer"), std::string::npos) << small_att.err;

  // A checkpoint without a tokenizer samples ids; --tokenizer supplies one.
  const Checkpoint ck = load_checkpoint(run);
  GPT<float> model(ck.model);
  load_weights(model, ck, false);
  const std::string bare = join_path(dir, "bare.bin");
  save_checkpoint(bare, model, ck.train, ck.state, "", false);
  auto bare_args = base;
  bare_args[2] = bare;
  auto ids_args = bare_args;
  ids_args.insert(ids_args.end(), {"--prompt", prompt});
  const CliRun ids = gpt_cli(ids_args);
  ASSERT_EQ(ids.rc, 0) << ids.err;
  std::string id_text;
  for (char c : own.out.substr(0, own.out.size() - 1)) {
    if (!id_text.empty()) id_text += " ";
    id_text += std::to_string(char_tok->encode(std::string(1, c))[0]);
  }
  EXPECT_EQ(ids.out, id_text + "\n");
  bare_args.insert(bare_args.end(), {"--prompt", "the ", "--tokenizer", join_path(data, kTokenizerFile)});
  const CliRun supplied = gpt_cli(bare_args);
  ASSERT_EQ(supplied.rc, 0) << supplied.err;
  EXPECT_EQ(supplied.out, own.out);
  // And `gpt tokenize --ckpt` reads the checkpoint's tokenizer.
  const CliRun t = gpt_cli({"tokenize", "--ckpt", run, "--encode", "cat"});
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_NE(t.out.find("char-level"), std::string::npos) << t.out;
  const CliRun none = gpt_cli({"tokenize", "--ckpt", bare, "--encode", "cat"});
  EXPECT_EQ(none.rc, 1);
  EXPECT_NE(none.err.find("no tokenizer"), std::string::npos) << none.err;
}

// --tokenizer takes a data or run directory, as prepare's does (sample and tokenize said
// "is a directory"), and one of the same size as the model's vocabulary but with other
// pieces (another text's char tokenizer) is noted: it passed the size check and sampled
// garbled text without a word.
TEST(SampleCli, AnotherModelsTokenizerIsNotedAndDirectoriesAreTokenizers) {
  const std::string dir = test::scratch_dir();
  const std::string text = words_text(6000);
  const std::string data = prepared(dir, text, "char");
  const std::string run = trained_run(dir, data, 10);
  std::string other_text = text;  // the same number of characters, 'g' -> 'x'
  for (char& c : other_text)
    if (c == 'g') c = 'x';
  ASSERT_EQ(other_text.find('x'), text.find('g'));
  const std::string other_dir = join_path(dir, "other");
  make_dirs(other_dir);
  const std::string other = prepared(other_dir, other_text, "char");
  const std::vector<std::string> base = {"sample", "--ckpt", run, "--tokens", "20", "--seed", "3", "--threads", "2",
                                         "--prompt", "the "};
  auto with = [&](const std::string& tokenizer) {
    auto a = base;
    if (!tokenizer.empty()) a.insert(a.end(), {"--tokenizer", tokenizer});
    return gpt_cli(a);
  };
  const CliRun own = with("");
  ASSERT_EQ(own.rc, 0) << own.err;
  for (const std::string& same : {data, run, join_path(data, kTokenizerFile)}) {
    const CliRun r = with(same);
    ASSERT_EQ(r.rc, 0) << same << ": " << r.err;
    EXPECT_EQ(r.out, own.out) << same;
    EXPECT_EQ(r.err.find("not the tokenizer"), std::string::npos) << same << ": " << r.err;
  }
  const auto tok = Tokenizer::load_dir(data);
  const auto enc = tok->encode("g");
  ASSERT_EQ(enc.size(), 1u);
  const CliRun mixed = with(other);
  ASSERT_EQ(mixed.rc, 0) << mixed.err;
  EXPECT_NE(mixed.err.find("note: " + join_path(other, kTokenizerFile) + " is not the tokenizer the model was "
                           "trained with (" + join_path(run, kCheckpointFile)),
            std::string::npos)
      << mixed.err;
  // (sorted code points: 'g''s id holds the next character there)
  const std::string there = Tokenizer::load_dir(other)->piece(enc[0]);
  EXPECT_NE(mixed.err.find("token " + std::to_string(enc[0]) + " is \"" + there + "\" in it and \"g\" in the model's"),
            std::string::npos)
      << mixed.err;
  // tokenize --tokenizer: the same directories; a directory holding neither is named.
  for (const std::string& d : {data, run}) {
    const CliRun t = gpt_cli({"tokenize", "--tokenizer", d, "--encode", "cat"});
    ASSERT_EQ(t.rc, 0) << d << ": " << t.err;
    EXPECT_NE(t.out.find("(" + join_path(d, d == run ? kCheckpointFile : kTokenizerFile) + ")"), std::string::npos)
        << t.out;
  }
  // attention --tokenizer: the same note.
  const CliRun att = gpt_cli({"attention", "--ckpt", run, "--tokenizer", other, "--text", "the"});
  ASSERT_EQ(att.rc, 0) << att.err;
  EXPECT_NE(att.err.find("is not the tokenizer the model was trained with"), std::string::npos) << att.err;
  const CliRun att_same = gpt_cli({"attention", "--ckpt", run, "--tokenizer", data, "--text", "the"});
  ASSERT_EQ(att_same.rc, 0) << att_same.err;
  EXPECT_EQ(att_same.err.find("not the tokenizer"), std::string::npos) << att_same.err;
  const std::string empty = join_path(dir, "empty");
  make_dirs(empty);
  const CliRun none = gpt_cli({"tokenize", "--tokenizer", empty, "--encode", "cat"});
  EXPECT_EQ(none.rc, 1);
  EXPECT_NE(none.err.find(empty + ": a directory with no tokenizer.bin and no model"), std::string::npos) << none.err;
}

// A model's directory where data belong, and data where a model belongs, are named with the
// flag that takes them: `train --data RUN` said "has no tokenizer.bin ... pass --vocab-size N",
// `eval --ckpt DATA` only "holds neither checkpoint.bin nor model.safetensors", `prepare --out
// FILE` "exists but is not a directory", and `train --resume EXPORT` "no checkpoint here".
TEST(WrongPlaces, ADataOrModelDirectoryWhereTheOtherBelongsIsNamedWithItsFlag) {
  const std::string dir = test::scratch_dir();
  const std::string data = prepared(dir, words_text(3000), "char");
  const std::string run = trained_run(dir, data, 2);
  auto fails = [&](std::vector<std::string> args, int rc, std::vector<std::string> wants) {
    const CliRun r = gpt_cli(args);
    EXPECT_EQ(r.rc, rc) << args[0] << ": " << r.err;
    for (const std::string& w : wants) EXPECT_NE(r.err.find(w), std::string::npos) << w << " in: " << r.err;
  };
  const std::string run2 = join_path(dir, "run2");
  fails({"train", "--data", run, "--out", run2, "--steps", "1"}, 2,
        {"--data " + run + ": is a model's directory (it holds checkpoint.bin), not data of `gpt prepare`",
         "it trained on --data " + data, "--init " + run, "--resume " + run});
  EXPECT_FALSE(file_exists(run2));
  fails({"eval", "--ckpt", data}, 1, {"It is a data directory of `gpt prepare`", "--data " + data});
  const std::string input = join_path(dir, "input.txt"), before = read_file(input);
  fails({"prepare", "--input", input, "--out", input}, 2, {"--out " + input + " is a file", "nothing was written"});
  EXPECT_EQ(read_file(input), before);
  // Exports hold weights only: --init, not --resume.
  const std::string hf = join_path(dir, "hf"), llmc = join_path(dir, "m.bin");
  ASSERT_EQ(gpt_cli({"export", "--ckpt", run, "--to", "safetensors", "--out", hf}).rc, 0);
  ASSERT_EQ(gpt_cli({"export", "--ckpt", run, "--to", "llmc", "--out", llmc}).rc, 0);
  for (const std::string& m : {hf, join_path(hf, "model.safetensors"), llmc})
    fails({"train", "--resume", m, "--steps", "3"}, 2,
          {"--resume " + m + " is a", "cannot be resumed", "--init " + m, "nothing was changed"});
  // The hint the note beside an export with only tokenizer.json gives names flags that work.
  std::remove(join_path(hf, kTokenizerFile).c_str());
  fails({"sample", "--ckpt", hf, "--prompt", "the"}, 2, {"export the model again", "--tokenizer FILE"});
  const CliRun given = gpt_cli({"sample", "--ckpt", hf, "--tokenizer", data, "--prompt", "the", "--tokens", "3"});
  EXPECT_EQ(given.rc, 0) << given.err;
  fails({"attention", "--ckpt", hf, "--text", "the"}, 2, {"has no tokenizer", "--tokenizer FILE gives one"});
  EXPECT_EQ(gpt_cli({"attention", "--ckpt", hf, "--tokenizer", data, "--text", "the"}).rc, 0);
}

// Data prepared with another tokenizer than the model's are refused by eval, --init and
// --resume, now with what to do; the command they name works.
TEST(WrongPlaces, DataOfAnotherTokenizerAreRefusedWithACommandThatWorks) {
  const std::string dir = test::scratch_dir();
  const std::string text = words_text(4000);
  const std::string data = prepared(dir, text, "char");
  const std::string run = trained_run(dir, data, 2);
  std::string other_text = text + "XYZ\n";
  const std::string other_dir = join_path(dir, "other");
  make_dirs(other_dir);
  const std::string other = prepared(other_dir, other_text, "char");
  const CliRun ev = gpt_cli({"eval", "--ckpt", run, "--data", other});
  EXPECT_EQ(ev.rc, 1);
  EXPECT_NE(ev.err.find("--tokenizer " + run + "`"), std::string::npos) << ev.err;
  const CliRun init = gpt_cli({"train", "--init", run, "--data", other, "--out", join_path(dir, "i"), "--steps", "1"});
  EXPECT_EQ(init.rc, 1);
  EXPECT_NE(init.err.find("differs from the tokenizer of the --init model"), std::string::npos) << init.err;
  EXPECT_NE(init.err.find("--tokenizer " + run + "`"), std::string::npos) << init.err;
  const CliRun res = gpt_cli({"train", "--resume", run, "--data", other, "--steps", "3"});
  EXPECT_EQ(res.rc, 1);
  EXPECT_NE(res.err.find("differs from the tokenizer stored in the checkpoint"), std::string::npos) << res.err;
  // helper-37: given by pattern (--val-glob, --train-glob) the same data were taken without
  // a look at the tokenizer beside them (a loss, exit 0; an --init run trained on them);
  // and eval --val-glob on the run's own data noted "  has changed", naming nothing.
  const CliRun ev_glob = gpt_cli({"eval", "--ckpt", run, "--val-glob", join_path(other, "val.bin")});
  EXPECT_EQ(ev_glob.rc, 1) << ev_glob.err;
  EXPECT_NE(ev_glob.err.find(join_path(other, kTokenizerFile) + ": differs from the model's tokenizer"),
            std::string::npos)
      << ev_glob.err;
  const CliRun init_glob = gpt_cli({"train", "--init", run, "--train-glob", join_path(other, "train.bin"), "--val-glob",
                                    join_path(other, "val.bin"), "--out", join_path(dir, "ig"), "--steps", "1"});
  EXPECT_EQ(init_glob.rc, 1) << init_glob.err;
  EXPECT_NE(init_glob.err.find(join_path(other, kTokenizerFile) + ": differs from the tokenizer of the --init model"),
            std::string::npos)
      << init_glob.err;
  const CliRun own_glob = gpt_cli({"eval", "--ckpt", run, "--val-glob", join_path(data, "val.bin")});
  EXPECT_EQ(own_glob.rc, 0) << own_glob.err;
  EXPECT_EQ(own_glob.err.find("has changed"), std::string::npos) << own_glob.err;
  // What they say to do: the text (without the characters the model lacks) prepared with
  // the model's tokenizer evaluates.
  const std::string again = join_path(dir, "again");
  write_file_atomic(join_path(dir, "text.txt"), text);
  ASSERT_EQ(gpt_cli({"prepare", "--input", join_path(dir, "text.txt"), "--out", again, "--tokenizer", run}).rc, 0);
  const CliRun ok = gpt_cli({"eval", "--ckpt", run, "--data", again});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  // helper-39: a glob over the directories of two texts prepared with different tokenizers
  // of one size trained on both without a word (the first shard's tokenizer alone was
  // looked at), with --data too; eval took the mix as well.
  std::string swapped = text;
  std::replace(swapped.begin(), swapped.end(), 'e', 'Q');
  for (const char* m : {"ma", "mb", "mc"}) make_dirs(join_path(dir, m));
  const std::string ma = prepared(join_path(dir, "ma"), text, "char");
  const std::string mb = prepared(join_path(dir, "mb"), swapped, "char");
  ASSERT_EQ(Tokenizer::load_dir(ma)->vocab_size(), Tokenizer::load_dir(mb)->vocab_size());
  const std::vector<std::string> tiny = {"--steps", "1", "--layers", "1", "--heads", "1", "--dim", "16", "--context",
                                         "8", "--batch", "2", "--eval-every", "0"};
  auto train_on = [&](std::vector<std::string> args) {
    args.insert(args.end(), tiny.begin(), tiny.end());
    return gpt_cli(args);
  };
  const std::string mixed = join_path(dir, "m?/data_char/train.bin");
  for (const CliRun& r : {train_on({"train", "--train-glob", mixed, "--out", join_path(dir, "mix")}),
                          train_on({"train", "--data", ma, "--train-glob", mixed, "--out", join_path(dir, "mix")}),
                          train_on({"train", "--data", ma, "--val-glob", join_path(dir, "m?/data_char/val.bin"), "--out",
                                    join_path(dir, "mix")}),
                          gpt_cli({"eval", "--ckpt", run, "--split", "train", "--train-glob", mixed})}) {
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find(join_path(mb, kTokenizerFile) + " and " + join_path(ma, kTokenizerFile) + " differ"),
              std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--tokenizer " + join_path(ma, kTokenizerFile)), std::string::npos) << r.err;
  }
  EXPECT_FALSE(file_exists(join_path(dir, "mix/checkpoint.bin")));
  // What it says to do: the other text prepared with the first's tokenizer trains with it.
  write_file_atomic(join_path(dir, "mc/input.txt"), text);
  ASSERT_EQ(gpt_cli({"prepare", "--input", join_path(dir, "mc/input.txt"), "--out", join_path(dir, "mc/data_char"),
                     "--tokenizer", join_path(ma, kTokenizerFile)}).rc, 0);
  const CliRun same = train_on({"train", "--train-glob", join_path(dir, "m[ac]/data_char/train.bin"), "--out",
                                join_path(dir, "same")});
  EXPECT_EQ(same.rc, 0) << same.err;
  // A directory of shards without a tokenizer (llm.c's, or copies) beside one with: its ids
  // were read as the other's without a word. Refused; what it says to do trains.
  const std::string md = join_path(dir, "md/data_char");
  make_dirs(md);
  write_file_atomic(join_path(md, "train.bin"), read_file(join_path(ma, "train.bin")));
  const std::string both = join_path(dir, "m[ad]/data_char/train.bin");
  const CliRun lacking = train_on({"train", "--train-glob", both, "--out", join_path(dir, "lack")});
  EXPECT_EQ(lacking.rc, 1) << lacking.err;
  EXPECT_NE(lacking.err.find(md + " has no tokenizer.bin but " + ma + " has one"), std::string::npos) << lacking.err;
  EXPECT_FALSE(file_exists(join_path(dir, "lack/checkpoint.bin")));
  write_file_atomic(join_path(md, kTokenizerFile), read_file(join_path(ma, kTokenizerFile)));
  EXPECT_EQ(train_on({"train", "--train-glob", both, "--out", join_path(dir, "lack")}).rc, 0);
}

// Too small a --vocab-size for the text's characters: SentencePiece's own advice named a
// flag gpt does not have (--character_coverage); the message now gives the size needed,
// and that size works.
TEST(TokenizeCli, TooSmallAVocabularyNamesTheSizeNeeded) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  const std::string dir = test::scratch_dir(), txt = join_path(dir, "in.txt");
  std::string text;
  for (int i = 0; i < 200; i++) text += "The quick brown fox jumps over the lazy dog, said Zoe. 0123456789!\n";
  write_file_atomic(txt, text);
  std::string err;
  // (helper-39: exit 1, as for a failure of the machine; it is the flag's value, exit 2)
  EXPECT_EQ(test::run_gpt({"prepare", "--input", txt, "--out", join_path(dir, "a"), "--tokenizer", "unigram",
                     "--vocab-size", "270"}, nullptr, &err), 2);
  EXPECT_EQ(err.find("character_coverage"), std::string::npos) << err;
  const size_t at = err.find("use a larger --vocab-size: ");
  ASSERT_NE(at, std::string::npos) << err;
  const int need = std::atoi(err.c_str() + at + 27);
  EXPECT_GT(need, 270);
  EXPECT_EQ(test::run_gpt({"prepare", "--input", txt, "--out", join_path(dir, "b"), "--tokenizer", "unigram",
                     "--vocab-size", std::to_string(need)}, nullptr, &err), 0) << err;
  // Too large a one for the text: the same, and SentencePiece's own log line ("bpe_model_
  // trainer.cc(242) LOG(WARNING) No valid symbol found") is no longer printed beside it.
  EXPECT_EQ(test::run_gpt({"prepare", "--input", txt, "--out", join_path(dir, "c"), "--tokenizer", "bpe",
                     "--vocab-size", "60000"}, nullptr, &err), 2);
  EXPECT_NE(err.find("use a smaller --vocab-size, at most "), std::string::npos) << err;
  EXPECT_EQ(err.find("LOG("), std::string::npos) << err;
}

// Text of a few thousand distinct characters (CJK) and a vocabulary below that: the
// trainer refused ("need 3174 ids") although byte fallback spells any character. Now the
// most frequent characters get pieces, the rest bytes, and merges have room.
TEST(TokenizeCli, ManyDistinctCharactersFitASmallVocabularyThroughByteFallback) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  const std::string dir = test::scratch_dir(), txt = join_path(dir, "cjk.txt");
  // 3000 CJK ideographs in lines of 30: 70% from 200 common ones, 30% from all 3000 about
  // equally (so 99.95% of the text needs nearly all of them: 3243 ids, which was refused).
  SplitMix64 r(7);
  std::string text;
  size_t chars = 0;
  for (int line = 0; line < 4000; line++) {
    for (int k = 0; k < 30; k++, chars++)
      append_utf8(text, 0x4E00 + uint32_t(r.uniform() < 0.7 ? r.below(200) : r.below(3000)));
    text += "\n";
    chars++;
  }
  write_file_atomic(txt, text);
  // Down to the smallest size (260: one character of its own, ▁ for a space, the rest
  // bytes; it asked for 3243 ids before, and for 5203 at 260 after the first fix).
  for (const char* size : {"1024", "260"}) {
    std::string out, err;
    const std::string data = join_path(dir, std::string("bpe") + size);
    ASSERT_EQ(test::run_gpt({"prepare", "--input", txt, "--out", data, "--tokenizer", "bpe", "--vocab-size", size},
                            &out, &err), 0) << err;
    auto tok = Tokenizer::load_dir(data);
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << size;
  }
  for (const char* kind : {"bpe", "unigram"}) {
    SCOPED_TRACE(kind);
    std::string out, err;
    const std::string data = join_path(dir, kind);
    ASSERT_EQ(test::run_gpt({"prepare", "--input", txt, "--out", data, "--tokenizer", kind, "--vocab-size", "1024"},
                            &out, &err), 0) << err;
    auto tok = Tokenizer::load_dir(data);
    EXPECT_EQ(tok->vocab_size(), 1024);
    std::vector<int> ids = tok->encode(text);
    EXPECT_EQ(tok->decode(ids), text);                     // byte for byte, rare characters as bytes
    EXPECT_LT(ids.size(), 2 * chars);  // most characters have pieces (a byte-spelled one takes 3)
    std::string common;
    append_utf8(common, 0x4E00);
    EXPECT_EQ(tok->encode(common).size(), 1u);
  }
}

TEST(SampleCli, SentencePieceDataTrainsAndSamplesCleanText) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  const std::string dir = test::scratch_dir();
  const std::string data = prepared(dir, words_text(20000), "bpe", 300);
  const std::string run = trained_run(dir, data, 40);
  const Checkpoint ck = load_checkpoint(run);
  EXPECT_EQ(ck.model.vocab_size, 300);
  EXPECT_EQ(ck.tokenizer, read_file(join_path(data, kTokenizerFile)));
  const CliRun s = gpt_cli({"sample", "--ckpt", run, "--prompt", "the cat", "--tokens", "60", "--top-k", "10",
                         "--seed", "2", "--threads", "2"});
  ASSERT_EQ(s.rc, 0) << s.err;
  EXPECT_EQ(s.out.rfind("the cat", 0), 0u) << s.out;
  EXPECT_EQ(s.out.find("\xE2\x96\x81"), std::string::npos) << s.out;  // no "▁"
  EXPECT_EQ(s.out.find("<0x"), std::string::npos) << s.out;
  EXPECT_EQ(s.out.find("<s>"), std::string::npos) << s.out;
  EXPECT_NO_THROW(tokenizer_detail::check_utf8(s.out)) << s.out;
  // Printed text = prompt + the decoded tokens: re-encoding it gives back a
  // sequence that decodes to the same text.
  auto tok = Tokenizer::load_dir(data);
  EXPECT_EQ(tok->decode(tok->encode(s.out)), s.out);

  // attention --json of text with characters the training text lacked (byte tokens):
  // the JSON was not UTF-8 (a byte token's text alone, e.g. "\xC3"), and Python's json
  // refused it; each byte token reads U+FFFD, its id says which byte (helper-21).
  const std::string text = "the caf\xC3\xA9";
  const CliRun at = gpt_cli({"attention", "--ckpt", run, "--text", text, "--json"});
  ASSERT_EQ(at.rc, 0) << at.err;
  EXPECT_NO_THROW(tokenizer_detail::check_utf8(at.out)) << at.out;
  const Json j = Json::parse(at.out, "attention --json");
  const auto ids = tok->encode(text);
  ASSERT_EQ(j.find("tokens")->size(), ids.size());
  EXPECT_EQ(j.find("tokens")->as_array("t").back().as_string("t"), "\xEF\xBF\xBD");  // U+FFFD
  EXPECT_EQ(j.find("ids")->as_array("ids").back().as_int("id"), ids.back());
}

// helper-37: mistakes whose messages sent the user the wrong way. A .safetensors file
// without config.json asked attention, posenc and tokenize for --heads N, a flag they
// refused ("unknown flag"); eval --data RUN said "RUN/val.bin: missing; gpt prepare writes
// it"; gradcheck --device cuda said "no usable CUDA device" (it runs on the CPU anywhere);
// export --to llmc --out DIR/ failed "cannot create temp file" (exit 1); posenc's size
// limit printed 4.29497e+09 and no way out.
TEST(WrongPlaces, MessagesNameTheFlagOrCommandThatWorks) {
  const std::string dir = test::scratch_dir();
  const std::string data = prepared(dir, words_text(4000), "char");
  const std::string run = trained_run(dir, data, 2);
  const std::string hf = join_path(dir, "hf");
  ASSERT_EQ(gpt_cli({"export", "--ckpt", run, "--to", "safetensors", "--out", hf}).rc, 0);
  ASSERT_EQ(std::remove(join_path(hf, "config.json").c_str()), 0);
  const std::string st = join_path(hf, kSafetensorsFile);
  const CliRun att_no = gpt_cli({"attention", "--ckpt", st, "--text", "the"});
  EXPECT_EQ(att_no.rc, 2);
  EXPECT_NE(att_no.err.find("Pass --heads N"), std::string::npos) << att_no.err;
  const CliRun att = gpt_cli({"attention", "--ckpt", st, "--heads", "2", "--text", "the"});
  EXPECT_EQ(att.rc, 0) << att.err;
  const CliRun pos = gpt_cli({"posenc", "--kind", "learned", "--ckpt", st, "--heads", "2"});
  EXPECT_EQ(pos.rc, 0) << pos.err;
  const CliRun tok = gpt_cli({"tokenize", "--ckpt", st, "--heads", "2", "--encode", "the"});
  EXPECT_EQ(tok.err.find("unknown flag"), std::string::npos) << tok.err;
  const CliRun ev = gpt_cli({"eval", "--ckpt", run, "--data", run});
  EXPECT_EQ(ev.rc, 2);
  EXPECT_NE(ev.err.find("--data " + run + ": is a model's directory, not data of `gpt prepare`; evaluate it with "
                        "--ckpt " + run),
            std::string::npos)
      << ev.err;
  const CliRun gc = gpt_cli({"gradcheck", "--device", "cuda", "--layer", "gelu"});
  EXPECT_EQ(gc.rc, 2);
  EXPECT_NE(gc.err.find("--layer gelu runs on the CPU's finite differences: drop --device"), std::string::npos)
      << gc.err;
  EXPECT_EQ(gc.err.find("no usable CUDA device"), std::string::npos) << gc.err;
  const CliRun ex = gpt_cli({"export", "--ckpt", run, "--to", "llmc", "--out", join_path(dir, "newdir") + "/"});
  EXPECT_EQ(ex.rc, 2) << ex.err;
  EXPECT_NE(ex.err.find("is a directory; --to llmc writes one file"), std::string::npos) << ex.err;
  // A name of the other format: an llm.c file named .safetensors (which safetensors readers
  // reject), a directory named .safetensors (which they cannot open as a file).
  const std::string named = join_path(dir, "m.safetensors");
  const CliRun ex_llmc = gpt_cli({"export", "--ckpt", run, "--to", "llmc", "--out", named});
  EXPECT_EQ(ex_llmc.rc, 2) << ex_llmc.err;
  EXPECT_NE(ex_llmc.err.find("writes an llm.c checkpoint, not a safetensors file; name it .bin (--out " +
                             join_path(dir, "m.bin") + ")"),
            std::string::npos)
      << ex_llmc.err;
  const CliRun ex_st = gpt_cli({"export", "--ckpt", run, "--to", "safetensors", "--out", named});
  EXPECT_EQ(ex_st.rc, 2) << ex_st.err;
  EXPECT_NE(ex_st.err.find("writes a directory (model.safetensors, config.json and the tokenizer)"), std::string::npos)
      << ex_st.err;
  EXPECT_NE(ex_st.err.find("(--out " + join_path(dir, "m") + ", which will hold " + join_path(dir, "m") +
                           "/model.safetensors)"),
            std::string::npos)
      << ex_st.err;
  EXPECT_FALSE(file_exists(named));
  // A token shard or a tokenizer given as the model printed a hex dump of its first bytes;
  // a file given as tokenize's --data was looked into as a directory (FILE/tokenizer.bin).
  const std::string shard = join_path(data, "val.bin"), tokfile = join_path(data, "tokenizer.bin");
  const CliRun sh = gpt_cli({"eval", "--ckpt", shard});
  EXPECT_EQ(sh.rc, 1);
  EXPECT_NE(sh.err.find(shard + ": is a token shard"), std::string::npos) << sh.err;
  EXPECT_NE(sh.err.find("data as --data " + data), std::string::npos) << sh.err;
  EXPECT_EQ(sh.err.find("first bytes"), std::string::npos) << sh.err;
  const CliRun tk = gpt_cli({"sample", "--ckpt", tokfile});
  EXPECT_EQ(tk.rc, 1);
  EXPECT_NE(tk.err.find(tokfile + ": is a tokenizer"), std::string::npos) << tk.err;
  EXPECT_NE(tk.err.find("--tokenizer " + tokfile), std::string::npos) << tk.err;
  const CliRun td = gpt_cli({"tokenize", "--data", shard, "--encode", "the"});
  EXPECT_EQ(td.rc, 2);
  EXPECT_NE(td.err.find("--data " + shard + " is a file; --data takes a data directory of `gpt prepare` (it holds "
                        "tokenizer.bin): --data " + data),
            std::string::npos)
      << td.err;
  const CliRun tc = gpt_cli({"tokenize", "--data", join_path(run, "checkpoint.bin"), "--encode", "the"});
  EXPECT_EQ(tc.rc, 2);
  EXPECT_NE(tc.err.find("for a model's tokenizer give --ckpt " + join_path(run, "checkpoint.bin")), std::string::npos)
      << tc.err;
  write_file_atomic(join_path(dir, "empty.bin"), "");  // (its error ended "found 0 bytes:")
  const CliRun empty = gpt_cli({"sample", "--ckpt", join_path(dir, "empty.bin")});
  EXPECT_EQ(empty.rc, 1);
  EXPECT_NE(empty.err.find("found an empty file (0 bytes)"), std::string::npos) << empty.err;
  const CliRun big = gpt_cli({"posenc", "--kind", "sinusoidal", "--positions", "65536", "--dim", "65536"});
  EXPECT_EQ(big.rc, 2);
  EXPECT_NE(big.err.find("4,294,967,296 numbers; at most 16,777,216: give fewer --positions or a smaller --dim"),
            std::string::npos)
      << big.err;
}

}  // namespace
}  // namespace gpt
