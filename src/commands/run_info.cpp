// Run-directory memory (data.json) and the MFU figures (see run_info.h).
#include "commands/run_info.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "check.h"
#include "commands/common.h"
#include "layers/gemm.h"
#include "fileio.h"
#include "formats/json.h"
#include "schedule.h"

namespace gpt {

namespace {

volatile float g_sink;

std::string absolute(const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) GPT_FAIL("cannot read the current directory to store ", p, " as an absolute path");
  std::string s = p;
  while (s.rfind("./", 0) == 0) s = s.substr(2);
  return std::string(buf) + "/" + s;
}

}  // namespace

namespace {
// Whole numbers in full (--steps 1000000, not 1e+06), others as %g.
std::string whole_in_full(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, x == std::floor(x) && std::fabs(x) < 1e15 ? "%.0f" : "%g", x);
  return buf;
}
}  // namespace

std::string run_dir(const std::string& run) {
  if (run.empty() || is_directory(run)) return run;
  return parent_dir(run);
}

DataSource data_source_from_flags(const Args& a) {
  DataSource s;
  if (a.has("data")) s.dir = a.require("data");
  if (a.has("train-glob")) s.train_glob = a.require("train-glob");
  if (a.has("val-glob")) s.val_glob = a.require("val-glob");
  return s;
}

void save_data_source(const std::string& run, const DataSource& s) {
  Json j = Json::object();
  if (!s.dir.empty()) j.set("data", Json::string(absolute(s.dir)));
  if (!s.train_glob.empty()) j.set("train_glob", Json::string(absolute(s.train_glob)));
  if (!s.val_glob.empty()) j.set("val_glob", Json::string(absolute(s.val_glob)));
  write_file_atomic(join_path(run, kDataSourceFile), j.dump(2) + "\n");
}

std::optional<DataSource> load_data_source(const std::string& run) {
  const std::string path = join_path(run_dir(run), kDataSourceFile);
  if (!file_exists(path)) return std::nullopt;
  const Json j = Json::parse(read_file(path), path);
  DataSource s;
  auto get = [&](const char* key, std::string& into) {
    if (const Json* v = j.find(key)) into = v->as_string(path + ": " + key);
  };
  get("data", s.dir);
  get("train_glob", s.train_glob);
  get("val_glob", s.val_glob);
  if (s.empty()) GPT_FAIL(path, ": names neither \"data\" nor \"train_glob\"; delete it and pass --data DIR");
  return s;
}

DataSource resolve_data_source(const Args& a, const std::string& run, const std::string& what) {
  DataSource s = data_source_from_flags(a);
  if (!s.empty() || !s.val_glob.empty()) return s;  // the command checks what it needs
  if (!run.empty()) {
    if (auto remembered = load_data_source(run)) {
      if (!remembered->dir.empty() && !is_directory(remembered->dir))
        GPT_FAIL(join_path(run_dir(run), kDataSourceFile), ": the run's data were in ", remembered->dir,
                 ", which is not a directory any more; pass --data DIR where they are now");
      return *remembered;
    }
  }
  GPT_USAGE_FAIL(what, ": --data is required (a directory from `gpt prepare`, or any directory holding "
                 "train.bin and val.bin), or --train-glob / --val-glob PATTERN for llm.c's numbered shards",
                 run.empty() ? "" : "; " + run_dir(run) + " has no " + kDataSourceFile + " naming them",
                 "; see `", what, " --help`");
}

void save_run_settings(const std::string& run, Dtype t, const SampleSettings& ss, int processes, int zero,
                       const std::optional<RunSettings>& kept, const std::string& continues) {
  Json j = kept ? kept->file : Json::object();
  if (!continues.empty()) j.set("continues", Json::string(absolute(continues)));
  j.set("dtype", Json::string(to_string(t)));
  j.set("processes", Json::number(processes));
  j.set("zero", Json::number(zero));
  j.set("sample_every", Json::number(ss.every));
  j.set("sample_tokens", Json::number(ss.tokens));
  if (ss.prompt) j.set("sample_prompt", Json::string(*ss.prompt));
  else if (j.find("sample_prompt")) {  // no prompt now (Json has no erase: rebuild without the key)
    Json k = Json::object();
    for (const auto& [key, v] : j.as_object(kRunSettingsFile))
      if (key != "sample_prompt") k.set(key, v);
    j = k;
  }
  write_file_atomic(join_path(run, kRunSettingsFile), j.dump(2) + "\n");
}

