// `gpt attention` and `gpt posenc`: the calculator against cases worked out here
// from the formulas (softmax of two scores is a logistic; uniform keys give 1/n;
// Q = X.W_q checked with a non-symmetric W), the mask, multi-head as concatenated
// single heads, the encodings against their closed forms, the SVGs through an XML
// checker that is itself shown to fail on broken XML, and the error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "learn/attention_calc.h"
#include "check.h"
#include "formats/checkpoint.h"
#include "cli.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "formats/json.h"
#include "layers.h"
#include "model.h"
#include "learn/svg.h"
#include "tensors.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace gpt::test {
namespace {

AttentionProblem problem(const std::string& json) { return parse_attention_problem(Json::parse(json, "in.json"), "in.json"); }

std::string matrix_text(const std::vector<std::vector<double>>& rows) {
  std::string s = "[";
  for (size_t r = 0; r < rows.size(); r++) {
    s += r ? ",[" : "[";
    for (size_t c = 0; c < rows[r].size(); c++) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%s%.17g", c ? "," : "", rows[r][c]);
      s += buf;
    }
    s += "]";
  }
  return s + "]";
}

std::vector<std::vector<double>> random_rows(int rows, int cols, uint64_t seed, double scale = 1.0) {
  auto v = random_vec<double>(size_t(rows) * cols, seed, scale);
  std::vector<std::vector<double>> m(static_cast<size_t>(rows), std::vector<double>(static_cast<size_t>(cols)));
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) m[size_t(r)][size_t(c)] = v[size_t(r) * cols + c];
  return m;
}

std::string qkv_json(const std::vector<std::vector<double>>& Q, const std::vector<std::vector<double>>& K,
                     const std::vector<std::vector<double>>& V, int heads, bool causal) {
  return "{\"Q\": " + matrix_text(Q) + ", \"K\": " + matrix_text(K) + ", \"V\": " + matrix_text(V) +
         ", \"heads\": " + std::to_string(heads) + ", \"causal\": " + (causal ? "true" : "false") + "}";
}

double dot(const std::vector<double>& a, const std::vector<double>& b, int c0, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += a[size_t(c0 + i)] * b[size_t(c0 + i)];
  return s;
}

// The two-token example the README works by hand.
const char* kTwoTokens = R"({"X": [[1, 0], [1, 1]], "W_q": [[1, 0], [0, 1]], "W_k": [[1, 1], [0, 1]],
                             "W_v": [[0, 1], [1, 0]]})";

// ---- the calculator ------------------------------------------------------------------------

TEST(AttentionCalc, TwoTokensByHand) {
  const AttentionProblem p = problem(kTwoTokens);
  const AttentionResult r = run_attention(p);
  // Q = X.I = X; K = X.W_k: [1,0].W_k = [1,1], [1,1].W_k = [1,2]; V = X.W_v swaps the columns.
  const double Q[] = {1, 0, 1, 1}, K[] = {1, 1, 1, 2}, V[] = {0, 1, 1, 1};
  EXPECT_CLOSE(r.Q.v.data(), Q, 4, 0, 0);
  EXPECT_CLOSE(r.K.v.data(), K, 4, 0, 0);
  EXPECT_CLOSE(r.V.v.data(), V, 4, 0, 0);
  ASSERT_EQ(r.heads.size(), 1u);
  const HeadSteps& h = r.heads[0];
  const double qk[] = {1, 1, 2, 3};  // [1,0].[1,1] = 1, [1,0].[1,2] = 1, [1,1].[1,1] = 2, [1,1].[1,2] = 3
  EXPECT_CLOSE(h.qk.v.data(), qk, 4, 0, 0);
  const double s = 1 / std::sqrt(2.0);  // head size 2
  EXPECT_DOUBLE_EQ(r.scale, s);
  const double scores[] = {s, s, 2 * s, 3 * s};
  EXPECT_CLOSE(h.scores.v.data(), scores, 4, 1e-15, 1e-15);
  // Softmax of two scores is the logistic of their difference: row 0 ties, row 1 differs by s.
  const double w1 = 1 / (1 + std::exp(-s));
  const double weights[] = {0.5, 0.5, 1 - w1, w1};
  EXPECT_CLOSE(h.weights.v.data(), weights, 4, 1e-15, 1e-14);
  EXPECT_NEAR(w1, 0.6698, 5e-5);  // the number the README shows
  // output = weights.V: row 0 = (0.5 [0,1] + 0.5 [1,1]), row 1 = ((1-w1) [0,1] + w1 [1,1]).
  const double out[] = {0.5, 1, w1, 1};
  EXPECT_CLOSE(h.output.v.data(), out, 4, 1e-15, 1e-14);
  EXPECT_CLOSE(r.output.v.data(), out, 4, 1e-15, 1e-14);
  const double ent = (std::log(2.0) - ((1 - w1) * std::log(1 - w1) + w1 * std::log(w1))) / 2;
  EXPECT_NEAR(h.entropy, ent, 1e-14);
}

TEST(AttentionCalc, ProjectionIsXTimesW) {
  // One token sees only itself: the output is its value row V = X.W_v = [1,2].[[2,3],[5,7]]
  // = [12, 17] (the transpose would give [8, 19]).
  const AttentionProblem p = problem(R"({"X": [[1, 2]], "W_q": [[0, 1], [0, 0]], "W_k": [[0, 0], [1, 0]],
                                          "W_v": [[2, 3], [5, 7]]})");
  const AttentionResult r = run_attention(p);
  const double Q[] = {0, 1}, K[] = {2, 0}, V[] = {12, 17};
  EXPECT_CLOSE(r.Q.v.data(), Q, 2, 0, 0);
  EXPECT_CLOSE(r.K.v.data(), K, 2, 0, 0);
  EXPECT_CLOSE(r.V.v.data(), V, 2, 0, 0);
  EXPECT_EQ(r.heads[0].weights.v, std::vector<double>{1.0});
  EXPECT_CLOSE(r.output.v.data(), V, 2, 0, 0);
}

// Every step against the formula, written out here, on random inputs.
void check_against_formula(const AttentionProblem& p, const AttentionResult& r, bool scaled) {
  const int T = p.T(), hs = p.hs();
  const double scale = scaled ? 1 / std::sqrt(double(hs)) : 1.0;
  auto row = [](const Matrix& m, int t) { return std::vector<double>(m.v.begin() + size_t(t) * m.cols,
                                                                      m.v.begin() + size_t(t + 1) * m.cols); };
  for (int h = 0; h < p.heads; h++) {
    SCOPED_TRACE("head " + std::to_string(h));
    const HeadSteps& hd = r.heads[size_t(h)];
    double ent = 0;
    for (int t = 0; t < T; t++) {
      const int n = p.causal ? t + 1 : T;
      std::vector<double> e(size_t(T), 0.0);
      double z = 0, rowsum = 0;
      for (int u = 0; u < n; u++) {
        const double qk = dot(row(p.Q, t), row(p.K, u), h * hs, hs);
        EXPECT_NEAR(hd.qk.at(t, u), qk, 1e-13);
        EXPECT_NEAR(hd.scores.at(t, u), qk * scale, 1e-13);
        z += (e[size_t(u)] = std::exp(qk * scale));
      }
      for (int u = 0; u < T; u++) {
        if (u >= n) {  // the mask
          EXPECT_EQ(hd.scores.at(t, u), -INFINITY) << t << "," << u;
          EXPECT_EQ(hd.weights.at(t, u), 0.0) << t << "," << u;
        }
        EXPECT_NEAR(hd.weights.at(t, u), e[size_t(u)] / z, 1e-14);
        rowsum += hd.weights.at(t, u);
        if (hd.weights.at(t, u) > 0) ent -= hd.weights.at(t, u) * std::log(hd.weights.at(t, u));
      }
      EXPECT_NEAR(rowsum, 1.0, 1e-14);
      for (int i = 0; i < hs; i++) {
        double o = 0;
        for (int u = 0; u < n; u++) o += e[size_t(u)] / z * p.V.at(u, h * hs + i);
        EXPECT_NEAR(hd.output.at(t, i), o, 1e-13);
        EXPECT_EQ(r.concat.at(t, h * hs + i), hd.output.at(t, i));
      }
    }
    EXPECT_NEAR(hd.entropy, ent / T, 1e-13);
  }
}

