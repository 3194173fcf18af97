// libFuzzer harness: llm.c checkpoint reader (load_llmc; the same path `--init`/`sample` take).
#include "formats/llmc.h"
#include "formats/model_io.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpt;
  const std::string path = fuzz::put("model.bin", data, size);
  fuzz::expect_ok_or_error([&] { load_llmc(path); });
  fuzz::expect_ok_or_error([&] { load_model(path); });  // detection by first bytes, then the reader
  return 0;
}
