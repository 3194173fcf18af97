// gpt sample: streams a continuation of a prompt, one token at a time, through
// the model's KV-cache decoder (the prefix is fed once, never recomputed).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>

#include "check.h"
#include "formats/checkpoint.h"
#include "commands/common.h"
#include "commands/run_info.h"
#include "fileio.h"
#include "model.h"
#include "formats/model_io.h"
#include "sampler.h"
#include "text/tokenizer.h"

namespace gpt {

int cmd_sample(const Args& a) {
  const DeviceKind device = device_from_flags(a);
  AdaptiveThreads threads = thread_policy(a);
  SamplerConfig sc;
  sc.temperature = float(a.real("temperature"));
  sc.top_k = a.integer("top-k");
  sc.top_p = float(a.real("top-p"));
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
  const std::string prompt = a.has("prompt-file") ? read_file(a.require("prompt-file")) : a.str("prompt");
  SplitMix64 rng(a.u64("seed"));

  // Any model file (model_io.h); llm.c and safetensors models carry no tokenizer.
  std::string model_tok_file;
  const std::optional<int> heads = a.has("heads") ? std::optional<int>(a.integer("heads")) : std::nullopt;
  const Checkpoint ck = load_model(a.require("ckpt"), heads, nullptr, nullptr, &model_tok_file);
  note_latest_checkpoint(a.require("ckpt"), ck);
  GPT<float> model(ck.model, device, parse_dtype(a.str("dtype")));
  load_weights(model, ck, false);
  const int V = ck.model.vocab_size, maxT = ck.model.max_seq_len;
  // The tokenizer: --tokenizer FILE, else the checkpoint's (if it has one).
  std::unique_ptr<Tokenizer> tok;
  std::string tok_source;
  if (a.has("tokenizer")) {
    tok_source = a.require("tokenizer");
    tok = load_tokenizer_file(tok_source);
  } else if (!ck.tokenizer.empty()) {
    tok_source = model_tok_file;
    tok = Tokenizer::deserialize(ck.tokenizer, tok_source);
  }
  if (tok)
    require_tokenizer_fits(tok->vocab_size(), V, tok_source,
                           a.has("tokenizer") ? ". Give the tokenizer the model was trained with (the one in the "
                                                "model's run or data directory)"
                                              : ". Give the tokenizer the model was trained with (--tokenizer FILE)");

  // Prompt -> ids; each sample prints it first.
  std::vector<int> ids;
  std::string prompt_text;  // what is printed before each sample
  if (tok && tok->can_encode()) {
    if (have_prompt && !prompt.empty()) {
      try {
        ids = tok->encode(prompt);
      } catch (const Error& e) {  // say which text (the message has the byte offset)
        throw Error(e.code, prompt_source + ": " + e.what());
      }
    } else {
      std::vector<int> nl;
      try {
        nl = tok->encode("\n");
      } catch (const Error&) {
      }
      ids = nl.empty() ? std::vector<int>{0} : nl;
      // The model needs a token to start from: say which when it is not what was asked.
      if (nl.empty())
        std::fprintf(stderr, "note: %s, and this tokenizer has no newline: the samples start from token 0 (%s)%s\n",
                     have_prompt ? "--prompt is empty" : "no --prompt", visible(tok->decode_token(0)).c_str(),
                     have_prompt ? ", not printed" : "");
      else if (have_prompt)
        std::fprintf(stderr, "note: --prompt is empty: the samples start from a newline (not printed)\n");
    }
    for (int id : ids) {
      if (id >= V) GPT_FAIL("prompt token id ", id, " is outside the model's vocabulary (", V, ")");
    }
    prompt_text = have_prompt ? prompt : tok->decode(ids);
  } else {
    if (!tok)
      std::fprintf(stderr, "note: %s has no tokenizer (none stored in it, none beside it), so the samples are token "
                   "ids; give the tokenizer it was trained with (--tokenizer FILE) for text\n",
                   a.require("ckpt").c_str());
    // No tokenizer, or one that can only decode: the prompt is token ids.
    std::istringstream in(have_prompt ? prompt : "0");
    std::string w;
    while (in >> w) {
      char* end = nullptr;
      long id = std::strtol(w.c_str(), &end, 10);
      if (*end || id < 0 || id >= V)
        GPT_USAGE_FAIL("--prompt: ",
                       tok ? "this tokenizer can only decode (" + tok->describe() + ")"
                           : std::string("this checkpoint has no tokenizer (give one with --tokenizer FILE)"),
                       ", so the prompt must be token ids 0..", V - 1, " separated by spaces; got '", w, "'");
      ids.push_back(int(id));
    }
    if (ids.empty()) ids.push_back(0);
  }
  if (ids.size() > size_t(maxT))
    std::fprintf(stderr, "note: the prompt is %zu tokens, longer than the model's context of %d; the model sees "
                 "its last %d tokens\n", ids.size(), maxT, maxT);

  std::vector<std::pair<float, int>> scratch;
  double prefill_s = 0, gen_s = 0;
  size_t n_prefill = 0;
  for (int sample = 0; sample < n_samples; sample++) {
    if (sample > 0) std::printf("---------------\n");
    Utf8Stream stream;  // tokens -> valid UTF-8 as they come
    if (tok && tok->can_encode()) {
      std::fputs(prompt_text.c_str(), stdout);
    } else if (tok) {
      // Through the stream: the prompt's last token may be half a character.
      for (int id : ids) std::fputs(tok->stream_token(id, stream).c_str(), stdout);
    } else {
      for (size_t i = 0; i < ids.size(); i++) std::printf(i ? " %d" : "%d", ids[i]);
    }
    std::fflush(stdout);

    // Feed the prompt (its last maxT tokens) through the cache.
    std::vector<int> ctx(ids.size() > size_t(maxT) ? ids.end() - maxT : ids.begin(), ids.end());
    Stopwatch prefill;
    const float* logits = nullptr;
    for (size_t i = 0; i < ctx.size(); i++) {
      ThreadStep timed(threads);
      logits = model.decode(ctx[i], int(i));
    }
    prefill_s += prefill.seconds();
    n_prefill += ctx.size();

    Stopwatch gen;
    for (int n = 0; n < n_tokens; n++) {
      const int next = sample_token(logits, V, sc, rng, scratch);
      if (tok) {
        // A byte token may be half a character: the stream prints it when it is whole.
        std::fputs(tok->stream_token(next, stream).c_str(), stdout);
      } else {
        std::printf(" %d", next);
      }
      std::fflush(stdout);
      if (n + 1 == n_tokens) break;
      ctx.push_back(next);
      if (int(ctx.size()) > maxT) {
        // Context full: keep the last half and rebuild the cache (positions shift).
        const int keep = std::max(1, maxT / 2);
        ctx.erase(ctx.begin(), ctx.end() - keep);
        for (size_t i = 0; i + 1 < ctx.size(); i++) {
          ThreadStep timed(threads);
          model.decode(ctx[i], int(i));
        }
      }
      ThreadStep timed(threads);
      logits = model.decode(next, int(ctx.size()) - 1);
    }
    std::printf("%s\n", stream.finish().c_str());
    std::fflush(stdout);
    gen_s += gen.seconds();
  }
  if (a.has("stats")) {
    const double s = gen_s;
    const int n_gen = n_tokens * n_samples;
    std::fprintf(stderr, "prompt: %zu tokens in %.1f ms (%.2f ms/token); generated: %d tokens in %.1f ms "
                 "(%.2f ms/token, %.1f tokens/s); %s%s\n",
                 n_prefill, prefill_s * 1e3, prefill_s * 1e3 / double(n_prefill),
                 n_gen, s * 1e3, n_gen ? s * 1e3 / n_gen : 0.0, n_gen ? n_gen / s : 0.0, threads.describe().c_str(),
                 model.dtype() == Dtype::bf16 ? "; bf16 weights" : "");
  }
  return 0;
}

}  // namespace gpt
