// `gpt train --profile` (src/backend_profile.*): the timing table changes no result,
// counts the calls of the optimizer steps after the first and nothing else (not the
// first step, not the evaluations), and is gone after the run.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "backend.h"
#include "backend_profile.h"
#include "test_util.h"

namespace gpt::test {
namespace {
// calls of an entry in the report ("  matmul_forward   21   ..."), -1 when absent.
long calls_of(const std::string& report, const std::string& entry) {
  std::smatch m;
  if (!std::regex_search(report, m, std::regex("\n  " + entry + " +([0-9]+) ")) ) return -1;
  return std::stol(m[1]);
}
}  // namespace

TEST(Profile, TrainProfileCountsTheTimedStepsCallsAndChangesNoResult) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  const int steps = 4, L = 2;
  std::vector<std::string> args = {"train", "--data", data, "--steps", std::to_string(steps), "--log-every", "1",
                                   "--eval-every", "2", "--eval-batches", "2", "--save-every", "0", "--dropout",
                                   "0.1", "--sampling", "sequential", "--seed", "5"};
  const auto model = tiny_model_flags();
  args.insert(args.end(), model.begin(), model.end());
  auto with = [&](std::vector<std::string> extra) {
    auto x = args;
    x.insert(x.end(), extra.begin(), extra.end());
    return x;
  };
  std::string err;
  ASSERT_EQ(run_gpt(with({"--out", dir + "/plain"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(with({"--out", dir + "/prof", "--profile"}), nullptr, &err), 0) << err;
  EXPECT_EQ(read_losses(dir + "/prof/metrics.jsonl"), read_losses(dir + "/plain/metrics.jsonl"));

  EXPECT_NE(err.find("profile (--profile): " + std::to_string(steps - 1) + " steps, cpu fp32"), std::string::npos)
      << err;
  // Per timed step: a forward (3 plain products per layer and the logits; 1 product with
  // GELU per layer; attention per layer), a backward, one AdamW update per parameter
  // tensor. The evaluations' forwards (steps 2 and 4) and step 1 are not counted.
  const long timed = steps - 1;
  EXPECT_EQ(calls_of(err, "matmul_forward"), timed * (3 * L + 1)) << err;
  EXPECT_EQ(calls_of(err, "matmul_gelu_forward"), timed * L) << err;
  EXPECT_EQ(calls_of(err, "attention_forward"), timed * L) << err;
  EXPECT_EQ(calls_of(err, "attention_backward"), timed * L) << err;
  // the classifier fused: its forward writes the gradient, no pass stores probabilities
  EXPECT_EQ(calls_of(err, "crossentropy_fused"), timed) << err;
  EXPECT_EQ(calls_of(err, "crossentropy_backward_inplace"), -1) << err;
  EXPECT_EQ(calls_of(err, "dropout_forward"), calls_of(err, "dropout_backward")) << err;
  EXPECT_GT(calls_of(err, "adamw_update"), 0) << err;
  EXPECT_NE(err.find("(outside the backend)"), std::string::npos) << err;

  // After the run: the plain tables again.
  EXPECT_FALSE(backend_profile_enabled());
  EXPECT_EQ(&backend_for<float>(DeviceKind::cpu), &cpu_backend<float>());
  EXPECT_EQ(&backend_for<float>(DeviceKind::cpu, Dtype::bf16), &cpu_backend_bf16());
}

// The timing table wraps every entry (building it checks each pointer differs from the
// inner table's) and forwards the calls: a layer through it computes what the inner
// table computes.
TEST(Profile, TheTimingTableForwardsEveryCall) {
  const Backend<float>& inner = cpu_backend<float>();
  const Backend<float>& t = profiled_backend(inner);
  EXPECT_EQ(&profiled_backend(inner), &t);  // one table per inner table
  EXPECT_NE(t.matmul_forward, inner.matmul_forward);
  const size_t N = 3;
  const int C = 4, OC = 5;
  const auto x = random_vec<float>(N * C, 1), w = random_vec<float>(size_t(OC) * C, 2), b = random_vec<float>(OC, 3);
  std::vector<float> a(N * OC), c(N * OC);
  inner.matmul_forward(a.data(), x.data(), w.data(), b.data(), N, C, OC);
  reset_backend_profile();
  set_backend_profile_active(true);
  t.matmul_forward(c.data(), x.data(), w.data(), b.data(), N, C, OC);
  set_backend_profile_active(false);
  t.matmul_forward(c.data(), x.data(), w.data(), b.data(), N, C, OC);  // not counted
  EXPECT_EQ(a, c);
  const auto rows = backend_profile_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].entry, "matmul_forward");
  EXPECT_EQ(rows[0].calls, 1u);
  reset_backend_profile();
}

}  // namespace gpt::test
