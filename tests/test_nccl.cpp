// The NCCL process group (cuda/process_group_nccl.cu). Everywhere: how a run asks for
// it (GPT_COMM=nccl) and is refused without a GPU, NCCL loaded at run time (bin/gpt does
// not link it), the message when it cannot be found. On a GPU (skipped elsewhere): a
// one-rank group's collectives on device buffers, and ZeRO-1's gather of optimizer state
// from the GPU (one process). Several ranks need several GPUs: not tested here.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend.h"
#include "check.h"
#include "config.h"
#include "device.h"
#include "model.h"
#include "process_group.h"
#include "test_util.h"

namespace gpt::test {
namespace {

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Nccl, CommNcclWithDeviceCpuIsRefused) {
  ScopedEnv comm("GPT_COMM", "nccl");
  std::string err;
  EXPECT_EQ(run_gpt({"train", "--data", "no_such_data", "--out", "no_such_run", "--device", "cpu"}, nullptr, &err), 2);
  EXPECT_NE(err.find("GPT_COMM=nccl"), std::string::npos) << err;
  EXPECT_NE(err.find("add --device cuda"), std::string::npos) << err;
  EXPECT_EQ(lines(err), 1u) << err;
  EXPECT_THROW(launch_process_group(DeviceKind::cpu), Error);
}

TEST(Nccl, UnknownCommIsRefused) {
  ScopedEnv comm("GPT_COMM", "gloo");
  std::string err;
  EXPECT_EQ(run_gpt({"train", "--data", "no_such_data", "--out", "no_such_run"}, nullptr, &err), 2);
  EXPECT_NE(err.find("GPT_COMM=gloo"), std::string::npos) << err;
  EXPECT_NE(err.find("expected nccl"), std::string::npos) << err;
  EXPECT_EQ(lines(err), 1u) << err;
}

TEST(Nccl, CommAutoOrUnsetWithOneProcessIsTheSingleProcess) {
  for (const char* v : {static_cast<const char*>(nullptr), "auto", ""}) {
    ScopedEnv comm("GPT_COMM", v);
    const auto pg = launch_process_group(DeviceKind::cpu);
    EXPECT_EQ(pg->size(), 1);
    EXPECT_EQ(pg->rank(), 0);
  }
}

TEST(Nccl, CommNcclWithoutAGpuExits2WithOneLine) {
  const CudaStatus st = cuda_status();
  if (st.devices > 0) GTEST_SKIP() << "a CUDA device is present: " << st.name;
  ScopedEnv comm("GPT_COMM", "nccl");
  std::string err;
  EXPECT_EQ(run_gpt({"train", "--data", "no_such_data", "--out", "no_such_run", "--device", "cuda"}, nullptr, &err), 2);
  EXPECT_NE(err.find("--device cuda"), std::string::npos) << err;
  EXPECT_EQ(lines(err), 1u) << err;
}

// bin/gpt starts where NCCL is missing: it is dlopen'ed, never a link-time dependency.
TEST(Nccl, TheBinaryDoesNotLinkNccl) {
  const char* bin = std::getenv("GPT_BIN");
  if (!bin) GTEST_SKIP() << "GPT_BIN not set (make test sets it)";
  if (std::system("command -v ldd >/dev/null 2>&1") != 0) GTEST_SKIP() << "no ldd";
  const std::string cmd = std::string("ldd '") + bin + "' | grep -q libnccl";
  EXPECT_NE(std::system(cmd.c_str()), 0) << bin << " links NCCL";
  EXPECT_EQ(std::system((std::string("ldd '") + bin + "' >/dev/null 2>&1").c_str()), 0);
}

#ifdef GPT_HAVE_CUDA
TEST(Nccl, LoadedAtRunTimeOrSaysHowToFindIt) {
  {
    ScopedEnv lib("GPT_NCCL_LIBRARY", "/no/such/dir/libnccl.so.2");
    try {
      nccl_version();
      ADD_FAILURE() << "a missing library loaded";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.code, 2);
      EXPECT_NE(m.find("/no/such/dir/libnccl.so.2"), std::string::npos) << m;
      EXPECT_NE(m.find("LD_LIBRARY_PATH"), std::string::npos) << m;
      EXPECT_NE(m.find("libnccl.so.2"), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }
  {  // a library that is not NCCL
    ScopedEnv lib("GPT_NCCL_LIBRARY", "libm.so.6");
    try {
      nccl_version();
      ADD_FAILURE() << "libm passed for NCCL";
    } catch (const Error& e) {
      EXPECT_EQ(e.code, 2);
      EXPECT_NE(std::string(e.what()).find("has no ncclGetVersion"), std::string::npos) << e.what();
    }
  }
  // The toolkit's copy, where there is one (this machine's CUDA 13 has it), or the one
  // GPT_TEST_NCCL_LIBRARY names (scripts/gpu_check.sh: the GPU machine's PyTorch copy): it
  // loads (without a GPU too) and reports a 2.x version.
  const char* named = std::getenv("GPT_TEST_NCCL_LIBRARY");
  const std::string toolkit = named && *named ? named : "/usr/local/cuda/lib64/libnccl.so.2";
  if (std::system(("test -f " + toolkit).c_str()) != 0) GTEST_SKIP() << "no " << toolkit << " here";
  ScopedEnv lib("GPT_NCCL_LIBRARY", toolkit.c_str());
  const std::string v = nccl_version();
  EXPECT_EQ(v.rfind("2.", 0), 0u) << v;
  EXPECT_NE(v.find(toolkit), std::string::npos) << v;
}

// ---- on a GPU ----

// A one-rank NCCL group as `GPT_COMM=nccl gpt train --device cuda` makes it; skips
// without a GPU, or without NCCL on the loader's path (scripts/gpu_check.sh sets it).
std::unique_ptr<ProcessGroup> one_rank_nccl_or_skip(std::string* why) {
  const CudaStatus st = cuda_status();
  if (st.devices == 0) {
    *why = "no CUDA device: " + st.error;
    return nullptr;
  }
  try {
    static const std::string v = nccl_version();
    static const int said = std::printf("NCCL version %s\n", v.c_str());  // for scripts/gpu_check.sh's report
    (void)said;
  } catch (const Error& e) {
    *why = e.what();
    return nullptr;
  }
  ScopedEnv comm("GPT_COMM", "nccl");
  return launch_process_group(DeviceKind::cuda);
}

std::vector<float> on_host(const DeviceBuffer<float>& b) {
  std::vector<float> h(b.size());
  b.read(h.data(), 0, h.size());
  return h;
}

TEST(NcclGpu, OneRankCollectivesOnDeviceBuffers) {
  std::string why;
  const auto pg = one_rank_nccl_or_skip(&why);
  if (!pg) GTEST_SKIP() << why;
  ASSERT_EQ(pg->size(), 1);
  ASSERT_EQ(pg->rank(), 0);
  const DeviceMemory& mem = cuda_backend().mem;
  const size_t n = 1001;  // odd: not a multiple of any vector width
  std::vector<float> ref(n);
  for (size_t i = 0; i < n; i++) ref[i] = float(i) * 0.25f - 100.0f;
  DeviceBuffer<float> x(mem, n);
  x.write(ref.data(), 0, n);
  const double comm0 = pg->comm_seconds();

  // The sum over one rank is the rank's own values, bit for bit.
  pg->all_reduce_sum(x.data(), n);
  EXPECT_EQ(on_host(x), ref);
  pg->reduce_scatter_sum(x.data(), {n});
  EXPECT_EQ(on_host(x), ref);
  pg->all_gather(x.data(), {n});
  EXPECT_EQ(on_host(x), ref);
  // gather: a device block into a separate host buffer.
  std::vector<float> full(n, -1.0f);
  pg->gather(x.data(), {n}, full.data());
  EXPECT_EQ(full, ref);
  // The loop's scalars: host doubles, staged through the GPU.
  double s[2] = {1.5, -2.25e-300};
  pg->all_reduce_sum(s, 2);
  EXPECT_EQ(s[0], 1.5);
  EXPECT_EQ(s[1], -2.25e-300);
  EXPECT_GT(pg->comm_seconds(), comm0);
  // Empty buffers are fine; host-side operations are trivial with one rank.
  pg->all_reduce_sum(x.data(), 0);
  pg->reduce_scatter_sum(x.data(), {0});
  EXPECT_TRUE(pg->any(true));
  EXPECT_FALSE(pg->any(false));
  int v = 7;
  pg->broadcast(&v, sizeof v, 0);
  EXPECT_EQ(v, 7);
  pg->barrier();

  // The contract: memory of the wrong kind, or block sizes for another number of ranks,
  // are errors naming the call (not a crash inside NCCL).
  try {
    pg->all_reduce_sum(ref.data(), n);
    ADD_FAILURE() << "host memory accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("all_reduce_sum(float*) was given host memory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(pg->all_reduce_sum(reinterpret_cast<double*>(x.data()), 2), Error);
  EXPECT_THROW(pg->reduce_scatter_sum(x.data(), {n / 2, n - n / 2}), Error);
  EXPECT_EQ(on_host(x), ref);
}

// ZeRO-1's checkpoint gathers m and v to the host; with one process on a GPU the model
// reads them itself (before, the single-process group's host copy read device memory).
TEST(NcclGpu, ZeroOneGathersOptimizerStateFromTheGpu) {
  const CudaStatus st = cuda_status();
  if (st.devices == 0) GTEST_SKIP() << "no CUDA device: " << st.error;
  const GPTConfig c = small_gpt(16, 32);
  GPT<float> model(c, DeviceKind::cuda);
  model.shard_optimizer(0, model.num_params());
  model.init_weights(5);
  model.ensure_training_state();
  std::vector<float> m(model.num_params());
  for (size_t i = 0; i < m.size(); i++) m[i] = float(i % 97) - 48.0f;
  model.write(Store::m, m.data(), 0, m.size());
  const std::vector<size_t> counts = even_split(model.num_params(), 1);
  std::vector<float> full(model.num_params(), 0.0f);
  const auto single = single_process_group();
  model.gather_optimizer_state(*single, Store::m, counts, &full);
  EXPECT_EQ(full, m);
  std::string why;
  const auto nccl = one_rank_nccl_or_skip(&why);
  if (!nccl) GTEST_SKIP() << why;
  std::fill(full.begin(), full.end(), 0.0f);
  model.gather_optimizer_state(*nccl, Store::m, counts, &full);
  EXPECT_EQ(full, m);
}
#endif

}  // namespace
}  // namespace gpt::test
