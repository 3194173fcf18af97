// Run-directory lock, stop signals and the memory estimate (see run_dir.h).
#include "run_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "buffer.h"
#include "check.h"
#include "fileio.h"
#include "layers/gemm.h"
#include "tensors.h"

namespace gpt {

RunLock::RunLock(const std::string& dir) {
  const std::string path = join_path(dir, kRunLockFile);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  // Another user's lock file: flock needs no write permission, so it is taken through a read
  // (only the pid shown to a second writer is missing) (helper-43: it said the directory
  // was not writable).
  // (In a directory this user cannot write, the run could not save: said below.)
  if (fd_ < 0 && errno == EACCES && ::access(dir.c_str(), W_OK | X_OK) == 0 && ::access(path.c_str(), F_OK) == 0)
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    const int e = errno;  // (helper-41: the error gave no way on)
    const bool dir_writable = ::access(dir.c_str(), W_OK | X_OK) == 0;
    GPT_FAIL(path, ": cannot open the run lock (", std::strerror(e), ")",
             (e == EACCES || e == EPERM) && dir_writable
                 ? str("; it belongs to another user, and this one cannot read it: have its owner make it readable "
                       "(chmod a+r ", shell_word(path), "), or remove it while no gpt train runs here")
             : e == EACCES || e == EPERM || e == EROFS
                 ? str("; this user cannot write in ", dir, ": copy the run to a directory of yours and resume the copy "
                       "(cp -r ", shell_word(dir), " MINE; gpt train --resume MINE), or start a new run from its model "
                       "(gpt train --init ", shell_word(dir), " --data DIR --out MINE)")
                 : std::string());
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    char buf[32] = {};
    const ssize_t got = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (e != EWOULDBLOCK) GPT_FAIL(path, ": cannot lock (", std::strerror(e), ")");
    const long pid = got > 0 ? std::atol(buf) : 0;
    GPT_FAIL(dir, ": in use by another gpt train (", pid > 0 ? "pid " + std::to_string(pid) : std::string("pid unknown"),
             "); two writers would interleave metrics.jsonl and overwrite each other's checkpoint. Wait for it to "
             "finish or stop it (kill -INT ", pid > 0 ? std::to_string(pid) : std::string("PID"),
             " saves and exits), or choose another --out");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    // The lock holds anyway; only the pid shown to a second writer is missing.
  }
}

std::string run_dir_evidence(const std::string& dir) {
  if (!is_directory(dir)) return "";
  for (const char* f : {"checkpoint.bin", kRunLockFile, "metrics.jsonl"})
    if (file_exists(join_path(dir, f))) return f;
  return "";
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (unlinking it would race)
}

namespace {

volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_announce = 0;  // StopSignals(true): say what a signal does, on stderr
timespec g_first_at{};  // when g_stop_signal arrived (written by the handler before it is set)
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGXFSZ};
struct sigaction g_old[sizeof kStopSignals / sizeof kStopSignals[0]];

// write(2) of a literal, from a handler (async-signal-safe; a failed write is ignored).
void say(const char* s) {
  const ssize_t ignored = ::write(2, s, std::strlen(s));
  (void)ignored;
}

const char* user_signal_name(int sig) {
  return sig == SIGINT ? "SIGINT (Ctrl-C)" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : nullptr;
}