TEST(AttentionCalc, EveryStepMatchesTheFormula) {
  for (bool causal : {false, true})
    for (bool scaled : {true, false})
      for (int heads : {1, 2, 3}) {
        SCOPED_TRACE(std::string(causal ? "causal" : "no mask") + (scaled ? ", scaled" : ", unscaled") + ", heads " +
                     std::to_string(heads));
        const AttentionProblem p = problem(qkv_json(random_rows(5, 6, 1, 1.5), random_rows(5, 6, 2, 1.5),
                                                    random_rows(5, 6, 3), heads, causal));
        check_against_formula(p, run_attention(p, scaled), scaled);
      }
}

TEST(AttentionCalc, CausalMaskZeroesTheUpperTriangle) {
  const AttentionProblem p =
      problem(qkv_json(random_rows(6, 4, 4, 2.0), random_rows(6, 4, 5, 2.0), random_rows(6, 4, 6), 2, true));
  const AttentionResult r = run_attention(p);
  for (const HeadSteps& h : r.heads) {
    EXPECT_EQ(h.weights.at(0, 0), 1.0);  // the first token sees only itself
    for (int t = 0; t < 6; t++)
      for (int u = t + 1; u < 6; u++) {
        EXPECT_EQ(h.weights.at(t, u), 0.0);
        EXPECT_TRUE(std::isinf(h.scores.at(t, u)) && h.scores.at(t, u) < 0);
      }
  }
  // Row 0 of the output is row 0 of V (every head).
  for (int c = 0; c < 4; c++) EXPECT_EQ(r.concat.at(0, c), p.V.at(0, c));
}

TEST(AttentionCalc, IdenticalKeysGiveUniformWeights) {
  const auto k = std::vector<std::vector<double>>(4, {0.3, -1.2, 2.0, 0.7});
  for (bool causal : {false, true}) {
    const AttentionProblem p = problem(qkv_json(random_rows(4, 4, 7, 3.0), k, random_rows(4, 4, 8), 1, causal));
    const AttentionResult r = run_attention(p);
    double ent = 0;
    for (int t = 0; t < 4; t++) {
      const int n = causal ? t + 1 : 4;
      for (int u = 0; u < 4; u++) EXPECT_NEAR(r.heads[0].weights.at(t, u), u < n ? 1.0 / n : 0.0, 1e-15);
      ent += std::log(double(n));
    }
    EXPECT_NEAR(r.heads[0].entropy, ent / 4, 1e-14);
  }
}

TEST(AttentionCalc, MultiHeadIsTheConcatenationOfSingleHeadsOnSlices) {
  const auto Q = random_rows(5, 6, 11, 1.5), K = random_rows(5, 6, 12, 1.5), V = random_rows(5, 6, 13);
  auto slice = [](const std::vector<std::vector<double>>& m, int c0, int n) {
    std::vector<std::vector<double>> s;
    for (const auto& row : m) s.emplace_back(row.begin() + c0, row.begin() + c0 + n);
    return s;
  };
  for (bool causal : {false, true}) {
    const AttentionResult multi = run_attention(problem(qkv_json(Q, K, V, 3, causal)));
    for (int h = 0; h < 3; h++) {
      const AttentionResult one =
          run_attention(problem(qkv_json(slice(Q, 2 * h, 2), slice(K, 2 * h, 2), slice(V, 2 * h, 2), 1, causal)));
      EXPECT_CLOSE(one.heads[0].weights.v.data(), multi.heads[size_t(h)].weights.v.data(), 25, 1e-15, 0);
      for (int t = 0; t < 5; t++)
        for (int i = 0; i < 2; i++) EXPECT_NEAR(multi.concat.at(t, 2 * h + i), one.output.at(t, i), 1e-15);
    }
  }
}

TEST(AttentionCalc, OutputProjectionMultipliesTheConcatenation) {
  // W_o swapping the columns swaps the output's columns; a 2x3 W_o gives a T x 3 output.
  std::string j = kTwoTokens;
  j.insert(j.size() - 1, ", \"W_o\": [[0, 1], [1, 0]]");
  const AttentionResult r = run_attention(problem(j));
  const double w1 = 1 / (1 + std::exp(-1 / std::sqrt(2.0)));
  const double swapped[] = {1, 0.5, 1, w1};
  EXPECT_CLOSE(r.output.v.data(), swapped, 4, 1e-15, 1e-14);
  j = kTwoTokens;
  j.insert(j.size() - 1, ", \"W_o\": [[1, 2, 0], [0, 1, -1]]");
  const AttentionResult r3 = run_attention(problem(j));
  ASSERT_EQ(r3.output.cols, 3);
  // [a, b].W_o = [a, 2a + b, -b] with [a, b] the concatenated heads' row.
  const double out3[] = {0.5, 2.0, -1, w1, 2 * w1 + 1, -1};
  EXPECT_CLOSE(r3.output.v.data(), out3, 6, 1e-15, 1e-14);
}

TEST(AttentionCalc, ScalingKeepsTheScoresNearUnitVarianceAndTheSoftmaxSpread) {
  // Without the scaling the scores are q.k itself; their spread is exactly sqrt(hs) times
  // the scaled one, and the softmax gets sharper (lower entropy).
  const int hs = 64;
  const AttentionProblem p =
      problem(qkv_json(random_rows(8, hs, 21, std::sqrt(3.0)), random_rows(8, hs, 22, std::sqrt(3.0)),
                       random_rows(8, hs, 23), 1, false));  // uniform(-sqrt3, sqrt3): variance 1
  const AttentionResult sc = run_attention(p, true), un = run_attention(p, false);
  EXPECT_EQ(un.scale, 1.0);
  EXPECT_CLOSE(un.heads[0].scores.v.data(), un.heads[0].qk.v.data(), 64, 1e-13, 1e-13);
  EXPECT_NEAR(un.heads[0].score_std / sc.heads[0].score_std, std::sqrt(double(hs)), 1e-12);
  EXPECT_GT(sc.heads[0].score_std, 0.5);  // q.k / sqrt(hs) has variance 1 in expectation
  EXPECT_LT(sc.heads[0].score_std, 2.0);
  EXPECT_GT(sc.heads[0].entropy, un.heads[0].entropy + 0.5);
  // The report names both entropies.
  const std::string text = format_attention(p, un, &sc);
  EXPECT_NE(text.find("Why divide by sqrt(d_k)?"), std::string::npos);
  EXPECT_NE(text.find("entropy unscaled"), std::string::npos);
  const Json j = attention_json(p, un, &sc);
  EXPECT_NEAR(j.find("entropy")->find("scaled")->as_array("e")[0].as_number("e"), sc.heads[0].entropy, 1e-12);
  EXPECT_NEAR(j.find("entropy")->find("unscaled")->as_array("e")[0].as_number("e"), un.heads[0].entropy, 1e-12);
}

