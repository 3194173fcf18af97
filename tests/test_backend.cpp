// Every backend's table, entry by entry, against the CPU's double-precision layers
// (an independent path: the scalar/double code, not the float kernels), on buffers in
// that backend's memory; then the whole model trained on the backend against GPT<double>.
// Parameterised by device: a new backend is tested by these tests the moment its table
// exists; devices that are absent here are skipped (GTEST_SKIP, saying why).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend.h"
#include "layers.h"
#include "model.h"
#include "test_util.h"

namespace gpt::test {
namespace {

using Vd = std::vector<double>;
using Vf = std::vector<float>;

// Buffers in one backend's memory, uploaded from and downloaded to the host.
struct Arena {
  const Backend<float>& be;
  std::vector<DeviceBuffer<float>> f;
  std::vector<DeviceBuffer<int>> i;
  float* up(const Vd& h) {
    const Vf x(h.begin(), h.end());
    f.emplace_back(be.mem, x.size());
    f.back().write(x.data(), 0, x.size());
    return f.back().data();
  }
  float* zeros(size_t n) {
    f.emplace_back(be.mem, n);
    return f.back().data();
  }
  // For an output, or a gradient the backward writes (layers.h's rule): an element left
  // unwritten, or added to, stays NaN.
  float* nans(size_t n) { return up(Vd(n, std::nan(""))); }
  int* up(const std::vector<int>& h) {
    i.emplace_back(be.mem, h.size());
    i.back().write(h.data(), 0, h.size());
    return i.back().data();
  }
  Vd down(const float* p, size_t n) const {
    Vf x(n);
    be.mem.to_host(x.data(), p, n * sizeof(float));
    return Vd(x.begin(), x.end());
  }
};

// Random values already rounded to float, so both paths see the same inputs.
Vd rnd(size_t n, uint64_t seed, double scale = 1.0) {
  Vd v = random_vec<double>(n, seed, scale);
  for (double& x : v) x = double(float(x));
  return v;
}

class BackendTest : public ::testing::TestWithParam<DeviceKind> {
 protected:
  void SetUp() override {
    std::string why;
    if (!backend_available(GetParam(), &why)) GTEST_SKIP() << to_string(GetParam()) << ": " << why;
  }
  const Backend<float>& be() const { return backend_for<float>(GetParam()); }
};

constexpr double kAbs = 2e-5, kRel = 2e-5;  // float against double, per element

TEST_P(BackendTest, MemoryRoundTripsAndZeroes) {
  Arena a{be(), {}, {}};
  const Vd x = rnd(1000, 1);
  float* d = a.up(x);
  EXPECT_EQ(a.down(d, 1000), x);
  float* e = a.zeros(1000);
  be().mem.copy(e, d, 1000 * sizeof(float));
  EXPECT_EQ(a.down(e, 1000), x);
  be().mem.zero(d, 1000 * sizeof(float));
  EXPECT_EQ(a.down(d, 1000), Vd(1000, 0.0));
  double sum = 0, ss = 0;
  for (double v : x) sum += v, ss += v * v;
  EXPECT_NEAR(be().sum(e, 1000), sum, 1e-9 * 1000);
  EXPECT_NEAR(be().sum_squares(e, 1000), ss, 1e-9 * ss);
}

TEST_P(BackendTest, EncoderForwardBackward) {
  Arena a{be(), {}, {}};
  const Dims d{2, 5, 12, 3};
  const int V = 7, maxT = 8;
  std::vector<int> tok(d.BT());
  for (size_t k = 0; k < tok.size(); k++) tok[k] = int(k * 5 % V);
  const Vd wte = rnd(size_t(V) * 12, 2), wpe = rnd(size_t(maxT) * 12, 3), dout = rnd(d.BT() * 12, 4);
  Vd out(d.BT() * 12), dwte(wte.size()), dwpe(wpe.size());
  cpu::encoder_forward(out.data(), tok.data(), wte.data(), wpe.data(), d, 0);
  cpu::encoder_backward(dwte.data(), dwpe.data(), dout.data(), tok.data(), d);
  int* t = a.up(tok);
  float* o = a.nans(out.size());
  float *gw = a.zeros(wte.size()), *gp = a.zeros(wpe.size());
  be().encoder_forward(o, t, a.up(wte), a.up(wpe), d, 0);
  be().encoder_backward(gw, gp, a.up(dout), t, d);
  EXPECT_CLOSE(a.down(o, out.size()).data(), out.data(), out.size(), kAbs, kRel);
  EXPECT_CLOSE(a.down(gw, dwte.size()).data(), dwte.data(), dwte.size(), kAbs, kRel);
  EXPECT_CLOSE(a.down(gp, dwpe.size()).data(), dwpe.data(), dwpe.size(), kAbs, kRel);
}

TEST_P(BackendTest, LayerNormAndFusedResidual) {
  Arena a{be(), {}, {}};
  const size_t N = 9;
  const int C = 40;
  const Vd x = rnd(N * C, 5, 2.0), y = rnd(N * C, 6), w = rnd(C, 7), b = rnd(C, 8), dout = rnd(N * C, 9);
  Vd res(N * C), out(N * C), mean(N), rstd(N), dx(N * C), dw(C), db(C);
  cpu::residual_layernorm_forward(res.data(), out.data(), mean.data(), rstd.data(), x.data(), y.data(), w.data(),
                                  b.data(), N, C);
  cpu::layernorm_backward(dx.data(), dw.data(), db.data(), dout.data(), res.data(), w.data(), mean.data(),
                          rstd.data(), N, C);
  float *r = a.nans(N * C), *o = a.nans(N * C), *m = a.nans(N), *s = a.nans(N);
  float *gx = a.zeros(N * C), *gw = a.zeros(C), *gb = a.zeros(C);
  float *pw = a.up(w), *pb = a.up(b);
  be().residual_layernorm_forward(r, o, m, s, a.up(x), a.up(y), pw, pb, N, C);
  be().layernorm_backward(gx, gw, gb, a.up(dout), r, pw, m, s, N, C);
  EXPECT_CLOSE(a.down(r, N * C).data(), res.data(), N * C, kAbs, kRel);
  EXPECT_CLOSE(a.down(o, N * C).data(), out.data(), N * C, 1e-4, 1e-4);
  EXPECT_CLOSE(a.down(gx, N * C).data(), dx.data(), N * C, 1e-4, 1e-4);
  EXPECT_CLOSE(a.down(gw, C).data(), dw.data(), C, 1e-4, 1e-4);
  EXPECT_CLOSE(a.down(gb, C).data(), db.data(), C, 1e-4, 1e-4);
  // The unfused forward agrees with the fused one's LayerNorm.
  float* o2 = a.nans(N * C);
  be().layernorm_forward(o2, m, s, r, pw, pb, N, C);
  EXPECT_CLOSE(a.down(o2, N * C).data(), out.data(), N * C, 1e-4, 1e-4);
}

TEST_P(BackendTest, MatmulAndFusedGeluEveryShape) {
  // (N, C, OC): decode rows, odd sizes, and a model-sized one (several panels and threads).
  for (auto [N, C, OC] : {std::tuple<size_t, int, int>{1, 16, 48}, {2, 7, 5}, {37, 33, 29}, {256, 128, 384}}) {
    Arena a{be(), {}, {}};
    const Vd x = rnd(N * C, 10), w = rnd(size_t(OC) * C, 11, 0.3), b = rnd(OC, 12), dout = rnd(N * OC, 13);
    Vd out(N * OC), gelu(N * OC), dx(N * C), dw(size_t(OC) * C), db(OC), dpre(N * C);
    cpu::matmul_forward(out.data(), x.data(), w.data(), b.data(), N, C, OC);
    cpu::gelu_forward(gelu.data(), out.data(), N * OC);
    cpu::matmul_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N, C, OC);
    float *px = a.up(x), *pw = a.up(w), *pb = a.up(b), *pd = a.up(dout);
    float *o = a.nans(N * OC), *g = a.nans(N * OC), *gx = a.nans(N * C), *gw = a.zeros(size_t(OC) * C);
    float* gb = a.zeros(OC);
    be().matmul_gelu_forward(o, g, px, pw, pb, N, C, OC);
    be().matmul_backward(gx, gw, gb, pd, px, pw, N, C, OC);
    const std::string at = "N " + std::to_string(N) + " C " + std::to_string(C) + " OC " + std::to_string(OC);
    EXPECT_CLOSE(a.down(o, N * OC).data(), out.data(), N * OC, 1e-4, 1e-4) << at;
    EXPECT_CLOSE(a.down(g, N * OC).data(), gelu.data(), N * OC, 1e-4, 1e-4) << at;
    EXPECT_CLOSE(a.down(gx, N * C).data(), dx.data(), N * C, 1e-4, 1e-4) << at;
    EXPECT_CLOSE(a.down(gw, size_t(OC) * C).data(), dw.data(), size_t(OC) * C, 1e-3, 1e-4) << at;
    EXPECT_CLOSE(a.down(gb, OC).data(), db.data(), OC, 1e-3, 1e-4) << at;
    // The layer after a GELU: dpre = gelu'(pre) * (dout · W), with pre = x here; dinp = dout · W.
    if (N > 2) {
      cpu::matmul_gelu_backward(dpre.data(), Vd(N * C).data(), Vd(dw.size()).data(), Vd(OC).data(), dout.data(),
                                x.data(), x.data(), w.data(), N, C, OC);
      float *gp = a.nans(N * C), *gx2 = a.nans(N * C), *gw2 = a.zeros(size_t(OC) * C), *gb2 = a.zeros(OC);
      be().matmul_gelu_backward(gp, gx2, gw2, gb2, pd, px, px, pw, N, C, OC);
      EXPECT_CLOSE(a.down(gp, N * C).data(), dpre.data(), N * C, 1e-4, 1e-4) << at;
      EXPECT_CLOSE(a.down(gx2, N * C).data(), dx.data(), N * C, 1e-4, 1e-4) << at;
      // without dinp (the model's call): the same dpre
      float* gp3 = a.nans(N * C);
      be().matmul_gelu_backward(gp3, nullptr, a.zeros(size_t(OC) * C), a.zeros(OC), pd, px, px, pw, N, C, OC);
      EXPECT_CLOSE(a.down(gp3, N * C).data(), dpre.data(), N * C, 1e-4, 1e-4) << at;
    }
  }
}

TEST_P(BackendTest, AttentionForwardBackwardWithAndWithoutDropout) {
  for (int T : {1, 19, 70}) {
    for (float p : {0.0f, 0.25f}) {
      Arena a{be(), {}, {}};
      const Dims d{2, T, 24, 3};
      const size_t n3 = d.BT() * 72, n1 = d.BT() * 24;
      const Dropout drop = p > 0 ? Dropout{p, 99, 5} : Dropout{};
      const Vd qkv = rnd(n3, 14, 1.5), dout = rnd(n1, 15);
      Vd out(n1), lse(size_t(d.B) * d.NH * T), dqkv(n3);
      cpu::attention_forward(out.data(), lse.data(), qkv.data(), d, drop);
      cpu::attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), d, drop);
      float *pq = a.up(qkv), *o = a.nans(n1), *l = a.nans(lse.size()), *g = a.nans(n3);
      be().attention_forward(o, l, pq, d, drop, AttentionMode{}, nullptr, nullptr);
      be().attention_backward(g, a.up(dout), pq, o, l, d, drop, AttentionMode{});
      const std::string at = "T " + std::to_string(T) + " p " + std::to_string(p);
      EXPECT_CLOSE(a.down(o, n1).data(), out.data(), n1, 1e-5, 1e-4) << at;
      EXPECT_CLOSE(a.down(l, lse.size()).data(), lse.data(), lse.size(), 1e-5, 1e-5) << at;
      EXPECT_CLOSE(a.down(g, n3).data(), dqkv.data(), n3, 1e-4, 1e-4) << at;
    }
  }
}

