// llm.c checkpoints (see llmc.h and data/README.md, "llm.c model checkpoint").
//
// Why the weights mean the same thing here as in llm.c (train_gpt2.c, checked
// against our src/model.cpp and src/layers/): the same tensors in the same order and
// layout (matmul weights (OC, C), out = inp · W^T + b; qkv is q | k | v, heads
// contiguous inside each); LayerNorm with eps 1e-5 (layernorm.cpp); GELU, tanh
// approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) (gelu.cpp); attention
// scaled by 1/sqrt(head size); output head tied to wte, logits over all Vp rows and
// softmax/loss over the first V only (classifier.cpp); positions from the learned wpe
// table. So a learned-position gpt.cc model and an llm.c model with the same numbers
// compute the same function.
#include "formats/llmc.h"

#include "bf16.h"

#include <cstring>

#include "check.h"
#include "fileio.h"
#include "tensors.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "llm.c files are little-endian; this reader assumes the host is");

namespace gpt {

namespace {

constexpr size_t kHeaderBytes = size_t(kLlmcHeaderInts) * sizeof(int32_t);

int32_t le32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return int32_t(uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24);
}

const char* const kFieldNames[8] = {"magic", "version", "max_seq_len", "vocab_size",
                                    "num_layers", "num_heads", "channels", "padded_vocab_size"};

}  // namespace

Checkpoint load_llmc(const std::string& path) {
  if (!file_exists(path)) GPT_FAIL(path, ": no such file; expected an llm.c checkpoint (e.g. gpt2_124M.bin)");
  const MappedFile file(path);  // parameters are copied once, straight from the mapping
  const std::string_view data = file.view();
  if (data.size() < kHeaderBytes)
    GPT_FAIL(path, ": truncated: an llm.c checkpoint starts with a ", kHeaderBytes, "-byte header (",
             kLlmcHeaderInts, " int32), found only ", data.size(), " bytes");
  int32_t h[kLlmcHeaderInts];
  file.read_guarded([&] {
    for (int i = 0; i < kLlmcHeaderInts; i++) h[i] = le32(data.data() + 4 * i);
  });
  if (h[0] != kLlmcMagic)
    GPT_FAIL(path, ": not an llm.c checkpoint: expected magic ", kLlmcMagic, ", found ", h[0]);
  const int32_t version = h[1];
  if (version != kLlmcVersionFp32 && version != kLlmcVersionBf16)
    GPT_FAIL(path, ": llm.c checkpoint version ", version, " is not supported: this build reads version ",
             kLlmcVersionFp32, " (float32) and ", kLlmcVersionBf16, " (bfloat16) of llm.c's GPT-2 checkpoints");
  for (int i = 2; i < 8; i++)
    if (h[i] <= 0)
      GPT_FAIL(path, ": header field ", kFieldNames[i], " (int32 #", i, ") is ", h[i],
               "; expected a positive number. The header is damaged or this is not a GPT-2 checkpoint");
  for (int i = 8; i < kLlmcHeaderInts; i++)
    if (h[i] != 0)
      GPT_FAIL(path, ": header int32 #", i, " is ", h[i], "; llm.c writes 0 there in versions 3 and 5. "
               "The header is damaged or comes from a newer llm.c");
  const int32_t maxT = h[2], V = h[3], L = h[4], NH = h[5], C = h[6], Vp = h[7];
  if (C % NH != 0)
    GPT_FAIL(path, ": num_heads ", NH, " does not divide channels ", C, "; the header is damaged");
  if (Vp < V)
    GPT_FAIL(path, ": padded_vocab_size ", Vp, " is smaller than vocab_size ", V,
             "; llm.c pads the vocabulary up, never down. The header is damaged");

  Checkpoint ck;
  GPTConfig& c = ck.model;
  c.max_seq_len = maxT;
  c.vocab_size = V;
  c.padded_vocab_size = Vp;
  c.num_layers = L;
  c.num_heads = NH;
  c.channels = C;
  c.pos = PosEnc::learned;
  c.dropout = 0.0f;

  // The length check comes before anything is allocated (the count in 128 bits: absurd
  // header values cannot wrap it).
  const size_t bytes_per_param = version == kLlmcVersionFp32 ? 4 : 2;
  const unsigned __int128 n128 = param_count(c);
  const unsigned __int128 want = n128 * bytes_per_param;
  const size_t have = data.size() - kHeaderBytes;
  if (want != have) {
    const bool fits = n128 < (unsigned __int128)(1) << 62;
    GPT_FAIL(path, ": the header (max_seq_len ", maxT, ", vocab ", V, " padded to ", Vp, ", ", count(L, "layer"), ", ",
             count(NH, "head"), ", channels ", C, ") implies ",
             fits ? std::to_string(uint64_t(n128)) : std::string("more than 2^62"), " parameters = ",
             fits ? std::to_string(uint64_t(want)) : std::string("too many"), " bytes of ",
             version == kLlmcVersionFp32 ? "float32" : "bfloat16", " after the header, found ", have, " bytes (",
             have < want ? "truncated" : "extra bytes", "); the file is damaged or not an llm.c GPT-2 checkpoint");
  }

  try {
    validate(c);
  } catch (const Error& e) {
    GPT_FAIL(path, ": this llm.c model cannot be loaded by gpt.cc: ", e.what());
  }
  const size_t n = size_t(n128);
  GPT_CHECK(param_layout(c).total == n, "llm.c parameter count ", n, " vs layout ", param_layout(c).total);
  ck.params.resize(n);
  const char* p = data.data() + kHeaderBytes;
  float* dst = ck.params.data();
  file.read_guarded([&] {
    if (version == kLlmcVersionFp32) {
      std::memcpy(dst, p, n * sizeof(float));
    } else {
      // little-endian bfloat16, widened exactly (bf16.h)
      for (size_t i = 0; i < n; i++) dst[i] = bf16_to_float(uint16_t(uint8_t(p[2 * i]) | uint8_t(p[2 * i + 1]) << 8));
    }
  });
  require_finite_weights(ck, path);
  return ck;
}

std::string llmc_bytes(const GPTConfig& cfg, const float* params, bool bf16) {
  GPT_CHECK(cfg.pos == PosEnc::learned, "llm.c checkpoints need learned positions");
  const size_t n = param_layout(cfg).total;
  std::string out(kHeaderBytes + n * (bf16 ? 2 : 4), '\0');
  const int32_t version = bf16 ? kLlmcVersionBf16 : kLlmcVersionFp32;
  const int32_t header[8] = {kLlmcMagic,   version,       cfg.max_seq_len, cfg.vocab_size,
                             cfg.num_layers, cfg.num_heads, cfg.channels,    cfg.padded_vocab_size};
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < 4; k++) out[size_t(4 * i + k)] = char((uint32_t(header[i]) >> (8 * k)) & 0xFF);
  if (!bf16) {
    std::memcpy(&out[kHeaderBytes], params, n * sizeof(float));
  } else {  // little-endian bf16, rounded to nearest even (bf16.h)
    for (size_t i = 0; i < n; i++) {
      const uint16_t h = float_to_bf16(params[i]);
      out[kHeaderBytes + 2 * i] = char(h & 0xFF);
      out[kHeaderBytes + 2 * i + 1] = char(h >> 8);
    }
  }
  return out;
}

}  // namespace gpt
