// gpt tokenize: shows what a tokenizer does to a text (--encode) or to a list of
// token ids (--decode), one row per token, for people learning how tokenization
// works. Reads the tokenizer of a data dir, a checkpoint, or a tokenizer file;
// runs no model.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "formats/checkpoint.h"
#include "formats/hf_gpt2.h"
#include "formats/model_io.h"
#include "commands/common.h"
#include "commands/generate.h"
#include "fileio.h"
#include "text/tokenizer.h"

namespace gpt {

namespace {

void print_table(const Tokenizer& tok, const std::vector<int>& ids) {
  std::vector<std::string> texts, pieces;
  std::vector<size_t> widths;
  size_t tw = 6;  // "text"
  for (int id : ids) {
    size_t w = 0;
    texts.push_back(visible(tok.decode_token(id), &w));
    widths.push_back(w);
    tw = std::max(tw, w);
    pieces.push_back(visible(tok.piece(id)));
  }
  tw = std::min<size_t>(tw, 24);
  std::printf("%5s %6s  %-*s  %s\n", "index", "id", int(tw), "text", "piece");
  for (size_t i = 0; i < ids.size(); i++)
    std::printf("%5zu %6d  %s%*s  %s\n", i, ids[i], texts[i].c_str(), int(widths[i] < tw ? tw - widths[i] : 0), "",
                pieces[i].c_str());
}

std::vector<int> parse_ids(const std::string& s) {
  std::vector<int> ids;
  std::string w;
  auto flush = [&] {
    if (w.empty()) return;
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(w.c_str(), &end, 10);
    if (*end || errno == ERANGE || v < 0 || v > 0x7FFFFFFF)
      GPT_USAGE_FAIL("gpt tokenize: --decode expects token ids (whole numbers >= 0) separated by spaces, got '",
                     w, "'");
    ids.push_back(int(v));
    w.clear();
  };
  for (char c : s) {
    if (c == ' ' || c == ',' || c == '\t' || c == '\n') flush();
    else w += c;
  }
  flush();
  if (ids.empty()) GPT_USAGE_FAIL("gpt tokenize: --decode needs at least one token id, e.g. --decode \"17 42 9\"");
  return ids;
}

}  // namespace

int cmd_tokenize(const Args& a) {
  const int sources = int(a.has("data")) + int(a.has("ckpt")) + int(a.has("tokenizer"));
  if (sources != 1)
    GPT_USAGE_FAIL("gpt tokenize: give exactly one tokenizer source: --data DIR, --ckpt RUN or --tokenizer FILE",
                   sources ? " (got several)" : "", "; see `gpt tokenize --help`");
  if (a.has("encode") == a.has("decode"))
    GPT_USAGE_FAIL("gpt tokenize: give exactly one of --encode TEXT and --decode \"ID ID ...\"; see `gpt tokenize "
                   "--help`");
  std::vector<int> ids;
  if (a.has("decode")) ids = parse_ids(a.str("decode"));  // syntax errors before any file is read

  std::unique_ptr<Tokenizer> tok;
  std::string source;
  // A model's directory given as --data, or a data directory as --ckpt: the other flag.
  auto holds = [](const std::string& dir, const char* f) { return file_exists(join_path(dir, f)); };
  if (a.has("data")) {
    const std::string dir = a.require("data");
    source = join_path(dir, kTokenizerFile);
    // A file (it said "FILE/tokenizer.bin: not found ... Run `gpt prepare` for this data directory").
    if (file_exists(dir) && !is_directory(dir)) {
      const std::string beside = parent_dir(dir);
      GPT_USAGE_FAIL("--data ", dir, " is a file; --data takes a data directory of `gpt prepare` (it holds ",
                     kTokenizerFile, ")",
                     file_model_format(dir) ? str("; for a model's tokenizer give --ckpt ", dir)
                     : holds(beside, kTokenizerFile) && !holds_model(beside) ? str(": --data ", beside)
                                                                             : std::string("; a tokenizer file is given as --tokenizer FILE"));
    }
    if (is_directory(dir) && !holds(dir, kTokenizerFile) && holds_model(dir))
      GPT_FAIL(dir, ": is a model's directory (it holds ",
               holds(dir, kCheckpointFile) ? kCheckpointFile : kSafetensorsFile,
               "), not a data directory of `gpt prepare`; for the model's tokenizer give --ckpt ", dir);
    tok = Tokenizer::load_dir(dir);
  } else if (a.has("ckpt")) {
    const std::string dir = a.require("ckpt");
    if (is_directory(dir) && holds(dir, kTokenizerFile) && !holds_model(dir))
      GPT_FAIL(dir, ": is a data directory of `gpt prepare` (it holds ", kTokenizerFile, " but no model: neither ",
               kCheckpointFile, " nor ", kSafetensorsFile, "); for its tokenizer give --data ", dir);
    std::string tok_file;
    const Checkpoint ck = load_model(dir, heads_flag(a), nullptr, nullptr, &tok_file);  // any model file
    if (ck.tokenizer.empty())
      GPT_FAIL(dir, ": this model carries no tokenizer (none stored in it, ", tokenizer_beside_note(dir),
               "); give one with --tokenizer FILE");
    source = tok_file;
    tok = Tokenizer::deserialize(ck.tokenizer, source);
    // Another model's tokenizer beside it (sample refuses it alike).
    require_tokenizer_fits(tok->vocab_size(), ck.model.vocab_size, source,
                           ". Give the tokenizer the model was trained with (--tokenizer FILE)");
  } else {
    tok = load_tokenizer_from(a.require("tokenizer"), &source, "; give a tokenizer file");
  }
  for (int id : ids)  // --decode
    if (id >= tok->vocab_size())
      GPT_USAGE_FAIL("gpt tokenize: token id ", id, " is outside this tokenizer's vocabulary (ids 0..",
                     tok->vocab_size() - 1, ")");
  // (the tokenizer's own message named sample's --prompt; a usage error, as sample's, said
  // before the header on stdout)
  if (a.has("encode") && !tok->can_encode())
    GPT_USAGE_FAIL(source, ": ", tok->describe(), " can only decode: it has no rules to turn text into tokens. Give "
                   "token ids to decode instead (e.g. --decode \"", tok->eos_id().value_or(0), "\"), or a tokenizer "
                   "that can encode");
  std::printf("tokenizer: %s (%s)\n", tok->describe().c_str(), source.c_str());

  if (a.has("encode")) {
    const std::string text = a.str("encode");
    ids = encode_text(*tok, text, "--encode");
    print_table(*tok, ids);
    std::printf("ids:");
    for (int id : ids) std::printf(" %d", id);
    const size_t chars = count_chars(text);
    std::printf("\n%s (%s) -> %s", count(chars, "character").c_str(), count(text.size(), "byte").c_str(),
                count(ids.size(), "token").c_str());
    if (!ids.empty()) std::printf(", %.2f characters per token", double(chars) / double(ids.size()));
    std::printf("\n");
    const std::string back = tok->decode(ids);
    if (back != text)
      std::printf("note: decoding gives %s, not the text given (the tokenizer normalizes, lacks byte "
                  "fallback, or has no piece for \u2581, which SentencePiece puts for a space: gpt prepare's "
                  "tokenizers before 2026-12 could lack it where the text had few spaces; prepare again)\n", visible(back).c_str());
  } else {
    print_table(*tok, ids);
    const std::string text = tok->decode(ids);
    std::printf("%s -> %s (%s)\ntext:\n", count(ids.size(), "token").c_str(),
                count(count_chars(text), "character").c_str(), count(text.size(), "byte").c_str());
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
  }
  return 0;
}

}  // namespace gpt
