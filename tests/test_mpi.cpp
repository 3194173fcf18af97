// Data-parallel training over MPI: `mpirun -np 2 bin/gpt train` against one process,
// checkpoints moving between process counts, Ctrl-C and a killed rank. Runs the real
// binary (GPT_BIN, set by make test) under Open MPI's mpirun; skipped where the build
// has no MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fileio.h"
#include "formats/checkpoint.h"
#include "formats/json.h"
#include "text/dataloader.h"
#include "test_util.h"

namespace gpt::test {
namespace {

class Mpi : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef GPT_HAVE_MPI
    GTEST_SKIP() << "built without MPI (apt-get install openmpi-bin libopenmpi-dev, then rebuild)";
#endif
    const char* bin = std::getenv("GPT_BIN");
    if (!bin || !file_exists(bin)) GTEST_SKIP() << "GPT_BIN not set (make test sets it)";
    if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not found";
    // Open MPI itself must be able to start two processes here (a sandbox may forbid it).
    static const bool mpirun_works =
        std::system("timeout 60 mpirun --allow-run-as-root --oversubscribe -np 2 true >/dev/null 2>&1") == 0;
    if (!mpirun_works) GTEST_SKIP() << "mpirun -np 2 true fails on this machine";
    bin_ = bin;
    dir_ = scratch_dir();
    std::string text;
    SplitMix64 r(3);
    const char* words[] = {"to ", "be ", "or ", "not ", "that ", "is ", "the ", "question.\n"};
    while (text.size() < 20000) text += words[r.below(8)];
    write_file_atomic(join_path(dir_, "input.txt"), text);
    data_ = join_path(dir_, "data");
    prepare_data(join_path(dir_, "input.txt"), data_, "char", 0.1);
  }
  // The command line of `gpt train` on n processes (n = 1: no mpirun) with the given flags.
  std::string train(int n, const std::string& flags) const {
    const std::string gpt = "'" + bin_ + "' train --data '" + data_ + "' " + flags;
    // Under `make sanitize`, LeakSanitizer reports Open MPI's own allocations (from its
    // dlopen'ed plugins, which no suppression can name): leak checks stay on for every
    // single-process test, off for the ranks.
    const std::string mpi = "env ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe -np " +
                            std::to_string(n) + " ";
    return (n > 1 ? mpi : std::string()) + gpt;
  }
  int run(const std::string& cmd) const {
    const int rc = std::system((cmd + " >>'" + dir_ + "/log' 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  }
  std::vector<double> losses(const std::string& run_dir) const {
    std::vector<double> out;
    std::istringstream in(read_file(join_path(run_dir, "metrics.jsonl")));
    for (std::string line; std::getline(in, line);)
      out.push_back(Json::parse(line, "metrics").find("train_loss")->as_number("train_loss"));
    return out;
  }
  std::string log() const {
    const std::string p = join_path(dir_, "log");
    return file_exists(p) ? read_file(p) : std::string();
  }
  // mpirun -np 2 training into `run_dir` for a very long time, in the background;
  // returns mpirun's pid once training runs (its start-up line is out), or -1.
  pid_t start_long_run(const std::string& run_dir) const;
  std::string bin_, dir_, data_;
};

const std::string kModel =
    "--layers 2 --heads 2 --dim 32 --context 32 --batch 4 --sampling sequential --dropout 0.1 "
    "--eval-every 0 --threads 1 ";

pid_t Mpi::start_long_run(const std::string& run_dir) const {
  const std::string cmd = "exec " + train(2, kModel + "--steps 1000000 --log-every 100000 --out " + run_dir) +
                          " >>'" + dir_ + "/log' 2>&1";
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 300 && log().find("gpt train:") == std::string::npos; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // into the training steps
  if (log().find("gpt train:") == std::string::npos || log().find("error") != std::string::npos) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

void expect_same_losses(const std::vector<double>& a, const std::vector<double>& b, size_t from = 0) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = from; i < a.size(); i++) EXPECT_NEAR(a[i], b[i], 1e-5 * std::fabs(b[i])) << "step " << i + 1;
}

// 2 ranks x batch B read the same tokens as 1 rank with --grad-accum 2 x batch B (rank r
// takes rows [rB, (r+1)B) of each block; micro-step k of the one rank is block half k),
// and draw the same dropout masks (the mask counter counts every rank's micro-steps).
// Not bit-identical: one process scales each half by 1/2 before adding, two processes
// add, then scale (and the loss is averaged in another order): a few ulps.
TEST_F(Mpi, TwoRanksGiveTheLossesOfOneRankWithGradAccum) {
  const std::string two = join_path(dir_, "two"), one = join_path(dir_, "one");
  ASSERT_EQ(run(train(2, kModel + "--log-every 1 --steps 20 --sample-every 10 --sample-tokens 20 --out " + two)), 0)
      << log();
  // Rank 0 alone printed: one start-up line, one done line, one sample per sampling step,
  // and it is what `gpt sample` gives from the final checkpoint.
  const std::string l = log();
  EXPECT_EQ(l.find("gpt train:"), l.rfind("gpt train:")) << l;
  EXPECT_EQ(l.find("done:"), l.rfind("done:")) << l;
  EXPECT_NE(l.find("x 2 processes"), std::string::npos) << l;
  const size_t s20 = l.find("--- sample at step 20 |");
  EXPECT_EQ(l.find("--- sample at step 10 |"), l.rfind("--- sample at step 10 |")) << l;
  ASSERT_NE(s20, std::string::npos) << l;
  EXPECT_EQ(s20, l.rfind("--- sample at step 20 |")) << l;
  const std::string sample_file = join_path(dir_, "s20");
  ASSERT_EQ(std::system(("'" + bin_ + "' sample --ckpt '" + two + "' --tokens 20 > '" + sample_file + "' 2>/dev/null")
                            .c_str()), 0);
  // Compared in RUN/samples.txt, not in mpirun's merged output, where a stderr line of the
  // progress could land inside the sample's text (it failed so, now and then).
  const std::string st = read_file(join_path(two, "samples.txt")), want = read_file(sample_file);
  const size_t h = st.find("--- step 20 |");
  ASSERT_NE(h, std::string::npos) << st;
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(st.compare(st.find('\n', h) + 1, want.size() - 1, want, 0, want.size() - 1), 0) << st << "\n" << want;
  ASSERT_EQ(run(train(1, kModel + "--log-every 1 --steps 20 --grad-accum 2 --out " + one)), 0) << log();
  expect_same_losses(losses(two), losses(one));
  EXPECT_EQ(losses(two).size(), 20u);
}

// A checkpoint is the same file whatever the process count: 2 ranks stopped at step 10
// continue on 1 rank (with --grad-accum 2: the same global batch), and the other way
// round, reproducing the straight 2-rank run's losses.
TEST_F(Mpi, CheckpointsResumeOnAnotherNumberOfRanks) {
  const std::string ref = join_path(dir_, "ref"), a = join_path(dir_, "a"), b = join_path(dir_, "b");
  ASSERT_EQ(run(train(2, kModel + "--log-every 1 --steps 20 --out " + ref)), 0) << log();
  ASSERT_EQ(run(train(2, kModel + "--log-every 1 --steps 20 --stop-at 10 --out " + a)), 0) << log();
  ASSERT_EQ(run(train(1, "--resume " + a + " --grad-accum 2")), 0) << log();
  expect_same_losses(losses(a), losses(ref), 10);
  ASSERT_EQ(run(train(1, kModel + "--log-every 1 --steps 20 --grad-accum 2 --stop-at 10 --out " + b)), 0) << log();
  ASSERT_EQ(run(train(2, "--resume " + b + " --grad-accum 1")), 0) << log();
  expect_same_losses(losses(b), losses(ref), 10);
  // Each resume on another count says so (helper-19: only the header's tokens/step showed
  // it), with the --grad-accum that keeps the global batch when it changed.
  EXPECT_NE(log().find("note: the run trained on 2 processes so far, now on 1: a step covers 256 tokens (was 256)\n"),
            std::string::npos) << log();
  ASSERT_EQ(run(train(1, "--resume " + b + " --steps 22")), 0) << log();
  EXPECT_NE(log().find("note: the run trained on 2 processes so far, now on 1: a step covers 128 tokens (was 256); "
                       "--grad-accum 2 keeps the global batch"), std::string::npos) << log();
}

// helper-19: in random mode (the default) a 2-rank run stopped and resumed on 2 ranks
// gave other losses than the straight run from the first step after the resume: rank 1
// continued from a stream derived from rank 0's saved state, not its own. Now the saved
// stream is every rank's (test_data `DataLoader.EveryRankResumesItsRandomWindowsExactly`).
// And comm_ms counted the wait for rank 0's evaluation in the next step, so it exceeded
// ms_per_step: a step's communication is now measured inside the step.
TEST_F(Mpi, RandomWindowsResumeExactlyOnTheSameRanksAndCommIsPartOfTheStep) {
  const std::string ref = join_path(dir_, "ref"), a = join_path(dir_, "a");
  const std::string model =
      "--layers 2 --heads 2 --dim 32 --context 32 --batch 4 --sampling random --eval-every 2 --eval-batches 0 "
      "--threads 1 --log-every 1 --steps 16 ";
  ASSERT_EQ(run(train(2, model + "--out " + ref)), 0) << log();
  ASSERT_EQ(run(train(2, model + "--stop-at 8 --out " + a)), 0) << log();
  ASSERT_EQ(run(train(2, "--resume " + a)), 0) << log();
  const std::vector<double> want = losses(ref), got = losses(a);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) EXPECT_EQ(got[i], want[i]) << "step " << i + 1;
  std::istringstream in(read_file(join_path(ref, "metrics.jsonl")));
  for (std::string line; std::getline(in, line);) {
    const Json j = Json::parse(line, "metrics");
    EXPECT_LE(j.find("comm_ms")->as_number("comm_ms"), j.find("ms_per_step")->as_number("ms_per_step") + 1e-6)
        << line;
  }
}

// --zero 1 (AdamW's m and v sharded: reduce-scatter, update the block, all-gather)
// trains like --zero 0, and its checkpoint (m and v gathered whole) resumes on 1 rank.
TEST_F(Mpi, ZeroOneTrainsLikeZeroZeroAndItsCheckpointResumesAnywhere) {
  const std::string z0 = join_path(dir_, "z0"), z1 = join_path(dir_, "z1"), half = join_path(dir_, "half");
  ASSERT_EQ(run(train(2, kModel + "--log-every 1 --steps 20 --out " + z0)), 0) << log();
  ASSERT_EQ(run(train(2, kModel + "--log-every 1 --steps 20 --zero 1 --out " + z1)), 0) << log();
  expect_same_losses(losses(z1), losses(z0));
  ASSERT_EQ(run(train(2, kModel + "--log-every 1 --steps 20 --zero 1 --stop-at 10 --out " + half)), 0) << log();
  ASSERT_EQ(run(train(1, "--resume " + half + " --grad-accum 2")), 0) << log();
  expect_same_losses(losses(half), losses(z0), 10);
}

// Ctrl-C sent to mpirun reaches every rank: they stop at the same step, rank 0 saves,
// and the run resumes.
TEST_F(Mpi, CtrlCToMpirunSavesAndStops) {
  const std::string r = join_path(dir_, "r");
  const pid_t pid = start_long_run(r);
  ASSERT_GT(pid, 0) << log();
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_NE(log().find("stopped at step"), std::string::npos) << log();
  EXPECT_NE(log().find("(interrupted)"), std::string::npos) << log();
  EXPECT_NE(log().find("continue with: mpirun -np 2 gpt train --resume "), std::string::npos) << log();
  ASSERT_TRUE(file_exists(join_path(r, "checkpoint.bin"))) << log();
  // (Three steps past where it stopped: the run's step, not its count of logged lines,
  // which --log-every 100000 keeps at two and which a resume refused as going back.)
  const long stopped = long(load_checkpoint(r, false).state.step);
  ASSERT_EQ(run(train(2, "--resume " + r + " --steps " + std::to_string(stopped + 3) + " --stop-at 0")), 0)
      << log();
  EXPECT_EQ(load_checkpoint(r, false).state.step, stopped + 3);
}

// helper-47: a stop signal to the gpt processes (pkill, as the start-up note advises for
// large checkpoints) that came after the last step killed rank 1, whose training was
// over and whose handlers were gone, and mpirun then killed rank 0 in the middle of its
// final save: the run lost its checkpoint. The other ranks now wait for rank 0's save and
// keep catching stop signals to the end. (A test hook raises SIGINT on rank 1 once its
// training is over.) An interrupted run says to continue on as many processes.
TEST_F(Mpi, AStopSignalAfterTheLastStepDoesNotCutRankZerosSave) {
  const std::string r = join_path(dir_, "over");
  EXPECT_EQ(run("GPT_SIGNAL_AT=train:over:rank1 " + train(2, kModel + "--steps 3 --out " + r)), 0) << log();
  EXPECT_NE(log().find("done: 3 steps"), std::string::npos) << log();
  EXPECT_EQ(load_checkpoint(r, false).state.step, 3u);
}

// A stop inside a step of several micro-batches (--grad-accum) under mpirun: every rank
// must reach the step's all-reduce, so each finishes the step, says so, and rank 0 saves
// it; the resume on the same ranks then gives the straight run's losses exactly. (A test
// hook raises SIGINT on both ranks after the first of step 3's three micro-batches, as
// Ctrl-C to mpirun does; one process drops the step instead: test_cli_runs.)
TEST_F(Mpi, AStopInsideAnAccumulatedStepFinishesItOnEveryRank) {
  const std::string model = kModel + "--grad-accum 3 --log-every 1 --steps 6 --out ";
  const std::string straight = join_path(dir_, "straight"), r = join_path(dir_, "r");
  ASSERT_EQ(run(train(2, model + straight)), 0) << log();
  EXPECT_EQ(run("GPT_SIGNAL_AT=train:step3:micro1 " + train(2, model + r)), 128 + SIGINT) << log();
  const std::string l = log();
  for (const char* w : {"SIGINT on rank 0: every process finishes step 3 (1 of 3 micro-batches done), then saves",
                        "SIGINT on rank 1: every process finishes step 3", "stopped at step 3/6 (interrupted)"})
    EXPECT_NE(l.find(w), std::string::npos) << w << " missing:\n" << l;
  EXPECT_EQ(load_checkpoint(r, false).state.step, 3u);
  EXPECT_EQ(losses(r).size(), 3u);
  ASSERT_EQ(run(train(2, "--resume " + r)), 0) << log();
  EXPECT_EQ(losses(r), losses(straight));
}

// helper-36: a stop inside the last step (every rank finishes it, and it is saved) made
// rank 0 say "done" and exit 0 while rank 1 exited 130: mpirun reported the finished run
// as aborted. Every rank now exits 0 there, as rank 0 does.
TEST_F(Mpi, AStopInsideTheLastStepEndsTheFinishedRunWithZeroOnEveryRank) {
  const std::string r = join_path(dir_, "last");
  EXPECT_EQ(run("GPT_SIGNAL_AT=train:step4:micro1 " + train(2, kModel + "--grad-accum 2 --steps 4 --out " + r)), 0)
      << log();
  EXPECT_NE(log().find("done: 4 steps"), std::string::npos) << log();
  EXPECT_EQ(load_checkpoint(r, false).state.step, 4u);
}

// helper-19: SIGHUP to one rank gave mpirun's exit 129 or 130 by chance: the signalled
// rank exited 128 + 1, the others 130, and mpirun reported whichever ended first. The
// ranks now agree on the signal, so every one (and mpirun) exits 129; rank 0 saved.
TEST_F(Mpi, ASignalToOneRankGivesEveryRankItsExitCode) {
  const std::string r = join_path(dir_, "h");
  const pid_t pid = start_long_run(r);
  ASSERT_GT(pid, 0) << log();
  const std::string find = "pgrep -n -f -- '--out " + r + "$' > '" + dir_ + "/pid'";  // rank 1: the newest
  ASSERT_EQ(std::system(find.c_str()), 0);
  const pid_t victim = pid_t(std::atol(read_file(join_path(dir_, "pid")).c_str()));
  ASSERT_GT(victim, 0);
  kill(victim, SIGHUP);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << log();
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGHUP) << log();
  EXPECT_NE(log().find("stopped at step"), std::string::npos) << log();
  EXPECT_TRUE(file_exists(join_path(r, "checkpoint.bin"))) << log();
}

