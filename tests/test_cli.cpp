// The command line: rejections (exit 2 with a clear message), and end-to-end runs
// of prepare -> train -> sample, exact resume, and Ctrl-C then --resume.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "bf16.h"
#include "check.h"
#include "formats/checkpoint.h"
#include "formats/model_io.h"
#include "cli.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "model.h"
#include "test_util.h"
#include "threads.h"

namespace gpt::test {

// Exit code, stderr in *err.
int run_gpt_err(std::vector<std::string> args, std::string* err = nullptr) {
  return run_gpt(std::move(args), nullptr, err);
}

struct Rejection {
  std::vector<std::string> args;
  std::string message;
};

TEST(Cli, RejectsBadCommandLinesWithExitCode2) {
  const std::vector<Rejection> cases = {
      {{"train", "--data", "d", "--out", "o", "--bogus", "1"}, "unknown flag --bogus"},
      {{"train", "--data", "d", "--out", "o", "--step", "5"}, "did you mean --steps"},
      {{"train", "--data", "d", "--out", "o", "--lr"}, "--lr needs a value"},
      {{"train", "--data", "d", "--out", "o", "--lr", "--steps", "3"}, "--lr needs a value"},
      {{"train", "--data", "d", "--out", "o", "--lr", "abc"}, "--lr expects a number, got 'abc'"},
      {{"prepare", "--input", "x", "--out", "y", "--val-fraction", "1e-400"}, "finite number of ordinary size"},
      {{"train", "--data", "d", "--out", "o", "--lr", "nan"}, "--lr expects a finite number"},
      {{"train", "--data", "d", "--out", "o", "--steps", "3000000000"}, "--steps is 3000000000, more than gpt takes"},
      {{"train", "--data", "d", "--out", "o", "--seed", "99999999999999999999"}, "more than 64 bits hold"},
      {{"train", "--data", "d", "--out", "o", "--steps", "1.5"}, "--steps expects a whole number"},
      // Leading spaces were skipped ('5 ' was refused, ' 5' taken) and, for --seed, a ' -5'
      // read as 18446744073709551611 (helper-21).
      {{"train", "--data", "d", "--out", "o", "--seed", " -5"}, "--seed expects a non-negative whole number"},
      {{"train", "--data", "d", "--out", "o", "--steps", " 5"}, "--steps expects a whole number, got ' 5'"},
      {{"train", "--data", "d", "--out", "o", "--lr", "\t1e-3"}, "--lr expects a number"},
      {{"train", "--data", "d", "--out", "o", "--heads", "3", "--dim", "128"}, "does not divide"},
      {{"train", "--data", "d", "--out", "o", "--context", "0"}, "--context must be at least 1"},
      {{"train", "--data", "d", "--out", "o", "--pos", "rope", "--heads", "4", "--dim", "12"}, "even head size"},
      {{"train", "--data", "d", "--out", "o", "--dropout", "1.5"}, "--dropout"},
      {{"train", "--data", "d", "--out", "o", "--lr", "-1"}, "--lr must be positive"},
      {{"train", "--data", "d", "--out", "o", "--pos", "alibi"}, "unknown positional encoding"},
      {{"train", "--data", "d", "--out", "o", "--device", "tpu"}, "unknown device"},
      {{"train", "--data", "d", "--out", "o", "--device", "cuda"}, "--device cuda"},
      {{"train", "--out", "o"}, "--data is required"},
      {{"train", "--data", "d", "--out", "o", "--resume", "o", "--init", "x"}, "cannot be combined"},
      {{"sample", "--ckpt", "x", "--top-p", "0"}, "--top-p"},
      {{"sample", "--ckpt", "x", "--temperature", "-1"}, "--temperature"},
      {{"prepare", "--input", "x", "--out", "y", "--val-fraction", "0.9"}, "val"},
      {{"prepare", "--input", "x", "--out", "y", "--tokenizer", "bpe9"}, "tokenizer"},
      {{"gradcheck", "--layer", "nope"}, "nope"},
      {{"trian"}, "did you mean 'train'"},
      {{"train", "--data", "d", "--out", "o", "--vocab-size", "0"}, "--vocab-size must be in 1..65536"},
      {{"export", "--ckpt", "x", "--out", "y"}, "--to is required"},
      {{"export", "--to", "llmc", "--out", "y"}, "--ckpt is required"},
      {{"export", "--ckpt", "x", "--to", "llmc"}, "--out is required"},
      // Given but empty said "required", as if it were missing.
      {{"export", "--ckpt", "x", "--to", "llmc", "--out", ""}, "--out is empty; it needs a value"},
      {{"export", "--ckpt", "x", "--to", "onnx", "--out", "y"}, "unknown format 'onnx'"},
      {{"export", "--ckpt", "x", "--to", "llmc", "--out", "/tmp"}, "is a directory"},
      {{"export", "--ckpt", "x", "--to", "llmc", "--out", "y", "--bogus"}, "unknown flag --bogus"},
      {{"train", "stray"}, "unexpected argument 'stray'"},
      // helper-24: a value starting with -- was "needs a value" with no way out named; flags
      // before the command, '--' and -v were unknown commands; --STATS had no suggestion;
      // a repeated --json was taken; `gpt --version extra` ignored extra.
      {{"tokenize", "--data", "d", "--encode", "--x"}, "a value that starts with -- is written --encode=--x"},
      {{"--layer", "gelu", "gradcheck"}, "'--layer' is a flag where the command goes: flags come after the command"},
      {{"--"}, "'--' is not a command"},
      {{"gradcheck", "--", "--layer", "gelu"}, "gpt takes no '--' separator"},
      {{"-v"}, "did you mean --version?"},
      {{"sample", "--ckpt", "x", "--STATS"}, "did you mean --stats?"},
      {{"attention", "--input", "x", "--json", "--json"}, "--json given twice"},
      {{"--version", "extra"}, "takes no arguments (got 'extra')"},
      {{"help", "train", "sample"}, "takes one command at most"},
      // helper-23: --threads 100000 crashed in libgomp; float settings beyond single
      // precision trained to inf (--lr 1e39) or read as 0 (5e-46); --beta2 0.99999999999
      // (rounded to 1) was refused as outside [0, 1) without a word of why.
      {{"train", "--data", "d", "--out", "o", "--threads", "100000"}, "--threads 100000 is more than gpt starts"},
      {{"train", "--data", "d", "--out", "o", "--lr", "1e39"}, "--lr is 1e39, beyond single precision"},
      {{"train", "--data", "d", "--out", "o", "--weight-decay", "1e39"}, "--weight-decay is 1e39, beyond single"},
      {{"train", "--data", "d", "--out", "o", "--lr", "5e-46"}, "--lr is 5e-46, below single precision's smallest"},
      {{"train", "--data", "d", "--out", "o", "--beta2", "0.99999999999"}, "values above 0.99999997 round to 1"},
      {{"train", "--data", "d", "--out", "o", "--lr", "0x10"}, "--lr expects a number, got '0x10'"},
  };
  for (const auto& c : cases) {
    std::string err;
    EXPECT_EQ(run_gpt_err(c.args, &err), 2) << c.args[0] << " " << c.message << ": " << err;
    EXPECT_NE(err.find(c.message), std::string::npos) << "expected '" << c.message << "' in: " << err;
  }
}

TEST(Cli, HelpExitsZeroAndListsFlags) {
  ::testing::internal::CaptureStdout();
  std::vector<std::string> args = {"gpt", "train", "--help"};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  EXPECT_EQ(run_cli(3, argv.data()), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  for (const char* f : {"--layers", "--grad-accum", "--sampling", "--resume", "--max-seconds", "default: 1e-3"})
    EXPECT_NE(out.find(f), std::string::npos) << f;
}

// --help gives every default one way, " [default: X]" at the end of the flag's line, and
// real-valued flags' defaults as reals (0.0, 1.0, 1e-3). The help texts had "(default 1024)",
// "(default: ...)" and "; default: ..." in the middle of lines, --dropout and --max-seconds
// showed 0 beside --grad-clip's 1.0.
TEST(Cli, HelpShowsEveryDefaultTheSameWay) {
  const std::set<std::string> reals = {"dropout", "lr",          "min-lr",      "weight-decay", "beta1",       "beta2",
                                       "grad-clip", "max-seconds", "temperature", "top-p",        "val-fraction"};
  size_t reals_seen = 0;
  for (const Command& c : all_commands()) {
    const std::string help = help_text(c);
    for (const Flag& f : c.flags) {
      const size_t at = help.find("\n  --" + f.name + " ");
      ASSERT_NE(at, std::string::npos) << c.name << " --" << f.name;
      const std::string line = help.substr(at + 1, help.find('\n', at + 1) - at - 1);
      const size_t d = line.find("default");
      if (d == std::string::npos) continue;
      EXPECT_EQ(line.find("default", d + 1), std::string::npos) << "gpt " << c.name << " --help: " << line;
      EXPECT_TRUE(d >= 2 && line.compare(d - 2, 2, " [") == 0 && line.back() == ']' &&
                  line.find(']', d) == line.size() - 1)
          << "gpt " << c.name << " --help: the default is not \" [default: X]\" at the end: " << line;
      const std::string shown = line.substr(d + 9, line.size() - d - 10);
      if (reals.count(f.name)) {
        reals_seen++;
        EXPECT_NE(shown.find_first_of(".e"), std::string::npos)
            << "gpt " << c.name << " --" << f.name << " takes a real; its default should read as one: " << line;
      }
      if (f.metavar == "N") {
        EXPECT_TRUE(!shown.empty() && (shown.find_first_not_of("0123456789") == std::string::npos ||
                                       !std::isdigit(static_cast<unsigned char>(shown[0]))))
            << "gpt " << c.name << " --" << f.name << " takes a whole number: " << line;
      }
    }
  }
  EXPECT_EQ(reals_seen, reals.size()) << "a real-valued flag with a default is gone or renamed";
}

// Each usage line names the flags its command requires (found by running the command
// without them: "--X is required"), and ends with "[flags]" unless it names every flag;
// README.md's "Usage:" lines are the help's. Usages listed some optional flags and not
// others ("[--dtype fp32|bf16]"), and `gpt train --resume RUN [--steps N]` hid the rest.
TEST(Cli, UsageNamesTheRequiredFlagsAndEndsWithFlags) {
  const std::string dir = scratch_dir();
  const std::string readme = read_file(repo_file("README.md"));
  for (const Command& c : all_commands()) {
    std::vector<std::string> lines;
    std::stringstream in(c.usage);
    for (std::string l; std::getline(in, l);) lines.push_back(l.substr(l.find_first_not_of(' ')));
    std::string outside;  // the usage without its [...] parts
    for (const auto& l : lines) {
      EXPECT_EQ(l.rfind("gpt " + c.name, 0), 0u) << l;
      bool all = true;
      for (const Flag& f : c.flags) all = all && l.find("--" + f.name) != std::string::npos;
      EXPECT_TRUE(all || (l.size() > 8 && l.compare(l.size() - 8, 8, " [flags]") == 0))
          << "gpt " << c.name << " usage: " << l;
      int depth = 0;
      for (char ch : l) {
        depth += ch == '[';
        if (!depth) outside += ch;
        depth -= ch == ']' && depth > 0;
      }
      outside += "\n";
    }
    // Which flags the command requires: add each it asks for, with a value the usage shows
    // (its first choice, "sinusoidal" of "sinusoidal|rope") or a path, until it asks no more.
    if (c.name == "gradcheck") {  // requires nothing (it would run every check)
      EXPECT_EQ(c.usage, "gpt gradcheck [flags]");
      continue;
    }
    std::vector<std::string> args = {c.name};
    int asked = 0;
    for (int round = 0; round < 6; round++) {
      std::string err;
      run_gpt(args, nullptr, &err);
      std::smatch m;
      if (!std::regex_search(err, m, std::regex("--([a-z-]+)(?: [A-Z]+)?(?: and --([a-z-]+)(?: [A-Z]+)?)? (is|are) "
                                                "required")))
        break;
      for (size_t g = 1; g <= 2 && m[g].matched; g++) {
        const std::string flag = "--" + m[g].str();
        asked++;
        std::smatch v;
        EXPECT_TRUE(std::regex_search(outside, v, std::regex(flag + " ([^ \n]+)")))
            << "gpt " << c.name << " requires " << flag << " (" << err << "); its usage does not name it: " << c.usage;
        std::string value = v.empty() ? "" : v[1].str();
        if (!value.empty() && std::islower(static_cast<unsigned char>(value[0])))
          value = value.substr(0, value.find('|'));
        else
          value = dir + "/missing" + std::to_string(round);
        args.insert(args.end(), {flag, value});
      }
    }
    if (c.name != "tokenize" && c.name != "attention") {
      EXPECT_GE(asked, 1) << c.name;
    }
    // README.md's "Usage: `gpt NAME ...`" (and "or `gpt NAME ...`") lines are the help's.
    const std::regex span("Usage: `(gpt " + c.name + " [^`]*)`(?: or\\s+`([^`]*)`)?");
    for (std::sregex_iterator it(readme.begin(), readme.end(), span), end; it != end; ++it)
      for (size_t g = 1; g <= 2 && (*it)[g].matched; g++)
        EXPECT_NE(std::find(lines.begin(), lines.end(), (*it)[g].str()), lines.end())
            << "README.md's usage `" << (*it)[g] << "` is not one of `gpt " << c.name << " --help`'s:\n" << c.usage;
  }
}

TEST(Cli, BadFilesExitOneWithTheFileNamed) {
  const std::string dir = scratch_dir();
  std::string err;
  EXPECT_EQ(run_gpt_err({"sample", "--ckpt", dir + "/missing"}, &err), 1);
  EXPECT_NE(err.find(dir + "/missing"), std::string::npos) << err;
  EXPECT_EQ(run_gpt_err({"prepare", "--input", dir + "/missing.txt", "--out", dir + "/d"}, &err), 1);
  EXPECT_NE(err.find("missing.txt"), std::string::npos) << err;
  EXPECT_EQ(run_gpt_err({"train", "--data", dir + "/nodata", "--out", dir + "/run"}, &err), 1);
  EXPECT_NE(err.find("nodata"), std::string::npos) << err;
  EXPECT_EQ(run_gpt_err({"export", "--ckpt", dir + "/missing", "--to", "llmc", "--out", dir + "/m.bin"}, &err), 1);
  EXPECT_NE(err.find(dir + "/missing"), std::string::npos) << err;
  const std::string pat = dir + "/fineweb_train_*.bin";
  EXPECT_EQ(run_gpt_err({"train", "--train-glob", pat, "--vocab-size", "50257", "--out", dir + "/run"}, &err), 1);
  EXPECT_NE(err.find("no file matches"), std::string::npos) << err;
  EXPECT_NE(err.find(pat), std::string::npos) << err;
}


// llm.c-style data made from make_data's: `n` numbered train shards and one val
// shard, no tokenizer.bin. Returns the directory.
std::string make_llmc_shards(const std::string& dir, int n) {
  const std::string data = make_data(dir), out = join_path(dir, "llmc");
  make_dirs(out);
  const auto train = read_shard(join_path(data, "train.bin"));
  const size_t per = train.size() / size_t(n);
  for (int s = 0; s < n; s++) {
    char name[64];
    std::snprintf(name, sizeof name, "tiny_train_%06d.bin", s);
    write_shard(join_path(out, name), std::vector<uint16_t>(train.begin() + std::ptrdiff_t(per * size_t(s)),
                                                            train.begin() + std::ptrdiff_t(per * size_t(s + 1))));
  }
  write_shard(join_path(out, "tiny_val_000000.bin"), read_shard(join_path(data, "val.bin")));
  return out;
}

TEST(Cli, LlmcDataExportImportAndSampleAgree) {
  const std::string dir = scratch_dir();
  const std::string shards = make_llmc_shards(dir, 3), run = join_path(dir, "run");
  std::string err, out;
  // A directory of llm.c's train.bin / val.bin without tokenizer.bin needs the vocabulary size.
  const std::string plain = join_path(dir, "plain");
  make_dirs(plain);
  write_file_atomic(join_path(plain, "train.bin"), read_file(join_path(shards, "tiny_train_000000.bin")));
  write_file_atomic(join_path(plain, "val.bin"), read_file(join_path(shards, "tiny_val_000000.bin")));
  auto args = tiny_model_flags();
  args.insert(args.begin(), {"train", "--data", plain, "--out", run, "--steps", "20", "--eval-every", "10",
                             "--eval-batches", "2"});
  EXPECT_EQ(run_gpt_err(args, &err), 2);
  EXPECT_NE(err.find("--vocab-size"), std::string::npos) << err;
  EXPECT_NE(err.find("50257"), std::string::npos) << err;
  // A vocabulary too small for the data: the shard and the id are named.
  auto small = args;
  small.insert(small.end(), {"--vocab-size", "3"});
  EXPECT_EQ(run_gpt_err(small, &err), 1);
  EXPECT_NE(err.find("train.bin: token id"), std::string::npos) << err;
  args.insert(args.end(), {"--vocab-size", "64"});
  ASSERT_EQ(run_gpt_err(args, &err), 0) << err;

  // The same model, three ways to the same bytes.
  const std::string a = join_path(dir, "a.bin"), b = join_path(dir, "b.bin");
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "llmc", "--out", a}, &out, &err), 0) << err;
  EXPECT_NE(out.find("llm.c checkpoint, version 3"), std::string::npos) << out;
  ASSERT_EQ(run_gpt_err({"export", "--ckpt", a, "--to", "llmc", "--out", b}, &err), 0) << err;
  EXPECT_EQ(read_file(a), read_file(b));
  const std::string h1 = join_path(dir, "hf1"), h2 = join_path(dir, "hf2");
  ASSERT_EQ(run_gpt_err({"export", "--ckpt", run, "--to", "safetensors", "--out", h1}, &err), 0) << err;
  ASSERT_EQ(run_gpt_err({"export", "--ckpt", a, "--to", "safetensors", "--out", h2}, &err), 0) << err;
  EXPECT_EQ(read_file(h1 + "/model.safetensors"), read_file(h2 + "/model.safetensors"));
  EXPECT_EQ(read_file(h1 + "/config.json"), read_file(h2 + "/config.json"));

  // Greedy samples agree whichever file the model comes from.
  std::string want;
  const std::vector<std::string> sample = {"sample", "--prompt", "1 2 3", "--tokens", "12", "--temperature", "0",
                                           "--threads", "2"};
  auto from = [&](const std::string& ckpt) {
    auto s = sample;
    s.insert(s.begin() + 1, {"--ckpt", ckpt});
    std::string o;
    EXPECT_EQ(run_gpt(s, &o, &err), 0) << ckpt << ": " << err;
    return o;
  };
  want = from(run);
  EXPECT_EQ(std::count(want.begin(), want.end(), ' '), 14) << want;  // "1 2 3" and 12 ids
  EXPECT_EQ(from(a), want);
  EXPECT_EQ(from(h1), want);
  EXPECT_EQ(from(h1 + "/model.safetensors"), want);
  // The safetensors file alone (no config.json beside it) needs --heads.
  const std::string bare = join_path(dir, "bare");
  make_dirs(bare);
  write_file_atomic(bare + "/w.safetensors", read_file(h1 + "/model.safetensors"));
  auto s2 = sample;
  s2.insert(s2.begin() + 1, {"--ckpt", bare + "/w.safetensors"});
  EXPECT_EQ(run_gpt(s2, &out, &err), 2);
  EXPECT_NE(err.find("--heads"), std::string::npos) << err;
  s2.insert(s2.end(), {"--heads", "2"});
  ASSERT_EQ(run_gpt(s2, &out, &err), 0) << err;
  EXPECT_EQ(out, want);

  // Fine-tune from the llm.c file on the shards, with a shorter context.
  auto init = tiny_model_flags();
  init.insert(init.begin(), {"train", "--train-glob", shards + "/tiny_train_*.bin", "--val-glob",
                             shards + "/tiny_val_*.bin", "--init", a, "--out", join_path(dir, "ft"), "--steps", "3",
                             "--eval-every", "3", "--eval-batches", "1"});
  init[std::find(init.begin(), init.end(), "--context") - init.begin() + 1] = "8";
  ASSERT_EQ(run_gpt_err(init, &err), 0) << err;
  EXPECT_NE(err.find("in 3 shards"), std::string::npos) << err;
  EXPECT_EQ(load_checkpoint(join_path(dir, "ft")).model.max_seq_len, 8);
  // A vocabulary that disagrees with the --init model is a usage error.
  init.insert(init.end(), {"--vocab-size", "65"});
  init[std::find(init.begin(), init.end(), "--out") - init.begin() + 1] = join_path(dir, "ft2");
  EXPECT_EQ(run_gpt_err(init, &err), 2);
  EXPECT_NE(err.find("conflicts with the checkpoint's vocabulary of 64"), std::string::npos) << err;
}

