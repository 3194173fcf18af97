// GPT-2 in Hugging Face transformers' layout (GPT2LMHeadModel): tensor names,
// shapes and transposes, and config.json, on top of the safetensors container.
// A gpt.cc model with learned positions maps onto it one to one (the same
// arithmetic: see llmc.cpp's opening comment); HF's Conv1D keeps weights as
// (in, out), the transpose of our (out, in). Name by name in data/README.md.
// Not here: tokenizers (tokenizer.json / vocab.json), sharded checkpoints,
// GPT-2 variants with other activations or untied heads (refused, not guessed).
#pragma once
#include <optional>
#include <string>

#include "formats/checkpoint.h"
#include "formats/json.h"

namespace gpt {

constexpr const char* kSafetensorsFile = "model.safetensors";
constexpr const char* kHfConfigFile = "config.json";

// `file_or_dir`: a .safetensors file (a config.json beside it is used when present)
// or a directory holding model.safetensors (+ config.json). Names may carry the
// "transformer." prefix (save_pretrained) or not (the hub's original gpt2 files);
// the causal-mask buffers h.N.attn.bias / h.N.attn.masked_bias are skipped. Any
// missing, mis-shaped or unknown tensor is an error naming it. Without config.json
// the shape is read from the tensors, except the head count: `heads` then, else an
// error explaining why. The vocabulary is padded to a multiple of 128 (zero rows).
Checkpoint load_hf_gpt2(const std::string& file_or_dir, std::optional<int> heads);

// Writes DIR/model.safetensors (F32, names with the "transformer." prefix, wte
// unpadded (V, C), no lm_head: tied) and DIR/config.json, so that
// GPT2LMHeadModel.from_pretrained(DIR) loads the model. `cfg` must use learned
// positions. Returns the safetensors file's size in bytes.
// bos/eos: the tokenizer's (Tokenizer::bos_id/eos_id); without one, GPT-2's
// <|endoftext|> (50256) for a 50257-token vocabulary, else none (null in config.json).
struct SpecialTokens {
  std::optional<int> bos, eos;
};
size_t export_hf_gpt2(const std::string& dir, const GPTConfig& cfg, const float* params,
                      std::optional<SpecialTokens> special = std::nullopt);

// The bytes of model.safetensors and the config.json object export_hf_gpt2 writes.
std::string hf_gpt2_safetensors(const GPTConfig& cfg, const float* params);
Json hf_gpt2_config(const GPTConfig& cfg, std::optional<SpecialTokens> special = std::nullopt);

}  // namespace gpt
