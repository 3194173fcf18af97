// Issue 15: a run is self-contained and nothing surprises. --resume RUN alone, the
// notes (re-stretched schedule, cut prompt, labelled tok/s, final losses), gpt eval,
// best.bin, MFU, sample --num-samples / --prompt-file, gpt --version, exports that
// carry their tokenizer, attention entropies without --out, gradcheck's tolerances.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <regex>

#include "commands/common.h"
#include "commands/run_info.h"
#include "schedule.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "formats/checkpoint.h"
#include "formats/json.h"
#include "formats/model_io.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace gpt::test {

// From test_cli.cpp.

namespace {

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Trains the tiny model: --steps N, val over the whole split every `eval` steps.
void train(const std::string& data, const std::string& run, int steps, int eval, std::string* err,
           std::vector<std::string> extra = {}) {
  auto args = cat({"train", "--data", data, "--out", run, "--steps", std::to_string(steps), "--eval-every",
                   std::to_string(eval), "--eval-batches", "0", "--log-every", "1", "--lr", "3e-3", "--warmup", "2"},
                  tiny_model_flags());
  ASSERT_EQ(run_gpt(cat(args, extra), nullptr, err), 0) << *err;
}

// Removes the test's scratch directory when the test passed.
struct RemoveIfPassed {
  std::string dir;
  ~RemoveIfPassed() {
    if (!::testing::Test::HasFailure()) std::system(("rm -rf '" + dir + "'").c_str());
  }
};

std::string last_line_with(const std::string& text, const std::string& needle) {
  std::string found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) found = line;
  return found;
}

}  // namespace

// helper-38: a run killed after it saved best.bin and before its first checkpoint left
// best.bin behind; a new run in that --out (without evaluations) kept it, and `gpt sample
// --ckpt RUN/best.bin` read the earlier run's model as this one's best. A new run moves it
// aside (best.earlier-run.bin), and says so.
// helper-38 too: --resume of such a run named it as something else.
TEST(Runs, ARunWithoutACheckpointIsNamedAndANewRunMovesItsBestModelAside) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string err;
  train(data, run, 2, 1, &err);
  ASSERT_TRUE(file_exists(join_path(run, "best.bin")));
  std::remove(join_path(run, "checkpoint.bin").c_str());  // as a kill between the two saves leaves it
  // --resume said "no checkpoint here; expected a run directory written by `gpt train
  // --out RUN`", which it is: it says now that the run stopped before its first checkpoint,
  // and how to start it again (the command below).
  // helper-40: and best.bin, the only trained weights left, is offered (a new run in RUN
  // removed it: it is moved aside now).
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--steps", "4"}, nullptr, &err), 1);
  EXPECT_NE(err.find(run + ": the run here has no checkpoint.bin (it stopped before saving its first one, or the "
                           "file was removed)"),
            std::string::npos) << err;
  EXPECT_NE(err.find("gpt train --init " + join_path(run, "best.bin") + " --data " + data + " --out NEW"),
            std::string::npos) << err;
  EXPECT_NE(err.find("or start " + run + " again from scratch (gpt train --out " + run + " --data " + data),
            std::string::npos) << err;
  const std::string weights = read_file(join_path(run, "best.bin"));
  train(data, join_path(dir, "from_best"), 2, 0, &err, {"--init", join_path(run, "best.bin")});
  train(data, run, 2, 0, &err);
  EXPECT_FALSE(file_exists(join_path(run, "best.bin")));
  EXPECT_NE(err.find("note: moved " + join_path(run, "best.bin") + ", left by an earlier run in " + run +
                     " that has no checkpoint, to " + join_path(run, "best.earlier-run.bin")),
            std::string::npos) << err;
  EXPECT_EQ(read_file(join_path(run, "best.earlier-run.bin")), weights);
  EXPECT_TRUE(file_exists(join_path(run, "checkpoint.bin")));
}

// helper-38: a damaged checkpoint.bin said "use an earlier checkpoint", which a run does not
// keep. It names the run's best.bin and the command that starts from it, which works.
TEST(Runs, ADamagedCheckpointNamesTheBestModelToStartFrom) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string err;
  train(data, run, 2, 1, &err);
  const std::string ckpt = join_path(run, "checkpoint.bin"), best = join_path(run, "best.bin");
  std::string bytes = read_file(ckpt);
  bytes[bytes.size() / 2] ^= 0x40;
  write_file_atomic(ckpt, bytes);
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--steps", "4"}, nullptr, &err), 1);
  EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << err;
  EXPECT_EQ(err.find("earlier checkpoint"), std::string::npos) << err;
  EXPECT_NE(err.find("gpt train --init " + best + " --data DIR --out NEW"), std::string::npos) << err;
  // (helper-40: sample and eval were pointed at train only)
  ASSERT_EQ(run_gpt({"sample", "--ckpt", run, "--tokens", "2"}, nullptr, &err), 1);
  EXPECT_NE(err.find("sample or evaluate it with --ckpt " + best), std::string::npos) << err;
  ASSERT_EQ(run_gpt({"sample", "--ckpt", best, "--tokens", "2"}, nullptr, &err), 0) << err;
  train(data, join_path(dir, "new"), 2, 0, &err, {"--init", best});
  // best.bin damaged: the run's checkpoint is named instead.
  bytes = read_file(best);
  bytes[bytes.size() / 2] ^= 0x40;
  write_file_atomic(best, bytes);
  write_file_atomic(ckpt, read_file(join_path(dir, "new/checkpoint.bin")));
  ASSERT_EQ(run_gpt({"sample", "--ckpt", best, "--tokens", "2"}, nullptr, &err), 1);
  EXPECT_NE(err.find("use the run's last checkpoint instead (" + ckpt + ")"), std::string::npos) << err;
  // helper-40: a resume kept the damaged best.bin (only a lower val loss replaced it) and
  // ended "lowest val loss ...: RUN/best.bin". It is said, named at the end only once it is
  // written again, and the next evaluation writes it.
  const std::string runs = join_path(dir, "new");
  write_file_atomic(join_path(runs, "best.bin"), bytes);
  train(data, runs, 3, 0, &err, {"--resume", runs});
  EXPECT_NE(err.find("note: the next evaluation writes " + join_path(runs, "best.bin") + " again"), std::string::npos)
      << err;
  EXPECT_EQ(err.find("lowest val loss"), std::string::npos) << err;
  train(data, runs, 4, 1, &err, {"--resume", runs});
  EXPECT_NE(err.find("lowest val loss"), std::string::npos) << err;
  EXPECT_EQ(load_checkpoint(join_path(runs, "best.bin"), false).state.step, 4);
}

// helper-38: the line of the checkpoint's step cut short (a write that failed at the disk's
// end, the save after it done) was dropped by the resume without a word: that step's
// metrics are gone for good. It is said now, with the line.
TEST(Runs, AResumeSaysItDropsALineCutShort) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run"), metrics = join_path(run, "metrics.jsonl");
  std::string err;
  train(data, run, 4, 0, &err);
  std::string lines = read_file(metrics);
  const size_t last = lines.rfind("{\"step\":4,");
  ASSERT_NE(last, std::string::npos) << lines;
  write_file_atomic(metrics, lines.substr(0, last) + "{\"step\":4,\"train_lo");
  train(data, run, 5, 0, &err, {"--resume", run});
  EXPECT_NE(err.find("held a line cut short (a full disk, or a kill while it was written): "
                     "\"{\\\"step\\\":4,\\\"train_lo\"; it is dropped (the metrics of that step are lost"),
            std::string::npos) << err;
  EXPECT_EQ(read_losses(metrics).size(), 4u);  // steps 1-3 and 5
}