TEST(Cli, ExportRefusesRope) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir), run = join_path(dir, "rope");
  auto args = tiny_model_flags();
  args.insert(args.begin(),
              {"train", "--data", data, "--out", run, "--steps", "1", "--eval-every", "0", "--pos", "rope"});
  std::string err;
  ASSERT_EQ(run_gpt_err(args, &err), 0) << err;
  for (const char* to : {"llmc", "safetensors"}) {
    EXPECT_EQ(run_gpt_err({"export", "--ckpt", run, "--to", to, "--out", join_path(dir, "x")}, &err), 1) << to;
    EXPECT_NE(err.find("RoPE"), std::string::npos) << err;
    EXPECT_NE(err.find(run), std::string::npos) << err;
  }
  EXPECT_FALSE(file_exists(join_path(dir, "x")));
}

TEST(Cli, ResumeAcrossShardsReproducesTheLosses) {
  const std::string dir = scratch_dir();
  const std::string shards = make_llmc_shards(dir, 12);  // ~450 tokens: 7 batches of 4 x 16 a shard
  for (const char* mode : {"sequential", "random"}) {
    SCOPED_TRACE(mode);
    auto base = tiny_model_flags();
    base.insert(base.begin(), {"train", "--train-glob", shards + "/tiny_train_*.bin", "--val-glob",
                               shards + "/tiny_val_*.bin", "--vocab-size", "40", "--steps", "12", "--grad-accum", "2",
                               "--log-every", "1", "--eval-every", "6", "--eval-batches", "0", "--sampling", mode});
    const std::string ra = join_path(dir, std::string("a_") + mode), rb = join_path(dir, std::string("b_") + mode);
    auto with = [&](std::vector<std::string> extra) {
      auto v = base;
      v.insert(v.end(), extra.begin(), extra.end());
      return v;
    };
    std::string err;
    ASSERT_EQ(run_gpt_err(with({"--out", ra}), &err), 0) << err;
    ASSERT_EQ(run_gpt_err(with({"--out", rb, "--stop-at", "5"}), &err), 0) << err;  // 10 batches: inside shard 1
    EXPECT_NE(err.find("continue with: gpt train --resume " + rb + "\n"), std::string::npos) << err;
    ASSERT_EQ(run_gpt_err({"train", "--resume", rb}, &err), 0) << err;  // the run remembers its globs
    EXPECT_EQ(read_losses(ra + "/metrics.jsonl"), read_losses(rb + "/metrics.jsonl"));
    EXPECT_EQ(load_checkpoint(ra).params, load_checkpoint(rb).params);
    // Resuming over other shards is refused: the position would mean something else.
    ASSERT_EQ(run_gpt_err(with({"--out", rb + "x", "--stop-at", "5"}), &err), 0) << err;
    auto other = with({"--resume", rb + "x"});
    other[std::find(other.begin(), other.end(), "--train-glob") - other.begin() + 1] = shards + "/tiny_train_00000*.bin";
    EXPECT_EQ(run_gpt_err(other, &err), 1);
    EXPECT_NE(err.find("other data"), std::string::npos) << err;
  }
}