TEST_P(BackendTest, KvCacheDecodeEqualsForwardRows) {
  Arena a{be(), {}, {}};
  const int T = 9, maxT = 12, C = 16, NH = 2;
  const Dims full{1, T, C, NH}, one{1, 1, C, NH};
  const Vd qkv = rnd(size_t(T) * 3 * C, 16, 1.5);
  Vd out(size_t(T) * C), lse(size_t(NH) * T);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), full);
  float *kc = a.zeros(size_t(maxT) * C), *vc = a.zeros(size_t(maxT) * C), *o = a.nans(C), *att = a.zeros(NH * maxT);
  for (int t = 0; t < T; t++) {
    float* row = a.up(Vd(qkv.begin() + size_t(t) * 3 * C, qkv.begin() + size_t(t + 1) * 3 * C));
    be().kv_cache_write(kc, vc, row, one, maxT, t);
    be().attention_decode(o, att, row, kc, vc, one, maxT, t);
    EXPECT_CLOSE(a.down(o, C).data(), out.data() + size_t(t) * C, C, 1e-5, 1e-4) << "position " << t;
  }
}

TEST_P(BackendTest, PointwiseLayers) {
  Arena a{be(), {}, {}};
  const size_t N = 3001;
  const Vd x = rnd(N, 17, 4.0), y = rnd(N, 18), dout = rnd(N, 19);
  Vd g(N), dg(N), r(N), dx(N), dy(N);
  cpu::gelu_forward(g.data(), x.data(), N);
  cpu::gelu_backward(dg.data(), x.data(), dout.data(), N);
  cpu::residual_forward(r.data(), x.data(), y.data(), N);
  cpu::residual_backward(dx.data(), dy.data(), dout.data(), N);
  float *px = a.up(x), *pd = a.up(dout);
  float *og = a.nans(N), *odg = a.nans(N), *orr = a.nans(N), *odx = a.nans(N), *ody = a.nans(N);
  be().gelu_forward(og, px, N);
  be().gelu_backward(odg, px, pd, N);
  be().residual_forward(orr, px, a.up(y), N);
  be().residual_backward(odx, ody, pd, N);
  EXPECT_CLOSE(a.down(og, N).data(), g.data(), N, kAbs, kRel);
  EXPECT_CLOSE(a.down(odg, N).data(), dg.data(), N, kAbs, kRel);
  EXPECT_CLOSE(a.down(orr, N).data(), r.data(), N, kAbs, kRel);
  EXPECT_CLOSE(a.down(odx, N).data(), dx.data(), N, kAbs, kRel);
  EXPECT_CLOSE(a.down(ody, N).data(), dy.data(), N, kAbs, kRel);
  // Dropout: the same Philox mask on every backend, so exactly the double path's values.
  const Dropout drop{0.3f, 7, 11};
  Vd xd = x;
  cpu::dropout_forward(xd.data(), N, drop);
  float* pdrop = a.up(x);
  be().dropout_forward(pdrop, N, drop);
  EXPECT_CLOSE(a.down(pdrop, N).data(), xd.data(), N, 1e-6, 1e-6);
  cpu::dropout_backward(xd.data(), N, drop);
  be().dropout_backward(pdrop, N, drop);
  EXPECT_CLOSE(a.down(pdrop, N).data(), xd.data(), N, 1e-6, 1e-6);
  // RoPE forward then backward: the rotation and its inverse (transpose).
  const Dims d{2, 6, 16, 2};
  const Vd q = rnd(d.BT() * 48, 20);
  Vd qr = q;
  cpu::rope_forward(qr.data(), d, 3);
  float* pq = a.up(q);
  be().rope_forward(pq, d, 3);
  EXPECT_CLOSE(a.down(pq, q.size()).data(), qr.data(), q.size(), kAbs, kRel);
  cpu::rope_backward(qr.data(), d, 3);
  be().rope_backward(pq, d, 3);
  EXPECT_CLOSE(a.down(pq, q.size()).data(), qr.data(), q.size(), kAbs, kRel);
}