extern "C" void on_stop_signal(int sig) {
  // The file size limit: caught only so that the write that raised it fails with EFBIG, which
  // its writer reports (samples.txt: noted, the run goes on; metrics.jsonl, a checkpoint: an
  // error that names the limit). It is no stop request (helper-46: the run stopped as
  // "interrupted", exit 153, and the advice to resume met the limit again at once).
  if (sig == SIGXFSZ) return;
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  const int saved_errno = errno;
  if (g_stop_signal == 0) {
    g_first_at = now;
    g_stop_signal = sig;
    // At once: a step or a save can take minutes, and nothing said the request was heard.
    if (g_announce && user_signal_name(sig)) {
      say("\ngpt: ");
      say(user_signal_name(sig));
      say(": stopping after this step, with a checkpoint (the same signal again, a second or more later, quits at "
          "once without saving)\n");
    }
    errno = saved_errno;
    return;
  }
  // The same Ctrl-C (or TERM, HUP) again kills at once, but not within a second of the
  // first: `timeout` and a terminal's process-group signals deliver one request twice,
  // microseconds apart, and that must not lose the save the first one asked for. PIPE
  // and XFSZ stay caught so the write that raised them fails with EPIPE / EFBIG instead
  // of killing the save.
  const double since = double(now.tv_sec - g_first_at.tv_sec) + 1e-9 * double(now.tv_nsec - g_first_at.tv_nsec);
  if (sig == g_stop_signal && (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) && since >= kRepeatKillsAfterS) {
    // (It died without a word, a save in progress abandoned: was anything kept?)
    say("\ngpt: ");
    say(user_signal_name(sig));
    say(" again: quitting at once, without saving; the checkpoint saved last is kept whole (a save in progress is "
        "abandoned, never half-written), and --resume trains the steps since it again\n");
    ::signal(sig, SIG_DFL);
    ::raise(sig);  // delivered as the handler returns: the default action, death by sig
  }
  errno = saved_errno;
}

}  // namespace

StopSignals::StopSignals(bool announce) {
  g_stop_signal = 0;
  g_announce = announce;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof kStopSignals / sizeof kStopSignals[0]; i++)
    ::sigaction(kStopSignals[i], &sa, &g_old[i]);
}

StopSignals::~StopSignals() {
  if (keep_) return;
  for (size_t i = 0; i < sizeof kStopSignals / sizeof kStopSignals[0]; i++)
    ::sigaction(kStopSignals[i], &g_old[i], nullptr);
}

int StopSignals::signal() const { return g_stop_signal; }

const char* StopSignals::name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    case SIGXFSZ: return "SIGXFSZ";
  }
  return "signal";
}

std::string mpirun_signal_note(double checkpoint_bytes, const char* ompi_size, const char* sigkill_timeout) {
  // Time for the save at 50 MB/s (a slow disk, with the image copy and the checksum before
  // the write), 10 s at least; below 32 MB the default second has been enough.
  const double need_s = std::max(10.0, std::ceil(checkpoint_bytes / 50e6));
  const double given_s = sigkill_timeout && *sigkill_timeout ? std::atof(sigkill_timeout) : 1.0;
  if (!ompi_size || checkpoint_bytes < 32e6 || given_s >= need_s) return "";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "note: Ctrl-C or SIGTERM to mpirun is followed by SIGKILL %.0f s later (Open MPI's "
                "odls_base_sigkill_timeout), too soon to save a %.0f MB checkpoint: send the signal to the gpt "
                "processes themselves (pkill -INT -f '^[^ ]*gpt train': the ranks, not mpirun), which saves at once, or start mpirun with --mca "
                "odls_base_sigkill_timeout %.0f (or export OMPI_MCA_odls_base_sigkill_timeout=%.0f; Open MPI then "
                "also waits that long before it passes Ctrl-C on)\n",
                given_s, checkpoint_bytes / 1e6, need_s, need_s);
  return buf;
}

