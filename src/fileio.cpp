// Checked file I/O and atomic writes (see fileio.h).
#include "fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "check.h"

namespace gpt {

std::string read_file(const std::string& path) { return read_file_at_most(path, SIZE_MAX, ""); }

std::string read_file_at_most(const std::string& path, size_t max_bytes, const std::string& what) {
  if (is_directory(path)) GPT_FAIL(path, ": is a directory, expected a file");
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) GPT_FAIL(cannot_open_for_reading(path, errno));
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
    if (done > max_bytes) {
      ::close(fd);
      GPT_FAIL(path, ": longer than ", max_bytes >> 20, " MiB, more than ", what, " may hold; is it the "
               "right file?");
    }
  }
  ::close(fd);
  out.resize(done);
  return out;
}

size_t for_each_line(const std::string& path, size_t max_line, const std::function<void(const std::string&)>& fn) {
  if (is_directory(path)) GPT_FAIL(path, ": is a directory, expected a file");
  struct Fd {
    int fd;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  } f{::open(path.c_str(), O_RDONLY)};
  if (f.fd < 0) GPT_FAIL(cannot_open_for_reading(path, errno));
  std::vector<char> buf(size_t(1) << 20);
  std::string line;
  bool too_long = false;  // the current line is past max_line: skipped to its end
  size_t skipped = 0;
  for (;;) {
    const ssize_t r = ::read(f.fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) GPT_FAIL(path, ": read error (", std::strerror(errno), ")");
    if (r == 0) break;
    for (const char *p = buf.data(), *end = buf.data() + r; p < end;) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', size_t(end - p)));
      const char* stop = nl ? nl : end;
      if (!too_long && line.size() + size_t(stop - p) > max_line) {
        too_long = true;
        std::string().swap(line);
      }
      if (!too_long) line.append(p, stop);
      if (!nl) break;
      if (too_long) skipped++;
      else fn(line);
      too_long = false;
      line.clear();
      p = nl + 1;
    }
  }
  if (too_long) skipped++;
  else if (!line.empty()) fn(line);
  return skipped;
}

namespace {
// stat(2), with a directory on the way this user cannot search as a gpt::Error naming it (it
// read as "not there", and the advice then was to create it; helper-41: a data directory of
// mode 000 was "has no tokenizer.bin ... run gpt prepare", advice that overwrites it; helper-43:
// --data under an unreadable parent was "not a directory").
bool stat_or_blocked(const std::string& path, struct stat* st) {
  if (::stat(path.c_str(), st) == 0) return true;
  if (errno != EACCES) return false;
  std::string blocked = parent_dir(path);  // the first such directory is named
  for (size_t i = path.find('/', 1); i != std::string::npos; i = path.find('/', i + 1)) {
    const std::string prefix = path.substr(0, i);
    if (::access(prefix.c_str(), X_OK) != 0) {
      blocked = prefix;
      break;
    }
  }
  GPT_FAIL(path, ": cannot look for it (", std::strerror(EACCES), "): this user cannot read the directory ", blocked,
           "; ", permission_fix(blocked, "rx"), " (read and search permission), or run as its owner");
}
}  // namespace

std::string shell_word(const std::string& path) {
  const std::string p = !path.empty() && path[0] == '-' ? "./" + path : path;
  if (!p.empty() && p.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./,:=+@%") ==
                        std::string::npos)
    return p;
  std::string q = "'";
  for (const char c : p) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string permission_fix(const std::string& path, const std::string& perm) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || st.st_uid == ::geteuid()) return "chmod u+" + perm + " " + shell_word(path);
  return str("have its owner (uid ", st.st_uid, ") run chmod a+", perm, " ", shell_word(path));
}

std::string cannot_open_for_reading(const std::string& path, int err) {
  return str(path, ": cannot open for reading (", std::strerror(err), ")",
             err == EACCES ? str("; ", permission_fix(path, "r"), " (read permission), or run as its owner") : "");
}