TEST(Runs, ResumeAloneUsesTheRememberedDataAndRefusesMovedData) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run"), whole = join_path(dir, "whole");
  std::string err;
  // The data given relative to the working directory are remembered as an absolute path.
  char cwd[PATH_MAX];
  ASSERT_TRUE(getcwd(cwd, sizeof cwd));
  ASSERT_EQ(chdir(dir.c_str()), 0);
  auto args = cat({"train", "--data", "data", "--out", run, "--steps", "8", "--log-every", "1", "--eval-every", "4",
                   "--eval-batches", "2", "--stop-at", "5"},
                  tiny_model_flags());
  const int rc = run_gpt(args, nullptr, &err);
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_NE(err.find("continue with: gpt train --resume " + run), std::string::npos) << err;
  const auto remembered = load_data_source(run);
  ASSERT_TRUE(remembered);
  EXPECT_EQ(remembered->dir, dir + "/data");
  // --resume RUN alone continues, and exactly: the same losses as an uninterrupted run.
  ASSERT_EQ(run_gpt({"train", "--resume", run}, nullptr, &err), 0) << err;
  args[std::find(args.begin(), args.end(), "--out") - args.begin() + 1] = whole;
  args[2] = data;
  args.resize(args.size() - tiny_model_flags().size() - 2);  // drop --stop-at 5
  args = cat(args, tiny_model_flags());
  ASSERT_EQ(run_gpt(args, nullptr, &err), 0) << err;
  EXPECT_EQ(read_losses(run + "/metrics.jsonl"), read_losses(whole + "/metrics.jsonl"));
  // Moved data: refused, naming data.json and what to do.
  const std::string moved = join_path(dir, "moved");
  ASSERT_EQ(std::rename(data.c_str(), moved.c_str()), 0);
  EXPECT_EQ(run_gpt({"train", "--resume", run, "--steps", "10"}, nullptr, &err), 1);
  EXPECT_NE(err.find("data.json"), std::string::npos) << err;
  EXPECT_NE(err.find("--data"), std::string::npos) << err;
  // --data overrides (and is remembered from then on).
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--steps", "10", "--data", moved}, nullptr, &err), 0) << err;
  EXPECT_EQ(load_data_source(run)->dir, moved);
  // Changed data: refused as before.
  const std::string other = join_path(dir, "other");
  write_file_atomic(join_path(dir, "o.txt"), read_file(join_path(dir, "input.txt")) + "the cat sat.\n");
  prepare_data(join_path(dir, "o.txt"), other, "char", 0.1);
  EXPECT_EQ(run_gpt({"train", "--resume", run, "--steps", "12", "--data", other}, nullptr, &err), 1);
  EXPECT_NE(err.find("other data"), std::string::npos) << err;
  // A run without data.json (from before it existed) still says --data is required.
  std::remove((run + "/data.json").c_str());
  EXPECT_EQ(run_gpt({"train", "--resume", run, "--steps", "12"}, nullptr, &err), 2);
  EXPECT_NE(err.find("--data is required"), std::string::npos) << err;
}

TEST(Runs, NotesSayWhatWouldOtherwiseSurprise) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string err, out;
  train(data, run, 10, 5, &err);
  // Progress: tok/s labelled as a moving average (metrics.jsonl's is one step).
  EXPECT_NE(err.find("tok/s (avg)"), std::string::npos) << err;
  // done: the final train and val loss, as logged.
  const std::string logged = read_losses(run + "/metrics.jsonl").at(10);
  char want[96];
  std::snprintf(want, sizeof want, "final train loss %.4f, val loss %.4f", std::stod(logged),
                std::stod(logged.substr(logged.find('/') + 1)));
  EXPECT_NE(err.find(want), std::string::npos) << err;
  // A larger --steps on resume re-stretches the cosine decay: one line says so.
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--steps", "14"}, nullptr, &err), 0) << err;
  const std::string note = last_line_with(err, "re-stretched");
  EXPECT_NE(note.find("--steps 10 -> 14"), std::string::npos) << err;
  TrainConfig before;
  before.lr = 3e-3f, before.warmup = 2, before.steps = 10;
  TrainConfig now = before;
  now.steps = 14;
  // The step it names is the next one, as the log counts (it named step 10 while
  // quoting the rate of the step logged as 11).
  char lrs[64];
  std::snprintf(lrs, sizeof lrs, "lr at step 11 is now %.2e (was %.2e)", learning_rate(now, 10),
                learning_rate(before, 10));
  EXPECT_NE(note.find(lrs), std::string::npos) << note;
  const std::string m = read_file(run + "/metrics.jsonl");
  const size_t at = m.find("{\"step\":11,");
  ASSERT_NE(at, std::string::npos) << m;
  EXPECT_FLOAT_EQ(std::stof(m.substr(m.find("\"lr\":", at) + 5)), learning_rate(now, 10));
  // Resuming with the same --steps says nothing about the schedule.
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--steps", "14"}, nullptr, &err), 0) << err;
  EXPECT_EQ(err.find("note:"), std::string::npos) << err;
  // A prompt longer than the context (16): the model sees its last 16 tokens, and says so.
  const std::string long_prompt = "the cat sat on a mat. the dog ran\n";
  ASSERT_EQ(run_gpt({"sample", "--ckpt", run, "--prompt", long_prompt, "--tokens", "3"}, &out, &err), 0) << err;
  EXPECT_NE(err.find("the prompt is 34 tokens, longer than the model's context of 16"), std::string::npos) << err;
  ASSERT_EQ(run_gpt({"sample", "--ckpt", run, "--prompt", "the cat", "--tokens", "3"}, &out, &err), 0) << err;
  EXPECT_EQ(err.find("longer"), std::string::npos) << err;
}

TEST(Runs, EvalBestCheckpointAndMfu) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string err, out;
  // (A peak of 2 GFLOP/s put the MFU above 100% whenever the machine was idle, which the
  // progress line prints another way: ~177k FLOPs/token, so 200 keeps it under 100% up
  // to ~1M tokens/s.)
  train(data, run, 12, 3, &err, {"--peak-gflops", "200"});
  const std::string train_err = err;
  // MFU = tokens/s x FLOPs/token / peak, on the progress line.
  const std::string line = last_line_with(err, "step 12/12");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, std::regex("\\| ([0-9,]+) tok/s \\(avg\\) \\| MFU ([0-9.]+)%"))) << line;
  std::string tps = m[1];
  tps.erase(std::remove(tps.begin(), tps.end(), ','), tps.end());
  const double flops = training_flops_per_token(load_checkpoint(run).model);
  EXPECT_NEAR(std::stod(m[2]), 100.0 * std::stod(tps) * flops / 200e9, 0.05 + 1e-4 * std::stod(m[2])) << line;
  EXPECT_NE(err.find("against a peak of 200 GFLOP/s (--peak-gflops"), std::string::npos) << err;
  // gpt eval --ckpt RUN: the data it remembers, the whole val split: the figure the
  // run logged with --eval-batches 0 at its last step.
  const auto losses = read_losses(run + "/metrics.jsonl");
  const std::string last = losses.at(12);
  ASSERT_EQ(run_gpt({"eval", "--ckpt", run}, &out, &err), 0) << err;
  EXPECT_EQ(err.find("logged its val loss from"), std::string::npos) << err;  // --eval-batches 0: the same figure
  char want[32];
  std::snprintf(want, sizeof want, "val loss %.4f", std::stod(last.substr(last.find('/') + 1)));
  EXPECT_EQ(out.rfind(want, 0), 0u) << out << " want " << want;
  // best.bin: the weights of the lowest logged val loss (weights only).
  double best = 1e9;
  for (const auto& [step, l] : losses)
    if (l.back() != '/') best = std::min(best, std::stod(l.substr(l.find('/') + 1)));
  ASSERT_TRUE(file_exists(run + "/best.bin"));
  ASSERT_EQ(run_gpt({"eval", "--ckpt", run + "/best.bin", "--data", data}, &out, &err), 0) << err;
  std::snprintf(want, sizeof want, "val loss %.4f", best);
  EXPECT_EQ(out.rfind(want, 0), 0u) << out << " want " << want;
  EXPECT_TRUE(load_checkpoint(run + "/best.bin").m.empty());
  EXPECT_NE(train_err.find("lowest val loss"), std::string::npos) << train_err;
  // The train split, and an eval without any data to go by.
  ASSERT_EQ(run_gpt({"eval", "--ckpt", run, "--split", "train"}, &out, &err), 0) << err;
  EXPECT_EQ(out.rfind("train loss ", 0), 0u) << out;
  EXPECT_EQ(run_gpt({"eval", "--ckpt", run + "/best.bin"}, &out, &err), 0) << err;  // run dir beside it
  std::remove((run + "/data.json").c_str());
  EXPECT_EQ(run_gpt({"eval", "--ckpt", run}, &out, &err), 2);
  EXPECT_NE(err.find("--data"), std::string::npos) << err;
  // --peak-gflops 0: no MFU.
  train(data, join_path(dir, "nomfu"), 2, 0, &err, {"--peak-gflops", "0"});
  EXPECT_EQ(err.find("MFU"), std::string::npos) << err;
}