std::optional<std::string> continues_of(const std::string& run) {
  try {
    const std::string path = join_path(run, kRunSettingsFile);
    if (!is_regular_file(path)) return std::nullopt;
    const Json j = Json::parse(read_file(path), path);
    const Json* c = j.is_object() ? j.find("continues") : nullptr;
    if (c && c->is_string()) return c->as_string(path);
  } catch (const Error&) {
  }
  return std::nullopt;
}

std::optional<RunSettings> load_run_settings(const std::string& run) {
  RunSettings rs;
  rs.path = join_path(run_dir(run), kRunSettingsFile);
  const std::string& path = rs.path;
  if (!file_exists(path)) return std::nullopt;
  rs.file = Json::parse(read_file(path), path);
  if (!rs.file.is_object()) GPT_FAIL(path, ": expected a JSON object ({\"dtype\": ...}), found ",
                                     Json::type_name(rs.file.type()), "; fix or delete it");
  const Json& j = rs.file;
  const Json* v = j.find("dtype");
  if (!v) GPT_FAIL(path, ": has no \"dtype\"; delete it and pass --dtype fp32 or --dtype bf16");
  const std::string s = v->as_string(path + ": dtype");
  if (s != "fp32" && s != "bf16") GPT_FAIL(path, ": dtype \"", s, "\" is neither fp32 nor bf16; fix or delete it");
  rs.dtype = parse_dtype(s);
  auto whole = [&](const char* key, int lo, int hi) -> std::optional<int> {
    const Json* w = j.find(key);
    if (!w) return std::nullopt;
    const double x = w->as_number(path + ": " + key);
    if (!(x >= lo && x <= hi && x == std::floor(x)))
      GPT_FAIL(path, ": ", key, " is ", whole_in_full(x), ", expected a whole number from ", lo, " to ", hi,
               "; fix or delete the key");
    return int(x);
  };
  if (auto e = whole("sample_every", 0, 1000000000)) rs.sample.every = *e;
  if (auto n = whole("sample_tokens", 1, 1000000000)) rs.sample.tokens = *n;
  if (const Json* p = j.find("sample_prompt")) {
    rs.sample.prompt = p->as_string(path + ": sample_prompt");
    rs.sample.prompt_source = path + "'s sample_prompt";
  }
  rs.zero = whole("zero", 0, 1);
  try {  // (only for a note: a bad count is not worth stopping a resume for)
    rs.processes = whole("processes", 1, 1000000);
  } catch (const Error&) {
  }
  return rs;
}

SampleSettings resolve_sample_settings(const Args& a, const std::optional<RunSettings>& had) {
  SampleSettings ss = had ? had->sample : SampleSettings{};
  if (a.has("sample-every")) ss.every = a.integer("sample-every");
  if (a.has("sample-tokens")) ss.tokens = a.integer("sample-tokens");
  if (a.has("sample-prompt")) ss.prompt = a.str("sample-prompt"), ss.prompt_source = "--sample-prompt";
  if (ss.every < 0) GPT_USAGE_FAIL("--sample-every must be >= 0 (0 = never), got ", ss.every);
  if (ss.tokens < 1) GPT_USAGE_FAIL("--sample-tokens must be >= 1, got ", ss.tokens);
  return ss;
}

Dtype resolve_dtype(const Args& a, const std::optional<RunSettings>& had, const std::string& run) {
  if (!a.has("dtype")) return had ? had->dtype : Dtype::fp32;
  const Dtype t = parse_dtype(a.str("dtype"));
  if (had && had->dtype != t)  // documented, but a switch of precision should not pass unsaid
    std::fprintf(stderr, "note: %s ran in %s; --dtype %s switches it from here on (and its later resumes)\n",
                 run.c_str(), to_string(had->dtype).c_str(), to_string(t).c_str());
  return t;
}

