// libFuzzer harness: token shards (read_shard, shard_holds as prepare asks it, and the
// data loader over one shard in both sampling modes, with a vocabulary check).
#include "fuzz_common.h"
#include "text/dataloader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpt;
  const std::string path = fuzz::put("train.bin", data, size);
  fuzz::expect_ok_or_error([&] { read_shard(path); });
  fuzz::expect_ok_or_error([&] {
    const std::vector<uint16_t> tokens(size >= 1032 ? (size - 1024) / 2 : 4, 7);
    shard_holds(path, tokens);
  });
  for (const SamplingMode mode : {SamplingMode::sequential, SamplingMode::random})
    fuzz::expect_ok_or_error([&] {
      DataLoader loader(path, 2, 4, mode, 7, 300);
      int in[8], tg[8];
      for (int i = 0; i < 5; i++) loader.next_batch(in, tg);
      LoaderState s = loader.state();
      loader.set_state(s);
    });
  return 0;
}