TEST_P(BackendTest, CrossEntropyAndAdamW) {
  Arena a{be(), {}, {}};
  const size_t N = 11;
  const int V = 65, Vp = 128;
  const Vd logits = rnd(N * Vp, 21, 5.0);
  std::vector<int> tg(N);
  for (size_t k = 0; k < N; k++) tg[k] = int(k * 13 % V);
  Vd probs(N * Vp), loss(N), dl(N * Vp);
  cpu::crossentropy_forward(loss.data(), probs.data(), logits.data(), tg.data(), N, V, Vp);
  cpu::crossentropy_backward(dl.data(), probs.data(), tg.data(), 0.5, N, V, Vp);
  float *pl = a.up(logits), *ol = a.nans(N);
  int* pt = a.up(tg);
  be().crossentropy_forward(ol, pl, pl, pt, N, V, Vp);  // in place, as the model does
  EXPECT_CLOSE(a.down(ol, N).data(), loss.data(), N, 1e-5, 1e-5);
  EXPECT_CLOSE(a.down(pl, N * Vp).data(), probs.data(), N * Vp, 1e-7, 1e-5);
  // The model's backward: the probabilities become the gradient (crossentropy_backward's;
  // padded columns 0) in place.
  be().crossentropy_backward_inplace(pl, pt, 0.5f, N, V, Vp);
  EXPECT_CLOSE(a.down(pl, N * Vp).data(), dl.data(), N * Vp, 1e-7, 1e-5);
  // Training's fused call: both at once, over fresh logits (padded columns NaN: written 0).
  Vd padded_nan = logits;
  for (size_t k = 0; k < N; k++) padded_nan[k * Vp + V] = std::nan("");
  float *pf = a.up(padded_nan), *of = a.nans(N);
  be().crossentropy_fused(of, pf, pt, 0.5f, N, V, Vp);
  EXPECT_CLOSE(a.down(of, N).data(), loss.data(), N, 1e-5, 1e-5);
  EXPECT_CLOSE(a.down(pf, N * Vp).data(), dl.data(), N * Vp, 1e-7, 1e-5);
  // Two AdamW steps with a gradient scale, from non-zero moments.
  const size_t n = 777;
  Vd p = rnd(n, 22), m = rnd(n, 23, 0.1), v = rnd(n, 24, 0.1), gr = rnd(n, 25);
  for (double& x : v) x = std::fabs(x);
  float *pp = a.up(p), *pm = a.up(m), *pv = a.up(v), *pg = a.up(gr);
  for (long t : {3L, 4L}) {
    cpu::adamw_update(p.data(), m.data(), v.data(), gr.data(), n, 1e-2f, 0.9f, 0.99f, 1e-8f, 0.1f, t, 0.7);
    be().adamw_update(pp, pm, pv, pg, n, 1e-2f, 0.9f, 0.99f, 1e-8f, 0.1f, t, 0.7f);
  }
  EXPECT_CLOSE(a.down(pp, n).data(), p.data(), n, 1e-6, 1e-5);
  EXPECT_CLOSE(a.down(pm, n).data(), m.data(), n, 1e-6, 1e-5);
  EXPECT_CLOSE(a.down(pv, n).data(), v.data(), n, 1e-7, 1e-5);
}

