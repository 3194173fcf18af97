// All-reduce cost on this machine (run under mpirun by scripts/bench_mpi.sh): the
// median time of an in-place float MPI_Allreduce per message size, as the gradient sum
// of data-parallel training does it. Prints "bytes seconds" lines (rank 0).
#ifdef GPT_HAVE_MPI
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (size_t n = 1024; n <= (size_t(1) << 24); n *= 4) {  // 4 KB .. 64 MB
    std::vector<float> x(n, 1.0f);
    std::vector<double> t;
    const int reps = n >= (size_t(1) << 22) ? 5 : 20;
    for (int r = 0; r < reps + 2; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, x.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      if (r >= 2) t.push_back(MPI_Wtime() - t0);
    }
    std::sort(t.begin(), t.end());
    if (rank == 0) std::printf("%zu %.9f\n", n * sizeof(float), t[t.size() / 2]);
  }
  MPI_Finalize();
  return 0;
}
#else
#include <cstdio>
int main() {
  std::fprintf(stderr, "built without MPI: apt-get install openmpi-bin libopenmpi-dev, then rebuild\n");
  return 1;
}
#endif
