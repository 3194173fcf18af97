// bf16 (--dtype bf16): the rounding rule, and the bf16 GEMM kernels against a double
// reference computed on the rounded operands (an independent path), on awkward shapes
// that exercise every packing path (the forward, dinp and dW products have different
// strides), several packed panels of depth, and exact results where the arithmetic is
// exact.
#include <cmath>
#include <cstring>

#include "backend.h"
#include "bf16.h"
#include "layers.h"
#include "layers/gemm.h"
#include "model.h"
#include "test_util.h"

namespace gpt::test {

namespace {
uint16_t bf16_bits(uint32_t f) { return float_to_bf16(bits_float(f)); }

struct Bf16IsaScope {
  cpu::Bf16Isa saved = cpu::bf16_isa();
  explicit Bf16IsaScope(cpu::Bf16Isa isa) { cpu::set_bf16_isa(isa); }
  ~Bf16IsaScope() { cpu::set_bf16_isa(saved); }
};

std::vector<double> rounded(const std::vector<float>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); i++) r[i] = bf16_rounded(v[i]);
  return r;
}
}  // namespace

// Round to nearest, ties to even, on hand-picked bit patterns (IEEE 754's rule applied
// to the 16 bits kept).
TEST(Bf16, RoundsToNearestTiesToEven) {
  EXPECT_EQ(bf16_bits(0x3F800000u), 0x3F80);  // 1.0
  EXPECT_EQ(bf16_bits(0x3F807FFFu), 0x3F80);  // just below half an ulp: down
  EXPECT_EQ(bf16_bits(0x3F808000u), 0x3F80);  // tie, 0x3F80 even: down
  EXPECT_EQ(bf16_bits(0x3F818000u), 0x3F82);  // tie, 0x3F81 odd: up to even
  EXPECT_EQ(bf16_bits(0x3F808001u), 0x3F81);  // above half: up
  EXPECT_EQ(bf16_bits(0xBF818000u), 0xBF82);  // the sign does not matter
  EXPECT_EQ(bf16_bits(0x00018000u), 0x0002);  // subnormals round the same way
  EXPECT_EQ(bf16_bits(0x00008000u), 0x0000);
  EXPECT_EQ(bf16_bits(0x7F800000u), 0x7F80);  // +inf
  EXPECT_EQ(bf16_bits(0x7F7FFFFFu), 0x7F80);  // the largest float rounds to inf
  EXPECT_EQ(bf16_bits(0x7F7F7FFFu), 0x7F7F);
  // A NaN whose payload is only in the dropped half stays a NaN (plain rounding would
  // carry it into +inf).
  const uint16_t n = bf16_bits(0x7F800001u);
  EXPECT_TRUE(std::isnan(bf16_to_float(n))) << std::hex << n;
  EXPECT_TRUE(std::isnan(bf16_to_float(bf16_bits(0xFFC00000u))));
  EXPECT_EQ(bf16_to_float(0x4049), 3.140625f);  // widening is exact
}

// The 16-lane form used by the GEMM packs is the same template: lane for lane equal to
// the scalar rule on random bit patterns (including NaN, inf and subnormals).
TEST(Bf16, VectorRoundingEqualsScalar) {
  typedef uint32_t v16u __attribute__((vector_size(64)));
  SplitMix64 r(7);
  for (int it = 0; it < 20000; it++) {
    v16u u;
    for (int l = 0; l < 16; l++) {
      uint32_t x = uint32_t(r.next());
      if (l == 3) x |= 0x7F800000u;   // inf / NaN exponents
      if (l == 5) x &= 0x807FFFFFu;   // subnormals
      u[l] = x;
    }
    const v16u nan = (v16u)((u & 0x7FFFFFFFu) > 0x7F800000u);
    const v16u got = bf16_round_bits(u, nan);
    for (int l = 0; l < 16; l++) ASSERT_EQ(got[l], bf16_round_bits(uint32_t(u[l]))) << std::hex << u[l];
  }
}

struct Bf16Shape {
  size_t N;
  int C, OC;
};

class Bf16Gemm : public ::testing::TestWithParam<std::tuple<Bf16Shape, cpu::Bf16Isa>> {};

