// Text generation shared by `gpt sample` and `gpt train --sample-every`: a prompt
// turned into token ids, then tokens drawn one at a time through the model's KV-cache
// decoder, each passed on as text as it comes. The same model, prompt, seed and
// sampler settings give the same text in both commands.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "model.h"
#include "rng.h"
#include "sampler.h"
#include "text/tokenizer.h"
#include "threads.h"

namespace gpt {

struct Prompt {
  std::vector<int> ids;  // what the model is fed (all of it; generate keeps the last context)
  std::string text;      // what is printed before the sample (tokenizers that encode)
  std::vector<std::string> notes;  // for stderr: the prompt is empty, longer than the context, ...
};

// Text the user gave (`source`: a flag, "--text", or a file's name) -> ids. Text the
// tokenizer cannot encode is an error naming the source: exit 2 for a flag's value, the
// tokenizer's code for a file's content. A tokenizer that cannot encode at all keeps its
// own error (a limit of its file, exit 1).
std::vector<int> encode_text(const Tokenizer& tok, const std::string& text, const std::string& source);

// The prompt as token ids. tok may be null (the prompt is then token ids, as it is for
// a tokenizer that can only decode). have_prompt: a prompt was given (an empty one starts
// from a newline, as no prompt does). source names it in messages ("--prompt", a file).
// Without a tokenizer: no_tok_note goes into the notes, and no_tok_reason says why a
// prompt that is not token ids is refused. Bad ids or text: usage error.
Prompt encode_prompt(const Tokenizer* tok, int vocab_size, int context, bool have_prompt, const std::string& prompt,
                     const std::string& source, const std::string& no_tok_note, const std::string& no_tok_reason);

struct GenerateStats {
  double prefill_s = 0, gen_s = 0;
  size_t n_prefill = 0, n_generated = 0;
};

// Prints p (emit), then n_tokens drawn with sc and rng, each emitted as text when it is
// whole (a byte token may be half a character); ends with the stream's remainder and no
// newline. Past the context the cache is rebuilt from the last half of it. stop, when
// given, is asked before each token: true ends the sample early.
void generate(GPT<float>& model, const Tokenizer* tok, const Prompt& p, int n_tokens, const SamplerConfig& sc,
              SplitMix64& rng, AdaptiveThreads& threads, const std::function<void(const std::string&)>& emit,
              GenerateStats* stats = nullptr, const std::function<bool()>& stop = {});

}  // namespace gpt
