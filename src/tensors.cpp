// The parameter layout table (see tensors.h). The order is llm.c's, so an llm.c
// checkpoint maps onto it tensor by tensor.
#include "tensors.h"

#include "check.h"

namespace gpt {

namespace {
const TensorSpec kSpecs[NUM_PARAM_TENSORS] = {
    {"wte", false, true},       {"wpe", false, true},      {"ln1w", true, false},
    {"ln1b", true, false},      {"qkvw", true, true},      {"qkvb", true, false},
    {"attprojw", true, true},   {"attprojb", true, false}, {"ln2w", true, false},
    {"ln2b", true, false},      {"fcw", true, true},       {"fcb", true, false},
    {"fcprojw", true, true},    {"fcprojb", true, false},  {"lnfw", false, false},
    {"lnfb", false, false},
};
}  // namespace

const TensorSpec& tensor_spec(int id) {
  GPT_CHECK(id >= 0 && id < NUM_PARAM_TENSORS, "tensor id ", id);
  return kSpecs[id];
}

std::vector<size_t> tensor_shape(int id, const GPTConfig& c) {
  const size_t C = size_t(c.channels), Vp = size_t(c.padded_vocab_size), T = size_t(c.max_seq_len);
  switch (id) {
    case WTE: return {Vp, C};
    case WPE: return c.pos == PosEnc::learned ? std::vector<size_t>{T, C} : std::vector<size_t>{0, C};
    case LN1W: case LN1B: case LN2W: case LN2B: case ATTPROJB: case FCPROJB: case LNFW: case LNFB:
      return {C};
    case QKVW: return {3 * C, C};
    case QKVB: return {3 * C};
    case ATTPROJW: return {C, C};
    case FCW: return {4 * C, C};
    case FCB: return {4 * C};
    case FCPROJW: return {C, 4 * C};
  }
  GPT_CHECK(false, "unknown tensor id ", id);
  return {};
}

unsigned __int128 param_count(const GPTConfig& c) {
  using u128 = unsigned __int128;
  u128 total = 0;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    u128 n = 1;  // each dimension is at most 4 x an int, so three of them fit 128 bits
    for (size_t s : tensor_shape(id, c)) n *= u128(s);
    total += tensor_spec(id).per_layer ? n * u128(c.num_layers) : n;
  }
  return total;
}

ParamLayout param_layout(const GPTConfig& c) {
  // Below kMaxParams no product or sum here wraps.
  GPT_CHECK(param_count(c) <= kMaxParams, "a model of ", c.num_layers, " layers and dim ", c.channels,
            " that validate() should have refused");
  ParamLayout p{};
  size_t off = 0;
  for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
    size_t n = 1;
    for (size_t s : tensor_shape(id, c)) n *= s;
    p.per_layer[id] = n;
    p.numel[id] = tensor_spec(id).per_layer ? n * size_t(c.num_layers) : n;
    p.offset[id] = off;
    off += p.numel[id];
  }
  p.total = off;
  return p;
}

std::string shape_string(int id, const GPTConfig& c) {
  std::string s = tensor_spec(id).per_layer ? std::to_string(c.num_layers) : "";
  for (size_t d : tensor_shape(id, c)) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s;
}

}  // namespace gpt
