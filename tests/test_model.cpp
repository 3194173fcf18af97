// Whole-model tests: finite differences for each positional encoding, overfitting
// one batch, determinism, checkpoint round trip (bit-exact), exact resume, and the
// KV-cache decoder against the full forward pass.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend.h"
#include "check.h"
#include "formats/checkpoint.h"
#include "fileio.h"
#include "gradcheck.h"
#include "model.h"
#include "sampler.h"
#include "test_util.h"

namespace gpt::test {

GPTConfig tiny_config(PosEnc pos = PosEnc::learned, float dropout = 0.0f) { return small_gpt(16, 32, pos, dropout); }

class ModelGradcheck : public ::testing::TestWithParam<std::tuple<PosEnc, float>> {};

TEST_P(ModelGradcheck, EveryParameterTensorMatchesFiniteDifferences) {
  const auto [pos, drop] = GetParam();
  const auto rows = gradcheck_model(pos, drop, 99);
  EXPECT_GE(rows.size(), 15u);
  for (const auto& r : rows)
    EXPECT_TRUE(r.pass) << r.layer << " " << r.tensor << " max abs err " << r.max_abs_err;
}

// gpt gradcheck --device's comparison, run here on the CPU's float backend: the float
// layers' loss and gradients against GPT<double>'s within the device tolerances, and not
// equal to them (two computations were compared, not one twice).
TEST_P(ModelGradcheck, FloatLayersGiveTheDoubleModelsGradients) {
  const auto [pos, drop] = GetParam();
  const auto rows = gradcheck_model_on_device(DeviceKind::cpu, pos, drop, 99);
  ASSERT_GE(rows.size(), 16u);
  EXPECT_EQ(rows[0].tensor, "loss");
  double largest = 0;
  for (const auto& r : rows) {
    EXPECT_TRUE(r.pass) << r.layer << " " << r.tensor << " max abs err " << r.max_abs_err;
    EXPECT_EQ(r.abs_tol, kDeviceAbsTol);
    largest = std::max(largest, r.max_abs_err);
  }
  EXPECT_GT(largest, 0.0);
  EXPECT_LT(largest, 1e-5);
}

// The device rows' rule: 1e-5 + 1e-4 |reference| per element.
TEST(DeviceGradcheck, AnElementOffByMoreThanTheToleranceFails) {
  GradcheckRow r;
  r.pass = true;
  r.abs_tol = kDeviceAbsTol;
  r.rel_tol = kDeviceRelTol;
  r.add(2.0 + 2.0e-4 + 0.5e-5, 2.0);  // within 1e-5 + 2e-4
  EXPECT_TRUE(r.pass);
  r.add(2.0 + 2.0e-4 + 2e-5, 2.0);  // past it
  EXPECT_FALSE(r.pass);
}

INSTANTIATE_TEST_SUITE_P(AllEncodings, ModelGradcheck,
                         ::testing::Combine(::testing::Values(PosEnc::learned, PosEnc::sinusoidal, PosEnc::rope),
                                            ::testing::Values(0.0f, 0.25f)));

TEST(Model, ParameterCountMatchesGpt2Formula) {
  GPTConfig c = tiny_config();
  GPT<float> m(c);
  const size_t C = 32, L = 2, Vp = 128, T = 16;
  // wte + wpe + per layer (2 LN + qkv + attproj + fc + fcproj) + final LN
  const size_t expected = Vp * C + T * C + L * (4 * C + 3 * C * C + 3 * C + C * C + C + 4 * C * C + 4 * C + 4 * C * C + C) + 2 * C;
  EXPECT_EQ(m.num_params(), expected);
  c.pos = PosEnc::rope;
  EXPECT_EQ(GPT<float>(c).num_params(), expected - T * C);
}

TEST(Model, InitialLossIsNearLogV) {
  GPT<float> m(tiny_config());
  m.init_weights(1);
  std::vector<int> in(4 * 16), tg(4 * 16);
  SplitMix64 r(3);
  for (auto& x : in) x = int(r.below(20));
  for (auto& x : tg) x = int(r.below(20));
  const double loss = *m.forward(in.data(), tg.data(), 4, 16);
  EXPECT_NEAR(loss, std::log(20.0), 0.1);
}

TEST(Model, OverfitsOneBatch) {
  for (PosEnc pos : {PosEnc::learned, PosEnc::sinusoidal, PosEnc::rope}) {
    GPT<float> m(tiny_config(pos));
    m.init_weights(7);
    const int B = 4, T = 16;
    std::vector<int> in(B * T), tg(B * T);
    SplitMix64 r(5);
    for (auto& x : in) x = int(r.below(20));
    for (auto& x : tg) x = int(r.below(20));
    TrainConfig tc;
    tc.weight_decay = 0.0f;
    double loss = 0;
    for (int step = 1; step <= 300; step++) {
      m.zero_grad();
      loss = *m.forward(in.data(), tg.data(), B, T, true);
      m.backward();
      m.step(3e-3f, tc, step);
    }
    EXPECT_LT(loss, 0.1) << "positional encoding " << to_string(pos);
  }
}

TEST(Model, SameSeedSameLossesAndDifferentSeedDiffers) {
  auto run = [](uint64_t seed) {
    GPT<float> m(tiny_config(PosEnc::learned, 0.1f));
    m.init_weights(seed);
    std::vector<int> in(2 * 16), tg(2 * 16);
    for (int i = 0; i < 32; i++) in[i] = i % 20, tg[i] = (i * 7) % 20;
    TrainConfig tc;
    std::vector<double> losses;
    for (int step = 1; step <= 5; step++) {
      m.zero_grad();
      losses.push_back(*m.forward(in.data(), tg.data(), 2, 16, true, {seed, uint64_t(step)}));
      m.backward();
      m.step(1e-3f, tc, step);
    }
    return losses;
  };
  EXPECT_EQ(run(11), run(11));
  EXPECT_NE(run(11), run(12));
}

// Training's call: forward_backward, whose classifier writes the logits' gradient in its
// forward pass, gives the loss and the gradients of forward then backward, bit for bit
// (with dropout, a loss scale, and gradients accumulated over two micro-steps).
TEST(Model, ForwardBackwardEqualsForwardThenBackward) {
  GPT<float> a(tiny_config(PosEnc::learned, 0.1f)), b(tiny_config(PosEnc::learned, 0.1f));
  a.init_weights(3);
  b.init_weights(3);
  const int B = 2, T = 16;
  std::vector<int> in(B * T), tg(B * T);
  SplitMix64 r(9);
  for (auto& x : in) x = int(r.below(20));
  for (auto& x : tg) x = int(r.below(20));
  a.zero_grad();
  b.zero_grad();
  for (uint64_t micro = 0; micro < 2; micro++) {
    const double la = *a.forward(in.data(), tg.data(), B, T, true, {7, micro});
    a.backward(0.5f);
    const double lb = b.forward_backward(in.data(), tg.data(), B, T, {7, micro}, 0.5f);
    EXPECT_EQ(la, lb) << micro;
  }
  EXPECT_TRUE(bitwise_equal(a.read(Store::grads), b.read(Store::grads)));
  // An eval forward after it keeps its probabilities (the fused classifier is per call).
  b.forward(in.data(), tg.data(), B, T);
  a.forward(in.data(), tg.data(), B, T);
  EXPECT_TRUE(bitwise_equal(a.logits(), b.logits()));
}

// ZeRO-1's update: two models each holding half of AdamW's state (a split inside a
// tensor) and updating their half with the global norm give, put together, exactly
// the parameters and moments of one model updating everything.
TEST(Model, ShardedOptimizerUpdatesEqualTheWholeUpdate) {
  const GPTConfig c = tiny_config(PosEnc::learned, 0.0f);
  GPT<float> whole(c), lo(c), hi(c);
  whole.init_weights(3);
  const std::vector<float> w = whole.read(Store::params);
  const size_t n = whole.num_params(), k = whole.layout().offset[QKVW] + 77;  // mid-tensor split
  lo.shard_optimizer(0, k);
  hi.shard_optimizer(k, n);
  lo.write(Store::params, w);
  hi.write(Store::params, w);
  std::vector<int> in(32), tg(32);
  for (int i = 0; i < 32; i++) in[i] = i % 20, tg[i] = (i * 7) % 20;
  TrainConfig tc;
  tc.grad_clip = 0.05f;  // so the clip (from the global norm) is active
  for (int step = 1; step <= 3; step++) {
    for (GPT<float>* m : {&whole, &lo, &hi}) {
      m->zero_grad();
      m->forward(in.data(), tg.data(), 2, 16);
      m->backward();
    }
    const double norm = whole.step(1e-2f, tc, step);
    EXPECT_NEAR(std::sqrt(lo.shard_grad_sum_squares() + hi.shard_grad_sum_squares()), norm, 1e-6 * norm);
    lo.update_shard(1e-2f, tc, step, 1.0, norm);
    hi.update_shard(1e-2f, tc, step, 1.0, norm);
    std::vector<float> p = lo.read(Store::params), ph = hi.read(Store::params);
    std::copy(ph.begin() + long(k), ph.end(), p.begin() + long(k));
    ASSERT_EQ(p, whole.read(Store::params)) << "step " << step;
    lo.write(Store::params, p);  // the all-gather
    hi.write(Store::params, p);
  }
  EXPECT_EQ(lo.read(Store::m).size(), k);
  std::vector<float> m = lo.read(Store::m), mh = hi.read(Store::m);
  m.insert(m.end(), mh.begin(), mh.end());
  EXPECT_EQ(m, whole.read(Store::m));
}

TEST(Model, KvCacheDecodeMatchesFullForward) {
  for (PosEnc pos : {PosEnc::learned, PosEnc::sinusoidal, PosEnc::rope}) {
    GPT<float> m(tiny_config(pos));
    m.init_weights(3);
    // Larger weights so positions matter visibly.
    std::vector<float> w = m.read(Store::params);
    for (float& x : w) x *= 10.0f;
    m.write(Store::params, w);
    const int T = 11;
    std::vector<int> toks(T);
    for (int i = 0; i < T; i++) toks[i] = (i * 5 + 3) % 20;
    m.forward(toks.data(), nullptr, 1, T);
    const std::vector<float> full = m.logits();
    for (int t = 0; t < T; t++) {
      const float* lg = m.decode(toks[t], t);
      EXPECT_CLOSE(lg, full.data() + size_t(t) * 128, 20, 1e-4, 1e-4);
    }
  }
}

TEST(Checkpoint, RoundTripIsBitExact) {
  const std::string dir = scratch_dir();
  GPT<float> m(tiny_config(PosEnc::rope, 0.1f));
  m.init_weights(5);
  SplitMix64 r(9);
  m.ensure_training_state();
  std::vector<float> mm(m.num_params()), vv(m.num_params());
  for (size_t i = 0; i < m.num_params(); i++) mm[i] = float(r.uniform()), vv[i] = float(r.uniform());
  m.write(Store::m, mm);
  m.write(Store::v, vv);
  TrainConfig tc;
  tc.lr = 3e-4f;
  tc.steps = 77;
  TrainState st{42, {7, 12345}, 999, 1.5};
  const std::string path = join_path(dir, "ck.bin"), path2 = join_path(dir, "ck2.bin");
  save_checkpoint(path, m, tc, st, "tokenizer-bytes");
  Checkpoint ck = load_checkpoint(path);
  EXPECT_EQ(ck.model.pos, PosEnc::rope);
  EXPECT_EQ(ck.model.channels, 32);
  EXPECT_FLOAT_EQ(ck.model.dropout, 0.1f);
  EXPECT_EQ(ck.train.steps, 77);
  EXPECT_EQ(ck.train.lr, 3e-4f);
  EXPECT_EQ(ck.state.step, 42);
  EXPECT_EQ(ck.state.loader.rng_state, 12345u);
  EXPECT_EQ(ck.tokenizer, "tokenizer-bytes");
  ASSERT_EQ(ck.params.size(), m.num_params());
  EXPECT_EQ(ck.params, m.read(Store::params));
  EXPECT_EQ(ck.m, mm);
  EXPECT_EQ(ck.v, vv);
  GPT<float> m2(ck.model);
  load_weights(m2, ck, true);
  save_checkpoint(path2, m2, ck.train, ck.state, ck.tokenizer);
  EXPECT_EQ(read_file(path), read_file(path2));
}

TEST(Checkpoint, RejectsDamage) {
  const std::string dir = scratch_dir();
  GPT<float> m(tiny_config());
  m.init_weights(5);
  const std::string path = join_path(dir, "ck.bin");
  save_checkpoint(path, m, TrainConfig{}, TrainState{}, "");
  const std::string good = read_file(path);
  auto expect_rejected = [&](const std::string& bytes, const std::string& word) {
    write_file_atomic(path, bytes);
    expect_error([&] { load_checkpoint(path); }, {path, word});
  };
  expect_rejected(good.substr(0, good.size() / 2), "truncated");
  std::string flipped = good;
  flipped[good.size() / 2] ^= 1;
  expect_rejected(flipped, "checksum");
  std::string magic = good;
  magic[0] = 'X';
  expect_rejected(magic, "magic");
  expect_rejected("", "truncated");
  EXPECT_THROW(load_checkpoint(join_path(dir, "nope")), Error);
}

// FNV-1a of all but the last 8 bytes, stored in them (written here independently).
std::string resealed(std::string bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i + 8 < bytes.size(); i++) h = (h ^ uint8_t(bytes[i])) * 1099511628211ull;
  std::memcpy(&bytes[bytes.size() - 8], &h, 8);
  return bytes;
}

