// Hugging Face `tokenizers` files (tokenizer.json + tokenizer_config.json) for gpt.cc's
// tokenizers, so that transformers' AutoTokenizer (and tokenizers.js) encode text to the
// ids gpt.cc's encode gives and decode them to the same text. Written by `gpt export --to
// safetensors`; gpt.cc itself never reads them (it reads its own tokenizer.bin / .model).
// A tokenizer whose behaviour the format cannot express is not converted (why_not says why).
#pragma once
#include <string>

#include "text/tokenizer.h"

namespace gpt {

constexpr const char* kHfTokenizerFile = "tokenizer.json";
constexpr const char* kHfTokenizerConfigFile = "tokenizer_config.json";

struct HfTokenizerFiles {
  std::string tokenizer_json;  // both empty when the tokenizer is not converted
  std::string config_json;
  std::string describe;  // "BPE, 300 tokens, 41 merges, byte fallback"
  std::string why_not;   // one line for the export's summary when not converted
  bool written() const { return !tokenizer_json.empty(); }
};

// char: a BPE model without merges (one token per character); a character not in
// the vocabulary is an error in `tokenizers` as in gpt.cc (its unk token "<unk>" is not
// in the vocabulary). SentencePiece BPE (merges derived from the pieces' scores) and
// unigram with byte fallback, identity normalization, with or without a dummy prefix.
// Not converted: llm.c's decode-only GPT-2 file, SentencePiece models without byte
// fallback, with other normalization or whitespace collapsing, user-defined or unused
// pieces, a piece that is not UTF-8 or a score that is NaN or infinite (JSON holds
// neither). `context`: model_max_length in tokenizer_config.json.
HfTokenizerFiles hf_tokenizer_files(const Tokenizer& tok, int context);

}  // namespace gpt
