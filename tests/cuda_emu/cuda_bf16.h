// Stand-in for the toolkit's cuda_bf16.h on the CUDA emulator (see cuda_runtime.h here):
// the bf16 storage type and its raw form, which is what cuda/*.cu uses (the kernels
// round with bf16.h's rule and store the bits; the tensor-core products read them).
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16_raw {
  unsigned short x;
};
struct alignas(2) __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  constexpr __nv_bfloat16(const __nv_bfloat16_raw& r) : __x(r.x) {}
  operator __nv_bfloat16_raw() const { return {__x}; }
};
inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t u = uint32_t(h.__x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
