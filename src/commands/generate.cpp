// Prompt -> ids and the KV-cache generation loop (generate.h).
#include "commands/generate.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "check.h"
#include "commands/common.h"
#include "fileio.h"

namespace gpt {

namespace {
constexpr int kGpt2Vocab = 50257;  // GPT-2's vocabulary; its last token, 50256, is <|endoftext|>
}  // namespace

std::vector<int> encode_text(const Tokenizer& tok, const std::string& text, const std::string& source) {
  try {
    return tok.encode(text);
  } catch (const Error& e) {
    if (!tok.can_encode()) throw;
    throw Error(source.rfind("--", 0) == 0 ? kExitUsage : e.code, source + ": " + e.what());
  }
}

Prompt encode_prompt(const Tokenizer* tok, int V, int maxT, bool have_prompt, const std::string& prompt,
                     const std::string& source, const std::string& no_tok_note, const std::string& no_tok_reason) {
  Prompt p;
  if (tok && tok->can_encode()) {
    if (have_prompt && !prompt.empty()) {
      p.ids = encode_text(*tok, prompt, source);
    } else {
      std::vector<int> nl;
      try {
        nl = tok->encode("\n");
      } catch (const Error&) {
      }
      p.ids = nl.empty() ? std::vector<int>{0} : nl;
      // The model needs a token to start from: say which when it is not what was asked.
      if (nl.empty())
        p.notes.push_back(std::string(have_prompt ? source + " is empty" : "no " + source) +
                          ", and this tokenizer has no newline: the samples start from token 0 (" +
                          visible(tok->decode_token(0)) + ")" + (have_prompt ? ", not printed" : ""));
      else if (have_prompt)
        p.notes.push_back(source + " is empty: the samples start from a newline (not printed)");
    }
    for (int id : p.ids) {
      if (id >= V) GPT_FAIL("prompt token id ", id, " is outside the model's vocabulary (", V, ")");
    }
    p.text = have_prompt ? prompt : tok->decode(p.ids);
  } else {
    if (!tok)
      p.notes.push_back(no_tok_note);
    // No tokenizer, or one that can only decode: the prompt is token ids.
    std::istringstream in(have_prompt ? prompt : "");
    std::string w;
    while (in >> w) {
      char* end = nullptr;
      long id = std::strtol(w.c_str(), &end, 10);
      if (*end || id < 0 || id >= V)
        GPT_USAGE_FAIL(source, ": ",
                       tok ? "this tokenizer can only decode (" + tok->describe() + ")" : no_tok_reason,
                       ", so the prompt must be token ids 0..", V - 1, " separated by spaces; got '", w, "'");
      p.ids.push_back(int(id));
    }
    // Nothing to start from (no prompt, or an empty one). Token ids have no newline: a
    // GPT-2 vocabulary starts from <|endoftext|>, as llm.c's samples do; any other has no
    // token known to start a text, so one must be given.
    if (p.ids.empty()) {
      const std::string what = have_prompt ? source + " is empty" : "no " + source;
      if (V != kGpt2Vocab) {
        const std::string flag = source.rfind("--", 0) == 0 ? source
                                 : source.find("sample_prompt") != std::string::npos ? "--sample-prompt"
                                                                                     : "--prompt";
        GPT_USAGE_FAIL(what, ", and ", tok ? "this tokenizer can only decode (" + tok->describe() + ")" : no_tok_reason,
                       ": with no text there is no token to start from (the default newline has no id, and the "
                       "vocabulary of ", V, " tokens is not GPT-2's, whose <|endoftext|> ", kGpt2Vocab - 1,
                       " would be used); give ", flag, " with token ids 0..", V - 1, " separated by spaces");
      }
      p.ids.push_back(kGpt2Vocab - 1);
      p.notes.push_back(what + ": the samples start from token " + std::to_string(kGpt2Vocab - 1) +
                        " (GPT-2's <|endoftext|>, as llm.c's do)");
    }
  }
  if (p.ids.size() > size_t(maxT))
    p.notes.push_back("the prompt is " + std::to_string(p.ids.size()) + " tokens, longer than the model's context of " +
                      std::to_string(maxT) + "; the model sees its last " + count(maxT, "token"));
  return p;
}

void generate(GPT<float>& model, const Tokenizer* tok, const Prompt& p, int n_tokens, const SamplerConfig& sc,
              SplitMix64& rng, AdaptiveThreads& threads, const std::function<void(const std::string&)>& emit,
              GenerateStats* stats, const std::function<bool()>& stop) {
  const int V = model.config().vocab_size, maxT = model.config().max_seq_len;
  Utf8Stream stream;  // tokens -> valid UTF-8 as they come
  if (tok && tok->can_encode()) {
    emit(p.text);
  } else if (tok) {
    // Through the stream: the prompt's last token may be half a character.
    for (int id : p.ids) emit(tok->stream_token(id, stream));
  } else {
    std::string s;
    for (size_t i = 0; i < p.ids.size(); i++) s += (i ? " " : "") + std::to_string(p.ids[i]);
    emit(s);
  }

  // Feed the prompt (its last maxT tokens) through the cache.
  std::vector<int> ctx(p.ids.size() > size_t(maxT) ? p.ids.end() - maxT : p.ids.begin(), p.ids.end());
  Stopwatch prefill;
  const float* logits = nullptr;
  for (size_t i = 0; i < ctx.size(); i++) {
    ThreadStep timed(threads);
    logits = model.decode(ctx[i], int(i));
  }
  if (stats) stats->prefill_s += prefill.seconds(), stats->n_prefill += ctx.size();

  Stopwatch gen;
  std::vector<std::pair<float, int>> scratch;
  for (int n = 0; n < n_tokens; n++) {
    if (stop && stop()) break;
    const int next = sample_token(logits, V, sc, rng, scratch);
    // A byte token may be half a character: the stream gives it when it is whole.
    emit(tok ? tok->stream_token(next, stream) : " " + std::to_string(next));
    if (stats) stats->n_generated++;
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
  emit(stream.finish());
  if (stats) stats->gen_s += gen.seconds();
}

}  // namespace gpt
