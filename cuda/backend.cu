// The CUDA backend's table: device memory (cudaMalloc, copies on the default stream)
// and the gpu:: layer functions, each put into the slot typed from its cpu:: twin, so
// a signature that drifts fails to compile here. Every layer call is asynchronous;
// to_host, sum and sum_squares synchronise (backend.h states the contract).
#include <cstdlib>
#include <string>

#include "backend.h"
#include "common.cuh"

namespace gpt {
namespace {

void* dev_alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess)
    GPT_FAIL("cannot allocate ", bytes, " bytes on the GPU (", cudaGetErrorString(e),
             "); use a smaller --batch or model, or --device cpu");
  CUDA_CHECK(cudaMemset(p, 0, bytes));
  return p;
}
void dev_free(void* p) { cudaFree(p); }  // no throw from destructors
void dev_zero(void* p, size_t bytes) { CUDA_CHECK(cudaMemsetAsync(p, 0, bytes)); }
void dev_copy(void* dst, const void* src, size_t bytes) {
  if (dst != src) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
void dev_to_host(void* dst, const void* src, size_t bytes) { CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost)); }
void dev_to_device(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void dev_sync() { CUDA_CHECK(cudaDeviceSynchronize()); }

Backend<float> make_cuda_backend() {
  Backend<float> b{};
  b.name = "cuda";
  b.kind = DeviceKind::cuda;
  b.dtype = Dtype::fp32;
  b.host_memory = false;
  b.mem = DeviceMemory{dev_alloc, dev_free, dev_zero, dev_copy, dev_to_host, dev_to_device, dev_sync};
  b.sum = gpu::sum;
  b.sum_squares = gpu::sum_squares;
  b.encoder_forward = gpu::encoder_forward;
  b.encoder_backward = gpu::encoder_backward;
  b.rope_forward = gpu::rope_forward;
  b.rope_backward = gpu::rope_backward;
  b.layernorm_forward = gpu::layernorm_forward;
  b.residual_layernorm_forward = gpu::residual_layernorm_forward;
  b.layernorm_backward = gpu::layernorm_backward;
  b.matmul_forward = gpu::matmul_forward;
  b.matmul_backward = gpu::matmul_backward;
  b.matmul_gelu_forward = gpu::matmul_gelu_forward;
  b.matmul_gelu_backward = gpu::matmul_gelu_backward;
  b.to_bf16 = gpu::to_bf16;
  b.matmul_decode_bf16w = gpu::matmul_decode_bf16w;
  b.attention_forward = gpu::attention_forward;
  b.attention_backward = gpu::attention_backward;
  b.kv_cache_write = gpu::kv_cache_write;
  b.attention_decode = gpu::attention_decode;
  b.gelu_forward = gpu::gelu_forward;
  b.gelu_backward = gpu::gelu_backward;
  b.residual_forward = gpu::residual_forward;
  b.residual_backward = gpu::residual_backward;
  b.dropout_forward = gpu::dropout_forward;
  b.dropout_backward = gpu::dropout_backward;
  b.crossentropy_forward = gpu::crossentropy_forward;
  b.crossentropy_backward_inplace = gpu::crossentropy_backward_inplace;
  b.crossentropy_fused = gpu::crossentropy_fused;
  b.adamw_update = gpu::adamw_update;
  return b;
}

}  // namespace

namespace gpu {
__global__ void column_finish_kernel(float* out, const float* partial, unsigned chunks, int C) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= C) return;
  float s = 0.0f;
  for (unsigned k = 0; k < chunks; k++) s += partial[size_t(k) * C + c];
  out[c] += s;
}

bool sync_launches() {
  const char* e = std::getenv("GPT_CUDA_SYNC");  // read each time: cheap beside a launch
  return e && *e && std::string(e) != "0";
}

void* device_scratch(ScratchSlot slot, size_t bytes) {
  static void* buf[kScratchSlots] = {};
  static size_t cap[kScratchSlots] = {};
  if (bytes > cap[slot]) {
    if (buf[slot]) CUDA_CHECK(cudaFree(buf[slot]));  // waits for the kernels still using it
    buf[slot] = nullptr;
    cap[slot] = 0;
    const size_t grown = bytes + bytes / 4;  // some room, so a slowly growing size does not reallocate each time
    const cudaError_t e = cudaMalloc(&buf[slot], grown);
    if (e != cudaSuccess)
      GPT_FAIL("cannot allocate ", grown, " bytes of GPU scratch (", cudaGetErrorString(e),
               "); use a smaller --batch or model, or --device cpu");
    cap[slot] = grown;
  }
  return buf[slot];
}
}  // namespace gpu

const Backend<float>& cuda_backend() {
  static const Backend<float> b = make_cuda_backend();
  return b;
}

const Backend<float>& cuda_backend_bf16() {
  static const Backend<float> b = [] {
    Backend<float> t = make_cuda_backend();
    t.dtype = Dtype::bf16;
    t.matmul_forward = gpu::matmul_forward_bf16;
    t.matmul_backward = gpu::matmul_backward_bf16;
    t.matmul_gelu_forward = gpu::matmul_gelu_forward_bf16;
    t.matmul_gelu_backward = gpu::matmul_gelu_backward_bf16;
    t.attention_forward = gpu::attention_forward_bf16;
    t.attention_backward = gpu::attention_backward_bf16;
    return t;
  }();
  return b;
}

}  // namespace gpt