TEST(Cli, TrainLearnsAndSampleStreams) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir), run = join_path(dir, "run");
  auto args = tiny_model_flags();
  args.insert(args.begin(), {"train", "--data", data, "--out", run, "--steps", "60", "--lr", "3e-3", "--warmup", "5",
                             "--eval-every", "30", "--eval-batches", "4", "--log-every", "10"});
  std::string err;
  ASSERT_EQ(run_gpt_err(args, &err), 0) << err;
  const auto losses = read_losses(join_path(run, "metrics.jsonl"));
  ASSERT_TRUE(losses.count(1) && losses.count(60));
  EXPECT_LT(std::stod(losses.at(60)), std::stod(losses.at(1)) - 1.0);
  EXPECT_NE(losses.at(60).find('/'), std::string::npos);
  EXPECT_NE(err.find("step 60/60"), std::string::npos) << err;
  // Refuses to overwrite a run that holds a checkpoint.
  EXPECT_EQ(run_gpt_err(args, &err), 2);
  EXPECT_NE(err.find("--resume"), std::string::npos) << err;

  std::vector<std::string> sargs = {"sample", "--ckpt", run, "--prompt", "the ", "--tokens", "40", "--seed", "3"};
  ::testing::internal::CaptureStdout();
  std::vector<char*> argv;
  sargs.insert(sargs.begin(), "gpt");
  for (auto& s : sargs) argv.push_back(s.data());
  ASSERT_EQ(run_cli(int(argv.size()), argv.data()), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out.rfind("the ", 0), 0u) << out;        // prompt first
  EXPECT_EQ(out.size(), 4u + 40u + 1u) << out;        // 40 one-byte chars + newline
  ::testing::internal::CaptureStdout();
  ASSERT_EQ(run_cli(int(argv.size()), argv.data()), 0);
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), out);  // same seed, same text
}

