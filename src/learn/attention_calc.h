// The step-by-step attention calculator behind `gpt attention --input FILE.json`:
// reads X and W_q, W_k, W_v (or Q, K, V), runs the model's own layer code
// (cpu::matmul_forward, cpu::attention_forward) in double precision and keeps every
// intermediate so that it can be printed, checked by hand, or emitted as JSON.
// Not here: a second attention implementation (there is none), RoPE, batches.
#pragma once
#include <string>
#include <vector>

#include "formats/json.h"

namespace gpt {

// Dense, row-major matrix of doubles.
struct Matrix {
  int rows = 0, cols = 0;
  std::vector<double> v;
  Matrix() = default;
  Matrix(int r, int c, double fill = 0.0) : rows(r), cols(c), v(size_t(r) * size_t(c), fill) {}
  double& at(int r, int c) { return v[size_t(r) * cols + c]; }
  double at(int r, int c) const { return v[size_t(r) * cols + c]; }
  bool empty() const { return rows == 0; }
  std::string shape() const;  // "2x3"
};

// What `gpt attention --input` reads. Either X (T x d) with W_q, W_k, W_v (d x d),
// giving Q = X.W_q, K = X.W_k, V = X.W_v (rows are tokens, W is (d_in x d_out) as in
// "Attention Is All You Need"); or Q, K, V (T x d) directly. Optional W_o (d x m).
struct AttentionProblem {
  Matrix X, W_q, W_k, W_v;  // empty when Q, K, V were given
  Matrix Q, K, V;           // empty when X was given (computed by run_attention)
  Matrix W_o;               // empty when absent
  int heads = 1;            // must divide d; head h owns columns [h*hs, (h+1)*hs)
  bool causal = false;      // true: query t sees keys 0..t only
  bool from_x() const { return !X.empty(); }
  int T() const { return from_x() ? X.rows : Q.rows; }
  int d() const { return from_x() ? X.cols : Q.cols; }
  int hs() const { return d() / heads; }
};

// Validates shapes and types; errors (exit 1) name `source`, the field and the shapes,
// e.g. "in.json: W_k: expected 2x2 (d x d, d = 2 = the columns of X), found 2x3".
AttentionProblem parse_attention_problem(const Json& j, const std::string& source);
// A file is read up to kMaxInputBytes (a calculator example is a few matrices; a device
// such as /dev/zero was read until memory ran out).
constexpr size_t kMaxInputBytes = size_t(64) << 20;
AttentionProblem load_attention_problem(const std::string& path);

// One head's steps, all (T x hs) or (T x T).
struct HeadSteps {
  Matrix q, k, v;   // this head's columns of Q, K, V
  Matrix qk;        // q . k^T (unscaled, unmasked)
  Matrix scores;    // the scores softmax sees: scaled (unless unscaled), masked entries -inf
  Matrix weights;   // softmax of each row of scores (masked entries 0)
  Matrix output;    // weights . v
  double entropy = 0;    // mean over rows of -sum w ln w (nats)
  double score_std = 0;  // standard deviation of the unmasked scores
};

struct AttentionResult {
  bool scaled = true;
  double scale = 1;  // 1/sqrt(hs) or 1
  Matrix Q, K, V;    // (T x d)
  std::vector<HeadSteps> heads;
  Matrix concat;  // (T x d): the heads' outputs side by side (what the layer returns)
  Matrix output;  // concat . W_o when W_o is given, else concat
};

// Runs the problem through the model's layer functions in double precision:
// matmul_forward (the fused qkv projection, Q.K^T per head, the W_o projection) and
// attention_forward (mask, scaling, softmax, weights . V). scaled = false drops 1/sqrt(hs).
AttentionResult run_attention(const AttentionProblem& p, bool scaled = true);

// -sum w ln w over one row (0 ln 0 = 0), in nats.
double row_entropy(const double* w, int n);

// Aligned tables, four decimals. `other` (optional): the same problem with the other
// scaling, for the entropy comparison `--no-scale` prints.
std::string format_attention(const AttentionProblem& p, const AttentionResult& r,
                             const AttentionResult* other = nullptr);
// {"heads": [{"q","k","v","qk","scores","weights","output","entropy"}...], "output": [[...]], ...};
// masked scores are null (JSON has no -inf).
Json attention_json(const AttentionProblem& p, const AttentionResult& r, const AttentionResult* other = nullptr);

// Matrix <-> JSON arrays of rows (non-finite numbers become null).
Json matrix_json(const Matrix& m);
// A table: row labels, column labels, numbers with `decimals` places, -inf shown as
// "-inf"; more than max_cols columns or max_rows rows are elided with "...".
std::string format_table(const Matrix& m, const std::vector<std::string>& row_labels,
                         const std::vector<std::string>& col_labels, int decimals = 4, int max_cols = 12,
                         int max_rows = 24, const std::string& indent = "  ");

}  // namespace gpt
