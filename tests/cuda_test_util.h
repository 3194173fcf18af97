// Device buffers for the CUDA tests (tests/test_cuda.cpp on a GPU or the emulator,
// tests/cuda_emu/test_emulator.cpp): a host vector up, and back.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <vector>

template <class T>
inline T* device_copy(const std::vector<T>& h) {
  T* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, h.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return d;
}
template <class T>
inline std::vector<T> host_copy(const T* d, size_t n) {
  std::vector<T> h(n);
  EXPECT_EQ(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

