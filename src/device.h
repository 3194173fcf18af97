// Which compute devices this build and this machine offer. The CUDA side lives in
// cuda/device.cu (built when make finds nvcc); without it, src/device.cpp answers.
// Not here: the GPU layers themselves (issue 4, needs a GPU to be verified).
#pragma once
#include <string>

namespace gpt {

struct CudaStatus {
  bool built = false;   // this binary was built with the CUDA backend (nvcc found)
  int devices = 0;      // CUDA devices visible now
  std::string name;     // device 0: name and compute capability, e.g. "NVIDIA H100 (sm_90)"
  std::string error;    // why there is no device (driver missing, none present, ...)
};

CudaStatus cuda_status();

// On a device: runs a small kernel (y = a*x + y over 1M floats) and compares with the
// CPU; returns "" when they agree, else what went wrong. Without a device: a message.
std::string cuda_self_test();

// What runs the CUDA backend's matrix products: "cuBLAS (its library)" or "gpt.cc's own
// kernel" (cuda/matmul.cu; GPT_CUDA_GEMM chooses). "" without the CUDA backend.
std::string cuda_matmul_engine();

}  // namespace gpt