// Sinusoidal positions learn about as fast as learned ones. With a table of amplitude 1
// against token embeddings of std 0.02 (before checkpoint version 3) the loss sat at the
// unigram level: val 2.40 after 200 steps here, against 1.14 for learned positions.
TEST(Cli, SinusoidalPositionsTrainAsWellAsLearned) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  auto val_after_200 = [&](const std::string& pos) {
    auto args = tiny_model_flags();
    const std::string run = join_path(dir, pos);
    args.insert(args.begin(), {"train", "--data", data, "--out", run, "--pos", pos, "--steps", "200", "--warmup",
                               "10", "--eval-every", "200", "--eval-batches", "0", "--log-every", "200"});
    std::string err;
    EXPECT_EQ(run_gpt_err(args, &err), 0) << err;
    const auto losses = read_losses(join_path(run, "metrics.jsonl"));
    EXPECT_TRUE(losses.count(200)) << pos;
    return losses.count(200) ? std::stod(losses.at(200).substr(losses.at(200).find('/') + 1)) : 99.0;
  };
  const double learned = val_after_200("learned"), sinusoidal = val_after_200("sinusoidal");
  EXPECT_LT(learned, 1.5);  // the run learned something (log 10 = 2.3 for guessing)
  EXPECT_LT(sinusoidal, learned + 0.2) << "learned " << learned;
}

