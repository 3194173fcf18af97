// Shared subcommand helpers (see common.h).
#include "common.h"

#include <omp.h>

#include <cmath>
#include <cstdio>

#include "check.h"
#include "device.h"
#include "fileio.h"
#include "layers/gemm.h"

namespace gpt {

DeviceKind device_from_flags(const Args& a) {
  const DeviceKind d = parse_device(a.str("device"));
  backend_for<float>(d);  // gpt::Error (exit 2) saying why, when there is no such backend here
  return d;
}

std::string dtype_note(Dtype t, DeviceKind device) {
  if (device == DeviceKind::cuda) return ", on " + cuda_status().name + ", matmuls on " + cuda_matmul_engine();
  if (t == Dtype::fp32) return "";
  return std::string(", bf16 matmuls (") + cpu::bf16_isa_name(cpu::bf16_isa()) + " kernels)";
}

AdaptiveThreads thread_policy(const Args& a) {
  const int n = a.has("threads") ? a.integer("threads") : 0;
  if (n < 0) GPT_USAGE_FAIL("--threads must be >= 0 (0 = all cores, adaptive), got ", n);
  if (n > omp_get_num_procs())
    std::fprintf(stderr, "note: --threads %d is more than the %d cores this process may use; the threads beyond "
                 "them take turns on those cores, which usually makes every step slower\n", n, omp_get_num_procs());
  if (n > 0) omp_set_num_threads(n);
  if (n == 0) omp_set_num_threads(initial_max_threads());  // an earlier run in this process may have set it
  return AdaptiveThreads(n > 0 ? n : initial_max_threads(), n == 0);
}

void apply_threads(const Args& a) { thread_policy(a); }

void require_output_file(const Args& a, const char* example) {
  if (!a.has("out")) return;
  const std::string out = a.str("out");
  if (out.empty()) GPT_USAGE_FAIL("--out is empty; give a file name (e.g. --out ", example, ")");
  if (is_directory(out))
    GPT_USAGE_FAIL("--out ", out, " is a directory; give a file name (e.g. --out ", join_path(out, example), ")");
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = long(s + 0.5);
  char buf[64];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

std::string format_count(double x) {
  long long v = (long long)std::llround(x);
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

}  // namespace gpt