MemoryEstimate estimate_training_memory(const GPTConfig& c, int B, int T, const TrainingRun& run) {
  const double n = double(param_layout(c).total), f = sizeof(float);
  const int L = c.num_layers, C = c.channels, NH = c.num_heads, Vp = c.padded_vocab_size;
  const double BT = double(B) * T;
  const int shards = std::max(1, run.optimizer_shards);
  const bool cpu = run.cpu_threads > 0;
  MemoryEstimate m;
  m.params = n * f;
  m.grads = n * f;
  m.adam = 2 * n * f / shards;
  // The tensors of model.h's Activations, per layer: ln1, qkv (3C), atty, attproj,
  // residual2, ln2, fch and fch_gelu (4C each), fcproj, residual3 = 18 C per token;
  // encoded and lnf (2 C) and the logits (Vp) once; plus the LayerNorm statistics,
  // attention log-sum-exps and losses. Their gradients hold one layer's 14 C (every
  // layer's backward reuses it; fch_gelu has none) and encoded and lnf: 16 C per token.
  const double per_token = double(L) * 18 * C + 2.0 * C + Vp, grad_per_token = 16.0 * C;
  const double stats = BT * (4.0 * L + 3) + double(B) * NH * T * L;
  const double acts = (BT * per_token + stats) * f, grad_acts = BT * grad_per_token * f;
  m.activations = acts + grad_acts;
  // save_checkpoint builds the file image (weights, m, v) in memory; under --zero 1,
  // rank 0 first gathers the whole m and v (they were left out: 2/3 of the image).
  m.checkpoint = 3 * n * f + (shards > 1 ? 2 * n * f : 0.0);
  // best.bin's image (the weights), freed, stays on the heap where glibc's dynamic mmap
  // threshold (up to 32 MiB) took it there, and the checkpoint's image is built beside it
  // (a small model with evaluations peaked ~20 MB above the estimate).
  if (run.best_saves && n * f + 64 <= 32.0 * 1048576.0) m.checkpoint += n * f;
  if (cpu) {
    // The GEMM's buffers grow to the largest product and stay: (N columns, depth K) of
    // the forward products, of their input gradients (N = their input width, K = their
    // output width) and of the weight gradients (K = B*T). (Left out, the logits' panel,
    // then 768 deep whatever the width, 154.5 MB for GPT-2's vocabulary, let a run pass
    // the check and fail at step 1.)
    const int bt = int(std::min<double>(BT, 1 << 30));
    const std::pair<int, int> products[] = {{3 * C, C}, {C, C},     {4 * C, C}, {C, 4 * C}, {Vp, C},  // forward
                                            {C, 3 * C}, {C, 4 * C}, {4 * C, C}, {C, Vp},               // inputs'
                                            {C, bt},    {4 * C, bt}};                                  // weights
    for (const auto& [N, K] : products)
      m.gemm = std::max(m.gemm, double(run.bf16 ? cpu::gemm_bf16_workspace_bytes(N, K, run.cpu_threads)
                                                : cpu::sgemm_workspace_bytes(N, K, run.cpu_threads)));
    if (run.bf16) {
      // At most one thread per (batch row, head) holds attention's two (T, T) matrices,
      // and its own GEMM buffers for products of (T, head size) and (head size, T).
      // (Left out, the matrices let a bf16 run at a long context pass the check and abort.)
      const int threads = int(std::min<long>(run.cpu_threads, long(B) * NH)), hs = C / NH;
      m.attention = double(threads) * (2.0 * T * T + T) * f;
      m.gemm += double(threads) * double(std::max(cpu::gemm_bf16_workspace_bytes(T, hs, 1),
                                                  cpu::gemm_bf16_workspace_bytes(hs, T, 1)));
    }
  }
  if (run.samples) {
    // GPT::decode: the K and V caches (L, context, C) each, one scratch block
    // (DecodeScratch: 15 C, the logits, the heads' weights), and under bf16 the weights'
    // bf16 copy its products read.
    m.decode = (2.0 * L * c.max_seq_len * C + 15.0 * C + Vp + double(NH) * c.max_seq_len + 2) * f +
               (run.bf16 ? n * 2 : 0.0);
  }
  if (cpu) {
    auto pad = [](double bytes) { return double(host_alloc_bytes(size_t(bytes))) - bytes; };
    m.rounding = pad(n * f) * 2 + pad(n * f / shards) * 2 + pad(acts) + pad(grad_acts);
    if (run.samples) m.rounding += pad(double(L) * c.max_seq_len * C * f) * 2 + (run.bf16 ? pad(n * 2) : 0.0);
  }
  return m;
}

namespace {
// The stack of each OpenMP thread past the first: OMP_STACKSIZE (or GOMP_STACKSIZE) when
// set, a number with B, K, M or G after it (K when none); else glibc's default, ulimit -s
// (8 MiB when unlimited: no less than glibc takes).
double thread_stack_bytes() {
  for (const char* name : {"OMP_STACKSIZE", "GOMP_STACKSIZE"}) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    const double n = std::strtod(v, &end);
    while (*end == ' ') end++;
    const char unit = char(std::toupper(static_cast<unsigned char>(*end)));
    const double scale = unit == 'B' ? 1.0 : unit == 'M' ? 1048576.0 : unit == 'G' ? 1073741824.0 : 1024.0;
    if (n > 0) return n * scale;
  }
  rlimit st{};
  if (::getrlimit(RLIMIT_STACK, &st) == 0 && st.rlim_cur != RLIM_INFINITY) return double(st.rlim_cur);
  return 8.0 * 1048576.0;
}