// The default thread count is chosen step by step (src/threads.h); whichever count each
// step ran on, the losses, the weights and the sampled text are those of a fixed count.
TEST(Cli, AdaptiveThreadsGiveTheSameResultsAsAnyFixedCount) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  auto train = [&](const std::string& name, std::vector<std::string> threads) {
    std::vector<std::string> args = {"train", "--data", data, "--out", join_path(dir, name), "--layers", "2",
                                     "--heads", "2", "--dim", "32", "--context", "16", "--batch", "4", "--steps",
                                     "30", "--log-every", "1", "--eval-every", "10", "--eval-batches", "2"};
    args.insert(args.end(), threads.begin(), threads.end());
    std::string err;
    EXPECT_EQ(run_gpt_err(args, &err), 0) << err;
    return join_path(dir, name);
  };
  const std::string one = train("one", {"--threads", "1"}), two = train("two", {"--threads", "2"}),
                    three = train("three", {"--threads", "3"}), adaptive = train("adaptive", {});
  const auto want = read_losses(one + "/metrics.jsonl");
  ASSERT_EQ(want.size(), 30u);
  EXPECT_EQ(read_losses(two + "/metrics.jsonl"), want);
  EXPECT_EQ(read_losses(three + "/metrics.jsonl"), want);
  EXPECT_EQ(read_losses(adaptive + "/metrics.jsonl"), want);
  EXPECT_EQ(load_checkpoint(adaptive).params, load_checkpoint(one).params);
  // metrics.jsonl says which count each step ran on: the adaptive run tried several.
  const std::string metrics = read_file(adaptive + "/metrics.jsonl");
  if (initial_max_threads() >= 2) {
    EXPECT_NE(metrics.find("\"threads\":1"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\"threads\":" + std::to_string(initial_max_threads())), std::string::npos) << metrics;
  }
  // Sampling: the same text with the default (adaptive) and with fixed counts.
  auto sample = [&](std::vector<std::string> threads) {
    std::vector<std::string> args = {"sample", "--ckpt", one, "--prompt", "the ", "--tokens", "60", "--seed", "4"};
    args.insert(args.end(), threads.begin(), threads.end());
    std::string out, err;
    EXPECT_EQ(run_gpt(args, &out, &err), 0) << err;
    return out;
  };
  const std::string text = sample({"--threads", "1"});
  EXPECT_EQ(text.size(), 4u + 60u + 1u) << text;
  EXPECT_EQ(sample({"--threads", "2"}), text);
  EXPECT_EQ(sample({}), text);
}

