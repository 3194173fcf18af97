// Errors: every failure is a gpt::Error carrying an exit code (1 = bad input or
// I/O, 2 = bad command line) and a message that says what to do. main() prints
// it and exits; tests catch it. Never assert() on input: asserts vanish under NDEBUG.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace gpt {

constexpr int kExitFailure = 1;  // bad file, I/O error, numerical failure
constexpr int kExitUsage = 2;    // bad command line or impossible settings

struct Error : std::runtime_error {
  int code;
  Error(int code_, const std::string& msg) : std::runtime_error(msg), code(code_) {}
};

template <class... A>
std::string str(A&&... a) {
  std::ostringstream s;
  (s << ... << a);
  return s.str();
}

// A noun agreeing with a count: plural(1, "step") is "step", plural(3, "step") "steps",
// plural(2, "batch") "batches" (after s, x, ch, sh: "es"). For counts printed some other
// way ("12,345 steps"); count() prints the number too.
inline std::string plural(double n, const std::string& noun) {
  if (n == 1) return noun;
  const auto ends = [&](const char* e) {
    const std::string t(e);
    return noun.size() >= t.size() && noun.compare(noun.size() - t.size(), t.size(), t) == 0;
  };
  return noun + (ends("s") || ends("x") || ends("ch") || ends("sh") ? "es" : "s");
}
// count(1, "step") is "1 step", count(0, "token") "0 tokens".
inline std::string count(long long n, const std::string& noun) {
  return std::to_string(n) + " " + plural(double(n), noun);
}

// The shortest decimal text that reads back as x: 0.1f is "0.1", not "0.100000001"
// (run.json's settings, the ranks' comparison, config.json's dropout).
inline std::string shortest_text(float x) {
  char b[32];
  for (int digits = 1;; digits++) {
    std::snprintf(b, sizeof b, "%.*g", digits, double(x));
    if (std::strtof(b, nullptr) == x || digits >= 9) return b;
  }
}

// What sample, eval and attention say of a model whose weights are finite but whose
// forward pass overflows: forward_overflows("no loss to report").
inline std::string forward_overflows(const char* so_it_has) {
  return std::string("the model's forward pass overflows (its weights are too large), so it has ") + so_it_has +
         "; the model file is damaged or was trained to divergence (check its loss curve, or use an earlier "
         "checkpoint)";
}

}  // namespace gpt

// FAIL: bad input / I/O (exit 1). USAGE_FAIL: bad command line (exit 2).
#define GPT_FAIL(...) throw ::gpt::Error(::gpt::kExitFailure, ::gpt::str(__VA_ARGS__))
#define GPT_USAGE_FAIL(...) throw ::gpt::Error(::gpt::kExitUsage, ::gpt::str(__VA_ARGS__))
// CHECK: an internal invariant; names the source line so a bug report can find it.
#define GPT_CHECK(cond, ...)                                                              \
  do {                                                                                    \
    if (!(cond))                                                                          \
      throw ::gpt::Error(::gpt::kExitFailure,                                             \
                         ::gpt::str(__FILE__, ":", __LINE__, ": check failed: " #cond ": ", \
                                    ##__VA_ARGS__));                                      \
  } while (0)