// Forward, dinp and dW of the bf16 matmul layer against double sums of the rounded
// operands; bias and the bias gradient are fp32 (unrounded).
TEST_P(Bf16Gemm, MatchesRoundedReference) {
  const auto [shape, isa] = GetParam();
  const auto [N, C, OC] = shape;
  if (!cpu::bf16_isa_supported(isa)) GTEST_SKIP() << cpu::bf16_isa_name(isa) << " not supported by this CPU";
  Bf16IsaScope scope(isa);
  auto inp = random_vec<float>(N * C, 1), w = random_vec<float>(size_t(OC) * C, 2);
  auto b = random_vec<float>(OC, 3), dout = random_vec<float>(N * OC, 4);
  const auto ri = rounded(inp), rw = rounded(w), rd = rounded(dout);
  std::vector<float> out(N * OC);
  cpu::matmul_forward_bf16(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  std::vector<double> ref(N * OC);
  for (size_t i = 0; i < N; i++)
    for (int o = 0; o < OC; o++) {
      double s = b[o];
      for (int c = 0; c < C; c++) s += ri[i * C + c] * rw[size_t(o) * C + c];
      ref[i * OC + o] = s;
    }
  // fp32 sums of C products of size <= 1: a few ulps per term at most.
  EXPECT_CLOSE(out.data(), ref.data(), out.size(), 1e-6 * C + 1e-6, 1e-6);

  // dinp is written (it starts as NaN); dw and db add to what they hold.
  std::vector<float> dinp(N * C, std::nanf("")), dw = random_vec<float>(size_t(OC) * C, 6);
  auto db = random_vec<float>(OC, 7);
  std::vector<double> dinp_ref(dinp.size(), 0.0), dw_ref(dw.begin(), dw.end()), db_ref(db.begin(), db.end());
  cpu::matmul_backward_bf16(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  for (size_t i = 0; i < N; i++)
    for (int o = 0; o < OC; o++) {
      const double d = rd[i * OC + o];
      for (int c = 0; c < C; c++) {
        dinp_ref[i * C + c] += d * rw[size_t(o) * C + c];
        dw_ref[size_t(o) * C + c] += d * ri[i * C + c];
      }
      db_ref[o] += dout[i * OC + o];
    }
  EXPECT_CLOSE(dinp.data(), dinp_ref.data(), dinp.size(), 1e-6 * OC + 1e-6, 1e-6);
  EXPECT_CLOSE(dw.data(), dw_ref.data(), dw.size(), 1e-6 * double(N) + 1e-6, 1e-6);
  EXPECT_CLOSE(db.data(), db_ref.data(), db.size(), 1e-6 * double(N) + 1e-6, 1e-6);
}

// Small integers are exact in bf16, and every product and partial sum here is an
// integer below 2^24: each kernel must give the exact answer, bit for bit.
TEST_P(Bf16Gemm, ExactOnRepresentableOperands) {
  const auto [shape, isa] = GetParam();
  const auto [N, C, OC] = shape;
  if (!cpu::bf16_isa_supported(isa)) GTEST_SKIP() << cpu::bf16_isa_name(isa) << " not supported by this CPU";
  Bf16IsaScope scope(isa);
  SplitMix64 r(11);
  auto ints = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = float(int(r.next() % 17) - 8);
    return v;
  };
  auto inp = ints(N * C), w = ints(size_t(OC) * C), dout = ints(N * OC);
  std::vector<float> out(N * OC), expect(N * OC);
  cpu::matmul_forward_bf16(out.data(), inp.data(), w.data(), nullptr, N, C, OC);
  cpu::matmul_forward_reference(expect.data(), inp.data(), w.data(), static_cast<const float*>(nullptr), N, C, OC);
  EXPECT_TRUE(bitwise_equal(out, expect));
  std::vector<float> dinp(N * C), dw(size_t(OC) * C), dinp_e(N * C), dw_e(size_t(OC) * C);
  cpu::matmul_backward_bf16(dinp.data(), dw.data(), nullptr, dout.data(), inp.data(), w.data(), N, C, OC);
  cpu::matmul_backward_reference(dinp_e.data(), dw_e.data(), static_cast<float*>(nullptr), dout.data(), inp.data(),
                                 w.data(), N, C, OC);
  EXPECT_TRUE(bitwise_equal(dinp, dinp_e));
  EXPECT_TRUE(bitwise_equal(dw, dw_e));
}

// The GELU epilogues give the same bits as the bf16 matmul followed by the GELU layer.
TEST_P(Bf16Gemm, FusedGeluEqualsMatmulThenGelu) {
  const auto [shape, isa] = GetParam();
  const auto [N, C, OC] = shape;
  if (!cpu::bf16_isa_supported(isa)) GTEST_SKIP() << cpu::bf16_isa_name(isa) << " not supported by this CPU";
  Bf16IsaScope scope(isa);
  auto inp = random_vec<float>(N * C, 1, 3.0), w = random_vec<float>(size_t(OC) * C, 2);
  auto b = random_vec<float>(OC, 3);
  std::vector<float> out(N * OC), act(N * OC), out2(N * OC), act2(N * OC);
  cpu::matmul_gelu_forward_bf16(out.data(), act.data(), inp.data(), w.data(), b.data(), N, C, OC);
  cpu::matmul_forward_bf16(out2.data(), inp.data(), w.data(), b.data(), N, C, OC);
  cpu::gelu_forward(act2.data(), out2.data(), out2.size());
  EXPECT_TRUE(bitwise_equal(out, out2));
  EXPECT_TRUE(bitwise_equal(act, act2));
  auto pre = random_vec<float>(N * C, 4, 3.0), dout = random_vec<float>(N * OC, 5);
  // dpre and dinp are written: one of each pair starts as NaN
  std::vector<float> dpre(N * C, std::nanf("")), dpre2 = random_vec<float>(N * C, 6), dinp(N * C, std::nanf("")),
      dinp2 = random_vec<float>(N * C, 7);
  auto dw = random_vec<float>(size_t(OC) * C, 8), dw2 = dw;
  cpu::matmul_gelu_backward_bf16(dpre.data(), dinp.data(), dw.data(), nullptr, dout.data(), inp.data(), pre.data(),
                                 w.data(), N, C, OC);
  cpu::matmul_backward_bf16(dinp2.data(), dw2.data(), nullptr, dout.data(), inp.data(), w.data(), N, C, OC);
  cpu::gelu_backward(dpre2.data(), pre.data(), dinp2.data(), dpre2.size());
  EXPECT_TRUE(bitwise_equal(dinp, dinp2));
  EXPECT_TRUE(bitwise_equal(dpre, dpre2));
  EXPECT_TRUE(bitwise_equal(dw, dw2));
  // without dinp (the model's call): the product scaled in place, the same bits
  std::vector<float> dpre3(N * C, std::nanf("")), dw3 = random_vec<float>(size_t(OC) * C, 8);
  cpu::matmul_gelu_backward_bf16(dpre3.data(), nullptr, dw3.data(), nullptr, dout.data(), inp.data(), pre.data(),
                                 w.data(), N, C, OC);
  EXPECT_TRUE(bitwise_equal(dpre3, dpre));
  EXPECT_TRUE(bitwise_equal(dw3, dw));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Bf16Gemm,
    ::testing::Combine(::testing::Values(Bf16Shape{1, 1, 1}, Bf16Shape{2, 37, 53}, Bf16Shape{3, 5, 7},
                                         Bf16Shape{33, 31, 29}, Bf16Shape{64, 64, 96}, Bf16Shape{130, 300, 65},
                                         Bf16Shape{67, 517, 129}, Bf16Shape{160, 800, 40},
                                         Bf16Shape{900, 40, 35}, Bf16Shape{1601, 48, 64}),
                       ::testing::Values(cpu::Bf16Isa::generic, cpu::Bf16Isa::avx512bf16, cpu::Bf16Isa::amx)),
    [](const auto& info) {
      const Bf16Shape& s = std::get<0>(info.param);
      return std::string(cpu::bf16_isa_name(std::get<1>(info.param))) + "_" + std::to_string(s.N) + "x" +
             std::to_string(s.C) + "x" + std::to_string(s.OC);
    });

// Decoding's matrix-vector product with bf16 weights: fp32 x and sums.
TEST(Bf16, MatvecWithBf16WeightsMatchesReference) {
  for (auto [C, OC] : {std::pair{1, 1}, {37, 53}, {384, 1152}, {1536, 384}, {768, 50}}) {
    auto w = random_vec<float>(size_t(OC) * C, 1), x = random_vec<float>(C, 2), b = random_vec<float>(OC, 3);
    std::vector<uint16_t> wh(w.size());
    for (size_t i = 0; i < w.size(); i++) wh[i] = float_to_bf16(w[i]);
    std::vector<float> y(OC);
    cpu::matvec_bf16w(y.data(), wh.data(), x.data(), b.data(), C, OC);
    std::vector<double> ref(OC);
    for (int o = 0; o < OC; o++) {
      double s = b[o];
      for (int c = 0; c < C; c++) s += double(bf16_to_float(wh[size_t(o) * C + c])) * x[c];
      ref[o] = s;
    }
    EXPECT_CLOSE(y.data(), ref.data(), y.size(), 1e-6 * C + 1e-6, 1e-6) << C << "x" << OC;
  }
}

// bf16 attention (bf16 products per head over blocks of 128 queries or keys) against the
// fp32 row-by-row reference, forward and backward, with dropout, on lengths that are not
// multiples of the tiles or the blocks (T = 200: two blocks, the second partial), T = 1,
// and q, k, v rounded to bf16 first (so only the weights'
// rounding before mixing the values separates the two). The lse it saves is the
// reference's, and the dropout masks are the same elements.
TEST(Bf16Attention, MatchesTheFp32Reference) {
  for (auto [B, T, C, NH, p] : {std::tuple{2, 37, 48, 3, 0.0f}, {1, 1, 32, 2, 0.0f}, {2, 70, 64, 2, 0.2f},
                                {1, 64, 128, 2, 0.1f}, {1, 200, 32, 2, 0.1f}}) {
    const Dims d{B, T, C, NH};
    const Dropout drop{p, 77, 3};
    auto qkv = random_vec<float>(size_t(B) * T * 3 * C, 1, 2.0);
    for (float& x : qkv) x = bf16_rounded(x);
    auto dout = random_vec<float>(size_t(B) * T * C, 2);
    std::vector<float> out(size_t(B) * T * C), lse(size_t(B) * NH * T), ref(out.size()), att(size_t(B) * NH * T * T);
    cpu::attention_forward_bf16(out.data(), lse.data(), qkv.data(), d, drop);
    cpu::attention_forward_reference(ref.data(), att.data(), qkv.data(), d, drop);
    EXPECT_CLOSE(out.data(), ref.data(), out.size(), 2e-2, 2e-2) << "T " << T;
    std::vector<float> out32(out.size()), lse32(lse.size());
    cpu::attention_forward(out32.data(), lse32.data(), qkv.data(), d, drop);
    EXPECT_CLOSE(lse.data(), lse32.data(), lse.size(), 1e-5, 1e-5) << "T " << T;  // q.k of rounded inputs: ~exact
    // both write: one starts as NaN, the other as random values
    std::vector<float> dqkv(qkv.size(), std::nanf("")), dref = random_vec<float>(qkv.size(), 3);
    cpu::attention_backward_bf16(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), d, drop);
    cpu::attention_backward_reference(dref.data(), dout.data(), qkv.data(), att.data(), d, drop);
    EXPECT_CLOSE(dqkv.data(), dref.data(), dqkv.size(), 3e-2, 3e-2) << "T " << T;
  }
}

