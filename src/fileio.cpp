// Checked file I/O and atomic writes (see fileio.h).
#include "fileio.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "check.h"

namespace gpt {

std::string read_file(const std::string& path) {
  if (is_directory(path)) GPT_FAIL(path, ": is a directory, expected a file");
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) GPT_FAIL(path, ": cannot open for reading (", std::strerror(errno), ")");
  // One read into a buffer of the file's size (model files are hundreds of MB: no
  // stream copies). Files that do not report a size (pipes) are read in chunks.
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) out.reserve(size_t(st.st_size));
  size_t done = 0;
  for (;;) {
    if (out.size() - done < 65536) out.resize(std::max(out.capacity(), done + 65536));
    const ssize_t r = ::read(fd, &out[done], out.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int e = errno;
      ::close(fd);
      GPT_FAIL(path, ": read error (", std::strerror(e), ")");
    }
    if (r == 0) break;
    done += size_t(r);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void make_dirs(const std::string& path) {
  if (path.empty() || is_directory(path)) return;
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_dirs(path.substr(0, slash));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    GPT_FAIL(path, ": cannot create directory (", std::strerror(errno), ")");
  if (!is_directory(path)) GPT_FAIL(path, ": exists but is not a directory");
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) GPT_FAIL(path, ": cannot create temp file ", tmp, " (", std::strerror(errno), ")");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      GPT_FAIL(path, ": write failed (", std::strerror(e), "); the previous file, if any, is untouched");
    }
    done += size_t(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    GPT_FAIL(path, ": fsync/close failed (", std::strerror(e), ")");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    GPT_FAIL(path, ": rename from temp file failed (", std::strerror(e), ")");
  }
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.find_last_of('/'));
  if (dir.empty()) dir = "/";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

MappedFile::MappedFile(const std::string& path) {
  if (is_directory(path)) GPT_FAIL(path, ": is a directory, expected a file");
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) GPT_FAIL(path, ": cannot open for reading (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    GPT_FAIL(path, ": cannot stat (", std::strerror(e), ")");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map_ == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      map_ = nullptr;
      GPT_FAIL(path, ": cannot map into memory (", std::strerror(e), ")");
    }
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(map_, size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : map_(o.map_), size_(o.size_) {
  o.map_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(map_, size_);
    map_ = o.map_;
    size_ = o.size_;
    o.map_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

void ByteReader::read(void* dst, size_t n, const char* what) {
  if (remaining() < n)
    GPT_FAIL(source_, ": truncated: expected ", n, " bytes of ", what, " at offset ", off_, ", found ",
             remaining(), "; the file is incomplete or not what it claims to be");
  std::memcpy(dst, data_.data() + off_, n);
  off_ += n;
}

}  // namespace gpt
