// gpt train: the training loop. Builds or restores the model, draws batches,
// runs forward/backward/AdamW with warmup+cosine, evaluates, logs metrics.jsonl,
// prints progress, and checkpoints atomically (periodically, at the end, on Ctrl-C,
// SIGTERM, SIGHUP, SIGPIPE). The run directory is locked (run_dir.h).
#include <omp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <chrono>
#include <cmath>
#include <limits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "backend_profile.h"
#include "check.h"
#include "formats/checkpoint.h"
#include "formats/hf_gpt2.h"
#include "commands/common.h"
#include "commands/generate.h"
#include "commands/run_info.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "model.h"
#include "process_group.h"
#include "run_dir.h"
#include "formats/model_io.h"
#include "schedule.h"
#include "text/tokenizer.h"

namespace gpt {

namespace {

const char* kModelFlags[] = {"layers", "heads", "dim", "context", "pos", "dropout"};

GPTConfig model_config_from(const Args& a, GPTConfig c, bool only_given) {
  auto want = [&](const char* f) { return !only_given || a.has(f); };
  if (want("layers")) c.num_layers = a.integer("layers");
  if (want("heads")) c.num_heads = a.integer("heads");
  if (want("dim")) c.channels = a.integer("dim");
  if (want("context")) c.max_seq_len = a.integer("context");
  if (want("pos")) c.pos = parse_posenc(a.str("pos"));
  if (want("dropout")) c.dropout = a.single("dropout");
  return c;
}

// One model flag's value in a config, as text (for comparing and for messages).
std::string model_flag_value(const GPTConfig& c, const std::string& flag) {
  if (flag == "layers") return std::to_string(c.num_layers);
  if (flag == "heads") return std::to_string(c.num_heads);
  if (flag == "dim") return std::to_string(c.channels);
  if (flag == "context") return std::to_string(c.max_seq_len);
  if (flag == "pos") return to_string(c.pos);
  GPT_CHECK(flag == "dropout", "unknown model flag ", flag);
  char b[32];
  std::snprintf(b, sizeof b, "%g", double(c.dropout));
  return b;
}

TrainConfig train_config_from(const Args& a, TrainConfig t, bool only_given) {
  auto want = [&](const char* f) { return !only_given || a.has(f); };
  if (want("batch")) t.batch = a.integer("batch");
  if (want("grad-accum")) t.grad_accum = a.integer("grad-accum");
  if (want("lr")) t.lr = a.single("lr");
  if (want("min-lr")) t.min_lr = a.single("min-lr");
  if (want("warmup")) t.warmup = a.integer("warmup");
  if (want("schedule")) {
    const std::string s = a.str("schedule");
    if (s == "cosine") t.schedule = Schedule::cosine;
    else if (s == "constant") t.schedule = Schedule::constant;
    else GPT_USAGE_FAIL("--schedule: unknown schedule '", s, "'; choose cosine or constant");
  }
  if (want("weight-decay")) t.weight_decay = a.single("weight-decay");
  if (want("beta1")) t.beta1 = a.single("beta1");
  if (want("beta2")) t.beta2 = a.single("beta2");
  if (want("grad-clip")) t.grad_clip = a.single("grad-clip");
  if (want("steps")) t.steps = a.integer("steps");
  if (want("eval-every")) t.eval_every = a.integer("eval-every");
  if (want("eval-batches")) t.eval_batches = a.integer("eval-batches");
  if (want("log-every")) t.log_every = a.integer("log-every");
  if (want("save-every")) t.save_every = a.integer("save-every");
  if (want("seed")) t.seed = a.u64("seed");
  if (want("sampling")) {
    const std::string s = a.str("sampling");
    if (s == "random") t.sampling = SamplingMode::random;
    else if (s == "sequential") t.sampling = SamplingMode::sequential;
    else GPT_USAGE_FAIL("--sampling: unknown mode '", s, "'; choose random or sequential");
  }
  return t;
}

std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

// Columns of the terminal on stderr; 0 when unknown.
int terminal_columns() {
  winsize ws{};
  return ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? int(ws.ws_col) : 0;
}

// Rewrites metrics.jsonl keeping only lines with step <= last_step (a resumed run
// replaces what happened after its checkpoint). Read line by line: the file may be
// larger than memory, and a line longer than any train writes is damage.
// Returns the steps of the lines it cut (logged after the checkpoint: a kill -9, or a
// save that failed), for the note that says why the curve goes back.
struct MetricsCut {
  std::vector<long long> after;  // the steps of lines after the checkpoint's step
  struct Torn {
    std::string line;  // cut short (a full disk, a kill mid-write), dropped
    bool redone;       // its step is after the checkpoint's (trained and logged again)
  };
  std::vector<Torn> torn;
};
MetricsCut truncate_metrics(const std::string& path, int64_t last_step) {
  MetricsCut cut;
  if (!file_exists(path)) return cut;
  std::string kept;
  for_each_line(path, kMetricsLineMax, [&](const std::string& line) {
    auto p = line.find("\"step\":");
    if (line.empty()) return;
    const long long step = p == std::string::npos ? 0 : std::atoll(line.c_str() + p + 7);
    if (p == std::string::npos || line.back() != '}') {  // (a line a full disk cut short)
      cut.torn.push_back({line, p != std::string::npos && step > last_step});
      return;
    }
    if (step <= last_step) kept += line + "\n";
    else cut.after.push_back(step);
  });
  // Rewritten only when something is cut (helper-41: a read-only or another user's
  // metrics.jsonl was replaced, by a file of this user's, with nothing cut).
  struct stat was {};
  if (::stat(path.c_str(), &was) == 0 && uint64_t(was.st_size) == kept.size() && cut.torn.empty() && cut.after.empty())
    return cut;
  write_file_atomic(path, kept);
  return cut;
}

// The val loss of `step` added to its line of metrics.jsonl (the last line of that step
// without one): an evaluation a stopped session gave up, measured by the resume.
// False when there is no such line (edited by hand).
bool add_val_loss(const std::string& path, int64_t step, double val) {
  std::vector<std::string> lines;
  for_each_line(path, kMetricsLineMax, [&](const std::string& line) { lines.push_back(line); });
  for (size_t i = lines.size(); i-- > 0;) {
    std::string& line = lines[i];
    const auto p = line.find("\"step\":");
    if (p == std::string::npos || line.empty() || line.back() != '}' || std::atoll(line.c_str() + p + 7) != step)
      continue;
    if (line.find("\"val_loss\":") != std::string::npos) return false;
    // The mark of the evaluation given up stood where its val loss goes: the same line as
    // a run never stopped.
    const std::string mark = ",\"val_given_up\":true";
    if (const auto m = line.find(mark); m != std::string::npos) line.erase(m, mark.size());
    line.insert(line.size() - 1, ",\"val_loss\":" + json_number(val));
    std::string all;
    for (const std::string& l : lines) all += l + "\n";
    write_file_atomic(path, all);
    return true;
  }
  return false;
}

// RUN/samples.txt holds each --sample-every sample as a header line naming its step and
// the length of the text that follows, the text, and a blank line: the length lets a
// resumed run cut the samples after its checkpoint whatever the text holds.
std::string sample_entry(const std::string& header, const std::string& text) {
  return "--- " + header + " | " + std::to_string(text.size()) + " bytes ---\n" + text + "\n\n";
}

// Keeps the samples of steps <= last_step (a resumed run replaces what came after its
// checkpoint, as in metrics.jsonl), reading only the headers (the file may be large),
// and drops an entry cut short at the end (a write that failed). False, and the file
// left as it is, when it is not as train writes it (edited by hand).
bool truncate_samples(const std::string& path, int64_t last_step) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return true;
  f.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(f.tellg());
  uint64_t pos = 0;
  std::string header;
  while (pos < size) {
    f.seekg(std::streamoff(pos));
    if (!std::getline(f, header) || f.eof()) return false;  // no whole header line
    long long step = 0;
    uint64_t n = 0;
    const size_t bar = header.rfind(" | ");
    if (std::sscanf(header.c_str(), "--- step %lld", &step) != 1 || bar == std::string::npos ||
        std::sscanf(header.c_str() + bar, " | %" SCNu64 " bytes ---", &n) != 1)
      return false;
    const uint64_t body = pos + header.size() + 1;
    if (n > size || body + n + 2 > size) break;  // cut short: the write of this entry failed
    char blank[2] = {0, 0};
    f.seekg(std::streamoff(body + n));
    if (!f.read(blank, 2) || blank[0] != '\n' || blank[1] != '\n') return false;
    if (step > last_step) break;
    pos = body + n + 2;
  }
  if (pos < size && ::truncate(path.c_str(), off_t(pos)) != 0)
    GPT_FAIL(path, ": cannot cut the samples after step ", last_step, " (", std::strerror(errno), ")");
  return true;
}

// The checkpoint a run can go on from: its step, its file, and the command that continues
// it. After --resume A --out B it is A's until B saves one (helper-43: the messages named
// B/checkpoint.bin, which did not exist yet, and `--resume B`).
struct SavedCheckpoint {
  int64_t step = 0;
  std::string file, resume;
};

// The flags that give a run's data, for commands in messages (" --data runs/d", or the
// placeholder " --data DIR" when there are none to give).
std::string data_flags(const std::optional<DataSource>& d) {
  // (quoted for a shell where needed: helper-45, a --data with a quote in it broke the command)
  // (a pattern is always quoted: the shell would expand it)
  auto word = [](const std::string& s, bool pattern) {
    const std::string w = shell_word(s);
    return pattern && w[0] != '\'' ? "'" + w + "'" : w;
  };
  if (!d || d->empty()) return " --data DIR";
  std::string f = d->dir.empty() ? "" : " --data " + word(d->dir, false);
  if (!d->train_glob.empty()) f += " --train-glob " + word(d->train_glob, true);
  if (!d->val_glob.empty()) f += " --val-glob " + word(d->val_glob, true);
  return f;
}

// A loss or gradient norm that is NaN or infinite: the run stops before the step that
// would spread it, naming the step and the last good checkpoint (or that there is none).
// (data: the run's, for the command that starts a new run; helper-44: it lacked --data and
// failed as given.)
[[noreturn]] void fail_non_finite(const char* what, double number, int step, const std::string& out,
                                  const std::optional<SavedCheckpoint>& saved, float grad_clip, const DataSource& data) {
  const std::string value = std::isnan(number) ? "NaN" : number > 0 ? "infinite" : "-infinite";  // (was "-nan")
  // (Clipping on, as by default: it did not prevent this, so it is no advice.)
  const std::string clip = grad_clip > 0 ? "" : " (or set --grad-clip 1)";
  if (saved) {
    // (after --resume A --out B, B holds A's best.bin from the start)
    const std::string best = join_path(out, kBestFile);
    GPT_FAIL("training ", what, " is ", value, " at step ", step, ": the run diverged and was stopped (nothing "
             "was saved after step ", saved->step, "). Lower --lr", clip, " and continue from the last "
             "good checkpoint (step ", saved->step, ", ", saved->file, "): ", saved->resume, " --lr LOWER; if the "
             "train loss had already risen far by then (", join_path(out, "metrics.jsonl"), "), that checkpoint "
             "diverges again: start a new run instead",
             file_exists(best) ? str(", from ", best, " (gpt train --init ", shell_word(best), data_flags(data), " --out NEW)")
                               : std::string());
  }
  GPT_FAIL("training ", what, " is ", value, " at step ", step, ": the run diverged and was stopped; no checkpoint "
           "was saved in ", out, " yet, so start again with a lower --lr", clip, " (--save-every N keeps earlier "
           "steps)");
}

}  // namespace

