// The packed float GEMM against the scalar reference on awkward shapes (not
// multiples of the tile sizes, tiny, and K beyond one packed panel), including
// the += rule of backward and thread-count independence.
#include <omp.h>

#include "layers.h"
#include "layers/gemm.h"
#include "test_util.h"

namespace gpt::test {

struct MatmulShape {
  size_t N;
  int C, OC;
};

// Runs a test body under one GEMM kernel, restoring the automatic choice after.
struct IsaScope {
  cpu::GemmIsa saved = cpu::gemm_isa();
  explicit IsaScope(cpu::GemmIsa isa) { cpu::set_gemm_isa(isa); }
  ~IsaScope() { cpu::set_gemm_isa(saved); }
};

class MatmulShapes : public ::testing::TestWithParam<std::tuple<MatmulShape, cpu::GemmIsa>> {};

TEST_P(MatmulShapes, FastMatchesReference) {
  const auto [shape, isa] = GetParam();
  const auto [N, C, OC] = shape;
  if (!cpu::gemm_isa_supported(isa)) GTEST_SKIP() << cpu::gemm_isa_name(isa) << " not supported by this CPU";
  IsaScope scope(isa);
  auto inp = random_vec<float>(N * C, 1);
  auto w = random_vec<float>(size_t(OC) * C, 2);
  auto b = random_vec<float>(OC, 3);
  auto dout = random_vec<float>(N * OC, 4);
  std::vector<float> out(N * OC), ref(N * OC);
  cpu::matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  cpu::matmul_forward_reference(ref.data(), inp.data(), w.data(), b.data(), N, C, OC);
  // Sums of C products of numbers in [-1,1]: allow float rounding growing with C.
  const double tol = 1e-5 * C;
  EXPECT_CLOSE(out.data(), ref.data(), out.size(), tol, 1e-5);
  // Without bias.
  cpu::matmul_forward(out.data(), inp.data(), w.data(), static_cast<const float*>(nullptr), N, C, OC);
  cpu::matmul_forward_reference(ref.data(), inp.data(), w.data(), static_cast<const float*>(nullptr), N, C, OC);
  EXPECT_CLOSE(out.data(), ref.data(), out.size(), tol, 1e-5);

  // Backward writes dinp (one starts as NaN, the other as random values, so an element
  // left unwritten or added to shows) and adds to dweight and dbias (both start from the
  // same non-zero values).
  std::vector<float> dinp(N * C, std::nanf("")), dinp_ref = random_vec<float>(N * C, 5);
  auto dw = random_vec<float>(size_t(OC) * C, 6), dw_ref = dw;
  auto db = random_vec<float>(OC, 7), db_ref = db;
  cpu::matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  cpu::matmul_backward_reference(dinp_ref.data(), dw_ref.data(), db_ref.data(), dout.data(), inp.data(), w.data(),
                                 N, C, OC);
  EXPECT_CLOSE(dinp.data(), dinp_ref.data(), dinp.size(), 1e-5 * OC, 1e-5);
  EXPECT_CLOSE(dw.data(), dw_ref.data(), dw.size(), 1e-5 * double(N), 1e-5);
  EXPECT_CLOSE(db.data(), db_ref.data(), db.size(), 1e-5 * double(N), 1e-5);
}

// The GELU fused into the GEMM (applied to each finished block of the output) gives
// the same bits as the matmul followed by the separate GELU layer, forward and
// backward, including shapes whose depth spans several packed panels.
TEST_P(MatmulShapes, FusedGeluEqualsMatmulThenGelu) {
  const auto [shape, isa] = GetParam();
  const auto [N, C, OC] = shape;
  if (!cpu::gemm_isa_supported(isa)) GTEST_SKIP() << cpu::gemm_isa_name(isa) << " not supported by this CPU";
  IsaScope scope(isa);
  auto inp = random_vec<float>(N * C, 1, 3.0);  // pre-activations over GELU's curved part
  auto w = random_vec<float>(size_t(OC) * C, 2), b = random_vec<float>(OC, 3);
  std::vector<float> out(N * OC), act(N * OC), out2(N * OC), act2(N * OC);
  cpu::matmul_gelu_forward(out.data(), act.data(), inp.data(), w.data(), b.data(), N, C, OC);
  cpu::matmul_forward(out2.data(), inp.data(), w.data(), b.data(), N, C, OC);
  cpu::gelu_forward(act2.data(), out2.data(), out2.size());
  EXPECT_TRUE(bitwise_equal(out, out2));
  EXPECT_TRUE(bitwise_equal(act, act2));

  // backward of a layer whose input is gelu(pre): inp here plays gelu(pre)
  auto pre = random_vec<float>(N * C, 4, 3.0), dout = random_vec<float>(N * OC, 5);
  // dpre and dinp are written: start one of each pair as NaN; dw and db add up.
  std::vector<float> dpre(N * C, std::nanf("")), dpre2 = random_vec<float>(N * C, 6);
  std::vector<float> dinp(N * C, std::nanf("")), dinp2 = random_vec<float>(N * C, 7);
  auto dw = random_vec<float>(size_t(OC) * C, 8), dw2 = dw;
  auto db = random_vec<float>(OC, 9), db2 = db;
  cpu::matmul_gelu_backward(dpre.data(), dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), pre.data(),
                            w.data(), N, C, OC);
  cpu::matmul_backward(dinp2.data(), dw2.data(), db2.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  cpu::gelu_backward(dpre2.data(), pre.data(), dinp2.data(), dpre2.size());
  EXPECT_TRUE(bitwise_equal(dinp, dinp2));
  EXPECT_TRUE(bitwise_equal(dpre, dpre2));
  EXPECT_TRUE(bitwise_equal(dw, dw2));
  EXPECT_TRUE(bitwise_equal(db, db2));
  // Without dinp (the model's call) the product goes into dpre and is scaled there: the
  // same bits.
  std::vector<float> dpre3(N * C, std::nanf("")), dw3 = random_vec<float>(size_t(OC) * C, 8),
                                                  db3 = random_vec<float>(OC, 9);
  cpu::matmul_gelu_backward(dpre3.data(), static_cast<float*>(nullptr), dw3.data(), db3.data(), dout.data(),
                            inp.data(), pre.data(), w.data(), N, C, OC);
  EXPECT_TRUE(bitwise_equal(dpre3, dpre));
  EXPECT_TRUE(bitwise_equal(dw3, dw));
  EXPECT_TRUE(bitwise_equal(db3, db));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatmulShapes,
    ::testing::Combine(::testing::Values(MatmulShape{1, 1, 1}, MatmulShape{1, 37, 53}, MatmulShape{2, 16, 32},
                                         MatmulShape{3, 5, 7}, MatmulShape{9, 33, 31}, MatmulShape{37, 29, 45},
                                         MatmulShape{64, 64, 192}, MatmulShape{130, 300, 65},
                                         MatmulShape{67, 517, 129}, MatmulShape{257, 96, 600},
                                         MatmulShape{121, 250, 513}, MatmulShape{20, 1000, 48},
                                         MatmulShape{900, 40, 35}),
                       ::testing::Values(cpu::GemmIsa::generic, cpu::GemmIsa::avx2, cpu::GemmIsa::avx512)),
    [](const auto& info) {
      const MatmulShape& s = std::get<0>(info.param);
      return std::string(cpu::gemm_isa_name(std::get<1>(info.param))) + "_" + std::to_string(s.N) + "x" +
             std::to_string(s.C) + "x" + std::to_string(s.OC);
    });

// The kernels differ in tile shape only: each output element is the same chain of
// FMAs in k order, so the intrinsics kernels agree bit for bit.
TEST(Matmul, Avx2AndAvx512KernelsAgreeBitwise) {
  if (!cpu::gemm_isa_supported(cpu::GemmIsa::avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  const size_t N = 77;
  const int C = 300, OC = 97;
  auto inp = random_vec<float>(N * C, 1), w = random_vec<float>(size_t(OC) * C, 2), b = random_vec<float>(OC, 3);
  std::vector<float> o1(N * OC), o2(N * OC);
  {
    IsaScope s(cpu::GemmIsa::avx2);
    cpu::matmul_forward(o1.data(), inp.data(), w.data(), b.data(), N, C, OC);
  }
  {
    IsaScope s(cpu::GemmIsa::avx512);
    cpu::matmul_forward(o2.data(), inp.data(), w.data(), b.data(), N, C, OC);
  }
  EXPECT_EQ(o1, o2);
}

TEST(Matmul, SameResultOnOneAndTwoThreads) {
  const size_t N = 150;
  const int C = 300, OC = 230;
  auto inp = random_vec<float>(N * C, 1), w = random_vec<float>(size_t(OC) * C, 2);
  auto dout = random_vec<float>(N * OC, 3);
  std::vector<float> out1(N * OC), out2(N * OC), dw1(size_t(OC) * C), dw2(size_t(OC) * C), di1(N * C), di2(N * C);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  cpu::matmul_forward(out1.data(), inp.data(), w.data(), static_cast<const float*>(nullptr), N, C, OC);
  cpu::matmul_backward(di1.data(), dw1.data(), static_cast<float*>(nullptr), dout.data(), inp.data(), w.data(), N,
                       C, OC);
  omp_set_num_threads(2);
  cpu::matmul_forward(out2.data(), inp.data(), w.data(), static_cast<const float*>(nullptr), N, C, OC);
  cpu::matmul_backward(di2.data(), dw2.data(), static_cast<float*>(nullptr), dout.data(), inp.data(), w.data(), N,
                       C, OC);
  omp_set_num_threads(saved);
  EXPECT_EQ(out1, out2);
  EXPECT_EQ(dw1, dw2);
  EXPECT_EQ(di1, di2);
}

}  // namespace gpt::test
