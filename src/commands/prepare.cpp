// gpt prepare: text -> tokenizer + train/val shards (the work is prepare_data).
#include <cstdio>

#include "check.h"
#include "commands/common.h"
#include "fileio.h"
#include "formats/checkpoint.h"
#include "text/dataloader.h"

namespace gpt {

int cmd_prepare(const Args& a) {
  int vocab_size = 0;  // not given: prepare_data picks the default for bpe/unigram
  if (a.has("vocab-size")) {
    vocab_size = a.integer("vocab-size");
    if (vocab_size <= 0) GPT_USAGE_FAIL("--vocab-size must be positive, got ", vocab_size);
  }
  // A run directory is not data: replacing it would drop a checkpoint saved meanwhile.
  const std::string out = a.require("out");
  if (file_exists(join_path(out, kCheckpointFile)))
    GPT_USAGE_FAIL("--out ", out, " is the run directory of `gpt train` (it holds ", kCheckpointFile,
                   "); prepare writes a data directory: choose another --out (nothing was written)");
  const std::string summary = prepare_data(a.require("input"), out, a.str("tokenizer"),
                                           a.real("val-fraction"), vocab_size);
  std::printf("%s\n", summary.c_str());
  return 0;
}

}  // namespace gpt
