// libFuzzer harness: `gpt attention --input` JSON (the JSON parser, the problem checks,
// the calculator, its text and JSON outputs; and the JSON writer's round trip).
#include "formats/json.h"
#include "fuzz_common.h"
#include "learn/attention_calc.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpt;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_ok_or_error([&] {
    const Json j = Json::parse(text, "in.json");
    const std::string dumped = j.dump(-1, 17);
    if (Json::parse(dumped, "dump").dump(-1, 17) != dumped) std::abort();  // the writer's output reads back
    const AttentionProblem p = parse_attention_problem(j, "in.json");
    for (const bool scaled : {true, false}) {
      const AttentionResult r = run_attention(p, scaled);
      format_attention(p, r, nullptr);
      attention_json(p, r, nullptr).dump();
    }
  });
  return 0;
}
