// The default thread count of loops of similar steps (training steps, decoded tokens):
// measured, not assumed. On a machine where other programs hold the cores, a team of
// OpenMP threads waits at every barrier for whichever member was preempted (sampling
// went from 1.1 to 17 ms/token on 2 busy cores); fewer threads can then be much faster.
// Results never depend on the count: every kernel gives the same bits on any number of
// threads (tests/test_layers.cpp, Determinism; tests/test_cli.cpp, adaptive threads).
// Not a scheduler: it only picks how many threads the next step uses.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace gpt {

// Starts at `max_threads`; now and then runs one or two steps with a neighbouring count
// (half or double) and keeps whichever was faster. It probes again when the step time drifts
// (another program started or stopped) or after a growing number of steps, never
// spending more than about 1% of the run's time on probes that lose.
class AdaptiveThreads {
 public:
  // adaptive false: always max_threads (the user's --threads N).
  AdaptiveThreads(int max_threads, bool adaptive);
  // The count for the next step; also set as OpenMP's (omp_set_num_threads).
  int begin_step();
  // The wall time of the step begun last.
  void end_step(double seconds);
  int chosen() const { return cur_; }         // the count kept (probes aside)
  int last_step() const { return running_; }  // the count of the step begun last
  int max_threads() const { return max_; }
  bool adaptive() const { return adaptive_; }
  // "2 threads" or "1 of 2 threads (adaptive: 3 probes, 1 switch)".
  std::string describe() const;

  // Tuning, exposed for the tests.
  static constexpr int kWindow = 3;            // steps whose median is "the current time"
  static constexpr int kProbeSteps = 2;        // steps per probe (at most)
  static constexpr int kFirstInterval = 3;     // steps between probes, doubling while nothing changes
  static constexpr int kMaxInterval = 512;
  static constexpr double kBudget = 0.01;      // lost probe time <= 1% of the time since the last probe
  static constexpr double kWin = 0.9;          // a probe must be 10% faster to switch
  static constexpr double kLose = 1.25;        // a probe step 25% slower ends the probe
  static constexpr double kDrift = 1.3;        // median off its reference by 1.3x either way: probe

 private:
  bool want_probe() const;
  void record(double seconds);
  void decide();
  void apply(int n);

  int max_, cur_;
  bool adaptive_;
  int set_ = 0;         // the count last given to OpenMP
  int probe_ = 0;       // the count being probed (0: none)
  int running_ = 0;     // the count of the step begun last
  bool up_next_ = false;  // in the middle of the range, alternate directions
  long steps_ = 0;
  std::vector<double> recent_;  // last kWindow step times at cur_
  std::vector<double> probe_times_;
  double ref_ = 0.0;            // the expected time at cur_ (0: not measured yet)
  long since_steps_ = 0;        // since the last probe
  double since_s_ = 0.0;
  double lost_s_ = 0.0;         // what the last probe cost beyond the current count
  int interval_ = kFirstInterval;
  int probes_ = 0, switches_ = 0;
};

// OpenMP's thread count when the program started (OMP_NUM_THREADS, else the cores):
// the default maximum, whatever omp_set_num_threads calls have happened since.
int initial_max_threads();

// OpenMP's thread count set to `n` for a scope, and the earlier one restored after it.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int n);
  ~ScopedOmpThreads();
  ScopedOmpThreads(const ScopedOmpThreads&) = delete;
  ScopedOmpThreads& operator=(const ScopedOmpThreads&) = delete;

 private:
  int saved_;
};

// Times one step of an AdaptiveThreads loop (begin_step on construction, end_step on
// destruction).
class ThreadStep {
 public:
  explicit ThreadStep(AdaptiveThreads& a) : a_(a), t0_(std::chrono::steady_clock::now()) { a_.begin_step(); }
  ~ThreadStep() { a_.end_step(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count()); }
  ThreadStep(const ThreadStep&) = delete;
  ThreadStep& operator=(const ThreadStep&) = delete;

 private:
  AdaptiveThreads& a_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace gpt