// helper-19: other commands under mpirun ran once per rank (a sample printed twice). Only
// train uses several processes: the others are refused once, by rank 0, exit 2.
TEST_F(Mpi, OnlyTrainRunsUnderMpirun) {
  const std::string cmd = "env ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe -np 2 '" + bin_ +
                          "' tokenize --tokenizer none.bin --encode abc";
  std::system(("rm -f '" + dir_ + "/log'").c_str());
  EXPECT_EQ(run(cmd), 2) << log();
  const std::string l = log();
  const size_t at = l.find("gpt tokenize runs in one process; under mpirun -np 2");
  EXPECT_NE(at, std::string::npos) << l;
  EXPECT_EQ(at, l.rfind("gpt tokenize runs in one process")) << "said twice:\n" << l;
}

// helper-47: nothing compared the ranks' settings, steps, weights or data (each rank has
// its own command line under `mpirun ... : ...`, and its own files on its own machine):
// another --dim corrupted the heap in the all-reduce, checkpoints at different steps
// hung, other data trained on silently. Each is refused before training, naming the
// rank, the setting and both values.
TEST_F(Mpi, RanksThatDisagreeAreRefusedBeforeTraining) {
  const std::string mpi = "timeout -k 5 60 env ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe ";
  const std::string gpt = "'" + bin_ + "' train " + kModel + "--steps 4 ", same = "--data '" + data_ + "' ";
  const std::string other = join_path(dir_, "other");
  std::string text;  // (the same characters as the data's, in another order: the same vocabulary)
  SplitMix64 r(4);
  const char* words[] = {"to ", "be ", "or ", "not ", "that ", "is ", "the ", "question.\n"};
  while (text.size() < 20000) text += words[r.below(8)];
  write_file_atomic(join_path(dir_, "other.txt"), text);
  prepare_data(join_path(dir_, "other.txt"), other, "char", 0.1);
  const struct {
    std::string rank1, says;
  } cases[] = {
      {"--out '" + dir_ + "/a' " + same + "--seed 7", "rank 1 has --seed 7 where rank 0 has 1337"},
      {"--out '" + dir_ + "/b' " + same + "--lr 0.002", "rank 1 has --lr 0.002 where rank 0 has 0.001"},
      {"--out '" + dir_ + "/c' --data '" + other + "'", "rank 1 has training data of fingerprint"},
  };
  for (const auto& c : cases) {
    std::system(("rm -f '" + dir_ + "/log'").c_str());
    const std::string rank0 = c.rank1.substr(0, c.rank1.find(' ', 6)) + " " + same;
    EXPECT_EQ(run(mpi + "-np 1 " + gpt + rank0 + " : -np 1 " + gpt + c.rank1), 2) << c.rank1 << "\n" << log();
    EXPECT_NE(log().find("the 2 processes do not agree"), std::string::npos) << log();
    EXPECT_NE(log().find(c.says), std::string::npos) << log();
  }
}

