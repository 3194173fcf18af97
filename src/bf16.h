// bfloat16: the upper 16 bits of a float32. The one rounding rule (round to nearest,
// ties to even, NaN kept a quiet NaN) for everything that narrows a float to bf16:
// GEMM packing, the bf16 weights of decoding, llm.c's bf16 export, and the CUDA kernels
// (GPT_HD). bf16_round_bits is written once as a template so the GEMM packs apply the
// same formula to 16 lanes at a time (GCC vector types: the operators work lane-wise).
#pragma once
#include <cstdint>
#include <cstring>

#ifndef GPT_HD
#ifdef __CUDACC__
#define GPT_HD __host__ __device__
#else
#define GPT_HD
#endif
#endif

namespace gpt {

// u: the bits of a float (uint32_t, or a vector of them). Returns the bits of the
// nearest bf16 in the upper half, the lower half zero. A NaN gets its quiet bit set
// first, so rounding cannot carry it into infinity; +-inf and the largest finite
// values round as IEEE says (the largest finite floats round to inf).
template <class U, class Mask>
GPT_HD inline U bf16_round_bits(U u, Mask is_nan) {
  u = u | (is_nan & 0x00400000u);
  return (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
}
GPT_HD inline uint32_t bf16_round_bits(uint32_t u) {
  return bf16_round_bits(u, (u & 0x7FFFFFFFu) > 0x7F800000u ? 0xFFFFFFFFu : 0u);
}

GPT_HD inline uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
GPT_HD inline float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

GPT_HD inline uint16_t float_to_bf16(float f) { return uint16_t(bf16_round_bits(float_bits(f)) >> 16); }
GPT_HD inline float bf16_to_float(uint16_t h) { return bits_float(uint32_t(h) << 16); }
// f rounded to the nearest bf16, as a float (what a bf16 operand holds).
GPT_HD inline float bf16_rounded(float f) { return bits_float(bf16_round_bits(float_bits(f))); }

}  // namespace gpt
