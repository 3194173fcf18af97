// Which process does what when training runs on several processes (data parallel):
// rank, size, and the collectives the training loop needs. The loop (commands/train.cpp)
// is the only caller. Three implementations: the single process (process_group.cpp),
// MPI on the CPU (process_group_mpi.cpp) and NCCL on GPUs (cuda/process_group_nccl.cu).
//
// Contract: every rank calls the same collectives in the same order. The float
// buffers (all_reduce_sum(float*), reduce_scatter_sum, all_gather, gather's block)
// live in the memory of the model's backend (device memory on a GPU); the double
// all_reduce_sum (the loop's scalars: loss, squared norm), gather's `full`, broadcast
// and any() take host memory. Each collective returns when its result is ready to use
// on this rank.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace gpt {

enum class DeviceKind;  // backend.h

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }  // rank 0 alone prints and writes files
  // x (n, backend memory) = the sum of every rank's x.
  virtual void all_reduce_sum(float* x, size_t n) = 0;
  virtual void all_reduce_sum(double* x, size_t n) = 0;
  // ZeRO-1's collectives over a buffer split into consecutive blocks, rank r owning
  // counts[r] elements (backend memory, the whole buffer on every rank):
  //   reduce_scatter_sum: rank r's block = the sum over ranks of that block (the rest
  //     of x is left undefined);
  //   all_gather: every rank's block is copied into everyone's x;
  //   gather: rank r's block (`block`, counts[r] elements) lands in the root's `full`
  //     (host memory; nullptr on the other ranks). The single-process group copies
  //     host memory only: with one process the model reads its block itself.
  virtual void reduce_scatter_sum(float* x, const std::vector<size_t>& counts) = 0;
  virtual void all_gather(float* x, const std::vector<size_t>& counts) = 0;
  virtual void gather(const float* block, const std::vector<size_t>& counts, float* full) = 0;
  // host bytes from root to every rank.
  virtual void broadcast(void* host, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // true on every rank when flag is true on any rank (stop requests: Ctrl-C, time limits).
  virtual bool any(bool flag) = 0;
  // Seconds spent in collectives so far (progress lines show it per step).
  virtual double comm_seconds() const { return 0.0; }
  // Ends every rank at once with this exit code (after an error on one of them).
  virtual void abort(int code) { (void)code; }
};

// One process: rank 0 of 1; every collective is the identity.
std::unique_ptr<ProcessGroup> single_process_group();
// The group this process was started in, for a model on `device`:
//   launched by mpirun with more than one process: NCCL with --device cuda (MPI passes
//     its id), MPI with --device cpu (gpt::Error saying how to get MPI, or NCCL, when
//     this build lacks it);
//   one process: the single process, or with GPT_COMM=nccl (and --device cuda) a
//     one-rank NCCL group (no MPI), which is how one GPU exercises NCCL.
// GPT_COMM: unset/auto or nccl; anything else, or nccl with --device cpu, is refused.
std::unique_ptr<ProcessGroup> launch_process_group(DeviceKind device);
// Processes of this launch on this machine (mpirun's local size; 1 otherwise), for
// sharing the cores between them; this one's index among them (0 without mpirun),
// which picks its GPU.
int local_process_count();
int local_process_rank();
// The whole launch (mpirun's world size: 1 without mpirun) and this process's rank in it
// (0 without mpirun), from the launcher's environment, before any group exists.
int launched_process_count();
int launched_process_rank();
#ifdef GPT_HAVE_MPI
std::unique_ptr<ProcessGroup> mpi_process_group();
#endif
#ifdef GPT_HAVE_CUDA
// The NCCL group on GPU `local_rank` of this machine; `host` (MPI, or the single
// process) gives rank and size, passes NCCL's id and does the host-side operations.
// NCCL is loaded at run time: gpt::Error (exit 2) saying how to find it when it cannot be.
std::unique_ptr<ProcessGroup> nccl_process_group(std::unique_ptr<ProcessGroup> host, int local_rank);
// Loads NCCL ($GPT_NCCL_LIBRARY, else libnccl.so.2 on the loader's path) and returns its
// version and file, e.g. "2.28.9 (libnccl.so.2)"; no GPU needed. gpt::Error (exit 2)
// saying how to find it when it cannot be loaded.
std::string nccl_version();
#endif
// n elements split into `ranks` consecutive blocks as evenly as possible (the first
// n % ranks blocks one longer): ZeRO-1's shards.
std::vector<size_t> even_split(size_t n, int ranks);

}  // namespace gpt
