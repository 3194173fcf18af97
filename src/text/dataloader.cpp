// Token shards in llm.c's format (read, write, validate), the batch loader that
// trains from one shard or llm.c's numbered shards (memory-mapped: the OS pages
// them in, so shards need not fit in memory). `gpt prepare` is in prepare.cpp.
#include "text/dataloader.h"

#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <cstring>
#include <cstdio>
#include <limits>
#include <memory>

#include "check.h"
#include "fileio.h"

namespace gpt {

namespace {

constexpr size_t kHeaderBytes = size_t(kShardHeaderInts) * sizeof(int32_t);
constexpr const char* kRedo = "re-run `gpt prepare` to rewrite it";

// Explicit little-endian, so the format does not depend on the host.
int32_t load_le32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return int32_t(uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24);
}
void store_le32(char* p, int32_t v) {
  const auto u = uint32_t(v);
  for (int k = 0; k < 4; k++) p[k] = char((u >> (8 * k)) & 0xFF);
}

// FNV-1a (64-bit) over the token bytes, never 0 (0 means "none": llm.c's shards).
uint64_t shard_fingerprint(const char* p, size_t n) {
  const uint64_t h = fnv1a(p, n);
  return h ? h : 1;
}

// The fingerprint of a shard without a stored one (llm.c's): its tokens, 8 bytes at a
// time, one multiply and one shift each (as fast as the vocabulary check's pass).
uint64_t content_fingerprint(const uint16_t* tokens, size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(tokens);
  const size_t bytes = n * sizeof(uint16_t);
  uint64_t h = 0x9E3779B97F4A7C15ull ^ uint64_t(bytes), w = 0;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 29;
  }
  w = 0;
  std::memcpy(&w, p + i, bytes - i);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 32;
  return h ? h : 1;
}

// Header bytes 12..19: the content fingerprint gpt prepare writes (0 in llm.c's shards).
uint64_t stored_fingerprint(const char* header) {
  return uint64_t(uint32_t(load_le32(header + 12))) | uint64_t(uint32_t(load_le32(header + 16))) << 32;
}

}  // namespace

namespace {

// Validates a shard's header against its file size; returns the token count.
size_t check_shard(const std::string& path, const char* header, size_t file_size) {
  if (file_size == 0)
    GPT_FAIL(path, ": empty file (0 bytes); expected a token shard with a ", kHeaderBytes,
             "-byte header. It was probably cut short while being written; ", kRedo);
  if (file_size < kHeaderBytes)
    GPT_FAIL(path, ": truncated: expected a ", kHeaderBytes, "-byte header (", kShardHeaderInts,
             " int32), found only ", file_size, " bytes; ", kRedo);
  const int32_t magic = load_le32(header);
  if (magic != kShardMagic)
    GPT_FAIL(path, ": expected magic ", kShardMagic, " (llm.c token shard), found ", magic,
             "; is this a shard written by `gpt prepare`? (Raw text goes to `gpt prepare`, not to training.)");
  const int32_t version = load_le32(header + 4);
  if (version != kShardVersion)
    GPT_FAIL(path, ": unknown shard version: expected ", kShardVersion, " (uint16 tokens), found ", version,
             "; only version 1 (GPT-2-style uint16 tokens) is supported; ", kRedo);
  const int32_t ntok = load_le32(header + 8);
  if (ntok < 0)
    GPT_FAIL(path, ": header token count is negative (", ntok, "); the header is corrupt; ", kRedo);
  const size_t expect = kHeaderBytes + size_t(ntok) * sizeof(uint16_t);
  if (file_size < expect)
    GPT_FAIL(path, ": truncated: the header promises ", ntok, " tokens (", expect, " bytes), found ",
             file_size, " bytes (", (file_size - kHeaderBytes) / 2, " tokens); the file is incomplete; ",
             kRedo);
  if (file_size > expect)
    GPT_FAIL(path, ": extra bytes: the header promises ", ntok, " tokens (", expect, " bytes), found ",
             file_size, " bytes (", file_size - expect,
             " extra); the file is not what its header says; ", kRedo);
  if (ntok == 0)
    GPT_FAIL(path, ": no tokens (header count 0); expected at least 1. The text split was empty: give "
             "`gpt prepare` more text or change --val-fraction (an empty val.bin: `gpt train --eval-every 0` trains "
             "without validation, and `gpt eval --split train` measures the train split)");
  return size_t(ntok);
}

[[noreturn]] void fail_missing_shard(const std::string& path) {
  GPT_FAIL(path, ": no such file; expected a token shard (llm.c format). Run `gpt prepare` to create "
           "train.bin and val.bin, or check the --data path");
}

}  // namespace