TEST(AttentionCalc, JsonHasTheIssuesShapeAndNullForMaskedScores) {
  const AttentionProblem p = problem(qkv_json(random_rows(3, 4, 31), random_rows(3, 4, 32), random_rows(3, 4, 33), 2, true));
  const AttentionResult r = run_attention(p);
  const Json j = Json::parse(attention_json(p, r).dump(-1, 17), "out");
  const auto& heads = j.find("heads")->as_array("heads");
  ASSERT_EQ(heads.size(), 2u);
  for (size_t h = 0; h < 2; h++) {
    for (const char* k : {"scores", "weights", "output"}) ASSERT_NE(heads[h].find(k), nullptr) << k;
    const auto& sc = heads[h].find("scores")->as_array("s");
    EXPECT_TRUE(sc[0].as_array("r")[1].is_null());  // masked
    EXPECT_EQ(sc[1].as_array("r")[0].as_number("x"), r.heads[h].scores.at(1, 0));
    EXPECT_EQ(heads[h].find("weights")->as_array("w")[2].as_array("r")[1].as_number("x"), r.heads[h].weights.at(2, 1));
  }
  const auto& out = j.find("output")->as_array("o");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].as_array("r")[3].as_number("x"), r.output.at(2, 3));
}

TEST(AttentionCalc, TableIsAlignedWithFourDecimals) {
  Matrix m(2, 2);
  m.v = {0.5, -1.25, -0.00001, -INFINITY};
  const std::string t = format_table(m, {"t0", "t1"}, {"a", "b"}, 4, 12, 24, "");
  EXPECT_EQ(t, "         a        b\nt0  0.5000  -1.2500\nt1  0.0000     -inf\n");
}

// ---- errors ---------------------------------------------------------------------------------

TEST(AttentionCalc, BadInputsSayWhichFieldAndWhichShape) {
  struct Case {
    std::string json;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {R"({"X": [[1, 2], [3]], "W_q": [[1]], "W_k": [[1]], "W_v": [[1]]})",
       {"in.json: X: ragged rows", "row 0 has 2 numbers but row 1 has 1"}},
      {R"({"X": [[1, 2], [3, 4]], "W_q": [[1, 0, 0], [0, 1, 0]], "W_k": [[1, 0], [0, 1]], "W_v": [[1, 0], [0, 1]]})",
       {"in.json: W_q: expected 2x2", "d = 2", "found 2x3"}},
      {R"({"X": [[1, 2], [3, 4]], "W_q": [[1, 0], [0, 1]], "W_k": [[1, 0], [0, 1]], "W_v": [[1, 0], [0, 1], [0, 0]]})",
       {"W_v: expected 2x2", "found 3x2"}},
      {R"({"Q": [[1, 2, 3, 4]], "K": [[1, 2, 3, 4]], "V": [[1, 2, 3, 4]], "heads": 3})",
       {"heads = 3 does not divide d = 4", "1, 2, 4"}},
      {R"({"Q": [[1, 2], [3, 4]], "K": [[1, 2], [3, 4], [5, 6]], "V": [[1, 2], [3, 4]]})",
       {"in.json: K: expected 2x2", "the shape of Q", "found 3x2"}},
      {R"({"Q": [[1, 2]], "K": [[1, 2]], "V": [[1, 2]], "W_o": [[1, 2], [3, 4], [5, 6]]})",
       {"W_o: expected 2 rows", "found 3x2"}},
      {R"({"X": [[1, 2]], "W_q": [[1, 0], [0, 1]], "W_k": [[1, 0], [0, 1]]})", {"W_v is missing", "2x2"}},
      {R"({"X": [[1]], "Q": [[1]], "K": [[1]], "V": [[1]]})", {"both X and Q/K/V"}},
      {R"({"heads": 1})", {"needs either X", "or Q, K, V"}},
      {R"({"Q": [[1]], "K": [[1]]})", {"V is missing"}},
      {R"({"X": [[1, "a"]], "W_q": [[1]], "W_k": [[1]], "W_v": [[1]]})", {"X[0][1]: expected a number, found a string"}},
      {R"({"X": [1, 2], "W_q": [[1]], "W_k": [[1]], "W_v": [[1]]})", {"X[0]: expected a row"}},
      {R"({"X": [], "W_q": [[1]], "W_k": [[1]], "W_v": [[1]]})", {"X: expected a matrix with at least one row"}},
      {R"({"X": {"a": 1}, "W_q": [[1]], "W_k": [[1]], "W_v": [[1]]})", {"X: expected a matrix", "found an object"}},
      {R"({"X": [[]], "W_q": [[1]], "W_k": [[1]], "W_v": [[1]]})", {"X[0]: empty row"}},
      {R"({"X": [[1e999]], "W_q": [[1]], "W_k": [[1]], "W_v": [[1]]})", {"X[0][0]: expected a finite number"}},
      {R"({"Q": [[1]], "K": [[1]], "V": [[1]], "heads": 0})", {"heads: expected a whole number >= 1"}},
      {R"({"Q": [[1]], "K": [[1]], "V": [[1]], "heads": 1.5})", {"heads: expected an integer"}},
      {R"({"Q": [[1]], "K": [[1]], "V": [[1]], "causal": "yes"})", {"causal: expected true or false"}},
      {R"({"Q": [[1]], "K": [[1]], "V": [[1]], "Wq": [[1]]})", {"unknown field \"Wq\"", "W_q"}},
      {R"({"Q": [[1]], "K": [[1]], "V": [[1]], "W_q": [[1]]})", {"W_q/W_k/W_v project X"}},
      {R"([[1, 2]])", {"in.json: expected a JSON object", "found an array"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    expect_error([&] { problem(c.json); }, c.needles);
  }
  // A syntax error names the file, the line and the column.
  const std::string path = scratch_dir() + "/bad.json";
  write_file_atomic(path, "{\"X\": [[1, 2],\n [3 4]]}");
  expect_error([&] { load_attention_problem(path); }, {path, "line 2", "column"});
}

// ---- SVG: a small XML well-formedness checker, and proof that it can fail ----------------------

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool name_char(char c) {
  return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

// "" when well-formed; else what is wrong. Checks: one root element, tags balanced and
// properly nested, attribute values quoted and unique, '&' only in valid entities, no
// '<' in text or attribute values, no control characters but tab/newline/CR, valid UTF-8.
std::string xml_problem(const std::string& s) {
  for (size_t i = 0; i < s.size(); i++) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return "control character at " + std::to_string(i);
    if (c >= 0x80) {  // UTF-8 sequence
      const int n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (n == 0 || i + n > s.size()) return "invalid UTF-8 at " + std::to_string(i);
      for (int k = 1; k < n; k++)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return "invalid UTF-8 at " + std::to_string(i);
      i += size_t(n - 1);
    }
  }
  auto entity_ok = [&](size_t& i) {  // s[i] == '&'
    const size_t semi = s.find(';', i);
    if (semi == std::string::npos || semi - i > 10) return false;
    const std::string e = s.substr(i + 1, semi - i - 1);
    bool ok = e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos";
    if (!ok && e.size() > 1 && e[0] == '#') {
      const bool hex = e[1] == 'x';
      const std::string digits = e.substr(hex ? 2 : 1);
      ok = !digits.empty() &&
           digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") == std::string::npos;
    }
    i = semi;
    return ok;
  };
  std::vector<std::string> stack;
  int roots = 0;
  size_t i = 0;
  if (s.rfind("<?xml", 0) == 0) {
    i = s.find("?>");
    if (i == std::string::npos) return "unterminated XML declaration";
    i += 2;
  }
  while (i < s.size()) {
    if (s[i] != '<') {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(s[i]))) return "text outside the root element";
      if (s[i] == '>') return "raw '>' in text at " + std::to_string(i);
      if (s[i] == '&' && !entity_ok(i)) return "bad entity at " + std::to_string(i);
      i++;
      continue;
    }
    i++;
    const bool closing = i < s.size() && s[i] == '/';
    if (closing) i++;
    const size_t n0 = i;
    if (i >= s.size() || !name_start(s[i])) return "bad tag name at " + std::to_string(i);
    while (i < s.size() && name_char(s[i])) i++;
    const std::string name = s.substr(n0, i - n0);
    if (closing) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) i++;
      if (i >= s.size() || s[i] != '>') return "bad closing tag </" + name;
      if (stack.empty() || stack.back() != name)
        return "</" + name + "> does not close <" + (stack.empty() ? std::string("nothing") : stack.back()) + ">";
      stack.pop_back();
      i++;
      continue;
    }
    std::vector<std::string> attrs;
    bool self_closing = false;
    for (;;) {
      const size_t ws = i;
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) i++;
      if (i >= s.size()) return "unterminated tag <" + name;
      if (s[i] == '>') break;
      if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '>') {
        self_closing = true;
        i++;
        break;
      }
      if (i == ws) return "no space before an attribute in <" + name;
      const size_t a0 = i;
      if (!name_start(s[i])) return "bad attribute name in <" + name;
      while (i < s.size() && name_char(s[i])) i++;
      const std::string attr = s.substr(a0, i - a0);
      for (const auto& a : attrs)
        if (a == attr) return "duplicate attribute " + attr + " in <" + name;
      attrs.push_back(attr);
      if (i >= s.size() || s[i] != '=') return "attribute " + attr + " without a value in <" + name;
      i++;
      if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return "unquoted attribute " + attr + " in <" + name;
      const char q = s[i++];
      while (i < s.size() && s[i] != q) {
        if (s[i] == '<') return "'<' in attribute " + attr;
        if (s[i] == '&' && !entity_ok(i)) return "bad entity in attribute " + attr;
        i++;
      }
      if (i >= s.size()) return "unterminated attribute " + attr;
      i++;
    }
    i++;  // '>'
    if (stack.empty()) roots++;
    if (roots > 1) return "more than one root element";
    if (!self_closing) stack.push_back(name);
  }
  if (!stack.empty()) return "<" + stack.back() + "> is never closed";
  if (roots != 1) return "no root element";
  return "";
}

