// Removes a test's scratch directory (test_util.h, scratch_dir) when the test passed;
// a failed test keeps its files for inspection.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>

#include "fileio.h"
#include "rng.h"
#include "test_util.h"
#include "text/dataloader.h"

namespace gpt::test {

// A small text with structure (so a model can learn it) and its prepared data.
std::string make_data(const std::string& dir) {
  std::string text;
  SplitMix64 r(17);
  const char* words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat. ", "dog ", "ran\n"};
  while (text.size() < 6000) text += words[r.below(8)];
  const std::string txt = join_path(dir, "input.txt");
  write_file_atomic(txt, text);
  const std::string data = join_path(dir, "data");
  prepare_data(txt, data, "char", 0.1);
  return data;
}

std::vector<std::string> tiny_model_flags() {
  return {"--layers", "2", "--heads", "2", "--dim", "32", "--context", "16", "--batch", "4", "--threads", "2"};
}

// step -> "train_loss/val_loss" as written (exact text, so equality is bitwise).
std::map<long, std::string> read_losses(const std::string& metrics) {
  std::map<long, std::string> out;
  std::istringstream in(read_file(metrics));
  std::string line;
  std::regex re("\"step\":(\\d+),\"train_loss\":([^,]+),.*?(\"val_loss\":([^,}]+))?\\}");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, re)) out[std::stol(m[1])] = m[2].str() + "/" + m[4].str();
  }
  return out;
}

namespace {

class ScratchCleaner : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed()) return;
    const std::string cmd = "rm -rf '" + scratch_dir_of(info) + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", scratch_dir_of(info).c_str());
  }
};

const bool registered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new ScratchCleaner);
  return true;
}();

}  // namespace
}  // namespace gpt::test
