// What keeps a training run's directory and work safe beyond atomic saves: a lock
// (one writer per run directory), the signals that stop a run with a save, and the
// memory estimate that refuses a model the machine cannot hold. Not here: the
// checkpoint format (formats/checkpoint.h) or the loop (commands/train.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "config.h"

namespace gpt {

// An exclusive lock on DIR (flock on DIR/train.lock, which holds the owner's pid).
// The kernel drops it when the process ends, however it ends, so no stale lock
// survives a kill -9. Held: gpt::Error naming DIR and the holder's pid.
class RunLock {
 public:
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};
constexpr const char* kRunLockFile = "train.lock";
// The file that shows DIR is (or was) the directory of a `gpt train` run: its
// checkpoint.bin, its train.lock (there from the run's first moment, before any
// checkpoint) or its metrics.jsonl; "" when it holds none. prepare and export refuse
// to write into such a directory, train refuses a data directory as its --out.
std::string run_dir_evidence(const std::string& dir);

// While alive, SIGINT, SIGTERM, SIGHUP (terminal closed) and SIGPIPE (the reader of our
// output went away, e.g. `| head`) only set a flag the loop polls: it saves and exits.
// SIGXFSZ (file size limit) is caught and does nothing: the write fails with EFBIG. The same SIGINT/TERM/HUP again kills at once (the
// last checkpoint stays intact), unless it comes within kRepeatKillsAfterS of the first:
// then it is the same request delivered twice (`timeout` signals the child and then its
// process group) and is ignored. SIGPIPE and SIGXFSZ stay caught, so the failed write
// returns EPIPE / EFBIG instead of killing the save. Restores the old handlers.
constexpr double kRepeatKillsAfterS = 1.0;

// Under Open MPI's mpirun, Ctrl-C or SIGTERM to mpirun reaches the ranks as SIGTERM and
// is followed by SIGKILL after odls_base_sigkill_timeout seconds (1 unless set): too
// little to write a large checkpoint. The note (empty when not needed) says how to give
// the save time. ompi_size: $OMPI_COMM_WORLD_SIZE (null: not under Open MPI);
// sigkill_timeout: $OMPI_MCA_odls_base_sigkill_timeout (mpirun --mca sets it too).
std::string mpirun_signal_note(double checkpoint_bytes, const char* ompi_size, const char* sigkill_timeout);
class StopSignals {
 public:
  // announce: the first SIGINT, SIGTERM or SIGHUP says on stderr, at once, that the run
  // stops after this step (gpt train's rank 0). The one that kills always says so.
  explicit StopSignals(bool announce = false);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int signal() const;  // the first signal received, 0 if none
  static const char* name(int sig);  // "SIGHUP", ...
  // The handlers stay for the rest of the process (the destructor restores nothing): a
  // rank other than 0 under mpirun, whose training is over while rank 0 still saves and
  // prints. A stop signal sent to the gpt processes then (pkill) killed that rank, and
  // mpirun killed rank 0 in the middle of its save (helper-47). The same signal again,
  // a second or more later, still kills at once.
  void keep_until_exit() { keep_ = true; }

 private:
  bool keep_ = false;
};

// Bytes a training run needs at its peak: parameters, gradients, AdamW m and v,
// activations and their gradients for one (B, T) micro-batch, the checkpoint image built
// while saving (weights, m, v), and on the CPU the GEMM's packed operands.
struct MemoryEstimate {
  double params = 0, grads = 0, adam = 0, activations = 0, checkpoint = 0;
  double attention = 0;  // the CPU bf16 attention's per-thread (T, T) scratch
  double gemm = 0;       // the CPU GEMM engines' packing buffers (layers/gemm.h)
  double decode = 0;     // --sample-every: the KV cache and decode buffers (and bf16's weight copy)
  double rounding = 0;   // host buffers of 8 MB and more round up to 2 MiB (buffer.h)
  double total() const {
    return params + grads + adam + activations + checkpoint + attention + gemm + decode + rounding;
  }
};
// How a run is run, beyond its shapes.
struct TrainingRun {
  int optimizer_shards = 1;  // --zero 1's process count: each keeps 1/N of m and v (rank 0 gathers them to save)
  int cpu_threads = 0;       // the OpenMP threads of a CPU run; 0 on a GPU (its products and buffers are the device's)
  bool bf16 = false;         // --dtype bf16 (on the CPU: bf16 GEMMs, and attention's two (T, T) float matrices
                             // per thread: at --context 8192, 512 MB a thread)
  bool samples = false;      // --sample-every N: the KV cache, kept from the first sample on
  bool best_saves = false;   // evaluations: best.bin's image (weights), which glibc may keep on the heap
};
MemoryEstimate estimate_training_memory(const GPTConfig& c, int B, int T, const TrainingRun& run = {});
// The threads a command runs, for available_memory(): under ulimit -v each one past the
// first takes address space beyond its memory: a stack, and a 64 MiB malloc arena when
// it allocates (glibc makes up to 8 per core; threads past them share).
struct CommandThreads {
  int count = 1;          // 1: the main thread alone (no parallel region, no thread pool)
  bool allocate = false;  // they call malloc (train's and SentencePiece's do; a decode's do not)
};
// Under an address-space limit (ulimit -v), threads from here on share glibc's main malloc
// arena instead of reserving 64 MiB each (M_ARENA_MAX 1; available_memory counts no arena
// for them then). Returns whether a limit is set. For prepare: SentencePiece's trainer
// threads allocate little, and one arena's reservation refused or (std::bad_alloc in a
// thread, exit 134) ended a 1 MB text under ulimit -v 125 MB.
bool share_one_malloc_arena_under_address_limit();
// Memory this process may still use: MemAvailable (/proc/meminfo), lowered to the
// cgroup's memory.max - memory.current and to ulimit -v less what is mapped and what
// `threads` will reserve, when smaller; nullopt when unknown.
std::optional<double> available_memory(CommandThreads threads);
// Where available_memory() looked, for messages that quote it.
constexpr const char* kAvailableMemorySources =
    "MemAvailable in /proc/meminfo, the container's limit, or ulimit -v less a tenth and the address space each "
    "further thread reserves beyond memory (its stack, and a 64 MiB malloc arena where it allocates; fewer threads, "
    "e.g. OMP_NUM_THREADS=1, reserve less)";
// gpt::Error (exit 2) when the estimate exceeds what is available, saying how much
// it needs, how much there is, and which flags shrink it.
void require_memory(const MemoryEstimate& need, std::optional<double> available);

}  // namespace gpt