TEST(Svg, XmlCheckerRejectsBrokenXml) {
  EXPECT_EQ(xml_problem("<?xml version=\"1.0\"?>\n<svg a=\"1\" b='2'><g><text>a &amp; b &#60; &#x3c;</text></g><rect/></svg>\n"),
            "");
  const std::vector<std::string> broken = {
      "<svg><rect></svg>",        "<svg><rect x=1/></svg>",   "<svg>&foo;</svg>",       "<svg>a & b</svg>",
      "<svg><text>a<b</text></svg>", "<svg>\x01</svg>",       "<svg></svg><svg></svg>", "<svg x=\"1\" x=\"2\"/>",
      "<a></b>",                  "<svg a=\"<\"/>",           "<svg>\xff</svg>",        "<svg",
      "<svg><g>",                 "text<svg/>",               "<svg a=\"1\"b=\"2\"/>",  "<svg>a > b</svg>",
  };
  for (const auto& b : broken) EXPECT_NE(xml_problem(b), "") << b;
}

TEST(Svg, EscapeMakesAnyTextSafeAndVisible) {
  EXPECT_EQ(svg::escape("a<b&c\"d'e>"), "a&lt;b&amp;c&quot;d&apos;e&gt;");
  EXPECT_EQ(svg::escape("\n\t\r\x01\x7f"), "\\n\\t\\r\\x01\\x7F");
  EXPECT_EQ(svg::escape("\xc3\xa9\xe2\x82\xac"), "\xc3\xa9\xe2\x82\xac");  // é € pass through
  EXPECT_EQ(svg::escape("\xff\xc3"), "\\xFF\\xC3");                        // invalid / truncated UTF-8
  EXPECT_EQ(svg::escape("\xed\xa0\x80"), "\\xED\\xA0\\x80");               // a UTF-16 surrogate
  EXPECT_EQ(svg::escape("\xc2\x85"), "\\u0085");                           // C1 control
  EXPECT_EQ(svg::token_label(" the "), "\xe2\x90\xa3the\xe2\x90\xa3");
  EXPECT_EQ(svg::color(0, svg::Colormap::sequential), "#ffffff");
  EXPECT_EQ(svg::color(0.5, svg::Colormap::diverging), "#f7f7f7");  // white at zero
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) n++;
  return n;
}

TEST(Svg, HeatmapGridIsWellFormedWithOneCellPerValue) {
  const std::vector<std::string> nasty = {"<", "&", "\"'", "\n", "\x01", "\xff", " ", "]]>"};
  std::vector<svg::Heatmap> maps(3);
  for (auto& m : maps) {
    m.rows = m.cols = int(nasty.size());
    m.values = random_vec<double>(nasty.size() * nasty.size(), 5);
    m.row_labels = m.col_labels = nasty;
    m.title = "a <title> & \"quotes\"";
    m.row_axis = "query";
    m.col_axis = "key";
  }
  const std::string s = svg::heatmap_grid(maps, 2, "T&T <grid>", -1, 1, svg::Colormap::diverging);
  EXPECT_EQ(xml_problem(s), "");
  EXPECT_EQ(count(s, "class=\"cell\""), 3 * nasty.size() * nasty.size());
  EXPECT_EQ(count(s, "<title>"), 3 * nasty.size() * nasty.size());
  EXPECT_NE(s.find(">\\n</text>"), std::string::npos);  // the newline label, shown visibly
  EXPECT_NE(s.find("&lt;title&gt; &amp; &quot;quotes&quot;"), std::string::npos);
}

