// gpt eval: the loss of a model on a whole split, without training: every
// (batch x context) window of the val shards in llm.c's order, the same pass
// `gpt train --eval-batches 0` makes. Data: --data / --val-glob, else what the run
// remembers (RUN/data.json).
#include <cmath>
#include <cstdio>
#include <optional>
#include <memory>

#include "check.h"
#include "commands/common.h"
#include "commands/run_info.h"
#include "fileio.h"
#include "formats/model_io.h"
#include "model.h"
#include "text/dataloader.h"
#include "text/tokenizer.h"

namespace gpt {

int cmd_eval(const Args& a) {
  const DeviceKind device = device_from_flags(a);
  apply_threads(a);
  const std::string model_path = a.require("ckpt");
  const std::string split = a.str("split");
  if (split != "val" && split != "train") GPT_USAGE_FAIL("--split: choose val or train, got '", split, "'");
  ModelFormat format;
  const Checkpoint ck =
      load_model(model_path, heads_flag(a), &format);
  note_latest_checkpoint(model_path, ck);
  const GPTConfig& mc = ck.model;
  // The split reads one source: its glob, else DIR. A flag it does not read was dropped
  // without a word (--data DIR --val-glob P evaluated P; --train-glob with the val split
  // left the run's remembered data unused and then asked for data).
  {
    const DataSource given = data_source_from_flags(a);
    const std::string own = split == "val" ? "--val-glob" : "--train-glob";
    const std::string other = split == "val" ? "--train-glob" : "--val-glob";
    if (!(split == "val" ? given.train_glob : given.val_glob).empty())
      GPT_USAGE_FAIL(other, " is read only with --split ", split == "val" ? "train" : "val", "; the ", split,
                     " split is --data DIR (its ", split, ".bin) or ", own, " PATTERN");
    if (!given.dir.empty() && !(split == "val" ? given.val_glob : given.train_glob).empty())
      GPT_USAGE_FAIL("--data and ", own, " both name the ", split, " split (", join_path(given.dir, split + ".bin"),
                     " or the shards of ", own, "); give one");
  }
  const DataSource src = resolve_data_source(a, format == ModelFormat::gptcc ? model_path : "", "gpt eval");
  std::vector<std::string> paths;
  const std::string& glob = split == "val" ? src.val_glob : src.train_glob;
  if (!glob.empty()) {
    paths = glob_files(glob, split == "val" ? "--val-glob" : "--train-glob");
  } else if (!src.dir.empty()) {
    if (!is_directory(src.dir))
      GPT_FAIL(src.dir, ": not a directory; expected the output of `gpt prepare` (train.bin, val.bin)");
    paths = {join_path(src.dir, split + ".bin")};
    // A model's directory given as data ("RUN/val.bin: missing; gpt prepare writes it").
    if (!file_exists(paths[0]) && holds_model(src.dir))
      GPT_USAGE_FAIL("--data ", src.dir, ": is a model's directory, not data of `gpt prepare`; evaluate it with --ckpt ",
                     src.dir, " (a run of gpt train reads the data it trained on without --data)");
    if (!file_exists(paths[0])) GPT_FAIL(paths[0], ": missing; `gpt prepare` writes it (--val-fraction > 0 for val)");
  } else {
    GPT_USAGE_FAIL("gpt eval: no ", split, " data: pass --data DIR or --", split, "-glob PATTERN");
  }
  // The data's tokenizer (DIR's, or the one `gpt prepare` wrote beside the globbed shards,
  // the same in each of their directories: unlooked for, data of another tokenizer of the
  // same size gave a loss and exit 0).
  const std::string tok_dir = glob.empty() ? data_tokenizer_dir(src.dir, {}) : data_tokenizer_dir("", paths);
  const std::string tok_file = join_path(tok_dir, kTokenizerFile);
  if (!ck.tokenizer.empty() && !tok_dir.empty() && Tokenizer::load_dir(tok_dir)->serialize() != ck.tokenizer)
    GPT_FAIL(tok_file, ": differs from the model's tokenizer; these data were prepared with another tokenizer "
             "than the model was trained on: prepare the text with the model's (`gpt prepare --input TEXT --out DIR "
             "--tokenizer ", model_path, "`) and evaluate on that");
  // Batch: the training run's (so the figure equals its --eval-batches 0 validation).
  const bool own_batch = format == ModelFormat::gptcc && ck.train.batch > 0;
  const int B = a.has("batch") ? a.integer("batch") : own_batch ? ck.train.batch : 8;
  const int T = mc.max_seq_len;
  if (B < 1) GPT_USAGE_FAIL("--batch must be >= 1, got ", B);
  DataLoader loader(paths, B, T, SamplingMode::sequential, 0, mc.vocab_size);
  // The run's own data (data.json) prepared again since: its val.bin may hold text the
  // model trained on. Train shards are what the checkpoint fingerprints.
  // (--val-glob alone is data given too: the note named "" and compared nothing.)
  const DataSource given = data_source_from_flags(a);
  if (format == ModelFormat::gptcc && given.empty() && given.val_glob.empty() && ck.state.loader.data_id != 0) {
    std::vector<std::string> train;
    if (!src.train_glob.empty()) train = glob_files(src.train_glob, "--train-glob");
    else if (!src.dir.empty() && file_exists(join_path(src.dir, "train.bin"))) train = {join_path(src.dir, "train.bin")};
    try {
      const std::optional<DataLoader> then =
          train.empty() ? std::nullopt : std::make_optional<DataLoader>(train, 1, 1, SamplingMode::sequential, 0);
      const LoaderState now = then ? then->state() : LoaderState{};
      if (!then || !then->holds(ck.state.loader.data_id))
        std::fprintf(stderr, "note: %s has changed since this run trained on it (its train shards: %s tokens then, "
                     "%s now): it was prepared again, so the %s split may hold text the model trained on and this "
                     "loss is not the run's\n", src.name().c_str(), format_count(double(ck.state.loader.data_tokens)).c_str(),
                     train.empty() ? "none" : format_count(double(now.data_tokens)).c_str(), split.c_str());
    } catch (const Error&) {  // train shards unreadable: nothing to compare, the eval itself goes on
    }
  }
  GPT<float> model(mc, device, parse_dtype(a.str("dtype")));
  load_weights(model, ck, false);
  std::vector<int> in(size_t(B) * T), tg(size_t(B) * T);
  const uint64_t n = loader.batches_per_pass();
  Stopwatch sw;
  double sum = 0;
  double next_note = 5.0;  // progress on stderr every 5 s once it takes that long
  for (uint64_t i = 0; i < n; i++) {
    loader.next_batch(in.data(), tg.data());
    const float batch_loss = *model.forward(in.data(), tg.data(), B, T, false);
    if (!std::isfinite(batch_loss))  // (it printed "val loss -nan" and exited 0)
      GPT_FAIL(model_path, ": the loss of batch ", i + 1, " is ", batch_loss, ": ",
               forward_overflows("no loss to report"));
    sum += batch_loss;
    const double t = sw.seconds();
    if (t >= next_note && i + 1 < n) {
      next_note = t + 5.0;
      std::fprintf(stderr, "eval: %s of %s batches, loss so far %.4f, ETA %s\n", format_count(double(i + 1)).c_str(),
                   format_count(double(n)).c_str(), sum / double(i + 1),
                   format_duration(t / double(i + 1) * double(n - i - 1)).c_str());
    }
  }
  const double loss = sum / double(n);
  // A run's logged val loss is this figure only with --eval-batches 0; its own estimate
  // from N random batches differs a little, and the two were taken for a contradiction.
  if (format == ModelFormat::gptcc && split == "val" && ck.train.eval_batches > 0 && ck.train.eval_every > 0)
    std::fprintf(stderr, "note: the run logged its val loss from %s of random windows (--eval-batches %d); this is "
                 "every window of the split, so the two differ a little (train with --eval-batches 0 to log this "
                 "figure)\n", count(ck.train.eval_batches, "batch").c_str(), ck.train.eval_batches);
  std::printf("%s loss %.4f (perplexity %.2f) over %s %s of %d x %d tokens (%s %s of %s) in %s%s\n",
              split.c_str(), loss, std::exp(loss), format_count(double(n)).c_str(), plural(double(n), "batch").c_str(),
              B, T, format_count(double(n) * B * T).c_str(), plural(double(n) * B * T, "token").c_str(),
              glob.empty() ? paths[0].c_str() : glob.c_str(),
              format_duration(sw.seconds()).c_str(), dtype_note(model.dtype(), device).c_str());
  return 0;
}

}  // namespace gpt