// The malloc arenas glibc makes beyond the main one (threads past them share): 8 per core
// online, or MALLOC_ARENA_MAX.
bool g_one_arena = false;  // share_one_malloc_arena_under_address_limit() capped them

int further_malloc_arenas() {
  if (g_one_arena) return 0;
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  int most = cores > 0 ? int(std::min(8 * cores, 1L << 20)) : 1 << 20;
  if (const char* v = std::getenv("MALLOC_ARENA_MAX"); v && std::atoi(v) > 0) most = std::atoi(v);
  return most - 1;
}
}  // namespace

bool share_one_malloc_arena_under_address_limit() {
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur == RLIM_INFINITY) return false;
  if (!g_one_arena && ::mallopt(M_ARENA_MAX, 1) == 1) g_one_arena = true;
  return true;
}

std::optional<double> available_memory(CommandThreads threads) {
  std::optional<double> avail;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (meminfo >> key >> kb) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") {
      avail = kb * 1024.0;
      break;
    }
  }
  // An address-space limit (ulimit -v, common on shared clusters), less what this process
  // has mapped already (VmSize). (Ignored, a run passed the check and then ran out.)
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    std::ifstream status("/proc/self/status");
    double vm_kb = 0;
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmSize:", 0) == 0) vm_kb = std::strtod(line.c_str() + 7, nullptr);
    // Address space is not memory: each further thread maps a stack, one that allocates
    // also reserves a malloc arena (64 MiB), and mappings round up. (With the limit only
    // 0.3% above the estimate a run passed the check, trained, and failed "out of memory"
    // saving its checkpoint. Counted for every command, 72 MiB a thread refused prepare
    // and attention --json, whose threads never start or never allocate: with
    // OMP_NUM_THREADS=64, any ulimit -v under 4.5 GiB.)
    const int further = std::max(0, threads.count - 1);
    double reserved = double(further) * (thread_stack_bytes() + 65536.0);
    if (threads.allocate) reserved += double(std::min(further, further_malloc_arenas())) * 64.0 * 1048576.0;
    const double lim = (double(as.rlim_cur) - vm_kb * 1024.0) * 0.9 - reserved;
    if (!avail || lim < *avail) avail = std::max(0.0, lim);
  }
  // A container's limit (cgroup v2), when it is tighter than the machine's.
  std::ifstream maxf("/sys/fs/cgroup/memory.max"), curf("/sys/fs/cgroup/memory.current");
  std::string max_s;
  double cur = 0;
  if (maxf >> max_s && max_s != "max" && curf >> cur) {
    const double lim = std::strtod(max_s.c_str(), nullptr) - cur;
    if (lim > 0 && (!avail || lim < *avail)) avail = lim;
  }
  return avail;
}


void require_memory(const MemoryEstimate& need, std::optional<double> available) {
  if (!available || need.total() <= *available) return;
  auto part = [](double bytes, const std::string& what) {
    return bytes > 0 ? ", " + what + " " + format_bytes(bytes) : std::string();
  };
  GPT_USAGE_FAIL("this model needs about ", format_bytes(need.total()), " of memory to train (parameters ",
                 format_bytes(need.params), ", gradients ", format_bytes(need.grads), ", AdamW m and v ",
                 format_bytes(need.adam), ", activations ", format_bytes(need.activations),
                 ", checkpoint image ", format_bytes(need.checkpoint),
                 need.attention > 0 ? ", bf16 attention scratch " + format_bytes(need.attention) +
                                          " (two --context x --context matrices per thread)"
                                    : std::string(),
                 part(need.gemm, "matmul packing buffers"), part(need.decode, "--sample-every's KV cache"),
                 part(need.rounding, "rounding to huge pages"),
                 "), but only ", format_bytes(*available),
                 " is available (", kAvailableMemorySources, "); use a smaller "
                 "--dim or --layers (parameters), or --batch / --context (activations; --grad-accum keeps the tokens "
                 "per step)", need.attention > 0 ? "; --dtype fp32 or fewer --threads need no or less scratch" : "");
}

}  // namespace gpt
