// The MPI process group (OpenMPI from Debian): data-parallel training on several
// processes and machines, started by `mpirun -np N bin/gpt train ...`. Built when
// make finds mpicxx; otherwise process_group.cpp says how to get it.
// Buffers are host memory here (the CPU backend); GPU runs use the NCCL group
// (cuda/process_group_nccl.cu), with this one underneath only to pass NCCL's id and do
// the host-side operations.
#ifdef GPT_HAVE_MPI
#include <mpi.h>

#include <chrono>
#include <algorithm>
#include <climits>
#include <vector>
#include <exception>

#include "check.h"
#include "process_group.h"

namespace gpt {

namespace {

class MpiGroup final : public ProcessGroup {
 public:
  MpiGroup() {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        GPT_FAIL("MPI_Init failed: is this an mpirun launch with a working Open MPI?");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiGroup() override {
    // Leaving by an exception (an error on this rank): end every rank now instead of
    // letting the others wait in a collective for one that will never come.
    if (std::uncaught_exceptions() > 0) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(float* x, size_t n) override { reduce(x, n, MPI_FLOAT); }
  void all_reduce_sum(double* x, size_t n) override { reduce(x, n, MPI_DOUBLE); }
  void reduce_scatter_sum(float* x, const std::vector<size_t>& counts) override {
    Timer t(this);
    const std::vector<int> c = ints(counts);
    std::vector<float> mine(counts[size_t(rank_)]);
    check(MPI_Reduce_scatter(x, mine.data(), c.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Reduce_scatter");
    std::copy(mine.begin(), mine.end(), x + offset(counts, rank_));
  }
  void all_gather(float* x, const std::vector<size_t>& counts) override {
    Timer t(this);
    const std::vector<int> c = ints(counts), d = displacements(counts);
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, c.data(), d.data(), MPI_FLOAT, MPI_COMM_WORLD),
          "MPI_Allgatherv");
  }
  void gather(const float* block, const std::vector<size_t>& counts, float* full) override {
    Timer t(this);
    const std::vector<int> c = ints(counts), d = displacements(counts);
    check(MPI_Gatherv(block, c[size_t(rank_)], MPI_FLOAT, full, c.data(), d.data(), MPI_FLOAT, 0, MPI_COMM_WORLD),
          "MPI_Gatherv");
  }
  void broadcast(void* host, size_t bytes, int root) override {
    Timer t(this);
    for (size_t off = 0; off < bytes; off += kChunk)
      check(MPI_Bcast(static_cast<char*>(host) + off, int(std::min(kChunk, bytes - off)), MPI_BYTE, root,
                      MPI_COMM_WORLD),
            "MPI_Bcast");
  }
  void barrier() override {
    Timer t(this);
    check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  }
  bool any(bool flag) override {
    Timer t(this);
    int v = flag ? 1 : 0;
    check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD), "MPI_Allreduce");
    return v != 0;
  }
  double comm_seconds() const override { return comm_s_; }
  void abort(int code) override { MPI_Abort(MPI_COMM_WORLD, code); }

 private:
  static constexpr size_t kChunk = size_t(1) << 30;  // MPI counts are int
  struct Timer {
    MpiGroup* g;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    explicit Timer(MpiGroup* g_) : g(g_) {}
    ~Timer() { g->comm_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  };
  static std::vector<int> ints(const std::vector<size_t>& counts) {
    std::vector<int> c;
    for (size_t n : counts) {
      if (n > size_t(INT_MAX)) GPT_FAIL("a ZeRO shard of ", n, " elements is beyond MPI's int counts");
      c.push_back(int(n));
    }
    return c;
  }
  static std::vector<int> displacements(const std::vector<size_t>& counts) {
    std::vector<int> d(counts.size(), 0);
    for (size_t r = 1; r < counts.size(); r++) d[r] = d[r - 1] + int(counts[r - 1]);
    return d;
  }
  static size_t offset(const std::vector<size_t>& counts, int rank) {
    size_t o = 0;
    for (int r = 0; r < rank; r++) o += counts[size_t(r)];
    return o;
  }
  static void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS) GPT_FAIL(what, " failed (MPI error ", rc, ")");
  }
  template <class X>
  void reduce(X* x, size_t n, MPI_Datatype type) {
    Timer t(this);
    const size_t chunk = kChunk / sizeof(X);
    for (size_t off = 0; off < n; off += chunk)
      check(MPI_Allreduce(MPI_IN_PLACE, x + off, int(std::min(chunk, n - off)), type, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
  }
  int rank_ = 0, size_ = 1;
  double comm_s_ = 0.0;
};

}  // namespace

std::unique_ptr<ProcessGroup> mpi_process_group() { return std::make_unique<MpiGroup>(); }

}  // namespace gpt
#endif
