// Checked file I/O: every failure names the file and what went wrong.
// Writes are atomic: temp file in the same directory, fsync, rename, fsync dir,
// so a crash never leaves a half-written checkpoint or shard behind.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace gpt {

std::string read_file(const std::string& path);  // whole file; gpt::Error if unreadable
void write_file_atomic(const std::string& path, std::string_view bytes);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p; gpt::Error on failure
std::string join_path(const std::string& dir, const std::string& name);

// A whole file mapped read-only (move-only, unmapped on destruction): large model
// files and token shards are paged in by the OS instead of being copied into a
// buffer first. Missing or unreadable file, a directory: gpt::Error naming it.
class MappedFile {
 public:
  MappedFile() = default;  // empty
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return static_cast<const char*>(map_); }
  size_t size() const { return size_; }
  std::string_view view() const { return {data(), size_}; }

 private:
  void* map_ = nullptr;
  size_t size_ = 0;
};

// Sequential reader over an in-memory file image with bounds checks.
class ByteReader {
 public:
  ByteReader(std::string_view data, std::string source) : data_(data), source_(std::move(source)) {}
  // Copies n bytes; gpt::Error "<source>: truncated: expected <n> bytes of <what> at
  // offset <off>, found <left>" when short.
  void read(void* dst, size_t n, const char* what);
  template <class T>
  T get(const char* what) {
    T x;
    read(&x, sizeof(T), what);
    return x;
  }
  size_t offset() const { return off_; }
  size_t remaining() const { return data_.size() - off_; }
  const std::string& source() const { return source_; }

 private:
  std::string_view data_;
  std::string source_;
  size_t off_ = 0;
};

}  // namespace gpt
