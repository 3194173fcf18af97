// Model files of every kind gpt.cc reads, behind one call: its own checkpoints,
// llm.c checkpoints and Hugging Face GPT-2 safetensors, told apart by their first
// bytes (not their names); and the conversion every export starts with. The
// formats themselves live in checkpoint.*, llmc.*, safetensors.* and hf_gpt2.*.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/checkpoint.h"

namespace gpt {

enum class ModelFormat { gptcc, llmc, safetensors };
const char* to_string(ModelFormat f);  // "gpt.cc checkpoint", "llm.c checkpoint", "safetensors"
// A regular file's format by its first bytes; none for a directory, a missing file or
// other bytes (load_model names the path and what it found instead).
std::optional<ModelFormat> file_model_format(const std::string& path);

// RUN directory (checkpoint.bin), a directory with model.safetensors, or a file: a
// gpt.cc checkpoint, an llm.c checkpoint or a .safetensors file. Imported models
// come with default training settings and no tokenizer. `heads` is only needed for
// a safetensors file without config.json. Anything else: gpt::Error naming the path
// and the formats it could have been.
// Where `gpt export` puts the tokenizer beside a model, and where load_model looks
// for one when the format carries none: DIR/tokenizer.model or DIR/tokenizer.bin for
// a directory (or DIR/model.safetensors), X.tokenizer.model or X.tokenizer.bin for a
// file X.bin. SentencePiece is written as its .model, any other tokenizer as
// gpt.cc's tokenizer.bin blob.
std::vector<std::string> tokenizer_files_beside(const std::string& model_path);
// For a model that has no tokenizer, what lies beside it, for the message: "none beside
// it", or, where a Hugging Face tokenizer.json does (an export whose tokenizer.model or
// tokenizer.bin is gone), that gpt.cc does not read it and which files it reads.
std::string tokenizer_beside_note(const std::string& model_path);
// The marker `gpt export --to llmc --out X` keeps beside X while X and its tokenizer are
// being replaced: there, X is missing; load_model names the interrupted export.
inline std::string interrupted_export_marker(const std::string& model_file) { return model_file + ".exporting"; }

// Any model file; an llm.c or safetensors model gets the tokenizer found beside it
// (tokenizer_files_beside), if any, in Checkpoint::tokenizer. *model_file: the file the
// weights came from (RUN/checkpoint.bin for a run directory); *tokenizer_file: the one
// the tokenizer came from ("" when there is none), for messages.
Checkpoint load_model(const std::string& path, std::optional<int> heads = std::nullopt,
                      ModelFormat* format = nullptr, std::string* model_file = nullptr,
                      std::string* tokenizer_file = nullptr);

// A tokenizer (from `source`) of another size than the model's vocabulary belongs to
// another model: fewer tokens cannot decode every id the model samples, more would turn
// ids the model never saw into its input. gpt::Error naming source, both sizes and `hint`.
void require_tokenizer_fits(int tokenizer_size, int vocab, const std::string& source, const std::string& hint = "");

// The model as llm.c and transformers' GPT-2 need it, with a learned position table:
// learned models as they are; sinusoidal ones with their fixed table written into wpe
// (the same logits, now as a trainable table); RoPE refused (rotations of q and k
// cannot be expressed as an added table), naming `source` and the `target` format.
struct LearnedPositions {
  GPTConfig cfg;
  const float* params = nullptr;  // in cfg's layout
  bool baked = false;             // true: wpe holds the sinusoidal table
  std::vector<float> storage;     // owns the converted parameters when baked
};
LearnedPositions with_learned_positions(const Checkpoint& ck, const std::string& source, const std::string& target);

}  // namespace gpt
