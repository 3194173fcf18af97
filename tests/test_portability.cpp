// The CPU layers build for CPUs without AVX-512 (a laptop's -march=native, or the
// x86-64-v3 build carried to the GPU machine): the files with intrinsics and inline asm
// compiled with -march=x86-64-v3. (The attention file once had an asm register
// constraint that only AVX-512 can meet: "impossible constraint in 'asm'".)
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "test_util.h"

namespace gpt::test {
namespace {

TEST(Portability, SimdLayersCompileWithoutAvx512) {
  const char* cxx = std::getenv("CXX");
  const std::string compiler = cxx && *cxx ? cxx : "g++";
  if (std::system(("command -v " + compiler + " >/dev/null 2>&1").c_str()) != 0) GTEST_SKIP() << "no " << compiler;
  for (const char* f : {"src/layers/attention.cpp", "src/layers/gemm.cpp", "src/layers/gemm_bf16.cpp", "src/layers/matmul.cpp"}) {
    const std::string cmd = compiler + " -std=c++17 -fopenmp -O1 -march=x86-64-v3 -Wno-psabi -I'" + repo_file("src") +
                            "' -c '" + repo_file(f) + "' -o /dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
}

}  // namespace
}  // namespace gpt::test