TEST(Cli, WholeSplitValidationMatchesAnIndependentPass) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir), run = join_path(dir, "run");
  auto args = tiny_model_flags();
  args.insert(args.begin(), {"train", "--data", data, "--out", run, "--steps", "3", "--eval-every", "3",
                             "--eval-batches", "0"});
  std::string err;
  ASSERT_EQ(run_gpt_err(args, &err), 0) << err;
  const std::string logged = read_losses(join_path(run, "metrics.jsonl")).at(3);
  const double val = std::stod(logged.substr(logged.find('/') + 1));
  // Recompute: every (B=4, T=16) window of val.bin in order, with the saved weights.
  const Checkpoint ck = load_checkpoint(run);
  GPT<float> model(ck.model);
  load_weights(model, ck, false);
  const auto toks = read_shard(join_path(data, "val.bin"));
  const size_t BT = 4 * 16, n = (toks.size() - 1) / BT;
  ASSERT_GE(n, 2u);
  double sum = 0;
  std::vector<int> in(BT), tg(BT);
  for (size_t k = 0; k < n; k++) {
    for (size_t i = 0; i < BT; i++) in[i] = toks[k * BT + i], tg[i] = toks[k * BT + i + 1];
    sum += *model.forward(in.data(), tg.data(), 4, 16);
  }
  EXPECT_NEAR(val, sum / double(n), 1e-6);
}