int resolve_zero(const Args& a, const std::optional<RunSettings>& had) {
  const int zero = a.has("zero") ? a.integer("zero") : had && had->zero ? *had->zero : 0;
  if (zero != 0 && zero != 1)
    GPT_USAGE_FAIL("--zero must be 0 (whole optimizer state on every process) or 1 (sharded across processes), "
                   "got ", zero);
  return zero;
}

LoggedLosses logged_losses(const std::string& metrics_path) {
  LoggedLosses l;
  if (!file_exists(metrics_path)) return l;
  const std::string* line = nullptr;
  auto field = [&](const char* key) -> std::optional<double> {
    const auto p = line->find(key);
    if (p == std::string::npos) return std::nullopt;
    char* end = nullptr;
    const double x = std::strtod(line->c_str() + p + std::strlen(key), &end);
    if (end == line->c_str() + p + std::strlen(key)) return std::nullopt;  // null (not finite)
    return x;
  };
  for_each_line(metrics_path, kMetricsLineMax, [&](const std::string& text) {  // (it may be larger than memory)
    line = &text;
    const std::optional<double> train = field("\"train_loss\":");
    if (train) l.last_train = train;
    if (auto v = field("\"val_loss\":")) {
      l.last_val = v;
      l.last_val_step = field("\"step\":");
      if (!l.best_val || *v < *l.best_val) l.best_val = v, l.best_val_train = train;
    }
    if (text.find("\"val_given_up\":true") != std::string::npos) l.given_up_step = field("\"step\":");
  });
  return l;
}

std::string loss_text(double loss) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", loss);
  return buf;
}

void note_latest_checkpoint(const std::string& ckpt_arg, const Checkpoint& ck, const char* flag) {
  if (!is_directory(ckpt_arg) || !file_exists(join_path(ckpt_arg, kBestFile))) return;
  const double best = ck.state.best_val;
  // The checkpoint's own step evaluated and that evaluation the best: best.bin is it.
  const LoggedLosses l = logged_losses(join_path(ckpt_arg, "metrics.jsonl"));
  if (l.last_val && l.best_val && l.last_val_step && *l.last_val == *l.best_val &&
      *l.last_val_step == double(ck.state.step))
    return;
  std::fprintf(stderr, "note: %s %s reads %s (step %ld, the latest); %s holds the weights at the lowest val "
               "loss%s: give %s %s for those\n", flag, ckpt_arg.c_str(), checkpoint_path(ckpt_arg).c_str(),
               long(ck.state.step), join_path(ckpt_arg, kBestFile).c_str(),
               std::isfinite(best) ? (" (" + loss_text(best) + ")").c_str() : "", flag,
               join_path(ckpt_arg, kBestFile).c_str());
}

std::string passes_note(double tokens_trained, double train_tokens) {
  if (!(train_tokens > 0)) return "";
  const double passes = tokens_trained / train_tokens;
  char b[64];
  if (passes < 0.01) std::snprintf(b, sizeof b, " (under 1%% of one pass over the train tokens)");
  else if (passes < 0.995) std::snprintf(b, sizeof b, " (%.0f%% of one pass over the train tokens)", passes * 100);
  else if (passes < 1.005) std::snprintf(b, sizeof b, " (one pass over the train tokens)");
  else std::snprintf(b, sizeof b, " (%.*f passes over the train tokens)", passes < 10 ? 1 : 0, passes);
  return b;
}

std::string warmup_note(const TrainConfig& t) {
  if (t.steps <= 0 || t.warmup < t.steps) return "";
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "note: --steps %d ends inside --warmup %d: the learning rate only rises, to %.2e at the last step, "
                "never reaching --lr %.2e nor decaying; for a short run lower --warmup (e.g. --warmup %d)\n",
                t.steps, t.warmup, double(learning_rate(t, t.steps - 1)), double(t.lr), t.steps / 10);
  return buf;
}