namespace {
// In a sticky directory (d, as /tmp) only the file's owner, the directory's owner or root may
// remove or rename the file (f).
bool sticky_forbids(const struct stat& d, const struct stat& f) {
  const uid_t me = ::geteuid();
  return (d.st_mode & S_ISVTX) && me != 0 && f.st_uid != me && d.st_uid != me;
}
}  // namespace

std::string why_not_replaceable(const std::string& path) {
  const std::string dir = parent_dir(path);
  struct stat f {}, d {};
  if (::stat(dir.c_str(), &d) != 0 || ::lstat(path.c_str(), &f) != 0) return "";  // (the write says why)
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return str("this user cannot write in ", dir, " (", std::strerror(errno), ")");
  if (sticky_forbids(d, f))
    return str(path, " belongs to uid ", f.st_uid, ", and in ", dir == "." ? "the current directory" : dir,
               " (sticky, as /tmp) only its owner may replace it");
  return "";
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return stat_or_blocked(path, &st);
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return stat_or_blocked(path, &st) && S_ISREG(st.st_mode);
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::vector<std::string> earlier_paths_to_same_file(const std::vector<std::string>& paths) {
  std::map<std::pair<dev_t, ino_t>, std::string> first;
  std::vector<std::string> earlier(paths.size());
  for (size_t i = 0; i < paths.size(); i++) {
    struct stat st {};
    if (::stat(paths[i].c_str(), &st) != 0) continue;
    const auto [it, added] = first.emplace(std::make_pair(st.st_dev, st.st_ino), paths[i]);
    if (!added) earlier[i] = it->second;
  }
  return earlier;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return stat_or_blocked(path, &st) && S_ISDIR(st.st_mode);
}

std::string existing_ancestor(const std::string& path) {
  std::string at = path.empty() ? "." : path;
  for (int i = 0; i < 64 && !file_exists(at); i++) {
    const std::string up = parent_dir(at);
    if (up == at) break;
    at = up;
  }
  return at;
}

std::optional<uint64_t> free_disk_bytes(const std::string& path) {
  const std::string at = existing_ancestor(path);
  struct statvfs fs {};
  if (::statvfs(at.c_str(), &fs) != 0) return std::nullopt;
  return uint64_t(fs.f_bavail) * uint64_t(fs.f_frsize);
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

std::string parent_dir(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

std::string format_bytes(double b) {
  char buf[32];
  if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1e3) std::snprintf(buf, sizeof buf, "%.0f KB", b / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f bytes", b);  // (a small file needed "room for 0 KB")
  return buf;
}

namespace {
// The room a file about to be written takes, for messages: whole 4 KB blocks, as file
// systems give them out (helper-44: "room for 97 bytes" on a disk with 0 bytes short of that).
std::string room(const std::vector<std::string_view>& parts) {
  uint64_t n = 0;
  for (const auto& p : parts) n += p.size();
  return format_bytes(double((n + 4095) / 4096 * 4096));
}
}  // namespace

namespace {
// The temp files of write_file_staged not yet committed or discarded, for the handler
// below: fixed slots (a handler may not allocate), a path per slot. Past kTempSlots at
// once, or a path over kTempPath bytes, a temp is not covered (the next writer of the
// same path removes it: remove_stale_temps_of).
constexpr int kTempSlots = 16, kTempPath = 4096;
char g_temp_paths[kTempSlots][kTempPath];
volatile sig_atomic_t g_temp_used[kTempSlots];
std::mutex g_temps_mu;
int g_temps_live = 0;
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
bool g_handler_on[3] = {};  // where ours replaced the default disposition

void remove_temps_and_die(int sig) {
  for (int i = 0; i < kTempSlots; i++)
    if (g_temp_used[i]) ::unlink(g_temp_paths[i]);
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // (blocked in this handler: delivered as it returns, with the default action)
}

void register_temp(const std::string& tmp) {
  if (tmp.size() >= size_t(kTempPath)) return;
  std::lock_guard<std::mutex> lock(g_temps_mu);
  for (int i = 0; i < kTempSlots; i++) {
    if (g_temp_used[i]) continue;
    std::memcpy(g_temp_paths[i], tmp.c_str(), tmp.size() + 1);
    g_temp_used[i] = 1;
    if (g_temps_live++ == 0) {
      for (int k = 0; k < 3; k++) {
        struct sigaction cur {};
        g_handler_on[k] = false;
        if (::sigaction(kStopSignals[k], nullptr, &cur) != 0 || cur.sa_handler != SIG_DFL) continue;
        struct sigaction ours {};
        ours.sa_handler = remove_temps_and_die;
        sigemptyset(&ours.sa_mask);
        g_handler_on[k] = ::sigaction(kStopSignals[k], &ours, nullptr) == 0;
      }
    }
    return;
  }
}

void unregister_temp(const std::string& tmp) {
  std::lock_guard<std::mutex> lock(g_temps_mu);
  for (int i = 0; i < kTempSlots; i++) {
    if (!g_temp_used[i] || tmp != g_temp_paths[i]) continue;
    g_temp_used[i] = 0;
    if (--g_temps_live == 0) {
      for (int k = 0; k < 3; k++) {
        struct sigaction cur {};
        if (!g_handler_on[k] || ::sigaction(kStopSignals[k], nullptr, &cur) != 0) continue;
        if (cur.sa_handler == remove_temps_and_die) ::signal(kStopSignals[k], SIG_DFL);
        g_handler_on[k] = false;
      }
    }
    return;
  }
}
}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, std::vector<std::string_view>{bytes});
}

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts) {
  commit_staged(write_file_staged(path, parts), path);
}

