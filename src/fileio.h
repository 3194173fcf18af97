// Checked file I/O: every failure names the file and what went wrong.
// Writes are atomic: temp file in the same directory, fsync, rename, fsync dir,
// so a crash never leaves a half-written checkpoint or shard behind; the temp files
// of writers that died (kill -9) are removed by remove_stale_temps. Mapped reads
// turn a file truncated under the reader into a gpt::Error (read_guarded), not SIGBUS.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gpt {

std::string read_file(const std::string& path);  // whole file; gpt::Error if unreadable
// The same, for inputs with a natural size: gpt::Error once more than max_bytes have come
// (a device such as /dev/zero, or the wrong file, was read until memory ran out), naming
// `what` ("a --prompt-file") and the limit.
std::string read_file_at_most(const std::string& path, size_t max_bytes, const std::string& what);
// A size for messages: "51.6 GB", "12.0 MB", "640 KB" (decimal units).
std::string format_bytes(double bytes);
// Calls fn for each line of the file (without its '\n'; the last line also when it has
// no newline), reading a piece at a time, so the file may be larger than memory. Lines
// longer than max_line bytes are skipped (damage, in files whose lines are short);
// returns how many. gpt::Error naming the file if it cannot be read.
size_t for_each_line(const std::string& path, size_t max_line, const std::function<void(const std::string&)>& fn);
void write_file_atomic(const std::string& path, std::string_view bytes);
// The same with the file's bytes given in parts (no copy of them joined).
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts);
// write_file_atomic in two steps, for a file that must replace another only after other
// work: the bytes written whole and synced to "<path>.tmp.<pid>" (returned; a full disk
// fails here, with `path` untouched), then renamed over `path` (the caller removes the temp
// with discard_staged if it gives up between the two). A stop signal (SIGINT, SIGTERM,
// SIGHUP) that would kill the process removes every temp file written or staged and not
// yet committed (an interrupted export left OUT.tmp.PID, a model's size); a handler a
// command installed (train's StopSignals) is left to do its own.
std::string write_file_staged(const std::string& path, const std::vector<std::string_view>& parts);
void commit_staged(const std::string& staged, const std::string& path);
void discard_staged(const std::string& staged);
// fsync of a file written by appending (metrics.jsonl, samples.txt), so what a checkpoint
// follows is on disk with it; best effort (a failure changes nothing of the run).
void sync_file(const std::string& path);
// Whether the path exists; gpt::Error naming the directory when one on its way cannot be
// searched by this user (it read as "not there", and the advice then was to create it).
bool file_exists(const std::string& path);
// (These two fail the same way as file_exists.)
bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path);  // following links; not a FIFO, device or directory
bool same_file(const std::string& a, const std::string& b);  // both exist and are one (device, inode)
// For each of `paths`, in order: the earlier path to the same file (device, inode), or ""
// for the first path to its file and for one that cannot be reached (its read names why).
std::vector<std::string> earlier_paths_to_same_file(const std::vector<std::string>& paths);
void make_dirs(const std::string& path);  // mkdir -p; gpt::Error on failure
// How this user gets `perm` ("r", "rx", "w") on `path`, for messages: "chmod u+r PATH" when
// it owns the path; else "have its owner (uid N) run chmod a+r PATH" (helper-44: "chmod u+r"
// on another user's file changes nothing, and this user may not run it).
std::string permission_fix(const std::string& path, const std::string& perm);
// A path as one shell word, for the commands messages give: as it is when plain, else in
// single quotes; "./" before a leading '-' (a flag to chmod or gpt). (helper-46: a run
// directory with a space in it broke every command pasted from the advice.)
std::string shell_word(const std::string& path);
// "PATH: cannot open for reading (why)", with permission_fix's advice when it is EACCES
// (helper-45: an unreadable shard, tokenizer or checkpoint had none).
std::string cannot_open_for_reading(const std::string& path, int err);
// "" when this user may replace or remove `path` (an existing file) in its directory: write
// and search permission on the directory and, where it is sticky (/tmp), owning the file or
// the directory; else why not, naming the owner (helper-44: an export over another user's in
// /tmp failed at its rename, after the tokenizer beside it was replaced).
std::string why_not_replaceable(const std::string& path);
// `path` when it exists, else its nearest existing parent (where a directory about to be
// made would go, for checks of its disk and permissions).
std::string existing_ancestor(const std::string& path);
// Bytes free to this user on the file system that holds `path` (or, when it does not exist
// yet, its nearest existing parent); nullopt when that cannot be told.
std::optional<uint64_t> free_disk_bytes(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);
std::string parent_dir(const std::string& path);  // "a/b/c" -> "a/b", "c" -> ".", "/c" -> "/"

