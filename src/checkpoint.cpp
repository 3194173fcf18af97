// Checkpoint file: see checkpoint.h and data/README.md ("Checkpoint").
#include "checkpoint.h"

#include <cstring>

#include "check.h"
#include "fileio.h"

namespace gpt {

namespace {

uint64_t fnv1a(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= uint8_t(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

struct Writer {
  std::string out;
  template <class X>
  void put(const X& x) {
    out.append(reinterpret_cast<const char*>(&x), sizeof(X));
  }
  void bytes(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
};

}  // namespace

std::string checkpoint_path(const std::string& run_or_file) {
  return is_directory(run_or_file) ? join_path(run_or_file, kCheckpointFile) : run_or_file;
}

void save_checkpoint(const std::string& path, const GPT<float>& model, const TrainConfig& tc,
                     const TrainState& st, const std::string& tokenizer_blob, bool with_optimizer) {
  const GPTConfig& c = model.config();
  Writer w;
  w.put(kCheckpointMagic);
  w.put(kCheckpointVersion);
  // model config
  w.put(int32_t(c.max_seq_len));
  w.put(int32_t(c.vocab_size));
  w.put(int32_t(c.padded_vocab_size));
  w.put(int32_t(c.num_layers));
  w.put(int32_t(c.num_heads));
  w.put(int32_t(c.channels));
  w.put(int32_t(c.pos));
  w.put(c.dropout);
  // training config
  w.put(int32_t(tc.batch));
  w.put(int32_t(tc.grad_accum));
  w.put(tc.lr);
  w.put(tc.min_lr);
  w.put(int32_t(tc.warmup));
  w.put(int32_t(tc.schedule));
  w.put(tc.weight_decay);
  w.put(tc.beta1);
  w.put(tc.beta2);
  w.put(tc.eps);
  w.put(tc.grad_clip);
  w.put(int32_t(tc.steps));
  w.put(int32_t(tc.eval_every));
  w.put(int32_t(tc.eval_batches));
  w.put(int32_t(tc.log_every));
  w.put(int32_t(tc.save_every));
  w.put(tc.seed);
  w.put(int32_t(tc.sampling));
  // training state
  w.put(st.step);
  w.put(st.loader.batch_index);
  w.put(st.loader.rng_state);
  w.put(st.tokens_seen);
  w.put(st.elapsed_s);
  // tokenizer
  w.put(uint64_t(tokenizer_blob.size()));
  w.bytes(tokenizer_blob.data(), tokenizer_blob.size());
  // tensors
  const uint64_t n = model.num_params();
  w.put(n);
  w.put(uint32_t(with_optimizer ? 1 : 0));
  w.out.reserve(w.out.size() + n * 4 * (with_optimizer ? 3 : 1) + 16);
  w.bytes(model.params.data(), n * sizeof(float));
  if (with_optimizer) {
    w.bytes(model.m.data(), n * sizeof(float));
    w.bytes(model.v.data(), n * sizeof(float));
  }
  w.put(fnv1a(w.out.data(), w.out.size()));
  write_file_atomic(path, w.out);
}

Checkpoint load_checkpoint(const std::string& run_or_file) {
  const std::string path = checkpoint_path(run_or_file);
  if (!file_exists(path))
    GPT_FAIL(path, ": no checkpoint here; expected a run directory written by `gpt train --out RUN` "
             "(holding ", kCheckpointFile, ") or a checkpoint file");
  const std::string data = read_file(path);
  ByteReader r(data, path);
  const auto magic = r.get<uint32_t>("magic");
  if (magic != kCheckpointMagic)
    GPT_FAIL(path, ": not a gpt.cc checkpoint: expected magic ", kCheckpointMagic, ", found ", magic,
             "; pass the RUN directory of `gpt train` or its ", kCheckpointFile);
  const auto version = r.get<uint32_t>("version");
  if (version != kCheckpointVersion)
    GPT_FAIL(path, ": checkpoint version ", version, " is not supported (this build reads version ",
             kCheckpointVersion, ")");
  if (data.size() < sizeof(uint64_t) + 8)
    GPT_FAIL(path, ": truncated (", data.size(), " bytes)");
  uint64_t stored_sum;
  std::memcpy(&stored_sum, data.data() + data.size() - sizeof(uint64_t), sizeof(uint64_t));
  Checkpoint ck;
  GPTConfig& c = ck.model;
  c.max_seq_len = r.get<int32_t>("max_seq_len");
  c.vocab_size = r.get<int32_t>("vocab_size");
  c.padded_vocab_size = r.get<int32_t>("padded_vocab_size");
  c.num_layers = r.get<int32_t>("num_layers");
  c.num_heads = r.get<int32_t>("num_heads");
  c.channels = r.get<int32_t>("channels");
  const int32_t pos = r.get<int32_t>("pos");
  if (pos < 0 || pos > 2) GPT_FAIL(path, ": unknown positional encoding code ", pos);
  c.pos = PosEnc(pos);
  c.dropout = r.get<float>("dropout");
  try {
    validate(c);
  } catch (const Error& e) {
    GPT_FAIL(path, ": the model config in this checkpoint is invalid: ", e.what());
  }
  TrainConfig& t = ck.train;
  t.batch = r.get<int32_t>("batch");
  t.grad_accum = r.get<int32_t>("grad_accum");
  t.lr = r.get<float>("lr");
  t.min_lr = r.get<float>("min_lr");
  t.warmup = r.get<int32_t>("warmup");
  t.schedule = Schedule(r.get<int32_t>("schedule"));
  t.weight_decay = r.get<float>("weight_decay");
  t.beta1 = r.get<float>("beta1");
  t.beta2 = r.get<float>("beta2");
  t.eps = r.get<float>("eps");
  t.grad_clip = r.get<float>("grad_clip");
  t.steps = r.get<int32_t>("steps");
  t.eval_every = r.get<int32_t>("eval_every");
  t.eval_batches = r.get<int32_t>("eval_batches");
  t.log_every = r.get<int32_t>("log_every");
  t.save_every = r.get<int32_t>("save_every");
  t.seed = r.get<uint64_t>("seed");
  t.sampling = SamplingMode(r.get<int32_t>("sampling"));
  ck.state.step = r.get<int64_t>("step");
  ck.state.loader.batch_index = r.get<uint64_t>("loader batch index");
  ck.state.loader.rng_state = r.get<uint64_t>("loader rng state");
  ck.state.tokens_seen = r.get<uint64_t>("tokens seen");
  ck.state.elapsed_s = r.get<double>("elapsed seconds");
  const auto tok_len = r.get<uint64_t>("tokenizer length");
  if (tok_len > r.remaining()) GPT_FAIL(path, ": truncated: tokenizer claims ", tok_len, " bytes, ", r.remaining(), " left");
  ck.tokenizer.resize(tok_len);
  r.read(ck.tokenizer.data(), tok_len, "tokenizer");
  const auto n = r.get<uint64_t>("parameter count");
  const size_t expected = param_layout(c).total;
  if (n != expected)
    GPT_FAIL(path, ": header/config mismatch: the config implies ", expected, " parameters, the file says ", n);
  const auto has_opt = r.get<uint32_t>("optimizer flag");
  const size_t tensor_bytes = n * sizeof(float) * (has_opt ? 3 : 1);
  if (r.remaining() != tensor_bytes + sizeof(uint64_t))
    GPT_FAIL(path, ": truncated or padded: expected ", tensor_bytes + sizeof(uint64_t),
             " bytes of tensors and checksum after the header, found ", r.remaining(),
             "; the file is damaged, use an earlier checkpoint");
  const uint64_t sum = fnv1a(data.data(), data.size() - sizeof(uint64_t));
  if (sum != stored_sum)
    GPT_FAIL(path, ": checksum mismatch (stored ", stored_sum, ", computed ", sum,
             "): the file is corrupted, use an earlier checkpoint");
  ck.params.resize(n);
  r.read(ck.params.data(), n * sizeof(float), "parameters");
  if (has_opt) {
    ck.m.resize(n);
    ck.v.resize(n);
    r.read(ck.m.data(), n * sizeof(float), "AdamW m");
    r.read(ck.v.data(), n * sizeof(float), "AdamW v");
  }
  return ck;
}

void load_weights(GPT<float>& model, const Checkpoint& ck, bool with_optimizer) {
  GPT_CHECK(ck.params.size() == model.num_params(), "parameter count mismatch");
  std::memcpy(model.params.data(), ck.params.data(), ck.params.size() * sizeof(float));
  if (with_optimizer) {
    GPT_CHECK(!ck.m.empty(), "checkpoint has no optimizer state");
    std::memcpy(model.m.data(), ck.m.data(), ck.m.size() * sizeof(float));
    std::memcpy(model.v.data(), ck.v.data(), ck.v.size() * sizeof(float));
  } else {
    model.m.zero();
    model.v.zero();
  }
}

}  // namespace gpt
