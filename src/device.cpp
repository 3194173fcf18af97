// Device queries for a build without the CUDA backend (see device.h). With
// GPT_HAVE_CUDA the definitions come from cuda/device.cu instead.
#include "device.h"

namespace gpt {

#ifndef GPT_HAVE_CUDA
CudaStatus cuda_status() {
  CudaStatus s;
  s.error = "this build has no CUDA backend (nvcc was not found when it was built)";
  return s;
}

std::string cuda_self_test() { return cuda_status().error; }
std::string cuda_matmul_engine() { return ""; }
#endif

}  // namespace gpt
