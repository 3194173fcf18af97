// Small helpers shared by the subcommands: device and thread flags, timing,
// human-readable durations and counts.
#pragma once
#include <chrono>
#include <string>

#include "backend.h"
#include "cli.h"
#include "threads.h"

namespace gpt {

// --device: the device whose backend exists in this build and on this machine;
// otherwise a message saying what is missing and what to do (exit 2).
DeviceKind device_from_flags(const Args& a);
// ", bf16 matmuls (amx kernels)" for bf16 ("" for fp32): the header lines of train, eval, sample.
std::string dtype_note(Dtype t, DeviceKind device = DeviceKind::cpu);
// --threads N: N threads, always (OpenMP's count is set). --threads 0 or absent: up to
// all cores (OMP_NUM_THREADS caps it), the count measured step by step (threads.h).
AdaptiveThreads thread_policy(const Args& a);
// The same flag for commands without repeated steps (gpt eval): N, or all cores.
void apply_threads(const Args& a);
// --out FILE of a command that writes one file (a picture): not empty and not a
// directory, checked before any work (the write at the end said "rename ... failed").
void require_output_file(const Args& a, const char* example);
std::string format_duration(double seconds);  // "3m12s"
std::string format_count(double x);           // "12,345"

struct Stopwatch {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

}  // namespace gpt
