// gpt sample: streams a continuation of a prompt, one token at a time, through
// the model's KV-cache decoder (the prefix is fed once, never recomputed).
#include <cerrno>
#include <stdio_ext.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "check.h"
#include "formats/checkpoint.h"
#include "commands/common.h"
#include "commands/run_info.h"
#include "fileio.h"
#include "model.h"
#include "formats/model_io.h"
#include "commands/generate.h"
#include "sampler.h"
#include "text/tokenizer.h"

namespace gpt {

int cmd_sample(const Args& a) {
  const DeviceKind device = device_from_flags(a);
  AdaptiveThreads threads = thread_policy(a);
  SamplerConfig sc;
  sc.temperature = float(a.real("temperature"));  // (below float's smallest: 0, greedy)
  sc.top_k = a.integer("top-k");
  sc.top_p = a.single("top-p");
  const int n_tokens = a.integer("tokens");
  if (sc.temperature < 0) GPT_USAGE_FAIL("--temperature must be >= 0 (0 = greedy), got ", sc.temperature);
  if (sc.top_k < 0) GPT_USAGE_FAIL("--top-k must be >= 0 (0 = off), got ", sc.top_k);
  if (!(sc.top_p > 0.0f && sc.top_p <= 1.0f)) GPT_USAGE_FAIL("--top-p must be in (0, 1], got ", sc.top_p);
  if (n_tokens < 0) GPT_USAGE_FAIL("--tokens must be >= 0, got ", n_tokens);
  const int n_samples = a.integer("num-samples");
  if (n_samples < 1) GPT_USAGE_FAIL("--num-samples must be >= 1, got ", n_samples);
  if (a.has("prompt") && a.has("prompt-file")) GPT_USAGE_FAIL("give --prompt or --prompt-file, not both");
  const bool have_prompt = a.has("prompt") || a.has("prompt-file");
  const std::string prompt_source = a.has("prompt-file") ? a.str("prompt-file") : "--prompt";
  const std::string prompt = a.has("prompt-file") ? read_file_at_most(a.require("prompt-file"), size_t(64) << 20, "a --prompt-file") : a.str("prompt");
  // A file that is no UTF-8 text (UTF-16, gzip, ...) is named as what it is, as prepare
  // names it (the encoder's invalid-UTF-8 error advises Latin-1, which garbles UTF-16).
  if (a.has("prompt-file") && (!is_utf8(prompt) || prompt.find('\0') != std::string::npos))
    if (const auto kind = what_is_not_utf8(prompt))
      GPT_FAIL(prompt_source, ": this is ", kind->what, "; --prompt-file reads UTF-8 text",
               kind->todo.empty() ? "" : "; " + kind->todo);
  SplitMix64 rng(a.u64("seed"));

  // Any model file (model_io.h); llm.c and safetensors models carry no tokenizer.
  std::string model_tok_file;
  const std::optional<int> heads = heads_flag(a);
  const Checkpoint ck = load_model(a.require("ckpt"), heads, nullptr, nullptr, &model_tok_file);
  note_latest_checkpoint(a.require("ckpt"), ck);
  GPT<float> model(ck.model, device, parse_dtype(a.str("dtype")));
  load_weights(model, ck, false);
  const int V = ck.model.vocab_size, maxT = ck.model.max_seq_len;
  // The tokenizer: --tokenizer FILE, else the checkpoint's (if it has one).
  std::unique_ptr<Tokenizer> tok;
  std::string tok_source;
  if (a.has("tokenizer")) {
    tok = load_tokenizer_from(a.require("tokenizer"), &tok_source, "; give a tokenizer file");
    // (refused first: a note on how it differs, then the refusal, said one thing twice)
    require_tokenizer_fits(tok->vocab_size(), V, tok_source,
                           ". Give the tokenizer the model was trained with (the one in the model's run or data "
                           "directory)");
    // Another model's tokenizer of the same size passes the size check and samples garbled text.
    if (!ck.tokenizer.empty())
      if (const std::string n = tokenizer_mismatch_note(*tok, tok_source, ck.tokenizer, model_tok_file); !n.empty())
        std::fprintf(stderr, "note: %s\n", n.c_str());
  } else if (!ck.tokenizer.empty()) {
    tok_source = model_tok_file;
    tok = Tokenizer::deserialize(ck.tokenizer, tok_source);
  }
  if (tok && !a.has("tokenizer"))
    require_tokenizer_fits(tok->vocab_size(), V, tok_source,
                           ". Give the tokenizer the model was trained with (--tokenizer FILE)");

  // Prompt -> ids; each sample prints it first.
  const std::string beside = tok ? std::string() : tokenizer_beside_note(a.require("ckpt"));  // (only read when none)
  const Prompt p = encode_prompt(tok.get(), V, maxT, have_prompt, prompt, prompt_source,
                                 a.require("ckpt") + " has no tokenizer (none stored in it, " + beside +
                                     "), so the samples are token ids; give the tokenizer it was trained with "
                                     "(--tokenizer FILE) for text",
                                 "this checkpoint has no tokenizer (none stored in it, " + beside +
                                     "; give one with --tokenizer FILE)");
  for (const std::string& n : p.notes) std::fprintf(stderr, "note: %s\n", n.c_str());

  GenerateStats stats;
  // Output that cannot be written (a full disk, /dev/full) stops the sampling at once, with
  // the reason (it sampled on, and main's check found errno gone: "a write failed").
  auto flush = [] {
    errno = 0;
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      const int e = errno;
      // Said here once: what stays buffered is dropped, so that main's own check on exit
      // does not say it again ("a write failed"; helper-41).
      __fpurge(stdout);
      std::clearerr(stdout);
      GPT_FAIL("cannot write to standard output (", e ? std::strerror(e) : "a write failed",
               "); the samples printed are incomplete");
    }
  };
  auto emit = [&](const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);  // every byte: a prompt or token may hold a NUL
    flush();
  };
  for (int sample = 0; sample < n_samples; sample++) {
    if (sample > 0) std::printf("---------------\n");
    generate(model, tok.get(), p, n_tokens, sc, rng, threads, emit, &stats);
    std::printf("\n");
    flush();
  }
  if (a.has("stats")) {
    const double s = stats.gen_s;
    const int n_gen = n_tokens * n_samples;
    // Per sample, times for all of them (a 1-token prompt read "prompt: 2 tokens" with --num-samples 2).
    const std::string each = n_samples > 1 ? str(" x ", n_samples, " samples") : "";
    std::fprintf(stderr, "prompt: %s in %.1f ms (%.2f ms/token); generated: %s in %.1f ms "
                 "(%.2f ms/token, %.1f tokens/s); %s%s\n",
                 (count(stats.n_prefill / n_samples, "token") + each).c_str(), stats.prefill_s * 1e3,
                 stats.prefill_s * 1e3 / double(stats.n_prefill), (count(n_tokens, "token") + each).c_str(), s * 1e3,
                 n_gen ? s * 1e3 / n_gen : 0.0, n_gen ? n_gen / s : 0.0, threads.describe().c_str(),
                 model.dtype() == Dtype::bf16 ? "; bf16 weights" : "");
  }
  return 0;
}

}  // namespace gpt
