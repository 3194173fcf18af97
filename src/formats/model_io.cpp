// Format detection and the learned-position conversion (see model_io.h).
#include "formats/model_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "check.h"
#include "fileio.h"
#include "formats/hf_gpt2.h"
#include "formats/hf_tokenizer.h"
#include "layers.h"
#include "formats/llmc.h"
#include "tensors.h"
#include "text/dataloader.h"
#include "text/tokenizer.h"

namespace gpt {

const char* to_string(ModelFormat f) {
  switch (f) {
    case ModelFormat::gptcc: return "gpt.cc checkpoint";
    case ModelFormat::llmc: return "llm.c checkpoint";
    case ModelFormat::safetensors: return "safetensors (Hugging Face GPT-2)";
  }
  return "?";
}

namespace {

// The first bytes of a regular file, and the format they are the magic of (if any).
struct Sniffed {
  unsigned char b[9] = {};
  size_t got = 0;
  std::optional<ModelFormat> format;
  int open_error = 0;  // errno of a file that cannot be opened (it read as an empty file)
};

Sniffed sniff(const std::string& path) {
  Sniffed s;
  errno = 0;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    s.open_error = errno ? errno : EIO;
    return s;
  }
  f.read(reinterpret_cast<char*>(s.b), 9);
  s.got = size_t(f.gcount());
  const unsigned char* b = s.b;
  const uint32_t u32 = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
  if (s.got >= 4 && u32 == kCheckpointMagic) s.format = ModelFormat::gptcc;
  else if (s.got >= 4 && int32_t(u32) == kLlmcMagic) s.format = ModelFormat::llmc;
  else if (s.got == 9 && b[8] == '{') s.format = ModelFormat::safetensors;  // u64 header length, then the JSON
  return s;
}

ModelFormat detect(const std::string& path) {
  if (is_directory(path)) {
    if (file_exists(join_path(path, kCheckpointFile))) return ModelFormat::gptcc;
    if (file_exists(join_path(path, kSafetensorsFile)) || file_exists(join_path(path, "model.safetensors.index.json")))
      return ModelFormat::safetensors;
    GPT_FAIL(path, ": holds neither ", kCheckpointFile, " (a run of `gpt train`) nor ", kSafetensorsFile,
             " (a Hugging Face GPT-2); pass a run directory, a checkpoint file, an llm.c .bin or a .safetensors file",
             file_exists(join_path(path, "train.bin"))
                 ? str(". It is a data directory of `gpt prepare` (it holds train.bin): data, not a model (`gpt eval` "
                       "takes data as --data ", path, ")")
                 : std::string());
  }
  if (!file_exists(path) && is_regular_file(interrupted_export_marker(path)))
    GPT_FAIL(path, ": not there: a `gpt export` to it was interrupted before it wrote the weights (",
             interrupted_export_marker(path), " says so); run that export again");
  if (!file_exists(path))
    GPT_FAIL(path, ": no such file or directory; expected a run directory of `gpt train --out RUN`, a checkpoint, "
             "an llm.c checkpoint (.bin) or a .safetensors file / directory");
  const Sniffed sn = sniff(path);
  if (sn.open_error)  // (helper-41: an unreadable model was "found an empty file (0 bytes)")
    GPT_FAIL(cannot_open_for_reading(path, sn.open_error));
  if (sn.format) return *sn.format;
  const unsigned char* b = sn.b;
  const size_t got = sn.got;
  // Files of gpt.cc's other kinds, named as what they are (a token shard printed a hex dump).
  const int32_t magic = got >= 4 ? int32_t(uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 |
                                           uint32_t(b[3]) << 24)
                                 : 0;
  if (magic == kShardMagic)
    GPT_FAIL(path, ": is a token shard (llm.c's data format, as `gpt prepare` writes train.bin and val.bin), not a "
             "model; give the model (a run directory or checkpoint) here, and data as --data ", parent_dir(path),
             " (or --val-glob PATTERN)");
  const bool gptcc_tokenizer = got >= 9 && std::memcmp(b, "gptcc-tok", 9) == 0;
  if (magic == kLlmcTokenizerMagic || gptcc_tokenizer)
    GPT_FAIL(path, ": is ", gptcc_tokenizer ? "a tokenizer (as `gpt prepare` writes tokenizer.bin)"
                                             : "an llm.c tokenizer file",
             ", not a model; give the model (a run directory or checkpoint) here (sample, tokenize and attention "
             "take a tokenizer file as --tokenizer ", path, ")");
  char found[64];
  std::snprintf(found, sizeof found, "%zu bytes", got);
  std::string hex;
  for (size_t i = 0; i < got && i < 9; i++) {
    char h[4];
    std::snprintf(h, sizeof h, " %02x", b[i]);
    hex += h;
  }
  GPT_FAIL(path, ": not a model file gpt.cc knows; expected a gpt.cc checkpoint (uint32 magic 0x67707463), an "
           "llm.c checkpoint (int32 magic ", kLlmcMagic, ") or a safetensors file (uint64 header length, then '{'); "
           "found ", got == 0 ? std::string("an empty file (0 bytes)") : got < 9 ? std::string(found) + ":"
                                                                                  : std::string("first bytes"), hex);
}

}  // namespace