std::vector<uint16_t> read_shard(const std::string& path) {
  if (!file_exists(path)) fail_missing_shard(path);
  const std::string bytes = read_file(path);
  const size_t ntok = check_shard(path, bytes.data(), bytes.size());
  std::vector<uint16_t> tokens(ntok);
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data() + kHeaderBytes);
  for (size_t i = 0; i < tokens.size(); i++) tokens[i] = uint16_t(u[2 * i] | (u[2 * i + 1] << 8));
  return tokens;
}

namespace {
// The directories glob(3) could not read, gathered by its error callback (which takes no
// context of its own: one glob at a time per thread).
thread_local std::vector<std::pair<std::string, int>>* t_glob_errors = nullptr;
int note_glob_error(const char* path, int err) {
  if (t_glob_errors) t_glob_errors->emplace_back(path, err);
  return 0;  // go on: every such directory is named below
}
bool has_wildcard(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }
}  // namespace

std::vector<std::string> glob_files(const std::string& pattern, const std::string& flag) {
  std::vector<std::pair<std::string, int>> errors;
  t_glob_errors = &errors;
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, note_glob_error, &g);
  std::vector<std::string> out;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; i++) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  // A directory on the pattern's way this user cannot read: its files would be left out
  // without a word (helper-43: a glob skipped an unreadable subdirectory and trained on half
  // the shards; or it read "no file matches"). glob(3) reports the directories it lists; those
  // it only passes through, and those holding the last part of the pattern, are checked here.
  if (const size_t slash = pattern.rfind('/'); slash != std::string::npos) {
    const std::string dirs = slash == 0 ? "/" : pattern.substr(0, slash);
    const int need = has_wildcard(pattern.substr(slash + 1)) ? R_OK | X_OK : X_OK;
    glob_t d{};
    const int drc = ::glob(dirs.c_str(), GLOB_ONLYDIR, note_glob_error, &d);
    std::vector<std::string> matched;
    if (drc == 0) matched.assign(d.gl_pathv, d.gl_pathv + d.gl_pathc);
    ::globfree(&d);
    t_glob_errors = nullptr;
    for (const std::string& m : matched)
      if (is_directory(m) && ::access(m.c_str(), need) != 0) errors.emplace_back(m, errno);
    if (drc != 0) {
      // (the part before the first wildcard: file_exists names a directory there that cannot be searched)
      std::string fixed = dirs;
      while (has_wildcard(fixed) && fixed != parent_dir(fixed)) fixed = parent_dir(fixed);
      file_exists(fixed);
    }
  }
  t_glob_errors = nullptr;
  if (!errors.empty()) {
    const auto& [dir, err] = errors.front();
    GPT_FAIL(flag, " '", pattern, "': cannot read the directory ", dir, " (", std::strerror(err), "), so ",
             rc == 0 && !out.empty() ? "the files in it that match would be left out" : "the files in it cannot be matched",
             "; ", permission_fix(dir, "rx"), " (read and search permission), or narrow the pattern to leave it "
             "out");
  }
  if (rc == GLOB_NOMATCH || (rc == 0 && out.empty()))
    GPT_FAIL(flag, " '", pattern, "': no file matches; check the directory and the pattern (quote it, e.g. ",
             flag, flag == "--input" ? " 'notes/*.txt'"  // (text, not shards: it named llm.c's shards)
                   : flag.find("val") != std::string::npos ? " 'dir/fineweb_val_*.bin'" : " 'dir/fineweb_train_*.bin'",
             ", so the shell does not expand it)");
  if (rc != 0)
    GPT_FAIL(flag, " '", pattern, "': cannot list the files (", rc == GLOB_ABORTED ? "read error" : "out of memory",
             ")");
  std::sort(out.begin(), out.end());  // byte order, whatever the locale
  // One shard reached twice (a linked directory: 'data*/train.bin' with data2 -> data1)
  // was read twice, its tokens counted twice. (prepare's --input names such a file and
  // reads it once.)
  if (flag != "--input") {
    const std::vector<std::string> earlier = earlier_paths_to_same_file(out);
    for (size_t i = 0; i < out.size(); i++)
      if (!earlier[i].empty())
        GPT_USAGE_FAIL(flag, " '", pattern, "': matches one file twice, as ", earlier[i], " and ", out[i],
                       " (a link?), so its tokens would count twice; narrow the pattern to read each shard once");
  }
  return out;
}