std::string write_file_staged(const std::string& path, const std::vector<std::string_view>& parts) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  register_temp(tmp);  // before it exists: a signal between open and here would leave it
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    const int e = errno;
    unregister_temp(tmp);
    GPT_FAIL(path, ": cannot create temp file ", tmp, " (", std::strerror(e), ")");
  }
  signal_point("write:staging");  // (tests: a stop signal while a temp file is written)
  for (const std::string_view bytes : parts) {
    for (size_t done = 0; done < bytes.size();) {
      ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        discard_staged(tmp);
        GPT_FAIL(path, ": write failed (", std::strerror(e), ")",
                 e == EFBIG ? " at the file size limit (ulimit -f); raise the limit" :
                 e == ENOSPC ? str("; free some disk space (the new file is written whole beside the old one, "
                                   "then renamed over it: that needs room for ", room(parts), ")")
                             : std::string(),
                 "; the previous file, if any, is untouched");
      }
      done += size_t(w);
    }
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    discard_staged(tmp);
    GPT_FAIL(path, ": fsync/close failed (", std::strerror(e), "); the previous file, if any, is untouched");
  }
  return tmp;
}

void discard_staged(const std::string& staged) {
  ::unlink(staged.c_str());
  unregister_temp(staged);
}

void commit_staged(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    discard_staged(tmp);
    GPT_FAIL(path, ": rename from temp file failed (", std::strerror(e), "); the previous file, if any, is untouched");
  }
  unregister_temp(tmp);
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.find_last_of('/'));
  if (dir.empty()) dir = "/";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

namespace {
// The MappedFiles alive (for the message when one more cannot be mapped).
std::atomic<size_t> g_files_mapped{0};
std::atomic<uint64_t> g_bytes_mapped{0};

void count_mapping(size_t bytes, bool added) {
  if (added) {
    g_files_mapped++;
    g_bytes_mapped += bytes;
  } else {
    g_files_mapped--;
    g_bytes_mapped -= bytes;
  }
}

// Newlines of a /proc file (-1 if it cannot be read), without holding it whole.
long proc_lines(const char* path) {
  const int fd = ::open(path, O_RDONLY);
  if (fd < 0) return -1;
  long n = 0;
  char buf[65536];
  ssize_t r;
  while ((r = ::read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    for (ssize_t i = 0; i < r; i++) n += buf[i] == '\n';
  ::close(fd);
  return r < 0 ? -1 : n;
}

std::string gib(uint64_t bytes) {  // "3.2 GiB", "12.0 MiB", "1044 bytes"
  char buf[32];
  if (bytes >= uint64_t(1) << 30) std::snprintf(buf, sizeof buf, "%.1f GiB", double(bytes) / double(uint64_t(1) << 30));
  else if (bytes >= uint64_t(1) << 20) std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1 << 20));
  else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  return buf;
}
}  // namespace

