// The timing table of `gpt train --profile` (backend_profile.h). Every entry of the
// Backend table is replaced by Timed<signature>::call<S, &Backend::entry, id>, a plain
// function (the table holds function pointers, not closures) that times the inner
// table's entry; the list below names them all, and building the table checks that no
// entry was left unwrapped.
#include "backend_profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "check.h"

namespace gpt {
namespace {

bool g_enabled = false, g_active = false;
// The tables profiled, one per inner table (cpu and cuda, fp32 and bf16): the wrappers
// of table K call g_inner[K].
constexpr int kTables = 4;
const Backend<float>* g_inner[kTables] = {};

enum Entry {
  kSum, kSumSquares, kEncoderForward, kEncoderBackward, kRopeForward, kRopeBackward, kLayernormForward,
  kResidualLayernormForward, kLayernormBackward, kMatmulForward, kMatmulBackward, kMatmulGeluForward,
  kMatmulGeluBackward, kToBf16, kMatmulDecodeBf16w, kAttentionForward, kAttentionBackward, kKvCacheWrite,
  kAttentionDecode, kGeluForward, kGeluBackward, kResidualForward, kResidualBackward, kDropoutForward,
  kDropoutBackward, kCrossentropyForward, kCrossentropyBackwardInplace, kCrossentropyFused, kAdamwUpdate, kMemZero,
  kMemCopy, kMemToHost, kMemToDevice, kEntries
};
struct Slot {
  const char* name = "";
  size_t calls = 0;
  double seconds = 0;
};
Slot g_slots[kEntries];

// One call: wait for what came before, time the call and the wait for it.
class Scope {
 public:
  Scope(const Backend<float>& inner, int id) : inner_(inner), id_(id) {
    inner_.mem.synchronize();
    t0_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    inner_.mem.synchronize();
    Slot& s = g_slots[id_];
    s.calls++;
    s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const Backend<float>& inner_;
  int id_;
  std::chrono::steady_clock::time_point t0_;
};

template <class Fp>
struct Timed;
template <class R, class... A>
struct Timed<R (*)(A...)> {
  template <int K, auto M, int Id>
  static R call(A... a) {
    const Backend<float>& in = *g_inner[K];
    if (!g_active) return (in.*M)(a...);
    Scope s(in, Id);
    return (in.*M)(a...);
  }
  template <int K, auto M, int Id>
  static R mem(A... a) {
    const Backend<float>& in = *g_inner[K];
    if (!g_active) return (in.mem.*M)(a...);
    Scope s(in, Id);
    return (in.mem.*M)(a...);
  }
};

template <int K>
Backend<float> make_profiled() {
  Backend<float> t = *g_inner[K];
#define GPT_TIMED(field, id)                                                              \
  t.field = Timed<decltype(t.field)>::template call<K, &Backend<float>::field, id>; \
  g_slots[id].name = #field
  GPT_TIMED(sum, kSum);
  GPT_TIMED(sum_squares, kSumSquares);
  GPT_TIMED(encoder_forward, kEncoderForward);
  GPT_TIMED(encoder_backward, kEncoderBackward);
  GPT_TIMED(rope_forward, kRopeForward);
  GPT_TIMED(rope_backward, kRopeBackward);
  GPT_TIMED(layernorm_forward, kLayernormForward);
  GPT_TIMED(residual_layernorm_forward, kResidualLayernormForward);
  GPT_TIMED(layernorm_backward, kLayernormBackward);
  GPT_TIMED(matmul_forward, kMatmulForward);
  GPT_TIMED(matmul_backward, kMatmulBackward);
  GPT_TIMED(matmul_gelu_forward, kMatmulGeluForward);
  GPT_TIMED(matmul_gelu_backward, kMatmulGeluBackward);
  GPT_TIMED(to_bf16, kToBf16);
  GPT_TIMED(matmul_decode_bf16w, kMatmulDecodeBf16w);
  GPT_TIMED(attention_forward, kAttentionForward);
  GPT_TIMED(attention_backward, kAttentionBackward);
  GPT_TIMED(kv_cache_write, kKvCacheWrite);
  GPT_TIMED(attention_decode, kAttentionDecode);
  GPT_TIMED(gelu_forward, kGeluForward);
  GPT_TIMED(gelu_backward, kGeluBackward);
  GPT_TIMED(residual_forward, kResidualForward);
  GPT_TIMED(residual_backward, kResidualBackward);
  GPT_TIMED(dropout_forward, kDropoutForward);
  GPT_TIMED(dropout_backward, kDropoutBackward);
  GPT_TIMED(crossentropy_forward, kCrossentropyForward);
  GPT_TIMED(crossentropy_backward_inplace, kCrossentropyBackwardInplace);
  GPT_TIMED(crossentropy_fused, kCrossentropyFused);
  GPT_TIMED(adamw_update, kAdamwUpdate);
#undef GPT_TIMED
#define GPT_TIMED_MEM(field, id)                                                               \
  t.mem.field = Timed<decltype(t.mem.field)>::template mem<K, &DeviceMemory::field, id>; \
  g_slots[id].name = "mem." #field
  GPT_TIMED_MEM(zero, kMemZero);
  GPT_TIMED_MEM(copy, kMemCopy);
  GPT_TIMED_MEM(to_host, kMemToHost);
  GPT_TIMED_MEM(to_device, kMemToDevice);
#undef GPT_TIMED_MEM
  // Every layer entry is wrapped (a new entry in backend.h must be added above).
  const void* const* p = reinterpret_cast<const void* const*>(&t.sum);
  const void* const* q = reinterpret_cast<const void* const*>(&g_inner[K]->sum);
  const void* const* end = reinterpret_cast<const void* const*>(&t + 1);
  for (; p < end; p++, q++) GPT_CHECK(*p != *q, "backend_profile.cpp: a backend entry is not timed");
  return t;
}

}  // namespace

void enable_backend_profile(bool on) {
  g_enabled = on;
  if (!on) g_active = false;
}
bool backend_profile_enabled() { return g_enabled; }
void set_backend_profile_active(bool on) {
  if (on)  // what came before is not counted
    for (const Backend<float>* b : g_inner)
      if (b) b->mem.synchronize();
  g_active = on;
}

const Backend<float>& profiled_backend(const Backend<float>& inner) {
  static Backend<float> tables[kTables];
  for (int k = 0; k < kTables; k++) {
    if (g_inner[k] == &inner) return tables[k];
    if (g_inner[k]) continue;
    g_inner[k] = &inner;
    switch (k) {
      case 0: tables[k] = make_profiled<0>(); break;
      case 1: tables[k] = make_profiled<1>(); break;
      case 2: tables[k] = make_profiled<2>(); break;
      default: tables[k] = make_profiled<3>(); break;
    }
    return tables[k];
  }
  GPT_FAIL("--profile: more than ", kTables, " backend tables asked for");
}

std::vector<ProfileRow> backend_profile_rows() {
  std::vector<ProfileRow> rows;
  for (const Slot& s : g_slots)
    if (s.calls) rows.push_back({s.name, s.calls, s.seconds});
  std::stable_sort(rows.begin(), rows.end(), [](const ProfileRow& a, const ProfileRow& b) { return a.seconds > b.seconds; });
  return rows;
}

void reset_backend_profile() {
  for (Slot& s : g_slots) s.calls = 0, s.seconds = 0;
}

std::string format_backend_profile(double wall_seconds, long steps, const std::string& device) {
  const std::vector<ProfileRow> rows = backend_profile_rows();
  const double per = steps > 0 ? 1e3 / double(steps) : 0.0;
  std::string out = "profile (--profile): " + count(steps, "step") + ", " + device +
                    "; each backend call waited for before and after (on a GPU ~10 us a call more than a plain run)\n";
  char line[160];
  std::snprintf(line, sizeof line, "  %-28s %8s %10s %10s %7s\n", "entry", "calls", "total ms", "ms/step", "share");
  out += line;
  double total = 0;
  for (const ProfileRow& r : rows) {
    total += r.seconds;
    std::snprintf(line, sizeof line, "  %-28s %8zu %10.1f %10.2f %6.1f%%\n", r.entry.c_str(), r.calls, r.seconds * 1e3,
                  r.seconds * per, wall_seconds > 0 ? 100.0 * r.seconds / wall_seconds : 0.0);
    out += line;
  }
  const double other = std::max(0.0, wall_seconds - total);
  std::snprintf(line, sizeof line, "  %-28s %8s %10.1f %10.2f %6.1f%%\n", "(outside the backend)", "", other * 1e3,
                other * per, wall_seconds > 0 ? 100.0 * other / wall_seconds : 0.0);
  out += line;
  return out;
}

}  // namespace gpt
