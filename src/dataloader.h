// Token shards in llm.c's format and the batches drawn from them.
// Shard: header of 256 int32 (magic 20240520, version 1, token count, rest 0),
// then the tokens as uint16. See data/README.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rng.h"

namespace gpt {

constexpr int32_t kShardMagic = 20240520;
constexpr int32_t kShardVersion = 1;
constexpr int kShardHeaderInts = 256;

// Reads a whole shard. Wrong magic/version, truncation, an empty file, a count
// that disagrees with the file size: gpt::Error naming the file, what was expected,
// what was found and what to do.
std::vector<uint16_t> read_shard(const std::string& path);
// Atomic (temp file, fsync, rename).
void write_shard(const std::string& path, const std::vector<uint16_t>& tokens);

enum class Sampling { random, sequential };

// Where a loader is, so a checkpoint can resume it exactly.
struct LoaderState {
  uint64_t batch_index = 0;  // batches drawn so far
  uint64_t rng_state = 0;    // SplitMix64 state (random sampling)
};

class DataLoader {
 public:
  // Needs at least B*T+1 tokens, else gpt::Error saying how many there are and
  // how to fix it (smaller --batch/--context, more text).
  DataLoader(const std::string& path, int B, int T, Sampling mode, uint64_t seed);
  // inputs, targets: B*T ints each; targets are inputs shifted by one.
  // sequential: batch k covers tokens [k*B*T, k*B*T + B*T + 1) (wrapping to 0 when
  //   fewer than B*T+1 tokens remain), row b starts at k*B*T + b*T  (llm.c's order).
  // random: each row starts at a uniform offset in [0, n - T - 1] (nanoGPT).
  void next_batch(int* inputs, int* targets);
  void reset();  // back to batch 0 and the initial RNG state
  LoaderState state() const { return {batch_index_, rng_.state}; }
  void set_state(const LoaderState& s);
  size_t num_tokens() const { return tokens_.size(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<uint16_t> tokens_;
  int B_, T_;
  Sampling mode_;
  uint64_t seed_;
  uint64_t batch_index_ = 0;
  uint64_t seq_pos_ = 0;  // sequential: start of the next batch
  SplitMix64 rng_;
};

// gpt prepare: reads `input` (UTF-8 text), builds the tokenizer (`tokenizer`:
// "char"; "bpe" or "unigram" trains SentencePiece with `vocab_size` tokens, 0 =
// kDefaultVocabSize; or the path of a tokenizer file to reuse), encodes the text,
// splits the tokens at (1 - val_fraction) (first part train, rest val; every
// token lands in one of them), writes DIR/train.bin, DIR/val.bin,
// DIR/tokenizer.bin and, for SentencePiece, DIR/tokenizer.model. Returns a
// one-paragraph summary for stdout.
constexpr int kDefaultVocabSize = 1024;
std::string prepare_data(const std::string& input, const std::string& outdir, const std::string& tokenizer,
                         double val_fraction, int vocab_size = 0);

}  // namespace gpt