// ---- the bf16 model against fp32 ------------------------------------------------
// The bounds, in one place: bf16 keeps 8 significant bits, so a matmul output carries
// a relative error of about 2^-9 per operand, averaged over its sums.
constexpr double kBf16LossRel = 1e-2;  // losses of the same steps, bf16 vs fp32 (the bound)
constexpr double kBf16GradRel = 3e-2;  // per tensor: ||g_bf16 - g_fp32|| / ||g_fp32|| (measured worst 0.74%, qkvb)

namespace {
// Batches with structure (token t+1 follows t mod 20), so the loss falls.
void structured_batch(std::vector<int>& in, std::vector<int>& tg, SplitMix64& r) {
  for (size_t i = 0; i < in.size(); i++) {
    const int t = int((i % 16 == 0 ? r.below(20) : uint64_t(in[i - 1] + 1) % 20));
    in[i] = t;
    tg[i] = (t + 1) % 20;
  }
}
}  // namespace

// 20 steps from one initialisation on the same batches and dropout masks.
TEST(Bf16Model, TwentyStepsTrackFp32) {
  GPTConfig c = small_gpt(16, 64, PosEnc::learned, 0.1f);
  GPT<float> m32(c), m16(c, DeviceKind::cpu, Dtype::bf16);
  ASSERT_EQ(m16.dtype(), Dtype::bf16);
  m32.init_weights(3);
  m16.write(Store::params, m32.read(Store::params));
  TrainConfig tc;
  const int B = 4, T = 16;
  std::vector<int> in(B * T), tg(B * T);
  SplitMix64 r(9);
  double first = 0, last = 0;
  bool any_differs = false;
  for (int step = 1; step <= 20; step++) {
    structured_batch(in, tg, r);
    const DropoutKey key{11, uint64_t(step)};
    m32.zero_grad();
    m16.zero_grad();
    const double l32 = *m32.forward(in.data(), tg.data(), B, T, true, key);
    const double l16 = *m16.forward(in.data(), tg.data(), B, T, true, key);
    m32.backward();
    m16.backward();
    m32.step(3e-3f, tc, step);
    m16.step(3e-3f, tc, step);
    EXPECT_NEAR(l16, l32, kBf16LossRel * l32) << "step " << step;
    any_differs |= l16 != l32;
    if (step == 1) first = l32;
    last = l32;
  }
  EXPECT_LT(last, 0.8 * first) << "the batches should be learnable";
  EXPECT_TRUE(any_differs) << "bf16 gave fp32's losses to the last bit: is the bf16 table in use?";
}

