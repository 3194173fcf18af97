// The safetensors container: reader with full validation, dtype conversion, writer
// (see safetensors.h and data/README.md, "safetensors").
#include "formats/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "bf16.h"
#include "check.h"
#include "fileio.h"
#include "formats/json.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data are little-endian; this code assumes the host is");

namespace gpt {

namespace {

uint64_t le64(const char* p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--) v = v << 8 | uint8_t(p[k]);
  return v;
}

uint16_t le16(const char* p) { return uint16_t(uint8_t(p[0]) | uint8_t(p[1]) << 8); }

}  // namespace

size_t safetensors_dtype_size(const std::string& d) {
  if (d == "BOOL" || d == "U8" || d == "I8" || d == "F8_E5M2" || d == "F8_E4M3") return 1;
  if (d == "I16" || d == "U16" || d == "F16" || d == "BF16") return 2;
  if (d == "I32" || d == "U32" || d == "F32") return 4;
  if (d == "I64" || d == "U64" || d == "F64") return 8;
  return 0;
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
    const float v = std::ldexp(float(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_float(sign | 0x7F800000u | mant << 13);  // inf / NaN (payload kept)
  return bits_float(sign | (exp - 15 + 127) << 23 | mant << 13);
}

Safetensors Safetensors::read(const std::string& path) {
  if (!file_exists(path)) GPT_FAIL(path, ": no such file; expected a .safetensors file");
  Safetensors st;
  st.path_ = path;
  st.file_ = MappedFile(path);
  const std::string_view b = st.file_.view();
  if (b.size() < 8)
    GPT_FAIL(path, ": truncated: a safetensors file starts with an 8-byte header length, found ", b.size(),
             " bytes");
  const uint64_t n = le64(b.data());
  if (n > b.size() - 8)
    GPT_FAIL(path, ": the header length is ", n, " bytes but only ", b.size() - 8,
             " bytes follow it; the file is truncated or not a safetensors file");
  if (n > kSafetensorsMaxHeader)
    GPT_FAIL(path, ": header of ", n, " bytes is larger than the format's limit of ", kSafetensorsMaxHeader);
  if (n == 0 || b[8] != '{')
    GPT_FAIL(path, ": the header must be a JSON object starting with '{'", n ? ", found byte " : "",
             n ? std::to_string(int(uint8_t(b[8]))) : std::string(""), "; not a safetensors file");
  st.data_start_ = 8 + size_t(n);
  const size_t data_size = b.size() - st.data_start_;
  std::string header_text(size_t(n), '\0');
  st.file_.read_guarded([&] { std::memcpy(&header_text[0], b.data() + 8, size_t(n)); });
  const Json header = Json::parse(header_text, path + ": header");
  if (!header.is_object()) GPT_FAIL(path, ": the header is not a JSON object");

  for (const auto& [name, v] : header.as_object(path + ": header")) {
    if (name == "__metadata__") {
      for (const auto& [k, val] : v.as_object(path + ": __metadata__"))
        st.metadata_.emplace_back(k, val.as_string(path + ": __metadata__ \"" + k + "\" (values are strings)"));
      continue;
    }
    const std::string what = path + ": tensor \"" + name + "\"";
    SafetensorsEntry e;
    e.name = name;
    v.as_object(what);
    const Json* dtype = v.find("dtype");
    const Json* shape = v.find("shape");
    const Json* offsets = v.find("data_offsets");
    if (!dtype || !shape || !offsets) GPT_FAIL(what, ": needs \"dtype\", \"shape\" and \"data_offsets\"");
    e.dtype = dtype->as_string(what + " dtype");
    const size_t esize = safetensors_dtype_size(e.dtype);
    if (esize == 0)
      GPT_FAIL(what, ": unknown dtype \"", e.dtype, "\"; expected one of BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 "
               "BF16 I32 U32 F32 I64 U64 F64");
    unsigned __int128 numel = 1;
    for (const Json& d : shape->as_array(what + " shape")) {
      const int64_t x = d.as_int(what + " shape");
      if (x < 0) GPT_FAIL(what, ": negative dimension ", x, " in its shape");
      e.shape.push_back(x);
      numel *= uint64_t(x);
      if (numel > (unsigned __int128)(data_size)) numel = (unsigned __int128)(data_size) + 1;  // too big anyway
    }
    const auto& off = offsets->as_array(what + " data_offsets");
    if (off.size() != 2) GPT_FAIL(what, ": data_offsets must be [begin, end], found ", off.size(), " numbers");
    const int64_t begin = off[0].as_int(what + " data_offsets"), end = off[1].as_int(what + " data_offsets");
    if (begin < 0 || end < begin)
      GPT_FAIL(what, ": data_offsets [", begin, ", ", end, "] are not a range (need 0 <= begin <= end)");
    if (uint64_t(end) > data_size)
      GPT_FAIL(what, ": data_offsets [", begin, ", ", end, "] run past the data section (", data_size,
               " bytes); the file is truncated or the header is wrong");
    e.begin = size_t(begin);
    e.end = size_t(end);
    const unsigned __int128 want = numel * esize;
    if (want != (unsigned __int128)(e.end - e.begin)) {
      std::string s;
      for (int64_t x : e.shape) s += (s.empty() ? "" : ", ") + std::to_string(x);
      GPT_FAIL(what, ": shape [", s, "] of ", e.dtype, " needs ",
               numel > data_size ? std::string("more than the file's") : std::to_string(uint64_t(want)),
               " bytes, data_offsets [", begin, ", ", end, "] hold ", e.end - e.begin);
    }
    e.numel = size_t(numel);
    st.tensors_.push_back(std::move(e));
  }

  // Every data byte belongs to exactly one tensor: sorted ranges must tile [0, data_size).
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : st.tensors_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  size_t cur = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry* e : order) {
    if (e->begin < cur)
      GPT_FAIL(path, ": tensors \"", prev->name, "\" [", prev->begin, ", ", prev->end, ") and \"", e->name, "\" [",
               e->begin, ", ", e->end, ") overlap; every byte must belong to one tensor");
    if (e->begin > cur)
      GPT_FAIL(path, ": data bytes [", cur, ", ", e->begin, ") belong to no tensor (a hole before \"", e->name,
               "\"); the format forbids holes");
    cur = e->end;
    if (e->end > e->begin) prev = e;
  }
  if (cur != data_size)
    GPT_FAIL(path, ": ", data_size - cur, " bytes after the last tensor's data (", data_size,
             " bytes in the data section, tensors end at ", cur, "); the file is damaged");
  return st;
}

const SafetensorsEntry* Safetensors::find(const std::string& name) const {
  for (const auto& e : tensors_)
    if (e.name == name) return &e;
  return nullptr;
}

void Safetensors::to_float(const SafetensorsEntry& e, float* out) const {
  const char* p = file_.data() + data_start_ + e.begin;
  const size_t numel = e.numel;
  if (e.dtype == "F32") {
    file_.read_guarded([&] { std::memcpy(out, p, numel * sizeof(float)); });
  } else if (e.dtype == "BF16") {
    file_.read_guarded([&] {
      for (size_t i = 0; i < numel; i++) out[i] = bf16_to_float(le16(p + 2 * i));
    });
  } else if (e.dtype == "F16") {
    file_.read_guarded([&] {
      for (size_t i = 0; i < numel; i++) out[i] = f16_to_float(le16(p + 2 * i));
    });
  } else {
    GPT_FAIL(path_, ": tensor \"", e.name, "\" has dtype ", e.dtype,
             "; gpt.cc reads model weights as F32, BF16 or F16");
  }
}

std::string safetensors_bytes(const std::vector<TensorOut>& tensors,
                              const std::vector<std::pair<std::string, std::string>>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json& m = header.set("__metadata__", Json::object());
    for (const auto& [k, v] : metadata) m.set(k, Json::string(v));
  }
  std::vector<size_t> numel;
  size_t off = 0;
  for (const TensorOut& t : tensors) {
    GPT_CHECK(t.name != "__metadata__" && !header.find(t.name), "duplicate tensor name ", t.name);
    Json shape = Json::array();
    size_t n = 1;
    for (int64_t d : t.shape) {
      GPT_CHECK(d >= 0, "negative dimension in ", t.name);
      shape.push(Json::integer(d));
      n *= size_t(d);
    }
    Json entry = Json::object();
    entry.set("dtype", Json::string("F32"));
    entry.set("shape", std::move(shape));
    entry.set("data_offsets", Json::array({Json::integer(int64_t(off)), Json::integer(int64_t(off + 4 * n))}));
    header.set(t.name, std::move(entry));
    numel.push_back(n);
    off += 4 * n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section starts 8-byte aligned
  std::string out;
  out.reserve(8 + text.size() + off);
  const uint64_t n = text.size();
  for (int k = 0; k < 8; k++) out += char((n >> (8 * k)) & 0xFF);
  out += text;
  const size_t data0 = out.size();
  out.resize(data0 + off);
  size_t at = data0;
  for (size_t i = 0; i < tensors.size(); i++) {
    // The destination may be unaligned for float: fill a temporary, then copy.
    std::vector<float> tmp(numel[i]);
    tensors[i].fill(tmp.data());
    std::memcpy(&out[at], tmp.data(), numel[i] * sizeof(float));
    at += numel[i] * sizeof(float);
  }
  return out;
}

}  // namespace gpt