// A data flag the split does not read was dropped without a word: --data DIR with
// --val-glob P evaluated P alone; --train-glob with the val split set the run's own data
// aside and then asked for data.
TEST(Runs, EvalRefusesADataFlagItsSplitDoesNotRead) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string out, err;
  train(data, run, 2, 0, &err);
  const std::string val = join_path(data, "val.bin"), tr = join_path(data, "train.bin");
  EXPECT_EQ(run_gpt({"eval", "--ckpt", run, "--data", data, "--val-glob", val}, &out, &err), 2);
  EXPECT_NE(err.find("--data and --val-glob both name the val split"), std::string::npos) << err;
  EXPECT_EQ(run_gpt({"eval", "--ckpt", run, "--train-glob", tr}, &out, &err), 2);
  EXPECT_NE(err.find("--train-glob is read only with --split train"), std::string::npos) << err;
  EXPECT_EQ(run_gpt({"eval", "--ckpt", run, "--split", "train", "--val-glob", val}, &out, &err), 2);
  EXPECT_NE(err.find("--val-glob is read only with --split val"), std::string::npos) << err;
  EXPECT_EQ(run_gpt({"eval", "--ckpt", run, "--split", "train", "--data", data, "--train-glob", tr}, &out, &err), 2);
  EXPECT_NE(err.find("give one"), std::string::npos) << err;
  // Each split with its own flag: the same figure as the data directory's file.
  ASSERT_EQ(run_gpt({"eval", "--ckpt", run, "--split", "train", "--data", data}, &out, &err), 0) << err;
  const std::string by_dir = out.substr(0, out.find(" over "));
  ASSERT_EQ(run_gpt({"eval", "--ckpt", run, "--split", "train", "--train-glob", tr}, &out, &err), 0) << err;
  EXPECT_EQ(out.substr(0, out.find(" over ")), by_dir);
  ASSERT_EQ(run_gpt({"eval", "--ckpt", run, "--val-glob", val}, &out, &err), 0) << err;
  EXPECT_EQ(out.rfind("val loss ", 0), 0u) << out;
}

TEST(Runs, SampleSeveralAndFromAFileExportsCarryTheirTokenizer) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string err, one, three, from_file;
  train(data, run, 6, 0, &err);
  const std::vector<std::string> base = {"sample", "--prompt", "the ", "--tokens", "20", "--seed", "5"};
  auto with = [&](std::vector<std::string> a, const std::string& ckpt) {
    a.insert(a.begin() + 1, {"--ckpt", ckpt});
    return a;
  };
  ASSERT_EQ(run_gpt(with(base, run), &one, &err), 0) << err;
  ASSERT_EQ(run_gpt(cat(with(base, run), {"--num-samples", "3"}), &three, &err), 0) << err;
  // Three samples, each with the prompt, separated; the first is the single sample.
  EXPECT_EQ(three.rfind(one, 0), 0u) << three;
  EXPECT_EQ(three.size(), 3 * one.size() + 2 * 16) << three;
  size_t n = 0;
  for (size_t p = 0; (p = three.find("---------------\nthe ", p)) != std::string::npos; p++) n++;
  EXPECT_EQ(n, 2u) << three;
  EXPECT_NE(three.substr(one.size() + 16, one.size()), one);  // the rng goes on
  // --prompt-file: the same as --prompt with the file's bytes.
  write_file_atomic(dir + "/p.txt", "the ");
  ASSERT_EQ(run_gpt({"sample", "--ckpt", run, "--prompt-file", dir + "/p.txt", "--tokens", "20", "--seed", "5"},
                    &from_file, &err), 0) << err;
  EXPECT_EQ(from_file, one);
  EXPECT_EQ(run_gpt(cat(with(base, run), {"--prompt-file", dir + "/p.txt"}), &from_file, &err), 2);

  // Exports carry the tokenizer: they sample the same text with no extra flag.
  const std::string bin = dir + "/m.bin", hf = dir + "/hf";
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "llmc", "--out", bin}, &from_file, &err), 0) << err;
  EXPECT_TRUE(file_exists(dir + "/m.tokenizer.bin"));
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "safetensors", "--out", hf}, &from_file, &err), 0) << err;
  EXPECT_TRUE(file_exists(hf + "/tokenizer.bin"));
  for (const std::string& e : {bin, hf}) {
    std::string o;
    ASSERT_EQ(run_gpt(with(base, e), &o, &err), 0) << e << ": " << err;
    EXPECT_EQ(o, one) << e;
  }
  // The Hugging Face tokenizer.json beside it is for transformers: given to gpt.cc, it is
  // named as such, with the tokenizer to give instead (it was "not a tokenizer file").
  EXPECT_EQ(run_gpt(cat(with(base, hf), {"--tokenizer", hf + "/tokenizer.json"}), nullptr, &err), 1);
  EXPECT_NE(err.find("is a Hugging Face tokenizer.json, which gpt.cc writes for transformers but does not read"),
            std::string::npos) << err;
  EXPECT_NE(err.find("Beside it: " + hf + "/tokenizer.bin"), std::string::npos) << err;
  // config.json: a char vocabulary has no bos/eos (null, not 'z' or any other character).
  const Json cfg = Json::parse(read_file(hf + "/config.json"), "config.json");
  EXPECT_TRUE(cfg.find("bos_token_id")->is_null());
  EXPECT_TRUE(cfg.find("eos_token_id")->is_null());
}

// sample and train --sample-every printed text only up to its first NUL byte (fputs): a
// prompt "the\0cat" showed as "the", and a token that decodes to a NUL ended what was
// printed of it. Every byte is written. (A char tokenizer of the model's size with NUL
// where the data has its newline: the model samples NULs.)
TEST(Runs, SampleAndTrainSamplesPrintNulBytes) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string out, err;
  train(data, run, 6, 0, &err);
  std::string chars = Tokenizer::load_dir(data)->decode({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
  ASSERT_EQ(chars.substr(0, 2), "\n ");
  chars[0] = '\0';
  make_dirs(join_path(dir, "nul"));
  build_char_tokenizer(chars)->save_dir(join_path(dir, "nul"));
  const std::string tok = join_path(dir, "nul/" + std::string(kTokenizerFile));
  const std::string prompt("the\0cat", 7);
  write_file_atomic(dir + "/p.txt", prompt);
  ASSERT_EQ(run_gpt({"sample", "--ckpt", run, "--tokenizer", tok, "--prompt-file", dir + "/p.txt", "--tokens", "0"},
                    &out, &err), 0) << err;
  EXPECT_EQ(out, prompt + "\n");
  ASSERT_EQ(run_gpt({"sample", "--ckpt", run, "--tokenizer", tok, "--prompt-file", dir + "/p.txt", "--tokens", "200",
                     "--seed", "5"}, &out, &err), 0) << err;
  EXPECT_EQ(out.size(), prompt.size() + 200 + 1);  // one byte a token
  EXPECT_EQ(out.substr(0, prompt.size()), prompt);
  EXPECT_NE(out.find('\0', prompt.size()), std::string::npos);  // sampled NULs are printed
  // train's samples: the data directory's tokenizer replaced by the NUL one.
  write_file_atomic(join_path(data, kTokenizerFile), read_file(tok));
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", join_path(dir, "run2"), "--steps", "2", "--eval-every", "0",
                         "--sample-every", "2", "--sample-tokens", "200", "--sample-prompt", "the "},
                        tiny_model_flags()),
                    &out, &err), 0) << err;
  const size_t at = out.find("--- sample at step 2");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string sample = out.substr(out.find('\n', at) + 1, 4 + 200);
  EXPECT_EQ(sample.substr(0, 4), "the ");
  EXPECT_NE(sample.find('\0'), std::string::npos) << "no NUL in: " << sample;
}

TEST(Runs, ExportOfASentencePieceRunWritesTokenizerModelAndItsSpecialIds) {
  if (!have_sentencepiece()) GTEST_SKIP() << "built without SentencePiece";
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  std::string text;
  SplitMix64 r(3);
  const char* words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat. ", "dog ", "ran\n", "quickly ", "over "};
  while (text.size() < 20000) text += words[r.below(10)];
  write_file_atomic(dir + "/in.txt", text);
  prepare_data(dir + "/in.txt", dir + "/data", "bpe", 0.1, 300);
  std::string err, want, got;
  train(dir + "/data", dir + "/run", 2, 0, &err);
  ASSERT_EQ(run_gpt({"export", "--ckpt", dir + "/run", "--to", "safetensors", "--out", dir + "/hf"}, &got, &err), 0)
      << err;
  EXPECT_EQ(read_file(dir + "/hf/tokenizer.model"), read_file(dir + "/data/tokenizer.model"));
  const Json cfg = Json::parse(read_file(dir + "/hf/config.json"), "config.json");
  EXPECT_EQ(cfg.find("bos_token_id")->as_int("bos"), 1);  // <s>
  EXPECT_EQ(cfg.find("eos_token_id")->as_int("eos"), 2);  // </s>
  const std::vector<std::string> s = {"sample", "--prompt", "the cat", "--tokens", "8", "--seed", "2", "--ckpt"};
  ASSERT_EQ(run_gpt(cat(s, {dir + "/run"}), &want, &err), 0) << err;
  ASSERT_EQ(run_gpt(cat(s, {dir + "/hf"}), &got, &err), 0) << err;
  EXPECT_EQ(got, want);
}

TEST(Runs, VersionNamesCommitAndBuildOptions) {
  std::string out;
  ASSERT_EQ(run_gpt({"--version"}, &out), 0);
  EXPECT_TRUE(std::regex_search(out, std::regex("^gpt.cc commit ([0-9a-f]{12}(-dirty)?|unknown)\n"))) << out;
  EXPECT_NE(out.find(std::string("SentencePiece ") + (have_sentencepiece() ? "yes" : "no")), std::string::npos)
      << out;
  for (const char* w : {"OpenMP yes", "CUDA ", "MPI "}) EXPECT_NE(out.find(w), std::string::npos) << out;
  ASSERT_EQ(run_gpt({"--help"}, &out), 0);
  EXPECT_NE(out.find("eval"), std::string::npos);
}

