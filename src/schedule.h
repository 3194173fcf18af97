// Learning-rate schedule: linear warmup, then cosine decay to min_lr at the last
// step (nanoGPT's get_lr), or constant. `step` is 0-based.
#pragma once
#include <cmath>

#include "config.h"

namespace gpt {

inline float learning_rate(const TrainConfig& t, int step) {
  if (step < t.warmup) return t.lr * float(step + 1) / float(t.warmup + 1);
  if (t.schedule == Schedule::constant) return t.lr;
  const int decay_steps = t.steps - t.warmup;
  if (decay_steps <= 0) return t.lr;
  double ratio = double(step - t.warmup) / double(decay_steps);
  if (ratio > 1.0) ratio = 1.0;
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * ratio));
  return float(t.min_lr + coeff * (t.lr - t.min_lr));
}

}  // namespace gpt
