// The single-process group (the identity for every collective), and the choice of
// group at launch.
#include "process_group.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "backend.h"
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

int launched_process_count() {
  const int n = env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"});
  return n > 0 ? n : 1;
}

int launched_process_rank() {
  const int r = env_int({"OMPI_COMM_WORLD_RANK", "PMI_RANK"});
  return r > 0 ? r : 0;
}

int local_process_rank() {
  const int r = env_int({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"});
  return r > 0 ? r : 0;
}

namespace {
std::unique_ptr<ProcessGroup> mpi_group(int world) {
#ifdef GPT_HAVE_MPI
  (void)world;
  return mpi_process_group();
#else
  GPT_USAGE_FAIL("started as one of ", world, " processes (mpirun), but this build has no MPI: install it "
                 "(apt-get install openmpi-bin libopenmpi-dev, or scripts/install_deps.sh) and rebuild with make; "
                 "or run without mpirun");
#endif
}
}  // namespace

std::unique_ptr<ProcessGroup> launch_process_group(DeviceKind device) {
  const int world = launched_process_count();
  const char* env = std::getenv("GPT_COMM");
  const std::string comm = env ? env : "";
  if (!comm.empty() && comm != "auto" && comm != "nccl")
    GPT_USAGE_FAIL("GPT_COMM=", comm, ": expected nccl (the NCCL group, also for one process with --device cuda) "
                   "or auto (the same as unset: MPI between CPU processes, NCCL between GPU processes)");
  if (comm == "nccl" && device != DeviceKind::cuda)
    GPT_USAGE_FAIL("GPT_COMM=nccl: NCCL runs on GPUs, and this run has --device ", to_string(device),
                   "; add --device cuda, or unset GPT_COMM (MPI between CPU processes)");
  if (device == DeviceKind::cuda && (world > 1 || comm == "nccl")) {
#ifdef GPT_HAVE_CUDA
    // The host group first: MPI's broadcast hands rank 0's NCCL id to the others.
    return nccl_process_group(world > 1 ? mpi_group(world) : single_process_group(), local_process_rank());
#else
    GPT_USAGE_FAIL("several GPU processes (or GPT_COMM=nccl) need NCCL, and this build has no CUDA backend: "
                   "install the CUDA toolkit (/usr/local/cuda) and rebuild, or use --device cpu");
#endif
  }
  if (world <= 1) return single_process_group();
  return mpi_group(world);
}

}  // namespace gpt