void note_schedule_change(const TrainConfig& before, const TrainConfig& now, int step) {
  // The next step's rate: learning_rate counts from 0, the log from 1 (step + 1 is the
  // first one this session trains and logs).
  const float lr0 = learning_rate(before, step), lr1 = learning_rate(now, step);
  step += 1;
  if (lr0 == lr1 && before.steps == now.steps) return;
  std::string changed;
  auto diff = [&](const char* flag, double a, double b) {
    if (a == b) return;
    changed += (changed.empty() ? "--" : ", --") + std::string(flag) + " " + whole_in_full(a) + " -> " + whole_in_full(b);
  };
  diff("steps", before.steps, now.steps);
  diff("warmup", before.warmup, now.warmup);
  diff("lr", before.lr, now.lr);
  diff("min-lr", before.min_lr, now.min_lr);
  if (before.schedule != now.schedule) changed += changed.empty() ? "--schedule" : ", --schedule";
  if (lr0 == lr1) {
    std::fprintf(stderr, "note: %s; the learning rate at step %d stays %.2e\n", changed.c_str(), step, lr0);
    return;
  }
  std::fprintf(stderr, "note: %s changes the learning-rate schedule: lr at step %d is now %.2e (was %.2e)%s\n",
               changed.c_str(), step, lr1, lr0,
               now.schedule == Schedule::cosine && before.steps != now.steps
                   ? "; the cosine decay is re-stretched over the new --steps"
                   : "");
}

void note_training_change(const TrainConfig& before, const TrainConfig& now, int step) {
  std::string changed;
  auto add = [&](const std::string& what) { changed += (changed.empty() ? "" : ", ") + what; };
  auto diff = [&](const char* flag, double a, double b) {
    if (a != b) add("--" + std::string(flag) + " " + whole_in_full(a) + " -> " + whole_in_full(b));
  };
  auto sampling = [](SamplingMode m) { return m == SamplingMode::random ? "random" : "sequential"; };
  diff("batch", before.batch, now.batch);
  diff("grad-accum", before.grad_accum, now.grad_accum);
  diff("weight-decay", before.weight_decay, now.weight_decay);
  diff("beta1", before.beta1, now.beta1);
  diff("beta2", before.beta2, now.beta2);
  diff("grad-clip", before.grad_clip, now.grad_clip);
  if (before.sampling != now.sampling)
    add(std::string("--sampling ") + sampling(before.sampling) + " -> " + sampling(now.sampling));
  if (before.seed != now.seed) add("--seed " + std::to_string(before.seed) + " -> " + std::to_string(now.seed));
  diff("eval-batches", before.eval_batches, now.eval_batches);
  if (changed.empty()) return;
  std::string follows;
  if (now.sampling == SamplingMode::sequential && before.sampling == now.sampling && before.batch != now.batch)
    follows += "; the data continue at the token where step " + std::to_string(step) +
               " stopped (the first batch of the new size at or after it)";
  if (before.sampling != now.sampling)
    follows += std::string("; the data are now read in ") + sampling(now.sampling) + " order, so some text the run "
               "has seen may come again sooner than in a run that used it from the start";
  const bool windows = before.batch != now.batch || before.seed != now.seed || before.eval_batches != now.eval_batches;
  if (now.eval_every > 0 && before.eval_every > 0 && windows)
    follows += "; val loss is now measured on other windows of the val split (they follow --seed, --batch and "
               "--eval-batches), so it is not directly comparable with the values before, nor with best.bin's";
  std::fprintf(stderr, "note: this resume changes %s: the %s so far used the old value%s%s\n", changed.c_str(),
               count(step, "step").c_str(), changed.find(", ") == std::string::npos ? "" : "s", follows.c_str());
}