// The tokens as the file stores them (uint16 little-endian): on a little-endian host the
// vector's own bytes (no copy: prepare's shards can be as large as its text), else a
// converted copy in *copy.
std::string_view token_bytes(const std::vector<uint16_t>& tokens, std::string* copy) {
  if constexpr (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
    return std::string_view(reinterpret_cast<const char*>(tokens.data()), 2 * tokens.size());
  } else {
    copy->resize(2 * tokens.size());
    for (size_t i = 0; i < tokens.size(); i++) {
      (*copy)[2 * i] = char(tokens[i] & 0xFF);
      (*copy)[2 * i + 1] = char(tokens[i] >> 8);
    }
    return *copy;
  }
}

std::string split_text_advice() {
  return "Split the text into parts and prepare each into a directory of its own, the first as usual and the "
         "others with the first's tokenizer, so that all share one vocabulary (gpt prepare --input PART1 --out "
         "data1, then gpt prepare --input PART2 --out data2 --tokenizer data1/tokenizer.bin, ...; with --tokenizer "
         "char the first part must hold every character of the others); then train on all of them with gpt train "
         "--data data1 --train-glob 'data*/train.bin' --val-glob 'data*/val.bin' --out RUN";
}

void write_shard(const std::string& path, const std::vector<uint16_t>& tokens) {
  if (tokens.size() > kMaxShardTokens)
    GPT_FAIL(path, ": ", tokens.size(), " tokens do not fit a shard (the header count is int32, at most ",
             kMaxShardTokens, "). ", split_text_advice());
  std::string header(kHeaderBytes, '\0'), copy;
  store_le32(&header[0], kShardMagic);
  store_le32(&header[4], kShardVersion);
  store_le32(&header[8], int32_t(tokens.size()));
  const std::string_view body = token_bytes(tokens, &copy);
  // Header bytes 12..19: the tokens' fingerprint (data/README.md), so data prepared again
  // with the same token count are still told apart (llm.c reads only the first three ints).
  const uint64_t h = shard_fingerprint(body.data(), body.size());
  store_le32(&header[12], int32_t(uint32_t(h & 0xFFFFFFFFu)));
  store_le32(&header[16], int32_t(uint32_t(h >> 32)));
  write_file_atomic(path, {header, body});
}

std::optional<bool> shard_holds(const std::string& path, const std::vector<uint16_t>& tokens) {
  if (!is_regular_file(path)) return std::nullopt;
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = f.tellg();
  std::string header(kHeaderBytes, '\0');
  if (!f || size < std::streamoff(kHeaderBytes) || !f.seekg(0) || !f.read(&header[0], std::streamsize(header.size())))
    return std::nullopt;
  try {
    if (check_shard(path, header.data(), size_t(size)) != tokens.size()) return false;
  } catch (const Error&) {
    return std::nullopt;
  }
  const uint64_t stored = stored_fingerprint(header.data());
  if (stored == 0) return read_shard(path) == tokens;  // no fingerprint (llm.c's, or older): the tokens themselves
  std::string copy;
  const std::string_view body = token_bytes(tokens, &copy);
  return stored == shard_fingerprint(body.data(), body.size());
}

namespace {
// Rank r's random-window stream: rank 0 keeps the seed (single-process runs unchanged).
uint64_t rank_seed(uint64_t seed, int rank) { return rank == 0 ? seed : SplitMix64(seed ^ uint64_t(rank)).next(); }
}  // namespace