MapLimits MapLimits::current() {
  MapLimits l;
  l.files_mapped = g_files_mapped.load();
  l.bytes_mapped = g_bytes_mapped.load();
  l.maps_in_use = proc_lines("/proc/self/maps");
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    if (std::fscanf(f, "%ld", &l.max_map_count) != 1) l.max_map_count = -1;
    std::fclose(f);
  }
  struct rlimit r {};
  if (::getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) l.address_space_limit = uint64_t(r.rlim_cur);
  return l;
}

std::string map_failure_message(const std::string& path, uint64_t bytes, int err, const MapLimits& l) {
  const std::string base = str(path, ": cannot map its ", gib(bytes), " into memory (", std::strerror(err), ")");
  if (err != ENOMEM) return base;
  const std::string others = l.files_mapped == 0 ? std::string()
                             : str(", with ", count(static_cast<long long>(l.files_mapped), "other file"), " (",
                                   gib(l.bytes_mapped), ") mapped");
  // The kernel refuses a mapping past vm.max_map_count (a process's libraries, heap and
  // thread stacks hold a few hundred); gpt keeps every shard mapped while it trains.
  if (l.max_map_count > 0 && l.maps_in_use >= 0 && l.maps_in_use + 256 >= l.max_map_count)
    return str(base, ": this process has ", l.maps_in_use, " memory mappings, at the kernel's limit vm.max_map_count = ",
               l.max_map_count, " (gpt keeps each shard mapped: now ",
               count(static_cast<long long>(l.files_mapped), "file"), "). Use fewer, larger shards, or raise the "
               "limit: sudo sysctl -w vm.max_map_count=", 4 * l.max_map_count);
  if (l.address_space_limit)
    return str(base, ": the address-space limit (ulimit -v) is ", gib(l.address_space_limit), others,
               ". Mapped files count against it although they are not read into memory; run "
               "`ulimit -v unlimited` (or a larger limit) before gpt");
  return str(base, others, ". The machine's memory or address space is exhausted: free memory, or use smaller files");
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  if (is_directory(path)) GPT_FAIL(path, ": is a directory, expected a file");
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) GPT_FAIL(cannot_open_for_reading(path, errno));
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
      throw Error(kExitFailure, map_failure_message(path, size_, e, MapLimits::current()));
    }
    count_mapping(size_, true);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (map_) {
    ::munmap(map_, size_);
    count_mapping(size_, false);
  }
}