void note_process_change(const TrainConfig& was, const TrainConfig& now, int context, std::optional<int> had,
                         int processes) {
  if (!had || *had == processes) return;
  const double before = double(was.batch) * context * was.grad_accum * *had;
  const double after = double(now.batch) * context * now.grad_accum * processes;
  const long rows = long(was.batch) * was.grad_accum * *had;  // rows per step then
  const long per_accum = long(now.batch) * processes;         // rows per micro-step now
  std::fprintf(stderr, "note: the run trained on %s so far, now on %d: a step covers %s tokens (was %s)%s\n",
               count(*had, "process").c_str(), processes, format_count(after).c_str(), format_count(before).c_str(),
               before != after && rows % per_accum == 0
                   ? str("; --grad-accum ", rows / per_accum, " keeps the global batch").c_str()
                   : "");
}

double training_flops_per_token(const GPTConfig& c) {
  const double C = c.channels, L = c.num_layers, T = c.max_seq_len;
  const double n_matmul = L * 12.0 * C * C + double(c.padded_vocab_size) * C;
  return 6.0 * n_matmul + 6.0 * L * T * C;
}

double measure_fma_peak_gflops(double seconds) {
  // GCC vector extension: one 512-bit vector is what -march=native makes of it
  // (two 256-bit halves on AVX2). 12 independent chains cover the FMA latency.
  typedef float v16 __attribute__((vector_size(64)));
  long iters = 20000;
  for (;;) {
    Stopwatch sw;
    float sink = 0;
#pragma omp parallel reduction(+ : sink)
    {
      v16 acc[12];
      v16 b, c;
      for (int k = 0; k < 16; k++) b[k] = 0.9999f, c[k] = 1e-4f;
      for (int i = 0; i < 12; i++)
        for (int k = 0; k < 16; k++) acc[i][k] = float(i + omp_get_thread_num());
      for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = acc[i] * b + c;
      }
      for (int i = 1; i < 12; i++) acc[0] += acc[i];
      for (int k = 0; k < 16; k++) sink += acc[0][k];
    }
    const double t = sw.seconds();
    g_sink = sink;  // keeps the chains alive
    if (t >= seconds || iters > (1L << 40)) return 2.0 * 16 * 12 * double(iters) * omp_get_max_threads() / t / 1e9;
    iters = long(double(iters) * (t > 0 ? std::max(2.0, std::min(16.0, 1.2 * seconds / t)) : 16.0));
  }
}

Peak measure_peak(Dtype t) {
  // The best of three probes: one of 0.05 s catches a moment when another program has a
  // core, which the run does not feel (identical runs showed MFU 24% to 83%: the
  // probe read 158-414 GFLOP/s on one machine).
  auto best = [](auto probe) {
    double g = 0.0;
    for (int k = 0; k < 3; k++) g = std::max(g, probe());
    return g;
  };
  if (t == Dtype::bf16)
    if (const double g = best([] { return cpu::bf16_peak_gflops(); }); g > 0)
      return {g, std::string("bf16 ") + cpu::bf16_isa_name(cpu::bf16_isa()) + " throughput of these threads, measured now"};
  return {best([] { return measure_fma_peak_gflops(); }), "fp32 FMA throughput of these threads, measured now"};
}

std::string mfu_note(double flops_per_token, double peak_gflops, const std::string& what) {
  if (peak_gflops <= 0) return "";
  char buf[256];
  std::snprintf(buf, sizeof buf, "  MFU: %.2f MFLOP/token against a peak of %.0f GFLOP/s (%s; --peak-gflops G sets it)\n",
                flops_per_token / 1e6, peak_gflops, what.c_str());
  return buf;
}

std::string mfu_text(double tokens_per_s, double flops_per_token, double peak_gflops) {
  if (peak_gflops <= 0) return "";
  char buf[64];
  const double mfu = 100.0 * tokens_per_s * flops_per_token / (peak_gflops * 1e9);
  // (A --peak-gflops of 1e-300 printed 300 digits, cut off before the %.)
  if (mfu < 1000) std::snprintf(buf, sizeof buf, " | MFU %.1f%%", mfu);
  else std::snprintf(buf, sizeof buf, " | MFU %.3g%% (above the peak: check --peak-gflops)", mfu);
  return buf;
}

}  // namespace gpt
