// gpt.cc against an independent PyTorch implementation (scripts/torch_reference.py,
// Debian's python3-torch): the same llm.c checkpoint trained 20 steps on text tokens
// follows the same loss curve, and an exported safetensors model gives the same
// logits. Skips when python3 cannot import torch (install_deps.sh --test installs it).
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "cli.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "formats/json.h"
#include "model.h"
#include "formats/model_io.h"
#include "formats/checkpoint.h"
#include "text/tokenizer.h"
#include "test_util.h"

namespace gpt::test {
namespace {

// Runs a shell command and returns its stdout; a non-zero exit fails the test.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "cannot run " << cmd;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << cmd << "\n" << out;
  return out;
}

std::string reference(const std::string& args) {
  return run(python_with("torch, numpy") + " '" + repo_file("scripts/torch_reference.py") + "' " + args);
}


// Tiny Shakespeare when the mirror is there, else a built-in English text.
std::string text_corpus() {
  if (const char* m = std::getenv("GPT_DATA_MIRROR")) {
    const std::string p = join_path(m, "tinyshakespeare.txt");
    if (file_exists(p)) return read_file(p).substr(0, 200000);
  }
  std::string t;
  const char* lines[] = {"It was the best of times, it was the worst of times,\n",
                         "it was the age of wisdom, it was the age of foolishness,\n",
                         "we had everything before us, we had nothing before us.\n"};
  for (int i = 0; i < 300; i++) t += lines[(i * 7) % 3];
  return t;
}

TEST(Reference, TwentyStepsFollowPyTorchAdamWLossByLoss) {
  if (python_with("torch, numpy").empty()) GTEST_SKIP() << "python3 with torch not found (scripts/install_deps.sh --test)";
  const std::string dir = scratch_dir();
  write_file_atomic(dir + "/input.txt", text_corpus());
  prepare_data(dir + "/input.txt", dir + "/data", "char", 0.1);
  const int V = Tokenizer::load_dir(dir + "/data")->vocab_size();
  // A GPT-2-initialised model written by PyTorch as an llm.c checkpoint (version 3).
  reference("init-llmc --out '" + dir + "/init.bin' --vocab " + std::to_string(V) +
            " --layers 2 --heads 4 --dim 64 --context 32 --seed 7");
  const std::string common = " --batch 4 --context 32 --steps 20 --lr 1e-3 --beta1 0.9 --beta2 0.99 --eps 1e-8";
  std::string err;
  ASSERT_EQ(run_gpt({"train", "--data", dir + "/data", "--out", dir + "/run", "--init", dir + "/init.bin",
                       "--sampling", "sequential", "--schedule", "constant", "--warmup", "0", "--weight-decay", "0",
                       "--grad-clip", "0", "--dropout", "0", "--batch", "4", "--context", "32", "--steps", "20",
                       "--lr", "1e-3", "--beta1", "0.9", "--beta2", "0.99", "--log-every", "1", "--eval-every", "0",
                       "--threads", "2"}, nullptr, &err),
            0)
      << err;
  const Json ref = Json::parse(reference("train --ckpt '" + dir + "/init.bin' --shard '" + dir + "/data/train.bin'" +
                                         common + " --dtype float64"),
                               "torch_reference.py train");
  const auto& want = ref.find("losses")->as_array("losses");
  ASSERT_EQ(want.size(), 20u);
  std::istringstream metrics(read_file(dir + "/run/metrics.jsonl"));
  std::string line;
  int k = 0;
  double worst = 0;
  while (std::getline(metrics, line)) {
    const Json m = Json::parse(line, "metrics.jsonl");
    ASSERT_LT(k, 20);
    EXPECT_EQ(m.find("step")->as_int("step"), k + 1);
    const double got = m.find("train_loss")->as_number("train_loss"), w = want[k].as_number("loss");
    // fp32 (gpt.cc) against fp64 (PyTorch): a float32 PyTorch run differs from the
    // fp64 one by < 1e-6 on this model; a wrong gradient or optimizer is off by > 1e-3.
    EXPECT_NEAR(got, w, 1e-5) << "step " << k + 1;
    worst = std::max(worst, std::abs(got - w));
    k++;
  }
  EXPECT_EQ(k, 20);
  // The loss fell: the comparison is over a curve that moves.
  EXPECT_LT(want[19].as_number("l"), want[0].as_number("l") - 0.3);
  std::printf("[ reference ] 20 steps, max |loss(gpt.cc) - loss(PyTorch)| = %.3g\n", worst);
}

// `gpt export --to safetensors` read back by PyTorch with Hugging Face GPT-2's names and
// Conv1D (in, out) layouts gives the logits gpt.cc computes for the same tokens.
TEST(Reference, SafetensorsExportGivesTheSameLogitsInPyTorch) {
  if (python_with("torch, numpy").empty()) GTEST_SKIP() << "python3 with torch not found (scripts/install_deps.sh --test)";
  const std::string dir = scratch_dir();
  reference("init-llmc --out '" + dir + "/m.bin' --vocab 70 --layers 2 --heads 4 --dim 64 --context 24 --seed 3");
  std::string err;
  ASSERT_EQ(run_gpt({"export", "--ckpt", dir + "/m.bin", "--to", "safetensors", "--out", dir + "/hf"}, nullptr, &err), 0)
      << err;
  const Checkpoint ck = load_model(dir + "/m.bin", std::nullopt);
  GPT<float> model(ck.model);
  load_weights(model, ck, false);
  const std::vector<int> toks = {5, 17, 3, 69, 0, 42, 42, 8, 23, 1, 60, 7};
  const int T = int(toks.size());
  model.forward(toks.data(), nullptr, 1, T);
  std::string ids;
  for (int t : toks) ids += std::to_string(t) + " ";
  const Json ref = Json::parse(reference("logits --dir '" + dir + "/hf' --tokens '" + ids + "'"), "logits");
  const auto& rows = ref.find("logits")->as_array("logits");
  ASSERT_EQ(int(rows.size()), T);
  const int V = ck.model.vocab_size, Vp = ck.model.padded_vocab_size;
  const std::vector<float> logits = model.logits();
  double worst = 0;
  for (int t = 0; t < T; t++) {
    const auto& row = rows[t].as_array("row");
    ASSERT_EQ(int(row.size()), V);  // Hugging Face's vocabulary is not padded
    for (int v = 0; v < V; v++) {
      const double got = logits[size_t(t) * Vp + v], want = row[v].as_number("logit");
      EXPECT_NEAR(got, want, 1e-4) << "token " << t << ", logit " << v;
      worst = std::max(worst, std::abs(got - want));
    }
  }
  std::printf("[ reference ] safetensors logits, max |gpt.cc - PyTorch| = %.3g\n", worst);
}

}  // namespace
}  // namespace gpt::test