// python3's XML parser, when there is one, agrees (one python3 start for all the files).
void expect_python_parses(const std::vector<std::string>& paths) {
  const std::string py = python_with("xml.etree.ElementTree");
  if (py.empty()) return;
  std::string cmd = py + " -c 'import sys, xml.etree.ElementTree as E; [E.parse(f) for f in sys.argv[1:]]'";
  for (const auto& p : paths) cmd += " '" + p + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// ---- the commands ------------------------------------------------------------------------

std::string example(const std::string& name) { return repo_file("examples/attention/" + name); }

TEST(AttentionCli, ExamplesRunAndTheTwoTokenOneMatchesTheHandNumbers) {
  const std::string two = example("two_tokens.json");
  if (two.empty()) GTEST_SKIP() << "examples/attention not found";
  std::string out, err;
  ASSERT_EQ(run_gpt({"attention", "--input", two}, &out, &err), 0) << err;
  for (const char* s : {"0.7071  0.7071", "1.4142  2.1213", "0.3302  0.6698  1.0000", "0.6698  1.0000",
                        "sqrt(hs)", "HEAD size"})
    EXPECT_NE(out.find(s), std::string::npos) << s << "\n" << out;
  ASSERT_EQ(run_gpt({"attention", "--input", two, "--json"}, &out, &err), 0) << err;
  const Json j = Json::parse(out, "stdout");
  const double w1 = 1 / (1 + std::exp(-1 / std::sqrt(2.0)));
  EXPECT_NEAR(j.find("output")->as_array("o")[1].as_array("r")[0].as_number("x"), w1, 1e-14);
  EXPECT_NEAR(j.find("heads")->as_array("h")[0].find("weights")->as_array("w")[0].as_array("r")[1].as_number("x"),
              0.5, 1e-15);

  const std::string causal = example("causal_two_heads.json");
  ASSERT_EQ(run_gpt({"attention", "--input", causal}, &out, &err), 0) << err;
  EXPECT_NE(out.find("-inf"), std::string::npos);
  EXPECT_NE(out.find("== head 1: columns 2..3"), std::string::npos);
  EXPECT_NE(out.find("Output = concat.W_o"), std::string::npos);
  const std::string svgfile = scratch_dir() + "/calc.svg";
  ASSERT_EQ(run_gpt({"attention", "--input", causal, "--out", svgfile}, &out, &err), 0) << err;
  const std::string svg = read_file(svgfile);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(count(svg, "class=\"cell\""), 2u * 4 * 4);
  expect_python_parses({svgfile});

  const std::string why = example("why_scale.json");
  ASSERT_EQ(run_gpt({"attention", "--input", why, "--no-scale", "--json"}, &out, &err), 0) << err;
  const Json w = Json::parse(out, "stdout");
  EXPECT_EQ(w.find("scale")->as_number("scale"), 1.0);
  EXPECT_GT(w.find("entropy")->find("scaled")->as_array("e")[0].as_number("e"),
            w.find("entropy")->find("unscaled")->as_array("e")[0].as_number("e") + 0.5);
}

TEST(AttentionCli, RejectsBadCombinations) {
  const std::string dir = scratch_dir();
  const std::string in = dir + "/in.json";
  write_file_atomic(in, kTwoTokens);
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"attention"}, 2, "give either --input"},
      {{"attention", "--input", in, "--ckpt", "x"}, 2, "give either --input"},
      {{"attention", "--input", in, "--text", "hi"}, 2, "--text goes with --ckpt"},
      {{"attention", "--input", in, "--head", "1"}, 2, "--head goes with --ckpt"},
      {{"attention", "--ckpt", dir, "--text", "a", "--no-scale", "--out", "x.svg"}, 2, "--no-scale goes with --input"},
      {{"attention", "--ckpt", dir, "--out", "x.svg"}, 2, "--text is required"},
      {{"attention", "--ckpt", dir, "--text", "a", "--out", "x.svg"}, 1, dir},
      {{"attention", "--input", dir + "/missing.json"}, 1, "missing.json"},
      {{"posenc", "--kind", "alibi", "--positions", "4", "--dim", "4"}, 2, "unknown encoding 'alibi'"},
      {{"posenc", "--kind", "learned", "--positions", "4", "--dim", "4"}, 2, "needs --ckpt"},
      {{"posenc", "--kind", "rope", "--positions", "4", "--dim", "5"}, 2, "even"},
      {{"posenc", "--kind", "sinusoidal", "--dim", "4"}, 2, "--positions P and --dim D are required"},
      {{"posenc", "--kind", "sinusoidal", "--positions", "0", "--dim", "4"}, 2, "--positions must be in 1..65536"},
      {{"posenc", "--kind", "sinusoidal", "--positions", "65536", "--dim", "65536"}, 2, "at most"},
      {{"posenc", "--kind", "sinusoidal", "--positions", "1024", "--dim", "512", "--out", dir + "/big.svg"}, 2,
       "too large to draw"},
      {{"posenc", "--positions", "4", "--dim", "4"}, 2, "--kind is required"},
  };
  for (const auto& c : cases) {
    std::string err;
    EXPECT_EQ(run_gpt(c.args, nullptr, &err), c.code) << c.args[0] << ": " << err;
    EXPECT_NE(err.find(c.message), std::string::npos) << "expected '" << c.message << "' in: " << err;
  }
}

TEST(AttentionCli, HelpListsBothCommands) {
  std::string out;
  ASSERT_EQ(run_gpt({"--help"}, &out), 0);
  EXPECT_NE(out.find("attention"), std::string::npos);
  EXPECT_NE(out.find("posenc"), std::string::npos);
  ASSERT_EQ(run_gpt({"attention", "--help"}, &out), 0);
  for (const char* f : {"--input", "--json", "--no-scale", "--ckpt", "--text", "--layer", "--head", "--out", "Examples"})
    EXPECT_NE(out.find(f), std::string::npos) << f;
  ASSERT_EQ(run_gpt({"posenc", "--help"}, &out), 0);
  for (const char* f : {"--kind", "--positions", "--dim", "--ckpt", "--json", "--out"})
    EXPECT_NE(out.find(f), std::string::npos) << f;
}

// ---- positional encodings ----------------------------------------------------------------

std::vector<std::vector<double>> encoding(const std::string& out) {
  std::vector<std::vector<double>> m;
  const Json j = Json::parse(out, "stdout");
  for (const Json& row : j.find("encoding")->as_array("encoding")) {
    m.emplace_back();
    for (const Json& x : row.as_array("row")) m.back().push_back(x.as_number("x"));
  }
  return m;
}

TEST(PosencCli, SinusoidalMatchesTheClosedForm) {
  std::string out, err;
  ASSERT_EQ(run_gpt({"posenc", "--kind", "sinusoidal", "--positions", "9", "--dim", "6", "--json"}, &out, &err), 0)
      << err;
  const auto m = encoding(out);
  ASSERT_EQ(m.size(), 9u);
  for (int p = 0; p < 9; p++) {
    ASSERT_EQ(m[size_t(p)].size(), 6u);
    for (int i = 0; i < 3; i++) {
      const double a = p / std::pow(10000.0, 2.0 * i / 6);
      EXPECT_NEAR(m[size_t(p)][size_t(2 * i)], std::sin(a), 1e-14);
      EXPECT_NEAR(m[size_t(p)][size_t(2 * i + 1)], std::cos(a), 1e-14);
    }
  }
  EXPECT_NEAR(m[1][0], 0.8414709848, 1e-10);  // sin(1)
  ASSERT_EQ(run_gpt({"posenc", "--kind", "sinusoidal", "--positions", "3", "--dim", "4"}, &out, &err), 0);
  EXPECT_NE(out.find("pos 1  0.8415   0.5403  0.0100  1.0000"), std::string::npos) << out;
}

