// Temperature / top-k / top-p sampling (see sampler.h).
#include "sampler.h"

#include <algorithm>
#include <cmath>

#include "check.h"

namespace gpt {

int sample_token(const float* logits, int V, const SamplerConfig& sc, SplitMix64& rng,
                 std::vector<std::pair<float, int>>& cand) {
  GPT_CHECK(V >= 1, "empty vocabulary");
  for (int i = 0; i < V; i++)  // (a NaN would lose every comparison, and the last id win each draw)
    if (!std::isfinite(logits[i]))
      GPT_FAIL("the model's output for the next token is not finite (the logit of token id ", i, " is ", logits[i],
               "): ", forward_overflows("nothing to sample from"));
  if (sc.temperature <= 0.0f) return int(std::max_element(logits, logits + V) - logits);
  // The raw logits are ranked (temperature keeps their order) and divided by the temperature
  // only after the largest is subtracted, in double: a temperature below float's smallest
  // normal (1e-40) made 1/temperature infinite and every probability NaN.
  cand.resize(V);
  for (int i = 0; i < V; i++) cand[i] = {logits[i], i};
  // Highest first; ties broken by id so the order is deterministic.
  auto by_logit = [](const std::pair<float, int>& a, const std::pair<float, int>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  int n = V;
  if (sc.top_k > 0 && sc.top_k < V) {
    std::partial_sort(cand.begin(), cand.begin() + sc.top_k, cand.end(), by_logit);
    n = sc.top_k;
  } else if (sc.top_p < 1.0f) {
    std::sort(cand.begin(), cand.end(), by_logit);
  }
  // Without top-k / top-p the whole distribution is drawn in id order, unsorted
  // (sorting 50k GPT-2 logits every token cost milliseconds).
  float mx = cand[0].first;
  for (int i = 1; i < n; i++) mx = std::max(mx, cand[i].first);
  std::vector<double> p(n);
  double z = 0.0;
  const double temp = double(sc.temperature);
  for (int i = 0; i < n; i++) z += (p[i] = std::exp((double(cand[i].first) - double(mx)) / temp));
  if (sc.top_p < 1.0f) {  // smallest prefix whose probability reaches top_p
    double acc = 0.0;
    int keep = n;
    for (int i = 0; i < n; i++) {
      acc += p[i] / z;
      if (acc >= sc.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
    z = 0.0;
    for (int i = 0; i < n; i++) z += p[i];
  }
  double u = rng.uniform() * z;
  for (int i = 0; i < n; i++) {
    u -= p[i];
    if (u < 0.0) return cand[i].second;
  }
  return cand[n - 1].second;
}

}  // namespace gpt