// One backward pass: every parameter tensor's gradient close to fp32's.
TEST(Bf16Model, GradientsBoundedAgainstFp32) {
  for (PosEnc pos : {PosEnc::learned, PosEnc::rope}) {
    GPTConfig c = small_gpt(32, 64, pos);
    GPT<float> m32(c), m16(c, DeviceKind::cpu, Dtype::bf16);
    m32.init_weights(4);
    m16.write(Store::params, m32.read(Store::params));
    const int B = 3, T = 32;
    std::vector<int> in(B * T), tg(B * T);
    SplitMix64 r(2);
    structured_batch(in, tg, r);
    for (GPT<float>* m : {&m32, &m16}) {
      m->zero_grad();
      m->forward(in.data(), tg.data(), B, T);
      m->backward();
    }
    const auto g32 = m32.read(Store::grads), g16 = m16.read(Store::grads);
    const ParamLayout& l = m32.layout();
    for (int id = 0; id < NUM_PARAM_TENSORS; id++) {
      if (pos == PosEnc::rope && id == WPE) continue;  // no position table
      double diff = 0, norm = 0;
      for (size_t i = l.offset[id]; i < l.offset[id] + l.numel[id]; i++) {
        diff += (double(g16[i]) - g32[i]) * (double(g16[i]) - g32[i]);
        norm += double(g32[i]) * g32[i];
      }
      ASSERT_GT(norm, 0) << tensor_spec(id).name;
      EXPECT_LT(std::sqrt(diff / norm), kBf16GradRel) << tensor_spec(id).name << " " << to_string(pos);
    }
  }
}