// count() and plural() (check.h): the noun agrees with the count.
TEST(Plural, TheNounAgreesWithTheCount) {
  EXPECT_EQ(count(1, "step"), "1 step");
  EXPECT_EQ(count(0, "step"), "0 steps");
  EXPECT_EQ(count(2, "head"), "2 heads");
  EXPECT_EQ(count(12345, "token"), "12345 tokens");
  EXPECT_EQ(count(1, "batch"), "1 batch");
  EXPECT_EQ(count(3, "batch"), "3 batches");
  EXPECT_EQ(count(2, "process"), "2 processes");
  EXPECT_EQ(count(1, "empty file"), "1 empty file");
  EXPECT_EQ(plural(1.0, "token"), "token");
  EXPECT_EQ(plural(1.5, "token"), "tokens");
  EXPECT_EQ(plural(size_t(7), "character"), "characters");
}

// A count of 1 is printed with the singular: a model of 1 layer and 1 head, trained 1
// step on 1 token (context 1, batch 1), its 1-token sample, attention map and export, and
// a 1-character text tokenized. They printed "1 heads", "1 steps", "(1 tokens)", "1
// characters (1 bytes) -> 1 tokens", "prompt: 1 tokens".
TEST(Runs, ACountOfOneIsPrintedInTheSingular) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string out, err;
  ASSERT_EQ(run_gpt({"train", "--data", data, "--out", run, "--layers", "1", "--heads", "1", "--dim", "8", "--context",
                     "1", "--batch", "1", "--steps", "1", "--warmup", "0", "--threads", "1"},
                    &out, &err),
            0)
      << err;
  for (const char* s : {"(1 layer, 1 head,", "= 1 token/step; 1 step (", "done: 1 step in ", " (1 token) and 1 val evaluation in "})
    EXPECT_NE(err.find(s), std::string::npos) << s << "\n" << err;
  ASSERT_EQ(run_gpt({"sample", "--ckpt", run, "--tokens", "1", "--stats", "--threads", "1"}, &out, &err), 0) << err;
  EXPECT_NE(err.find("prompt: 1 token in "), std::string::npos) << err;
  EXPECT_NE(err.find("generated: 1 token in "), std::string::npos) << err;
  // Several samples: the counts per sample, times for all (a 1-token prompt read "prompt:
  // 2 tokens" with --num-samples 2; helper-21).
  ASSERT_EQ(run_gpt({"sample", "--ckpt", run, "--tokens", "3", "--num-samples", "2", "--stats", "--threads", "1"},
                    &out, &err),
            0)
      << err;
  EXPECT_NE(err.find("prompt: 1 token x 2 samples in "), std::string::npos) << err;
  EXPECT_NE(err.find("generated: 3 tokens x 2 samples in "), std::string::npos) << err;
  // An llm.c export into a directory not there yet: made, as for safetensors (the error
  // named the marker's temp file; helper-21).
  const std::string deep = join_path(dir, "new/sub/m.bin");
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "llmc", "--out", deep}, &out, &err), 0) << err;
  EXPECT_TRUE(is_regular_file(deep));
  EXPECT_FALSE(file_exists(interrupted_export_marker(deep)));
  ASSERT_EQ(run_gpt({"attention", "--ckpt", run, "--text", "a"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("layer 0, 1 token:"), std::string::npos) << out;
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "llmc", "--out", join_path(dir, "m.bin")}, &out, &err), 0) << err;
  EXPECT_NE(out.find(": 1 layer, 1 head, dim 8"), std::string::npos) << out;
  ASSERT_EQ(run_gpt({"tokenize", "--data", data, "--encode", "a"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("\n1 character (1 byte) -> 1 token,"), std::string::npos) << out;
  ASSERT_EQ(run_gpt({"tokenize", "--data", data, "--decode", "3"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("1 token -> 1 character (1 byte)\n"), std::string::npos) << out;
}

// Data without a usable val split train with --eval-every 0, and both prepare and train
// say so. prepare --val-fraction 0 said training would refuse the data, and train's refusal
// named only --val-fraction, while `train --eval-every 0` trains on them.
TEST(Runs, DataWithoutValidationTrainWithEvalEveryZeroAndTheMessagesSaySo) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  std::string text;
  while (text.size() < 3000) text += "the cat sat on a mat. ";
  const std::string txt = join_path(dir, "in.txt"), data = join_path(dir, "data");
  write_file_atomic(txt, text);
  std::string out, err;
  ASSERT_EQ(run_gpt({"prepare", "--input", txt, "--out", data, "--val-fraction", "0"}, &out, &err), 0) << err;
  const std::string summary = out + err;
  EXPECT_NE(summary.find("--val-fraction 0 leaves val.bin empty: train with `gpt train --eval-every 0`"),
            std::string::npos) << summary;
  const std::vector<std::string> tiny = {"--layers", "1", "--heads", "2", "--dim", "16", "--context", "16",
                                         "--batch", "2", "--steps", "3", "--threads", "1"};
  auto train_args = [&](const std::string& d, const std::string& run, std::vector<std::string> extra) {
    std::vector<std::string> a = cat({"train", "--data", d, "--out", join_path(dir, run)}, tiny);
    return cat(a, extra);
  };
  EXPECT_EQ(run_gpt(train_args(data, "refused", {}), &out, &err), 1);
  EXPECT_NE(err.find("val.bin: no tokens"), std::string::npos) << err;
  EXPECT_NE(err.find("`gpt train --eval-every 0` trains without validation"), std::string::npos) << err;
  ASSERT_EQ(run_gpt(train_args(data, "trained", {"--eval-every", "0"}), &out, &err), 0) << err;
  EXPECT_NE(err.find("done: 3 steps"), std::string::npos) << err;
  EXPECT_TRUE(file_exists(join_path(join_path(dir, "trained"), "checkpoint.bin")));

  // A val split shorter than one batch: the same advice from both.
  const std::string small = join_path(dir, "small");
  ASSERT_EQ(run_gpt({"prepare", "--input", txt, "--out", small, "--val-fraction", "0.0003"}, &out, &err), 0) << err;
  EXPECT_NE((out + err).find("WARNING: val.bin has only 1 token, too few to evaluate: `gpt train` refuses the data "
                             "unless given --eval-every 0"),
            std::string::npos) << out << err;
  EXPECT_EQ(run_gpt(train_args(small, "refused2", {}), &out, &err), 2);  // an impossible setting with these data
  EXPECT_NE(err.find("val.bin: has 1 token"), std::string::npos) << err;
  EXPECT_NE(err.find("`gpt train --eval-every 0` without validation"), std::string::npos) << err;
  EXPECT_EQ(run_gpt(train_args(small, "trained2", {"--eval-every", "0"}), &out, &err), 0) << err;
}

TEST(Runs, AttentionWithoutOutPrintsEachHeadsEntropy) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = join_path(dir, "run");
  std::string err, out;
  train(data, run, 2, 0, &err);
  ASSERT_EQ(run_gpt({"attention", "--ckpt", run, "--text", "the cat", "--layer", "1"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("layer 1, 7 tokens: mean entropy"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("head 0: [0-9.]+\n  head 1: [0-9.]+\n"))) << out;
}

// train --sample-every: each sample is what `gpt sample` gives from that step's
// checkpoint (same seed, temperature 1), taking samples changes nothing of the training,
// --resume keeps the settings (RUN/run.json) and cuts the samples after its checkpoint.
TEST(Runs, SamplesDuringTrainingAreWhatSampleGivesAndChangeNothing) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), whole = dir + "/whole", plain = dir + "/plain", part = dir + "/part",
                    cut = dir + "/cut";
  auto args = [&](const std::string& out) {
    return cat({"train", "--data", data, "--out", out, "--steps", "10", "--eval-every", "0", "--log-every", "1",
                "--lr", "3e-3", "--warmup", "2"},
               tiny_model_flags());
  };
  // 30 tokens through a context of 16: the cache is rebuilt on the way.
  const std::vector<std::string> flags = {"--sample-every", "4", "--sample-tokens", "30", "--sample-prompt", "the "};
  std::string out, err;
  ASSERT_EQ(run_gpt(cat(args(whole), flags), &out, &err), 0) << err;
  ASSERT_EQ(run_gpt(args(plain), nullptr, &err), 0) << err;
  {  // (the files differ in the seconds the runs took)
    const Checkpoint a = load_checkpoint(whole), b = load_checkpoint(plain);
    EXPECT_TRUE(a.params == b.params && a.m == b.m && a.v == b.v);
    EXPECT_EQ(a.state.loader.rng_state, b.state.loader.rng_state);
    EXPECT_EQ(read_losses(whole + "/metrics.jsonl"), read_losses(plain + "/metrics.jsonl"));
  }
  EXPECT_FALSE(file_exists(plain + "/samples.txt"));

  // samples.txt: a header with the step and the text's length, the text, a blank line.
  const std::string samples = read_file(whole + "/samples.txt");
  std::map<long, std::string> text;
  const std::regex header("--- step ([0-9]+) \\| loss [0-9.]+ \\| ([0-9]+) bytes ---\n");
  size_t pos = 0;
  for (std::smatch m; pos < samples.size() && std::regex_search(samples.cbegin() + long(pos), samples.cend(), m, header,
                                                                std::regex_constants::match_continuous);) {
    const size_t start = pos + size_t(m.length(0)), n = std::stoul(m[2]);
    ASSERT_LE(start + n + 2, samples.size()) << samples;
    text[std::stol(m[1])] = samples.substr(start, n);
    EXPECT_EQ(samples.substr(start + n, 2), "\n\n");
    pos = start + n + 2;
  }
  EXPECT_EQ(pos, samples.size()) << samples;
  ASSERT_EQ(text.size(), 3u) << samples;  // steps 4, 8 and the last, 10
  ASSERT_TRUE(text.count(4) && text.count(8) && text.count(10)) << samples;
  for (const auto& [step, t] : text) {
    EXPECT_EQ(t.rfind("the ", 0), 0u) << t;
    EXPECT_GT(t.size(), 4u + 20u) << t;  // the prompt and 30 characters (a few may be one token)
    EXPECT_NE(out.find("--- sample at step " + std::to_string(step) + " | loss "), std::string::npos) << out;
    EXPECT_NE(out.find(t + "\n"), std::string::npos) << out;  // printed as it came
  }
  EXPECT_NE(text[4], text[8]);  // the same draws, another model

  // `gpt sample` on the step's checkpoint gives the same text: at the end, and at step 4
  // (a run stopped there: the same schedule, no samples taken).
  const std::vector<std::string> sample = {"--tokens", "30", "--prompt", "the "};
  std::string o;
  ASSERT_EQ(run_gpt(cat({"sample", "--ckpt", whole}, sample), &o, &err), 0) << err;
  EXPECT_EQ(o, text[10] + "\n");
  ASSERT_EQ(run_gpt(cat(args(part), {"--stop-at", "4"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(cat({"sample", "--ckpt", part}, sample), &o, &err), 0) << err;
  EXPECT_EQ(o, text[4] + "\n");

  // Stopped at 4, resumed (the settings remembered) to 8, then sent back to the
  // checkpoint of step 4 and resumed to the end: the samples of the first try after
  // step 4 are replaced, and the file is the uninterrupted run's, byte for byte.
  ASSERT_EQ(run_gpt(cat(cat(args(cut), flags), {"--stop-at", "4"}), nullptr, &err), 0) << err;
  const std::string ck4 = read_file(cut + "/checkpoint.bin");
  ASSERT_EQ(run_gpt({"train", "--resume", cut, "--stop-at", "8"}, nullptr, &err), 0) << err;
  EXPECT_NE(read_file(cut + "/samples.txt").find("--- step 8 |"), std::string::npos);
  write_file_atomic(cut + "/checkpoint.bin", ck4);
  ASSERT_EQ(run_gpt({"train", "--resume", cut}, nullptr, &err), 0) << err;
  EXPECT_EQ(read_file(cut + "/samples.txt"), samples);

  // Bad settings stop before anything is written.
  EXPECT_EQ(run_gpt(cat(args(dir + "/bad1"), {"--sample-every", "-1"}), nullptr, &err), 2);
  EXPECT_NE(err.find("--sample-every must be >= 0"), std::string::npos) << err;
  EXPECT_NE(run_gpt(cat(args(dir + "/bad2"), {"--sample-every", "2", "--sample-prompt", "Zebra"}), nullptr, &err), 0);
  EXPECT_NE(err.find("--sample-prompt"), std::string::npos) << err;
  EXPECT_FALSE(file_exists(dir + "/bad1") || file_exists(dir + "/bad2"));
}

// run.json keeps --zero for the resume as it keeps --dtype (a resume without the flag
// fell back to ZeRO 0), keeps keys it does not know (they were dropped on rewrite), and
// a run.json that is not an object, or a zero that is neither 0 nor 1, is named.
TEST(Runs, ARunRemembersZeroAndKeepsRunJsonKeysItDoesNotKnow) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = dir + "/run";
  std::string err;
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", run, "--steps", "4", "--stop-at", "2", "--eval-every", "0",
                         "--zero", "1"},
                        tiny_model_flags()),
                    nullptr, &err),
            0)
      << err;
  std::string settings = read_file(run + "/run.json");
  EXPECT_NE(settings.find("\"zero\": 1"), std::string::npos) << settings;
  settings.replace(settings.rfind('}'), 1, ", \"written_by_user\": [1, \"two\"]}");
  write_file_atomic(run + "/run.json", settings);
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--stop-at", "3"}, nullptr, &err), 0) << err;
  settings = read_file(run + "/run.json");
  EXPECT_NE(settings.find("\"zero\": 1"), std::string::npos) << settings;
  EXPECT_NE(settings.find("written_by_user"), std::string::npos) << settings;
  // --zero on the resume wins, and is what the next resume keeps.
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--zero", "0"}, nullptr, &err), 0) << err;
  EXPECT_NE(read_file(run + "/run.json").find("\"zero\": 0"), std::string::npos);

  write_file_atomic(run + "/run.json", "{\"dtype\": \"fp32\", \"zero\": 2}");
  EXPECT_EQ(run_gpt({"train", "--resume", run, "--steps", "6"}, nullptr, &err), 1);
  EXPECT_NE(err.find("run.json: zero is 2, expected a whole number from 0 to 1"), std::string::npos) << err;
  write_file_atomic(run + "/run.json", "[\"fp32\"]");
  EXPECT_EQ(run_gpt({"train", "--resume", run, "--steps", "6"}, nullptr, &err), 1);
  EXPECT_NE(err.find("run.json: expected a JSON object"), std::string::npos) << err;
}

