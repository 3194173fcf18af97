// gpt gradcheck: prints the finite-difference table for one layer, all layers,
// or the whole model; with --device cuda, the whole model's gradients on the GPU
// against the double-precision model's; exits 1 when any tensor fails.
#include <cstdio>

#include "backend.h"
#include "check.h"
#include "device.h"
#include "commands/common.h"
#include "config.h"
#include "gradcheck.h"

namespace gpt {

int cmd_gradcheck(const Args& a) {
  const std::string layer = a.str("layer");
  const uint64_t seed = a.u64("seed");
  std::vector<PosEnc> positions = {PosEnc::learned, PosEnc::sinusoidal, PosEnc::rope};
  if (a.has("pos")) positions = {parse_posenc(a.str("pos"))};
  if (a.has("pos") && layer != "all" && layer != "model")
    GPT_USAGE_FAIL("--pos chooses the encoding of the whole-model check (--layer model or all); --layer ", layer,
                   " ignores it. Drop --pos, or check an encoding's own layer (--layer pos-learned, "
                   "pos-sinusoidal or rope)");
  std::vector<GradcheckRow> rows;
  const DeviceKind device = parse_device(a.str("device"));
  if (device != DeviceKind::cpu) {
    // The device's float layers against the double model, whose backward the finite
    // differences (--device cpu) check; one layer alone is not a model.
    if (layer != "all" && layer != "model")
      GPT_USAGE_FAIL("gpt gradcheck --device ", to_string(device), " checks the whole model's gradients (--layer all "
                     "or model); --layer ", layer, " runs on the CPU's finite differences: drop --device");
    device_from_flags(a);  // exit 2 with why where the device cannot run
    for (PosEnc p : positions)
      for (float drop : {0.0f, 0.2f})
        for (auto& r : gradcheck_model_on_device(device, p, drop, seed)) rows.push_back(r);
    std::printf("%s", format_gradcheck_table(rows).c_str());
    int failed = 0;
    for (const auto& r : rows) failed += !r.pass;
    std::printf("%s checked, %d failed (float on %s against the double-precision model on the CPU that the finite "
                "differences check; pass: |%s - cpu| <= %.0e + %.0e |cpu| for every element)\n",
                count(rows.size(), "tensor").c_str(), failed, cuda_status().name.c_str(), to_string(device).c_str(),
                kDeviceAbsTol, kDeviceRelTol);
    return failed ? kExitFailure : 0;
  }
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
