// libFuzzer harness: llm.c tokenizer files (load_llmc_tokenizer), then a decode of every id.
#include "fuzz_common.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpt;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_ok_or_error([&] {
    const auto t = load_llmc_tokenizer(bytes, "gpt2_tokenizer.bin");
    std::vector<int> ids;
    for (int i = 0; i < t->vocab_size(); i++) ids.push_back(i);
    t->decode(ids);
    Tokenizer::deserialize(t->serialize(), "round trip");
  });
  return 0;
}