// helper-47: a bad flag, --help and --version under mpirun were printed once per rank.
// Rank 0 prints them; another rank's own error (`mpirun ... : ...` gives ranks their own
// command lines) still comes, named by its rank.
TEST_F(Mpi, HelpVersionAndFlagErrorsArePrintedOnce) {
  const std::string mpi = "env ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe ";
  const auto said = [&](const std::string& args, int want_rc) {
    std::system(("rm -f '" + dir_ + "/log'").c_str());
    EXPECT_EQ(run(mpi + "-np 2 '" + bin_ + "' " + args), want_rc) << args << "\n" << log();
    return log();
  };
  const auto times = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
    return n;
  };
  EXPECT_EQ(times(said("train --bogus", 2), "unknown flag --bogus"), 1u) << log();
  EXPECT_EQ(times(said("--version", 0), "gpt.cc commit"), 1u) << log();
  EXPECT_EQ(times(said("train --help", 0), "Usage: gpt train"), 1u) << log();
  std::system(("rm -f '" + dir_ + "/log'").c_str());
  EXPECT_NE(run(mpi + "-np 1 '" + bin_ + "' --version : -np 1 '" + bin_ + "' train --bogus"), 0) << log();
  EXPECT_NE(log().find("error (rank 1 of 2): gpt train: unknown flag --bogus"), std::string::npos) << log();
}

// A rank killed with SIGKILL ends the whole job, with a non-zero exit, in seconds.
TEST_F(Mpi, KilledRankEndsTheJobWithinSeconds) {
  const std::string r = join_path(dir_, "k");
  const pid_t pid = start_long_run(r);
  ASSERT_GT(pid, 0) << log();
  // The rank-1 process: the newest `gpt train` writing to this run.
  const std::string find = "pgrep -n -f -- '--out " + r + "$' > '" + dir_ + "/pid'";
  ASSERT_EQ(std::system(find.c_str()), 0);
  const pid_t victim = pid_t(std::atol(read_file(join_path(dir_, "pid")).c_str()));
  ASSERT_GT(victim, 0);
  kill(victim, SIGKILL);
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(30)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL() << "mpirun still running 30 s after a rank was killed";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log();
  EXPECT_EQ(std::system(("pgrep -f -- '--out " + r + "$' >/dev/null").c_str()) == 0, false) << "a rank is left running";
}

}  // namespace
}  // namespace gpt::test