// helper-23: a Ctrl-C inside a step of many micro-batches (--grad-accum) waited for the
// whole step (minutes, with nothing said). One process now drops the step; the checkpoint
// keeps the step before, and the resume repeats the dropped one exactly. And a resume
// already at or past --stop-at trained one step more.
TEST(Runs, AStopInsideAnAccumulatedStepDropsItAndTheResumeRepeatsIt) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), straight = dir + "/straight", stopped = dir + "/stopped";
  const std::vector<std::string> extra = {"--grad-accum", "3", "--dropout", "0.1", "--save-every", "1"};
  std::string err;
  train(data, straight, 4, 0, &err, extra);
  {
    ScopedEnv at("GPT_SIGNAL_AT", "train:step3:micro1");  // Ctrl-C after 1 of step 3's 3 micro-batches
    auto args = cat({"train", "--data", data, "--out", stopped, "--steps", "4", "--eval-every", "0", "--eval-batches",
                     "0", "--log-every", "1", "--lr", "3e-3", "--warmup", "2"},
                    tiny_model_flags());
    EXPECT_EQ(run_gpt(cat(args, extra), nullptr, &err), 130) << err;
  }
  EXPECT_NE(err.find("SIGINT in step 3 after 1 of 3 micro-batches: that step is dropped (a resume repeats it); the "
                     "checkpoint keeps step 2"), std::string::npos) << err;
  EXPECT_EQ(load_checkpoint(stopped).state.step, 2);
  EXPECT_EQ(read_losses(stopped + "/metrics.jsonl").size(), 2u);
  // Already at --stop-at: nothing trained, nothing changed.
  const std::string before = read_file(stopped + "/checkpoint.bin");
  ASSERT_EQ(run_gpt({"train", "--resume", stopped, "--stop-at", "2"}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("is already at step 2, at or past --stop-at 2: nothing to train"), std::string::npos) << err;
  EXPECT_EQ(read_file(stopped + "/checkpoint.bin"), before);
  ASSERT_EQ(run_gpt({"train", "--resume", stopped}, nullptr, &err), 0) << err;
  EXPECT_EQ(read_losses(stopped + "/metrics.jsonl"), read_losses(straight + "/metrics.jsonl"));
  EXPECT_EQ(load_checkpoint(stopped).params, load_checkpoint(straight).params);

  // Inside step 1 (helper-29): the step-0 checkpoint held an empty data position, whose
  // random stream restarted from 0, not the seed: the resume drew other windows.
  const std::string first = dir + "/first";
  {
    ScopedEnv at("GPT_SIGNAL_AT", "train:step1:micro1");
    auto args = cat({"train", "--data", data, "--out", first, "--steps", "4", "--eval-every", "0", "--eval-batches",
                     "0", "--log-every", "1", "--lr", "3e-3", "--warmup", "2"},
                    tiny_model_flags());
    EXPECT_EQ(run_gpt(cat(args, extra), nullptr, &err), 130) << err;
  }
  EXPECT_EQ(load_checkpoint(first).state.step, 0);
  ASSERT_EQ(run_gpt({"train", "--resume", first}, nullptr, &err), 0) << err;
  EXPECT_EQ(read_losses(first + "/metrics.jsonl"), read_losses(straight + "/metrics.jsonl"));
  EXPECT_EQ(load_checkpoint(first).params, load_checkpoint(straight).params);
}