// A header whose parameter count wraps around 2^64 in size_t arithmetic: 3 layers of
// dim 1,600,638,087 with vocabulary 65536 and context 58179 have 92,233,720,368,547,799,256
// parameters, 41,176 modulo 2^64. A file holding 41,176 parameters and a valid checksum
// is refused (it was read as a 41,176-parameter model, and exported).
TEST(Checkpoint, RefusesAParameterCountThatWrapsAround) {
  const std::string dir = scratch_dir();
  GPT<float> m(tiny_config());
  m.init_weights(5);
  const std::string path = join_path(dir, "ck.bin");
  save_checkpoint(path, m, TrainConfig{}, TrainState{}, "");
  std::string bytes = read_file(path);
  // After the magic and version: max_seq_len, vocab_size, padded_vocab_size, num_layers,
  // num_heads, channels, pos (int32 each; pos 0 = learned).
  const int32_t fields[7] = {58179, 65536, 65536, 3, 1, 1600638087, 0};
  std::memcpy(&bytes[8], fields, sizeof fields);
  // The tensors: the count (uint64), the optimizer flag (uint32), the floats, the checksum.
  const size_t P = m.num_params();
  size_t at = 0;
  for (size_t k : {1, 3}) {
    const size_t off = bytes.size() - 8 - P * 4 * k - 4 - 8;
    uint64_t n = 0;
    std::memcpy(&n, &bytes[off], 8);
    if (n == P) at = off;
  }
  ASSERT_NE(at, 0u) << "no parameter count found";
  const uint64_t wrapped = 41176;
  bytes.resize(at);
  bytes.append(reinterpret_cast<const char*>(&wrapped), 8);
  bytes.append(4, '\0');                   // no optimizer state
  bytes.append(wrapped * 4 + 8, '\0');     // zero weights, then the checksum
  write_file_atomic(path, resealed(bytes));
  expect_error([&] { load_checkpoint(path); }, {path, "dim 1600638087", "2^50"});
}