class Resume : public ::testing::TestWithParam<std::string> {};

TEST_P(Resume, ReproducesTheUninterruptedLosses) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  auto base = tiny_model_flags();
  base.insert(base.begin(), {"train", "--data", data, "--steps", "12", "--log-every", "1", "--eval-every", "4",
                             "--eval-batches", "2", "--dropout", "0.1", "--grad-accum", "2", "--warmup", "3",
                             "--save-every", "5", "--seed", "3", "--sampling", GetParam()});
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  std::string err;
  ASSERT_EQ(run_gpt_err(with({"--out", dir + "/a"}), &err), 0) << err;
  ASSERT_EQ(run_gpt_err(with({"--out", dir + "/b", "--stop-at", "7"}), &err), 0) << err;
  EXPECT_NE(err.find("stopped at step 7/12"), std::string::npos) << err;
  EXPECT_EQ(load_checkpoint(dir + "/b").state.step, 7);
  ASSERT_EQ(run_gpt_err({"train", "--data", data, "--resume", dir + "/b"}, &err), 0) << err;
  const auto a = read_losses(dir + "/a/metrics.jsonl"), b = read_losses(dir + "/b/metrics.jsonl");
  ASSERT_EQ(a.size(), 12u);
  EXPECT_EQ(a, b);
  // The final checkpoints hold identical weights.
  EXPECT_EQ(load_checkpoint(dir + "/a").params, load_checkpoint(dir + "/b").params);
}

INSTANTIATE_TEST_SUITE_P(Sampling, Resume, ::testing::Values("random", "sequential"));

