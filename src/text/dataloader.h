// Token shards in llm.c's format and the batches drawn from them (one shard or
// llm.c's numbered shards).
// Shard: header of 256 int32 (magic 20240520, version 1, token count, rest 0),
// then the tokens as uint16. See data/README.md.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "fileio.h"
#include "rng.h"
#include "text/tokenizer.h"

namespace gpt {

constexpr int32_t kShardMagic = 20240520;
constexpr int32_t kShardVersion = 1;
constexpr int kShardHeaderInts = 256;

// Reads a whole shard. Wrong magic/version, truncation, an empty file, a count
// that disagrees with the file size: gpt::Error naming the file, what was expected,
// what was found and what to do.
std::vector<uint16_t> read_shard(const std::string& path);
// A shard's header counts its tokens in an int32: at most this many.
constexpr size_t kMaxShardTokens = 2147483647;
// Atomic (temp file, fsync, rename).
void write_shard(const std::string& path, const std::vector<uint16_t>& tokens);
// What to do with text too large for one `gpt prepare` (for memory, or for a shard's
// 2^31-1 tokens): prepare it in parts that share the first part's tokenizer, and train
// on all of their shards.
std::string split_text_advice();
// Whether the shard at path holds these tokens (by its header's count and fingerprint,
// without reading the tokens; a shard without a fingerprint is read); nothing when the
// file is missing or not a valid shard.
std::optional<bool> shard_holds(const std::string& path, const std::vector<uint16_t>& tokens);

// Which part of every batch this process reads when training runs on `world`
// processes (data parallel); rank 0 of 1 reads everything.
struct Partition {
  int rank = 0;
  int world = 1;
};

// Where a loader is, so a checkpoint can resume it exactly.
struct LoaderState {
  uint64_t batch_index = 0;  // batches drawn so far
  uint64_t rng_state = 0;    // SplitMix64 state (random sampling)
  // Which data the position refers to (0 = unknown, e.g. a version 1 checkpoint):
  // total tokens and a fingerprint of the shard list (file names, token counts and the
  // tokens' fingerprints).
  uint64_t data_tokens = 0;
  uint64_t data_id = 0;
};

// Files matching a glob(3) pattern, sorted (llm.c's numbered shards, e.g.
// 'dir/fineweb_train_*.bin'). No match: gpt::Error naming `flag` and the pattern.
std::vector<std::string> glob_files(const std::string& pattern, const std::string& flag);

class DataLoader {
 public:
  // One shard, or several in the given order (memory-mapped, so shards larger than
  // memory work). Every shard needs at least B*T+1 tokens (sequential; random
  // sampling: T+1, one window), else gpt::Error saying how many there are and how to
  // fix it. vocab_size > 0: every token must be below
  // it, else gpt::Error naming the shard, the position and the id.
  // part: this process's share (see next_batch); B is per process.
  DataLoader(const std::vector<std::string>& paths, int B, int T, SamplingMode mode, uint64_t seed, int vocab_size = 0,
             Partition part = {});
  DataLoader(const std::string& path, int B, int T, SamplingMode mode, uint64_t seed, int vocab_size = 0,
             Partition part = {})
      : DataLoader(std::vector<std::string>{path}, B, T, mode, seed, vocab_size, part) {}
  // inputs, targets: B*T ints each; targets are inputs shifted by one.
  // sequential (llm.c's order): shard by shard; batch k of a shard covers its tokens
  //   [k*B*T, k*B*T + B*T + 1), row b starting at k*B*T + b*T; when fewer than B*T+1
  //   tokens remain, the next shard (after the last: the first again).
  // random (nanoGPT): each row a window of T+1 tokens inside one shard, uniform over
  //   all windows of all shards.
  // With world > 1 processes: sequential: rank r reads single-process batches k*world + r
  //   (inside a shard, llm.c's split: rows [r*B, (r+1)*B) of a block of world*B*T
  //   tokens), so the ranks read what one process with --grad-accum world reads, across
  //   shard ends and passes too; random windows: rank 0
  //   draws from the single-process stream, which every rank keeps; rank r > 0 from a
  //   stream keyed by its state at each batch and r (so the saved state is every rank's).
  void next_batch(int* inputs, int* targets);
  void reset();  // back to batch 0 and the initial RNG state
  // The position in single-process batches (every rank's together), so a run can
  // resume on another number of processes: sequential data continue at the same batch;
  // in random mode rank 0 continues the saved stream and rank r > 0 draws from streams
  // keyed by it and r, batch by batch.
  LoaderState state() const { return {batch_index_, rng_.state, num_tokens_, data_id_}; }
  // Refuses (gpt::Error) a state saved over other data (different shards or sizes).
  // saved_batch: the per-process --batch the state was saved with (0 = this one's). A
  // sequential run resumed with another --batch continues at the first new batch that
  // starts at or after the token where the saved one stopped (in the same shard and
  // pass), so no data are read twice and fewer than one new batch's are skipped.
  void set_state(const LoaderState& s, int saved_batch = 0);
  // The saved position (single-process batches of saved_batch rows) in batches of this
  // loader's B (the conversion set_state makes).
  uint64_t position_for_batch(uint64_t index, int saved_batch) const;
  // Whether a saved fingerprint (LoaderState::data_id) is of these data: this build's, or
  // the one before llm.c shards' tokens were fingerprinted (names and counts only).
  bool holds(uint64_t data_id) const { return data_id == data_id_ || data_id == legacy_id_; }
  size_t num_tokens() const { return num_tokens_; }           // all shards
  size_t num_shards() const { return shards_.size(); }
  // Sequential batches over all shards (may be 0 for a random-sampling loader).
  uint64_t batches_per_pass() const { return batch_end_.back(); }
  const std::string& path() const { return shards_[0].path; }  // the first shard