// With --ckpt of a sinusoidal model, the table that model adds: pos_scale times the
// formula (it showed the formula's amplitude 1 where the model adds 0.1).
TEST(PosencCli, SinusoidalOfAModelIsTheTableItAdds) {
  const std::string dir = scratch_dir();
  std::string text;
  while (text.size() < 3000) text += "the cat sat on a mat.\n";
  write_file_atomic(dir + "/in.txt", text);
  prepare_data(dir + "/in.txt", dir + "/data", "char", 0.1);
  std::string out, err;
  ASSERT_EQ(run_gpt({"train", "--data", dir + "/data", "--out", dir + "/run", "--pos", "sinusoidal", "--layers", "1",
                     "--heads", "2", "--dim", "8", "--context", "8", "--batch", "2", "--steps", "1", "--eval-every",
                     "0", "--threads", "2"},
                    nullptr, &err),
            0)
      << err;
  const Checkpoint ck = load_checkpoint(dir + "/run");
  const double scale = ck.model.pos_scale;
  EXPECT_NE(scale, 1.0);
  ASSERT_EQ(run_gpt({"posenc", "--kind", "sinusoidal", "--ckpt", dir + "/run", "--json"}, &out, &err), 0) << err;
  const auto m = encoding(out);
  ASSERT_EQ(m.size(), 8u);
  for (int p = 0; p < 8; p++)
    for (int i = 0; i < 4; i++) {
      const double a = p / std::pow(10000.0, 2.0 * i / 8);
      EXPECT_NEAR(m[size_t(p)][size_t(2 * i)], scale * std::sin(a), 1e-14);
      EXPECT_NEAR(m[size_t(p)][size_t(2 * i + 1)], scale * std::cos(a), 1e-14);
    }
  ASSERT_EQ(run_gpt({"posenc", "--kind", "sinusoidal", "--ckpt", dir + "/run"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("= 0.1 * sin("), std::string::npos) << out;
}

TEST(PosencCli, RopeAnglesAreTheOnesTheModelRotatesBy) {
  const int P = 7, D = 8;
  std::string out, err;
  ASSERT_EQ(run_gpt({"posenc", "--kind", "rope", "--positions", std::to_string(P), "--dim", std::to_string(D),
                     "--json"},
                    &out, &err),
            0)
      << err;
  const auto m = encoding(out);
  ASSERT_EQ(m.size(), size_t(P));
  // Closed form: theta[p, i] = p * 10000^(-2i/D).
  for (int p = 0; p < P; p++) {
    ASSERT_EQ(m[size_t(p)].size(), size_t(D / 2));
    for (int i = 0; i < D / 2; i++) EXPECT_NEAR(m[size_t(p)][size_t(i)], p * std::pow(10000.0, -2.0 * i / D), 1e-13);
  }
  // The model's RoPE turns the pair (1, 0) at position p into (cos theta, sin theta).
  const Dims d{1, P, D, 1};
  std::vector<double> qkv(d.BT() * 3 * D, 0.0);
  for (int p = 0; p < P; p++)
    for (int i = 0; i < D / 2; i++) qkv[size_t(p) * 3 * D + 2 * i] = 1.0;
  cpu::rope_forward(qkv.data(), d);
  for (int p = 0; p < P; p++)
    for (int i = 0; i < D / 2; i++) {
      EXPECT_NEAR(qkv[size_t(p) * 3 * D + 2 * i], std::cos(m[size_t(p)][size_t(i)]), 1e-14);
      EXPECT_NEAR(qkv[size_t(p) * 3 * D + 2 * i + 1], std::sin(m[size_t(p)][size_t(i)]), 1e-14);
    }
}

TEST(PosencCli, HeatmapsAreWellFormedWithOneCellPerNumber) {
  const std::string dir = scratch_dir();
  std::vector<std::string> files;
  for (const auto& [kind, cells] : {std::pair<std::string, size_t>{"sinusoidal", 20 * 12},
                                    std::pair<std::string, size_t>{"rope", 20 * 6}}) {
    const std::string f = dir + "/" + kind + ".svg";
    std::string err;
    ASSERT_EQ(run_gpt({"posenc", "--kind", kind, "--positions", "20", "--dim", "12", "--out", f}, nullptr, &err), 0)
        << err;
    const std::string s = read_file(f);
    EXPECT_EQ(xml_problem(s), "") << kind;
    EXPECT_EQ(count(s, "class=\"cell\""), cells) << kind;
    files.push_back(f);
  }
  expect_python_parses(files);
}

// ---- a trained model's attention ------------------------------------------------------------

class TrainedModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                           "/gptcc_test_attention_model_" + std::to_string(::getpid()));
    std::system(("rm -rf '" + *dir_ + "' && mkdir -p '" + *dir_ + "'").c_str());
    std::string text;
    SplitMix64 r(3);
    const char* words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat. ", "<&> ", "\"q\"\n"};
    while (text.size() < 3000) text += words[r.below(8)];
    write_file_atomic(*dir_ + "/in.txt", text);
    prepare_data(*dir_ + "/in.txt", *dir_ + "/data", "char", 0.1);
    std::string err;
    const int rc = run_gpt({"train", "--data", *dir_ + "/data", "--out", *dir_ + "/run", "--layers", "2", "--heads",
                            "2", "--dim", "16", "--context", "16", "--batch", "2", "--steps", "3", "--eval-every",
                            "0", "--threads", "2"},
                           nullptr, &err);
    if (rc != 0) ADD_FAILURE() << err;
  }
  static void TearDownTestSuite() {
    if (!::testing::UnitTest::GetInstance()->Failed()) std::system(("rm -rf '" + *dir_ + "'").c_str());
    delete dir_;
    dir_ = nullptr;
  }
  static std::string run() { return *dir_ + "/run"; }
  static std::string* dir_;
};
std::string* TrainedModel::dir_ = nullptr;

