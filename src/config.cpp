// Model/training config parsing helpers and validation (messages say what to change).
#include "config.h"

#include <cstdio>

#include "check.h"
#include "tensors.h"

namespace gpt {

std::string to_string(PosEnc p) {
  switch (p) {
    case PosEnc::learned: return "learned";
    case PosEnc::sinusoidal: return "sinusoidal";
    case PosEnc::rope: return "rope";
  }
  return "?";
}

PosEnc parse_posenc(const std::string& s) {
  if (s == "learned") return PosEnc::learned;
  if (s == "sinusoidal") return PosEnc::sinusoidal;
  if (s == "rope") return PosEnc::rope;
  GPT_USAGE_FAIL("--pos: unknown positional encoding '", s, "'; choose learned, sinusoidal or rope");
}

int pad_vocab(int V) { return (V + 127) / 128 * 128; }

void validate(const GPTConfig& c) {
  if (c.num_layers < 1) GPT_USAGE_FAIL("--layers must be at least 1 (got ", c.num_layers, ")");
  if (c.num_heads < 1) GPT_USAGE_FAIL("--heads must be at least 1 (got ", c.num_heads, ")");
  if (c.channels < 1) GPT_USAGE_FAIL("--dim must be at least 1 (got ", c.channels, ")");
  if (c.channels % c.num_heads != 0)
    GPT_USAGE_FAIL("--heads ", c.num_heads, " does not divide --dim ", c.channels,
                   ": each head gets dim/heads channels; pick e.g. --heads ", c.channels % 4 == 0 ? 4 : 1);
  if (c.max_seq_len < 1) GPT_USAGE_FAIL("--context must be at least 1 (got ", c.max_seq_len, ")");
  if (c.max_seq_len > 65536) GPT_USAGE_FAIL("--context ", c.max_seq_len, " is too large (max 65536)");
  if (c.pos == PosEnc::rope && (c.channels / c.num_heads) % 2 != 0)
    GPT_USAGE_FAIL("--pos rope needs an even head size (dim/heads), got ", c.channels / c.num_heads);
  if (c.pos == PosEnc::sinusoidal && c.channels % 2 != 0)
    GPT_USAGE_FAIL("--pos sinusoidal needs an even --dim, got ", c.channels);
  if (!(c.pos_scale > 0.0f && c.pos_scale <= 1e3f))
    GPT_USAGE_FAIL("sinusoidal table scale ", c.pos_scale, " is outside (0, 1000]");
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f))
    GPT_USAGE_FAIL("--dropout must be in [0, 1) (got ", c.dropout, ")");
  if (c.vocab_size < 1 || c.vocab_size > 65536)
    GPT_USAGE_FAIL("vocabulary size ", c.vocab_size, " is outside 1..65536 (tokens are uint16)");
  if (c.padded_vocab_size < c.vocab_size) GPT_USAGE_FAIL("padded vocab smaller than vocab");
  // (A checkpoint's header can name any int sizes: the count must not wrap around 2^64.)
  if (const unsigned __int128 n = param_count(c); n > kMaxParams) {
    char approx[32];
    std::snprintf(approx, sizeof approx, "%.3g", double(n));
    GPT_USAGE_FAIL("a model of ", count(c.num_layers, "layer"), ", dim ", c.channels, ", vocabulary ",
                   c.padded_vocab_size, " and context ", c.max_seq_len, " has about ", approx,
                   " parameters, more than gpt.cc's limit of 2^50 (and far more than any machine's memory); use a "
                   "smaller --dim or --layers");
  }
}

void validate(const TrainConfig& t) {
  if (t.batch < 1) GPT_USAGE_FAIL("--batch must be at least 1 (got ", t.batch, ")");
  if (t.grad_accum < 1) GPT_USAGE_FAIL("--grad-accum must be at least 1 (got ", t.grad_accum, ")");
  if (!(t.lr > 0.0f)) GPT_USAGE_FAIL("--lr must be positive (got ", t.lr, ")");
  if (!(t.min_lr >= 0.0f) || t.min_lr > t.lr)
    GPT_USAGE_FAIL("--min-lr must be in [0, --lr] (got ", t.min_lr, " with --lr ", t.lr, ")");
  if (t.warmup < 0) GPT_USAGE_FAIL("--warmup must be >= 0 (got ", t.warmup, ")");
  if (!(t.weight_decay >= 0.0f)) GPT_USAGE_FAIL("--weight-decay must be >= 0 (got ", t.weight_decay, ")");
  // (0.99999999999 rounds to 1 in float: the message said [0, 1) of a value below 1.)
  const char* rounded = " (in single precision, which gpt computes it in: values above 0.99999997 round to 1)";
  if (!(t.beta1 >= 0.0f && t.beta1 < 1.0f))
    GPT_USAGE_FAIL("--beta1 must be in [0, 1) (got ", t.beta1, t.beta1 == 1.0f ? rounded : "", ")");
  if (!(t.beta2 >= 0.0f && t.beta2 < 1.0f))
    GPT_USAGE_FAIL("--beta2 must be in [0, 1) (got ", t.beta2, t.beta2 == 1.0f ? rounded : "", ")");
  if (!(t.grad_clip >= 0.0f)) GPT_USAGE_FAIL("--grad-clip must be >= 0 (0 = off)");
  if (t.steps < 1) GPT_USAGE_FAIL("--steps must be at least 1 (got ", t.steps, ")");
  if (t.eval_every < 0) GPT_USAGE_FAIL("--eval-every must be >= 0 (0 = never)");
  if (t.eval_batches < 0) GPT_USAGE_FAIL("--eval-batches must be >= 0 (0 = the whole val split)");
  if (t.log_every < 1) GPT_USAGE_FAIL("--log-every must be at least 1");
  if (t.save_every < 0) GPT_USAGE_FAIL("--save-every must be >= 0 (0 = only at the end)");
}

}  // namespace gpt