MappedFile::MappedFile(MappedFile&& o) noexcept : map_(o.map_), size_(o.size_), path_(std::move(o.path_)) {
  o.map_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (map_) {
      ::munmap(map_, size_);
      count_mapping(size_, false);
    }
    map_ = o.map_;
    size_ = o.size_;
    path_ = std::move(o.path_);
    o.map_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

namespace {

// The SIGBUS guard: each thread points at its innermost jump buffer while it reads a
// mapping; the handler jumps there, or (no guard active) dies of SIGBUS as before.
thread_local sigjmp_buf* t_sigbus_jump = nullptr;

extern "C" void on_sigbus(int sig, siginfo_t*, void*) {
  if (t_sigbus_jump) siglongjmp(*t_sigbus_jump, 1);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_sigbus_handler() {
  static const bool done = [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;  // NODEFER: no mask to restore, so sigsetjmp(.., 0) suffices
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
    return true;
  }();
  (void)done;
}

}  // namespace

void MappedFile::guarded_call(void (*fn)(void*), void* ctx) const {
  install_sigbus_handler();
  sigjmp_buf jump;
  sigjmp_buf* const outer = t_sigbus_jump;
  if (sigsetjmp(jump, 0) == 0) {
    t_sigbus_jump = &jump;
    try {
      fn(ctx);
    } catch (...) {
      t_sigbus_jump = outer;
      throw;
    }
    t_sigbus_jump = outer;
    return;
  }
  t_sigbus_jump = outer;
  struct stat st {};
  const std::string now = ::stat(path_.c_str(), &st) == 0 ? std::to_string(st.st_size) + " bytes" : "gone";
  GPT_FAIL(path_, ": the file shrank while it was being read (", size_, " bytes when opened, now ", now,
           "); another program rewrote it in place. Restore the file (re-run `gpt prepare` for shards) and "
           "start again");
}

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

bool process_alive(long pid) {
  if (pid <= 0) return false;
  return ::kill(pid_t(pid), 0) == 0 || errno == EPERM;
}

namespace {
// A temp name "<...>.tmp.<pid>" whose pid (from digits_at on) is of a writer that is gone.
bool dead_writers_temp(const std::string& name, size_t digits_at) {
  const std::string digits = name.substr(digits_at);
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  const long pid = std::stol(digits);
  return pid != long(::getpid()) && !process_alive(pid);
}
}  // namespace

int remove_stale_temps(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  int removed = 0;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const size_t at = name.rfind(".tmp.");
    if (at != std::string::npos && at != 0 && dead_writers_temp(name, at + 5)) stale.push_back(join_path(dir, name));
  }
  ::closedir(d);
  for (const auto& p : stale) {
    if (is_directory(p)) remove_tree(p);
    else if (::unlink(p.c_str()) != 0) continue;
    removed++;
  }
  return removed;
}

int remove_stale_temps_of(const std::string& path) {
  const std::string dir = parent_dir(path);
  const size_t slash = path.find_last_of('/');
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) == 0 && dead_writers_temp(name, prefix.size()) &&
        is_regular_file(join_path(dir, name)))
      stale.push_back(join_path(dir, name));
  }
  ::closedir(d);
  int removed = 0;
  for (const auto& p : stale) removed += ::unlink(p.c_str()) == 0;
  return removed;
}

void crash_point(const char* name) {
  const char* at = std::getenv("GPT_CRASH_AT");
  if (at && std::strcmp(at, name) == 0) {
    std::fflush(nullptr);
    ::kill(::getpid(), SIGKILL);
  }
}

void signal_point(const std::string& name) {
  const char* at = std::getenv("GPT_SIGNAL_AT");
  if (at && name == at) ::raise(SIGINT);  // (to this thread: handled before raise returns)
}

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = ::opendir(path.c_str())) {
      std::vector<std::string> names;
      while (const dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
      ::closedir(d);
      for (const auto& n : names) remove_tree(join_path(path, n));
    }
    if (::rmdir(path.c_str()) != 0) GPT_FAIL(path, ": cannot remove directory (", std::strerror(errno), ")");
  } else if (::unlink(path.c_str()) != 0) {
    GPT_FAIL(path, ": cannot remove (", std::strerror(errno), ")");
  }
}

namespace {
std::string without_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}
void fsync_dir(const std::string& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}
}  // namespace

