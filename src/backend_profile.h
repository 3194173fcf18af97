// `gpt train --profile`: where a step's time goes, per backend entry (layers.h function
// or memory operation). The profiled table wraps every entry of the backend's table:
// each call waits for the work enqueued before it (mem.synchronize), runs, waits for
// itself, and adds its wall time to the entry's row. On the CPU the entries run inline,
// so the waits cost nothing; on a GPU each call pays a launch and a synchronisation
// (~10 us), which the report says, so a profiled run is slower than a plain one and the
// rows measure the kernels, not the pipelining between them.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "backend.h"

namespace gpt {

// While enabled, backend_for returns the timing tables (train's --profile, for its run;
// BackendProfileScope). Their entries call the inner tables': results are unchanged.
void enable_backend_profile(bool on);
bool backend_profile_enabled();
// Calls are timed only while active (train: the optimizer steps after the first, not the
// evaluations or the checkpoints).
void set_backend_profile_active(bool on);

// The timing table over `inner` (built once per inner table; at most 4 of them).
const Backend<float>& profiled_backend(const Backend<float>& inner);
void reset_backend_profile();  // every row back to zero

class BackendProfileScope {
 public:
  explicit BackendProfileScope(bool on) : on_(on) {
    if (on_) reset_backend_profile(), enable_backend_profile(true);
  }
  ~BackendProfileScope() {
    if (on_) enable_backend_profile(false);
  }
  BackendProfileScope(const BackendProfileScope&) = delete;
  BackendProfileScope& operator=(const BackendProfileScope&) = delete;

 private:
  bool on_;
};

struct ProfileRow {
  std::string entry;
  size_t calls = 0;
  double seconds = 0;
};
// The rows with at least one call, most time first.
std::vector<ProfileRow> backend_profile_rows();
// The report: a table of the rows with ms per step and share of `wall_seconds` (the
// training time they were measured in), and the time outside any entry.
std::string format_backend_profile(double wall_seconds, long steps, const std::string& device);

}  // namespace gpt