// helper-34: a Ctrl-C during an evaluation gave it up, and nothing ever measured it: the
// resumed run's metrics.jsonl had no val loss at that step, and best.bin never saw that
// model (a step that is no --log-every step was not even logged). The stop now says so,
// the step is logged, and the resume measures it first: the same file and best.bin as a
// run that was never stopped.
TEST(Runs, AnEvaluationGivenUpByAStopIsMeasuredByTheResume) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), straight = dir + "/straight", stopped = dir + "/stopped";
  auto args = [&](const std::string& out) {
    return cat({"train", "--data", data, "--out", out, "--steps", "6", "--eval-every", "2", "--eval-batches", "3",
                "--log-every", "5", "--lr", "3e-3", "--warmup", "2"},
               tiny_model_flags());
  };
  std::string err;
  ASSERT_EQ(run_gpt(args(straight), nullptr, &err), 0) << err;
  {
    ScopedEnv at("GPT_SIGNAL_AT", "train:eval4:batch2");  // Ctrl-C inside step 4's evaluation
    EXPECT_EQ(run_gpt(args(stopped), nullptr, &err), 130) << err;
  }
  EXPECT_NE(err.find("stopped at step 4/6 (interrupted); checkpoint saved to " + stopped + "/checkpoint.bin; the val "
                     "loss of step 4 was given up (the resume measures it first)"),
            std::string::npos)
      << err;
  auto partial = read_losses(stopped + "/metrics.jsonl");
  ASSERT_EQ(partial.count(4), 1u);  // logged, though 4 is no --log-every step
  EXPECT_EQ(partial[4].back(), '/') << partial[4];  // without its val loss
  ASSERT_EQ(run_gpt({"train", "--resume", stopped}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("step 4: measuring its val loss, which the last session gave up"), std::string::npos) << err;
  EXPECT_EQ(read_losses(stopped + "/metrics.jsonl"), read_losses(straight + "/metrics.jsonl"));
  EXPECT_EQ(load_checkpoint(stopped + "/best.bin", false).params, load_checkpoint(straight + "/best.bin", false).params);
  // A resume whose step's val loss is logged measures nothing first.
  ASSERT_EQ(run_gpt({"train", "--resume", stopped, "--steps", "8"}, nullptr, &err), 0) << err;
  EXPECT_EQ(err.find("measuring its val loss"), std::string::npos) << err;
}

// helper-35: a Ctrl-C during the last step's evaluation printed "done" with the val loss
// of an earlier step and exited 0, and the resume said "nothing to train": that step's
// val loss was never measured, and best.bin never saw the final model. The stop now says
// it, exits 130, and the resume measures it (and takes the last step's sample): the same
// metrics.jsonl, best.bin and samples.txt as a run never stopped.
TEST(Runs, AStopDuringTheLastEvaluationIsAStopAndTheResumeMeasuresIt) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), straight = dir + "/straight", stopped = dir + "/stopped";
  auto args = [&](const std::string& out) {
    return cat({"train", "--data", data, "--out", out, "--steps", "4", "--eval-every", "2", "--eval-batches", "3",
                "--log-every", "1", "--lr", "3e-3", "--warmup", "2", "--sample-every", "2", "--sample-tokens", "6"},
               tiny_model_flags());
  };
  std::string err;
  ASSERT_EQ(run_gpt(args(straight), nullptr, &err), 0) << err;
  {
    ScopedEnv at("GPT_SIGNAL_AT", "train:eval4:batch2");  // Ctrl-C inside the last step's evaluation
    EXPECT_EQ(run_gpt(args(stopped), nullptr, &err), 130) << err;
  }
  EXPECT_EQ(err.find("done:"), std::string::npos) << err;
  EXPECT_NE(err.find("stopped at step 4/4 (interrupted); checkpoint saved to " + stopped + "/checkpoint.bin; the val "
                     "loss of step 4 was given up (the resume measures it first)"),
            std::string::npos)
      << err;
  EXPECT_NE(read_file(stopped + "/metrics.jsonl").find("\"step\":4,") , std::string::npos);
  EXPECT_NE(read_file(stopped + "/metrics.jsonl").find("\"val_given_up\":true}"), std::string::npos);
  {  // helper-36: a resume stopped in its set-up, before measuring, said "done" and exited 0
    ScopedEnv at("GPT_SIGNAL_AT", "train:setup");
    EXPECT_EQ(run_gpt({"train", "--resume", stopped}, nullptr, &err), 130) << err;
  }
  EXPECT_EQ(err.find("done:"), std::string::npos) << err;
  EXPECT_NE(err.find("the val loss of step 4 was given up"), std::string::npos) << err;
  EXPECT_NE(read_file(stopped + "/metrics.jsonl").find("\"val_given_up\":true}"), std::string::npos);
  // The run's checkpoint file continued in a new directory carries the run's history too:
  // it measures the given-up evaluation and gives the uninterrupted run's files (the new
  // directory had no metrics.jsonl, samples.txt or best.bin from before the checkpoint, and
  // said "nothing to train" without measuring).
  const std::string fork = dir + "/fork";
  ASSERT_EQ(run_gpt({"train", "--resume", stopped + "/checkpoint.bin", "--out", fork}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("step 4: measuring its val loss, which the last session gave up"), std::string::npos) << err;
  EXPECT_EQ(read_losses(fork + "/metrics.jsonl"), read_losses(straight + "/metrics.jsonl"));
  EXPECT_EQ(load_checkpoint(fork + "/best.bin", false).params, load_checkpoint(straight + "/best.bin", false).params);
  EXPECT_EQ(read_file(fork + "/samples.txt"), read_file(straight + "/samples.txt"));
  // Nothing to train names the run given to --resume (it named the --out not made).
  ASSERT_EQ(run_gpt({"train", "--resume", straight + "/checkpoint.bin", "--out", dir + "/none"}, nullptr, &err), 0)
      << err;
  EXPECT_NE(err.find(straight + "/checkpoint.bin is already at step 4 of --steps 4: nothing to train"),
            std::string::npos) << err;
  EXPECT_FALSE(file_exists(dir + "/none"));
  ASSERT_EQ(run_gpt({"train", "--resume", stopped}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("step 4: measuring its val loss, which the last session gave up"), std::string::npos) << err;
  EXPECT_EQ(err.find("nothing to train"), std::string::npos) << err;
  EXPECT_EQ(read_losses(stopped + "/metrics.jsonl"), read_losses(straight + "/metrics.jsonl"));
  EXPECT_EQ(read_file(stopped + "/metrics.jsonl").find("val_given_up"), std::string::npos);
  EXPECT_EQ(load_checkpoint(stopped + "/best.bin", false).params, load_checkpoint(straight + "/best.bin", false).params);
  EXPECT_EQ(read_file(stopped + "/samples.txt"), read_file(straight + "/samples.txt"));
  // Done: a second resume trains nothing and measures nothing.
  ASSERT_EQ(run_gpt({"train", "--resume", stopped}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("nothing to train"), std::string::npos) << err;
  // The same at a --stop-at step: the resume with that --stop-at measures it (and takes the
  // step's sample, which the stop skipped) and trains nothing; the rest of the run then
  // gives the uninterrupted run's files.
  const std::string at = dir + "/at";
  {
    ScopedEnv sig("GPT_SIGNAL_AT", "train:eval2:batch1");
    EXPECT_EQ(run_gpt(cat(args(at), {"--stop-at", "2"}), nullptr, &err), 130) << err;
  }
  EXPECT_NE(err.find("the val loss of step 2 was given up"), std::string::npos) << err;
  EXPECT_FALSE(file_exists(at + "/samples.txt") && !read_file(at + "/samples.txt").empty());
  ASSERT_EQ(run_gpt({"train", "--resume", at, "--stop-at", "2"}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("step 2: measuring its val loss"), std::string::npos) << err;
  EXPECT_NE(err.find("stopped at step 2/4 (--stop-at 2)"), std::string::npos) << err;
  EXPECT_EQ(load_checkpoint(at).state.step, 2);
  ASSERT_EQ(run_gpt({"train", "--resume", at}, nullptr, &err), 0) << err;
  EXPECT_EQ(read_losses(at + "/metrics.jsonl"), read_losses(straight + "/metrics.jsonl"));
  EXPECT_EQ(read_file(at + "/samples.txt"), read_file(straight + "/samples.txt"));
  EXPECT_EQ(load_checkpoint(at + "/best.bin", false).params, load_checkpoint(straight + "/best.bin", false).params);
}

// helper-35: the resume measured "the evaluation the last session gave up" wherever its step
// was an --eval-every step with no val loss logged: a checkpoint continued in a new
// directory (no metrics there), or a run resumed with another --eval-every, spent an
// evaluation on a step the first run never measured, and said a session gave it up. Only
// the mark a stop writes ("val_given_up":true) starts it now.
TEST(Runs, OnlyAnEvaluationMarkedGivenUpIsMeasuredFirstByTheResume) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), first = dir + "/first", plain = dir + "/plain";
  std::string err;
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", first, "--steps", "4", "--eval-every", "2",
                         "--eval-batches", "2", "--warmup", "2"},
                        tiny_model_flags()),
                    nullptr, &err),
            0)
      << err;
  ASSERT_EQ(run_gpt({"train", "--resume", first + "/checkpoint.bin", "--data", data, "--out", dir + "/fork", "--steps",
                     "6"},
                    nullptr, &err),
            0)
      << err;
  EXPECT_EQ(err.find("measuring its val loss"), std::string::npos) << err;
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", plain, "--steps", "3", "--eval-every", "0", "--warmup",
                         "2"},
                        tiny_model_flags()),
                    nullptr, &err),
            0)
      << err;
  ASSERT_EQ(run_gpt({"train", "--resume", plain, "--steps", "6", "--eval-every", "3", "--eval-batches", "2"}, nullptr,
                    &err),
            0)
      << err;
  EXPECT_EQ(err.find("measuring its val loss"), std::string::npos) << err;
}

