// Shared test helpers: ExpectClose (|a-e| <= abs + rel*|e|, reports the worst
// element), random fills, and a scratch directory per test.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "check.h"
#include "cli.h"
#include "config.h"
#include "model.h"
#include "rng.h"

namespace gpt::test {

template <class A, class E>
::testing::AssertionResult Close(const A* actual, const E* expected, size_t n, double abs_tol,
                                 double rel_tol) {
  double worst = -INFINITY;
  size_t worst_i = 0;
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    double a = double(actual[i]), e = double(expected[i]);
    double err = std::fabs(a - e);
    double allowed = abs_tol + rel_tol * std::fabs(e);
    if (!(err <= allowed)) ok = false;  // NaN fails
    double excess = std::isnan(err) ? 1e300 : err - allowed;
    if (excess > worst) {
      worst = excess;
      worst_i = i;
    }
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "worst element " << worst_i << " of " << n << ": actual " << double(actual[worst_i])
         << " expected " << double(expected[worst_i]) << " (abs " << abs_tol << ", rel " << rel_tol << ")";
}

#define EXPECT_CLOSE(actual, expected, n, abs_tol, rel_tol) \
  EXPECT_TRUE(::gpt::test::Close(actual, expected, n, abs_tol, rel_tol))

// One layer's slice of a parameter tensor, copied to the host.
template <class S>
std::vector<S> param_slice(const GPT<S>& m, int id, int layer = 0) {
  const ParamLayout& l = m.layout();
  std::vector<S> out(l.per_layer[id]);
  m.read(Store::params, out.data(), l.offset[id] + size_t(layer) * l.per_layer[id], out.size());
  return out;
}

// Same length and the same bits (not merely close).
template <class T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
std::vector<T> random_vec(size_t n, uint64_t seed, double scale = 1.0) {
  SplitMix64 r(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = T((r.uniform() * 2 - 1) * scale);
  return v;
}

// Runs f, expects a gpt::Error with `code` whose message contains every needle.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& needles, int code = kExitFailure) {
  try {
    f();
    ADD_FAILURE() << "expected a gpt::Error, nothing was thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, code) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
        << "message lacks \"" << n << "\": " << e.what();
  }
}

// A small GPT for tests: vocabulary 20 (padded to 128), 2 layers, 2 heads.
inline GPTConfig small_gpt(int context, int channels, PosEnc pos = PosEnc::learned, float dropout = 0.0f) {
  GPTConfig c;
  c.max_seq_len = context;
  c.vocab_size = 20;
  c.padded_vocab_size = pad_vocab(20);
  c.num_layers = 2;
  c.num_heads = 2;
  c.channels = channels;
  c.pos = pos;
  c.dropout = dropout;
  return c;
}

// Sets an environment variable for one scope (nullptr: unsets it); restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_.c_str(), old_.c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// Runs the CLI in-process (args without the program name); returns the exit code,
// and stdout / stderr in *out / *err when given (both are captured either way).
inline int run_gpt(std::vector<std::string> args, std::string* out = nullptr, std::string* err = nullptr) {
  args.insert(args.begin(), "gpt");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  const int rc = run_cli(int(argv.size()), argv.data());
  const std::string o = ::testing::internal::GetCapturedStdout();
  const std::string e = ::testing::internal::GetCapturedStderr();
  if (out) *out = o;
  if (err) *err = e;
  return rc;
}

// A file of the repository (scripts/..., examples/...): under GPT_SOURCE_DIR (the
// Makefile defines it for the tests), else relative to the working directory; "" when
// it is not there.
inline std::string repo_file(const std::string& rel) {
#ifdef GPT_SOURCE_DIR
  const std::string p = std::string(GPT_SOURCE_DIR) + "/" + rel;
#else
  const std::string p = rel;
#endif
  return std::system(("test -e '" + p + "'").c_str()) == 0 ? p : "";
}

// A Python interpreter that can import `modules` (e.g. "torch, numpy"): $GPT_PYTHON,
// python3 on PATH, or Debian's /usr/bin/python3 (where apt installs python3-torch and
// python3-matplotlib); "" when none can. One probe per module list.
inline std::string python_with(const std::string& modules) {
  static std::map<std::string, std::string> found;
  auto it = found.find(modules);
  if (it != found.end()) return it->second;
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("GPT_PYTHON")) candidates.push_back(p);
  candidates.insert(candidates.end(), {"python3", "/usr/bin/python3"});
  std::string best;
  for (const auto& py : candidates)
    if (std::system((py + " -c 'import " + modules + "' >/dev/null 2>&1").c_str()) == 0) {
      best = py;
      break;
    }
  return found[modules] = best;
}

// A fresh, empty directory under $TMPDIR (or /tmp) for the current test.
// The scratch directory of a test (removed when the test passes: see test_util.cpp).
inline std::string scratch_dir_of(const ::testing::TestInfo& info) {
  const char* base = std::getenv("TMPDIR");
  // The pid keeps two test runs at once (two checkouts, CI beside a developer) apart.
  std::string name = std::string(info.test_suite_name()) + "_" + info.name();
  for (char& ch : name)
    if (ch == '/') ch = '_';  // parameterised tests: one directory, not a tree
  return std::string(base ? base : "/tmp") + "/gptcc_test_" + name + "_" + std::to_string(::getpid());
}

// A small text with structure (so a model can learn it), prepared into dir/data (test_util.cpp).
std::string make_data(const std::string& dir);
// The flags of a tiny model that trains in well under a second a step.
std::vector<std::string> tiny_model_flags();
// step -> "train_loss/val_loss" of a metrics.jsonl, as written (exact text, so equality is bitwise).
std::map<long, std::string> read_losses(const std::string& metrics);

inline std::string scratch_dir() {
  const std::string dir = scratch_dir_of(*::testing::UnitTest::GetInstance()->current_test_info());
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "cannot create " << dir;
  return dir;
}

}  // namespace gpt::test
