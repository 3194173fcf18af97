// The CPU layers build for CPUs without AVX-512 (a laptop's -march=native, or the
// x86-64-v3 build carried to the GPU machine): the files with intrinsics and inline asm
// compiled with -march=x86-64-v3. (The attention file once had an asm register
// constraint that only AVX-512 can meet: "impossible constraint in 'asm'".)
#include <gtest/gtest.h>

#include <sys/wait.h>

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

// The bf16 kernels compiled for x86-64-v3 (no AVX-512 outside the target attributes,
// as scripts/gpu_check.sh builds) also RUN right: GCC 12 built that way once dropped
// the stores of the AMX tile configuration as dead, and LDTILECFG faulted (SIGSEGV).
TEST(Portability, Bf16KernelsRunWhenBuiltForX86_64_v3) {
  const char* cxx = std::getenv("CXX");
  const std::string compiler = cxx && *cxx ? cxx : "g++";
  if (std::system(("command -v " + compiler + " >/dev/null 2>&1").c_str()) != 0) GTEST_SKIP() << "no " << compiler;
  const std::string exe = scratch_dir() + "/bf16_v3";
  const std::string cmd = compiler + " -std=c++17 -fopenmp -O3 -march=x86-64-v3 -Wno-psabi -I'" + repo_file("src") +
                          "' '" + repo_file("tests/portability/bf16_kernels_main.cpp") + "' '" +
                          repo_file("src/layers/gemm.cpp") + "' '" + repo_file("src/layers/gemm_bf16.cpp") +
                          "' -o '" + exe + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const int rc = std::system(("'" + exe + "'").c_str());
  ASSERT_TRUE(WIFEXITED(rc)) << "the x86-64-v3 build crashed (signal " << (WIFSIGNALED(rc) ? WTERMSIG(rc) : 0) << ")";
  EXPECT_EQ(WEXITSTATUS(rc), 0);
}

}  // namespace
}  // namespace gpt::test
