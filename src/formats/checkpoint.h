// Checkpoints: model config, training config, weights, AdamW m and v, data-loader
// position and RNG state, and the tokenizer, in one file written atomically, so a
// run resumes bit-exactly. Format in data/README.md. Other formats: llmc.h, hf_gpt2.h,
// and model_io.h, which reads any of them.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "config.h"
#include "text/dataloader.h"
#include "model.h"

namespace gpt {

constexpr const char* kCheckpointFile = "checkpoint.bin";

struct TrainState {
  int64_t step = 0;           // optimizer steps completed
  LoaderState loader{};       // training loader position
  uint64_t tokens_seen = 0;
  double elapsed_s = 0.0;     // training wall time so far
  // The lowest val loss so far (what best.bin holds); NaN before the first evaluation
  // and in files before version 4.
  double best_val = std::numeric_limits<double>::quiet_NaN();
};

struct Checkpoint {
  GPTConfig model;
  TrainConfig train;
  TrainState state;
  std::string tokenizer;       // serialized tokenizer blob; empty when unknown
  std::vector<float> params;
  std::vector<float> m, v;     // empty when the file has no optimizer state
};

// RUN directory -> RUN/checkpoint.bin; a file path is returned as is.
std::string checkpoint_path(const std::string& run_or_file);
// AdamW's m and v whole, gathered from the processes that hold them in shards (ZeRO-1).
struct OptimizerState {
  std::vector<float> m, v;
};
// gathered: the whole m and v when the model holds only a shard (else read from it).
void save_checkpoint(const std::string& path, const GPT<float>& model, const TrainConfig& tc,
                     const TrainState& st, const std::string& tokenizer_blob, bool with_optimizer = true,
                     const OptimizerState* gathered = nullptr);
// The size of the file save_checkpoint writes for a model of n parameters and a tokenizer
// blob of tokenizer_bytes (with or without AdamW's m and v), for checks of the disk.
uint64_t checkpoint_file_bytes(uint64_t num_params, uint64_t tokenizer_bytes, bool with_optimizer);
// Bad magic / version / truncation / checksum: gpt::Error naming the file.
// with_optimizer = false leaves m and v empty (sampling, --init, export need weights only).
Checkpoint load_checkpoint(const std::string& run_or_file, bool with_optimizer = true);
// NaN or infinity anywhere in the weights (or in m, v; v must also be >= 0):
// gpt::Error naming `source`, the tensor, its layer and the element, so a damaged
// or diverged model is refused at load instead of sampling garbage. Every loader
// (checkpoint, llm.c, safetensors) calls it.
void require_finite_weights(const Checkpoint& ck, const std::string& source);
// Index of the first non-finite value of p[0..n), or n when all are finite.
size_t first_non_finite(const float* p, size_t n);
// Where element `at` of the parameters is, for messages: "tensor fcb (layer 1, element 3)".
std::string param_location(const GPTConfig& c, size_t at);
// Copies weights (and m, v when present and wanted) into a model of the same shape,
// or, weights only, of a shorter context (a learned wpe keeps its first rows).
void load_weights(GPT<float>& model, const Checkpoint& ck, bool with_optimizer);

}  // namespace gpt
