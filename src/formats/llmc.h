// llm.c's GPT-2 checkpoint format (Karpathy's llm.c: written by train_gpt2.py
// `write_model` and train_gpt2.cu, read by `gpt2_build_from_checkpoint`): a header
// of 256 int32 then every parameter in llm.c's order, which is our tensor table's
// order (src/tensors.cpp). Byte layout in data/README.md. Not here: llm.c's
// optimizer-state and data-loader state files, Llama 3 checkpoints.
#pragma once
#include <string>

#include "formats/checkpoint.h"
#include "config.h"

namespace gpt {

constexpr int kLlmcHeaderInts = 256;

// Reads version 3 (float32) or 5 (bfloat16, widened exactly to float32). The model
// keeps the file's padded vocabulary. Every header field and the file length are
// checked; errors name the file, what was expected and what was found. The result
// has default training settings and no tokenizer (llm.c checkpoints carry none).
Checkpoint load_llmc(const std::string& path);

// Version 3 bytes exactly as llm.c writes them: header (magic, 3, maxT, V, L, NH, C,
// Vp, then zeros), then the float32 parameters little-endian. bf16: version 5, the
// parameters as little-endian bfloat16 rounded to nearest even (llm.c's mixed-precision
// file; load_llmc reads both). `cfg` must use learned positions (callers convert or
// refuse other encodings first: see model_io.h).
std::string llmc_bytes(const GPTConfig& cfg, const float* params, bool bf16 = false);

}  // namespace gpt