// --dtype bf16 end to end: the run remembers its dtype (RUN/run.json), so a resume
// without the flag continues in bf16 and reproduces the uninterrupted run exactly; the
// bf16 run really differs from fp32 (not silently fp32); export --dtype bf16 writes
// llm.c's version-5 file holding exactly the rounded weights; sample --dtype bf16 runs.
TEST(Cli, Bf16TrainResumesExactlyExportsAndSamples) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  auto base = tiny_model_flags();
  base.insert(base.begin(), {"train", "--data", data, "--steps", "10", "--log-every", "1", "--eval-every", "5",
                             "--eval-batches", "2", "--dropout", "0.1", "--save-every", "3", "--seed", "5"});
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  std::string err;
  ASSERT_EQ(run_gpt_err(with({"--out", dir + "/a", "--dtype", "bf16"}), &err), 0) << err;
  EXPECT_NE(err.find("bf16 matmuls"), std::string::npos) << err;
  ASSERT_EQ(run_gpt_err(with({"--out", dir + "/b", "--dtype", "bf16", "--stop-at", "6"}), &err), 0) << err;
  ASSERT_EQ(run_gpt_err({"train", "--resume", dir + "/b"}, &err), 0) << err;
  EXPECT_NE(err.find("bf16 matmuls"), std::string::npos) << "the resumed run left bf16: " << err;
  ASSERT_EQ(run_gpt_err(with({"--out", dir + "/f"}), &err), 0) << err;
  const auto a = read_losses(dir + "/a/metrics.jsonl"), b = read_losses(dir + "/b/metrics.jsonl");
  const auto f = read_losses(dir + "/f/metrics.jsonl");
  ASSERT_EQ(a.size(), 10u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, f);
  EXPECT_EQ(load_checkpoint(dir + "/a").params, load_checkpoint(dir + "/b").params);

  ASSERT_EQ(run_gpt({"export", "--ckpt", dir + "/a", "--to", "llmc", "--dtype", "bf16", "--out", dir + "/a16.bin"},
                    nullptr, &err), 0) << err;
  const Checkpoint ck = load_checkpoint(dir + "/a"), ex = load_model(dir + "/a16.bin");
  const std::string bytes = read_file(dir + "/a16.bin");
  EXPECT_EQ(bytes[4], 5);  // version 5
  EXPECT_EQ(bytes.size(), 1024 + 2 * ck.params.size());
  ASSERT_EQ(ex.params.size(), ck.params.size());
  for (size_t i = 0; i < ck.params.size(); i++)
    ASSERT_EQ(ex.params[i], bf16_rounded(ck.params[i])) << "parameter " << i;
  EXPECT_NE(run_gpt({"export", "--ckpt", dir + "/a", "--to", "safetensors", "--dtype", "bf16", "--out", dir + "/hf"},
                    nullptr, &err), 0);

  std::string out;
  ASSERT_EQ(run_gpt({"sample", "--ckpt", dir + "/a", "--dtype", "bf16", "--tokens", "40", "--prompt", "the "}, &out,
                    &err), 0) << err;
  EXPECT_GE(out.size(), 44u) << out;

  // eval in both precisions: close, not equal (the bf16 one really rounds).
  auto eval_loss = [&](const char* dtype) {
    std::string o, e;
    EXPECT_EQ(run_gpt({"eval", "--ckpt", dir + "/a", "--dtype", dtype}, &o, &e), 0) << e;
    const size_t at = o.find("val loss ");
    return at == std::string::npos ? -1.0 : std::stod(o.substr(at + 9));
  };
  const double e32 = eval_loss("fp32"), e16 = eval_loss("bf16");
  EXPECT_GT(e32, 0);
  EXPECT_NEAR(e16, e32, 1e-2 * e32);
  EXPECT_NE(run_gpt({"train", "--data", data, "--out", dir + "/x", "--dtype", "fp16"}, nullptr, &err), 0);
  EXPECT_NE(err.find("choose fp32 or bf16"), std::string::npos) << err;
  EXPECT_NE(run_gpt({"gradcheck", "--layer", "matmul", "--dtype", "bf16"}, nullptr, &err), 0);
}

TEST(Cli, CtrlCSavesAndResumeContinues) {
  const char* bin = std::getenv("GPT_BIN");
  if (!bin || !file_exists(bin)) GTEST_SKIP() << "GPT_BIN not set (make test sets it)";
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir), run = dir + "/run";
  std::vector<std::string> args = {bin, "train", "--data", data, "--out", run, "--steps", "100000",
                                   "--log-every", "1", "--eval-every", "0", "--save-every", "0"};
  for (auto& f : tiny_model_flags()) args.push_back(f);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    freopen("/dev/null", "w", stderr);
    execv(bin, argv.data());
    _exit(127);
  }
  // Wait until it has logged a few steps, then interrupt it.
  const std::string metrics = run + "/metrics.jsonl";
  for (int i = 0; i < 600; i++) {
    if (file_exists(metrics) && read_losses(metrics).size() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Its name in ps, top and pkill -x is its own (the re-execution for GOMP_SPINCOUNT named it "exe").
  const std::string name = std::string(bin).substr(std::string(bin).find_last_of('/') + 1);  // (bin/gpt-san too)
  EXPECT_EQ(read_file("/proc/" + std::to_string(pid) + "/comm"), name.substr(0, 15) + "\n");
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal instead of saving";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const long stopped = long(load_checkpoint(run).state.step);
  EXPECT_GE(stopped, 3);
  std::string err;
  ASSERT_EQ(run_gpt_err({"train", "--data", data, "--resume", run, "--steps", std::to_string(stopped + 3)}, &err), 0) << err;
  EXPECT_EQ(load_checkpoint(run).state.step, stopped + 3);
  const auto losses = read_losses(metrics);
  EXPECT_EQ(losses.rbegin()->first, stopped + 3);
}

}  // namespace gpt::test
