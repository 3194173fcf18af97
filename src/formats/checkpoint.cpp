// Checkpoint file: see checkpoint.h and data/README.md ("Checkpoint").
#include "formats/checkpoint.h"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "check.h"
#include "fileio.h"
#include "tensors.h"

namespace gpt {

namespace {
// What to do about a damaged checkpoint: a run keeps one checkpoint.bin (and best.bin), so
// the advice to use an earlier one named nothing there is.
std::string damaged_advice(const std::string& path) {
  const std::string dir = parent_dir(path);
  const std::string base = path.substr(path.find_last_of('/') + 1);  // (npos + 1 = 0: the whole name)
  const std::string best = join_path(dir, "best.bin"), ckpt = join_path(dir, kCheckpointFile);
  if (base == kCheckpointFile && file_exists(best))
    return "a run keeps one checkpoint: restore it from a backup, or use the run's best model: sample or evaluate "
           "it with --ckpt " + best + ", or start a new run from it (gpt train --init " + best + " --data DIR --out NEW; "
           "its optimizer state and data position start over)";
  if (base == "best.bin" && file_exists(ckpt))
    return "restore it from a backup, or use the run's last checkpoint instead (" + ckpt + ")";
  return "restore it from a backup (a run keeps one checkpoint), or train again";
}


// The header fields in file order, each list written once and used by both the
// writer and the reader (ints and enums are stored as int32). Two lists, so that
// a bad model config is reported before the training fields are read.
template <class F>
void model_fields(F&& field, GPTConfig& c, uint32_t version) {
  field(c.max_seq_len, "max_seq_len");
  field(c.vocab_size, "vocab_size");
  field(c.padded_vocab_size, "padded_vocab_size");
  field(c.num_layers, "num_layers");
  field(c.num_heads, "num_heads");
  field(c.channels, "channels");
  field(c.pos, "pos");
  field(c.dropout, "dropout");
  if (version >= 3) field(c.pos_scale, "sinusoidal table scale");
  else c.pos_scale = 1.0f;  // what versions 1 and 2 were trained with
}

template <class F>
void run_fields(F&& field, TrainConfig& t, TrainState& s, uint32_t version) {
  field(t.batch, "batch");
  field(t.grad_accum, "grad_accum");
  field(t.lr, "lr");
  field(t.min_lr, "min_lr");
  field(t.warmup, "warmup");
  field(t.schedule, "schedule");
  field(t.weight_decay, "weight_decay");
  field(t.beta1, "beta1");
  field(t.beta2, "beta2");
  field(t.eps, "eps");
  field(t.grad_clip, "grad_clip");
  field(t.steps, "steps");
  field(t.eval_every, "eval_every");
  field(t.eval_batches, "eval_batches");
  field(t.log_every, "log_every");
  field(t.save_every, "save_every");
  field(t.seed, "seed");
  field(t.sampling, "sampling");
  field(s.step, "step");
  field(s.loader.batch_index, "loader batch index");
  field(s.loader.rng_state, "loader rng state");
  field(s.tokens_seen, "tokens seen");
  field(s.elapsed_s, "elapsed seconds");
  if (version >= 2) {  // which data the loader position refers to (0 in version 1: unknown)
    field(s.loader.data_tokens, "loader data tokens");
    field(s.loader.data_id, "loader data fingerprint");
  }
  if (version >= 4) field(s.best_val, "lowest val loss");
}

// int and enum fields are int32 on disk; everything else is stored as its own type.
template <class X>
using Stored = std::conditional_t<std::is_same_v<X, int> || std::is_enum_v<X>, int32_t, X>;

struct Writer {
  std::string out;
  template <class X>
  void put(const X& x) {
    out.append(reinterpret_cast<const char*>(&x), sizeof(X));
  }
  void bytes(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
  // n floats of one of the model's stores, copied from its backend straight into the file image.
  void store(const GPT<float>& model, Store s, size_t n) {
    const size_t at = out.size();
    out.resize(at + n * sizeof(float));
    model.read(s, reinterpret_cast<float*>(&out[at]), 0, n);
  }
  template <class X>
  void operator()(const X& x, const char*) {
    put(static_cast<Stored<X>>(x));
  }
};

struct FieldReader {
  ByteReader& r;
  template <class X>
  void operator()(X& x, const char* what) {
    x = static_cast<X>(r.get<Stored<X>>(what));
  }
};

// Every training field read from a file, range-checked: the CLI validates flags, but
// a crafted (checksum-valid) file must not reach the loop with step -1 or eps inf.
void check_run_fields(const std::string& path, const TrainConfig& t, const TrainState& s) {
  auto bad = [&](const char* field, auto value, const char* expected) {
    GPT_FAIL(path, ": field ", field, " is ", value, ", expected ", expected,
             "; the checkpoint is damaged or was not written by gpt.cc: ", damaged_advice(path));
  };
  auto finite = [](double x) { return std::isfinite(x); };
  if (t.batch < 1) bad("batch", t.batch, ">= 1");
  if (t.grad_accum < 1) bad("grad_accum", t.grad_accum, ">= 1");
  if (!(finite(t.lr) && t.lr > 0)) bad("lr", t.lr, "a positive finite number");
  if (!(finite(t.min_lr) && t.min_lr >= 0 && t.min_lr <= t.lr)) bad("min_lr", t.min_lr, "a number in [0, lr]");
  if (t.warmup < 0) bad("warmup", t.warmup, ">= 0");
  if (int(t.schedule) != int(Schedule::cosine) && int(t.schedule) != int(Schedule::constant))
    bad("schedule", int(t.schedule), "0 (cosine) or 1 (constant)");
  if (!(finite(t.weight_decay) && t.weight_decay >= 0)) bad("weight_decay", t.weight_decay, "a finite number >= 0");
  if (!(t.beta1 >= 0 && t.beta1 < 1)) bad("beta1", t.beta1, "a number in [0, 1)");
  if (!(t.beta2 >= 0 && t.beta2 < 1)) bad("beta2", t.beta2, "a number in [0, 1)");
  if (!(finite(t.eps) && t.eps > 0)) bad("eps", t.eps, "a positive finite number");
  if (!(finite(t.grad_clip) && t.grad_clip >= 0)) bad("grad_clip", t.grad_clip, "a finite number >= 0 (0 = off)");
  if (t.steps < 1) bad("steps", t.steps, ">= 1");
  if (t.eval_every < 0) bad("eval_every", t.eval_every, ">= 0");
  if (t.eval_batches < 0) bad("eval_batches", t.eval_batches, ">= 0");
  if (t.log_every < 1) bad("log_every", t.log_every, ">= 1");
  if (t.save_every < 0) bad("save_every", t.save_every, ">= 0");
  if (int(t.sampling) != int(SamplingMode::random) && int(t.sampling) != int(SamplingMode::sequential))
    bad("sampling", int(t.sampling), "0 (random) or 1 (sequential)");
  // The loop counts steps in an int; AdamW's bias correction needs t >= 1 after it.
  if (s.step < 0 || s.step >= int64_t(1) << 31) bad("step", s.step, "a step count in [0, 2^31)");
  if (!(finite(s.elapsed_s) && s.elapsed_s >= 0)) bad("elapsed seconds", s.elapsed_s, "a finite number >= 0");
  if (!(std::isnan(s.best_val) || (finite(s.best_val) && s.best_val >= 0)))
    bad("lowest val loss", s.best_val, "NaN (none yet) or a finite number >= 0");
}

}  // namespace

size_t first_non_finite(const float* p, size_t n) {
  // Exponent bits all ones = inf or NaN; a branch-free OR per block (vectorizes), the
  // element searched for only when a block has one.
  const auto* u = reinterpret_cast<const uint32_t*>(p);
  constexpr size_t kBlock = 4096;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = std::min(n, b + kBlock);
    uint32_t any = 0;
    for (size_t i = b; i < e; i++) any |= uint32_t((u[i] & 0x7f800000u) == 0x7f800000u);
    if (any)
      for (size_t i = b; i < e; i++)
        if (!std::isfinite(p[i])) return i;
  }
  return n;
}

std::string param_location(const GPTConfig& c, size_t at) {
  const ParamLayout l = param_layout(c);
  int id = NUM_PARAM_TENSORS - 1;
  while (id > 0 && l.offset[id] > at) id--;
  const size_t within = at - l.offset[id];
  const TensorSpec& t = tensor_spec(id);
  return str("tensor ", t.name,
             t.per_layer && l.per_layer[id] ? str(" (layer ", within / l.per_layer[id], ", element ", within % l.per_layer[id], ")")
                                            : str(" (element ", within, ")"));
}

void require_finite_weights(const Checkpoint& ck, const std::string& source) {
  auto check = [&](const std::vector<float>& v, const char* what) {
    if (v.empty()) return;
    const size_t at = first_non_finite(v.data(), v.size());
    if (at == v.size()) return;
    GPT_FAIL(source, ": ", what, " of ", param_location(ck.model, at), " is ", v[at],
             "; the model diverged or the file is damaged: ", damaged_advice(source),
             "; a model that diverged trains again with a lower --lr");
  };
  check(ck.params, "weight");
  check(ck.m, "AdamW m");
  check(ck.v, "AdamW v");
  for (size_t i = 0; i < ck.v.size(); i++)
    if (ck.v[i] < 0)
      GPT_FAIL(source, ": AdamW v at element ", i, " is ", ck.v[i], ", expected >= 0 (a mean of squares); the file "
               "is damaged: ", damaged_advice(source));
}

std::string checkpoint_path(const std::string& run_or_file) {
  return is_directory(run_or_file) ? join_path(run_or_file, kCheckpointFile) : run_or_file;
}

void save_checkpoint(const std::string& path, const GPT<float>& model, const TrainConfig& tc,
                     const TrainState& st, const std::string& tokenizer_blob, bool with_optimizer,
                     const OptimizerState* gathered) {
  const GPTConfig& c = model.config();
  Writer w;
  w.put(kCheckpointMagic);
  w.put(kCheckpointVersion);
  // model config, training config, training state (copies: the lists take references)
  GPTConfig mc = c;
  TrainConfig t = tc;
  TrainState s = st;
  model_fields(w, mc, kCheckpointVersion);
  run_fields(w, t, s, kCheckpointVersion);
  // tokenizer
  w.put(uint64_t(tokenizer_blob.size()));
  w.bytes(tokenizer_blob.data(), tokenizer_blob.size());
  // tensors
  const uint64_t n = model.num_params();
  w.put(n);
  w.put(uint32_t(with_optimizer ? 1 : 0));
  w.out.reserve(w.out.size() + n * 4 * (with_optimizer ? 3 : 1) + 16);
  w.store(model, Store::params, n);
  if (with_optimizer) {
    if (gathered) {
      GPT_CHECK(gathered->m.size() == n && gathered->v.size() == n, "gathered optimizer state of the wrong size");
      w.bytes(gathered->m.data(), n * sizeof(float));
      w.bytes(gathered->v.data(), n * sizeof(float));
    } else if (model.has_training_state()) {
      w.store(model, Store::m, n);
      w.store(model, Store::v, n);
    } else {  // never stepped: the optimizer state is all zeros
      const std::vector<float> zeros(n, 0.0f);
      w.bytes(zeros.data(), n * sizeof(float));
      w.bytes(zeros.data(), n * sizeof(float));
    }
  }
  w.put(fnv1a(w.out.data(), w.out.size()));
  write_file_atomic(path, w.out);
}

uint64_t checkpoint_file_bytes(uint64_t num_params, uint64_t tokenizer_bytes, bool with_optimizer) {
  // The fields' bytes, as save_checkpoint writes them (their values do not change their size).
  Writer w;
  GPTConfig mc;
  TrainConfig t;
  TrainState s;
  model_fields(w, mc, kCheckpointVersion);
  run_fields(w, t, s, kCheckpointVersion);
  return 2 * sizeof(uint32_t) + w.out.size() + sizeof(uint64_t) + tokenizer_bytes + sizeof(uint64_t) +
         sizeof(uint32_t) + num_params * sizeof(float) * (with_optimizer ? 3 : 1) + sizeof(uint64_t);
}

Checkpoint load_checkpoint(const std::string& run_or_file, bool with_optimizer) {
  const std::string path = checkpoint_path(run_or_file);
  if (!file_exists(path))
    GPT_FAIL(path, ": no checkpoint here; expected a run directory written by `gpt train --out RUN` "
             "(holding ", kCheckpointFile, ") or a checkpoint file");
  // Mapped, not copied: only the tensors asked for are copied out (sampling a 6-layer
  // model's checkpoint went from ~2.5 s to well under one second of start-up).
  const MappedFile file(path);
  const std::string_view data = file.view();
  Checkpoint ck;
  // Everything below reads the mapping: a file truncated meanwhile is an error, not SIGBUS.
  ByteReader r(data, path);
  file.read_guarded([&] {
    const auto magic = r.get<uint32_t>("magic");
    if (int32_t(magic) == kLlmcMagic)
      GPT_FAIL(path, ": is an llm.c checkpoint, which holds weights only (no optimizer state or data position), so "
               "it cannot be resumed; start a new run from it with `gpt train --init ", path, "`");
    if (magic != kCheckpointMagic)
      GPT_FAIL(path, ": not a gpt.cc checkpoint: expected magic ", kCheckpointMagic, ", found ", magic,
               "; pass the RUN directory of `gpt train` or its ", kCheckpointFile);
    const auto version = r.get<uint32_t>("version");
    if (version < 1 || version > kCheckpointVersion) {
      // Every version ends in the checksum of the bytes before it: a version field whose file
      // does not check out is a damaged file, not one from a newer gpt.cc (a flipped byte there
      // was sent to look for a newer build).
      const bool sealed = data.size() >= 16 && [&] {
        uint64_t stored;
        std::memcpy(&stored, data.data() + data.size() - sizeof(uint64_t), sizeof(uint64_t));
        return fnv1a(data.data(), data.size() - sizeof(uint64_t)) == stored;
      }();
      if (!sealed)
        GPT_FAIL(path, ": the file is damaged: its version field reads ", version, " (this build reads versions 1 to ",
                 kCheckpointVersion, ") and its checksum does not match: ", damaged_advice(path));
      GPT_FAIL(path, ": checkpoint version ", version, " is not supported (this build reads versions 1 to ",
               kCheckpointVersion, ")", version > kCheckpointVersion ? "; it was written by a newer gpt.cc" : "");
    }
    if (data.size() < sizeof(uint64_t) + 8)
      GPT_FAIL(path, ": truncated (", data.size(), " bytes)");
    uint64_t stored_sum;
    std::memcpy(&stored_sum, data.data() + data.size() - sizeof(uint64_t), sizeof(uint64_t));
    // An older version's layout read from a file that does not check out: most likely this
    // build's file with its version field damaged (helper-43: 3 changed to 1 read "truncated:
    // tokenizer claims ..."), so the checksum is asked first.
    if (version != kCheckpointVersion && fnv1a(data.data(), data.size() - sizeof(uint64_t)) != stored_sum)
      GPT_FAIL(path, ": the file is damaged: its version field reads ", version, " (an older gpt.cc's layout; this build "
               "writes version ", kCheckpointVersion, ") and its checksum does not match: ",
               damaged_advice(path));
    GPTConfig& c = ck.model;
    model_fields(FieldReader{r}, c, version);
    if (int(c.pos) < 0 || int(c.pos) > 2) GPT_FAIL(path, ": unknown positional encoding code ", int(c.pos));
    try {
      validate(c);
    } catch (const Error& e) {
      GPT_FAIL(path, ": the model config in this checkpoint is invalid: ", e.what());
    }
    run_fields(FieldReader{r}, ck.train, ck.state, version);
    check_run_fields(path, ck.train, ck.state);
    const auto tok_len = r.get<uint64_t>("tokenizer length");
    if (tok_len > r.remaining()) GPT_FAIL(path, ": truncated: tokenizer claims ", tok_len, " bytes, ", r.remaining(), " left");
    ck.tokenizer.resize(tok_len);
    r.read(ck.tokenizer.data(), tok_len, "tokenizer");
    const auto n = r.get<uint64_t>("parameter count");
    const size_t expected = param_layout(c).total;
    if (n != expected)
      GPT_FAIL(path, ": header/config mismatch: the config implies ", expected, " parameters, the file says ", n);
    const auto has_opt = r.get<uint32_t>("optimizer flag");
    if (has_opt > 1) GPT_FAIL(path, ": field optimizer flag is ", has_opt, ", expected 0 or 1; the file is damaged");
    const size_t tensor_bytes = n * sizeof(float) * (has_opt ? 3 : 1);
    if (r.remaining() != tensor_bytes + sizeof(uint64_t))
      GPT_FAIL(path, ": truncated or padded: expected ", tensor_bytes + sizeof(uint64_t),
               " bytes of tensors and checksum after the header, found ", r.remaining(),
               "; the file is damaged: ", damaged_advice(path));
    const uint64_t sum = fnv1a(data.data(), data.size() - sizeof(uint64_t));
    if (sum != stored_sum)
      GPT_FAIL(path, ": checksum mismatch (stored ", stored_sum, ", computed ", sum,
               "): the file is corrupted: ", damaged_advice(path));
    ck.params.resize(n);
    r.read(ck.params.data(), n * sizeof(float), "parameters");
    if (has_opt && with_optimizer) {
      ck.m.resize(n);
      ck.v.resize(n);
      r.read(ck.m.data(), n * sizeof(float), "AdamW m");
      r.read(ck.v.data(), n * sizeof(float), "AdamW v");
    }
  });
  require_finite_weights(ck, path);
  return ck;
}

void load_weights(GPT<float>& model, const Checkpoint& ck, bool with_optimizer) {
  const GPTConfig& a = model.config();
  const GPTConfig& b = ck.model;
  GPT_CHECK(a.vocab_size == b.vocab_size && a.padded_vocab_size == b.padded_vocab_size &&
                a.num_layers == b.num_layers && a.num_heads == b.num_heads && a.channels == b.channels &&
                a.pos == b.pos && a.max_seq_len <= b.max_seq_len,
            "model and checkpoint shapes differ");
  GPT_CHECK(ck.params.size() == param_layout(b).total, "parameter count mismatch");
  if (ck.params.size() == model.num_params()) {
    model.write(Store::params, ck.params);
  } else {
    // A shorter context with learned positions: wpe keeps its first max_seq_len rows.
    GPT_CHECK(!with_optimizer, "optimizer state needs the same shape");
    const ParamLayout from = param_layout(b), to = model.layout();
    for (int id = 0; id < NUM_PARAM_TENSORS; id++)
      model.write(Store::params, ck.params.data() + from.offset[id], to.offset[id], to.numel[id]);
  }
  if (with_optimizer) {
    GPT_CHECK(!ck.m.empty(), "checkpoint has no optimizer state");
    model.write(Store::m, ck.m);
    model.write(Store::v, ck.v);
  } else if (model.has_training_state()) {
    const std::vector<float> zeros(model.num_params(), 0.0f);
    model.write(Store::m, zeros);
    model.write(Store::v, zeros);
  }
}

}  // namespace gpt
