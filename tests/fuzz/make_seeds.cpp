// Writes the seed corpora of the fuzz harnesses (tests/fuzz/fuzz_*.cpp) with gpt.cc's
// own writers: small checkpoints, llm.c files, safetensors + config.json, shards,
// tokenizer blobs, attention inputs, command-line numbers. Usage: fuzz_seeds OUTDIR
// (one subdirectory per harness). Small models on purpose: the fuzzer mutates bytes,
// and a seed of a few KB keeps each execution fast.
#include <cstdio>
#include <cstring>

#include "check.h"

#include "fileio.h"
#include "formats/checkpoint.h"
#include "formats/hf_gpt2.h"
#include "formats/json.h"
#include "formats/llmc.h"
#include "model.h"
#include "tensors.h"
#include "text/dataloader.h"
#include "text/tokenizer.h"

using namespace gpt;

namespace {

std::string out_dir;
int seeds_written = 0;

void seed(const std::string& harness, const std::string& name, const std::string& bytes) {
  const std::string dir = join_path(out_dir, harness);
  make_dirs(dir);
  write_file_atomic(join_path(dir, name), bytes);
  seeds_written++;
}

GPTConfig tiny(PosEnc pos, int vocab) {
  GPTConfig c;
  c.max_seq_len = 4;
  c.vocab_size = vocab;
  c.padded_vocab_size = pad_vocab(vocab);
  c.num_layers = 1;
  c.num_heads = 2;
  c.channels = 4;
  c.pos = pos;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUTDIR\n");
    return 2;
  }
  out_dir = argv[1];
  try {
    const std::string text = "To be, or not to be: that is the question.\nCaf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87\n";
    const auto chars = build_char_tokenizer(text);
    const std::string tmp = join_path(out_dir, "tmp.bin");
    make_dirs(out_dir);

    // gpt.cc checkpoints: three position encodings, with and without optimizer state and tokenizer.
    int k = 0;
    for (const PosEnc pos : {PosEnc::learned, PosEnc::sinusoidal, PosEnc::rope}) {
      GPT<float> model(tiny(pos, chars->vocab_size()));
      model.init_weights(7);
      TrainConfig tc;
      TrainState st;
      st.step = 3 + k;
      st.loader = {5, 99, 1000, 12345};
      save_checkpoint(tmp, model, tc, st, k == 0 ? chars->serialize() : std::string(), k != 1);
      seed("checkpoint", "ck" + std::to_string(k++), read_file(tmp));
    }
    // llm.c checkpoints (version 3) and a bfloat16 one (version 5: halves after the header).
    {
      const GPTConfig c = tiny(PosEnc::learned, 10);
      GPT<float> model(c);
      model.init_weights(3);
      const std::string f32 = llmc_bytes(c, model.read(Store::params).data());
      seed("llmc", "v3", f32);
      std::string bf16 = f32.substr(0, 1024);
      bf16[4] = 5;
      for (size_t i = 1024; i + 4 <= f32.size(); i += 4) bf16 += f32.substr(i + 2, 2);
      seed("llmc", "v5", bf16);
    }
    // safetensors + config.json: uint16 config length, config, then the .safetensors bytes.
    {
      const GPTConfig c = tiny(PosEnc::learned, 10);
      GPT<float> model(c);
      model.init_weights(4);
      const std::string st = hf_gpt2_safetensors(c, model.read(Store::params).data());
      const std::string cfg = hf_gpt2_config(c).dump(2);
      std::string with = {char(cfg.size() & 0xFF), char(cfg.size() >> 8)};
      seed("safetensors", "with_config", with + cfg + st);
      seed("safetensors", "no_config", std::string("\xff\xff", 2) + st);
    }
    // Shards.
    {
      std::vector<uint16_t> tokens;
      for (int i = 0; i < 40; i++) tokens.push_back(uint16_t((i * 7) % 300));
      write_shard(tmp, tokens);
      seed("shard", "forty", read_file(tmp));
      tokens.resize(9);
      write_shard(tmp, tokens);
      seed("shard", "nine", read_file(tmp));
    }
    // Tokenizer blobs: char, SentencePiece (BPE and unigram, blob and .model), llm.c.
    std::string llmc_tok;
    {
      const std::vector<std::string> pieces = {"!", "a", "b", " the", "\xe4\xb8\xad", "<|endoftext|>"};
      std::string h(1024, '\0');
      const uint32_t head[4] = {20240328u, 2u, uint32_t(pieces.size()), uint32_t(pieces.size() - 1)};
      std::memcpy(&h[0], head, sizeof head);
      for (const auto& p : pieces) h += char(p.size()) + p;
      llmc_tok = h;
      seed("llmc_tokenizer", "v2", h);
      std::string v1 = h;
      v1[4] = 1;
      seed("llmc_tokenizer", "v1", v1);
    }
    seed("tokenizer", "char", chars->serialize());
    seed("tokenizer", "llmc", load_llmc_tokenizer(llmc_tok, "seed")->serialize());
    if (have_sentencepiece()) {
      std::string corpus;
      for (int i = 0; i < 40; i++) corpus += text;
      for (const char* type : {"bpe", "unigram"}) {
        SentencePieceOptions o;
        o.model_type = type;
        o.vocab_size = 285;  // the text allows 282..287
        o.threads = 1;
        const auto spm = train_sentencepiece(corpus, o);
        seed("tokenizer", std::string("spm_") + type, spm->serialize());
        seed("tokenizer", std::string("model_") + type, spm->native_file());
      }
    }
    // Attention inputs: the examples, and one written by the JSON writer.
    for (const char* ex : {"two_tokens", "why_scale", "causal_two_heads"}) {
      const std::string path = std::string(GPT_SOURCE_DIR "/examples/attention/") + ex + ".json";
      if (file_exists(path)) seed("attention", ex, read_file(path));
    }
    {
      Json j = Json::object();
      Json q = Json::array();
      q.push(Json::array({Json::number(1), Json::number(-0.5)}));
      q.push(Json::array({Json::number(2e-3), Json::number(3)}));
      j.set("Q", q);
      j.set("K", q);
      j.set("V", q);
      j.set("heads", Json::integer(1));
      j.set("causal", Json::boolean(true));
      seed("attention", "qkv", j.dump(2));
    }
    // Command-line numbers (a value, or argv words separated by newlines).
    const char* numbers[] = {"1", "-5", "1e-3", "0x10", "18446744073709551615", "-0", "inf", "nan", " 7",
                             "2147483648", "1.5e308", "--lr\n3e-4\n--steps\n100\n--batch\n8",
                             "--dropout\n0.1\n--seed\n42\n--threads\n0"};
    k = 0;
    for (const char* n : numbers) seed("numbers", "n" + std::to_string(k++), n);
    std::remove(tmp.c_str());
  } catch (const gpt::Error& e) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
    return 1;
  }
  std::printf("fuzz_seeds: %d seeds in %s\n", seeds_written, out_dir.c_str());
  return 0;
}
