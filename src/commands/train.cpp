// gpt train: the training loop. Builds or restores the model, draws batches,
// runs forward/backward/AdamW with warmup+cosine, evaluates, logs metrics.jsonl,
// prints progress, and checkpoints atomically (periodically, at the end, on Ctrl-C).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "check.h"
#include "formats/checkpoint.h"
#include "commands/common.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "model.h"
#include "formats/model_io.h"
#include "schedule.h"
#include "text/tokenizer.h"

namespace gpt {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int sig) {
  g_interrupted = 1;
  std::signal(sig, SIG_DFL);  // a second Ctrl-C kills at once (the last checkpoint stays intact)
}

const char* kModelFlags[] = {"layers", "heads", "dim", "context", "pos", "dropout"};

GPTConfig model_config_from(const Args& a, GPTConfig c, bool only_given) {
  auto want = [&](const char* f) { return !only_given || a.has(f); };
  if (want("layers")) c.num_layers = a.integer("layers");
  if (want("heads")) c.num_heads = a.integer("heads");
  if (want("dim")) c.channels = a.integer("dim");
  if (want("context")) c.max_seq_len = a.integer("context");
  if (want("pos")) c.pos = parse_posenc(a.str("pos"));
  if (want("dropout")) c.dropout = float(a.real("dropout"));
  return c;
}