// The whole model on the backend (float) against GPT<double> on the CPU from the same
// weights: three training steps with dropout, losses and gradient norms step by step.
TEST_P(BackendTest, ModelTrainsLikeTheDoubleModel) {
  for (PosEnc pos : {PosEnc::learned, PosEnc::sinusoidal, PosEnc::rope}) {
    GPTConfig c = small_gpt(16, 32, pos);
    c.dropout = 0.1f;
    GPT<float> mf(c, GetParam());
    GPT<double> md(c);
    mf.init_weights(31);
    const std::vector<float> w = mf.read(Store::params);
    md.write(Store::params, std::vector<double>(w.begin(), w.end()));
    TrainConfig tc;
    const int B = 3, T = 16;
    std::vector<int> in(B * T), tg(B * T);
    SplitMix64 r(5);
    for (int step = 1; step <= 3; step++) {
      for (auto& x : in) x = int(r.below(uint64_t(c.vocab_size)));
      for (auto& x : tg) x = int(r.below(uint64_t(c.vocab_size)));
      const DropoutKey key{7, uint64_t(step)};
      mf.zero_grad();
      md.zero_grad();
      const double lf = *mf.forward(in.data(), tg.data(), B, T, true, key);
      const double ld = *md.forward(in.data(), tg.data(), B, T, true, key);
      mf.backward();
      md.backward();
      const double nf = mf.step(1e-3f, tc, step), nd = md.step(1e-3f, tc, step);
      EXPECT_NEAR(lf, ld, 1e-5 * ld) << to_string(pos) << " step " << step;
      EXPECT_NEAR(nf, nd, 1e-4 * nd) << to_string(pos) << " step " << step;
    }
    const std::vector<float> pf = mf.read(Store::params);
    const std::vector<double> pd = md.read(Store::params);
    EXPECT_CLOSE(pf.data(), pd.data(), pf.size(), 1e-5, 1e-4) << to_string(pos);
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, BackendTest, ::testing::Values(DeviceKind::cpu, DeviceKind::cuda),
                         [](const ::testing::TestParamInfo<DeviceKind>& i) { return to_string(i.param); });

// The table is the seam: the model reaches layers only through it (a second backend
// is a second table). The CPU's entries are the cpu:: functions themselves.
TEST(Backend, CpuTableIsTheCpuLayers) {
  const Backend<float>& b = cpu_backend<float>();
  EXPECT_TRUE(b.host_memory);
  EXPECT_EQ(b.matmul_forward, &cpu::matmul_forward<float>);
  EXPECT_EQ(b.attention_backward, &cpu::attention_backward<float>);
  EXPECT_EQ(b.adamw_update, &cpu::adamw_update<float>);
  EXPECT_EQ(&backend_for<float>(DeviceKind::cpu), &b);
}

TEST(Backend, UnknownOrMissingDeviceSaysWhatToDo) {
  expect_error([] { parse_device("tpu"); }, {"unknown device 'tpu'", "cpu or cuda"}, kExitUsage);
  std::string why;
  if (!backend_available(DeviceKind::cuda, &why)) {
    EXPECT_FALSE(why.empty());
    expect_error([] { GPT<float> m(small_gpt(8, 16), DeviceKind::cuda); }, {"--device cuda"}, kExitUsage);
  }
}

}  // namespace
}  // namespace gpt::test
