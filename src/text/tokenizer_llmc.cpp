// llm.c's GPT-2 tokenizer file (gpt2_tokenizer.bin, written by llm.c's
// train_gpt2.py): every token's bytes, enough to turn ids into text. It has no
// merge rules, so this tokenizer decodes only; encoding throws and prompts are
// given as token ids. Carried in our blob as the original file, byte for byte.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"

namespace gpt {

using namespace tokenizer_detail;

namespace {

constexpr int kLlmcHeaderInts = 256;
constexpr int kLlmcBlobVersion = 1;

class LlmcTokenizer final : public Tokenizer {
 public:
  LlmcTokenizer(std::string file, std::vector<std::string> tokens, int version, int eot)
      : file_(std::move(file)), tokens_(std::move(tokens)), version_(version), eot_(eot) {}

  std::string kind() const override { return "llmc"; }
  std::string describe() const override {
    return str("llm.c tokenizer file (version ", version_, ", decode only), ", tokens_.size(), " tokens",
               eot_ >= 0 ? str(", end-of-text id ", eot_) : std::string());
  }
  int vocab_size() const override { return int(tokens_.size()); }
  bool can_encode() const override { return false; }

  std::vector<int> encode(const std::string&) const override {
    GPT_FAIL("this tokenizer (llm.c's tokenizer file) can only decode: the file holds each token's bytes but "
             "not the merge rules needed to turn text into tokens. Give token ids (e.g. ", eot_ >= 0 ? eot_ : 0,
             ") instead of text, or use a tokenizer that can encode");
  }

  std::string decode_token(int id) const override {
    if (id < 0 || size_t(id) >= tokens_.size())
      GPT_FAIL("token id ", id, " is out of range for this llm.c tokenizer (vocabulary size ", tokens_.size(),
               "); the model and tokenizer do not belong together");
    return tokens_[size_t(id)];
  }
  std::string piece(int id) const override { return decode_token(id); }

  // gptcc-tokenizer llmc 1\n vocab_size V\n file_bytes N\n <the llm.c file, N bytes> end\n
  std::string serialize() const override {
    return str(kBlobMagic, " llmc ", kLlmcBlobVersion, "\nvocab_size ", tokens_.size(), "\nfile_bytes ",
               file_.size(), "\n") +
           file_ + "end\n";
  }
  std::string native_file() const override { return file_; }
  std::optional<int> bos_id() const override { return eot_ >= 0 ? std::optional<int>(eot_) : std::nullopt; }
  std::optional<int> eos_id() const override { return bos_id(); }

 private:
  std::string file_;
  std::vector<std::string> tokens_;
  int version_, eot_;
};

uint32_t le32_at(const std::string& b, size_t off) {
  const auto* u = reinterpret_cast<const unsigned char*>(b.data() + off);
  return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

}  // namespace

std::unique_ptr<Tokenizer> load_llmc_tokenizer(const std::string& bytes, const std::string& source) {
  const size_t header_bytes = kLlmcHeaderInts * 4;
  const char* redo = "the file is damaged; fetch or write it again (llm.c's train_gpt2.py writes it)";
  if (bytes.size() < header_bytes)
    GPT_FAIL(source, ": llm.c tokenizer file truncated: expected a ", header_bytes, "-byte header (",
             kLlmcHeaderInts, " int32), found ", bytes.size(), " bytes; ", redo);
  const uint32_t magic = le32_at(bytes, 0), version = le32_at(bytes, 4), vocab = le32_at(bytes, 8);
  if (magic != uint32_t(kLlmcTokenizerMagic))
    GPT_FAIL(source, ": not an llm.c tokenizer file: expected magic ", kLlmcTokenizerMagic, ", found ", magic);
  if (version != 1 && version != 2)
    GPT_FAIL(source, ": llm.c tokenizer version ", version, " is not supported (this build reads versions 1 "
             "and 2); use a file written by llm.c's train_gpt2.py");
  if (vocab == 0 || vocab > uint32_t(kMaxVocab))
    GPT_FAIL(source, ": llm.c tokenizer header gives vocabulary size ", vocab, "; expected 1 to ", kMaxVocab,
             vocab ? " (shard tokens are uint16: a larger vocabulary cannot be used)" : "", "");
  int eot = -1;
  if (version == 2) {
    const uint32_t e = le32_at(bytes, 12);
    if (e >= vocab)
      GPT_FAIL(source, ": llm.c tokenizer header gives end-of-text id ", e, ", outside the vocabulary of ", vocab,
               " tokens; ", redo);
    eot = int(e);
  } else if (vocab == 50257) {
    eot = 50256;  // version 1 predates the EOT field; llm.c assumes GPT-2's
  }
  std::vector<std::string> tokens;
  tokens.reserve(vocab);
  size_t off = header_bytes;
  for (uint32_t id = 0; id < vocab; id++) {
    if (off >= bytes.size())
      GPT_FAIL(source, ": llm.c tokenizer file truncated: the header promises ", vocab, " tokens, the data ends "
               "after ", id, " (at byte ", off, "); ", redo);
    const size_t len = static_cast<unsigned char>(bytes[off++]);
    if (len > bytes.size() - off)
      GPT_FAIL(source, ": llm.c tokenizer file truncated: token ", id, " at byte ", off - 1, " has length ", len,
               " but only ", bytes.size() - off, " bytes follow; ", redo);
    tokens.push_back(bytes.substr(off, len));
    off += len;
  }
  if (off != bytes.size())
    GPT_FAIL(source, ": llm.c tokenizer file has ", bytes.size() - off, " extra bytes after its ", vocab,
             " tokens (at byte ", off, "); the header's vocabulary size disagrees with the data; ", redo);
  return std::make_unique<LlmcTokenizer>(bytes, std::move(tokens), int(version), eot);
}

namespace tokenizer_detail {

std::unique_ptr<Tokenizer> deserialize_llmc(LineReader& in, int version) {
  if (version != kLlmcBlobVersion)
    in.unsupported("llmc tokenizer version ", version, " is not supported (this build reads version ",
                   kLlmcBlobVersion, "); use the gpt.cc version that wrote it");
  const uint64_t vocab = in.number("vocab_size", 1, uint64_t(kMaxVocab));
  const uint64_t n = in.number("file_bytes", 1, uint64_t(1) << 40);
  const std::string file = in.bytes(n, "the llm.c tokenizer file");
  const std::string end = in.next("\"end\"");
  if (end != "end")
    in.fail("expected \"end\" after the ", n, " bytes of the llm.c tokenizer file, found \"", snippet(end), "\"");
  if (!in.at_end()) in.fail("extra data after \"end\" on line ", in.line());
  auto tok = load_llmc_tokenizer(file, in.source() + " (the llm.c tokenizer inside it)");
  if (uint64_t(tok->vocab_size()) != vocab)
    in.fail("vocab_size ", vocab, " disagrees with the embedded llm.c tokenizer file (", tok->vocab_size(),
            " tokens)");
  return tok;
}

}  // namespace tokenizer_detail

}  // namespace gpt
