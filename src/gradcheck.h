// Finite-difference checks of every hand-written backward pass, in double precision:
// shared by `gpt gradcheck` and the tests. Does not check the float kernels' speed
// paths against each other (that is the tests' job); on a device, the whole model's
// float gradients against the double model's (gradcheck_model_on_device).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config.h"
#include "threads.h"

namespace gpt {

enum class DeviceKind;  // backend.h

// Pass: every element satisfies |analytic - numeric| <= kGradAbsTol + kGradRelTol * |numeric|.
// The absolute floor is what decides for gradients near 0: there both values are
// rounding noise (~1e-11) and their relative error says nothing (the key bias's
// gradient is exactly 0: softmax ignores q.b_k, the same for every key of a row).
constexpr double kGradAbsTol = 1e-6, kGradRelTol = 1e-5;
// Below this a gradient is rounding noise (both values ~1e-11): "~0" in the table's notes.
constexpr double kGradNoiseFloor = 1e-9;

// One compared gradient: max over its elements of |analytic - numeric| and of
// |analytic - numeric| / max(|numeric|, 1e-8), the element closest to failing (its
// error and its tolerance) and the gradient where the relative error is largest.
struct GradcheckRow {
  std::string layer, tensor;
  double max_abs_err = 0, max_rel_err = 0;
  bool pass = false;
  double worst_err = 0, worst_tol = 0;  // at the element with the largest error / tolerance
  double rel_err_grad = 0;              // |numeric| at the largest relative error
  void add(double analytic, double numeric);  // one element
  // A passing row can exceed kGradRelTol only through the absolute floor, i.e. at a
  // small gradient: ~0 (rounding noise over itself), or ~1e-5, where the difference
  // quotient's own error is over kGradRelTol of it.
  bool rel_err_is_noise() const { return pass && max_rel_err > rel_tol; }
  // The tolerances add() applies: the finite differences' above, or a device row's
  // (gradcheck_model_on_device: float on a device against double, where numeric is the
  // double model's analytic gradient).
  double abs_tol = kGradAbsTol, rel_tol = kGradRelTol;
  bool device = false;
};

// The tensors are tiny, so thread start-up and barriers would cost far more than the
// math (seconds on a loaded 2-core machine). Checks run on one thread; thread-count
// independence is tested separately (tests/test_layers.cpp, Determinism).
class SingleThread : ScopedOmpThreads {
 public:
  SingleThread() : ScopedOmpThreads(1) {}
};

// The one comparison every check uses (layers and the whole model): for each of n
// values (read and written through get/set), the numeric dL/dx by central differences
// of loss() against analytic(i), with the step and tolerances above.
GradcheckRow gradcheck_compare(const std::string& layer, const std::string& tensor, size_t n,
                               const std::function<double(size_t)>& get,
                               const std::function<void(size_t, double)>& set,
                               const std::function<double(size_t)>& analytic, const std::function<double()>& loss);

// The checkable layers, in the order `gpt gradcheck` runs them.
std::vector<std::string> gradcheck_layer_names();
// Runs one layer's checks (one row per gradient tensor); gpt::Error (exit code 2)
// for an unknown name, listing the valid ones.
std::vector<GradcheckRow> gradcheck_layer(const std::string& name, uint64_t seed = 1234);
// Aligned text table: layer, tensor, max abs err, max rel err, PASS/FAIL.
std::string format_gradcheck_table(const std::vector<GradcheckRow>& rows);

// `gpt gradcheck --device cuda`: the same model and batch, its gradients computed in float
// by a device's backend (the kernels training runs there) against GPT<double>'s on the CPU
// (the code the finite differences check): one row per parameter tensor and one for the
// loss, with the tolerances below (float sums in another order against double).
constexpr double kDeviceAbsTol = 1e-5, kDeviceRelTol = 1e-4;
// The whole model (GPT<double>, 2 layers) for one positional encoding, with
// dropout at the given rate (a fixed mask): one row per parameter tensor.
// Defined in gradcheck_model.cpp.
std::vector<GradcheckRow> gradcheck_model(PosEnc pos, float dropout, uint64_t seed = 1234);
std::vector<GradcheckRow> gradcheck_model_on_device(DeviceKind device, PosEnc pos, float dropout,
                                                    uint64_t seed = 1234);

}  // namespace gpt