std::optional<ModelFormat> file_model_format(const std::string& path) {
  if (!is_regular_file(path)) return std::nullopt;  // a FIFO or device would block
  return sniff(path).format;
}

std::vector<std::string> tokenizer_files_beside(const std::string& model_path) {
  std::string base = model_path;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  const auto slash = base.rfind('/');
  const std::string name = slash == std::string::npos ? base : base.substr(slash + 1);
  if (is_directory(base) || name == kSafetensorsFile) {
    const std::string dir = is_directory(base) ? base : (slash == std::string::npos ? "." : base.substr(0, slash));
    return {join_path(dir, kSentencePieceFile), join_path(dir, kTokenizerFile)};
  }
  const auto dot = name.rfind('.');
  if (dot != std::string::npos && dot > 0) base.resize(base.size() - (name.size() - dot));
  return {base + "." + kSentencePieceFile, base + "." + kTokenizerFile};
}

std::string tokenizer_beside_note(const std::string& model_path) {
  const std::vector<std::string> beside = tokenizer_files_beside(model_path);
  const std::string dir = parent_dir(beside[0]);
  const std::string json = join_path(dir, kHfTokenizerFile);
  if (beside[0] != join_path(dir, kSentencePieceFile) || !file_exists(json)) return "none beside it";
  return str("beside it only ", json, ", which gpt.cc does not read (it writes it for transformers): gpt.cc reads ",
             beside[0], " or ", beside[1], ", and neither is there; export the model again (`gpt export` writes "
             "one), or give the data directory it was trained on (its ", kTokenizerFile, ")");
}

Checkpoint load_model(const std::string& path, std::optional<int> heads, ModelFormat* format,
                      std::string* model_file, std::string* tokenizer_file) {
  const ModelFormat f = detect(path);
  if (format) *format = f;
  const std::string file = f == ModelFormat::gptcc ? checkpoint_path(path) : path;
  if (model_file) *model_file = file;
  if (tokenizer_file) tokenizer_file->clear();
  // A gpt.cc checkpoint: weights only; its tokenizer is inside.
  Checkpoint ck = f == ModelFormat::gptcc ? load_checkpoint(path, false)
                  : f == ModelFormat::llmc ? load_llmc(path)
                                           : load_hf_gpt2(path, heads);
  if (heads && *heads != ck.model.num_heads)  // (a safetensors config.json's n_head: checked in hf_gpt2)
    GPT_USAGE_FAIL("--heads ", *heads, " disagrees with ", path, " (", ck.model.num_heads,
                   " heads); drop --heads: it is for a .safetensors file without config.json");
  if (f == ModelFormat::gptcc && tokenizer_file && !ck.tokenizer.empty()) *tokenizer_file = file;
  if (f != ModelFormat::gptcc)
    for (const std::string& t : tokenizer_files_beside(path))
      if (file_exists(t)) {
        ck.tokenizer = load_tokenizer_file(t)->serialize();
        if (tokenizer_file) *tokenizer_file = t;
        break;
      }
  return ck;
}

void require_tokenizer_fits(int tokenizer_size, int vocab, const std::string& source, const std::string& hint) {
  if (tokenizer_size != vocab)
    GPT_FAIL(source, ": the tokenizer has ", tokenizer_size, " tokens, but the model's vocabulary has ", vocab,
             " (ids 0..", vocab - 1, "); they do not belong together", hint);
}

LearnedPositions with_learned_positions(const Checkpoint& ck, const std::string& source, const std::string& target) {
  LearnedPositions out;
  out.cfg = ck.model;
  switch (ck.model.pos) {
    case PosEnc::learned:
      out.params = ck.params.data();
      return out;
    case PosEnc::rope:
      GPT_FAIL(source, ": the model uses rotary position embeddings (RoPE), which ", target,
               " cannot represent: its GPT-2 adds a learned position table (wpe) to the token embeddings and has "
               "no rotations. Export a model trained with --pos learned (or sinusoidal)");
    case PosEnc::sinusoidal: break;
  }
  // Sinusoidal: the same fixed table the model adds (posenc.cpp), stored as wpe. The
  // encoder adds wte[token] + table[t] either way, so the logits are bit-identical.
  GPTConfig& c = out.cfg;
  c.pos = PosEnc::learned;
  const ParamLayout from = param_layout(ck.model), to = param_layout(c);
  out.storage.resize(to.total);
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    if (id == WPE) continue;
    GPT_CHECK(from.numel[id] == to.numel[id], "tensor sizes differ");
    std::memcpy(out.storage.data() + to.offset[id], ck.params.data() + from.offset[id], from.numel[id] * sizeof(float));
  }
  cpu::sinusoidal_table(out.storage.data() + to.offset[WPE], c.max_seq_len, c.channels, double(ck.model.pos_scale));
  out.params = out.storage.data();
  out.baked = true;
  return out;
}

}  // namespace gpt