DataLoader::DataLoader(const std::vector<std::string>& paths, int B, int T, SamplingMode mode, uint64_t seed,
                       int vocab_size, Partition part)
    : B_(B), T_(T), mode_(mode), part_(part), seed_(seed), rng_(seed_) {
  if (B <= 0 || T <= 0)
    GPT_USAGE_FAIL("batch size and context length must be positive, got --batch ", B, " --context ", T);
  GPT_CHECK(!paths.empty(), "no shards");
  GPT_CHECK(part.world >= 1 && part.rank >= 0 && part.rank < part.world, "rank ", part.rank, " of ", part.world);
  // A sequential batch is B*T tokens (+1 for the last target), whatever the number of
  // processes (each reads whole single-process batches: next_batch); a random row is a
  // window of T+1 tokens anywhere in one shard (windows may overlap, as nanoGPT's do), so
  // a shard needs only one window.
  const bool random = mode == SamplingMode::random;
  const size_t BT = size_t(B) * size_t(T), need = random ? size_t(T) + 1 : BT + 1;
  // FNV-1a over (file name, token count, content fingerprint) of every shard; `legacy`
  // leaves out the fingerprint of shards that store none (llm.c's), as before their
  // tokens were read for one: a checkpoint of then still resumes, unchecked.
  uint64_t id = kFnv1aStart, legacy = kFnv1aStart;
  auto mix = [&](const void* p, size_t n) {
    id = fnv1a(p, n, id);
    legacy = fnv1a(p, n, legacy);
  };
  for (const std::string& path : paths) {
    if (!file_exists(path)) fail_missing_shard(path);
    MappedFile file(path);
    char header[kHeaderBytes] = {};
    if (file.size() > 0)  // an empty file maps nothing (data() is null)
      file.read_guarded([&] { std::memcpy(header, file.data(), std::min(file.size(), sizeof header)); });
    const size_t ntok = check_shard(path, header, file.size());
    const auto* tokens = reinterpret_cast<const uint16_t*>(file.data() + kHeaderBytes);
    if (ntok < need)
      GPT_USAGE_FAIL(path, ": has ", count(ntok, "token"), random ? ", but one window of random sampling needs " :
               ", but one batch needs ",
               random ? str("T+1 = ", need, " (T=", T) : str("B*T+1 = ", need, " (B=", B, ", T=", T),
               paths.size() > 1 ? str("; each of the ", paths.size(), " shards must hold a whole ",
                                      random ? "window" : "batch", " on its own")
                                : std::string(),
               random ? "); use a smaller --context, or more text" : "); use a smaller --batch or --context, or more text",
               path.substr(path.find_last_of('/') + 1).find("val") != std::string::npos  // (the file name)
                   ? " (for val.bin: a larger --val-fraction, or `gpt train --eval-every 0` without validation, or "
                     "`gpt eval --split train`)"
                   : "",
               paths.size() > 1 ? "; several small texts are better prepared together (gpt prepare --input DIR)" : "");
    if (vocab_size > 0) {
      uint16_t maxv = 0;
      size_t at = 0;
      file.read_guarded([&] {
        for (size_t i = 0; i < ntok; i++) maxv = std::max(maxv, tokens[i]);
        if (maxv >= vocab_size)
          while (tokens[at] < vocab_size) at++;
      });
      if (maxv >= vocab_size) {
        GPT_FAIL(path, ": token id ", tokens[at], " at token ", at, " is outside the model's vocabulary 0..",
                 vocab_size - 1, " (the largest id in this shard is ", maxv, "); the data were tokenized with "
                 "another vocabulary than the model's: use data prepared with the model's tokenizer (gpt prepare "
                 "--tokenizer MODEL_OR_RUN), or, for a new training run, the matching --vocab-size (50257 for GPT-2 "
                 "tokens)");
      }
    }
    const size_t slash = path.find_last_of('/');
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    const uint64_t n64 = ntok;
    mix(base.c_str(), base.size() + 1);
    mix(&n64, sizeof n64);
    // The content fingerprint gpt prepare writes; llm.c's shards store none (0), so their
    // tokens are fingerprinted here (helper-48: a shard whose tokens changed, its count
    // not, resumed silently on other data; FineWeb's shards all hold 100M tokens).
    const uint64_t content = stored_fingerprint(header);
    if (content != 0) mix(&content, sizeof content);
    else {
      uint64_t read = 0;
      file.read_guarded([&] { read = content_fingerprint(tokens, ntok); });
      id = fnv1a(&read, sizeof read, id);
    }
    num_tokens_ += ntok;
    const uint64_t prev_b = batch_end_.empty() ? 0 : batch_end_.back();
    const uint64_t prev_w = window_end_.empty() ? 0 : window_end_.back();
    batch_end_.push_back(prev_b + (ntok - 1) / BT);      // sequential: >= 1 (ntok >= B*T+1)
    window_end_.push_back(prev_w + (ntok - size_t(T)));  // window starts 0 .. ntok-T-1
    shards_.push_back(Shard{path, std::move(file), tokens, ntok});
  }
  data_id_ = id ? id : 1;  // 0 means "unknown"
  legacy_id_ = legacy ? legacy : 1;
}

