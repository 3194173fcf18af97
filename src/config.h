// GPTConfig (the model's shape) and TrainConfig (how it is trained), their
// defaults, validation, and the magic numbers of the file formats.
#pragma once
#include <cstdint>
#include <string>

namespace gpt {

enum class PosEnc { learned, sinusoidal, rope };
// The sinusoidal table's amplitude for new models (README, "Positional encodings").
constexpr float kSinusoidalScale = 0.1f;
std::string to_string(PosEnc p);
PosEnc parse_posenc(const std::string& s);  // gpt::Error (exit 2) listing the choices

struct GPTConfig {
  int max_seq_len = 128;       // context length T
  int vocab_size = 65;         // V
  int padded_vocab_size = 128; // Vp: V rounded up to a multiple of 128 (llm.c's rule)
  int num_layers = 4;          // L
  int num_heads = 4;           // NH
  int channels = 128;          // C
  PosEnc pos = PosEnc::learned;
  float dropout = 0.0f;
  // Amplitude of the sinusoidal table (unused by learned and RoPE). Token embeddings
  // start at std 0.02; a table of amplitude 1 drowned them (the loss sat at the unigram
  // level for ~300 steps). Checkpoints before version 3 were trained with 1 and keep it.
  float pos_scale = kSinusoidalScale;
};
int pad_vocab(int V);  // round up to a multiple of 128
// gpt::Error (exit 2) naming the offending setting: heads not dividing channels,
// context 0, odd head size with RoPE, dropout outside [0,1), ...
void validate(const GPTConfig& c);

enum class Schedule { cosine, constant };
enum class SamplingMode { random, sequential };

// The defaults here are the CLI's (cli.cpp shows and applies them from this struct).
struct TrainConfig {
  int batch = 16;
  int grad_accum = 1;
  float lr = 1e-3f;
  float min_lr = 1e-4f;
  int warmup = 100;
  Schedule schedule = Schedule::cosine;
  float weight_decay = 0.1f;
  float beta1 = 0.9f;
  float beta2 = 0.99f;
  float eps = 1e-8f;
  float grad_clip = 1.0f;  // 0 = off
  int steps = 2500;
  int eval_every = 250;  // 0 = never
  int eval_batches = 20;
  int log_every = 10;
  int save_every = 250;
  uint64_t seed = 1337;
  SamplingMode sampling = SamplingMode::random;
};
void validate(const TrainConfig& t);

// File-format magic numbers (see data/README.md).
constexpr uint32_t kCheckpointMagic = 0x67707463;  // "ctpg" little-endian: gpt.cc checkpoint
// 2 adds the data fingerprint (shards, tokens) to the loader position; 3 the sinusoidal
// table's amplitude (pos_scale; 1 in versions 1 and 2); 4 the lowest val loss so far
// (TrainState::best_val, so a resumed run knows what best.bin holds). All are still read.
constexpr uint32_t kCheckpointVersion = 4;
// llm.c's GPT-2 checkpoint (train_gpt2.py write_model, train_gpt2.c gpt2_build_from_checkpoint).
constexpr int32_t kLlmcMagic = 20240326;
constexpr int32_t kLlmcVersionFp32 = 3;  // float32 parameters
constexpr int32_t kLlmcVersionBf16 = 5;  // bfloat16 parameters (read only)

}  // namespace gpt