std::string replaceable_dir(const std::string& given) {
  std::string dir = without_trailing_slashes(given);
  const size_t slash = dir.find_last_of('/');
  const std::string base = slash == std::string::npos ? dir : dir.substr(slash + 1);
  if (base == "." || base == ".." || dir == "/")
    GPT_USAGE_FAIL(given, ": name a directory of its own (it is replaced whole), e.g. ", join_path(given, "data"));
  struct stat lst {};
  if (::lstat(dir.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    char* real = ::realpath(dir.c_str(), nullptr);
    if (!real)
      GPT_USAGE_FAIL(dir, ": is a symbolic link to nothing that exists (", std::strerror(errno), "); create the "
                     "directory it points to, or remove the link and give --out again");
    const std::string target = real;
    std::free(real);
    if (!is_directory(target))
      GPT_USAGE_FAIL(dir, ": a link to ", target, ", which is not a directory; name a directory of its own");
    return replaceable_dir(target);
  }
  // (usage, as prepare's own check of --out FILE: DIR/ of a file was exit 1)
  if (file_exists(dir) && !is_directory(dir)) GPT_USAGE_FAIL(dir, ": exists but is not a directory; name a directory");
  if (is_directory(dir)) {
    // A sticky directory (as /tmp) of another user's: its old files, removed after the swap,
    // must be this user's (helper-45: another user's file there failed the removal after the
    // new directory was in place, the old one left under a temp name).
    struct stat dst {};
    const bool stat_ok = ::stat(dir.c_str(), &dst) == 0;
    if (DIR* d = ::opendir(dir.c_str())) {
      std::string subdir, theirs;
      uid_t their_uid = 0;
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        struct stat st {};
        if (::lstat(join_path(dir, name).c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) subdir = name;
        if (stat_ok && sticky_forbids(dst, st) && theirs.empty()) theirs = name, their_uid = st.st_uid;
      }
      ::closedir(d);
      if (!theirs.empty())
        GPT_FAIL(dir, ": this user cannot replace it (", join_path(dir, theirs), " belongs to uid ", their_uid, ", and in ",
                 dir, " (sticky, as /tmp) only its owner may remove it); give another --out, or have its owner remove "
                 "it (nothing was changed)");
      if (!subdir.empty())
        GPT_USAGE_FAIL(dir, ": holds a subdirectory (", subdir, "); this directory is replaced whole, so choose "
                       "another --out or move ", join_path(dir, subdir), " away (nothing was changed)");
    }
    // (helper-41: another user's directory was swapped out, then its files could not be
    // removed: exit 1 after the work, the old data left in DIR.tmp.PID, and every later
    // prepare there stopped on that leftover)
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      struct stat st {};
      ::stat(dir.c_str(), &st);
      // (an empty one too: "the files in it" read wrong there)
      GPT_FAIL(dir, ": this user cannot replace it (", std::strerror(errno), ": it is replaced whole, and only its "
               "owner, uid ", st.st_uid, ", may do that); give another --out, or have its owner remove it (nothing "
               "was changed)");
    }
    // (swapped by a rename in its parent: a sticky one, as /tmp, lets only its owner do that;
    // helper-44: refused at the swap, after the tokenizer's training)
    if (const std::string why = why_not_replaceable(dir); !why.empty())
      GPT_FAIL(dir, ": this user cannot replace it (", why, "); give another --out, or have its owner remove it "
               "(nothing was changed)");
  }
  // The new directory is made beside it (helper-43: --out NEW under a directory this user
  // cannot write was refused only after the tokenizer's training).
  if (const std::string up = existing_ancestor(parent_dir(dir)); ::access(up.c_str(), W_OK | X_OK) != 0)
    GPT_FAIL(dir, ": this user cannot write in ", up, " (", std::strerror(errno), "), where ", dir, " is written "
             "whole as a new directory and swapped in; give an --out in a directory you can write to (nothing was "
             "changed)");
  return dir;
}

DirWriter::DirWriter(const std::string& dir, std::vector<std::string> replaces)
    : dir_(replaceable_dir(dir)), replaces_(std::move(replaces)) {
  const size_t slash = dir_.find_last_of('/');
  const std::string base = slash == std::string::npos ? dir_ : dir_.substr(slash + 1);
  const std::string parent = parent_dir(dir_);
  make_dirs(parent);
  // Leftovers of writers that died before commit: "<base>.tmp.<pid>" beside dir.
  if (DIR* d = ::opendir(parent.c_str())) {
    std::vector<std::string> stale;
    const std::string prefix = base + ".tmp.";
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.compare(0, prefix.size(), prefix) == 0 && dead_writers_temp(name, prefix.size()))
        stale.push_back(join_path(parent, name));
    }
    ::closedir(d);
    for (const auto& p : stale) {
      try {
        remove_tree(p);
      } catch (const Error& e) {  // (another user's leftover stopped every writer here)
        std::fprintf(stderr, "note: %s, left by a writer that died, cannot be removed (%s); remove it as its owner\n",
                     p.c_str(), e.what());
      }
    }
  }
  tmp_ = dir_ + ".tmp." + std::to_string(::getpid());
  remove_tree(tmp_);
  if (::mkdir(tmp_.c_str(), 0755) != 0) {
    const int e = errno;
    GPT_FAIL(tmp_, ": cannot create a temporary directory beside ", dir_, " (", std::strerror(e), ")",
             e == EACCES || e == EPERM || e == EROFS
                 ? str("; ", dir_, " is written whole as a new directory beside it and swapped in, so ", parent,
                       " must be writable: give an --out in a directory you can write to")
                 : std::string());
  }
}

