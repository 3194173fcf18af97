// Small helpers shared by the subcommands: device and thread flags, timing,
// human-readable durations and counts.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend.h"
#include "cli.h"
#include "text/tokenizer.h"
#include "threads.h"

namespace gpt {

// --device: the device whose backend exists in this build and on this machine;
// otherwise a message saying what is missing and what to do (exit 2).
DeviceKind device_from_flags(const Args& a);
// ", bf16 matmuls (amx kernels)" for bf16 ("" for fp32): the header lines of train, eval, sample.
std::string dtype_note(Dtype t, DeviceKind device = DeviceKind::cpu);
// The most threads gpt starts: 8 per core, 64 at least.
int most_threads();
// The thread count of a command without --threads N: OMP_NUM_THREADS, else the cores;
// past most_threads(), the cores, with a note on stderr. Set as OpenMP's count and
// returned. run_cli sets it for every command that has no --threads flag.
int default_threads();
// --threads N: N threads, always (OpenMP's count is set). --threads 0 or absent: up to
// all cores (OMP_NUM_THREADS caps it), the count measured step by step (threads.h).
AdaptiveThreads thread_policy(const Args& a);
// The same flag for commands without repeated steps (gpt eval): N, or all cores.
void apply_threads(const Args& a);
// --out FILE of a command that writes one file (a picture): not empty and not a
// directory, checked before any work (the write at the end said "rename ... failed").
void require_output_file(const Args& a, const char* example);
std::string format_duration(double seconds);  // "3m12s"
std::string format_count(double x);           // "12,345"
// Characters in possibly-invalid UTF-8 (every byte that is not a continuation byte).
size_t count_chars(const std::string& s);
// Length of a valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_len(const std::string& s, size_t i);
// Bytes made visible, in double quotes: \n \t \r \" \\ escaped, other control bytes and
// bytes that are not part of a complete UTF-8 character as \xNN (a byte token <0xE2>
// shows as "\xE2"), characters that take no room on screen or pass for another (U+200D,
// U+FE0F, U+FEFF, U+00A0, combining marks, ...) as \u{200D}; printable characters as
// they are. *width: the number of characters the result takes on screen (roughly).
std::string visible(const std::string& s, size_t* width = nullptr);
// --out FILE of attention and posenc: writes the SVG (atomically) and says so; a name
// that does not end in .svg (x.png) gets a note that the file is SVG all the same.
void write_svg(const std::string& path, const std::string& svg);
// DIR holds a model (checkpoint.bin or model.safetensors): given where data belong, the
// message names the model flag.
bool holds_model(const std::string& dir);
// The directory whose tokenizer.bin is the data's: `dir` (--data) when it has one, else
// the first directory of `shards` (train, then val) that has one; "" when none has.
// Every such directory must hold the same tokenizer: shards of texts prepared with
// different tokenizers mixed by a glob fail, naming two (they trained on ids that mean
// other pieces in each, without a word).
std::string data_tokenizer_dir(const std::string& dir, const std::vector<std::string>& shards);
// --heads N of the commands that read a model: the head count of a .safetensors file
// without config.json (nullopt when not given).
std::optional<int> heads_flag(const Args& a);

// --tokenizer PATH of prepare, sample and tokenize: a tokenizer file (load_tokenizer_file),
// a data directory of `gpt prepare` (its tokenizer.bin), or a model (a run directory, a
// checkpoint, an export with its tokenizer beside it): the tokenizer it was trained with,
// checked against its vocabulary. *source: the file the tokenizer came from. A model
// without one: gpt::Error naming it and what lies beside it, then `no_tokenizer_hint`.
std::unique_ptr<Tokenizer> load_tokenizer_from(const std::string& path, std::string* source,
                                               const std::string& no_tokenizer_hint);
// `given` (from `given_source`, a --tokenizer) against the tokenizer stored with a model
// (`stored`, serialized, from `stored_source`): "" when they are the same, else a note
// that they differ and where (the first id whose piece differs, or the sizes, or "the same
// pieces, other rules"), for a command that then uses `given` all the same.
std::string tokenizer_mismatch_note(const Tokenizer& given, const std::string& given_source,
                                    const std::string& stored, const std::string& stored_source);

// A progress line ("step 10/200 | loss ... | ETA 3s") narrower than a terminal of `cols`
// columns, so that "\r" redraws it in place (a line that wraps leaves its first rows behind
// at each redraw; at 80 columns the ETA was never seen): "lr", then "MFU" dropped, "(avg)"
// shortened, "comm" and "val" dropped, in that order, then tok/s, until it fits, then cut. cols <= 0:
// as it is. keep_val: a line that stays (an evaluation's, its new val loss the news) keeps
// "val" and loses the ETA instead.
std::string fit_progress_line(const std::string& line, int cols, bool keep_val = false);

struct Stopwatch {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

}  // namespace gpt