void DataLoader::next_batch(int* inputs, int* targets) {
  // The shards are mapped: each read runs under its shard's SIGBUS guard, so a shard
  // truncated under us is a gpt::Error naming it, not a crash.
  const size_t BT = size_t(B_) * size_t(T_);
  if (mode_ == SamplingMode::sequential) {
    // llm.c: one contiguous block of B*T+1 tokens, rows back to back, shard by shard.
    // With N processes, rank r reads the single-process batches k*N + r: inside a shard
    // that is llm.c's split (rows rB..(r+1)B of a block of N*B*T tokens), and where a
    // shard or a pass ends inside a block the batches go on into the next shard as one
    // process's do, so N ranks always read what one process with --grad-accum N reads
    // (helper-47: llm.c's blocks skipped the batches left at a shard's end, and the runs
    // parted there).
    const uint64_t j = (batch_index_ + uint64_t(part_.rank)) % batch_end_.back();
    const size_t s = size_t(std::upper_bound(batch_end_.begin(), batch_end_.end(), j) - batch_end_.begin());
    const uint64_t local = j - (s ? batch_end_[s - 1] : 0);
    const uint16_t* p = shards_[s].tokens + local * BT;
    shards_[s].file.read_guarded([&] {
      for (size_t i = 0; i < BT; i++) {
        inputs[i] = p[i];
        targets[i] = p[i + 1];
      }
    });
  } else {
    // nanoGPT: each row an independent window; its start is uniform over all shards' windows.
    // Every rank keeps rank 0's stream (the single-process one, which the checkpoint saves);
    // rank r > 0 draws its rows from a stream keyed by that one's state at this batch and
    // r, then moves the shared stream on as rank 0 does. So each rank's windows follow
    // from the saved state alone, and a resume on any number of ranks is exact (a stream
    // of its own per rank continued from rank 0's state, not its own, after a resume).
    SplitMix64 own(rank_seed(rng_.state, part_.rank));
    SplitMix64& draw = part_.rank == 0 ? rng_ : own;
    for (int b = 0; b < B_; b++) {
      if (part_.rank != 0) rng_.next();
      const uint64_t u = draw.below(window_end_.back());
      const size_t s = size_t(std::upper_bound(window_end_.begin(), window_end_.end(), u) - window_end_.begin());
      const uint16_t* p = shards_[s].tokens + (u - (s ? window_end_[s - 1] : 0));
      int* in = inputs + size_t(b) * size_t(T_);
      int* tg = targets + size_t(b) * size_t(T_);
      shards_[s].file.read_guarded([&] {
        for (int t = 0; t < T_; t++) {
          in[t] = p[t];
          tg[t] = p[t + 1];
        }
      });
    }
  }
  batch_index_ += uint64_t(part_.world);  // (single-process batches: every rank drew one)
}

void DataLoader::reset() {
  batch_index_ = 0;
  rng_.state = seed_;
}

uint64_t DataLoader::position_for_batch(uint64_t index, int saved_batch) const {
  if (mode_ != SamplingMode::sequential || saved_batch <= 0 || saved_batch == B_) return index;
  // Single-process batch counts per shard (cumulative) for a batch of `rows` rows.
  auto ends = [&](int rows) {
    std::vector<uint64_t> e;
    const uint64_t bt = uint64_t(rows) * uint64_t(T_);
    for (const Shard& sh : shards_) e.push_back((e.empty() ? 0 : e.back()) + (uint64_t(sh.n) - 1) / bt);
    return e;
  };
  const std::vector<uint64_t> old_end = ends(saved_batch), new_end = ends(B_);
  if (old_end.back() == 0) return 0;  // (the saved batch never fitted these data)
  const uint64_t pass = index / old_end.back(), j = index % old_end.back();
  const size_t s = size_t(std::upper_bound(old_end.begin(), old_end.end(), j) - old_end.begin());
  const uint64_t token = (j - (s ? old_end[s - 1] : 0)) * uint64_t(saved_batch) * uint64_t(T_);
  const uint64_t new_bt = uint64_t(B_) * uint64_t(T_);
  const uint64_t first = s ? new_end[s - 1] : 0, in_shard = (token + new_bt - 1) / new_bt;
  // Past this shard's last whole new batch: the next shard's first (or the next pass's).
  const uint64_t at = std::min(first + in_shard, new_end[s]);
  return pass * new_end.back() + at;
}

void DataLoader::set_state(const LoaderState& s, int saved_batch) {
  if (s.data_id != 0 && !holds(s.data_id))
    GPT_FAIL("the saved data position belongs to other data (", s.data_tokens, " tokens, fingerprint ",
             s.data_id, "); the training data given now are ", num_tokens_, " tokens in ",
             count(shards_.size(), "shard"), " starting with ", shards_[0].path, " (fingerprint ", data_id_,
             "). Resume with the same --data / --train-glob the run was started with, holding the same shards: a "
             "data directory prepared again since holds other shards (put the old ones back, or start a new run "
             "from this one's weights with --init RUN)");
  batch_index_ = position_for_batch(s.batch_index, saved_batch);
  rng_.state = s.rng_state;  // rank 0's stream on every rank (next_batch)
}

}  // namespace gpt