TEST_F(TrainedModel, AttentionMapComesFromTheModelsForward) {
  const std::string text = "the <&> \"q\"\n";  // 12 characters, every one in the vocabulary
  const int T = 12, NH = 2;
  std::string out, err;
  ASSERT_EQ(run_gpt({"attention", "--ckpt", run(), "--text", text, "--layer", "1", "--json"}, &out, &err), 0) << err;
  const Json j = Json::parse(out, "stdout");
  ASSERT_EQ(j.find("tokens")->size(), size_t(T));
  EXPECT_EQ(j.find("tokens")->as_array("t")[4].as_string("t"), "<");
  const auto& heads = j.find("heads")->as_array("heads");
  ASSERT_EQ(heads.size(), size_t(NH));

  // The same weights straight from GPT<float>::decode, layer 1.
  const Checkpoint ck = load_checkpoint(run());
  GPT<float> model(ck.model);
  load_weights(model, ck, false);
  const auto tok = Tokenizer::deserialize(ck.tokenizer, "ckpt");
  const std::vector<int> ids = tok->encode(text);
  ASSERT_EQ(ids.size(), size_t(T));
  // The ids beside the tokens (a byte token's text alone does not survive JSON).
  ASSERT_NE(j.find("ids"), nullptr);
  for (int t = 0; t < T; t++) EXPECT_EQ(j.find("ids")->as_array("ids")[size_t(t)].as_int("id"), ids[size_t(t)]);
  std::vector<float> maps;
  for (int pos = 0; pos < T; pos++) {
    model.decode(ids[size_t(pos)], pos, &maps);
    for (int h = 0; h < NH; h++) {
      const auto& row = heads[size_t(h)].find("weights")->as_array("w")[size_t(pos)].as_array("r");
      double sum = 0;
      for (int s = 0; s < T; s++) {
        const double w = row[size_t(s)].as_number("w");
        if (s > pos) EXPECT_EQ(w, 0.0);
        else EXPECT_EQ(float(w), maps[(size_t(1) * NH + h) * (pos + 1) + s]) << pos << " " << s;  // 9 digits
        sum += w;
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  }
  // Each head's entropy: the mean over query rows of -sum w ln w.
  for (int h = 0; h < NH; h++) {
    double e = 0;
    for (const Json& row : heads[size_t(h)].find("weights")->as_array("w"))
      for (const Json& x : row.as_array("r"))
        if (x.as_number("x") > 0) e -= x.as_number("x") * std::log(x.as_number("x"));
    EXPECT_NEAR(heads[size_t(h)].find("entropy")->as_number("e"), e / T, 1e-7);
  }
}

TEST_F(TrainedModel, AttentionSvgHasOneCellPerTokenPairAndEscapedLabels) {
  const std::string text = "the <&> \"q\"\n";
  const int T = 12;
  const std::string f = *dir_ + "/att.svg", f1 = *dir_ + "/att1.svg";
  std::string out, err;
  ASSERT_EQ(run_gpt({"attention", "--ckpt", run(), "--text", text, "--out", f}, &out, &err), 0) << err;
  EXPECT_NE(out.find("head 0: "), std::string::npos) << out;
  EXPECT_NE(out.find("head 1: "), std::string::npos) << out;
  std::string s = read_file(f);
  EXPECT_EQ(xml_problem(s), "");
  EXPECT_EQ(count(s, "class=\"cell\""), size_t(2 * T * T));  // every head of layer 0, as a grid
  for (const char* label : {">&lt;</text>", ">&amp;</text>", ">&gt;</text>", ">&quot;</text>", ">\\n</text>",
                            ">\xe2\x90\xa3</text>"})
    EXPECT_NE(s.find(label), std::string::npos) << label;
  ASSERT_EQ(run_gpt({"attention", "--ckpt", run(), "--text", text, "--head", "1", "--layer", "1", "--out", f1}, &out,
                    &err),
            0)
      << err;
  s = read_file(f1);
  EXPECT_EQ(xml_problem(s), "");
  EXPECT_EQ(count(s, "class=\"cell\""), size_t(T * T));
  EXPECT_NE(s.find("layer 1 head 1"), std::string::npos);
  EXPECT_EQ(out.find("head 0: "), std::string::npos) << out;
  expect_python_parses({f, f1});
}

TEST_F(TrainedModel, AttentionRejectsWhatTheModelCannotTake) {
  std::string err;
  const std::string f = *dir_ + "/x.svg";
  EXPECT_EQ(run_gpt({"attention", "--ckpt", run(), "--text", "the", "--layer", "2", "--out", f}, nullptr, &err), 2);
  EXPECT_NE(err.find("--layer 2 is outside 0..1"), std::string::npos) << err;
  EXPECT_EQ(run_gpt({"attention", "--ckpt", run(), "--text", "the", "--head", "-1", "--out", f}, nullptr, &err), 2);
  EXPECT_NE(err.find("--head -1 is outside 0..1"), std::string::npos) << err;
  EXPECT_EQ(run_gpt({"attention", "--ckpt", run(), "--text", std::string(17, 'a'), "--out", f}, nullptr, &err), 2);
  EXPECT_NE(err.find("17 tokens but the model's context is 16"), std::string::npos) << err;
  EXPECT_EQ(run_gpt({"attention", "--ckpt", run(), "--text", "the zebra", "--out", f}, nullptr, &err), 2);
  EXPECT_NE(err.find("--text: "), std::string::npos) << err;
  EXPECT_NE(err.find("z"), std::string::npos) << err;
}

TEST_F(TrainedModel, PosencLearnedIsTheCheckpointsTableAndSizesComeFromTheModel) {
  std::string out, err;
  ASSERT_EQ(run_gpt({"posenc", "--kind", "learned", "--ckpt", run(), "--positions", "5", "--json"}, &out, &err), 0)
      << err;
  const auto m = encoding(out);
  const Checkpoint ck = load_checkpoint(run());
  GPT<float> model(ck.model);
  load_weights(model, ck, false);
  const std::vector<float> wpe = model.read_tensor(WPE);
  ASSERT_EQ(m.size(), 5u);
  for (int p = 0; p < 5; p++) {
    ASSERT_EQ(m[size_t(p)].size(), 16u);
    for (int c = 0; c < 16; c++) EXPECT_EQ(float(m[size_t(p)][size_t(c)]), wpe[p * 16 + c]);
  }
  EXPECT_EQ(err.find("note: "), std::string::npos) << err;
  ASSERT_EQ(run_gpt({"posenc", "--kind", "rope", "--ckpt", run(), "--json"}, &out, &err), 0) << err;
  const auto r = encoding(out);
  EXPECT_EQ(r.size(), 16u);     // the context
  EXPECT_EQ(r[0].size(), 4u);   // head size 8: 4 pairs
  // A formula the model does not use is said to be one (it was shown without a word; helper-21).
  EXPECT_NE(err.find("uses learned positions, not rope: this is the rope formula at its sizes"), std::string::npos)
      << err;
  // --out with another extension than .svg: the file is SVG all the same, and said so.
  const std::string png = *dir_ + "/pos.png";
  ASSERT_EQ(run_gpt({"posenc", "--kind", "learned", "--ckpt", run(), "--out", png}, &out, &err), 0) << err;
  EXPECT_EQ(xml_problem(read_file(png)), "");
  EXPECT_NE(err.find("note: " + png + " is an SVG image whatever its name says"), std::string::npos) << err;
  ASSERT_EQ(run_gpt({"posenc", "--kind", "learned", "--ckpt", run(), "--out", *dir_ + "/pos.SVG"}, &out, &err), 0);
  EXPECT_EQ(err.find("note: "), std::string::npos) << err;
  EXPECT_EQ(run_gpt({"posenc", "--kind", "learned", "--ckpt", run(), "--dim", "32"}, nullptr, &err), 2);
  EXPECT_NE(err.find("does not match"), std::string::npos) << err;
  EXPECT_EQ(run_gpt({"posenc", "--kind", "learned", "--ckpt", run(), "--positions", "17"}, nullptr, &err), 2);
  EXPECT_NE(err.find("exceeds the model's context 16"), std::string::npos) << err;
}

}  // namespace
}  // namespace gpt::test

