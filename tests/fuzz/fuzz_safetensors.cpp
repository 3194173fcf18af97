// libFuzzer harness: safetensors header + config.json (a Hugging Face GPT-2 directory).
// Input: uint16 little-endian length L, then L bytes of config.json, then model.safetensors
// (L = 0xFFFF: no config.json, heads guessed from the tensors).
#include "formats/hf_gpt2.h"
#include "formats/safetensors.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpt;
  if (size < 2) return 0;
  size_t cfg = size_t(data[0]) | size_t(data[1]) << 8;
  const bool has_config = cfg != 0xFFFF;
  if (!has_config) cfg = 0;
  if (cfg > size - 2) cfg = size - 2;
  const std::string dir = join_path(fuzz::scratch(), "hf");
  make_dirs(dir);
  const std::string config = join_path(dir, kHfConfigFile);
  if (has_config) fuzz::put("hf/config.json", data + 2, cfg);
  else ::unlink(config.c_str());
  const std::string model = fuzz::put("hf/model.safetensors", data + 2 + cfg, size - 2 - cfg);
  fuzz::expect_ok_or_error([&] {
    const Safetensors st = Safetensors::read(model);
    for (const auto& e : st.tensors())
      if (e.numel < (size_t(1) << 20) && (e.dtype == "F32" || e.dtype == "BF16" || e.dtype == "F16")) {
        std::vector<float> out(e.numel);
        st.to_float(e, out.data());
      }
  });
  fuzz::expect_ok_or_error([&] { load_hf_gpt2(dir, has_config ? std::nullopt : std::optional<int>(2)); });
  return 0;
}
