// AdaptiveThreads: see threads.h.
#include "threads.h"

#include <omp.h>

#include <algorithm>

namespace gpt {

namespace {
double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
const int g_initial_max_threads = omp_get_max_threads();  // before main(), before any --threads
}  // namespace

int initial_max_threads() { return g_initial_max_threads; }

ScopedOmpThreads::ScopedOmpThreads(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(std::max(1, n)); }
ScopedOmpThreads::~ScopedOmpThreads() { omp_set_num_threads(saved_); }

AdaptiveThreads::AdaptiveThreads(int max_threads, bool adaptive)
    : max_(std::max(1, max_threads)), cur_(std::max(1, max_threads)), adaptive_(adaptive && max_threads > 1) {}

void AdaptiveThreads::apply(int n) {
  if (n != set_) {
    omp_set_num_threads(n);
    set_ = n;
  }
}

int AdaptiveThreads::begin_step() {
  if (adaptive_ && probe_ == 0 && want_probe()) {
    const int down = std::max(1, cur_ / 2), up = std::min(max_, cur_ * 2);
    probe_ = cur_ == max_ ? down : cur_ == 1 ? up : (up_next_ ? up : down);
    up_next_ = !up_next_;
    probe_times_.clear();
  }
  running_ = probe_ ? probe_ : cur_;
  apply(running_);
  return running_;
}

bool AdaptiveThreads::want_probe() const {
  if (int(recent_.size()) < kWindow) return false;
  // A probe that loses costs what it took beyond the current count's time: allow the
  // next one only once that loss is under kBudget of the time run since.
  if (lost_s_ > kBudget * since_s_) return false;
  if (since_steps_ >= interval_) return true;
  if (ref_ > 0.0) {
    const double now = median(recent_);
    if (now > kDrift * ref_ || now * kDrift < ref_) return true;  // the machine changed
  }
  return false;
}

void AdaptiveThreads::end_step(double seconds) {
  if (!adaptive_) return;
  if (++steps_ > 1) record(seconds);  // the first step pays page faults and thread start-up
  apply(cur_);  // what runs between steps (evaluation) uses the kept count
}

void AdaptiveThreads::record(double seconds) {
  if (probe_) {
    probe_times_.push_back(seconds);
    // A step clearly slower than the current count's ends the probe at once (on an
    // idle machine, the usual case, a probe then costs one step, not two).
    if (int(probe_times_.size()) == kProbeSteps || seconds > kLose * median(recent_)) decide();
    return;
  }
  recent_.push_back(seconds);
  if (int(recent_.size()) > kWindow) recent_.erase(recent_.begin());
  since_steps_++;
  since_s_ += seconds;
  if (ref_ == 0.0 && int(recent_.size()) == kWindow) ref_ = median(recent_);
}

void AdaptiveThreads::decide() {
  const double now = median(recent_);
  const double best = *std::min_element(probe_times_.begin(), probe_times_.end());
  double spent = 0.0;
  for (double s : probe_times_) spent += s;
  probes_++;
  if (best < kWin * now) {
    // Switch, and check again soon in case it was luck; probing back would lose about
    // what this probe won, so that counts against the budget.
    cur_ = probe_;
    switches_++;
    interval_ = kFirstInterval;
    lost_s_ = kProbeSteps * (now - best);
  } else {
    interval_ = std::min(kMaxInterval, 2 * interval_);
    lost_s_ = std::max(0.0, spent - double(probe_times_.size()) * now);
  }
  // The level the kept count should now run at: a step time far from it later means the
  // machine changed (possibly during this very probe, which then compared stale times).
  ref_ = cur_ == probe_ ? best : now;
  probe_ = 0;
  recent_.clear();  // times at the kept count, measured afresh
  since_steps_ = 0;
  since_s_ = 0.0;
}

std::string AdaptiveThreads::describe() const {
  if (!adaptive_) return std::to_string(max_) + (max_ == 1 ? " thread" : " threads");
  return std::to_string(cur_) + " of " + std::to_string(max_) + " threads (adaptive: " + std::to_string(probes_) +
         (probes_ == 1 ? " probe, " : " probes, ") + std::to_string(switches_) +
         (switches_ == 1 ? " switch)" : " switches)");
}

}  // namespace gpt
