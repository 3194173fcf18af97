// What a run directory remembers beside its checkpoint, and the figures the training
// progress line derives: where the data came from (RUN/data.json, so `gpt train
// --resume RUN` and `gpt eval --ckpt RUN` need no --data), the best-val checkpoint's
// name, FLOPs per token and the FMA peak for MFU. The checkpoint format is untouched.
#pragma once
#include <optional>
#include <string>

#include "backend.h"
#include "cli.h"
#include "formats/checkpoint.h"
#include "config.h"
#include "formats/json.h"

namespace gpt {

constexpr const char* kDataSourceFile = "data.json";
constexpr const char* kRunSettingsFile = "run.json";  // {"dtype": "bf16", ...}: what --resume keeps
constexpr const char* kSamplesFile = "samples.txt";    // train --sample-every's samples
constexpr const char* kBestFile = "best.bin";  // weights + tokenizer at the lowest val loss

// The run directory of `run`: itself, or a checkpoint file's directory ("" stays "").
std::string run_dir(const std::string& run);

// A prepared directory (DIR/train.bin, DIR/val.bin, DIR/tokenizer.bin) or llm.c's globs.
struct DataSource {
  std::string dir, train_glob, val_glob;
  bool empty() const { return dir.empty() && train_glob.empty(); }
  std::string name() const { return dir.empty() ? train_glob : dir; }
};

// --data / --train-glob / --val-glob as given (empty when none is).
DataSource data_source_from_flags(const Args& a);
// RUN/data.json with absolute paths (written atomically); RUN/data.json read back, or
// nothing when the run has none (a run from before this file existed).
void save_data_source(const std::string& run, const DataSource& s);
std::optional<DataSource> load_data_source(const std::string& run);
// The flags if any are given, else what `run` remembers (run may be "" or a checkpoint
// file, whose directory is used). `what` names the command for the error when neither.
DataSource resolve_data_source(const Args& a, const std::string& run, const std::string& what);

// train --sample-every: a sample every N steps (0 = never) of `tokens` tokens,
// continuing `prompt` (none: a newline, as `gpt sample` without --prompt).
struct SampleSettings {
  int every = 0;
  int tokens = 200;
  std::optional<std::string> prompt;
  std::string prompt_source = "--sample-prompt";  // or RUN/run.json, for messages about the prompt
};

// RUN/run.json: the run's --dtype, --zero and --sample-* settings, so `--resume RUN`
// trains on in the same precision and samples as it did (the checkpoint holds fp32
// master weights either way), and the number of processes it trained on last, for the
// note when a resume runs on another number (the global batch changes). Written
// atomically; a run.json without the sample keys (older runs) reads as no samples.
struct RunSettings {
  std::string path;  // RUN/run.json, for messages
  Dtype dtype = Dtype::fp32;
  SampleSettings sample;          // prompt_source names run.json
  std::optional<int> processes;   // absent in runs from before the key (or unreadable: only a note uses it)
  std::optional<int> zero;        // absent in runs from before the key
  Json file;                      // the whole object: keys this version does not know are written back
};
// Read and checked once (a fault names the file and the key); nothing when the run has
// no run.json (a run from before the file existed). `run` may be a checkpoint file.
std::optional<RunSettings> load_run_settings(const std::string& run);
// Writes RUN/run.json; `kept`: what the run had, whose other keys stay. `continues`: the
// --resume A of `--resume A --out RUN`, kept as "continues" (absolute), so that a RUN stopped
// before its first checkpoint can name it (continues_of).
void save_run_settings(const std::string& run, Dtype t, const SampleSettings& s, int processes, int zero,
                       const std::optional<RunSettings>& kept = std::nullopt, const std::string& continues = "");
// RUN/run.json's "continues" (nothing when it has none, or cannot be read).
std::optional<std::string> continues_of(const std::string& run);
// --dtype if given, else what the run remembers (`had`), else fp32; `run` names it in the
// note when --dtype switches a remembered precision.
Dtype resolve_dtype(const Args& a, const std::optional<RunSettings>& had, const std::string& run);
// Each --sample-* flag if given, else what the run remembers, else the defaults (checked).
SampleSettings resolve_sample_settings(const Args& a, const std::optional<RunSettings>& had);
// --zero if given, else what the run remembers, else 0 (checked: 0 or 1).
int resolve_zero(const Args& a, const std::optional<RunSettings>& had);

// What metrics.jsonl says so far (a resumed run's kept lines): the last train and val
// losses and the lowest val loss (best.bin's).
struct LoggedLosses {
  std::optional<double> last_train, last_val, best_val;
  std::optional<double> last_val_step;  // the step of last_val
  std::optional<double> best_val_train;  // the train loss on best_val's line
  // The step of the last line marked "val_given_up":true (a stop gave up that step's
  // evaluation; the resume measures it first).
  std::optional<double> given_up_step;
};
LoggedLosses logged_losses(const std::string& metrics_path);
// No line train writes to metrics.jsonl comes near this; a longer one is damage.
constexpr size_t kMetricsLineMax = size_t(1) << 20;
std::string loss_text(double loss);  // "1.2345"
// `--ckpt RUN` reads RUN/checkpoint.bin, the latest step, not best.bin: for a run
// directory whose best.bin is another model (metrics.jsonl's best val was not logged
// at the checkpoint's step), one stderr line says which was read and where the best
// model is (sample, eval, export, attention, posenc --kind learned, train --init: flag
// names the flag that gave it).
void note_latest_checkpoint(const std::string& ckpt_arg, const Checkpoint& ck, const char* flag = "--ckpt");
// On --resume: one line on stderr when the flags change the learning rate at the
// resumed step (e.g. a larger --steps re-stretches the cosine decay); nothing otherwise.
void note_schedule_change(const TrainConfig& before, const TrainConfig& now, int step);
// On --resume: one line on stderr naming every other training setting the flags change
// (batch, grad-accum, optimizer, sampling, seed, evaluation), and what follows from it:
// sequential data continue at the same token; val losses are measured on other windows,
// so they and best.bin's are not comparable with those before. Nothing when none changes.
void note_training_change(const TrainConfig& before, const TrainConfig& now, int step);
// On --resume on another number of processes than the run's last (`had`, from run.json):
// one line with the tokens per step before and now, and the --grad-accum that keeps the
// global batch when one does. Nothing when the number is the same or unknown.
void note_process_change(const TrainConfig& before, const TrainConfig& now, int context,
                         std::optional<int> had, int processes);
// The header's " (N passes over the train tokens)" for the tokens --steps will read,
// so that a newcomer sees how often the model sees each token (many passes: it learns
// the text by heart).
std::string passes_note(double tokens_trained, double train_tokens);
// --steps ending inside --warmup: the rate only rises and never reaches --lr; a note
// (empty when the run gets past its warmup).
std::string warmup_note(const TrainConfig& t);

// Training FLOPs per token, as `make bench` counts them: 6 x the matmul parameters
// (the 12 C^2 of each block and the tied classifier, padded vocabulary) + 6 L T C
// for attention's two products.
double training_flops_per_token(const GPTConfig& c);
// fp32 FMA throughput of all OpenMP threads, GFLOP/s, from independent FMA chains in
// registers for about `seconds` (a lower bound when other programs share the cores).
double measure_fma_peak_gflops(double seconds = 0.05);
// The peak a run's MFU is measured against: fp32's FMA peak, or for bf16 the bf16
// kernel's (AMX / VDPBF16PS; the FMA peak where bf16 runs on the generic kernel).
struct Peak {
  double gflops;
  std::string what;  // how it was obtained, for the header line
};
Peak measure_peak(Dtype t);
// The header line naming the peak ("" when peak is 0), and " | MFU 12.3%" for the
// progress line ("" when peak is 0).
std::string mfu_note(double flops_per_token, double peak_gflops, const std::string& what);
std::string mfu_text(double tokens_per_s, double flops_per_token, double peak_gflops);

}  // namespace gpt
