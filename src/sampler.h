// Drawing the next token from logits: temperature, top-k, top-p (nucleus), with a
// seeded SplitMix64 so the same seed gives the same text.
#pragma once
#include <vector>

#include "rng.h"

namespace gpt {

struct SamplerConfig {
  float temperature = 1.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
};

// Draws one id from logits[0..V). scratch is reused between calls.
int sample_token(const float* logits, int V, const SamplerConfig& sc, SplitMix64& rng,
                 std::vector<std::pair<float, int>>& scratch);

}  // namespace gpt
