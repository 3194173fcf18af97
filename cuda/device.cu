// Device queries and a self-test kernel for builds with the CUDA backend (see
// src/device.h). Statically linked cudart: the binary starts on machines without a
// driver and reports why there is no device instead of failing to load.
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <vector>

#include "device.h"

namespace gpt {

namespace {
__global__ void saxpy_kernel(float* y, const float* x, float a, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

std::string cuda_error(const char* what, cudaError_t e) {
  return std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}
}  // namespace

CudaStatus cuda_status() {
  CudaStatus s;
  s.built = true;
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    s.error = "no usable CUDA device (no NVIDIA GPU or driver here?): " + cuda_error("cudaGetDeviceCount", e);
    return s;
  }
  s.devices = n;
  if (n == 0) {
    s.error = "no CUDA device is visible";
    return s;
  }
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
    s.name = std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ")";
  return s;
}

std::string cuda_self_test() {
  const CudaStatus st = cuda_status();
  if (st.devices == 0) return st.error;
  const int n = 1 << 20;
  std::vector<float> x(n), y(n), out(n);
  for (int i = 0; i < n; i++) x[i] = float(i % 1000) * 0.001f, y[i] = float(i % 7);
  float *dx = nullptr, *dy = nullptr;
  cudaError_t e = cudaMalloc(&dx, n * sizeof(float));
  if (e == cudaSuccess) e = cudaMalloc(&dy, n * sizeof(float));
  if (e == cudaSuccess) e = cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  if (e == cudaSuccess) e = cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  if (e == cudaSuccess) {
    saxpy_kernel<<<(n + 255) / 256, 256>>>(dy, dx, 2.5f, n);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess) e = cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dy);
  if (e != cudaSuccess) return cuda_error("self-test", e);
  for (int i = 0; i < n; i++) {
    const float want = 2.5f * x[i] + y[i];
    if (std::fabs(out[i] - want) > 1e-6f * (1.0f + std::fabs(want)))
      return "self-test: element " + std::to_string(i) + " is " + std::to_string(out[i]) + ", expected " +
             std::to_string(want);
  }
  return "";
}

}  // namespace gpt
