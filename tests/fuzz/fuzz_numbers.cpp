// libFuzzer harness: the command line's number parsing (integer, real, u64 flags) and
// the flag parser itself. Input: text split at '\n' into argv words after "gpt train".
#include "cli.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpt;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const Command& train = find_command("train");
  // One value for the three kinds of number flags.
  fuzz::expect_ok_or_error([&] { parse_args(train, {"--steps", text}).integer("steps"); });
  fuzz::expect_ok_or_error([&] { parse_args(train, {"--lr", text}).real("lr"); });
  fuzz::expect_ok_or_error([&] { parse_args(train, {"--seed", text}).u64("seed"); });
  // Whole command lines.
  std::vector<std::string> words;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); i++)
    if (i == text.size() || text[i] == '\n') {
      words.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  fuzz::expect_ok_or_error([&] {
    const Args a = parse_args(train, words);
    for (const char* f : {"steps", "batch", "threads"})
      if (a.has(f)) a.integer(f);
    for (const char* f : {"lr", "dropout", "max-seconds"})
      if (a.has(f)) a.real(f);
  });
  return 0;
}
