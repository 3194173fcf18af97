// The CUDA device checks: without a GPU, --device cuda says why and exits 2 (this
// runs everywhere); with one, a kernel's result matches the CPU (skips without a GPU).
#include <gtest/gtest.h>

#include "cli.h"
#include "device.h"
#include "test_util.h"

namespace gpt::test {
namespace {


TEST(CudaDevice, WithoutAGpuDeviceCudaSaysWhyAndExits2) {
  const CudaStatus st = cuda_status();
  if (st.devices > 0) GTEST_SKIP() << "a CUDA device is present: " << st.name;
  EXPECT_FALSE(st.error.empty());
#ifdef GPT_HAVE_CUDA
  EXPECT_TRUE(st.built);
#else
  EXPECT_FALSE(st.built);
#endif
  // (gradcheck runs on the CPU on any machine: its refusal says that, not why CUDA is missing)
  for (const char* cmd : {"train", "sample"}) {
    std::vector<std::string> args = {cmd, "--device", "cuda"};
    if (std::string(cmd) == "train") args.insert(args.end(), {"--data", "d", "--out", "o"});
    if (std::string(cmd) == "sample") args.insert(args.end(), {"--ckpt", "c"});
    std::string err;
    EXPECT_EQ(run_gpt(args, nullptr, &err), 2) << cmd << ": " << err;
    EXPECT_NE(err.find("--device cuda"), std::string::npos) << err;
    EXPECT_NE(err.find(st.error), std::string::npos) << err;
    EXPECT_NE(err.find("use --device cpu"), std::string::npos) << err;
  }
}

TEST(CudaDevice, SelfTestKernelMatchesTheCpu) {
  const CudaStatus st = cuda_status();
  if (st.devices == 0) GTEST_SKIP() << "no CUDA device: " << st.error;
  EXPECT_EQ(cuda_self_test(), "");
}

}  // namespace
}  // namespace gpt::test
