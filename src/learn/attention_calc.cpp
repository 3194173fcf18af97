// The attention calculator (see attention_calc.h): JSON in, the model's layer
// functions in double precision, every intermediate out as tables or JSON.
#include "learn/attention_calc.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "buffer.h"
#include "check.h"
#include "fileio.h"
#include "layers.h"

namespace gpt {

std::string Matrix::shape() const { return std::to_string(rows) + "x" + std::to_string(cols); }

namespace {

constexpr int kMaxTokens = 4096;  // a calculator, not a model: keeps T x T tables in memory
constexpr int kMaxWidth = 16384;

const char* kFields[] = {"X", "W_q", "W_k", "W_v", "W_o", "Q", "K", "V", "heads", "causal", "comment"};

std::string divisors(int d) {
  std::string s;
  for (int k = 1; k <= d; k++)
    if (d % k == 0) s += (s.empty() ? "" : ", ") + std::to_string(k);
  return s;
}

// An array of rows of finite numbers, every row the same length.
Matrix read_matrix(const Json& j, const std::string& src, const std::string& name) {
  const std::string what = src + ": " + name;
  if (!j.is_array())
    GPT_FAIL(what, ": expected a matrix (an array of rows, each an array of numbers), found ",
             Json::type_name(j.type()));
  const auto& rows = j.as_array(what);
  if (rows.empty()) GPT_FAIL(what, ": expected a matrix with at least one row, found an empty array []");
  if (rows.size() > size_t(kMaxTokens))
    GPT_FAIL(what, ": ", rows.size(), " rows; the calculator takes at most ", kMaxTokens);
  Matrix m;
  for (size_t r = 0; r < rows.size(); r++) {
    const std::string rw = what + "[" + std::to_string(r) + "]";
    if (!rows[r].is_array())
      GPT_FAIL(rw, ": expected a row (an array of numbers), found ", Json::type_name(rows[r].type()),
               "; a matrix is written [[1, 2], [3, 4]]");
    const auto& row = rows[r].as_array(rw);
    if (r == 0) {
      if (row.empty()) GPT_FAIL(rw, ": empty row; every row needs at least one number");
      if (row.size() > size_t(kMaxWidth))
        GPT_FAIL(rw, ": ", row.size(), " columns; the calculator takes at most ", kMaxWidth);
      m = Matrix(int(rows.size()), int(row.size()));
    } else if (int(row.size()) != m.cols) {
      GPT_FAIL(what, ": ragged rows: row 0 has ", m.cols, " numbers but row ", r, " has ", row.size(),
               "; every row of a matrix must have the same length");
    }
    for (size_t c = 0; c < row.size(); c++) {
      const std::string el = rw + "[" + std::to_string(c) + "]";
      if (!row[c].is_number()) GPT_FAIL(el, ": expected a number, found ", Json::type_name(row[c].type()));
      const double x = row[c].as_number(el);
      if (!std::isfinite(x)) GPT_FAIL(el, ": expected a finite number, found ", row[c].dump());
      m.at(int(r), int(c)) = x;
    }
  }
  return m;
}

Matrix columns(const Matrix& m, int c0, int n) {
  Matrix out(m.rows, n);
  for (int r = 0; r < m.rows; r++)
    for (int c = 0; c < n; c++) out.at(r, c) = m.at(r, c0 + c);
  return out;
}

Matrix transpose(const Matrix& m) {
  Matrix t(m.cols, m.rows);
  for (int r = 0; r < m.rows; r++)
    for (int c = 0; c < m.cols; c++) t.at(c, r) = m.at(r, c);
  return t;
}

std::string fmt(double x, int decimals) {
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  if (std::isnan(x)) return "nan";
  char buf[400];
  // Past 1e12, fixed point is a wall of digits (a score of 1e180 printed 181 of them).
  std::snprintf(buf, sizeof buf, std::fabs(x) >= 1e12 ? "%.*e" : "%.*f", decimals, x);
  std::string s = buf;
  // "-0.0000" reads as a sign error when checking by hand.
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::vector<std::string> labels(const std::string& prefix, int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; i++) v.push_back(prefix + std::to_string(i));
  return v;
}

std::string mean_entropy_line(const HeadSteps& h, double uniform) {
  return "mean entropy of the weights: " + fmt(h.entropy, 4) + " nats (uniform over the visible keys: " +
         fmt(uniform, 4) + ", one-hot: 0)";
}

// Mean over rows of ln(number of visible keys): the entropy of uniform weights.
double uniform_entropy(int T, bool causal) {
  double s = 0;
  for (int t = 0; t < T; t++) s += std::log(double(causal ? t + 1 : T));
  return s / T;
}

}  // namespace

AttentionProblem parse_attention_problem(const Json& j, const std::string& src) {
  if (!j.is_object())
    GPT_FAIL(src, ": expected a JSON object {\"X\": ..., \"W_q\": ..., \"W_k\": ..., \"W_v\": ...} or "
             "{\"Q\": ..., \"K\": ..., \"V\": ...}, found ", Json::type_name(j.type()));
  for (const auto& kv : j.as_object(src)) {
    bool known = false;
    for (const char* f : kFields) known |= kv.first == f;
    if (!known)
      GPT_FAIL(src, ": unknown field \"", kv.first, "\"; the fields are X, W_q, W_k, W_v, W_o, Q, K, V, heads, "
               "causal (and comment)");
  }
  auto get = [&](const char* name) { return j.find(name); };
  AttentionProblem p;
  const bool has_x = get("X"), has_q = get("Q") || get("K") || get("V");
  const bool has_w = get("W_q") || get("W_k") || get("W_v");
  if (has_x && has_q)
    GPT_FAIL(src, ": has both X and Q/K/V; give either X with W_q, W_k, W_v (the calculator computes "
             "Q = X.W_q, ...) or Q, K, V directly");
  if (!has_x && !has_q)
    GPT_FAIL(src, ": needs either X (T x d) with W_q, W_k, W_v (d x d), or Q, K, V (T x d)",
             has_w ? "; found weights but no X" : "");
  if (has_x) {
    p.X = read_matrix(*get("X"), src, "X");
    const int d = p.X.cols;
    Matrix* W[3] = {&p.W_q, &p.W_k, &p.W_v};
    const char* names[3] = {"W_q", "W_k", "W_v"};
    for (int m = 0; m < 3; m++) {
      if (!get(names[m]))
        GPT_FAIL(src, ": ", names[m], " is missing; with X (", p.X.shape(), ") the file needs W_q, W_k and W_v, "
                 "each ", d, "x", d, " (d x d)");
      *W[m] = read_matrix(*get(names[m]), src, names[m]);
      if (W[m]->rows != d || W[m]->cols != d)
        GPT_FAIL(src, ": ", names[m], ": expected ", d, "x", d, " (d x d, where d = ", d,
                 " is the number of columns of X), found ", W[m]->shape());
    }
  } else {
    if (has_w)
      GPT_FAIL(src, ": W_q/W_k/W_v project X, but the file gives Q, K, V directly; drop the weights or give X");
    const char* names[3] = {"Q", "K", "V"};
    Matrix* M[3] = {&p.Q, &p.K, &p.V};
    for (int m = 0; m < 3; m++) {
      if (!get(names[m])) GPT_FAIL(src, ": ", names[m], " is missing; the file needs all of Q, K and V (T x d)");
      *M[m] = read_matrix(*get(names[m]), src, names[m]);
      if (m > 0 && (M[m]->rows != p.Q.rows || M[m]->cols != p.Q.cols))
        GPT_FAIL(src, ": ", names[m], ": expected ", p.Q.shape(), " (the shape of Q: T x d, one row per token), found ",
                 M[m]->shape());
    }
  }
  const int d = p.d();
  const char* dname = has_x ? "the number of columns of X" : "the number of columns of Q";
  if (const Json* wo = get("W_o")) {
    p.W_o = read_matrix(*wo, src, "W_o");
    if (p.W_o.rows != d)
      GPT_FAIL(src, ": W_o: expected ", d, " rows (d = ", d, ", the width of the concatenated heads) and any "
               "number of columns, found ", p.W_o.shape());
  }
  if (const Json* h = get("heads")) {
    const int64_t n = h->as_int(src + ": heads");
    if (n < 1) GPT_FAIL(src, ": heads: expected a whole number >= 1, found ", n);
    if (n > d || d % n != 0)
      GPT_FAIL(src, ": heads = ", n, " does not divide d = ", d, " (", dname, "); each head takes d/heads "
               "columns, so heads must be one of ", divisors(d));
    p.heads = int(n);
  }
  if (const Json* c = get("causal")) p.causal = c->as_bool(src + ": causal");
  if (const Json* c = get("comment")) c->as_string(src + ": comment");
  return p;
}

AttentionProblem load_attention_problem(const std::string& path) {
  return parse_attention_problem(Json::parse(read_file_at_most(path, kMaxInputBytes, "an --input"), path), path);
}

double row_entropy(const double* w, int n) {
  double h = 0;
  for (int i = 0; i < n; i++)
    if (w[i] > 0) h -= w[i] * std::log(w[i]);
  return h;
}

namespace {
// Finite inputs can still overflow double (1e200 * 1e200): refuse rather than print
// inf, or NaN, or a JSON null that reads like a masked entry.
void check_finite_result(const AttentionResult& r, bool causal) {
  auto check = [](const Matrix& m, const std::string& what, bool masked_ok) {
    for (int t = 0; t < m.rows; t++)
      for (int u = 0; u < m.cols; u++) {
        const double x = m.at(t, u);
        if (std::isfinite(x) || (masked_ok && u > t && x == -INFINITY)) continue;
        GPT_FAIL(what, " overflows double precision (row ", t, ", column ", u, " is ", fmt(x, 3),
                 "); the inputs are too large to compute with: scale them down (magnitudes below about 1e100)");
      }
  };
  check(r.Q, "Q", false);
  check(r.K, "K", false);
  check(r.V, "V", false);
  for (size_t h = 0; h < r.heads.size(); h++) {
    const std::string head = "head " + std::to_string(h) + ": ";
    check(r.heads[h].qk, head + "q.k^T", false);
    check(r.heads[h].scores, head + "the scores", causal);
    check(r.heads[h].weights, head + "the attention weights", false);
    check(r.heads[h].output, head + "the output", false);
  }
  check(r.output, "the output", false);
}
}  // namespace

AttentionResult run_attention(const AttentionProblem& p, bool scaled) {
  const int T = p.T(), d = p.d(), H = p.heads, hs = p.hs();
  GPT_CHECK(T > 0 && d > 0 && H > 0 && d % H == 0, "T ", T, ", d ", d, ", heads ", H);
  AttentionResult r;
  r.scaled = scaled;
  r.scale = scaled ? 1.0 / std::sqrt(double(hs)) : 1.0;
  // qkv (1, T, 3d) = Q | K | V per row: the packed layout the model's attention reads.
  const size_t d3 = 3 * size_t(d);
  std::vector<double> qkv(size_t(T) * d3);
  if (p.from_x()) {
    // The model's fused projection qkv = X . W^T with W (3d x d) = [W_q^T; W_k^T; W_v^T].
    std::vector<double> w(d3 * d);
    const Matrix* W[3] = {&p.W_q, &p.W_k, &p.W_v};
    for (int m = 0; m < 3; m++)
      for (int o = 0; o < d; o++)
        for (int c = 0; c < d; c++) w[(size_t(m) * d + o) * d + c] = W[m]->at(c, o);
    cpu::matmul_forward(qkv.data(), p.X.v.data(), w.data(), static_cast<const double*>(nullptr), size_t(T), d,
                        int(d3));
  } else {
    const Matrix* M[3] = {&p.Q, &p.K, &p.V};
    for (int t = 0; t < T; t++)
      for (int m = 0; m < 3; m++)
        for (int c = 0; c < d; c++) qkv[t * d3 + size_t(m) * d + c] = M[m]->at(t, c);
  }
  Matrix* M[3] = {&r.Q, &r.K, &r.V};
  for (int m = 0; m < 3; m++) {
    *M[m] = Matrix(T, d);
    for (int t = 0; t < T; t++)
      for (int c = 0; c < d; c++) M[m]->at(t, c) = qkv[t * d3 + size_t(m) * d + c];
  }

  r.concat = Matrix(T, d);
  const size_t TT = size_t(T) * T;
  std::vector<double> att(size_t(H) * TT), scores(size_t(H) * TT);
  std::vector<double> lse(size_t(H) * T);
  cpu::attention_forward(r.concat.v.data(), lse.data(), qkv.data(), Dims{1, T, d, H}, Dropout{},
                         AttentionMode{p.causal, scaled}, att.data(), scores.data());

  for (int h = 0; h < H; h++) {
    HeadSteps s;
    s.q = columns(r.Q, h * hs, hs);
    s.k = columns(r.K, h * hs, hs);
    s.v = columns(r.V, h * hs, hs);
    s.qk = Matrix(T, T);  // q . k^T: the model's matmul with k as the weight matrix
    cpu::matmul_forward(s.qk.v.data(), s.q.v.data(), s.k.v.data(), static_cast<const double*>(nullptr), size_t(T),
                        hs, T);
    s.scores = Matrix(T, T);
    s.weights = Matrix(T, T);
    std::copy(scores.begin() + h * TT, scores.begin() + (h + 1) * TT, s.scores.v.begin());
    std::copy(att.begin() + h * TT, att.begin() + (h + 1) * TT, s.weights.v.begin());
    s.output = columns(r.concat, h * hs, hs);
    double ent = 0, sum = 0;
    std::vector<double> seen;  // the scores a query sees (masked ones are -inf)
    for (int t = 0; t < T; t++) {
      ent += row_entropy(&s.weights.at(t, 0), T);
      for (int u = 0; u < T; u++) {
        const double x = s.scores.at(t, u);
        if (!std::isfinite(x)) continue;
        sum += x;
        seen.push_back(x);
      }
    }
    s.entropy = ent / T;
    // Two passes, the deviations scaled by the largest: squaring scores of 1e180 (the
    // tool takes inputs up to ~1e100) overflowed to a std of inf.
    const double mean = sum / double(seen.size());
    double big = 0, sq = 0;
    for (double x : seen) big = std::max(big, std::fabs(x - mean));
    if (big > 0)
      for (double x : seen) sq += ((x - mean) / big) * ((x - mean) / big);
    s.score_std = big * std::sqrt(sq / double(seen.size()));
    r.heads.push_back(std::move(s));
  }
  if (!p.W_o.empty()) {
    const Matrix wt = transpose(p.W_o);  // (m x d): matmul_forward multiplies by weight^T
    r.output = Matrix(T, p.W_o.cols);
    cpu::matmul_forward(r.output.v.data(), r.concat.v.data(), wt.v.data(), static_cast<const double*>(nullptr),
                        size_t(T), d, p.W_o.cols);
  } else {
    r.output = r.concat;
  }
  check_finite_result(r, p.causal);
  return r;
}

std::string format_table(const Matrix& m, const std::vector<std::string>& row_labels,
                         const std::vector<std::string>& col_labels, int decimals, int max_cols, int max_rows,
                         const std::string& indent) {
  // Which rows / columns to show: all, or the first ones, "...", the last one.
  auto pick = [](int n, int max) {
    std::vector<int> idx;
    if (n <= max) {
      for (int i = 0; i < n; i++) idx.push_back(i);
    } else {
      for (int i = 0; i < max - 2; i++) idx.push_back(i);
      idx.push_back(-1);  // "..."
      idx.push_back(n - 1);
    }
    return idx;
  };
  const std::vector<int> rs = pick(m.rows, std::max(3, max_rows)), cs = pick(m.cols, std::max(3, max_cols));
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> head{""};
  for (int c : cs) head.push_back(c < 0 ? "..." : col_labels[size_t(c)]);
  cells.push_back(head);
  for (int r : rs) {
    std::vector<std::string> row{r < 0 ? "..." : row_labels[size_t(r)]};
    for (int c : cs) row.push_back(r < 0 || c < 0 ? "..." : fmt(m.at(r, c), decimals));
    cells.push_back(row);
  }
  std::vector<size_t> w(head.size(), 0);
  for (const auto& row : cells)
    for (size_t c = 0; c < row.size(); c++) w[c] = std::max(w[c], row[c].size());
  std::string s;
  for (const auto& row : cells) {
    std::string line = indent + row[0] + std::string(w[0] - row[0].size(), ' ');
    for (size_t c = 1; c < row.size(); c++) line += "  " + std::string(w[c] - row[c].size(), ' ') + row[c];
    s += line + "\n";
  }
  if (m.rows > max_rows || m.cols > max_cols)
    s += indent + "(" + m.shape() + ", not all shown; --json prints every number)\n";
  return s;
}

std::string format_attention(const AttentionProblem& p, const AttentionResult& r, const AttentionResult* other) {
  const int T = p.T(), d = p.d(), H = p.heads, hs = p.hs();
  const auto tok = labels("t", T), col = labels("", std::max(d, std::max(T, p.W_o.cols)));
  std::string s;
  s += "gpt attention: " + std::to_string(T) + " token" + (T == 1 ? "" : "s") + ", d = " + std::to_string(d) +
       ", " + std::to_string(H) + " head" + (H == 1 ? "" : "s") + " of size hs = d/heads = " + std::to_string(hs) +
       ", " + (p.causal ? "causal mask (query t sees keys 0..t)" : "no mask (every query sees every key)") + "\n";
  s += "Computed by the model's own layer functions in double precision (matmul_forward, attention_forward).\n";
  if (r.scaled)
    s += "Scaling: scores = Q.K^T / sqrt(hs) = Q.K^T x " + fmt(r.scale, 4) + ", with hs = " + std::to_string(hs) +
         " the HEAD size (d_k), not d.\n";
  else
    s += "Scaling: none (--no-scale): scores = Q.K^T.\n";
  s += "Rows are tokens (t0, t1, ...); in T x T tables the row is the query and the column the key.\n\n";

  auto table = [&](const std::string& title, const Matrix& m, const std::vector<std::string>& cl,
                   const std::string& indent = "  ", const std::string& shape = "") {
    s += indent.substr(2) + title + " (" + (shape.empty() ? m.shape() : shape) + ")\n" +
         format_table(m, tok, cl, 4, 12, 24, indent) + "\n";
  };
  if (p.from_x()) {
    table("X, the input", p.X, col);
    table("Q = X.W_q", r.Q, col);
    table("K = X.W_k", r.K, col);
    table("V = X.W_v", r.V, col);
  } else {
    table("Q", r.Q, col);
    table("K", r.K, col);
    table("V", r.V, col);
  }
  for (int h = 0; h < H; h++) {
    const HeadSteps& hd = r.heads[size_t(h)];
    const std::string I = H > 1 ? "    " : "  ";
    if (H > 1) {
      s += "== head " + std::to_string(h) + ": columns " + std::to_string(h * hs) + ".." +
           std::to_string((h + 1) * hs - 1) + " of Q, K, V ==\n";
      table("  q = Q[:, head]", hd.q, col, I);
      table("  k = K[:, head]", hd.k, col, I);
      table("  v = V[:, head]", hd.v, col, I);
    }
    const std::string q = H > 1 ? "q" : "Q", k = H > 1 ? "k" : "K", v = H > 1 ? "v" : "V";
    const std::string n = H > 1 ? "  " : "";
    table(n + "1. " + q + "." + k + "^T: dot product of each query row with each key row", hd.qk, tok, I);
    int step = 2;
    if (r.scaled) {
      Matrix scaled = hd.qk;
      for (double& x : scaled.v) x *= r.scale;
      table(n + "2. scaled: " + q + "." + k + "^T x " + fmt(r.scale, 4) + " (= 1/sqrt(" + std::to_string(hs) + "))",
            scaled, tok, I);
      step = 3;
    } else {
      s += n + "2. scaling: none (--no-scale)\n\n";
      step = 3;
    }
    if (p.causal)
      table(n + std::to_string(step) + ". causal mask: a query may not see later keys; their scores become -inf",
            hd.scores, tok, I);
    else
      s += n + std::to_string(step) + ". mask: none (causal is false)\n\n";
    step++;
    Matrix w(T, T + 1);  // weights plus a row-sum column
    for (int t = 0; t < T; t++) {
      double sum = 0;
      for (int u = 0; u < T; u++) sum += (w.at(t, u) = hd.weights.at(t, u));
      w.at(t, T) = sum;
    }
    std::vector<std::string> wl = tok;
    wl.push_back("sum");
    table(n + std::to_string(step++) + ". softmax of each row: exp(score - row max) / row sum; each row sums to 1",
          w, wl, I, hd.weights.shape());
    table(n + std::to_string(step++) + ". output = weights." + v + ": each row mixes the value rows by its weights",
          hd.output, col, I);
    s += I + mean_entropy_line(hd, uniform_entropy(T, p.causal)) + "\n\n";
  }
  if (H > 1) table("Concatenated heads (the layer's output)", r.concat, col);
  if (!p.W_o.empty()) table(std::string(H > 1 ? "Output = concat.W_o" : "Output = output.W_o"), r.output, col);

  if (other) {
    const AttentionResult& sc = r.scaled ? r : *other;
    const AttentionResult& un = r.scaled ? *other : r;
    s += "Why divide by sqrt(d_k)? The same heads with and without the 1/sqrt(hs) scaling:\n";
    Matrix m(H, 5);
    for (int h = 0; h < H; h++) {
      m.at(h, 0) = sc.heads[size_t(h)].entropy;
      m.at(h, 1) = un.heads[size_t(h)].entropy;
      m.at(h, 2) = uniform_entropy(T, p.causal);
      m.at(h, 3) = sc.heads[size_t(h)].score_std;
      m.at(h, 4) = un.heads[size_t(h)].score_std;
    }
    s += format_table(m, labels("head ", H),
                      {"entropy scaled", "entropy unscaled", "uniform", "score std scaled", "score std unscaled"}) +
         "\n";
    s += "Entropy is the mean over rows of -sum w ln w (nats): the uniform value means the query spreads\n"
         "its attention evenly, 0 means it looks at a single key. If the entries of q and k have variance 1,\n"
         "q.k sums hs such products and has variance hs (" + std::to_string(hs) +
         " here): without the scaling the scores spread\n"
         "out as the head grows, softmax saturates towards one key and its gradient vanishes. Dividing by\n"
         "sqrt(hs) brings the score variance back to about 1 whatever the head size.\n";
  }
  return s;
}

Json matrix_json(const Matrix& m) {
  // Sized up front: grown by push, a row of 1025 ended with room for 2048 (and a copy
  // on each growth), twice what gpt attention's memory check counts.
  std::vector<Json> rows;
  rows.reserve(size_t(m.rows));
  for (int r = 0; r < m.rows; r++) {
    std::vector<Json> row;
    row.reserve(size_t(m.cols));
    for (int c = 0; c < m.cols; c++) row.push_back(std::isfinite(m.at(r, c)) ? Json::number(m.at(r, c)) : Json());
    rows.push_back(Json::array(std::move(row)));
  }
  return Json::array(std::move(rows));
}

Json attention_json(const AttentionProblem& p, const AttentionResult& r, const AttentionResult* other) {
  Json j = Json::object();
  j.set("tokens", Json::integer(p.T()));
  j.set("d", Json::integer(p.d()));
  j.set("num_heads", Json::integer(p.heads));
  j.set("head_size", Json::integer(p.hs()));
  j.set("causal", Json::boolean(p.causal));
  j.set("scale", Json::number(r.scale));
  j.set("Q", matrix_json(r.Q));
  j.set("K", matrix_json(r.K));
  j.set("V", matrix_json(r.V));
  Json heads = Json::array();
  for (const HeadSteps& h : r.heads) {
    Json o = Json::object();
    o.set("q", matrix_json(h.q));
    o.set("k", matrix_json(h.k));
    o.set("v", matrix_json(h.v));
    o.set("qk", matrix_json(h.qk));
    o.set("scores", matrix_json(h.scores));
    o.set("weights", matrix_json(h.weights));
    o.set("output", matrix_json(h.output));
    o.set("entropy", Json::number(h.entropy));
    heads.push(std::move(o));
  }
  j.set("heads", std::move(heads));
  if (!p.W_o.empty()) j.set("concat", matrix_json(r.concat));
  j.set("output", matrix_json(r.output));
  if (other) {
    const AttentionResult& sc = r.scaled ? r : *other;
    const AttentionResult& un = r.scaled ? *other : r;
    Json e = Json::object(), sd = Json::object();
    for (auto [res, name] : {std::pair{&sc, "scaled"}, std::pair{&un, "unscaled"}}) {
      Json a = Json::array(), b = Json::array();
      for (const HeadSteps& h : res->heads) {
        a.push(Json::number(h.entropy));
        b.push(Json::number(h.score_std));
      }
      e.set(name, std::move(a));
      sd.set(name, std::move(b));
    }
    j.set("entropy", std::move(e));
    j.set("score_std", std::move(sd));
  }
  return j;
}

}  // namespace gpt
