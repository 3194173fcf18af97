// Which process does what when training runs on several processes (data parallel):
// rank, size, and the collectives the training loop needs. The loop (commands/train.cpp)
// is the only caller. Today there is the single-process group; an MPI group (CPU) and an
// NCCL group (GPU) implement the same interface.
//
// Contract: every rank calls the same collectives in the same order. Buffers passed
// to all_reduce_sum live in the memory of the model's backend (device memory on a
// GPU); broadcast and any() take host memory. Each collective returns when its
// result is ready to use on this rank.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

namespace gpt {

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
  //   gather: rank r's block (`block`, counts[r] elements) lands in the root's `full`.
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
// The group this process was started in: MPI when launched by mpirun with more than
// one process (gpt::Error saying how to get MPI when this build has none), else the
// single process.
std::unique_ptr<ProcessGroup> launch_process_group();
// Processes of this launch on this machine (mpirun's local size; 1 otherwise), for
// sharing the cores between them.
int local_process_count();
#ifdef GPT_HAVE_MPI
std::unique_ptr<ProcessGroup> mpi_process_group();
#endif
// n elements split into `ranks` consecutive blocks as evenly as possible (the first
// n % ranks blocks one longer): ZeRO-1's shards.
std::vector<size_t> even_split(size_t n, int ranks);

}  // namespace gpt