// FNV-1a (64-bit) of n bytes, continuing from `h` (so several pieces hash as one):
// the checksums and fingerprints of checkpoints and token shards.
constexpr uint64_t kFnv1aStart = 1469598103934665603ull;
inline uint64_t fnv1a(const void* p, size_t n, uint64_t h = kFnv1aStart) {
  for (size_t i = 0; i < n; i++) {
    h ^= static_cast<const uint8_t*>(p)[i];
    h *= 1099511628211ull;
  }
  return h;
}

// Temp files are named "<path>.tmp.<pid>". Removes those in `dir` whose pid is no
// longer alive (a writer killed mid-save); returns how many were removed.
int remove_stale_temps(const std::string& dir);
// The same for one file: "<path>.tmp.<pid>" of dead writers beside it (nothing else).
int remove_stale_temps_of(const std::string& path);
bool process_alive(long pid);
// For tests of crash safety: when the environment's GPT_CRASH_AT equals `name`, the
// process kills itself here (SIGKILL: no cleanup runs), as a power cut would.
void crash_point(const char* name);
// For tests of stop requests: when GPT_SIGNAL_AT equals `name`, the process sends
// itself SIGINT here (a Ctrl-C at an exact point; its handler decides what follows).
void signal_point(const std::string& name);
// rm -rf; gpt::Error naming the entry that could not be removed.
void remove_tree(const std::string& path);

// A directory written whole: files go into a fresh temp sibling "<dir>.tmp.<pid>"
// (stale siblings of dead writers are removed first), and commit() swaps it for
// `dir` in one rename (RENAME_EXCHANGE where the file system has it), then deletes
// the old contents. Until commit() (a failure, a crash), `dir` is untouched.
// Files in an existing `dir` that the writer does not write are carried over
// (hard links), except those named in `replaces`; a subdirectory in `dir` is refused.
// (A symbolic link to a directory is followed: the directory it points to is replaced and
// the link kept; the new directory takes the old one's permissions.)
class DirWriter {
 public:
  DirWriter(const std::string& dir, std::vector<std::string> replaces);
  ~DirWriter();  // not committed: removes the temp sibling
  DirWriter(const DirWriter&) = delete;
  DirWriter& operator=(const DirWriter&) = delete;
  const std::string& path() const { return tmp_; }  // where to write
  void commit();

 private:
  std::string dir_, tmp_;
  std::vector<std::string> replaces_;
  bool done_ = false;
};

// The directory DirWriter(dir) replaces, checked before any work: `dir` without trailing
// slashes, or the directory a symbolic link `dir` points to (a link replaced by a real
// directory left its target stale and the link gone). Refused as usage errors (exit 2):
// "." and "..", a link to nothing or to a file, an existing file, and a directory holding
// a subdirectory, which the swap could not carry over.
std::string replaceable_dir(const std::string& dir);

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
  const std::string& path() const { return path_; }

  // Runs body(), which reads this mapping. If the file is truncated under the map
  // meanwhile (another program rewrote it in place), the read raises SIGBUS; here
  // that becomes a gpt::Error naming the file and its sizes. body may throw; it is
  // left by siglongjmp on SIGBUS, so it must not own resources of its own (no
  // strings, vectors: write into objects that live outside it). Costs one
  // sigsetjmp (no system call) per call.
  template <class F>
  void read_guarded(F&& body) const {
    guarded_call([](void* f) { (*static_cast<std::remove_reference_t<F>*>(f))(); }, &body);
  }

 private:
  void guarded_call(void (*fn)(void*), void* ctx) const;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// What a MappedFile says when mmap fails: for ENOMEM the likely cause and its fix.
struct MapLimits {
  size_t files_mapped = 0;           // MappedFiles alive in this process
  uint64_t bytes_mapped = 0;         // their total size
  long maps_in_use = -1;             // the process's memory mappings, /proc/self/maps (-1: unknown)
  long max_map_count = -1;           // the kernel's limit on them, vm.max_map_count (-1: unknown)
  uint64_t address_space_limit = 0;  // the soft RLIMIT_AS (ulimit -v), in bytes; 0: unlimited
  static MapLimits current();        // this process's
};
std::string map_failure_message(const std::string& path, uint64_t bytes, int err, const MapLimits& lim);

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