 private:
  struct Shard {
    std::string path;
    MappedFile file;
    const uint16_t* tokens = nullptr;  // inside file, after the header
    size_t n = 0;
  };
  std::vector<Shard> shards_;
  std::vector<uint64_t> batch_end_;   // cumulative sequential batches per shard
  std::vector<uint64_t> window_end_;  // cumulative random-window starts per shard
  size_t num_tokens_ = 0;
  uint64_t data_id_ = 0, legacy_id_ = 0;
  int B_, T_;
  SamplingMode mode_;
  Partition part_;
  uint64_t seed_;
  uint64_t batch_index_ = 0;  // single-process batches drawn (by every rank together)
  SplitMix64 rng_;
};

// gpt prepare (prepare.cpp): reads `input` -- a UTF-8 text file; a directory (every
// file below it, recursively, in byte order of the path, skipping names that start
// with '.', the output directory, gpt's own data and run directories, and files that
// are not UTF-8 text or are empty, which the summary lists); or a glob pattern (the
// files it matches, directories among them read as above, the same files skipped) --,
// builds the tokenizer (`tokenizer`: "char"; "bpe" or "unigram" trains SentencePiece
// with `vocab_size` tokens, 0 = kDefaultVocabSize; or the path of a tokenizer file to
// reuse) on the files' text (one after the other, a newline added after a file that
// does not end in one when another follows), encodes each file and splits its tokens
// at (1 - val_fraction) (first part train, rest val; every token lands in one of
// them), writes DIR/train.bin (the files' train parts in order), DIR/val.bin,
// DIR/tokenizer.bin and, for SentencePiece, DIR/tokenizer.model. Returns a
// one-paragraph summary for stdout. Encoding that runs longer than
// `progress_every_s` prints progress lines (share, MB/s, ETA) to stderr that often
// (a negative value: never).
constexpr int kDefaultVocabSize = 1024;
// Encoding works on pieces of at most this many bytes (char: cut at a character
// boundary; SentencePiece models prepare trains: at a line end), so memory follows
// the piece, not the text.
constexpr size_t kPrepareChunkBytes = size_t(4) << 20;
// prepare holds the text and its tokens in memory: about this many bytes per byte of text.
// (3.5 let a 50 MB char-level text pass the check and then run out: it needs 3.75-3.8.)
constexpr double kPrepareBytesPerTextByte = 4.0;
// gpt::Error (exit 1) naming `input` when `text_bytes` of text need more memory than
// `available` (nullopt: unknown, no check), before anything is read.
void require_prepare_memory(const std::string& input, uint64_t text_bytes, std::optional<double> available);
// reuse: the tokenizer to encode with (a model's, read by the caller); `tokenizer` then
// only names where it came from.
std::string prepare_data(const std::string& input, const std::string& outdir, const std::string& tokenizer,
                         double val_fraction, int vocab_size = 0, double progress_every_s = 5.0,
                         std::unique_ptr<Tokenizer> reuse = nullptr);

}  // namespace gpt
