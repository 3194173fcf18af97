// gpt prepare: text -> tokenizer + train/val shards (the work is prepare_data).
#include <cstdio>

#include "commands/common.h"
#include "dataloader.h"

namespace gpt {

int cmd_prepare(const Args& a) {
  const std::string summary =
      prepare_data(a.require("input"), a.require("out"), a.str("tokenizer"), a.real("val-fraction"));
  std::printf("%s\n", summary.c_str());
  return 0;
}

}  // namespace gpt