TrainConfig train_config_from(const Args& a, TrainConfig t, bool only_given) {
  auto want = [&](const char* f) { return !only_given || a.has(f); };
  if (want("batch")) t.batch = a.integer("batch");
  if (want("grad-accum")) t.grad_accum = a.integer("grad-accum");
  if (want("lr")) t.lr = float(a.real("lr"));
  if (want("min-lr")) t.min_lr = float(a.real("min-lr"));
  if (want("warmup")) t.warmup = a.integer("warmup");
  if (want("schedule")) {
    const std::string s = a.str("schedule");
    if (s == "cosine") t.schedule = Schedule::cosine;
    else if (s == "constant") t.schedule = Schedule::constant;
    else GPT_USAGE_FAIL("--schedule: unknown schedule '", s, "'; choose cosine or constant");
  }
  if (want("weight-decay")) t.weight_decay = float(a.real("weight-decay"));
  if (want("beta1")) t.beta1 = float(a.real("beta1"));
  if (want("beta2")) t.beta2 = float(a.real("beta2"));
  if (want("grad-clip")) t.grad_clip = float(a.real("grad-clip"));
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

// Rewrites metrics.jsonl keeping only lines with step <= last_step (a resumed run
// replaces what happened after its checkpoint).
void truncate_metrics(const std::string& path, int64_t last_step) {
  if (!file_exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    auto p = line.find("\"step\":");
    if (p == std::string::npos) continue;
    if (std::atoll(line.c_str() + p + 7) <= last_step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

}  // namespace

int cmd_train(const Args& a) {
  require_cpu_device(a);
  apply_threads(a);
  const bool resume = a.has("resume");
  if (resume && a.has("init")) GPT_USAGE_FAIL("--resume and --init cannot be combined: --resume continues a run, "
                                             "--init starts a new one from a checkpoint's weights");
  const bool have_data_dir = a.has("data");
  if (!have_data_dir && !a.has("train-glob"))
    GPT_USAGE_FAIL("gpt train: --data is required (a directory from `gpt prepare`, or any directory holding "
                   "train.bin and val.bin), or --train-glob PATTERN for llm.c's numbered shards; "
                   "see `gpt train --help`");
  const std::string data_dir = have_data_dir ? a.require("data") : std::string();
  std::optional<int> flag_vocab;
  if (a.has("vocab-size")) {
    flag_vocab = a.integer("vocab-size");
    if (*flag_vocab < 1 || *flag_vocab > 65536)
      GPT_USAGE_FAIL("--vocab-size must be in 1..65536 (shard tokens are uint16), got ", *flag_vocab);
  }
  const std::string out = a.has("out") ? a.str("out") : (resume ? a.str("resume") : a.require("out"));
  if (out.empty()) GPT_USAGE_FAIL("--out must not be empty");

  GPTConfig mc;
  TrainConfig tc;
  TrainState st;
  std::optional<Checkpoint> ck;
  if (resume) {
    ck = load_checkpoint(a.str("resume"));
    mc = ck->model;
    for (const char* f : kModelFlags) {
      if (!a.has(f)) continue;
      GPTConfig want = model_config_from(a, mc, true);
      if (want.num_layers != mc.num_layers || want.num_heads != mc.num_heads || want.channels != mc.channels ||
          want.max_seq_len != mc.max_seq_len || want.pos != mc.pos || want.dropout != mc.dropout)
        GPT_USAGE_FAIL("--", f, " ", a.str(f), " conflicts with the checkpoint in ", a.str("resume"),
                       ": a resumed run keeps its model; drop the flag, or use --init to start a new run");
    }
    if (ck->m.empty()) GPT_FAIL(checkpoint_path(a.str("resume")), ": has no optimizer state, so it cannot be resumed "
                                "exactly; use --init to start a new run from its weights");
    tc = train_config_from(a, ck->train, true);
    st = ck->state;
  } else {
    if (file_exists(join_path(out, kCheckpointFile)))
      GPT_USAGE_FAIL(out, " already holds a checkpoint; continue it with --resume ", out,
                     ", or choose another --out (nothing was overwritten)");
    if (a.has("init")) {
      // Any model file: a gpt.cc run or checkpoint, an llm.c checkpoint, a Hugging Face GPT-2.
      ck = load_model(a.str("init"), a.has("heads") ? std::optional<int>(a.integer("heads")) : std::nullopt);
      mc = model_config_from(a, ck->model, true);
      if (mc.num_layers != ck->model.num_layers || mc.num_heads != ck->model.num_heads ||
          mc.channels != ck->model.channels || mc.pos != ck->model.pos ||
          mc.max_seq_len > ck->model.max_seq_len)
        GPT_USAGE_FAIL("--init: model flags must match the checkpoint's shape (only --dropout and a shorter "
                       "--context may change)");
    } else {
      mc = model_config_from(a, GPTConfig{}, false);
    }
    tc = train_config_from(a, TrainConfig{}, false);
  }
  validate(tc);
  validate(mc);  // impossible shapes fail before any file is read (vocab is checked again below)

  // Data: the shard lists and the tokenizer (DIR/tokenizer.bin, when there is one).
  if (have_data_dir && !is_directory(data_dir))
    GPT_FAIL(data_dir, ": not a directory; expected the output of `gpt prepare --out ", data_dir,
             "` or a directory holding train.bin and val.bin");
  const std::vector<std::string> train_paths = a.has("train-glob")
                                                   ? glob_files(a.str("train-glob"), "--train-glob")
                                                   : std::vector<std::string>{join_path(data_dir, "train.bin")};
  std::vector<std::string> val_paths;
  if (a.has("val-glob")) val_paths = glob_files(a.str("val-glob"), "--val-glob");
  else if (have_data_dir) val_paths = {join_path(data_dir, "val.bin")};
  std::string data_flags;  // how to name these data again, for the "continue with" hint
  if (have_data_dir) data_flags += "--data " + data_dir + " ";
  if (a.has("train-glob")) data_flags += "--train-glob '" + a.str("train-glob") + "' ";
  if (a.has("val-glob")) data_flags += "--val-glob '" + a.str("val-glob") + "' ";
  const std::string data_name = have_data_dir ? data_dir : a.str("train-glob");

  std::unique_ptr<Tokenizer> tok;
  std::string tok_blob;
  if (have_data_dir && file_exists(join_path(data_dir, kTokenizerFile))) {
    tok = Tokenizer::load_dir(data_dir);
    tok_blob = tok->serialize();
  }
  const int data_vocab = tok ? tok->vocab_size() : 0;
  if (flag_vocab && tok && *flag_vocab != data_vocab)
    GPT_USAGE_FAIL("--vocab-size ", *flag_vocab, " disagrees with ", data_dir, "/", kTokenizerFile, " (", data_vocab,
                   " tokens); drop --vocab-size");
  if (ck) {
    if (!ck->tokenizer.empty() && !tok_blob.empty() && ck->tokenizer != tok_blob)
      GPT_FAIL(data_dir, "/", kTokenizerFile, ": differs from the tokenizer stored in the checkpoint; the data "
               "were prepared with another tokenizer than the model was trained on");
    if (flag_vocab && *flag_vocab != mc.vocab_size)
      GPT_USAGE_FAIL("--vocab-size ", *flag_vocab, " conflicts with the checkpoint's vocabulary of ", mc.vocab_size,
                     " tokens; drop --vocab-size");
    if (data_vocab > mc.vocab_size)
      GPT_FAIL(data_dir, ": vocabulary of ", data_vocab, " tokens is larger than the checkpoint's ", mc.vocab_size);
    if (tok_blob.empty()) tok_blob = ck->tokenizer;
  } else if (tok || flag_vocab) {
    mc.vocab_size = tok ? data_vocab : *flag_vocab;
    mc.padded_vocab_size = pad_vocab(mc.vocab_size);
  } else {
    GPT_USAGE_FAIL(have_data_dir ? data_dir + " has no " + kTokenizerFile
                                 : std::string("--train-glob shards carry no tokenizer"),
                   ", so the vocabulary size is unknown: pass --vocab-size N (50257 for GPT-2 tokens, as in "
                   "llm.c's shards), or start from a model with --init");
  }
  validate(mc);

  const int B = tc.batch, T = mc.max_seq_len;
  const Sampling sampling = tc.sampling == SamplingMode::random ? Sampling::random : Sampling::sequential;
  // Token ids are checked against the vocabulary here, naming the shard, not mid-run.
  DataLoader train_loader(train_paths, B, T, sampling, tc.seed, mc.vocab_size);
  if (resume) train_loader.set_state(st.loader);
  std::unique_ptr<DataLoader> val_loader;
  if (tc.eval_every > 0) {
    if (val_paths.empty())
      GPT_USAGE_FAIL("no validation data: pass --val-glob PATTERN (or --data DIR with val.bin), or --eval-every 0");
    if (val_paths.size() == 1 && !file_exists(val_paths[0]))
      GPT_FAIL(val_paths[0], ": missing; run `gpt prepare` with --val-fraction > 0, or pass --eval-every 0");
    // --eval-batches N: random windows over the whole val split (nanoGPT's estimate),
    // the same windows at every evaluation (reset to a fixed seed) so the numbers are
    // comparable. --eval-batches 0: every window of the split in order (exact).
    val_loader = std::make_unique<DataLoader>(val_paths, B, T,
                                              tc.eval_batches ? Sampling::random : Sampling::sequential,
                                              tc.seed ^ 0x5eedULL, mc.vocab_size);
  }

  GPT<float> model(mc);
  if (resume) load_weights(model, *ck, true);
  else if (ck) load_weights(model, *ck, false);
  else model.init_weights(tc.seed);

  make_dirs(out);
  const std::string ckpt_file = join_path(out, kCheckpointFile);
  const std::string metrics_path = join_path(out, "metrics.jsonl");
  if (resume) truncate_metrics(metrics_path, st.step);
  else write_file_atomic(metrics_path, "");
  std::ofstream metrics(metrics_path, std::ios::app);
  if (!metrics) GPT_FAIL(metrics_path, ": cannot open for appending");

  const std::string shards_note =
      train_loader.num_shards() > 1 ? " in " + std::to_string(train_loader.num_shards()) + " shards" : "";
  std::fprintf(stderr,
               "gpt train: %s parameters (%d layers, %d heads, dim %d, context %d, %s positions, vocab %d)\n"
               "  data %s: %s train tokens%s; batch %d x %d x accum %d = %s tokens/step; %s steps%s\n",
               format_count(double(model.num_params())).c_str(), mc.num_layers, mc.num_heads, mc.channels,
               mc.max_seq_len, to_string(mc.pos).c_str(), mc.vocab_size, data_name.c_str(),
               format_count(double(train_loader.num_tokens())).c_str(), shards_note.c_str(), B, T, tc.grad_accum,
               format_count(double(B) * T * tc.grad_accum).c_str(), format_count(tc.steps).c_str(),
               resume ? (" (resuming at step " + std::to_string(st.step) + ")").c_str() : "");

  auto save = [&]() { save_checkpoint(ckpt_file, model, tc, st, tok_blob); };
  auto evaluate = [&]() {
    val_loader->reset();
    std::vector<int> in(size_t(B) * T), tg(size_t(B) * T);
    double sum = 0.0;
    const size_t n_batches = tc.eval_batches ? size_t(tc.eval_batches) : size_t(val_loader->batches_per_pass());
    for (size_t i = 0; i < n_batches; i++) {
      val_loader->next_batch(in.data(), tg.data());
      sum += *model.forward(in.data(), tg.data(), B, T, false);
    }
    return sum / double(n_batches);
  };

  g_interrupted = 0;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const bool tty = isatty(STDERR_FILENO);
  const int stop_at = a.integer("stop-at");
  const double max_seconds = a.real("max-seconds");
  if (stop_at < 0 || max_seconds < 0) GPT_USAGE_FAIL("--stop-at and --max-seconds must be >= 0");
  std::vector<int> inputs(size_t(B) * T), targets(size_t(B) * T);
  Stopwatch session;
  double ema_step_s = 0.0;
  std::optional<double> last_val;
  std::string stop_reason;
  if (st.step >= tc.steps) stop_reason = "already at --steps " + std::to_string(tc.steps);

  while (st.step < tc.steps && stop_reason.empty()) {
    Stopwatch sw;
    const int step = int(st.step);
    const float lr = learning_rate(tc, step);
    model.zero_grad();
    double loss = 0.0;
    for (int micro = 0; micro < tc.grad_accum; micro++) {
      train_loader.next_batch(inputs.data(), targets.data());
      const DropoutKey key{tc.seed, uint64_t(step) * uint64_t(tc.grad_accum) + uint64_t(micro)};
      loss += *model.forward(inputs.data(), targets.data(), B, T, true, key);
      model.backward(1.0f / float(tc.grad_accum));
    }
    loss /= tc.grad_accum;
    if (!std::isfinite(loss))
      GPT_FAIL("training loss is ", loss, " at step ", step + 1, "; lower --lr and --resume ", out,
               " from the last checkpoint");
    const double norm = model.step(lr, tc, long(step) + 1);
    st.step = step + 1;
    st.loader = train_loader.state();
    const double tokens = double(B) * T * tc.grad_accum;
    st.tokens_seen += uint64_t(tokens);
    const double step_s = sw.seconds();
    st.elapsed_s += step_s;
    ema_step_s = ema_step_s == 0.0 ? step_s : 0.9 * ema_step_s + 0.1 * step_s;

    const bool last = st.step == tc.steps;
    std::optional<double> val;
    if (val_loader && (st.step % tc.eval_every == 0 || last)) val = last_val = evaluate();
    if (st.step % tc.log_every == 0 || last || val || st.step == 1) {
      metrics << "{\"step\":" << st.step << ",\"train_loss\":" << json_number(loss)
              << ",\"lr\":" << json_number(lr) << ",\"grad_norm\":" << json_number(norm)
              << ",\"tokens_per_s\":" << json_number(tokens / step_s) << ",\"ms_per_step\":"
              << json_number(step_s * 1000.0);
      if (val) metrics << ",\"val_loss\":" << json_number(*val);
      metrics << "}\n";
      metrics.flush();
      const double eta = ema_step_s * double(tc.steps - st.step);
      char line[256];
      std::snprintf(line, sizeof line, "step %ld/%d | loss %.4f | val %s | lr %.2e | %s tok/s | ETA %s",
                    long(st.step), tc.steps, loss, last_val ? json_number(*last_val).substr(0, 6).c_str() : "-",
                    lr, format_count(tokens / ema_step_s).c_str(), format_duration(eta).c_str());
      if (tty) std::fprintf(stderr, "\r%s\033[K%s", line, val ? "\n" : "");
      else std::fprintf(stderr, "%s\n", line);
    }
    if (tc.save_every > 0 && st.step % tc.save_every == 0 && !last) save();
    if (g_interrupted) stop_reason = "interrupted";
    else if (stop_at > 0 && st.step >= stop_at) stop_reason = "--stop-at " + std::to_string(stop_at);
    else if (max_seconds > 0 && session.seconds() >= max_seconds)
      stop_reason = "--max-seconds " + json_number(max_seconds);
  }
  save();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (tty) std::fprintf(stderr, "\n");
  if (!stop_reason.empty() && st.step < tc.steps) {
    std::fprintf(stderr, "stopped at step %ld/%d (%s); checkpoint saved to %s\ncontinue with: gpt train %s--resume %s\n",
                 long(st.step), tc.steps, stop_reason.c_str(), ckpt_file.c_str(), data_flags.c_str(), out.c_str());
    return g_interrupted ? 130 : 0;
  }
  std::fprintf(stderr, "done: %ld steps in %s (%s tokens); final train loss logged in %s%s%s\ncheckpoint: %s\n",
               long(st.step), format_duration(st.elapsed_s).c_str(), format_count(double(st.tokens_seen)).c_str(),
               metrics_path.c_str(), last_val ? ", val loss " : "", last_val ? json_number(*last_val).c_str() : "",
               ckpt_file.c_str());
  return 0;
}

}  // namespace gpt
