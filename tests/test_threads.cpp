// AdaptiveThreads (src/threads.h) against simulated machines: step times are a
// function of the thread count, fed back as if measured, so every run is exact.
#include <omp.h>

#include <functional>

#include "test_util.h"
#include "threads.h"

namespace gpt::test {
namespace {

struct SimRun {
  double total = 0.0;          // simulated seconds
  std::vector<int> counts;     // the count of each step
};

// `steps` steps; machine(step, threads) is the step's time.
SimRun simulate(AdaptiveThreads& a, int steps, const std::function<double(int, int)>& machine) {
  const int saved = omp_get_max_threads();
  SimRun r;
  for (int s = 0; s < steps; s++) {
    const int n = a.begin_step();
    EXPECT_EQ(omp_get_max_threads(), n);  // OpenMP runs the step with it
    r.counts.push_back(n);
    const double t = machine(s, n);
    r.total += t;
    a.end_step(t);
  }
  omp_set_num_threads(saved);
  return r;
}

double idle2(int, int n) { return n == 1 ? 2.0 : 1.0; }    // 2 threads twice as fast
double busy2(int, int n) { return n == 1 ? 1.5 : 15.0; }   // 2 spinners: a team waits on preempted siblings

TEST(AdaptiveThreads, IdleMachineKeepsAllThreadsAndProbesLittle) {
  AdaptiveThreads a(2, true);
  const SimRun r = simulate(a, 2000, idle2);
  EXPECT_EQ(a.chosen(), 2);
  EXPECT_EQ(r.counts.front(), 2);
  EXPECT_LT(r.total, 1.015 * 2000.0);  // probes cost about 1%
  EXPECT_GT(std::count(r.counts.begin(), r.counts.end(), 1), 0);  // but it did look
}

TEST(AdaptiveThreads, BusyMachineFindsOneThreadQuickly) {
  AdaptiveThreads a(2, true);
  const SimRun r = simulate(a, 1000, busy2);
  EXPECT_EQ(a.chosen(), 1);
  // Step 0 is not measured (page faults), 1-3 fill the window, 4-5 probe one thread.
  for (int s = 0; s < 4; s++) EXPECT_EQ(r.counts[s], 2) << s;
  for (int s = 4; s < 100; s++) EXPECT_EQ(r.counts[s], 1) << s;
  EXPECT_LT(r.total, 1.15 * 1000 * 1.5);  // within 15% of --threads 1
}

TEST(AdaptiveThreads, FollowsTheLoadWhenItComesAndGoes) {
  AdaptiveThreads a(2, true);
  // idle, then busy from step 300, idle again from step 1300
  auto machine = [](int s, int n) { return s >= 300 && s < 1300 ? busy2(s, n) : idle2(s, n); };
  const SimRun r = simulate(a, 5000, machine);
  EXPECT_EQ(r.counts[299], 2);
  EXPECT_EQ(r.counts[330], 1);  // the slow steps soon pay for a probe
  // Back to 2 once the machine is idle again, within the probe budget's wait: the last
  // losing probe cost 2 x (15 - 1.5) = 27, waited off by 2700 of run time (1350 steps).
  EXPECT_EQ(a.chosen(), 2);
  int back = 1300;
  while (back < 5000 && r.counts[back] != 2) back++;
  EXPECT_LT(back, 1300 + 1400);
}

TEST(AdaptiveThreads, ClimbsToTheBestCountAmongMany) {
  AdaptiveThreads a(8, true);
  auto machine = [](int, int n) { return n == 8 ? 10.0 : n == 4 ? 1.0 : n == 2 ? 1.5 : 2.5; };
  simulate(a, 3000, machine);
  EXPECT_EQ(a.chosen(), 4);
}

TEST(AdaptiveThreads, FixedCountNeverChanges) {
  AdaptiveThreads a(2, false);
  const SimRun r = simulate(a, 500, busy2);
  EXPECT_EQ(std::count(r.counts.begin(), r.counts.end(), 2), 500);
  EXPECT_EQ(a.describe(), "2 threads");
  AdaptiveThreads one(1, true);  // nothing to choose from
  EXPECT_FALSE(one.adaptive());
}

}  // namespace
}  // namespace gpt::test
