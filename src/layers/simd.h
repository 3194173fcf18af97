// 16-float vectors in GCC's vector extensions (whatever -march gives: one zmm with
// AVX-512, two ymm with AVX2) and the 16 x 16 transpose the packing and attention
// code share.
#pragma once
#include <cstddef>

namespace gpt::cpu {

typedef float v16f __attribute__((vector_size(64)));
typedef float v16fu __attribute__((vector_size(64), aligned(4)));  // unaligned access
typedef int v16i __attribute__((vector_size(64)));

inline v16f load16(const float* p) { return *reinterpret_cast<const v16fu*>(p); }
inline void store16(float* p, v16f v) { *reinterpret_cast<v16fu*>(p) = v; }

// One stage of the 16 x 16 transpose: rows i and i+S swap their off-diagonal S x S
// blocks (lane l of row i with bit S set <-> lane l^S of row i+S). Stages 8, 4, 2, 1
// in turn transpose the whole block.
template <int S>
inline void transpose_stage(v16f* r) {
  v16i ma, mb;
  for (int l = 0; l < 16; l++) {
    ma[l] = (l & S) ? 16 + (l ^ S) : l;
    mb[l] = (l & S) ? 16 + l : (l ^ S);
  }
  for (int i = 0; i < 16; i++)
    if (!(i & S)) {
      const v16f a = r[i], b = r[i + S];
      r[i] = __builtin_shuffle(a, b, ma);
      r[i + S] = __builtin_shuffle(a, b, mb);
    }
}

// r[j] becomes column j of the 16 x 16 block whose rows were r[0..16).
inline void transpose16(v16f* r) {
  transpose_stage<8>(r);
  transpose_stage<4>(r);
  transpose_stage<2>(r);
  transpose_stage<1>(r);
}

// dst row j (16 floats, rows dst_stride apart) = column j of the 16 x 16 block at src.
inline void transpose16(float* dst, size_t dst_stride, const float* src, size_t src_stride) {
  v16f r[16];
  for (int i = 0; i < 16; i++) r[i] = load16(src + i * src_stride);
  transpose16(r);
  for (int j = 0; j < 16; j++) store16(dst + j * dst_stride, r[j]);
}

}  // namespace gpt::cpu