DirWriter::~DirWriter() {
  if (done_) return;
  try {
    remove_tree(tmp_);
  } catch (const Error&) {
  }
}

void DirWriter::commit() {
  GPT_CHECK(!done_, "commit twice");
  // Carry over what the old directory holds beside our files (e.g. the input text).
  if (is_directory(dir_)) {
    if (DIR* d = ::opendir(dir_.c_str())) {
      std::vector<std::string> names;
      while (const dirent* e = ::readdir(d)) names.push_back(e->d_name);
      ::closedir(d);
      for (const auto& name : names) {
        if (name == "." || name == ".." || file_exists(join_path(tmp_, name))) continue;
        if (std::find(replaces_.begin(), replaces_.end(), name) != replaces_.end()) continue;
        if (::link(join_path(dir_, name).c_str(), join_path(tmp_, name).c_str()) != 0)
          GPT_FAIL(join_path(dir_, name), ": cannot carry it over into the new ", dir_, " (",
                   std::strerror(errno), "); nothing was changed");
      }
    }
  }
  // The old directory's owner, group and permissions (a private 0700 directory became
  // 0755; a shared directory's group became the user's). The owner takes root; the group,
  // one the user is in. (Set before the mode: chown clears the set-group-ID bit.)
  struct stat old_st {};
  if (::stat(dir_.c_str(), &old_st) == 0) {
    if (::chown(tmp_.c_str(), old_st.st_uid, old_st.st_gid) != 0 && ::chown(tmp_.c_str(), uid_t(-1), old_st.st_gid) != 0) {
      // (not ours to give: the new directory keeps the user's group, and says nothing)
    }
    if (::chmod(tmp_.c_str(), old_st.st_mode & 07777) != 0)
      GPT_FAIL(tmp_, ": cannot give it ", dir_, "'s permissions (", std::strerror(errno), "); nothing was changed");
  }
  fsync_dir(tmp_);
  if (!is_directory(dir_)) {
    if (::rename(tmp_.c_str(), dir_.c_str()) != 0)
      GPT_FAIL(dir_, ": cannot move the new directory into place (", std::strerror(errno), ")");
  } else if (::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, dir_.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != EINVAL && errno != ENOSYS)
      GPT_FAIL(dir_, ": cannot swap in the new directory (", std::strerror(errno), "); ", dir_, " is unchanged");
    // No atomic exchange on this file system: two renames (a crash between them leaves
    // the complete old directory at "<dir>.old.<pid>").
    const std::string old = dir_ + ".old." + std::to_string(::getpid());
    remove_tree(old);
    if (::rename(dir_.c_str(), old.c_str()) != 0 || ::rename(tmp_.c_str(), dir_.c_str()) != 0)
      GPT_FAIL(dir_, ": cannot swap in the new directory (", std::strerror(errno), ")");
    done_ = true;
    fsync_dir(parent_dir(dir_));
    remove_tree(old);
    return;
  }
  done_ = true;
  fsync_dir(parent_dir(dir_));
  remove_tree(tmp_);  // now the old directory
}

void ByteReader::read(void* dst, size_t n, const char* what) {
  if (remaining() < n)
    GPT_FAIL(source_, ": truncated: expected ", n, " bytes of ", what, " at offset ", off_, ", found ",
             remaining(), "; the file is incomplete or not what it claims to be");
  std::memcpy(dst, data_.data() + off_, n);
  off_ += n;
}

}  // namespace gpt