// Older versions, derived from a current file by the documented layout (data/README.md):
// version 4 added the lowest val loss (float64 after the data fingerprint), version 3 the
// sinusoidal scale (float32 after dropout, at byte 40), version 2 the two uint64
// data-fingerprint fields after "elapsed seconds". Sets the version and recomputes the
// FNV-1a checksum (resealed).
std::string downgrade_checkpoint(std::string bytes, int version, const TrainState& st) {
  EXPECT_EQ(bytes[4], 4);  // version 4 on disk
  std::string fields(24, '\0');
  std::memcpy(&fields[0], &st.loader.data_tokens, 8);
  std::memcpy(&fields[8], &st.loader.data_id, 8);
  std::memcpy(&fields[16], &st.best_val, 8);
  const size_t at = bytes.find(fields);
  EXPECT_NE(at, std::string::npos);
  EXPECT_EQ(bytes.find(fields, at + 1), std::string::npos);
  if (version < 4) bytes.erase(at + 16, 8);
  if (version < 2) bytes.erase(at, 16);
  if (version < 3) bytes.erase(40, 4);
  bytes[4] = char(version);
  return resealed(bytes);
}

TEST(Checkpoint, ReadsVersions1To3) {
  const std::string dir = scratch_dir();
  GPT<float> m(tiny_config());
  m.init_weights(6);
  TrainState st{42, {7, 12345, 0x1111222233334444ull, 0x5555666677778888ull}, 999, 1.5, 2.718281828459045};
  const std::string path = join_path(dir, "v4.bin");
  save_checkpoint(path, m, TrainConfig{}, st, "tok");
  const std::string bytes = read_file(path);
  EXPECT_EQ(load_checkpoint(path).state.best_val, 2.718281828459045);
  for (int version : {1, 2, 3}) {
    const std::string old = join_path(dir, "old.bin");
    write_file_atomic(old, downgrade_checkpoint(bytes, version, st));
    const Checkpoint ck = load_checkpoint(old);
    EXPECT_EQ(ck.state.step, 42);
    EXPECT_EQ(ck.state.loader.batch_index, 7u);
    EXPECT_EQ(ck.state.loader.rng_state, 12345u);
    // Version 1 does not know the data: a resume does not check it.
    EXPECT_EQ(ck.state.loader.data_id, version == 1 ? 0u : 0x5555666677778888ull);
    EXPECT_EQ(ck.state.tokens_seen, 999u);
    EXPECT_TRUE(std::isnan(ck.state.best_val)) << "no record of the lowest val loss before version 4";
    EXPECT_EQ(ck.tokenizer, "tok");
    EXPECT_EQ(ck.params, m.read(Store::params));
  }
  // A version from the future (a whole file, its checksum matching) is refused with a clear
  // message; a byte flipped in the version field of this build's file is damage, with the
  // advice for a damaged checkpoint (it was sent to look for a newer gpt.cc).
  std::string future = bytes;
  future[4] = 5;
  write_file_atomic(path, resealed(future));
  expect_error([&] { load_checkpoint(path); }, {path, "version 5", "newer gpt.cc"});
  write_file_atomic(path, future);
  expect_error([&] { load_checkpoint(path); }, {path, "damaged", "version field reads 5", "checksum"});
  try {
    load_checkpoint(path);
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
  // helper-43: the same flip to an older version this build reads parsed the file in that
  // version's layout and failed "truncated: tokenizer claims ...".
  for (char older : {1, 2, 3}) {
    std::string flipped = bytes;
    flipped[4] = older;
    write_file_atomic(path, flipped);
    expect_error([&] { load_checkpoint(path); },
                 {path, "damaged", str("version field reads ", int(older)), "checksum does not match"});
  }
}

// The disk checks count a checkpoint at the size it is written (helper-43: 219 KB estimated
// for a file of 215 KB).
TEST(Checkpoint, FileBytesAreTheSizeItIsWritten) {
  const std::string dir = scratch_dir();
  GPT<float> m(tiny_config());
  m.init_weights(3);
  for (const bool opt : {true, false})
    for (const std::string& tok : {std::string(), std::string(1000, 't')}) {
      const std::string path = join_path(dir, "c.bin");
      save_checkpoint(path, m, TrainConfig{}, TrainState{}, tok, opt);
      EXPECT_EQ(read_file(path).size(), checkpoint_file_bytes(m.num_params(), tok.size(), opt)) << opt;
    }
}

// The sinusoidal table's amplitude is stored (version 3); files written before it
// (versions 1 and 2) were trained with amplitude 1 and load with it, giving the logits
// they always gave, whatever amplitude new models get.
TEST(Checkpoint, SinusoidalScaleIsStoredAndOlderFilesKeepAmplitudeOne) {
  const std::string dir = scratch_dir();
  GPTConfig c = tiny_config(PosEnc::sinusoidal);
  c.pos_scale = 0.25f;
  GPT<float> m(c);
  m.init_weights(8);
  std::vector<float> w = m.read(Store::params);
  for (float& x : w) x *= 5.0f;  // positions matter visibly
  m.write(Store::params, w);
  const TrainState st{3, {1, 2, 3, 4}, 5, 0.5};
  const std::string path = join_path(dir, "ck.bin");
  save_checkpoint(path, m, TrainConfig{}, st, "");
  EXPECT_EQ(load_checkpoint(path).model.pos_scale, 0.25f);

  const int T = 16;
  std::vector<int> toks(T);
  for (int t = 0; t < T; t++) toks[t] = (t * 5) % 20;
  auto logits = [&](GPT<float>& g) {
    g.forward(toks.data(), nullptr, 1, T);
    return g.logits();
  };
  for (int version : {1, 2}) {
    const std::string old = join_path(dir, "old.bin");
    write_file_atomic(old, downgrade_checkpoint(read_file(path), version, st));
    const Checkpoint ck = load_checkpoint(old);
    EXPECT_EQ(ck.model.pos_scale, 1.0f) << "version " << version;
    GPT<float> loaded(ck.model);
    load_weights(loaded, ck, false);
    // The same weights with a table of amplitude 1: what gpt.cc before version 3 computed.
    GPTConfig one = c;
    one.pos_scale = 1.0f;
    GPT<float> before(one), scaled(c);
    before.write(Store::params, w);
    scaled.write(Store::params, w);
    const auto got = logits(loaded);
    EXPECT_EQ(got, logits(before)) << "version " << version;
    EXPECT_NE(got, logits(scaled)) << "version " << version;  // the amplitude matters
  }
}

TEST(Sampler, GreedyTopKTopP) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, -1.0f};
  std::vector<std::pair<float, int>> scratch;
  SplitMix64 rng(1);
  EXPECT_EQ(sample_token(logits.data(), 4, {0.0f, 0, 1.0f}, rng, scratch), 1);
  // top-k 1 is greedy whatever the temperature.
  for (int i = 0; i < 50; i++) EXPECT_EQ(sample_token(logits.data(), 4, {2.0f, 1, 1.0f}, rng, scratch), 1);
  // top-k 2 only ever gives the two best.
  for (int i = 0; i < 200; i++) {
    int t = sample_token(logits.data(), 4, {1.0f, 2, 1.0f}, rng, scratch);
    EXPECT_TRUE(t == 1 || t == 2);
  }
  // p(1) = e^3/(e^3+e^2+e+e^-1) = 0.64; top-p 0.5 keeps only token 1.
  for (int i = 0; i < 50; i++) EXPECT_EQ(sample_token(logits.data(), 4, {1.0f, 0, 0.5f}, rng, scratch), 1);
  // Frequencies follow the softmax (computed here independently).
  double z = std::exp(1.0) + std::exp(3.0) + std::exp(2.0) + std::exp(-1.0);
  int counts[4] = {};
  for (int i = 0; i < 20000; i++) counts[sample_token(logits.data(), 4, {1.0f, 0, 1.0f}, rng, scratch)]++;
  EXPECT_NEAR(counts[1] / 20000.0, std::exp(3.0) / z, 0.02);
  EXPECT_NEAR(counts[0] / 20000.0, std::exp(1.0) / z, 0.02);
  // A temperature below float's smallest normal is greedy, not NaN (1/T overflowed and the
  // last id won every draw; helper-21), with top-k and top-p too.
  for (float t : {1e-40f, 1e-45f, 1e-30f})
    for (int i = 0; i < 20; i++) {
      EXPECT_EQ(sample_token(logits.data(), 4, {t, 0, 1.0f}, rng, scratch), 1) << t;
      EXPECT_EQ(sample_token(logits.data(), 4, {t, 3, 0.9f}, rng, scratch), 1) << t;
    }
  // Logits that are not finite (a forward pass that overflowed) are an error, not a draw.
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    std::vector<float> l = logits;
    l[2] = bad;
    for (float t : {0.0f, 1.0f})
      expect_error([&] { sample_token(l.data(), 4, {t, 0, 1.0f}, rng, scratch); },
                   {"not finite", "token id 2"});
  }
  // Same seed, same draws.
  SplitMix64 a(5), b(5);
  for (int i = 0; i < 20; i++)
    EXPECT_EQ(sample_token(logits.data(), 4, {1.0f, 0, 1.0f}, a, scratch),
              sample_token(logits.data(), 4, {1.0f, 0, 1.0f}, b, scratch));
}

}  // namespace gpt::test
