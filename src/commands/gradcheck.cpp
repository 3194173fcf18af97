// gpt gradcheck: prints the finite-difference table for one layer, all layers,
// or the whole model; exits 1 when any tensor fails.
#include <cstdio>

#include "check.h"
#include "commands/common.h"
#include "config.h"
#include "gradcheck.h"

namespace gpt {

int cmd_gradcheck(const Args& a) {
  // Finite differences run in double on the CPU backend; another --device is refused
  // here (with what to do) until its backend exists.
  // (the flag itself, not the device: "no usable CUDA device" implied it ran on a GPU)
  if (parse_device(a.str("device")) != DeviceKind::cpu)
    GPT_USAGE_FAIL("gpt gradcheck --device cuda: the CUDA layers are compared against the CPU's by the test suite "
                   "(tests/test_backend.cpp); finite differences run on the CPU: drop --device");
  const std::string layer = a.str("layer");
  const uint64_t seed = a.u64("seed");
  std::vector<PosEnc> positions = {PosEnc::learned, PosEnc::sinusoidal, PosEnc::rope};
  if (a.has("pos")) positions = {parse_posenc(a.str("pos"))};
  if (a.has("pos") && layer != "all" && layer != "model")
    GPT_USAGE_FAIL("--pos chooses the encoding of the whole-model check (--layer model or all); --layer ", layer,
                   " ignores it. Drop --pos, or check an encoding's own layer (--layer pos-learned, "
                   "pos-sinusoidal or rope)");
  std::vector<GradcheckRow> rows;
  auto model_rows = [&]() {
    for (PosEnc p : positions)
      for (float drop : {0.0f, 0.2f})
        for (auto& r : gradcheck_model(p, drop, seed)) rows.push_back(r);
  };
  if (layer == "all") {
    for (const auto& name : gradcheck_layer_names())
      for (auto& r : gradcheck_layer(name, seed)) rows.push_back(r);
    model_rows();
  } else if (layer == "model") {
    model_rows();
  } else {
    rows = gradcheck_layer(layer, seed);
  }
  std::printf("%s", format_gradcheck_table(rows).c_str());
  int failed = 0;
  for (const auto& r : rows) failed += !r.pass;
  std::printf("%s checked, %d failed (analytic vs central differences, double precision; pass: "
              "|analytic - numeric| <= %.0e + %.0e |numeric| for every element)\n",
              count(rows.size(), "tensor").c_str(), failed, kGradAbsTol, kGradRelTol);
  return failed ? kExitFailure : 0;
}

}  // namespace gpt
