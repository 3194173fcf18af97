// THE parameter layout table: one row per tensor {name, shape, per_layer, decay}.
// It drives the parameter count, the pointers into the one parameter allocation,
// the checkpoint order (llm.c's order), the weight-decay mask and test names.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace gpt {

enum ParamId {
  WTE, WPE, LN1W, LN1B, QKVW, QKVB, ATTPROJW, ATTPROJB,
  LN2W, LN2B, FCW, FCB, FCPROJW, FCPROJB, LNFW, LNFB, NUM_PARAM_TENSORS
};

struct TensorSpec {
  const char* name;
  bool per_layer;  // stored as (L, shape...) contiguously, llm.c style
  bool decay;      // AdamW weight decay applies (2-D weights and embeddings)
};
const TensorSpec& tensor_spec(int id);
// Shape of one layer's slice (or of the whole tensor when !per_layer).
std::vector<size_t> tensor_shape(int id, const GPTConfig& c);

struct ParamLayout {
  size_t offset[NUM_PARAM_TENSORS];    // element offset of each tensor
  size_t numel[NUM_PARAM_TENSORS];     // total elements (all layers)
  size_t per_layer[NUM_PARAM_TENSORS]; // elements of one layer's slice
  size_t total;
};
// Offsets and counts of a model validate() accepted (a GPT_CHECK failure otherwise).
ParamLayout param_layout(const GPTConfig& c);
// The exact parameter count in 128 bits, so absurd sizes (a damaged header or config)
// cannot wrap around 2^64 as size_t products would. Every reader checks it against the
// file's bytes or kMaxParams (validate) before using param_layout or allocating.
unsigned __int128 param_count(const GPTConfig& c);
// The most parameters validate() accepts: far beyond any machine's memory, and small
// enough that a count times the 12 bytes of weights, m and v fits 64 bits.
constexpr uint64_t kMaxParams = uint64_t(1) << 50;
std::string shape_string(int id, const GPTConfig& c);  // e.g. "4 x 384 x 128"

}  // namespace gpt
