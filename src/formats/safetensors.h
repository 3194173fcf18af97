// The safetensors container (Hugging Face), written from its specification
// (https://github.com/huggingface/safetensors, README "Format"): u64 little-endian
// header length N, N bytes of JSON {"__metadata__": {str: str}, NAME: {"dtype",
// "shape", "data_offsets": [begin, end]}, ...} (offsets relative to the data that
// follows the header), then the little-endian tensor bytes in C order, every byte
// belonging to exactly one tensor. Reads any tensor's table entry and converts F32,
// BF16 and F16 data to float; writes F32 only. What the names mean (GPT-2's layout)
// is hf_gpt2.*'s business, not this file's.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fileio.h"

namespace gpt {

constexpr size_t kSafetensorsMaxHeader = 100u << 20;  // the reference implementation's limit

struct SafetensorsEntry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;  // byte range inside the data section
  size_t numel = 0;
};

class Safetensors {
 public:
  // Reads and validates the whole file: header length against the file size, the
  // JSON, every dtype, shape and offset pair (size = elements x dtype size), no
  // overlaps and no holes, nothing after the last tensor. Errors name the file and,
  // where there is one, the tensor.
  static Safetensors read(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }  // file's header order
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
  const SafetensorsEntry* find(const std::string& name) const;  // nullptr when absent
  size_t data_start() const { return data_start_; }             // file offset of the data section
  // Copies e's numel values into out as float. F32 exactly, BF16 and F16 widened
  // exactly; any other dtype: gpt::Error naming the tensor and its dtype.
  void to_float(const SafetensorsEntry& e, float* out) const;

 private:
  std::string path_;
  MappedFile file_;
  size_t data_start_ = 0;
  std::vector<SafetensorsEntry> tensors_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

// Bytes per element of a dtype named in the specification; 0 if unknown.
size_t safetensors_dtype_size(const std::string& dtype);
// (bf16 widening: bf16.h's bf16_to_float.)
float f16_to_float(uint16_t h);  // IEEE half: subnormals, infinities and NaN included

// One F32 tensor to write: `fill` writes its numel values to the destination.
struct TensorOut {
  std::string name;
  std::vector<int64_t> shape;
  std::function<void(float*)> fill;
};

// The whole file: header {"__metadata__": metadata, tensors in the given order},
// compact JSON padded with spaces so the data section starts at a multiple of 8;
// tensors contiguous in the given order. Deterministic: the same input gives the
// same bytes.
std::string safetensors_bytes(const std::vector<TensorOut>& tensors,
                              const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace gpt
