// The single-process group (the identity for every collective), and the choice of
// group at launch.
#include "process_group.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "check.h"

namespace gpt {

namespace {
class SingleProcess final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(float*, size_t) override {}
  void all_reduce_sum(double*, size_t) override {}
  void reduce_scatter_sum(float*, const std::vector<size_t>&) override {}
  void all_gather(float*, const std::vector<size_t>&) override {}
  void gather(const float* block, const std::vector<size_t>& counts, float* full) override {
    if (full != block) std::copy(block, block + counts[0], full);
  }
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  bool any(bool flag) override { return flag; }
};
}  // namespace

std::unique_ptr<ProcessGroup> single_process_group() { return std::make_unique<SingleProcess>(); }

namespace {
// The launcher's environment: Open MPI, then MPICH / PMI.
int env_int(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const char* v = std::getenv(n)) return std::atoi(v);
  return 0;
}
}  // namespace

std::vector<size_t> even_split(size_t n, int ranks) {
  std::vector<size_t> c(size_t(ranks), n / size_t(ranks));
  for (size_t r = 0; r < n % size_t(ranks); r++) c[r]++;
  return c;
}

int local_process_count() {
  const int n = env_int({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"});
  return n > 0 ? n : 1;
}

std::unique_ptr<ProcessGroup> launch_process_group() {
  const int world = env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"});
  if (world <= 1) return single_process_group();
#ifdef GPT_HAVE_MPI
  return mpi_process_group();
#else
  GPT_USAGE_FAIL("started as one of ", world, " processes (mpirun), but this build has no MPI: install it "
                 "(apt-get install openmpi-bin libopenmpi-dev, or scripts/install_deps.sh) and rebuild with make; "
                 "or run without mpirun");
#endif
}

}  // namespace gpt
