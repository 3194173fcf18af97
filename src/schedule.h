// Learning-rate schedule: linear warmup, then cosine decay toward min_lr, which the
// step after the last would reach (nanoGPT's get_lr: the last step's rate is just above
// it), or constant. `step` is 0-based.
#pragma once
#include <cmath>

#include "config.h"

namespace gpt {

inline float learning_rate(const TrainConfig& t, int step) {
  // (In float, as always, without int + 1: --warmup 2147483647 overflowed to a negative rate.)
  if (step < t.warmup) return t.lr * (float(step) + 1.0f) / (float(t.warmup) + 1.0f);
  if (t.schedule == Schedule::constant) return t.lr;
  const int decay_steps = t.steps - t.warmup;
  if (decay_steps <= 0) return t.lr;
  double ratio = double(step - t.warmup) / double(decay_steps);
  if (ratio > 1.0) ratio = 1.0;
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * ratio));
  return float(t.min_lr + coeff * (t.lr - t.min_lr));
}

}  // namespace gpt
