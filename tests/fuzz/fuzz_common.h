// Shared by the libFuzzer harnesses (one per reader; `make fuzz`, tests/fuzz/README.md):
// readers that take a path get the input as a file in a per-process scratch directory
// (written without fsync: speed, not durability). A gpt::Error is the expected answer
// to bad input; anything else (a crash, a sanitizer report, a timeout, too much memory)
// is a finding.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "check.h"
#include "fileio.h"

namespace gpt::fuzz {

inline const std::string& scratch() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string d = std::string(base ? base : "/tmp") + "/gptcc_fuzz." + std::to_string(::getpid());
    make_dirs(d);
    std::atexit([] { remove_tree(scratch()); });
    return d;
  }();
  return dir;
}

// Writes bytes to scratch()/name (truncating) and returns the path.
inline std::string put(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = join_path(scratch(), name);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < size) {
    const ssize_t w = ::write(fd, data + done, size - done);
    if (w <= 0) std::abort();
    done += size_t(w);
  }
  ::close(fd);
  return path;
}

// Runs f; a gpt::Error (bad input, refused with a message) is a normal outcome, and
// its message must name something (never empty).
template <class F>
void expect_ok_or_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    if (!*e.what()) std::abort();
  }
}

}  // namespace gpt::fuzz
