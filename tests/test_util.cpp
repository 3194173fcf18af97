// Removes a test's scratch directory (test_util.h, scratch_dir) when the test passed;
// a failed test keeps its files for inspection.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "test_util.h"

namespace gpt::test {
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