namespace gpt::test {
namespace {

// scripts/plot_loss.py on a real metrics.jsonl, when python3 and matplotlib are there.
TEST_F(TrainedModel, PlotLossWritesAPngAndNamesABadRun) {
  const std::string script = repo_file("scripts/plot_loss.py");
  if (script.empty()) GTEST_SKIP() << "scripts/plot_loss.py not found";
  if (python_with("matplotlib").empty())
    GTEST_SKIP() << "matplotlib not installed (apt-get install python3-matplotlib)";
  const std::string png = *dir_ + "/loss.png", log = *dir_ + "/plot.log";
  ASSERT_EQ(std::system(("'" + script + "' '" + run() + "' '" + run() + "/metrics.jsonl' -o '" + png + "' >'" + log +
                         "' 2>&1").c_str()),
            0)
      << read_file(log);
  const std::string bytes = read_file(png);
  ASSERT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_NE(std::system(("'" + script + "' '" + *dir_ + "/nothing' -o '" + png + "' >'" + log + "' 2>&1").c_str()), 0);
  EXPECT_NE(read_file(log).find("nothing/metrics.jsonl: not found"), std::string::npos) << read_file(log);
}

// plot_loss.py met a bad --out, a line that is JSON but not an object of numbers, or a
// file that is not UTF-8 with a Python traceback (and plotted a string loss); a run still
// writing (its last line cut) could not be plotted at all.
TEST(PlotLoss, BadInputsGetOneLineAndARunStillWritingPlots) {
  const std::string script = repo_file("scripts/plot_loss.py");
  if (script.empty()) GTEST_SKIP() << "scripts/plot_loss.py not found";
  if (python_with("json").empty()) GTEST_SKIP() << "python3 not found";
  const std::string dir = scratch_dir(), log = dir + "/log", bad = dir + "/bad";
  make_dirs(bad);
  auto plot = [&](const std::string& metrics, const std::string& out) {
    write_file_atomic(bad + "/metrics.jsonl", metrics);
    const int rc = std::system(("'" + script + "' '" + bad + "' -o '" + out + "' >'" + log + "' 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  const std::string good = "{\"step\":1,\"train_loss\":2.5}\n{\"step\":2,\"train_loss\":2.4}\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {good, "--out " + dir + "/loss.txt: give a .png, .svg or .pdf file name"},
      {"5\n", "line 1: expected an object with numbers"},
      {"{\"step\":2,\"train_loss\":\"x\"}\n", "line 1: expected an object with numbers"},
      {"\xff\xfe{}\n", "cannot read it as UTF-8 text"}};
  for (const auto& [metrics, message] : cases) {
    const bool usage = message.find("loss.txt") != std::string::npos;  // a usage mistake: 2, as argparse's
    EXPECT_EQ(plot(metrics, usage ? dir + "/loss.txt" : dir + "/l.png"), usage ? 2 : 1);
    const std::string said = read_file(log);
    EXPECT_NE(said.find(message), std::string::npos) << said;
    EXPECT_EQ(said.find("Traceback"), std::string::npos) << said;
  }
  // A run under a directory this user cannot search was "not found" (helper-43): as the user
  // nobody, where this is root.
  if (::geteuid() == 0 && std::system("command -v setpriv >/dev/null") == 0) {
    make_dirs(dir + "/locked/run");
    write_file_atomic(dir + "/locked/run/metrics.jsonl", good);
    ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
    ASSERT_EQ(::chmod((dir + "/locked").c_str(), 0), 0);
    const int rc = std::system(("setpriv --reuid=65534 --regid=65534 --clear-groups '" + script + "' '" + dir +
                                "/locked/run' -o '" + dir + "/n.png' >'" + log + "' 2>&1").c_str());
    EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 1) << rc;
    EXPECT_NE(read_file(log).find("cannot look for it (Permission denied): this user cannot read the directory " + dir +
                                  "/locked; have its owner (uid 0) run chmod a+rx " + dir + "/locked"),
              std::string::npos) << read_file(log);
    ASSERT_EQ(::chmod((dir + "/locked").c_str(), 0755), 0);
  }
  EXPECT_EQ(plot(good, dir + "/none/l.png"), 2);
  EXPECT_NE(read_file(log).find("the directory " + dir + "/none does not exist"), std::string::npos) << read_file(log);
  // -o twice: the last one won without a word.
  const std::string twice = "'" + script + "' '" + bad + "' -o '" + dir + "/a.png' -o '" + dir + "/b.png' >'" + log +
                            "' 2>&1";
  const int rc = std::system(twice.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 2) << rc;
  EXPECT_NE(read_file(log).find("-o given twice"), std::string::npos) << read_file(log);
  EXPECT_FALSE(file_exists(dir + "/a.png") || file_exists(dir + "/b.png"));
  if (!python_with("matplotlib").empty()) {
    EXPECT_EQ(plot(good + "{\"step\":3,\"tra", dir + "/l.png"), 0) << read_file(log);
    EXPECT_TRUE(file_exists(dir + "/l.png"));
  }
  // A full disk (a tmpfs, where this may mount one) left a cut PNG or SVG in place of the
  // earlier image, and a PDF ended in a traceback (helper-41): the image is written beside
  // and renamed over, and the earlier one stays.
  const std::string fs = dir + "/fs";
  make_dirs(fs);
  if (!python_with("matplotlib").empty() && ::geteuid() == 0 &&
      std::system(("mount -t tmpfs -o size=200k tmpfs '" + fs + "' 2>/dev/null").c_str()) == 0) {
    EXPECT_EQ(plot(good, fs + "/l.png"), 0) << read_file(log);
    const std::string earlier = read_file(fs + "/l.png");
    std::system(("dd if=/dev/zero of='" + fs + "/filler' bs=4096 2>/dev/null").c_str());
    for (const char* ext : {"png", "svg", "pdf"}) {
      const std::string out = fs + "/l." + ext;
      EXPECT_EQ(plot(good, out), 1) << ext;
      const std::string said = read_file(log);
      EXPECT_NE(said.find(out + ": cannot write it (No space left on device); an earlier file there is untouched"),
                std::string::npos) << said;
      EXPECT_EQ(said.find("Traceback"), std::string::npos) << said;
    }
    EXPECT_EQ(read_file(fs + "/l.png"), earlier);
    EXPECT_FALSE(file_exists(fs + "/l.svg") || file_exists(fs + "/l.pdf"));
    EXPECT_EQ(std::system(("ls -a '" + fs + "' | grep -q tmp").c_str()) == 0, false) << "a temp file was left";
    std::system(("umount '" + fs + "'").c_str());
  }
}

// Scores of 1e180 (inputs near 1e90, inside the range the tool accepts): the score
// spread was computed by squaring them and printed inf; and the tables printed such
// numbers as 181 digits. By hand: unscaled scores {1e180, 0, 0, 1}, mean 2.5e179,
// deviations 7.5e179 and three of -2.5e179: std = sqrt(75e358 / 4) = 4.3301e179.
TEST(AttentionCli, ScoreSpreadOfHugeScoresIsFiniteAndPrintedShort) {
  const std::string path = scratch_dir() + "/huge.json";
  write_file_atomic(path, R"({"Q":[[1e90,0],[0,1]],"K":[[1e90,0],[0,1]],"V":[[1,2],[3,4]]})");
  std::string out, err;
  ASSERT_EQ(run_gpt({"attention", "--input", path, "--no-scale"}, &out, &err), 0) << err;
  const size_t at = out.find("  head 0  ", out.find("score std unscaled"));
  ASSERT_NE(at, std::string::npos) << out;
  const std::string row = out.substr(at, out.find('\n', at) - at);
  EXPECT_NE(row.find("4.3301e+179"), std::string::npos) << row;
  EXPECT_EQ(row.find("inf"), std::string::npos) << row;
}

// --out of the calculator had no size cap (64 heads of 100 tokens: an 85 MB SVG; 3000
// tokens: gigabytes), where posenc and the model maps refuse past svg::kMaxCells.
TEST(AttentionCli, PictureOfTooManyCellsIsRefusedFirst) {
  const std::string dir = scratch_dir(), path = dir + "/big.json";
  std::string m = "[";
  for (int t = 0; t < 600; t++) m += std::string(t ? "," : "") + "[" + std::to_string(t % 7) + "]";
  m += "]";
  write_file_atomic(path, "{\"Q\":" + m + ",\"K\":" + m + ",\"V\":" + m + "}");
  std::string out, err;
  const std::string svgfile = dir + "/big.svg";
  EXPECT_EQ(run_gpt({"attention", "--input", path, "--out", svgfile}, &out, &err), 2);
  EXPECT_NE(err.find("1 heads of 600 x 600 tokens are too many cells to draw"), std::string::npos) << err;
  EXPECT_FALSE(file_exists(svgfile));
  EXPECT_EQ(run_gpt({"attention", "--input", path}, &out, &err), 0) << err;  // the tables: any size
}

}  // namespace
}  // namespace gpt::test