// The ETA is this session's: 0 on the last line (it counted the last step's evaluation
// after it had run), and at most the time --max-seconds leaves (it said "6m28s" for a
// run stopped after 3 s); --stop-at ends it too.
TEST(Runs, TheEtaEndsWithTheSession) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir);
  auto etas = [](const std::string& err) {
    std::vector<std::string> out;
    std::regex re("\\| ETA ([^ \n|]+)");
    for (auto it = std::sregex_iterator(err.begin(), err.end(), re); it != std::sregex_iterator(); ++it)
      out.push_back((*it)[1].str());
    return out;
  };
  auto seconds = [](const std::string& eta) {  // "0.4s", "12s", "3m05s", "1h02m"
    double h = 0, m = 0, sec = 0;
    if (std::sscanf(eta.c_str(), "%lfh%lfm", &h, &m) == 2) return 3600 * h + 60 * m;
    if (std::sscanf(eta.c_str(), "%lfm%lfs", &m, &sec) == 2) return 60 * m + sec;
    std::sscanf(eta.c_str(), "%lfs", &sec);
    return sec;
  };
  auto train_with = [&](const std::string& out, std::vector<std::string> extra) {
    std::string err;
    auto args = cat({"train", "--data", data, "--out", dir + "/" + out, "--eval-batches", "2", "--log-every", "1",
                     "--warmup", "2"},
                    tiny_model_flags());
    EXPECT_EQ(run_gpt(cat(args, extra), nullptr, &err), 0) << err;
    return err;
  };
  // 5 steps, evaluations at 2, 4 and the last: the last line's ETA is nothing.
  std::vector<std::string> e = etas(train_with("last", {"--steps", "5", "--eval-every", "2"}));
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e.back(), "0.0s");
  // --stop-at 3 of 100000 steps: 0 at step 3 (it said hours).
  e = etas(train_with("stop", {"--steps", "100000", "--stop-at", "3", "--eval-every", "0"}));
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e.back(), "0.0s");
  EXPECT_LT(seconds(e[0]), 60.0) << e[0];
  // --max-seconds 1: no ETA above it.
  e = etas(train_with("secs", {"--steps", "100000", "--max-seconds", "1", "--eval-every", "0"}));
  ASSERT_FALSE(e.empty());
  for (const std::string& x : e) EXPECT_LE(seconds(x), 1.0) << x;
}

// helper-34: on an 80-column terminal the ~100-character progress line wrapped, and each
// "\r" redraw left its first row behind: the ETA was never seen. It now fits the terminal,
// dropping the least needed fields first; the ETA stays.
TEST(Progress, ALineWiderThanTheTerminalDropsFieldsToFitAndKeepsTheEta) {
  const std::string line = "step 190/2500 | loss 1.7312 | val 1.8421 | lr 5.92e-04 | 38,204 tok/s (avg) | MFU 25.3% "
                           "| ETA 1m12s | comm 12 ms";
  EXPECT_EQ(fit_progress_line(line, 0), line);  // not a terminal, or its width unknown
  EXPECT_EQ(fit_progress_line(line, 200), line);
  for (int cols : {100, 80, 72, 60, 55}) {
    SCOPED_TRACE(cols);
    const std::string fit = fit_progress_line(line, cols);
    EXPECT_LT(int(fit.size()), cols);
    EXPECT_EQ(fit.rfind("step 190/2500 | loss 1.7312", 0), 0u) << fit;
    EXPECT_NE(fit.find("| ETA 1m12s"), std::string::npos) << fit;
  }
  EXPECT_EQ(fit_progress_line(line, 100),
            "step 190/2500 | loss 1.7312 | val 1.8421 | 38,204 tok/s (avg) | MFU 25.3% | ETA 1m12s | comm 12 ms");
  EXPECT_EQ(fit_progress_line(line, 80), "step 190/2500 | loss 1.7312 | val 1.8421 | 38,204 tok/s | ETA 1m12s");
  EXPECT_EQ(fit_progress_line(line, 60), "step 190/2500 | loss 1.7312 | 38,204 tok/s | ETA 1m12s");
  EXPECT_EQ(fit_progress_line(line, 20), "step 190/2500 | los");
  // helper-35: an evaluation's line (it stays on the screen) lost its new val loss at 60
  // columns, and kept the ETA that the next redraw replaces: it now keeps the val loss.
  EXPECT_EQ(fit_progress_line(line, 80, true), "step 190/2500 | loss 1.7312 | val 1.8421 | 38,204 tok/s | ETA 1m12s");
  EXPECT_EQ(fit_progress_line(line, 60, true), "step 190/2500 | loss 1.7312 | val 1.8421 | 38,204 tok/s");
  // helper-36: narrower, it was cut mid-field ("... | val 4.0639 | 371,852 to"): whole fields go first.
  EXPECT_EQ(fit_progress_line(line, 50, true), "step 190/2500 | loss 1.7312 | val 1.8421");
  EXPECT_EQ(fit_progress_line(line, 50), "step 190/2500 | loss 1.7312 | ETA 1m12s");
}

// helper-35: a run of 30 tiny steps said "done: 30 steps in 0.0s".
TEST(Progress, ADurationUnderATwentiethOfASecondIsNotZero) {
  EXPECT_EQ(format_duration(0.01), "<0.1s");
  EXPECT_EQ(format_duration(0.049), "<0.1s");
  EXPECT_EQ(format_duration(0.0), "0.0s");  // (an ETA at the end: nothing left)
  EXPECT_EQ(format_duration(0.06), "0.1s");
  EXPECT_EQ(format_duration(0.7), "0.7s");
  EXPECT_EQ(format_duration(75), "1m15s");
}

// helper-34: after a kill -9 the resume cut metrics.jsonl back to its checkpoint and said
// nothing (the curve went back); the done line after a resume gave the run's steps and this
// session's evaluations as one; eval's figure differed from the logged estimate of
// --eval-batches N with no word why.
TEST(Runs, WhatAResumeCutsAndWhichFiguresAreThisSessionsAreSaid) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = dir + "/run";
  std::string err, out;
  auto args = cat({"train", "--data", data, "--out", run, "--steps", "4", "--eval-every", "2", "--eval-batches", "2",
                   "--log-every", "1", "--warmup", "2"},
                  tiny_model_flags());
  ASSERT_EQ(run_gpt(args, nullptr, &err), 0) << err;
  // What a run killed after logging steps 5 and 6 but before saving them leaves.
  const std::string metrics = run + "/metrics.jsonl", kept = read_file(metrics);
  write_file_atomic(metrics, kept + "{\"step\":5,\"train_loss\":3.1}\n{\"step\":6,\"train_loss\":3.0}\n");
  // Continued elsewhere (--resume A --out B), A may be training on: the copy's note says so
  // (helper-44: it said A's last session had ended without saving them).
  const std::string fork = dir + "/fork";
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--out", fork, "--steps", "5"}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("note: " + fork + "/metrics.jsonl logged 2 lines (steps 5-6) after step 4, where the checkpoint is "
                     "(copied with the history of " + run + ", which went on past its checkpoint)"),
            std::string::npos) << err;
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--steps", "6"}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("note: " + metrics + " logged 2 lines (steps 5-6) after step 4, where the checkpoint is (the last "
                     "session ended without saving them"), std::string::npos) << err;
  EXPECT_EQ(read_losses(metrics).count(5), 1u);
  EXPECT_EQ(read_file(metrics).find("\"train_loss\":3.1}"), std::string::npos);
  // 6 steps over both sessions; the evaluations at 6 (this session's one).
  EXPECT_TRUE(std::regex_search(err, std::regex("\ndone: 6 steps in [^ ]+ \\([0-9,]+ tokens, all sessions\\); this "
                                                "session: 1 val evaluation in <?[0-9.]+m?s; final train loss")))
      << err;
  // A resume with nothing cut says nothing of it.
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--steps", "7"}, nullptr, &err), 0) << err;
  EXPECT_EQ(err.find("after step 6, where the checkpoint is"), std::string::npos) << err;
  // eval: every window, not the run's 2-batch estimate; a note says so.
  ASSERT_EQ(run_gpt({"eval", "--ckpt", run}, &out, &err), 0) << err;
  EXPECT_NE(err.find("note: the run logged its val loss from 2 batches of random windows (--eval-batches 2)"),
            std::string::npos) << err;
}

