// gpt --version: the git commit the binary was built from and the options it was
// built with (the Makefile passes GPT_GIT_COMMIT and the GPT_HAVE_* switches).
#include <string>

#include "cli.h"

#ifndef GPT_GIT_COMMIT
#define GPT_GIT_COMMIT "unknown"
#endif

namespace gpt {

std::string version_text() {
  auto yes = [](bool b) { return b ? std::string("yes") : std::string("no"); };
#ifdef _OPENMP
  const std::string omp = "yes (" + std::to_string(_OPENMP) + ")";
#else
  const std::string omp = "no";
#endif
#ifdef GPT_HAVE_SENTENCEPIECE
  const bool spm = true;
#else
  const bool spm = false;
#endif
#ifdef GPT_HAVE_CUDA
  const bool cuda = true;
#else
  const bool cuda = false;
#endif
#ifdef GPT_HAVE_MPI
  const bool mpi = true;
#else
  const bool mpi = false;
#endif
  return std::string("gpt.cc commit ") + GPT_GIT_COMMIT + "\nbuild: OpenMP " + omp + ", SentencePiece " + yes(spm) +
         ", CUDA " + yes(cuda) + ", MPI " + yes(mpi) + "; compiler " + __VERSION__ + "\n";
}

}  // namespace gpt