// gpt sample --dtype bf16: decoding with the bf16 copy of the weights gives, at every
// position, the logits of an fp32 forward over the sequence whose weights were rounded
// to bf16 on the host (an independent path). The copy follows the weights: after they
// change, the next decode uses the new ones.
TEST(Bf16Model, DecodeUsesTheRoundedWeightsAndFollowsTheirChanges) {
  const GPTConfig c = small_gpt(12, 32);
  GPT<float> m16(c, DeviceKind::cpu, Dtype::bf16), ref(c);
  const int T = 12, Vp = c.padded_vocab_size;
  std::vector<int> toks(T);
  SplitMix64 r(8);
  for (auto& t : toks) t = int(r.below(20));
  const ParamLayout& l = ref.layout();
  auto round_tensor = [&](std::vector<float>& w, int id) {
    for (size_t i = l.offset[id]; i < l.offset[id] + l.numel[id]; i++) w[i] = bf16_rounded(w[i]);
  };
  for (uint64_t seed : {1, 2}) {
    // wte is both the embedding (an fp32 lookup in decode) and the classifier (a bf16
    // product): exactly representable values make the two agree. Biases and LayerNorm
    // stay fp32 in both.
    m16.init_weights(seed);
    std::vector<float> w = m16.read(Store::params);
    round_tensor(w, WTE);
    m16.write(Store::params, w);
    for (int id : {QKVW, ATTPROJW, FCW, FCPROJW}) round_tensor(w, id);
    ref.write(Store::params, w);
    ref.forward(toks.data(), nullptr, 1, T);
    const std::vector<float> want = ref.logits();
    for (int pos = 0; pos < T; pos++) {
      const float* got = m16.decode(toks[size_t(pos)], pos);
      EXPECT_CLOSE(got, want.data() + size_t(pos) * Vp, size_t(c.vocab_size), 1e-5, 1e-4)
          << "seed " << seed << " position " << pos;
    }
  }
}

}  // namespace gpt::test