// --warmup 2147483647 overflowed int (warmup + 1) into a negative learning rate
// (helper-25); the rate of ordinary settings is the same float as before, bit for bit.
TEST(Schedule, AHugeWarmupRisesFromAboveZeroAndOrdinaryRatesAreUnchanged) {
  TrainConfig t;
  t.lr = 1e-3f, t.steps = 3, t.warmup = INT_MAX;
  EXPECT_GT(learning_rate(t, 0), 0.0f);
  EXPECT_GT(learning_rate(t, 2), learning_rate(t, 1));
  t.warmup = 100, t.steps = 1000;
  for (int step : {0, 5, 99})
    EXPECT_EQ(learning_rate(t, step), t.lr * float(step + 1) / float(t.warmup + 1)) << step;
}

// --peak-gflops 1e-300 printed the MFU in 300 digits, cut off before its % (helper-23).
TEST(RunInfo, AnMfuAboveThePeakSaysSo) {
  EXPECT_EQ(mfu_text(1000, 1e6, 10), " | MFU 10.0%");
  EXPECT_EQ(mfu_text(1000, 1e6, 1e-300), " | MFU 1e+302% (above the peak: check --peak-gflops)");
  EXPECT_EQ(mfu_text(1000, 1e6, 0), "");
}

// Flags that do nothing in a run are said, not ignored (helper-23).
TEST(Runs, FlagsThatDoNothingHereAreNoted) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir);
  std::string err;
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", dir + "/run", "--steps", "2", "--stop-at", "5", "--zero",
                         "1", "--eval-every", "0", "--eval-batches", "3", "--schedule", "constant", "--min-lr", "1e-4"},
                        tiny_model_flags()),
                    nullptr, &err),
            0)
      << err;
  for (const char* note : {"note: --stop-at 5 is not below --steps 2: the run ends at step 2 first",
                           "note: --zero 1 shares AdamW's m and v out among processes (mpirun -np N); in one process "
                           "it changes nothing",
                           "note: --eval-batches does nothing with --eval-every 0",
                           "note: --min-lr does nothing with --schedule constant"})
    EXPECT_NE(err.find(note), std::string::npos) << note << "\n" << err;
  EXPECT_EQ(run_gpt(cat({"train", "--data", data, "--out", dir + "/r2", "--stop-at", "-1"}, tiny_model_flags()),
                    nullptr, &err), 2);
  EXPECT_NE(err.find("--stop-at must be >= 0 (0 = off), got -1"), std::string::npos) << err;
}

// What a resume meets in RUN/samples.txt and RUN/run.json: an entry cut short by a
// failed write is dropped (it was called an edit, and the next entry was glued to it),
// a FIFO is refused (reads hung), a prompt kept in run.json is named as such in errors
// (they blamed a --sample-prompt never typed), and a run.json gone is noted.
TEST(Runs, ResumedSamplesDropATornEntryAndNameWhereThePromptCameFrom) {
  const std::string dir = scratch_dir();
  RemoveIfPassed cleanup{dir};
  const std::string data = make_data(dir), run = dir + "/run", ref = dir + "/ref";
  auto args = [&](const std::string& out) {
    return cat({"train", "--data", data, "--out", out, "--steps", "6", "--eval-every", "0", "--sample-every", "2",
                "--sample-tokens", "10"},
               tiny_model_flags());
  };
  std::string err;
  ASSERT_EQ(run_gpt(args(ref), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(cat(args(run), {"--stop-at", "4"}), nullptr, &err), 0) << err;
  const std::string whole = read_file(run + "/samples.txt");
  {  // a write that failed at step 6 (a full disk) left its entry cut short
    std::ofstream(run + "/samples.txt", std::ios::app) << "--- step 6 | loss 9.9999 | 500 bytes ---\nthe cat";
  }
  ASSERT_EQ(run_gpt({"train", "--resume", run}, nullptr, &err), 0) << err;
  EXPECT_EQ(err.find("edited"), std::string::npos) << err;
  EXPECT_EQ(read_file(run + "/samples.txt"), read_file(ref + "/samples.txt"));
  EXPECT_EQ(read_file(run + "/samples.txt").rfind(whole, 0), 0u);

  // A prompt from run.json with a character the data lack: the error names run.json.
  std::string settings = read_file(run + "/run.json");
  settings.replace(settings.rfind('}'), 1, ", \"sample_prompt\": \"Zebra\"}");
  write_file_atomic(run + "/run.json", settings);
  EXPECT_NE(run_gpt({"train", "--resume", run, "--steps", "8"}, nullptr, &err), 0);
  EXPECT_NE(err.find("run.json's sample_prompt"), std::string::npos) << err;
  // ... and a number out of range is shown as written.
  write_file_atomic(run + "/run.json", "{\"dtype\": \"fp32\", \"sample_every\": 4294967306}");
  EXPECT_NE(run_gpt({"train", "--resume", run, "--steps", "8"}, nullptr, &err), 0);
  EXPECT_NE(err.find("sample_every is 4294967306,"), std::string::npos) << err;
  // run.json gone: the resume says what it falls back to.
  std::remove((run + "/run.json").c_str());
  ASSERT_EQ(run_gpt({"train", "--resume", run, "--steps", "8"}, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("has no run.json"), std::string::npos) << err;
  EXPECT_NE(err.find("without samples"), std::string::npos) << err;

  // A FIFO where samples.txt goes: refused, naming it (the reads waited forever).
  std::remove((run + "/samples.txt").c_str());
  ASSERT_EQ(::mkfifo((run + "/samples.txt").c_str(), 0644), 0);
  EXPECT_EQ(run_gpt({"train", "--resume", run, "--steps", "10", "--sample-every", "2"}, nullptr, &err), 1);
  EXPECT_NE(err.find("samples.txt: not a regular file"), std::string::npos) << err;
  // --sample-tokens alone does nothing, and says so.
  std::remove((run + "/samples.txt").c_str());
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", dir + "/quiet", "--steps", "2", "--sample-tokens", "5"},
                        tiny_model_flags()), nullptr, &err), 0) << err;
  EXPECT_NE(err.find("do nothing without --sample-every"), std::string::npos) << err;
}

TEST(GradcheckCli, PrintsToleranceExplainsNoiseAndRefusesIgnoredPos) {
  std::string out, err;
  ASSERT_EQ(run_gpt({"gradcheck", "--layer", "model", "--pos", "learned"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("worst err / its tolerance"), std::string::npos) << out;
  // qkvb: the key bias's gradient is exactly 0, so its relative error compares noise with noise.
  std::smatch m;
  // Which rows show it depends on rounding (an -O1 build marks only the dropout row).
  ASSERT_TRUE(std::regex_search(out, m, std::regex("\\* model/learned(\\+dropout)? qkvb: the largest relative error is "
                                                   "at a gradient of ([0-9.e+-]+)"))) << out;
  EXPECT_LT(std::stod(m[2]), 1e-9);
  EXPECT_NE(out.find("<= 1e-06 + 1e-05 |numeric|"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("qkvb +[0-9.e-]+ +[0-9.e-]+ +[0-9.e-]+ / [0-9.e-]+  PASS \\*"))) << out;
  // --pos with a single layer, which ignores it: refused.
  EXPECT_EQ(run_gpt({"gradcheck", "--layer", "gelu", "--pos", "rope"}, &out, &err), 2);
  EXPECT_NE(err.find("--layer gelu ignores it"), std::string::npos) << err;
  ASSERT_EQ(run_gpt({"gradcheck", "--help"}, &out, &err), 0);
  const std::string layer_help = last_line_with(out, "--layer NAME");
  for (const char* w : {"all (", "model (", "attention", "crossentropy"})
    EXPECT_NE(layer_help.find(w), std::string::npos) << layer_help;
}

}  // namespace gpt::test