namespace {

// What the flags and (on --resume / --init) a checkpoint say the run is.
struct Run {
  bool resume = false;
  std::string out;          // run directory
  GPTConfig model;
  TrainConfig train;
  TrainState state;
  Dtype dtype = Dtype::fp32;     // --dtype, or what a resumed run used (RUN/run.json)
  SampleSettings sample;         // --sample-*, or what a resumed run used (RUN/run.json)
  int zero = 0;                  // --zero, or what a resumed run used (RUN/run.json)
  std::optional<RunSettings> settings;  // --resume: RUN/run.json as read (none for runs from before it)
  std::optional<Checkpoint> ck;  // --resume: the run's checkpoint; --init: the starting weights
  std::string fork_from;         // --resume A --out B (another directory): A, as given
  std::string fork_history;      // the run directory whose history B copies ("" when A is a file outside one)
  std::optional<int> flag_vocab;  // --vocab-size
  std::shared_ptr<RunLock> lock;  // rank 0: this run directory is ours (run_dir.h)
};

// The data a run reads, and the tokenizer that goes into its checkpoints.
struct Data {
  DataSource src;     // the flags, or what the run remembers (RUN/data.json)
  std::vector<std::string> train_paths, val_paths;
  std::string name;   // for the start-up line
  std::string dir;    // --data DIR, or empty
  std::string tok_blob;
};

// Flags and checkpoint -> model, optimizer and run settings (no data read yet).
Run resolve_run(const Args& a, bool root) {  // root: rank 0, which alone prints notes
  Run r;
  r.resume = a.has("resume");
  if (r.resume && a.has("init")) GPT_USAGE_FAIL("--resume and --init cannot be combined: --resume continues a run, "
                                               "--init starts a new one from a checkpoint's weights");
  if (!r.resume && !a.has("data") && !a.has("train-glob"))  // --resume: open_data asks the run
    GPT_USAGE_FAIL("gpt train: --data is required (a directory from `gpt prepare`, or any directory holding "
                   "train.bin and val.bin), or --train-glob PATTERN for llm.c's numbered shards; "
                   "see `gpt train --help`");
  if (a.has("vocab-size")) {
    r.flag_vocab = a.integer("vocab-size");
    if (*r.flag_vocab < 1 || *r.flag_vocab > 65536)
      GPT_USAGE_FAIL("--vocab-size must be in 1..65536 (shard tokens are uint16), got ", *r.flag_vocab);
  }
  // An export (llm.c or safetensors) holds weights only: no optimizer state or data position.
  if (r.resume) {
    const std::string from = a.str("resume");
    const bool hf_dir = is_directory(from) && !file_exists(join_path(from, kCheckpointFile)) &&
                        file_exists(join_path(from, kSafetensorsFile));
    const std::optional<ModelFormat> f = hf_dir ? std::optional(ModelFormat::safetensors) : file_model_format(from);
    if (f && *f != ModelFormat::gptcc)
      GPT_USAGE_FAIL("--resume ", from, " is ", *f == ModelFormat::llmc ? "an llm.c checkpoint" : "a safetensors model",
                     " (weights only: no optimizer state or data position), so it cannot be resumed; start a new "
                     "run from its weights with --init ", from, " --data DIR --out RUN (nothing was changed)");
  }
  // --resume RUN/checkpoint.bin (a file) without --out: the run's files go beside it, in
  // RUN, which is what --resume RUN says (make_dirs said only "not a directory").
  if (r.resume && !a.has("out") && file_exists(a.str("resume")) && !is_directory(a.str("resume"))) {
    const std::string run = run_dir(a.str("resume"));
    if (same_file(a.str("resume"), join_path(run, kCheckpointFile)))  // RUN/checkpoint.bin itself
      GPT_USAGE_FAIL("--resume takes the run directory: gpt train --resume ", shell_word(run), " (nothing was changed)");
    GPT_USAGE_FAIL("--resume ", a.str("resume"), " is a file; --resume takes a run directory (--resume RUN), or "
                   "continues a checkpoint file in a new directory given with --out DIR (nothing was changed)");
  }
  r.out = a.has("out") ? a.str("out") : (r.resume ? a.str("resume") : a.require("out"));
  if (r.out.empty()) GPT_USAGE_FAIL("--out must not be empty");
  // --resume A --out B continues A in B. A B that holds a checkpoint is another run (or an
  // earlier continuation of A): it was overwritten, its metrics.jsonl mixed with A's and its
  // best.bin (another model) named as this run's best.
  if (r.resume && a.has("out") && !same_file(r.out, a.str("resume"))) {
    if (file_exists(join_path(r.out, kCheckpointFile)))
      GPT_USAGE_FAIL("--out ", r.out, " already holds a checkpoint (another run, or an earlier continuation of ",
                     a.str("resume"), "): --resume ", a.str("resume"), " --out DIR continues ", a.str("resume"),
                     " in a new directory; choose another --out, or continue that run with --resume ", r.out,
                     " (nothing was overwritten)");
    r.fork_from = a.str("resume");
    // Its history: A's files when A is a run or a run's checkpoint.bin (given the file, B
    // got none of A's metrics.jsonl, samples.txt and best.bin, and a stop's given-up
    // evaluation was never measured); none for a checkpoint file elsewhere (a copy: what
    // lies beside it is not its history).
    if (is_directory(r.fork_from)) r.fork_history = r.fork_from;
    else if (same_file(r.fork_from, join_path(run_dir(r.fork_from), kCheckpointFile)))
      r.fork_history = run_dir(r.fork_from);
  }

  // A run stopped before its first checkpoint left its other files: "no checkpoint here;
  // expected a run directory written by gpt train" sent its user looking for another.
  if (r.resume && is_directory(a.str("resume")) && !file_exists(join_path(a.str("resume"), kCheckpointFile)) &&
      (file_exists(join_path(a.str("resume"), "metrics.jsonl")) || file_exists(join_path(a.str("resume"), "run.json")))) {
    const std::string& run = a.str("resume");
    std::optional<DataSource> data;
    try {
      if (file_exists(join_path(run, "data.json"))) data = load_data_source(run);
    } catch (const Error&) {
    }
    const std::string data_flag = data_flags(data);
    const std::string best = join_path(run, kBestFile);
    // A continuation of another run (--resume A --out RUN) that stopped before its first save:
    // it goes on from A (helper-44: only --init best.bin or a start from scratch was offered).
    // (helper-45: the command alone stopped at "already at step N": B's --steps and the rest
    // are not kept, so they are asked for; A gone, it is said)
    const std::optional<std::string> from = continues_of(run);
    if (from && file_exists(checkpoint_path(*from))) {
      int64_t step = -1;
      try {
        step = load_checkpoint(*from, false).state.step;
      } catch (const Error&) {
      }
      GPT_FAIL(run, ": the run here has no ", kCheckpointFile, " yet: it continues ", *from, " (--resume ", *from,
               " --out ", run, ") and stopped before saving its first; go on from there with: gpt train --resume ",
               shell_word(*from), " --out ", shell_word(run), " and the flags it was started with (--steps above ",
               step >= 0 ? std::to_string(step) : std::string("that run's step"), "; a lower --lr if its loss diverged)");
    }
    const std::string gone = from ? str(" (it continued ", *from, ", which is not there any more)") : "";
    GPT_FAIL(run, ": the run here has no ", kCheckpointFile, " (it stopped before saving its first one, or the file "
             "was removed)", gone, ", so there is nothing to resume; ",
             file_exists(best) ? "its best.bin holds trained weights: start a new run from them with gpt train --init " +
                                     shell_word(best) + data_flag + " --out NEW (the weights give the model's "
                                     "shape), or start " + run + " again from scratch (gpt train --out " +
                                     shell_word(run) + data_flag + " and its model flags), which moves best.bin aside"
                               : "start it again from scratch with its model flags (gpt train --out " + shell_word(run) + data_flag +
                                     " ...), which replaces what it left");
  }
  if (r.resume) r.settings = load_run_settings(a.str("resume"));
  r.dtype = resolve_dtype(a, r.settings, a.str("resume"));
  r.sample = resolve_sample_settings(a, r.settings);
  if (r.resume) {
    r.ck = load_checkpoint(a.str("resume"));
    r.model = r.ck->model;
    const GPTConfig want = model_config_from(a, r.model, true);
    for (const char* f : kModelFlags)
      if (a.has(f) && model_flag_value(want, f) != model_flag_value(r.model, f))
        GPT_USAGE_FAIL("--", f, " ", a.str(f), " conflicts with the checkpoint in ", a.str("resume"), " (",
                       model_flag_value(r.model, f), "): a resumed run keeps its model; drop the flag, or use "
                       "--init to start a new run");
    if (r.ck->m.empty()) GPT_FAIL(checkpoint_path(a.str("resume")), ": has no optimizer state, so it cannot be resumed "
                                  "exactly; use --init to start a new run from its weights");
    r.train = train_config_from(a, r.ck->train, true);
    r.state = r.ck->state;
  } else {
    if (file_exists(join_path(r.out, kCheckpointFile)))
      GPT_USAGE_FAIL(r.out, " already holds a checkpoint; continue it with --resume ", r.out,
                     ", or choose another --out (nothing was overwritten)");
    if (a.has("init")) {
      // Any model file: a gpt.cc run or checkpoint, an llm.c checkpoint, a Hugging Face GPT-2.
      r.ck = load_model(a.str("init"), heads_flag(a));
      if (root) note_latest_checkpoint(a.str("init"), *r.ck, "--init");
      r.model = model_config_from(a, r.ck->model, true);
      // Dropout is this run's training choice, not the model file's: --dropout as given
      // (default 0.0) whatever the source says (a Hugging Face config.json's resid_pdrop,
      // or 0.1 where it has none; a gpt.cc run's own --dropout).
      r.model.dropout = a.single("dropout");
      const GPTConfig& c = r.ck->model;
      for (const char* f : kModelFlags) {
        const std::string flag = f;
        const bool may_change = flag == "dropout" || (flag == "context" && r.model.max_seq_len <= c.max_seq_len);
        if (!may_change && model_flag_value(r.model, f) != model_flag_value(c, f))
          GPT_USAGE_FAIL("--init: --", f, " ", a.str(f), " differs from ", a.str("init"), "'s ",
                         model_flag_value(c, f), "; the weights fix the model's shape (only --dropout and a shorter "
                         "--context may change): drop --", f);
      }
    } else {
      r.model = model_config_from(a, GPTConfig{}, false);
    }
    r.train = train_config_from(a, TrainConfig{}, false);
  }
  validate(r.train);
  validate(r.model);  // impossible shapes fail before any file is read (vocab is checked again below)
  if (r.resume && r.state.step > r.train.steps)
    GPT_USAGE_FAIL(a.str("resume"), " is at step ", r.state.step, ", past --steps ", r.train.steps,
                   ": a run cannot go back; pass --steps above ", r.state.step, " to train further (nothing was "
                   "changed), or start a new run from its weights with --init");
  // The loop's own flags too: nothing may be written (run.json, metrics.jsonl, the lock)
  // by a command that then stops at a bad flag.
  r.zero = resolve_zero(a, r.settings);
  if (!(a.integer("stop-at") >= 0))
    GPT_USAGE_FAIL("--stop-at must be >= 0 (0 = off), got ", a.str("stop-at"));
  if (!(a.real("max-seconds") >= 0))
    GPT_USAGE_FAIL("--max-seconds must be >= 0 (0 = off), got ", a.str("max-seconds"));
  if (a.has("peak-gflops") && !(a.real("peak-gflops") >= 0))
    GPT_USAGE_FAIL("--peak-gflops must be >= 0 (0 = no MFU), got ", a.str("peak-gflops"));
  return r;
}

// The shard lists and the tokenizer (DIR/tokenizer.bin, when there is one); settles
// the vocabulary size against the data and the checkpoint.
Data open_data(const Args& a, Run& r) {
  Data d;
  d.src = resolve_data_source(a, r.resume ? a.str("resume") : "", "gpt train");
  // A resume takes the data it remembers, or, with --data or --train-glob, all of them from
  // the flags: a new val set alone would have best.bin compare losses on different data.
  if (r.resume && d.src.dir.empty() && d.src.train_glob.empty() && !d.src.val_glob.empty()) {
    const std::optional<DataSource> its = load_data_source(a.str("resume"));
    GPT_USAGE_FAIL("gpt train --resume ", a.str("resume"), ": --val-glob without --train-glob (or --data): a resume "
                   "reads the data the run remembers (", its ? data_flags(its).substr(1) : "none are remembered",
                   ") unless --data or --train-glob is given, and then takes all of them from the flags, since "
                   "best.bin compares val losses on one val set; pass --train-glob (or --data) with --val-glob, or "
                   "drop --val-glob to keep the run's");
  }
  if (d.src.dir.empty() && d.src.train_glob.empty())
    GPT_USAGE_FAIL("gpt train: --data is required (a directory from `gpt prepare`, or any directory holding "
                   "train.bin and val.bin), or --train-glob PATTERN for llm.c's numbered shards; "
                   "see `gpt train --help`");
  d.dir = d.src.dir;
  const bool have_dir = !d.dir.empty();
  if (have_dir && !is_directory(d.dir))
    GPT_FAIL(d.dir, ": not a directory; expected the output of `gpt prepare --out ", d.dir,
             "` or a directory holding train.bin and val.bin");
  // A model's directory given as data (it said "has no tokenizer.bin ... pass --vocab-size N").
  if (have_dir && !file_exists(join_path(d.dir, "train.bin")) && holds_model(d.dir)) {
    const std::optional<DataSource> its = file_exists(join_path(d.dir, kCheckpointFile))
                                              ? load_data_source(d.dir) : std::nullopt;
    GPT_USAGE_FAIL("--data ", d.dir, ": is a model's directory (it holds ",
                   file_exists(join_path(d.dir, kCheckpointFile)) ? kCheckpointFile : kSafetensorsFile,
                   "), not data of `gpt prepare`; ", its && !its->dir.empty() ? "it trained on --data " + its->dir + "; " : "",
                   "to start from its weights give --init ", d.dir,
                   file_exists(join_path(d.dir, kCheckpointFile)) ? " (or --resume " + d.dir + " to continue it)" : "");
  }
  // No train.bin (an empty directory, or another one): said first, before the tokenizer
  // (it said "has no tokenizer.bin ... pass --vocab-size N", which cannot help).
  if (have_dir && d.src.train_glob.empty() && !file_exists(join_path(d.dir, "train.bin")))
    GPT_FAIL("--data ", d.dir, ": has no train.bin", file_exists(join_path(d.dir, kTokenizerFile)) ? "" :
             " (nor tokenizer.bin)", ", so it is not a data directory of `gpt prepare`; make one with gpt prepare "
             "--input TEXT --out ", shell_word(d.dir), ", or give llm.c's shards with --train-glob PATTERN");
  d.train_paths = !d.src.train_glob.empty() ? glob_files(d.src.train_glob, "--train-glob")
                                             : std::vector<std::string>{join_path(d.dir, "train.bin")};
  if (!d.src.val_glob.empty()) d.val_paths = glob_files(d.src.val_glob, "--val-glob");
  else if (have_dir) d.val_paths = {join_path(d.dir, "val.bin")};
  d.name = d.src.name();

  // The data's tokenizer: DIR's, or (--train-glob alone) the one `gpt prepare` wrote beside
  // the shards, the same in every directory they come from. (Unlooked for, data of another
  // tokenizer of the same size trained an --init model into garbage without a word; a glob
  // over two texts' directories mixed their ids.)
  std::vector<std::string> shards = d.train_paths;
  shards.insert(shards.end(), d.val_paths.begin(), d.val_paths.end());
  const std::string tok_dir = data_tokenizer_dir(have_dir ? d.dir : "", shards);
  std::unique_ptr<Tokenizer> tok;
  if (!tok_dir.empty()) {
    tok = Tokenizer::load_dir(tok_dir);
    d.tok_blob = tok->serialize();
  }
  GPTConfig& mc = r.model;
  const int data_vocab = tok ? tok->vocab_size() : 0;
  if (r.flag_vocab && tok && *r.flag_vocab != data_vocab)
    GPT_USAGE_FAIL("--vocab-size ", *r.flag_vocab, " disagrees with ", join_path(tok_dir, kTokenizerFile), " (", data_vocab,
                   " tokens); drop --vocab-size");
  if (r.ck) {
    if (!r.ck->tokenizer.empty() && !d.tok_blob.empty() && r.ck->tokenizer != d.tok_blob)
      GPT_FAIL(join_path(tok_dir, kTokenizerFile), ": differs from the tokenizer ",
               r.resume ? "stored in the checkpoint" : "of the --init model", "; the data were prepared with another "
               "tokenizer than the model was trained on: prepare the text with the model's (`gpt prepare --input "
               "TEXT --out DIR --tokenizer ", r.resume ? a.str("resume") : a.str("init"), "`), or train a new model on "
               "these data (without ", r.resume ? "--resume" : "--init", ")");
    if (r.flag_vocab && *r.flag_vocab != mc.vocab_size)
      GPT_USAGE_FAIL("--vocab-size ", *r.flag_vocab, " conflicts with the checkpoint's vocabulary of ", mc.vocab_size,
                     " tokens; drop --vocab-size");
    // A tokenizer of another size than the model's vocabulary: larger, its ids overflow the
    // model; smaller, the trained run could not be sampled as text (ids it cannot decode).
    if (tok && data_vocab != mc.vocab_size)
      GPT_FAIL(join_path(tok_dir, kTokenizerFile), ": the data's tokenizer has ", data_vocab, " tokens, the ",
               r.resume ? "run's" : "--init model's", " vocabulary ", mc.vocab_size, "; they do not belong together: "
               "prepare the data with the model's tokenizer, or train a new model on these data (without --init)");
    if (d.tok_blob.empty()) d.tok_blob = r.ck->tokenizer;
  } else if (tok || r.flag_vocab) {
    mc.vocab_size = tok ? data_vocab : *r.flag_vocab;
    mc.padded_vocab_size = pad_vocab(mc.vocab_size);
  } else {
    GPT_USAGE_FAIL(have_dir ? d.dir + " has no " + kTokenizerFile : std::string("--train-glob shards carry no tokenizer"),
                   ", so the vocabulary size is unknown: pass --vocab-size N (50257 for GPT-2 tokens, as in "
                   "llm.c's shards), or start from a model with --init");
  }
  validate(mc);
  return d;
}

// Under mpirun every rank builds its own model from its own command line and files (the
// data, --init's model and the run's checkpoint at the same path on every machine), and
// nothing compared them: ranks at different steps hung, a vocabulary or --dim that
// differed corrupted the heap in the all-reduce, and another --seed or other data on one
// rank trained on without a word (helper-47). Each rank's values of what must agree are
// compared with rank 0's; a difference anywhere ends every rank with one message naming
// the rank, the setting and both values. `when` says which check (before the model is
// built: settings, step and data position; after: weights and data fingerprints).
void check_ranks_agree(ProcessGroup& pg, const std::vector<std::pair<std::string, std::string>>& fields,
                       const char* when) {
  if (pg.size() == 1) return;
  auto flat = [](const std::vector<std::pair<std::string, std::string>>& f) {
    std::string s;
    for (const auto& [name, value] : f) s += name + '\x1f' + value + '\x1e';
    return s;
  };
  auto share = [&](std::string text, int from) {  // rank `from`'s text, on every rank
    uint64_t n = text.size();
    pg.broadcast(&n, sizeof n, from);
    text.resize(size_t(n));
    if (n) pg.broadcast(text.data(), size_t(n), from);
    return text;
  };
  const std::string root = share(flat(fields), 0);
  std::vector<std::pair<std::string, std::string>> want;
  for (size_t at = 0; at < root.size();) {
    const size_t sep = root.find('\x1f', at), end = root.find('\x1e', sep);
    want.emplace_back(root.substr(at, sep - at), root.substr(sep + 1, end - sep - 1));
    at = end + 1;
  }
  std::string mine;
  for (size_t i = 0; i < fields.size() && mine.empty(); i++)
    if (i >= want.size() || want[i].first != fields[i].first) mine = str("rank ", pg.rank(), " is another build of gpt");
    else if (want[i].second != fields[i].second)
      mine = str("rank ", pg.rank(), " has ", fields[i].first, " ", fields[i].second, " where rank 0 has ", want[i].second);
  std::string all;
  for (int k = 1; k < pg.size(); k++)
    if (const std::string d = share(pg.rank() == k ? mine : std::string(), k); !d.empty())
      all += (all.empty() ? "" : "; ") + d;
  if (!all.empty())
    GPT_USAGE_FAIL("the ", pg.size(), " processes do not agree (", when, "): ", all, ". Every process must run "
                   "the same command on the same files: the same data, --init model and run directory "
                   "(checkpoint.bin) at the same path on every machine (nothing was trained)");
}

// The training loop: batches, forward/backward (gradient accumulation), the gradients
// summed over the process group, AdamW with warmup+cosine, evaluation, metrics,
// progress and checkpoints (rank 0 alone prints and writes files).
int train_loop(const Args& a, Run& r, const Data& data, DeviceKind device, ProcessGroup& pg, AdaptiveThreads& threads) {
  const GPTConfig& mc = r.model;
  const TrainConfig& tc = r.train;
  TrainState& st = r.state;
  const bool root = pg.is_root();
  const int B = tc.batch, T = mc.max_seq_len;
  const Partition part{pg.rank(), pg.size()};
  // --zero 1: this rank keeps AdamW's m and v for its block of the parameters only.
  const int zero = r.zero;
  // (Before the first collective: a rank that decides otherwise below waits for ever.)
  const auto real = shortest_text;
  check_ranks_agree(pg,
                    {{"--layers", str(mc.num_layers)}, {"--heads", str(mc.num_heads)}, {"--dim", str(mc.channels)},
                     {"--context", str(T)}, {"a vocabulary of", str(mc.vocab_size, " tokens")},
                     {"--pos", to_string(mc.pos) + " " + real(mc.pos_scale)},
                     {"--dropout", real(mc.dropout)}, {"--device", to_string(device)},
                     {"--dtype", to_string(r.dtype)}, {"--zero", str(zero)}, {"--batch", str(B)},
                     {"--grad-accum", str(tc.grad_accum)}, {"--lr", real(tc.lr)},
                     {"--min-lr", real(tc.min_lr)}, {"--warmup", str(tc.warmup)},
                     {"--schedule", tc.schedule == Schedule::cosine ? "cosine" : "constant"},
                     {"--weight-decay", real(tc.weight_decay)},
                     {"AdamW's betas and eps", str(real(tc.beta1), " ", real(tc.beta2), " ",
                                                    real(tc.eps))},
                     {"--grad-clip", real(tc.grad_clip)}, {"--steps", str(tc.steps)},
                     {"--eval-every", str(tc.eval_every)}, {"--eval-batches", str(tc.eval_batches)},
                     {"--log-every", str(tc.log_every)}, {"--save-every", str(tc.save_every)},
                     {"--seed", str(tc.seed)}, {"--sampling", tc.sampling == SamplingMode::random ? "random" : "sequential"},
                     {"--stop-at", str(a.integer("stop-at"))}, {"--max-seconds", json_number(a.real("max-seconds"))},
                     {"the run's step", r.resume ? str(st.step, " (its checkpoint's)") : "0 (a new run)"},
                     {"the saved data position", str(st.loader.batch_index, " ", st.loader.rng_state)}},
                    "before training");
  // A session stopped during the evaluation of its last step (--steps or --stop-at) left
  // that alone to do (its metrics.jsonl line marks it given up): the resume measures it,
  // and trains nothing.
  auto eval_given_up_here = [&] {
    const std::string from = r.fork_from.empty() ? r.out : r.fork_history;
    if (tc.eval_every <= 0 || from.empty() || !is_directory(from)) return false;
    const LoggedLosses l = logged_losses(join_path(from, "metrics.jsonl"));
    return l.given_up_step && long(*l.given_up_step) == long(st.step);
  };
  // (--resume A --out B: A is at that step; B was not made. It named B.)
  const std::string& resumed = r.fork_from.empty() ? r.out : r.fork_from;
  if (r.resume && st.step >= tc.steps && !pg.any(root && st.step == tc.steps && eval_given_up_here())) {
    // (past it: refused in resolve_run)
    if (root)
      std::fprintf(stderr, "gpt train: %s is already at step %ld of --steps %d: nothing to train (nothing was "
                   "changed); pass a larger --steps to continue it\n", resumed.c_str(), long(st.step), tc.steps);
    return 0;
  }
  // (It trained one step more: the check came after each step.)
  if (const int stop_at = a.integer("stop-at");
      r.resume && stop_at > 0 && st.step >= stop_at && !pg.any(root && st.step == stop_at && eval_given_up_here())) {
    if (root)
      std::fprintf(stderr, "gpt train: %s is already at step %ld, at or past --stop-at %d: nothing to train (nothing "
                   "was changed); pass a larger --stop-at, or none, to continue it\n", resumed.c_str(), long(st.step), stop_at);
    return 0;
  }
  TrainingRun how;
  how.optimizer_shards = zero == 1 ? pg.size() : 1;
  how.cpu_threads = device == DeviceKind::cpu ? omp_get_max_threads() : 0;
  how.bf16 = r.dtype == Dtype::bf16;
  how.samples = root && r.sample.every > 0;
  how.best_saves = root && tc.eval_every > 0;
  // (each thread allocates: its own malloc arena)
  require_memory(estimate_training_memory(mc, B, T, how),
                 available_memory(CommandThreads{omp_get_max_threads(), true}));
  // --sample-every's tokenizer: the data's (read here: the disk check below sizes the samples by it)
  std::unique_ptr<Tokenizer> sample_tok;
  if (r.sample.every > 0 && !data.tok_blob.empty())
    sample_tok = Tokenizer::deserialize(data.tok_blob, "the data's tokenizer");
  // The disk the run writes (rank 0), checked before the first step (helper-41: a disk too
  // small for one checkpoint trained every step up to the first save, then failed there with
  // the work lost). A checkpoint is written whole beside the previous one, so a run that keeps
  // one and writes another needs room for two; with best.bin, metrics.jsonl, samples.txt and
  // the run's small files, each counted in whole 4 KB blocks as file systems give them out
  // (helper-43: a run passed the check at 516 KB free and failed at its second save), less
  // what its checkpoints hold now.
  if (root) {
    auto blocks = [](uint64_t b) { return (b + 4095) / 4096 * 4096; };
    const uint64_t n = param_layout(mc).total, tok = data.tok_blob.size();
    const uint64_t ckpt = checkpoint_file_bytes(n, tok, true);
    const uint64_t best = how.best_saves ? checkpoint_file_bytes(n, tok, false) : 0;
    const int stop_at = a.integer("stop-at");
    const int64_t end = stop_at > 0 ? std::min<int64_t>(stop_at, tc.steps) : tc.steps, left = std::max<int64_t>(0, end - st.step);
    // checkpoint.bin is written at each multiple of --save-every before the end, and at the end
    auto multiples = [&](int every) { return every > 0 ? (end - 1) / every - st.step / every : 0; };
    const int64_t saves = std::max<int64_t>(0, multiples(tc.save_every)) + 1;
    // samples.txt: a header and the text, at the vocabulary's mean bytes a token (ids: about 5)
    double token_bytes = 5;
    if (sample_tok) {
      double sum = 0;
      for (int id = 0; id < sample_tok->vocab_size(); id++) sum += double(sample_tok->decode_token(id).size());
      token_bytes = std::clamp(sum / std::max(1, sample_tok->vocab_size()), 1.0, 8.0);
    }
    // metrics.jsonl: about 200 bytes a line; run.json and data.json, each written whole beside
    // the old one, and train.lock when the run is new (helper-44: a resume counted them again);
    // --resume A --out B: A's history, copied into B (helper-44: not counted, and the run failed
    // at a save)
    // (a resume: the mean line of the metrics.jsonl it appends to; helper-45: 200 bytes
    // over-counted, and refused a resume that fitted)
    double line_bytes = 200;
    if (const std::string from = r.fork_from.empty() ? r.out : r.fork_history, m = join_path(from, "metrics.jsonl");
        r.resume && !from.empty() && is_regular_file(m) && ::access(m.c_str(), R_OK) == 0) {
      size_t lines = 0, bytes = 0;
      for_each_line(m, 4096, [&](const std::string& l) { lines++, bytes += l.size() + 1; });
      if (lines >= 3) line_bytes = std::clamp(double(bytes) / double(lines), 100.0, 400.0);
    }
    uint64_t logs = blocks(uint64_t(line_bytes * double(left / tc.log_every + (tc.eval_every > 0 ? left / tc.eval_every : 0) + 2))) +
                    // (each sample repeats its --sample-prompt; helper-45: not counted)
                    (r.sample.every > 0 ? blocks(uint64_t(double(left / r.sample.every + 1) *
                                                          (100 + double(r.sample.prompt.value_or("").size()) +
                                                           token_bytes * r.sample.tokens))) : 0) +
                    (r.resume && r.fork_from.empty() ? 2 : 3) * 4096;
    if (!r.fork_from.empty() && !r.fork_history.empty())
      for (const char* f : {"metrics.jsonl", kSamplesFile, kBestFile}) {
        struct stat fst {};
        if (::stat(join_path(r.fork_history, f).c_str(), &fst) == 0 && S_ISREG(fst.st_mode)) logs += blocks(uint64_t(fst.st_size));
      }
    uint64_t held = 0;  // (B's files of an earlier --resume A --out B are written over, beside)
    std::string held_by;
    bool ckpt_held = false;  // (kept while the next is written; B of --resume A --out B has none)
    if (r.fork_from.empty())
      for (const char* f : {kCheckpointFile, kBestFile}) {
        struct stat fst {};
        if (::stat(join_path(r.out, f).c_str(), &fst) == 0) {
          held += uint64_t(fst.st_blocks) * 512;
          held_by += (held_by.empty() ? "" : " and ") + std::string(f);
          ckpt_held = ckpt_held || std::string(f) == kCheckpointFile;
        }
      }
    const bool two = saves > 1 || ckpt_held;
    const uint64_t total = (two ? 2 : 1) * blocks(ckpt) + (best ? blocks(best) : 0) + logs;
    const uint64_t need = total > held ? total - held : 0;
    if (const std::optional<uint64_t> free = free_disk_bytes(r.out); free && *free < need)
      GPT_FAIL(r.out, ": its disk has ", format_bytes(double(*free)), " free and this run needs ",
               format_bytes(double(need)), " more (", kCheckpointFile, " of ", format_bytes(double(ckpt)),
               two ? ", written whole beside the previous one" : "", best ? str(", ", kBestFile, " of ",
                                                                                format_bytes(double(best))) : std::string(),
               ", and about ", format_bytes(double(logs)), " of metrics, samples and run files",
               r.fork_from.empty() ? "" : str(" with the history copied from ", r.fork_from),
               held ? str(", less the ", format_bytes(double(held)), " its ", held_by, " take",
                          held_by.find(" and ") == std::string::npos ? "s" : "", " now") : std::string(),
               "); free space on it, or choose another --out (nothing was trained)");
    // A file size limit (ulimit -f) below a checkpoint's size lost the session at the first
    // save (helper-45).
    struct rlimit lim {};
    if (::getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && uint64_t(lim.rlim_cur) < ckpt)
      GPT_FAIL(r.out, ": ", kCheckpointFile, " will be ", format_bytes(double(ckpt)), ", more than the file size "
               "limit of ", format_bytes(double(lim.rlim_cur)), " (ulimit -f); raise the limit (ulimit -f unlimited) "
               "(nothing was trained)");
  }
  // Token ids are checked against the vocabulary here, naming the shard, not mid-run.
  DataLoader train_loader(data.train_paths, B, T, tc.sampling, tc.seed, mc.vocab_size, part);
  if (r.resume) train_loader.set_state(st.loader, r.ck->train.batch);
  // A checkpoint saved before the first step ends (Ctrl-C in set-up or inside step 1 of
  // --grad-accum) holds the loader's starting state: left empty, its random stream
  // restarted from 0, not from the seed, and the resume drew other windows.
  else st.loader = train_loader.state();
  std::unique_ptr<DataLoader> val_loader;
  if (tc.eval_every > 0) {
    if (data.val_paths.empty())
      GPT_USAGE_FAIL("no validation data: pass --val-glob PATTERN (or --data DIR with val.bin), or --eval-every 0");
    if (data.val_paths.size() == 1 && !file_exists(data.val_paths[0]))
      GPT_FAIL(data.val_paths[0], ": missing; run `gpt prepare` with --val-fraction > 0, or pass --eval-every 0");
    // --eval-batches N: random windows over the whole val split (nanoGPT's estimate),
    // the same windows at every evaluation (reset to a fixed seed) so the numbers are
    // comparable. --eval-batches 0: every window of the split in order (exact).
    val_loader = std::make_unique<DataLoader>(data.val_paths, B, T,
                                              tc.eval_batches ? SamplingMode::random : SamplingMode::sequential,
                                              tc.seed ^ 0x5eedULL, mc.vocab_size);
  }

  GPT<float> model(mc, device, r.dtype);
  const std::vector<size_t> shards = even_split(model.num_params(), pg.size());
  if (zero == 1) {
    size_t lo = 0;
    for (int k = 0; k < pg.rank(); k++) lo += shards[size_t(k)];
    model.shard_optimizer(lo, lo + shards[size_t(pg.rank())]);
  }
  if (r.resume) load_weights(model, *r.ck, true);
  else if (r.ck) load_weights(model, *r.ck, false);
  else model.init_weights(tc.seed);
  if (root && r.resume) {
    note_schedule_change(r.ck->train, tc, int(st.step));
    note_training_change(r.ck->train, tc, int(st.step));
    // Another number of processes: the global batch changes (run.json keeps the last one).
    note_process_change(r.ck->train, tc, T, r.settings ? r.settings->processes : std::nullopt, pg.size());
  }
  r.ck.reset();  // the weights are in the model now
  if (pg.size() > 1) {  // (a host copy of the weights: not for one process)
    const std::vector<float> w = model.read(Store::params);
    const LoaderState at = train_loader.state();
    check_ranks_agree(pg,
                      {{"weights of fingerprint", str(fnv1a(w.data(), w.size() * sizeof(float)))},
                       {"training data of fingerprint", str(at.data_id, " (", at.data_tokens, " tokens)")},
                       {"validation data of fingerprint",
                        val_loader ? str(val_loader->state().data_id, " (", val_loader->num_tokens(), " tokens)")
                                   : std::string("none")}},
                      "the model's weights and the data: a different --seed, --init model, checkpoint or data");
  }

  const std::string ckpt_file = join_path(r.out, kCheckpointFile);
  const std::string metrics_path = join_path(r.out, "metrics.jsonl");
  std::ofstream metrics;
  size_t metrics_bytes = 0;   // its length after the last line written whole
  std::string metrics_error;  // why a line could not be written (the run then stops)
  // MFU against --peak-gflops or the FMA throughput measured now; best.bin tracks the
  // lowest val loss (a resumed run's so far is in what metrics.jsonl kept).
  const double flops_per_token = training_flops_per_token(mc);
  // (The CPU's FMA rate says nothing of a GPU's: on --device cuda only --peak-gflops gives one.)
  const Peak peak = a.has("peak-gflops")          ? Peak{a.real("peak-gflops"), "--peak-gflops"}
                    : root && device == DeviceKind::cpu ? measure_peak(r.dtype)
                                                        : Peak{0.0, ""};
  const double peak_gflops = peak.gflops;
  const std::string samples_path = join_path(r.out, kSamplesFile);
  // (A FIFO there would hang the reads and appends below; a device would never end.)
  if (root && file_exists(samples_path) && !is_regular_file(samples_path))
    GPT_FAIL(samples_path, ": not a regular file (a directory, FIFO or device); gpt train keeps the samples of "
             "--sample-every there: move it away, then run the command again");
  LoggedLosses logged;  // (a resumed run's: read below, once its directory is locked)
  // --sample-every: the data's tokenizer and the prompt, checked before anything is
  // written (on every rank, so that a bad prompt stops all of them alike).
  Prompt sample_prompt;
  if (r.sample.every > 0) {
    sample_prompt = encode_prompt(sample_tok.get(), mc.vocab_size, mc.max_seq_len, r.sample.prompt.has_value(),
                                  r.sample.prompt.value_or(""), r.sample.prompt_source,
                                  "the data have no tokenizer, so --sample-every's samples are token ids",
                                  "the data have no tokenizer");
  }
  // A best.bin this user cannot read is not damaged: refused before anything is written, not
  // replaced (helper-41: it was "lost", the next evaluation wrote a worse model over it, and
  // the run ended "lowest val loss" of that one).
  if (const std::string best_file = join_path(r.out, kBestFile);
      root && r.resume && r.fork_from.empty() && file_exists(best_file) && ::access(best_file.c_str(), R_OK) != 0)
    GPT_FAIL(best_file, ": cannot open for reading (", std::strerror(errno), "); a resume reads it so that only "
             "a lower val loss replaces it: ", permission_fix(best_file, "r"), " (read permission), or move it aside to let this run write a new one (nothing was changed)");
  // --resume A --out B copies A's history into B: a file of it this user cannot read is refused
  // before B is made (helper-43: B got metrics.jsonl and samples.txt, then the copy of best.bin
  // failed without a word on how to go on).
  if (root && !r.fork_from.empty() && !r.fork_history.empty())
    for (const char* f : {"metrics.jsonl", kSamplesFile, kBestFile})
      if (const std::string from = join_path(r.fork_history, f);
          is_regular_file(from) && ::access(from.c_str(), R_OK) != 0)
        GPT_FAIL(from, ": cannot open for reading (", std::strerror(errno), "); --resume ", r.fork_from, " --out ",
                 r.out, " copies the run's history (metrics.jsonl, ", kSamplesFile, ", ", kBestFile, ") into ", r.out,
                 ": ", permission_fix(from, "r"), " (read permission), or run as its owner (nothing was written)");
  // The logs a resume appends to, when this user cannot write them: refused first (the run
  // stopped at its first logged step; and a metrics.jsonl was replaced by one of this user's).
  for (const std::string& log : {metrics_path, samples_path})
    if (root && r.resume && r.fork_from.empty() && is_regular_file(log) && ::access(log.c_str(), W_OK) != 0)
      GPT_FAIL(log, ": this user cannot write it (", std::strerror(errno), "), and the run appends to it: ",
               // (and reads it: helper-45, "chmod u+w" of a file of mode 000 was not enough)
               ::access(log.c_str(), R_OK) == 0 ? permission_fix(log, "w") + " (write permission)"
                                                : permission_fix(log, "rw") + " (read and write permission)",
               ", or copy the run to a directory of yours and resume the copy "
               "(nothing was changed)");
  // From the first file written on: a signal (Ctrl-C, or SIGPIPE from `2>&1 | head`
  // while the header is printed, which killed the run with nothing saved) only sets a flag;
  // one before the first step stops the run there, saved.
  StopSignals signals(root);
  if (root) {
    make_dirs(r.out);
    if (!r.lock) {
      r.lock = std::make_shared<RunLock>(r.out);
      if (!r.resume && file_exists(ckpt_file))  // another run wrote one since resolve_run looked
        GPT_USAGE_FAIL(r.out, " already holds a checkpoint; continue it with --resume ", shell_word(r.out),
                       " (nothing was overwritten)");
    }
    remove_stale_temps(r.out);  // checkpoint.bin.tmp.PID of a writer killed mid-save
    if (!r.fork_from.empty()) {
      // --resume A --out B: B takes A's history up to the checkpoint (metrics, samples,
      // best.bin), so its loss curve, samples.txt and "lowest val loss: B/best.bin" are
      // this run's (best.bin was named but missing). What B held has no checkpoint: leftovers.
      for (const char* f : {"metrics.jsonl", kSamplesFile, kBestFile}) {
        const std::string from = join_path(r.fork_history, f), to = join_path(r.out, f);
        if (!r.fork_history.empty() && is_regular_file(from)) write_file_atomic(to, read_file(from));
        else std::remove(to.c_str());
      }
    }
    // A resumed run's history ends at its checkpoint (what came after is redone).
    if (r.resume) {
      const MetricsCut metrics_cut = truncate_metrics(metrics_path, st.step);
      // (Dropped without a word: a torn line of the checkpoint's step is that step's record, lost.)
      for (const MetricsCut::Torn& torn : metrics_cut.torn)
        std::fprintf(stderr, "note: %s held a line cut short (a full disk, or a kill while it was written): %s; it "
                     "is dropped (%s)\n", metrics_path.c_str(),
                     visible(torn.line.size() > 60 ? torn.line.substr(0, 60) + "..." : torn.line).c_str(),
                     torn.redone ? "its step comes after the checkpoint's: it is trained and logged again"
                                 : "the metrics of that step are lost; the checkpoint keeps its training");
      // (--resume A --out B: A may still be training; helper-44: it said A's last session had
      // ended without saving them)
      if (const std::vector<long long>& cut = metrics_cut.after; !cut.empty() && root)
        std::fprintf(stderr, "note: %s logged %s after step %ld, where the checkpoint is (%s); they are cut, and those "
                     "steps are trained again\n",
                     metrics_path.c_str(),
                     (count(cut.size(), "line") + " (steps " + std::to_string(cut.front()) + "-" +
                      std::to_string(cut.back()) + ")").c_str(), long(st.step),
                     r.fork_from.empty() ? "the last session ended without saving them: killed, or stopped by an error"
                                         : ("copied with the history of " + r.fork_from + ", which went on past its "
                                            "checkpoint").c_str());
      logged = logged_losses(metrics_path);
      if (!truncate_samples(samples_path, st.step))
        std::fprintf(stderr, "note: %s is not as gpt train writes it (edited?); it is left as it is, samples after "
                     "step %ld in it are from before this resume, and new ones are appended\n",
                     samples_path.c_str(), long(st.step));
    }
    if (!r.resume) write_file_atomic(metrics_path, "");
    // An earlier run's, which left no checkpoint (killed before its first, or removed):
    // its samples.txt goes; its best.bin outlived this run too, and sample and eval of this
    // run read that other model: it is moved aside, not removed (the only trained weights
    // of a run whose checkpoint was removed).
    if (!r.resume && file_exists(samples_path)) {
      std::remove(samples_path.c_str());
      std::fprintf(stderr, "note: removed %s, left by an earlier run in %s that has no checkpoint\n",
                   samples_path.c_str(), r.out.c_str());
    }
    if (const std::string best = join_path(r.out, kBestFile), aside = join_path(r.out, "best.earlier-run.bin");
        !r.resume && r.fork_from.empty() && file_exists(best)) {
      if (std::rename(best.c_str(), aside.c_str()) != 0)
        GPT_FAIL(best, ": left by an earlier run in ", r.out, " that has no checkpoint; it cannot be moved aside to ",
                 aside, " (", std::strerror(errno), "): move or remove it, then start again");
      std::fprintf(stderr, "note: moved %s, left by an earlier run in %s that has no checkpoint, to %s (its weights; "
                   "this run's best.bin is its own)\n", best.c_str(), r.out.c_str(), aside.c_str());
    }
    metrics.open(metrics_path, std::ios::app);
    if (!metrics) GPT_FAIL(metrics_path, ": cannot open for appending");
    metrics.seekp(0, std::ios::end);
    metrics_bytes = size_t(metrics.tellp());
    save_data_source(r.out, data.src);
    save_run_settings(r.out, r.dtype, r.sample, pg.size(), r.zero, r.settings, r.fork_from);
    const std::string shards_note =
        train_loader.num_shards() > 1 ? " in " + std::to_string(train_loader.num_shards()) + " shards" : "";
    const std::string ranks_note = pg.size() > 1 ? " x " + std::to_string(pg.size()) + " processes" : "";
    std::fprintf(stderr,
                 "gpt train: %s parameters (%s, %s, dim %d, context %d, %s positions, vocab %d)%s\n"
                 "  data %s: %s train tokens%s; batch %d x %d x accum %d%s = %s %s/step; %s %s%s%s\n%s",
                 format_count(double(model.num_params())).c_str(), count(mc.num_layers, "layer").c_str(),
                 count(mc.num_heads, "head").c_str(), mc.channels,
                 mc.max_seq_len, to_string(mc.pos).c_str(), mc.vocab_size, dtype_note(r.dtype, device).c_str(), data.name.c_str(),
                 format_count(double(train_loader.num_tokens())).c_str(), shards_note.c_str(), B, T, tc.grad_accum,
                 ranks_note.c_str(), format_count(double(B) * T * tc.grad_accum * pg.size()).c_str(),
                 plural(double(B) * T * tc.grad_accum * pg.size(), "token").c_str(),
                 format_count(tc.steps).c_str(), plural(tc.steps, "step").c_str(),
                 passes_note(double(B) * T * tc.grad_accum * pg.size() * tc.steps, double(train_loader.num_tokens()))
                     .c_str(),
                 r.resume ? (" (resuming at step " + std::to_string(st.step) + ")").c_str() : "",
                 mfu_note(flops_per_token, peak_gflops, peak.what).c_str());
    std::fputs(warmup_note(tc).c_str(), stderr);
    for (const std::string& n : sample_prompt.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    // Flags that do nothing in this run, said rather than ignored.
    if (a.integer("stop-at") >= tc.steps)
      std::fprintf(stderr, "note: --stop-at %d is not below --steps %d: the run ends at step %d first\n",
                   a.integer("stop-at"), tc.steps, tc.steps);
    if (zero == 1 && pg.size() == 1)
      std::fprintf(stderr, "note: --zero 1 shares AdamW's m and v out among processes (mpirun -np N); in one process "
                   "it changes nothing (%s keeps it for a resume on several)\n", kRunSettingsFile);
    if (a.has("eval-batches") && tc.eval_every == 0)
      std::fprintf(stderr, "note: --eval-batches does nothing with --eval-every 0 (no evaluations)\n");
    if (a.has("min-lr") && tc.schedule == Schedule::constant)
      std::fprintf(stderr, "note: --min-lr does nothing with --schedule constant (after the warmup the rate stays "
                   "--lr)\n");
    if (r.sample.every == 0 && (a.has("sample-tokens") || a.has("sample-prompt")))
      std::fprintf(stderr, "note: --sample-tokens and --sample-prompt do nothing without --sample-every N (they are "
                   "kept in %s/%s for when it is given)\n", r.out.c_str(), kRunSettingsFile);
    if (r.resume && !r.settings && !(a.has("dtype") && a.has("sample-every")))
      std::fprintf(stderr, "note: %s has no %s (deleted, or a run from before it existed), which keeps a run's "
                   "--dtype and --sample-* settings: this resume runs in %s%s\n", a.str("resume").c_str(),
                   kRunSettingsFile, to_string(r.dtype).c_str(),
                   r.sample.every ? "" : " without samples (give --dtype and --sample-every N to change that)");
    std::fputs(mpirun_signal_note(3.0 * sizeof(float) * double(model.num_params()), std::getenv("OMPI_COMM_WORLD_SIZE"),
                                  std::getenv("OMPI_MCA_odls_base_sigkill_timeout")).c_str(), stderr);
  }

  std::optional<SavedCheckpoint> saved;  // the last checkpoint on disk (named if a save fails or the loss diverges)
  if (r.resume)
    saved = SavedCheckpoint{st.step, checkpoint_path(resumed),
                            r.fork_from.empty() ? "gpt train --resume " + shell_word(r.out)
                                                : "gpt train --resume " + shell_word(r.fork_from) + " --out " +
                                                      shell_word(r.out)};
  // A save that fails (a full disk) says what is on disk and how to go on (helper-41: it
  // named the file alone, not the step the run's checkpoint holds, or that there is none).
  auto saving = [&](const std::optional<SavedCheckpoint>& on_disk, const std::function<void()>& write) {
    try {
      write();
    } catch (const Error& e) {
      throw Error(e.code, str(e.what(), metrics_error.empty() ? "" : "; " + metrics_path + " could not be written "
                              "either (" + metrics_error + ")", "; ", on_disk ? str("the run's checkpoint on disk holds step ",
                              on_disk->step, on_disk->file == ckpt_file ? "" : " (" + on_disk->file + ")",
                              ": fix that, then continue with ", on_disk->resume)
                              : str("the run has no checkpoint yet (this session's training is lost): fix that, "
                                    "then start it again")));
    }
  };
  auto save = [&]() {
    const std::optional<SavedCheckpoint> on_disk = saved;
    saved = SavedCheckpoint{st.step, ckpt_file, "gpt train --resume " + shell_word(r.out)};
    if (zero == 1) {  // the checkpoint holds the whole m and v: gathered on rank 0 (every rank takes part)
      OptimizerState full;
      if (root) full.m.resize(model.num_params()), full.v.resize(model.num_params());
      model.gather_optimizer_state(pg, Store::m, shards, &full.m);
      model.gather_optimizer_state(pg, Store::v, shards, &full.v);
      if (root) saving(on_disk, [&] { save_checkpoint(ckpt_file, model, tc, st, data.tok_blob, true, &full); });
    } else if (root) {
      saving(on_disk, [&] { save_checkpoint(ckpt_file, model, tc, st, data.tok_blob); });
    }
    // The history up to the checkpoint goes to disk with it (a power cut would otherwise
    // leave a checkpoint whose metrics.jsonl lines were still in the page cache).
    if (root) {
      sync_file(metrics_path);
      sync_file(samples_path);
    }
  };
  const bool tty = isatty(STDERR_FILENO);
  double eval_s = 0.0;  // wall time of the evaluations so far (ETA and the done line count it)
  int evals_taken = 0;
  int val_rises = 0;           // evaluations in a row above the lowest val loss
  bool overfit_noted = false;  // (once per session)
  long best_step = 0;          // the step of the lowest val loss, when this session saw it
  std::optional<double> best_train = logged.best_val_train;  // the train loss at the lowest val loss
  // Every rank evaluates the same windows (they agree on the weights). A stop signal
  // gives the evaluation up (none: nothing logged or kept as best), so that a long one
  // (--eval-batches 0 over a large split) does not keep Ctrl-C waiting. A long one also
  // says what it is doing: on a terminal a progress line with its ETA, in a log one line.
  auto evaluate = [&]() -> std::optional<double> {
    Stopwatch took;
    val_loader->reset();
    std::vector<int> in(size_t(B) * T), tg(size_t(B) * T);
    double sum = 0.0;
    const size_t n_batches = tc.eval_batches ? size_t(tc.eval_batches) : size_t(val_loader->batches_per_pass());
    bool announced = false;
    double drawn = 0.0;
    for (size_t i = 0; i < n_batches; i++) {
      signal_point("train:eval" + std::to_string(st.step) + ":batch" + std::to_string(i + 1));  // (tests)
      if (signals.signal()) return std::nullopt;
      val_loader->next_batch(in.data(), tg.data());
      sum += *model.forward(in.data(), tg.data(), B, T, false);
      const double t = took.seconds(), left = t / double(i + 1) * double(n_batches - i - 1);
      if (!root || left < 1.0) continue;
      if (tty && t - drawn > 0.5) {
        std::fprintf(stderr, "\rstep %ld/%d | val loss: batch %zu/%zu | ETA %s\033[K", long(st.step), tc.steps, i + 1,
                     n_batches, format_duration(left).c_str());
        drawn = t;
      } else if (!tty && !announced && t + left > 10.0) {
        std::fprintf(stderr, "step %ld/%d: val loss over %zu batches of the val split, about %s\n", long(st.step),
                     tc.steps, n_batches, format_duration(t + left).c_str());
        announced = true;
      }
    }
    eval_s += took.seconds();
    evals_taken++;
    return sum / double(n_batches);
  };

  // --sample-every (rank 0): the model's text at this step, on stdout as it comes and
  // appended to RUN/samples.txt: temperature 1 from the same seed every time, so two
  // samples differ only by what the model learned between them, and `gpt sample --ckpt`
  // on this step's checkpoint with --seed and --tokens gives the same text.
  // Samples that could not be appended (a full disk, a size limit): each later one is tried
  // again, and the end says how many are missing (helper-41: one failure stopped every later
  // sample from reaching samples.txt, and the run ended exit 0 without a word of it).
  int samples_lost = 0;
  std::string samples_first_lost;  // "step N (why)"
  double sample_s = 0.0;  // wall time of the samples so far (ETA and the last line count it)
  int samples_taken = 0;
  auto take_sample = [&](double loss, std::optional<double> val) {
    Stopwatch took;
    if (tty && isatty(STDOUT_FILENO)) std::fputs("\r\033[K", stderr);  // the progress line is redrawn later
    std::string header = "step " + std::to_string(st.step) + " | loss " + loss_text(loss);
    if (val) header += " | val " + loss_text(*val);
    std::printf("--- sample at %s ---\n", header.c_str());
    std::string text;
    SplitMix64 rng(tc.seed);
    AdaptiveThreads fixed(threads.last_step(), false);  // the training's count, untouched
    bool cut = false;
    generate(model, sample_tok.get(), sample_prompt, r.sample.tokens, SamplerConfig{}, rng, fixed,
             [&](const std::string& piece) {
               text += piece;
               std::fwrite(piece.data(), 1, piece.size(), stdout);  // NULs too
               std::fflush(stdout);
             },
             nullptr, [&] { return cut = signals.signal() != 0; });
    std::printf("%s\n", cut ? " [interrupted]" : "");
    std::fflush(stdout);
    if (cut) header += " | interrupted";
    {
      struct stat before {};
      const off_t size = ::stat(samples_path.c_str(), &before) == 0 ? before.st_size : 0;
      errno = 0;
      std::ofstream f(samples_path, std::ios::app | std::ios::binary);
      f << sample_entry(header, text);
      f.flush();
      if (!f) {  // no torn entry is left behind
        const int e = errno ? errno : EIO;
        f.close();
        if (::truncate(samples_path.c_str(), size) != 0) {
          // the torn entry stays; a resume drops it (truncate_samples)
        }
        if (samples_lost++ == 0) {
          samples_first_lost = str("step ", st.step, " (", std::strerror(e), ")");
          std::fprintf(stderr, "note: cannot write %s (%s): the sample of step %ld is on stdout only; the next "
                       "samples are tried again\n", samples_path.c_str(), std::strerror(e), long(st.step));
        }
      }
    }
    sample_s += took.seconds();
    samples_taken++;
  };
  std::vector<int> inputs(size_t(B) * T), targets(size_t(B) * T);
  Stopwatch session;
  double ema_step_s = 0.0;
  long session_steps = 0;
  std::optional<double> last_val = logged.last_val, last_loss = logged.last_train;
  // The lowest val loss so far, which best.bin holds: the checkpoint's record (version 4),
  // best.bin's own, what metrics.jsonl kept (older checkpoints): the lowest of them, so
  // that a missing or edited metrics.jsonl cannot let a worse model replace best.bin.
  // metrics.jsonl's figure (9 digits) counts only where it is lower beyond its rounding:
  // a figure rounded down replaced the exact one, and a resumed run's checkpoints differed
  // from the uninterrupted run's in that field. (Rank 0's: it alone writes best.bin and
  // checkpoints.)
  std::optional<double> best_val;
  std::optional<std::pair<double, std::optional<double>>> final_sample;  // the last step's loss and val
  auto consider_best = [&](double v) {
    if (!std::isnan(v) && (!best_val || v < *best_val)) best_val = v;
  };
  bool best_damaged = false;
  if (r.resume) {
    const std::string best_file = join_path(r.out, kBestFile);
    if (root && file_exists(best_file)) {
      try {
        consider_best(load_checkpoint(best_file, false).state.best_val);
      } catch (const Error& e) {
        // Damaged: the next evaluation writes it again whatever its loss (it was replaced
        // only by a lower one, so with none it stayed, and "lowest val loss: best.bin" named
        // it at the end).
        best_damaged = true;
        std::fprintf(stderr, "note: %s\nnote: the next evaluation writes %s again (the model it held is lost)\n",
                     e.what(), best_file.c_str());
      }
    }
    if (!best_damaged) consider_best(st.best_val);
  }
  if (best_damaged) {
    st.best_val = std::numeric_limits<double>::quiet_NaN();
  } else {
    if (logged.best_val && (!best_val || *logged.best_val < *best_val - 1e-8 * std::fabs(*best_val)))
      best_val = logged.best_val;
    if (best_val) st.best_val = *best_val;
  }
  const int stop_at = a.integer("stop-at");
  const double max_seconds = a.real("max-seconds");
  std::string stop_reason;
  // Gradients are summed over the ranks; the step divides by their number.
  const double grad_scale = 1.0 / double(pg.size());

  // The signal every rank exits with (128 + it): the one a rank received, so that a signal
  // to one rank gives the same status everywhere (the others exited 130, and mpirun
  // reported whichever rank ended first). Collective: called when pg.any said stop.
  int stop_signal = 0;
  auto agree_on_signal = [&]() {
    std::vector<double> seen(65, 0.0);
    if (signals.signal() > 0 && signals.signal() < 65) seen[size_t(signals.signal())] = 1.0;
    pg.all_reduce_sum(seen.data(), seen.size());
    for (int k = 64; k > 0; k--)
      if (seen[size_t(k)] > 0) stop_signal = k;  // the lowest number received anywhere
  };
  signal_point("train:setup");  // (tests)
  if (pg.any(signals.signal() != 0)) {  // (during the set-up)
    stop_reason = "interrupted";
    agree_on_signal();
  }
  // A session stopped during an evaluation gave it up (its step's line in metrics.jsonl
  // says "val_given_up":true, with no val loss, and best.bin never saw that model); the
  // uninterrupted run measured it at this step, so the resume does, first (evaluating
  // changes nothing the steps use). Only that mark says so: a run resumed in another
  // directory, or with another --eval-every, measured steps the first run never did.
  // (A stop during the set-up leaves it given up: the last step's went to "done", exit 0.)
  bool eval_given_up = pg.any(root && r.resume && val_loader && st.step > 0 && logged.given_up_step &&
                              long(*logged.given_up_step) == long(st.step));
  if (eval_given_up && stop_reason.empty()) {
    eval_given_up = false;
    if (root)
      std::fprintf(stderr, "step %ld: measuring its val loss, which the last session gave up when it was stopped\n",
                   long(st.step));
    if (const std::optional<double> v = evaluate()) {
      last_val = v;
      if (!best_val || *v < *best_val) {
        best_val = v;
        best_step = long(st.step);
        st.best_val = *v;
        if (root)
          saving(saved, [&] { save_checkpoint(join_path(r.out, kBestFile), model, tc, st, data.tok_blob, false); });
      }
      if (root) {
        metrics.close();
        if (!add_val_loss(metrics_path, st.step, *v))
          std::fprintf(stderr, "note: %s has no line for step %ld to add its val loss %s to (edited?)\n",
                       metrics_path.c_str(), long(st.step), loss_text(*v).c_str());
        metrics.open(metrics_path, std::ios::app);
        if (!metrics) GPT_FAIL(metrics_path, ": cannot open for appending");
        metrics.seekp(0, std::ios::end);
        metrics_bytes = size_t(metrics.tellp());
      }
      // The step's sample, which the stopped session did not take, follows it (the last
      // step's after the final save, as ever).
      if (root && r.sample.every > 0 && last_loss) {
        if (st.step == tc.steps) final_sample = {*last_loss, v};
        else if (st.step % r.sample.every == 0) take_sample(*last_loss, v);
      }
    } else {
      eval_given_up = true;
    }
    if (pg.any(signals.signal() != 0)) {
      stop_reason = "interrupted";
      agree_on_signal();
    }
  }
  if (stop_reason.empty() && stop_at > 0 && st.step >= stop_at)  // (only that evaluation was left to do)
    stop_reason = "--stop-at " + std::to_string(stop_at);
  double comm_before = 0.0;
  const bool profile = a.has("profile");
  const long first_step = long(st.step) + 1;  // --profile times the steps after this session's first
  double profiled_s = 0.0;
  long profiled_steps = 0;
  bool step_stop_noted = false;  // (several processes: a stop inside a step, said once)
  while (st.step < tc.steps && stop_reason.empty()) {
    const bool timed = profile && long(st.step) + 1 > first_step;
    if (timed) set_backend_profile_active(true);
    Stopwatch sw;
    // This step's time in collectives, from here (the wait for rank 0's evaluation, sample or
    // save at the end of the last step counted in this one, above its ms_per_step).
    comm_before = pg.comm_seconds();
    threads.begin_step();
    const int step = int(st.step);
    const float lr = learning_rate(tc, step);
    model.zero_grad();
    double loss = 0.0;
    int micro_done = 0;
    for (int micro = 0; micro < tc.grad_accum; micro++) {
      // A stop request inside a step of many micro-batches (--grad-accum) waited for the
      // whole step, minutes with nothing said. One process drops the step: weights, m, v
      // and the saved data position are still the last step's, so a resume repeats it
      // exactly. Several finish it together (they meet in its all-reduce), saying so.
      if (tc.grad_accum > 1) signal_point("train:step" + std::to_string(step + 1) + ":micro" + std::to_string(micro));
      if (micro > 0 && signals.signal() != 0) {
        if (pg.size() == 1) break;
        if (!step_stop_noted) {
          step_stop_noted = true;
          std::fprintf(stderr, "%s%s on rank %d: every process finishes step %d (%d of %d micro-batches done), then "
                       "saves\n", tty ? "\n" : "", StopSignals::name(signals.signal()), pg.rank(), step + 1, micro,
                       tc.grad_accum);
        }
      }
      micro_done = micro + 1;
      train_loader.next_batch(inputs.data(), targets.data());
      // Dropout masks: the micro-step counter runs over every rank's micro-steps.
      const uint64_t counter = (uint64_t(step) * uint64_t(tc.grad_accum) + uint64_t(micro)) * uint64_t(pg.size()) +
                               uint64_t(pg.rank());
      const DropoutKey key{tc.seed, counter};
      loss += model.forward_backward(inputs.data(), targets.data(), B, T, key, 1.0f / float(tc.grad_accum));
    }
    if (micro_done < tc.grad_accum) {  // (one process, stopped inside the step: see above)
      if (timed) set_backend_profile_active(false);
      stop_reason = "interrupted";
      agree_on_signal();
      std::fprintf(stderr, "%s%s in step %d after %d of %d micro-batches: that step is dropped (a resume repeats "
                   "it); the checkpoint keeps step %ld\n", tty ? "\n" : "", StopSignals::name(signals.signal()),
                   step + 1, micro_done, tc.grad_accum, long(st.step));
      break;
    }
    loss /= tc.grad_accum;
    // Averaging across ranks happens before the norm and the clip, so every rank
    // computes the same norm and the same update.
    if (zero == 1)
      model.reduce_scatter_gradients(pg, shards);  // this rank's block of the summed gradients
    else
      model.all_reduce_gradients(pg);
    pg.all_reduce_sum(&loss, 1);
    loss *= grad_scale;
    last_loss = loss;
    if (!std::isfinite(loss)) fail_non_finite("loss", loss, step + 1, r.out, saved, tc.grad_clip, data.src);
    // The global norm (ZeRO 1: from every rank's block), checked before AdamW uses it
    // (helper-42: the update's own check came first, and its message named no checkpoint),
    // then the update (ZeRO 1: this rank's block, then everyone's blocks).
    double norm;
    if (zero == 1) {
      double ss = model.shard_grad_sum_squares();
      pg.all_reduce_sum(&ss, 1);
      norm = std::sqrt(ss) * grad_scale;
    } else {
      norm = model.grad_norm(grad_scale);
    }
    if (!std::isfinite(norm)) fail_non_finite("gradient norm", norm, step + 1, r.out, saved, tc.grad_clip, data.src);
    model.update_shard(lr, tc, long(step) + 1, grad_scale, norm);
    if (zero == 1) model.all_gather_params(pg, shards);
    st.step = step + 1;
    st.loader = train_loader.state();
    const double tokens = double(B) * T * tc.grad_accum * pg.size();
    st.tokens_seen += uint64_t(tokens);
    const double step_s = sw.seconds();
    if (timed) {
      set_backend_profile_active(false);
      profiled_s += step_s, profiled_steps++;
    }
    const double comm_s = pg.comm_seconds() - comm_before;  // this step's time in collectives
    threads.end_step(step_s);
    st.elapsed_s += step_s;
    // The session's first step (start-up: first touches of memory, the thread probe) is no
    // measure of the rest: the mean of the steps after it, then a moving average (a 0.9
    // average seeded with step 1 started far too low and took ~20 steps to recover).
    session_steps++;
    ema_step_s = session_steps <= 2 ? step_s
                                    : ema_step_s + std::max(0.1, 1.0 / double(session_steps - 1)) * (step_s - ema_step_s);

    const bool last = st.step == tc.steps;
    std::optional<double> val;
    bool given_up_now = false;  // this step's evaluation, given up (a stop signal): the resume measures it first
    if (val_loader && (st.step % tc.eval_every == 0 || last)) {
      val = evaluate();
      if (val) last_val = val;
      else eval_given_up = given_up_now = true;
    }
    if (root && val && best_val && *val > *best_val + 0.01 * std::fabs(*best_val)) {
      // More than 1% above its lowest for the second evaluation in a row while the train loss
      // is lower than it was there: once per session, what it means. (helper-42: a run
      // diverging, val falling back from 44 with the train loss at 32, was told "overfitting".)
      if (++val_rises >= 2 && !overfit_noted && best_train && loss < *best_train) {
        overfit_noted = true;
        std::fprintf(stderr, "%snote: val loss %s is above its lowest %s%s for the second evaluation in a row: the "
                     "model is starting to learn the training text by heart (overfitting); best.bin keeps the best "
                     "model. More text, --dropout 0.1-0.2 or a smaller model help; more --steps do not\n",
                     tty ? "\n" : "", loss_text(*val).c_str(), loss_text(*best_val).c_str(),
                     best_step ? (" (step " + std::to_string(best_step) + ")").c_str() : "");
      }
    } else if (val) {
      val_rises = 0;
    }
    if (val && (!best_val || *val < *best_val)) {
      best_val = val;
      best_step = long(st.step);
      best_train = loss;
      st.best_val = *val;
      if (root)
        saving(saved, [&] { save_checkpoint(join_path(r.out, kBestFile), model, tc, st, data.tok_blob, false); });
    }
    if (root && (st.step % tc.log_every == 0 || last || val || eval_given_up || st.step == 1)) {
      metrics << "{\"step\":" << st.step << ",\"train_loss\":" << json_number(loss)
              << ",\"lr\":" << json_number(lr) << ",\"grad_norm\":" << json_number(norm)
              << ",\"tokens_per_s\":" << json_number(tokens / step_s) << ",\"ms_per_step\":"
              << json_number(step_s * 1000.0) << ",\"threads\":" << threads.last_step();
      if (pg.size() > 1) metrics << ",\"comm_ms\":" << json_number(comm_s * 1000.0);
      if (val) metrics << ",\"val_loss\":" << json_number(*val);
      if (given_up_now) metrics << ",\"val_given_up\":true";
      metrics << "}\n";
      metrics.flush();
      if (!metrics && metrics_error.empty()) {
        // A full disk (or a size limit): the run stops here and saves (which may fail too,
        // saying so), the half-written line is cut off, and the exit status says it.
        metrics_error = std::strerror(errno ? errno : EIO);
        metrics.close();  // (its buffer's last try first, so nothing is appended after the cut)
        if (::truncate(metrics_path.c_str(), off_t(metrics_bytes)) != 0) {
          // the partial line stays; a resume drops it (truncate_metrics)
        }
      } else if (metrics) {
        metrics_bytes = size_t(metrics.tellp());
      }
      // ETA: until this session ends (--steps, or --stop-at / --max-seconds when sooner).
      // Evaluations at the steps after this one (and the last step's), samples at this step
      // and after (a sample follows its line; the last step's, the final save): each at the
      // time they took so far, an evaluation before the first at its batches' forward
      // passes (a third of a step's forward and backward each).
      const long now = long(st.step), end = stop_at > 0 ? std::min<long>(tc.steps, stop_at) : tc.steps;
      auto still = [&](long every, long first) {  // multiples of `every` in [first, end], and the last step
        return end / every - (first - 1) / every + (end == tc.steps && tc.steps % every && first <= end ? 1 : 0);
      };
      double eta = ema_step_s * double(end - now);
      if (val_loader) {
        const double each = evals_taken > 0 ? eval_s / evals_taken
                                            : ema_step_s / tc.grad_accum / 3.0 *
                                                  double(tc.eval_batches ? size_t(tc.eval_batches)
                                                                         : size_t(val_loader->batches_per_pass()));
        eta += each * double(still(tc.eval_every, now + 1));
      }
      if (samples_taken > 0) eta += sample_s / samples_taken * double(still(r.sample.every, now));
      if (max_seconds > 0) eta = std::min(eta, std::max(0.0, max_seconds - session.seconds()));
      char line[256];
      std::snprintf(line, sizeof line, "step %ld/%d | loss %.4f | val %s | lr %.2e | %s tok/s (avg)%s | ETA %s",
                    long(st.step), tc.steps, loss, last_val ? loss_text(*last_val).c_str() : "-",
                    lr, format_count(tokens / ema_step_s).c_str(),
                    mfu_text(tokens / ema_step_s, flops_per_token, peak_gflops * pg.size()).c_str(), format_duration(eta).c_str());
      if (pg.size() > 1)  // global tokens/s above; here the step's time in collectives
        std::snprintf(line + std::strlen(line), sizeof line - std::strlen(line), " | comm %.0f ms", comm_s * 1000.0);
      if (tty) std::fprintf(stderr, "\r%s\033[K%s", fit_progress_line(line, terminal_columns(), val.has_value()).c_str(),
                        val ? "\n" : "");
      else std::fprintf(stderr, "%s\n", line);
    }
    // The checkpoint first: a sample can take long, and a kill during it must not lose the
    // step. The last step's sample follows the final save, after the loop.
    if (tc.save_every > 0 && st.step % tc.save_every == 0 && !last) save();
    // (An evaluation given up: a stop is under way, and the resume takes the step's sample.)
    if (root && r.sample.every > 0 && st.step % r.sample.every == 0 && !last && !given_up_now) take_sample(loss, val);
    if (root && r.sample.every > 0 && last && !given_up_now) final_sample = {loss, val};
    // Every rank stops at the same step: a stop request anywhere stops all.
    // (One collective: only rank 0 writes metrics.jsonl, so the other ranks take its failure
    // for an interruption; rank 0's error ends the job. A signal: the exit code says which.)
    if (pg.any(!metrics_error.empty() || signals.signal() != 0)) {
      stop_reason = metrics_error.empty() ? "interrupted" : "cannot write metrics.jsonl";
      agree_on_signal();
    } else if (stop_at > 0 && st.step >= stop_at) stop_reason = "--stop-at " + std::to_string(stop_at);
    else if (pg.any(max_seconds > 0 && session.seconds() >= max_seconds))
      stop_reason = "--max-seconds " + json_number(max_seconds);
  }
  save();
  // The other ranks wait for rank 0's save, their stop signals still caught, and keep
  // catching them to the end: one that killed a rank meanwhile had mpirun kill rank 0
  // in the middle of its save (helper-47: pkill -INT of the ranks during the last save
  // lost the run's checkpoint).
  if (pg.size() > 1) {
    pg.barrier();
    if (!root) signals.keep_until_exit();
  }
  if (final_sample) take_sample(final_sample->first, final_sample->second);
  if (!metrics_error.empty())
    GPT_FAIL(metrics_path, ": writing the metrics of step ", st.step, " failed (", metrics_error, "); training "
             "stopped and the checkpoint of step ", st.step, " was saved (", ckpt_file, "); that step's line is "
             "missing from metrics.jsonl for good (its training is kept). Free space on that "
             "disk (or raise the file size limit), then continue with: gpt train --resume ", shell_word(r.out));
  // Stopped by a signal: 128 + its number on every rank (130 for Ctrl-C); ranks stopped by rank 0's failure: 130.
  const int stop_code = stop_reason != "interrupted" ? 0 : stop_signal ? 128 + stop_signal : 130;
  // Every step trained and saved (a stop inside the last step): rank 0 says "done" and
  // exits 0, and so does every rank (mpirun reported the run as aborted).
  const bool finished = st.step >= tc.steps && !eval_given_up;
  if (!root) return finished ? 0 : stop_code;
  if (tty) std::fprintf(stderr, "\n");
  if (samples_lost)
    std::fprintf(stderr, "note: %s misses %s of this session's %d (the first at %s); they were printed on stdout "
                 "only\n", samples_path.c_str(), count(samples_lost, "sample").c_str(), samples_taken,
                 samples_first_lost.c_str());
  if (profile)
    std::fprintf(stderr, "%s", format_backend_profile(profiled_s, profiled_steps,
                                                      model.backend().name + std::string(" ") +
                                                          to_string(model.dtype())).c_str());
  if (!stop_reason.empty() && (st.step < tc.steps || eval_given_up)) {
    std::fprintf(stderr, "stopped at step %ld/%d (%s); checkpoint saved to %s%s\ncontinue with: %sgpt train --resume %s\n",
                 long(st.step), tc.steps, stop_reason.c_str(), ckpt_file.c_str(),
                 eval_given_up ? str("; the val loss of step ", st.step, " was given up (the resume measures it first)")
                                     .c_str()
                               : "",
                 // (on as many processes: a plain resume ran on one, with another global batch; helper-47)
                 pg.size() > 1 ? str("mpirun -np ", pg.size(), " ").c_str() : "", shell_word(r.out).c_str());
    return stop_code;
  }
  // The steps' time is the run's (over every resume); evaluations and samples this session's.
  // After a resume the steps' figures are every session's and the others this one's, so it says so.
  std::string extra;
  if (evals_taken)
    extra += str(samples_taken ? ", " : " and ", count(evals_taken, "val evaluation"), " in ", format_duration(eval_s));
  if (samples_taken) extra += str(" and ", count(samples_taken, "sample"), " in ", format_duration(sample_s));
  if (r.resume && !extra.empty()) extra = "; this session: " + extra.substr(extra[0] == ',' ? 2 : 5);
  const std::string all_sessions = r.resume ? ", all sessions" : "";
  std::fprintf(stderr, "done: %s in %s (%s %s%s)%s; final train loss %s, val loss %s (%s)\ncheckpoint: %s%s\n",
               count(st.step, "step").c_str(), format_duration(st.elapsed_s).c_str(),
               format_count(double(st.tokens_seen)).c_str(), plural(double(st.tokens_seen), "token").c_str(),
               all_sessions.c_str(), extra.c_str(),
               last_loss ? loss_text(*last_loss).c_str() : "-", last_val ? loss_text(*last_val).c_str() : "-",
               metrics_path.c_str(), ckpt_file.c_str(),
               best_val ? ("; lowest val loss " + loss_text(*best_val) + ": " + join_path(r.out, kBestFile)).c_str() : "");
  // On a GPU the threads only do the host's share (data, the token sort of the embedding
  // gradient), so the line says so.
  std::fprintf(stderr, "%s: %s\n", device == DeviceKind::cpu ? "threads" : "host threads",
               threads.describe().c_str());
  if (final_sample && signals.signal() != 0) {  // training was done and saved; the exit status says it was stopped
    std::fprintf(stderr, "the last sample was cut short by a signal (the training had finished and is saved)\n");
    return 128 + signals.signal();
  }
  return 0;
}

}  // namespace

int cmd_train(const Args& a) {
  const DeviceKind device = device_from_flags(a);
  const BackendProfileScope profiling(a.has("profile"));
  AdaptiveThreads threads = thread_policy(a);
  // Under mpirun: one process per rank. Processes on one machine share its cores
  // (unless --threads says otherwise), so 2 ranks on 2 cores run 1 thread each; a fixed
  // count, since the ranks wait for each other every step (a probe on one stalls all).
  const std::unique_ptr<ProcessGroup> pg = launch_process_group(device);
  if (pg->size() > 1 && !a.has("threads")) {
    const int n = std::max(1, omp_get_num_procs() / local_process_count());
    omp_set_num_threads(n);
    threads = AdaptiveThreads(n, false);
  }
  try {
    // One writer per run directory: locked before its checkpoint is read (a new
    // --out is locked once created, in train_loop). Rank 0 alone writes files.
    std::shared_ptr<RunLock> lock;
    const std::string out = a.has("out") ? a.str("out") : a.has("resume") ? a.str("resume") : "";
    // The run's files do not go among a data set's shards (`gpt prepare --out` replaces a
    // data directory whole; eval and export take a directory with train.bin for data):
    // refused before the lock is taken, so nothing is written there.
    const bool new_out = !a.has("resume") || (a.has("out") && !same_file(out, a.str("resume")));
    if (new_out && is_directory(out) && file_exists(join_path(out, "train.bin")))
      GPT_USAGE_FAIL("--out ", out, " holds train.bin, so it is a data directory",
                     a.has("data") && same_file(out, a.str("data")) ? " (the one --data names)" : " of `gpt prepare`",
                     "; the run needs a directory of its own, e.g. --out runs/NAME (nothing was written)");
    // (Only a directory that is a run already: another existing one gets its lock once the
    // flags are checked, in train_loop, so a refused command leaves no train.lock there.)
    if (pg->is_root() && !out.empty() && is_directory(out) &&
        (file_exists(join_path(out, kRunLockFile)) || file_exists(join_path(out, kCheckpointFile))))
      lock = std::make_shared<RunLock>(out);
    Run run = resolve_run(a, pg->is_root());
    run.lock = lock;
    const Data data = open_data(a, run);
    const int rc = train_loop(a, run, data, device, *pg, threads);
    signal_point("train:over:rank" + std::to_string(pg->rank()));  // (tests: a signal after the last step)
    return rc;
  } catch (const Error& e) {
    if (pg->size() == 1) throw;
    // One message, then every rank ends (the others may be waiting in a collective).
    // An error every rank meets (a bad flag, a diverged loss) is printed by rank 0, whose
    // abort ends the others first; one met by another rank alone comes a moment later.
    if (!pg->is_root()) std::this_thread::sleep_for(std::chrono::seconds(2));
    std::fprintf(stderr, "error (rank %d of %d): %s\n", pg->rank(), pg->size(), e.what());
    std::fflush(stderr);
    pg->abort(e.code);
    throw;
  }
}

}  // namespace gpt
