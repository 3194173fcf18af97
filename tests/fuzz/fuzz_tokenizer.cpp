// libFuzzer harness: tokenizer.bin blobs (char, SentencePiece, llm.c kinds) and
// SentencePiece .model bytes, then a round trip of some text, a decode of every id and
// the Hugging Face tokenizer.json an export would write.
#include "formats/hf_tokenizer.h"
#include "fuzz_common.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpt;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto exercise = [](const Tokenizer& t) {
    const int n = t.vocab_size() < 4096 ? t.vocab_size() : 4096;
    std::vector<int> ids;
    for (int i = 0; i < n; i++) {
      t.decode_token(i);
      ids.push_back(i);
    }
    t.decode(ids);
    if (t.can_encode()) t.decode(t.encode("Hello, world!\nCaf\xc3\xa9 \xe4\xb8\xad"));
    Tokenizer::deserialize(t.serialize(), "round trip");
    hf_tokenizer_files(t, 64);
  };
  parse_sentencepiece_model(bytes);
  fuzz::expect_ok_or_error([&] { exercise(*Tokenizer::deserialize(bytes, "tokenizer.bin")); });
  fuzz::expect_ok_or_error([&] { exercise(*load_sentencepiece_model(bytes, "tokenizer.model")); });
  return 0;
}
