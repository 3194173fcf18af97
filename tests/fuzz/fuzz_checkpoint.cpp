// libFuzzer harness: gpt.cc checkpoint reader (load_checkpoint, then the weights into a model).
#include "formats/checkpoint.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpt;
  const std::string path = fuzz::put("checkpoint.bin", data, size);
  fuzz::expect_ok_or_error([&] {
    const Checkpoint ck = load_checkpoint(path, true);
    if (ck.params.size() < (size_t(1) << 22)) {  // small models only: the memory limit is for the reader
      GPT<float> model(ck.model);
      load_weights(model, ck, !ck.m.empty());
    }
  });
  return 0;
}
