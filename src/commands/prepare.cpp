// gpt prepare: text -> tokenizer + train/val shards (the work is prepare_data).
#include <cstdio>

#include "check.h"
#include "commands/common.h"
#include "fileio.h"
#include "formats/checkpoint.h"
#include "formats/hf_gpt2.h"
#include "formats/model_io.h"
#include "run_dir.h"
#include "text/dataloader.h"
#include "text/tokenizer.h"

namespace gpt {

int cmd_prepare(const Args& a) {
  int vocab_size = 0;  // not given: prepare_data picks the default for bpe/unigram
  if (a.has("vocab-size")) {
    vocab_size = a.integer("vocab-size");
    if (vocab_size <= 0) GPT_USAGE_FAIL("--vocab-size must be positive, got ", vocab_size);
  }
  // A run directory is not data: replacing it would drop a checkpoint saved meanwhile.
  const std::string out = a.require("out");
  // (train.lock: a run that has not saved its first checkpoint yet, or is running now.)
  if (const std::string f = run_dir_evidence(out); !f.empty())
    GPT_USAGE_FAIL("--out ", out, " is the run directory of `gpt train` (it holds ", f,
                   "); prepare writes a data directory: choose another --out (nothing was written)");
  if (file_exists(out) && !is_directory(out))  // (the input file given as --out, say)
    GPT_USAGE_FAIL("--out ", out, " is a file; prepare writes a data directory (train.bin, val.bin, ", kTokenizerFile,
                   "): choose a directory name for --out (nothing was written)");
  // --tokenizer RUN or a model file: the tokenizer the model was trained with (stored in a
  // checkpoint, or found beside an llm.c / safetensors export), so new text is encoded
  // the model's way (fine-tuning with --init).
  const std::string tk = a.str("tokenizer");
  const bool path = tk != "char" && tk != "bpe" && tk != "unigram";
  std::unique_ptr<Tokenizer> reuse;
  if (path && (is_directory(tk) || file_model_format(tk))) {
    std::string source;
    reuse = load_tokenizer_from(tk, &source, "; give a tokenizer file, or --tokenizer char, bpe or unigram");
  }
  const std::string summary =
      prepare_data(a.require("input"), out, tk, a.real("val-fraction"), vocab_size, 5.0, std::move(reuse));
  std::printf("%s\n", summary.c_str());
  return 0;
}

}  // namespace gpt
