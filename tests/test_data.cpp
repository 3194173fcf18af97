// Token shards (format, round trip, every rejection), the DataLoader (llm.c's
// sequential order, nanoGPT-style random windows, exact resume) and `gpt prepare`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <map>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "text/dataloader.h"
#include "fileio.h"
#include "run_dir.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace gpt {
namespace {

using test::expect_error;

void put_le32(std::string& bytes, size_t at, int32_t v) {
  for (int k = 0; k < 4; k++) bytes[at + size_t(k)] = char((uint32_t(v) >> (8 * k)) & 0xFF);
}

std::vector<uint16_t> iota_tokens(size_t n) {  // token i == i: positions are visible in batches
  std::vector<uint16_t> t(n);
  for (size_t i = 0; i < n; i++) t[i] = uint16_t(i);
  return t;
}

std::string write_tmp_shard(const std::vector<uint16_t>& tokens, const char* name = "s.bin") {
  const std::string path = join_path(test::scratch_dir(), name);
  write_shard(path, tokens);
  return path;
}

// ---------------------------------------------------------------- shards

TEST(Shard, RoundTripAndLayout) {
  const std::string dir = test::scratch_dir();
  const std::string path = join_path(dir, "tokens.bin");
  std::vector<uint16_t> tokens = {0, 1, 255, 256, 65535, 12345, 7};
  write_shard(path, tokens);
  EXPECT_EQ(read_shard(path), tokens);

  // Byte layout, independently of read_shard: 256 int32 LE header, then uint16 LE.
  const std::string bytes = read_file(path);
  ASSERT_EQ(bytes.size(), 1024u + 2 * tokens.size());
  auto u = [&](size_t i) { return uint32_t(static_cast<unsigned char>(bytes[i])); };
  auto le32 = [&](size_t i) { return u(i) | u(i + 1) << 8 | u(i + 2) << 16 | u(i + 3) << 24; };
  EXPECT_EQ(le32(0), 20240520u);
  EXPECT_EQ(le32(4), 1u);
  EXPECT_EQ(le32(8), uint32_t(tokens.size()));
  // Bytes 12..19: FNV-1a (64-bit) of the token bytes (data/README.md), computed here.
  uint64_t fnv = 1469598103934665603ull;
  for (size_t i = 1024; i < bytes.size(); i++) fnv = (fnv ^ u(i)) * 1099511628211ull;
  EXPECT_EQ(uint64_t(le32(12)) | uint64_t(le32(16)) << 32, fnv);
  for (size_t i = 20; i < 1024; i++) EXPECT_EQ(bytes[i], 0) << "header byte " << i;
  EXPECT_EQ(u(1024 + 8) | u(1024 + 9) << 8, 65535u);

  // Overwrite in place (atomic rename) and re-read.
  auto big = iota_tokens(5000);
  write_shard(path, big);
  EXPECT_EQ(read_shard(path), big);
}

TEST(Shard, RejectsWrongMagic) {
  const std::string path = write_tmp_shard(iota_tokens(10));
  std::string bytes = read_file(path);
  put_le32(bytes, 0, 12345);
  write_file_atomic(path, bytes);
  expect_error([&] { read_shard(path); }, {path, "magic", "20240520", "found 12345", "gpt prepare"});
  // Plain text passed where a shard is expected.
  write_file_atomic(path, std::string(2000, 'x'));
  expect_error([&] { read_shard(path); }, {path, "magic"});
}

TEST(Shard, RejectsWrongVersion) {
  const std::string path = write_tmp_shard(iota_tokens(10));
  std::string bytes = read_file(path);
  put_le32(bytes, 4, 2);
  write_file_atomic(path, bytes);
  expect_error([&] { read_shard(path); }, {path, "version", "expected 1", "found 2"});
}

TEST(Shard, RejectsTruncation) {
  const std::string path = write_tmp_shard(iota_tokens(10));
  std::string bytes = read_file(path);
  write_file_atomic(path, bytes.substr(0, bytes.size() - 1));
  expect_error([&] { read_shard(path); }, {path, "truncated", "10 tokens"});
  write_file_atomic(path, bytes.substr(0, 100));  // inside the header
  expect_error([&] { read_shard(path); }, {path, "truncated", "header", "100 bytes"});
}

TEST(Shard, RejectsExtraBytes) {
  const std::string path = write_tmp_shard(iota_tokens(10));
  write_file_atomic(path, read_file(path) + "ab");
  expect_error([&] { read_shard(path); }, {path, "extra bytes", "found 1046 bytes"});
}

TEST(Shard, RejectsEmptyMissingZeroAndNegative) {
  const std::string dir = test::scratch_dir();
  const std::string empty = join_path(dir, "empty.bin");
  write_file_atomic(empty, "");
  expect_error([&] { read_shard(empty); }, {empty, "empty"});

  const std::string missing = join_path(dir, "missing.bin");
  expect_error([&] { read_shard(missing); }, {missing, "no such file", "gpt prepare"});

  const std::string zero = join_path(dir, "zero.bin");
  write_shard(zero, {});
  expect_error([&] { read_shard(zero); }, {zero, "no tokens"});

  const std::string neg = join_path(dir, "neg.bin");
  write_shard(neg, iota_tokens(4));
  std::string bytes = read_file(neg);
  put_le32(bytes, 8, -4);
  write_file_atomic(neg, bytes);
  expect_error([&] { read_shard(neg); }, {neg, "negative"});
}

// ---------------------------------------------------------------- loader

struct Batch {
  std::vector<int> x, y;
  bool operator==(const Batch& o) const { return x == o.x && y == o.y; }
};

Batch draw(DataLoader& dl, int B, int T) {
  Batch b{std::vector<int>(size_t(B * T)), std::vector<int>(size_t(B * T))};
  dl.next_batch(b.x.data(), b.y.data());
  return b;
}

std::vector<Batch> draw_n(DataLoader& dl, int B, int T, int n) {
  std::vector<Batch> out;
  for (int i = 0; i < n; i++) out.push_back(draw(dl, B, T));
  return out;
}

// llm.c's dataloader_next_batch / dataloader_advance_ for a single shard, rewritten
// from its source: read B*T+1 tokens at current_position, then advance by B*T and
// go back to 0 when the next read would run past the end.
std::vector<Batch> llmc_reference(const std::vector<uint16_t>& tokens, int B, int T, int n) {
  const size_t BT = size_t(B * T);
  size_t pos = 0;
  std::vector<Batch> out;
  for (int k = 0; k < n; k++) {
    Batch b{std::vector<int>(BT), std::vector<int>(BT)};
    for (size_t i = 0; i < BT; i++) {
      b.x[i] = tokens[pos + i];
      b.y[i] = tokens[pos + i + 1];
    }
    out.push_back(b);
    pos += BT;
    if (pos + BT + 1 > tokens.size()) pos = 0;
  }
  return out;
}

TEST(DataLoader, SequentialMatchesLlmcOrderWithWrap) {
  struct Case {
    size_t n;
    int B, T;
  };
  // 100 tokens / 16 per batch: 6 batches a pass, tail of 3 skipped; exact fit
  // (n = B*T+1: every batch is the same); n = 2*B*T+1 (two batches, no waste).
  for (const Case& c : {Case{100, 2, 8}, Case{17, 2, 8}, Case{33, 4, 4}, Case{1000, 3, 7}}) {
    SCOPED_TRACE(c.n);
    const auto tokens = iota_tokens(c.n);
    const std::string path = write_tmp_shard(tokens);
    DataLoader dl(path, c.B, c.T, SamplingMode::sequential, 42);
    EXPECT_EQ(dl.num_tokens(), c.n);
    EXPECT_EQ(dl.path(), path);
    const int nb = 3 * int((c.n - 1) / size_t(c.B * c.T)) + 2;  // three passes and a bit
    const auto got = draw_n(dl, c.B, c.T, nb);
    const auto want = llmc_reference(tokens, c.B, c.T, nb);
    for (int k = 0; k < nb; k++) EXPECT_TRUE(got[size_t(k)] == want[size_t(k)]) << "batch " << k;
    EXPECT_EQ(dl.state().batch_index, uint64_t(nb));
  }
  // Spelled out once: B=2, T=8, 100 tokens -> batch 6 wraps back to 0; row 1 starts at T.
  const std::string path = write_tmp_shard(iota_tokens(100));
  DataLoader dl(path, 2, 8, SamplingMode::sequential, 0);
  auto b = draw_n(dl, 2, 8, 7);
  EXPECT_EQ(b[0].x[0], 0);
  EXPECT_EQ(b[0].x[8], 8);
  EXPECT_EQ(b[0].y[15], 16);
  EXPECT_EQ(b[5].x[0], 80);
  EXPECT_EQ(b[5].y[15], 96);
  EXPECT_EQ(b[6].x[0], 0);
}

// Several processes: in sequential mode ranks 0 and 1 of 2, each with batch B, read
// together exactly what one process with batch 2B reads (llm.c's split: rank r takes
// rows [r*B, (r+1)*B) of every block); in random mode rank 0 is the single-process
// stream and rank 1 a different one.
TEST(DataLoader, PartitionSplitsEachGlobalBatchAcrossRanks) {
  const std::string path = write_tmp_shard(iota_tokens(300));
  const int B = 2, T = 8;
  DataLoader one(path, 2 * B, T, SamplingMode::sequential, 1);
  DataLoader r0(path, B, T, SamplingMode::sequential, 1, 0, Partition{0, 2});
  DataLoader r1(path, B, T, SamplingMode::sequential, 1, 0, Partition{1, 2});
  for (int k = 0; k < 12; k++) {  // several passes (9 global batches of 33 tokens each fit)
    const Batch g = draw(one, 2 * B, T), a = draw(r0, B, T), b = draw(r1, B, T);
    std::vector<int> x(a.x), y(a.y);
    x.insert(x.end(), b.x.begin(), b.x.end());
    y.insert(y.end(), b.y.begin(), b.y.end());
    EXPECT_EQ(x, g.x) << "batch " << k;
    EXPECT_EQ(y, g.y) << "batch " << k;
  }
  DataLoader s(path, B, T, SamplingMode::random, 5), q0(path, B, T, SamplingMode::random, 5, 0, Partition{0, 2}),
      q1(path, B, T, SamplingMode::random, 5, 0, Partition{1, 2});
  bool differs = false;
  for (int k = 0; k < 5; k++) {
    const Batch a = draw(s, B, T), b = draw(q0, B, T), c = draw(q1, B, T);
    EXPECT_EQ(a.x, b.x);
    differs = differs || c.x != a.x;
  }
  EXPECT_TRUE(differs);
  // A shard too short for one batch names the formula that gives the figure, and no
  // val.bin advice for a training shard. (Each rank reads whole single-process batches,
  // so one batch is enough whatever the number of processes.)
  try {
    DataLoader(path, 40, 8, SamplingMode::sequential, 1, 0, Partition{1, 2});
    ADD_FAILURE() << "not refused";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.code, kExitUsage);
    EXPECT_NE(m.find("has 300 tokens, but one batch needs B*T+1 = 321 (B=40, T=8)"), std::string::npos) << m;
    EXPECT_EQ(m.find("val.bin"), std::string::npos) << m;
  }
}

// helper-48: llm.c's shards store no fingerprint of their tokens (header bytes 12..19 are
// 0), and the data fingerprint a checkpoint keeps was of their names and token counts
// only: a shard whose tokens changed, its count not (FineWeb's all hold 100M), resumed
// on other data without a word. Their tokens are fingerprinted now; a position saved
// before (names and counts, computed here as that build did) still resumes.
TEST(DataLoader, ShardsWithoutAStoredFingerprintAreToldApartByTheirTokens) {
  const std::string dir = test::scratch_dir();
  const std::vector<std::string> paths = {join_path(dir, "t_000000.bin"), join_path(dir, "t_000001.bin")};
  auto write_llmc = [](const std::string& path, const std::vector<uint16_t>& tokens) {
    write_shard(path, tokens);
    std::string bytes = read_file(path);
    std::fill(bytes.begin() + 12, bytes.begin() + 20, '\0');  // as llm.c writes it
    write_file_atomic(path, bytes);
  };
  std::vector<uint16_t> a = iota_tokens(200), b = iota_tokens(150);
  write_llmc(paths[0], a);
  write_llmc(paths[1], b);
  DataLoader first(paths, 2, 4, SamplingMode::sequential, 1);
  draw(first, 2, 4);
  const LoaderState saved = first.state();
  DataLoader same(paths, 2, 4, SamplingMode::sequential, 1);
  same.set_state(saved);  // the same tokens: resumes
  std::swap(a[10], a[11]);  // the same count, other tokens
  write_llmc(paths[0], a);
  DataLoader changed(paths, 2, 4, SamplingMode::sequential, 1);
  expect_error([&] { changed.set_state(saved); }, {"the saved data position belongs to other data"});
  // A position saved by the build before: names and counts alone.
  uint64_t legacy = kFnv1aStart;
  for (const auto& [name, n] : {std::pair<std::string, uint64_t>{"t_000000.bin", 200}, {"t_000001.bin", 150}}) {
    legacy = fnv1a(name.c_str(), name.size() + 1, legacy);
    legacy = fnv1a(&n, sizeof n, legacy);
  }
  LoaderState old = saved;
  old.data_id = legacy;
  changed.set_state(old);
  EXPECT_TRUE(changed.holds(legacy));
  EXPECT_FALSE(changed.holds(saved.data_id));
}

// helper-47: N sequential ranks read what one process with --grad-accum N reads (its
// batches k*N .. k*N+N-1 at step k) only until a shard or a pass ended inside a block of
// N batches: llm.c's blocks skipped the batches left there, and the runs' losses parted
// at the first wrap (a 2-rank run and its 1-process twin from step 4183 of Shakespeare).
// Here shards of 5 and 3 batches (odd, so blocks of 2 and 3 cut them), over several
// passes, and the position each saves resumes on another number of processes.
TEST(DataLoader, RanksReadWhatOneProcessWithGradAccumReadsAcrossShardEndsAndPasses) {
  const int B = 2, T = 4;
  std::vector<uint16_t> a = iota_tokens(5 * B * T + 3), b(3 * B * T + 1);
  for (size_t i = 0; i < b.size(); i++) b[i] = uint16_t(1000 + i);
  const std::string dir = test::scratch_dir();
  const std::vector<std::string> paths = {join_path(dir, "a.bin"), join_path(dir, "b.bin")};
  write_shard(paths[0], a);
  write_shard(paths[1], b);
  for (int world : {2, 3}) {
    SCOPED_TRACE("world " + std::to_string(world));
    DataLoader one(paths, B, T, SamplingMode::sequential, 1);
    std::vector<DataLoader> ranks;
    ranks.reserve(size_t(world));
    for (int r = 0; r < world; r++) ranks.emplace_back(paths, B, T, SamplingMode::sequential, 1, 0, Partition{r, world});
    for (int step = 0; step < 11; step++)  // 8 batches a pass: past three passes
      for (int r = 0; r < world; r++) {
        const Batch want = draw(one, B, T), got = draw(ranks[size_t(r)], B, T);
        ASSERT_EQ(got.x, want.x) << "step " << step << " rank " << r;
        ASSERT_EQ(got.y, want.y) << "step " << step << " rank " << r;
      }
    EXPECT_EQ(ranks[0].state().batch_index, one.state().batch_index);
    // The position resumes on one process, and on another number of ranks, at the same batch.
    DataLoader again(paths, B, T, SamplingMode::sequential, 1), other(paths, B, T, SamplingMode::sequential, 1, 0,
                                                                     Partition{1, 5 - world});
    again.set_state(ranks[0].state());
    other.set_state(ranks[0].state());
    const Batch next = draw(one, B, T), next2 = draw(one, B, T);
    EXPECT_EQ(draw(again, B, T).x, next.x);
    EXPECT_EQ(draw(other, B, T).x, next2.x);  // (rank 1 of the new count: the second batch)
  }
}

TEST(DataLoader, RandomWindowsAreShiftedAndInRange) {
  const size_t n = 20;
  const int B = 4, T = 4;
  const std::string path = write_tmp_shard(iota_tokens(n));
  DataLoader dl(path, B, T, SamplingMode::random, 7);
  std::vector<int> hits(n, 0);
  for (int k = 0; k < 200; k++) {
    Batch b = draw(dl, B, T);
    for (int r = 0; r < B; r++) {
      const int start = b.x[size_t(r * T)];
      ASSERT_GE(start, 0);
      ASSERT_LE(start, int(n) - T - 1);  // window + target inside the shard
      hits[size_t(start)]++;
      for (int t = 0; t < T; t++) {
        EXPECT_EQ(b.x[size_t(r * T + t)], start + t);  // contiguous window
        EXPECT_EQ(b.y[size_t(r * T + t)], start + t + 1);  // targets = inputs shifted by one
      }
    }
  }
  // 800 draws over 16 offsets: every offset, both ends included, shows up.
  for (size_t s = 0; s + size_t(T) + 1 <= n; s++) EXPECT_GT(hits[s], 0) << "offset " << s;
}

// Random windows need T+1 tokens, not a whole batch (nanoGPT's rule): a shard shorter
// than B*T+1 was refused although every window fits (a small text could not train with
// the default --batch, and a one-process run on it could not resume on two), while a
// shard shorter than T+1 is refused naming T+1, and sequential still needs B*T+1.
TEST(DataLoader, RandomWindowsNeedOneWindowNotOneBatch) {
  const int B = 8, T = 6;
  const std::string path = write_tmp_shard(iota_tokens(10));  // < B*T+1 = 49, >= T+1 = 7
  for (int world : {1, 2}) {
    DataLoader dl(path, B, T, SamplingMode::random, 3, 0, Partition{world - 1, world});
    for (int k = 0; k < 20; k++) {
      const Batch b = draw(dl, B, T);
      for (int r = 0; r < B; r++) {
        const int start = b.x[size_t(r * T)];
        ASSERT_GE(start, 0);
        ASSERT_LE(start, 10 - T - 1);
        for (int t = 0; t < T; t++) EXPECT_EQ(b.y[size_t(r * T + t)], start + t + 1);
      }
    }
  }
  expect_error([&] { DataLoader(path, B, T, SamplingMode::sequential, 3); }, {path, "B*T+1 = 49"}, kExitUsage);
  expect_error([&] { DataLoader(path, 1, 10, SamplingMode::random, 3); },
               {path, "10 tokens", "one window of random sampling needs T+1 = 11 (T=10)", "smaller --context"},
               kExitUsage);
}

TEST(DataLoader, SameSeedSameBatches) {
  const std::string path = write_tmp_shard(iota_tokens(500));
  DataLoader a(path, 3, 5, SamplingMode::random, 1234), b(path, 3, 5, SamplingMode::random, 1234),
      c(path, 3, 5, SamplingMode::random, 1235);
  const auto ba = draw_n(a, 3, 5, 20), bb = draw_n(b, 3, 5, 20), bc = draw_n(c, 3, 5, 20);
  EXPECT_TRUE(ba == bb);
  EXPECT_FALSE(ba == bc);
  a.reset();
  EXPECT_TRUE(draw_n(a, 3, 5, 20) == ba);
}

TEST(DataLoader, ResumeGivesIdenticalBatches) {
  const std::string path = write_tmp_shard(iota_tokens(300));
  const int B = 2, T = 16;  // 9 sequential batches per pass
  for (SamplingMode mode : {SamplingMode::sequential, SamplingMode::random}) {
    for (int k : {0, 1, 5, 9, 13, 40}) {  // before, at and after wraps
      SCOPED_TRACE(std::to_string(int(mode)) + " after " + std::to_string(k));
      DataLoader a(path, B, T, mode, 99);
      draw_n(a, B, T, k);
      const LoaderState s = a.state();
      EXPECT_EQ(s.batch_index, uint64_t(k));
      const auto want = draw_n(a, B, T, 25);

      DataLoader b(path, B, T, mode, 5);  // a different seed: the state must carry everything
      draw_n(b, B, T, 3);
      b.set_state(s);
      EXPECT_TRUE(draw_n(b, B, T, 25) == want);

      b.reset();  // reset() returns to b's own seed, batch 0
      DataLoader c(path, B, T, mode, 5);
      EXPECT_TRUE(draw_n(b, B, T, 12) == draw_n(c, B, T, 12));
    }
  }
}

// helper-19: under mpirun in random mode a resume on the same number of ranks changed the
// losses: the checkpoint held rank 0's stream, and rank r > 0 continued from a stream
// derived from it instead of its own. Every rank's next batches after set_state must be
// those it would have drawn without the interruption; and ranks still draw different rows.
TEST(DataLoader, EveryRankResumesItsRandomWindowsExactly) {
  const std::string path = write_tmp_shard(iota_tokens(400));
  const int B = 2, T = 8;
  for (int world : {1, 2, 3})
    for (int k : {0, 1, 7}) {
      std::vector<std::vector<Batch>> next;
      next.resize(size_t(world));
      for (int rank = 0; rank < world; rank++) {
        SCOPED_TRACE("rank " + std::to_string(rank) + " of " + std::to_string(world) + " after " + std::to_string(k));
        DataLoader a(path, B, T, SamplingMode::random, 42, 0, Partition{rank, world});
        draw_n(a, B, T, k);
        const LoaderState s = a.state();
        next[size_t(rank)] = draw_n(a, B, T, 6);
        DataLoader b(path, B, T, SamplingMode::random, 7, 0, Partition{rank, world});
        b.set_state(s);
        EXPECT_TRUE(draw_n(b, B, T, 6) == next[size_t(rank)]);
      }
      for (int rank = 1; rank < world; rank++) EXPECT_FALSE(next[size_t(rank)] == next[0]) << rank;
    }
  // Rank 0 keeps the single-process stream (a one-process run is unchanged by the ranks).
  DataLoader one(path, B, T, SamplingMode::random, 42), r0(path, B, T, SamplingMode::random, 42, 0, Partition{0, 2});
  EXPECT_TRUE(draw_n(one, B, T, 5) == draw_n(r0, B, T, 5));
}

TEST(DataLoader, RejectsShardTooSmallAndBadShapes) {
  const std::string path = write_tmp_shard(iota_tokens(16));
  // A setting that cannot work with these data: exit 2, as README says of impossible settings (helper-16: was 1).
  expect_error([&] { DataLoader(path, 2, 8, SamplingMode::sequential, 0); }, {path, "16 tokens", "B*T+1 = 17"},
               kExitUsage);
  DataLoader windows(path, 2, 8, SamplingMode::random, 0);  // random: one window of T+1 = 9 is enough
  expect_error([&] { DataLoader(path, 2, 16, SamplingMode::random, 0); }, {path, "T+1 = 17", "--context"}, kExitUsage);
  DataLoader ok(path, 3, 5, SamplingMode::sequential, 0);  // 16 = 3*5+1: fits exactly
  expect_error([&] { DataLoader(path, 0, 8, SamplingMode::random, 0); }, {"positive"}, kExitUsage);
  expect_error([&] { DataLoader(path, 2, -1, SamplingMode::random, 0); }, {"positive"}, kExitUsage);
  const std::string missing = path + ".nope";
  expect_error([&] { DataLoader(missing, 2, 2, SamplingMode::random, 0); }, {missing, "no such file"});
}

// ---------------------------------------------------------------- several shards

// Shard s holds tokens s*1000 + i, so every token names its shard and position.
std::vector<std::string> write_shards(const std::string& dir, const std::vector<size_t>& sizes,
                                      const std::string& stem = "data_train_") {
  std::vector<std::string> paths;
  for (size_t s = 0; s < sizes.size(); s++) {
    std::vector<uint16_t> t(sizes[s]);
    for (size_t i = 0; i < t.size(); i++) t[i] = uint16_t(s * 1000 + i);
    char name[64];
    std::snprintf(name, sizeof name, "%s%06zu.bin", stem.c_str(), s);
    paths.push_back(join_path(dir, name));
    write_shard(paths.back(), t);
  }
  return paths;
}

// llm.c's multi-shard order, rewritten from dataloader_next_batch / dataloader_advance_:
// read B*T+1 tokens at the current position, advance by B*T, and move to the next
// shard (after the last: the first) when the next read would run past the end.
std::vector<Batch> llmc_multi_reference(const std::vector<std::vector<uint16_t>>& shards, int B, int T, int n) {
  const size_t BT = size_t(B * T);
  size_t shard = 0, pos = 0;
  std::vector<Batch> out;
  for (int k = 0; k < n; k++) {
    const auto& tok = shards[shard];
    Batch b{std::vector<int>(BT), std::vector<int>(BT)};
    for (size_t i = 0; i < BT; i++) {
      b.x[i] = tok[pos + i];
      b.y[i] = tok[pos + i + 1];
    }
    out.push_back(b);
    pos += BT;
    if (pos + BT + 1 > tok.size()) {
      shard = (shard + 1) % shards.size();
      pos = 0;
    }
  }
  return out;
}

// Whether a shard holds given tokens, from its header's count and fingerprint (prepare's
// note that it replaced other shards); a shard without a fingerprint (llm.c's) is read.
TEST(Shards, HoldsTellsTokensApartByTheHeaderAndReadsShardsWithoutAFingerprint) {
  const std::string dir = test::scratch_dir(), path = join_path(dir, "s.bin");
  const std::vector<uint16_t> a = {1, 2, 3, 4}, b = {1, 2, 4, 3}, c = {1, 2, 3};
  EXPECT_FALSE(shard_holds(path, a).has_value());  // missing
  write_shard(path, a);
  EXPECT_EQ(shard_holds(path, a), std::optional<bool>(true));
  EXPECT_EQ(shard_holds(path, b), std::optional<bool>(false));  // same count, other tokens
  EXPECT_EQ(shard_holds(path, c), std::optional<bool>(false));
  std::string bytes = read_file(path);
  std::fill(bytes.begin() + 12, bytes.begin() + 20, '\0');  // as llm.c writes it
  write_file_atomic(path, bytes);
  EXPECT_EQ(shard_holds(path, a), std::optional<bool>(true));
  EXPECT_EQ(shard_holds(path, b), std::optional<bool>(false));
  write_file_atomic(path, bytes.substr(0, bytes.size() - 1));  // cut short: not a shard
  EXPECT_FALSE(shard_holds(path, a).has_value());
  EXPECT_FALSE(shard_holds(dir, a).has_value());  // a directory
}

TEST(Shards, SequentialFollowsLlmcOrderAcrossShards) {
  const std::string dir = test::scratch_dir();
  // B*T = 16: 2, 1 (exactly B*T+1 tokens) and 6 batches a shard; 9 a pass.
  const auto paths = write_shards(dir, {40, 17, 100});
  std::vector<std::vector<uint16_t>> tokens;
  for (const auto& p : paths) tokens.push_back(read_shard(p));
  DataLoader dl(paths, 2, 8, SamplingMode::sequential, 1);
  EXPECT_EQ(dl.num_shards(), 3u);
  EXPECT_EQ(dl.num_tokens(), 157u);
  EXPECT_EQ(dl.batches_per_pass(), 9u);
  const auto got = draw_n(dl, 2, 8, 30);
  const auto want = llmc_multi_reference(tokens, 2, 8, 30);
  for (size_t k = 0; k < got.size(); k++) EXPECT_TRUE(got[k] == want[k]) << "batch " << k;
  // Spelled out: batch 2 is shard 1's only batch, batch 3 starts shard 2, batch 9 wraps.
  EXPECT_EQ(got[1].x[0], 16);
  EXPECT_EQ(got[2].x[0], 1000);
  EXPECT_EQ(got[2].y[15], 1016);
  EXPECT_EQ(got[3].x[0], 2000);
  EXPECT_EQ(got[8].x[0], 2080);
  EXPECT_EQ(got[9].x[0], 0);
}

TEST(Shards, RandomWindowsStayInsideOneShardAndCoverThemAll) {
  const std::string dir = test::scratch_dir();
  const int B = 2, T = 4;  // every shard holds at least one batch (B*T+1 = 9 tokens)
  const std::vector<size_t> sizes = {9, 30, 12};  // 5, 26 and 8 window starts
  const auto paths = write_shards(dir, sizes);
  DataLoader dl(paths, B, T, SamplingMode::random, 3);
  std::map<int, int> hits;
  int per_shard[3] = {};
  const int draws = 2000;
  for (int k = 0; k < draws / B; k++) {
    Batch b = draw(dl, B, T);
    for (int r = 0; r < B; r++) {
      const int start = b.x[size_t(r * T)], shard = start / 1000, off = start % 1000;
      ASSERT_LE(size_t(off + T), sizes[size_t(shard)] - 1) << "window runs past its shard";
      for (int t = 0; t < T; t++) {
        ASSERT_EQ(b.x[size_t(r * T + t)], start + t);
        ASSERT_EQ(b.y[size_t(r * T + t)], start + t + 1);
      }
      hits[start]++;
      per_shard[shard]++;
    }
  }
  EXPECT_EQ(hits.size(), 5u + 26u + 8u);  // every window of every shard, both ends included
  // Uniform over windows: shard s gets about windows_s / 39 of the draws (binomial, 5 sigma).
  const double windows[3] = {5, 26, 8};
  for (int s = 0; s < 3; s++) {
    const double p = windows[s] / 39.0, mean = draws * p, sd = std::sqrt(draws * p * (1 - p));
    EXPECT_NEAR(per_shard[s], mean, 5 * sd) << "shard " << s;
  }
}

TEST(Shards, ResumeAcrossAShardBoundaryIsExact) {
  const std::string dir = test::scratch_dir();
  const auto paths = write_shards(dir, {40, 17, 100});
  for (SamplingMode mode : {SamplingMode::sequential, SamplingMode::random}) {
    for (int k : {1, 2, 3, 8, 9, 10, 20}) {  // around the boundaries (after 2, 3 and 9 batches)
      SCOPED_TRACE(std::to_string(int(mode)) + " after " + std::to_string(k));
      DataLoader a(paths, 2, 8, mode, 99);
      draw_n(a, 2, 8, k);
      const LoaderState s = a.state();
      EXPECT_EQ(s.data_tokens, 157u);
      EXPECT_NE(s.data_id, 0u);
      const auto want = draw_n(a, 2, 8, 12);
      DataLoader b(paths, 2, 8, mode, 7);
      b.set_state(s);
      EXPECT_TRUE(draw_n(b, 2, 8, 12) == want);
    }
  }
}

// helper-15: a sequential run resumed with another --batch continued at the saved batch
// index times the new batch's size, so it re-read or skipped data without a word. The
// next batch must start where the uninterrupted run's would have (same shard, same
// pass), rounded up to the new batch's grid: nothing read twice, less than one new batch
// skipped; or, when no new batch fits there, at the next shard's start.
TEST(Shards, ResumeWithAnotherBatchContinuesAtTheSameToken) {
  const std::string dir = test::scratch_dir();
  const std::vector<size_t> sizes = {60, 30, 100};
  const auto paths = write_shards(dir, sizes);
  const int T = 8;
  for (int old_b : {2, 3, 1})
    for (int new_b : {1, 2, 3})
      for (int k : {0, 1, 2, 3, 4, 5, 9, 10, 11, 23, 37}) {
        SCOPED_TRACE("batch " + std::to_string(old_b) + " -> " + std::to_string(new_b) + " after " +
                     std::to_string(k));
        DataLoader a(paths, old_b, T, SamplingMode::sequential, 1);
        draw_n(a, old_b, T, k);
        const LoaderState s = a.state();
        const int next_old = draw(a, old_b, T).x[0];  // what the run would have read next
        const size_t shard = size_t(next_old / 1000), on = size_t(next_old % 1000);
        DataLoader b(paths, new_b, T, SamplingMode::sequential, 1);
        b.set_state(s, old_b);
        const int got = draw(b, new_b, T).x[0];
        const size_t s2 = size_t(got / 1000), o2 = size_t(got % 1000), bt = size_t(new_b * T);
        ASSERT_EQ(o2 % bt, 0u) << got;
        const size_t aligned = (on + bt - 1) / bt * bt;
        if (aligned + bt + 1 <= sizes[shard]) {
          EXPECT_EQ(s2, shard) << got;
          EXPECT_EQ(o2, aligned) << got;
        } else {
          EXPECT_EQ(s2, (shard + 1) % sizes.size()) << got;
          EXPECT_EQ(o2, 0u) << got;
        }
        // The same batch: nothing changes (the saved index as it is).
        DataLoader c(paths, old_b, T, SamplingMode::sequential, 1);
        c.set_state(s, old_b);
        EXPECT_EQ(draw(c, old_b, T).x[0], next_old);
      }
}

TEST(Shards, StateFromOtherDataIsRefused) {
  const std::string dir = test::scratch_dir();
  const auto three = write_shards(dir, {40, 17, 100});
  DataLoader a(three, 2, 8, SamplingMode::sequential, 1);
  draw_n(a, 2, 8, 4);
  const LoaderState s = a.state();
  DataLoader two(std::vector<std::string>{three[0], three[2]}, 2, 8, SamplingMode::sequential, 1);
  expect_error([&] { two.set_state(s); }, {"other data", "157 tokens", "140 tokens in 2 shards", "--train-glob"});
  // A state without a fingerprint (version 1 checkpoints) is taken as it is.
  LoaderState old = s;
  old.data_id = 0;
  two.set_state(old);
  EXPECT_EQ(two.state().batch_index, 4u);
}

TEST(Shards, GlobIsSortedAndNoMatchIsAnError) {
  const std::string dir = test::scratch_dir();
  // Written out of order; glob gives them sorted.
  write_shards(dir, {20}, "fw_train_2_");
  write_shards(dir, {20}, "fw_train_0_");
  write_shards(dir, {20}, "fw_val_");
  write_shards(dir, {20}, "fw_train_1_");
  const auto got = glob_files(join_path(dir, "fw_train_*.bin"), "--train-glob");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], join_path(dir, "fw_train_0_000000.bin"));
  EXPECT_EQ(got[1], join_path(dir, "fw_train_1_000000.bin"));
  EXPECT_EQ(got[2], join_path(dir, "fw_train_2_000000.bin"));
  const std::string pat = join_path(dir, "fineweb_train_*.bin");
  expect_error([&] { glob_files(pat, "--train-glob"); }, {"--train-glob", pat, "no file matches",
                                                        "'dir/fineweb_train_*.bin'"});
  // The example fits the flag (--val-glob was shown a train pattern; helper-21).
  expect_error([&] { glob_files(pat, "--val-glob"); }, {"--val-glob 'dir/fineweb_val_*.bin'"});
  // helper-40: one shard reached twice through a linked directory was read twice.
  make_dirs(join_path(dir, "d1"));
  write_file_atomic(join_path(dir, "d1/train.bin"), "x");
  ASSERT_EQ(::symlink("d1", join_path(dir, "d2").c_str()), 0);
  const std::string twice = join_path(dir, "d*/train.bin");
  expect_error([&] { glob_files(twice, "--train-glob"); },
               {"matches one file twice, as " + join_path(dir, "d1/train.bin") + " and " + join_path(dir, "d2/train.bin")},
               kExitUsage);
  EXPECT_EQ(glob_files(twice, "--input").size(), 2u);  // (prepare names and skips the second itself)
}

TEST(Shards, TokenIdsAtOrAboveTheVocabularyAreRefused) {
  const std::string dir = test::scratch_dir();
  const auto paths = write_shards(dir, {40, 60});  // shard 1 holds ids 1000..1059
  DataLoader ok(paths, 2, 8, SamplingMode::random, 1, 1060);
  expect_error([&] { DataLoader(paths, 2, 8, SamplingMode::random, 1, 1059); },
               {paths[1], "token id 1059 at token 59", "0..1058", "--vocab-size"});
  expect_error([&] { DataLoader(paths, 2, 8, SamplingMode::random, 1, 1000); }, {paths[1], "token id 1000 at token 0"});
  // And every shard needs one batch: the small one is named.
  const auto small = write_shards(dir, {40, 10}, "small_");
  expect_error([&] { DataLoader(small, 2, 8, SamplingMode::sequential, 1); },
               {small[1], "10 tokens", "B*T+1 = 17", "each of the 2 shards must hold a whole batch", "--input DIR"},
               kExitUsage);
}

// ---------------------------------------------------------------- prepare

std::string small_text() {
  std::string s;
  for (int i = 0; i < 40; i++)
    s += "Line " + std::to_string(i) + ": caf\xC3\xA9 na\xC3\xAFve \xE2\x80\x94 \xE2\x9C\x93 \xF0\x9D\x84\x9E\n";
  return s;
}

size_t count_code_points(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string decode_shard(const Tokenizer& tok, const std::string& path) {
  const auto t = read_shard(path);
  return tok.decode(std::vector<int>(t.begin(), t.end()));
}

TEST(Prepare, EveryCharacterLandsInTrainOrVal) {
  const std::string dir = test::scratch_dir();
  const std::string input = join_path(dir, "input.txt"), out = join_path(dir, "out/nested");
  const std::string text = small_text();
  write_file_atomic(input, text);
  const size_t nchars = count_code_points(text);
  for (double vf : {0.1, 0.25, 0.5, 0.013}) {
    SCOPED_TRACE(vf);
    const std::string summary = prepare_data(input, out, "char", vf);
    auto tok = Tokenizer::load_dir(out);
    EXPECT_EQ(tok->kind(), "char");
    const std::string train = decode_shard(*tok, join_path(out, "train.bin"));
    const std::string val = decode_shard(*tok, join_path(out, "val.bin"));
    EXPECT_EQ(train + val, text);
    const double nval = double(count_code_points(val));
    EXPECT_LE(std::fabs(nval - vf * double(nchars)), 1.0);
    EXPECT_EQ(count_code_points(train) + count_code_points(val), nchars);
    EXPECT_NE(summary.find("vocab size " + std::to_string(tok->vocab_size())), std::string::npos) << summary;
    EXPECT_NE(summary.find(join_path(out, "train.bin")), std::string::npos) << summary;
    EXPECT_EQ(summary.find("WARNING"), std::string::npos) << summary;
  }
}

// A text too small for one batch of `gpt train`'s defaults was prepared without a word,
// and train then refused it: the summary says so now, with the numbers.
TEST(Prepare, SplitsSmallerThanADefaultBatchAreNamed) {
  const std::string dir = test::scratch_dir();
  const std::string input = join_path(dir, "input.txt");
  const GPTConfig md;
  const TrainConfig td;
  const size_t need = size_t(td.batch) * size_t(md.max_seq_len) + 1;
  write_file_atomic(input, std::string(need + 100, 'a'));  // train below a batch, val too
  std::string summary = prepare_data(input, dir, "char", 0.5);
  EXPECT_NE(summary.find("train.bin's " + std::to_string((need + 100) / 2) + " tokens are fewer than one batch"),
            std::string::npos) << summary;
  EXPECT_NE(summary.find("(B*T+1 = " + std::to_string(td.batch) + "*" + std::to_string(md.max_seq_len) + "+1 = " +
                         std::to_string(need) + ")"), std::string::npos) << summary;
  EXPECT_NE(summary.find("val.bin's"), std::string::npos) << summary;
  write_file_atomic(input, std::string(3 * need, 'a'));  // both hold a batch
  summary = prepare_data(input, dir, "char", 0.4);
  EXPECT_EQ(summary.find("fewer than one batch"), std::string::npos) << summary;
  // Shorter than one window of the default context: that is what random sampling needs.
  write_file_atomic(input, std::string(size_t(md.max_seq_len), 'a'));
  summary = prepare_data(input, dir, "char", 0.5);
  EXPECT_NE(summary.find("fewer than one window of `gpt train`'s default --context (T+1 = " +
                         std::to_string(md.max_seq_len) + "+1 = " + std::to_string(md.max_seq_len + 1) + ")"),
            std::string::npos) << summary;
  EXPECT_NE(summary.find("val.bin's " + std::to_string(md.max_seq_len / 2) + " tokens are fewer than one window"),
            std::string::npos) << summary;
}

// A byte-order mark and CRLF line endings became tokens without a word.
TEST(Prepare, AByteOrderMarkAndWindowsLineEndingsAreNamed) {
  const std::string dir = test::scratch_dir();
  write_file_atomic(join_path(dir, "bom.txt"), "\xEF\xBB\xBFhello\nworld\n");
  write_file_atomic(join_path(dir, "crlf.txt"), "hello\r\nworld\r\n");
  write_file_atomic(join_path(dir, "plain.txt"), "hello\rworld\n");  // a lone \r is no CRLF
  std::string summary = prepare_data(join_path(dir, "bom.txt"), join_path(dir, "a"), "char", 0.1);
  EXPECT_NE(summary.find("Note: " + join_path(dir, "bom.txt") + " starts with a byte-order mark (U+FEFF)"),
            std::string::npos) << summary;
  EXPECT_EQ(summary.find("Windows line endings"), std::string::npos) << summary;
  summary = prepare_data(join_path(dir, "crlf.txt"), join_path(dir, "b"), "char", 0.1);
  EXPECT_NE(summary.find("Note: " + join_path(dir, "crlf.txt") + " has Windows line endings (\\r\\n)"),
            std::string::npos) << summary;
  summary = prepare_data(join_path(dir, "plain.txt"), join_path(dir, "c"), "char", 0.1);
  EXPECT_EQ(summary.find("Windows line endings"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("byte-order mark"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("classic Mac OS"), std::string::npos) << summary;
  // Line endings of \r alone, and no \n: the model's line break is \r (no note said so).
  write_file_atomic(join_path(dir, "mac.txt"), "hello\rworld\r");
  summary = prepare_data(join_path(dir, "mac.txt"), join_path(dir, "d"), "char", 0.1);
  EXPECT_NE(summary.find("Note: " + join_path(dir, "mac.txt") + " has line endings of \\r alone (classic Mac OS)"),
            std::string::npos) << summary;
  EXPECT_NE(summary.find("tr '\\r' '\\n'"), std::string::npos) << summary;
}

TEST(Prepare, TinyValSplitIsWrittenWithAWarning) {
  const std::string dir = test::scratch_dir();
  const std::string input = join_path(dir, "input.txt");
  write_file_atomic(input, "abcdefgh");
  const std::string summary = prepare_data(input, dir, "char", 0.0);
  EXPECT_NE(summary.find("WARNING"), std::string::npos) << summary;
  EXPECT_NE(summary.find("val.bin"), std::string::npos) << summary;
  EXPECT_EQ(read_shard(join_path(dir, "train.bin")).size(), 8u);
  expect_error([&] { read_shard(join_path(dir, "val.bin")); }, {"no tokens"});
}

TEST(Prepare, BadArgumentsAreUsageErrors) {
  const std::string dir = test::scratch_dir();
  const std::string input = join_path(dir, "input.txt");
  write_file_atomic(input, small_text());
  expect_error([&] { prepare_data(input, dir, "bpe9", 0.1); }, {"bpe9", "char, bpe, unigram"}, kExitUsage);
  expect_error([&] { prepare_data(input, dir, "char", 0.1, 512); }, {"--vocab-size", "bpe and unigram"}, kExitUsage);
  for (int v : {259, 65537})
    expect_error([&] { prepare_data(input, dir, "bpe", 0.1, v); }, {"--vocab-size", "65536"}, kExitUsage);
  for (double vf : {-0.1, 0.51, 1.0, std::numeric_limits<double>::quiet_NaN()})
    expect_error([&] { prepare_data(input, dir, "char", vf); }, {"val-fraction", "[0, 0.5]"}, kExitUsage);
  // (helper-39: "got 0.5", the range's own end)
  expect_error([&] { prepare_data(input, dir, "char", 0.5000001); }, {"got 0.5000001"}, kExitUsage);
  EXPECT_FALSE(file_exists(join_path(dir, "train.bin")));  // nothing written on a usage error
}

TEST(Prepare, BadInputFilesAreErrors) {
  const std::string dir = test::scratch_dir();
  const std::string missing = join_path(dir, "missing.txt");
  // (scripts/get_data.sh is advice for Tiny Shakespeare only: it was given for any file.)
  try {
    prepare_data(missing, dir, "char", 0.1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing + ": no such file"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("get_data.sh"), std::string::npos) << e.what();
  }
  const std::string shakespeare = join_path(dir, "tinyshakespeare.txt");
  expect_error([&] { prepare_data(shakespeare, dir, "char", 0.1); }, {shakespeare, "no such file", "get_data.sh"});
  const std::string empty = join_path(dir, "empty.txt");
  write_file_atomic(empty, "");
  expect_error([&] { prepare_data(empty, dir, "char", 0.1); }, {empty, "empty"});
  const std::string latin1 = join_path(dir, "latin1.txt");
  write_file_atomic(latin1, "caf\xE9 au lait");
  expect_error([&] { prepare_data(latin1, dir, "char", 0.1); }, {latin1, "UTF-8", "byte offset 3"});
  // Binary files got the Latin-1 advice (iconv); they are named for what they are.
  const std::string gz = join_path(dir, "text.gz");
  write_file_atomic(gz, std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48", 12));
  expect_error([&] { prepare_data(gz, dir, "char", 0.1); }, {gz, "gzip-compressed", "zcat"});
  const std::string bin = join_path(dir, "program");
  write_file_atomic(bin, std::string("\x7f" "ELF\x02\x01\x01\x00\x00\x00\xff", 11));
  expect_error([&] { prepare_data(bin, dir, "char", 0.1); }, {bin, "a program (ELF)"});
  // A device that never ends was read until memory ran out ("try a smaller --batch");
  // a pipe is read to its end (--input <(zcat text.gz)).
  expect_error([&] { prepare_data("/dev/zero", dir, "char", 0.1); }, {"/dev/zero", "a device, not a file", "pipe"});
  const std::string fifo = join_path(dir, "fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::thread writer([&] { std::ofstream(fifo) << "piped text, piped text\n"; });
  prepare_data(fifo, join_path(dir, "piped"), "char", 0.1);
  writer.join();
  EXPECT_EQ(read_shard(join_path(dir, "piped/train.bin")).size() + read_shard(join_path(dir, "piped/val.bin")).size(),
            23u);  // every character of the text
}

// UTF-16 text was "binary data (it holds NUL bytes)" to prepare, and a directory's
// UTF-16 file was skipped with Latin-1 advice (which turns it into text full of NULs):
// each is named as UTF-16 (or UTF-32), with the conversion that works.
TEST(Prepare, Utf16AndUtf32TextIsNamedWithItsConversion) {
  const std::string dir = test::scratch_dir();
  struct Case {
    std::string name, bytes, what, iconv;
  };
  const std::vector<Case> cases = {
      {"le.txt", std::string("\xFF\xFEh\0i\0\n\0", 8), "UTF-16 text (little-endian", "iconv -f utf-16 -t utf-8"},
      {"be.txt", std::string("\xFE\xFF\0h\0i\0\n", 8), "UTF-16 text (big-endian", "iconv -f utf-16 -t utf-8"},
      {"nobom.txt", std::string("h\0i\0 \0t\0h\0e\0r\0e\0\n\0", 18), "UTF-16 text", "iconv -f utf-16le -t utf-8"},
      {"nobom_be.txt", std::string("\0h\0i\0 \0t\0h\0e\0r\0e\0\n", 18), "UTF-16 text", "iconv -f utf-16be -t utf-8"},
      // "It’s here.\n": one character in 11 is not ASCII (’ is 19 20); it was "binary data".
      {"quote.txt", std::string("I\0t\0\x19\x20s\0 \0h\0e\0r\0e\0.\0\n\0", 20), "UTF-16 text (little-endian, "
       "without", "iconv -f utf-16le -t utf-8"},
      // UTF-8 text cut inside its last character (as `head -c` leaves it): the Latin-1 advice
      // would garble its other characters.
      {"cut.txt", "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C", "text cut off inside its last character (its first 9 bytes",
       "truncate -s 9 FILE"},
      {"le32.txt", std::string("\xFF\xFE\0\0h\0\0\0", 8), "UTF-32 text (little-endian", "iconv -f utf-32 -t utf-8"},
      {"be32.txt", std::string("\0\0\xFE\xFF\0\0\0h", 8), "UTF-32 text (big-endian", "iconv -f utf-32 -t utf-8"},
  };
  make_dirs(join_path(dir, "mixed"));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = join_path(dir, c.name);
    write_file_atomic(path, c.bytes);
    if (c.name == "le.txt" || c.name == "nobom.txt" || c.name == "cut.txt")
      write_file_atomic(join_path(dir, "mixed/" + c.name), c.bytes);
    try {
      prepare_data(path, join_path(dir, "out"), "char", 0.1);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string m = e.what();
      for (const std::string& n : {path, c.what, c.iconv}) EXPECT_NE(m.find(n), std::string::npos) << n << " in: " << m;
      EXPECT_EQ(m.find("binary data"), std::string::npos) << m;
      EXPECT_EQ(m.find("latin1"), std::string::npos) << m;
    }
  }
  // In a directory: skipped, each named as what it is, with no Latin-1 advice while no
  // file is text in another encoding; a gzip file gets the words prepare gives it alone.
  write_file_atomic(join_path(dir, "mixed/text.gz"),
                    std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48", 12));
  write_file_atomic(join_path(dir, "mixed/ok.txt"), "plain text\n");
  std::string summary = prepare_data(join_path(dir, "mixed"), join_path(dir, "out"), "char", 0.1);
  for (const char* n : {"le.txt is UTF-16 text (little-endian", "iconv -f utf-16 -t utf-8",
                        "nobom.txt is UTF-16 text", "iconv -f utf-16le -t utf-8", "text.gz is gzip-compressed data",
                        "zcat", "cut.txt is text cut off inside its last character", "truncate -s 9 FILE"})
    EXPECT_NE(summary.find(n), std::string::npos) << n << " in: " << summary;
  EXPECT_EQ(summary.find("latin1"), std::string::npos) << summary;
  write_file_atomic(join_path(dir, "mixed/latin1.txt"), "caf\xE9\n");
  summary = prepare_data(join_path(dir, "mixed"), join_path(dir, "out"), "char", 0.1);
  EXPECT_NE(summary.find("iconv -f latin1 -t utf-8"), std::string::npos) << summary;
  // Clean UTF-8 text is text whatever its first bytes: it was refused as a PDF or bzip2.
  for (const char* start : {"%PDF-1.4 is the header of a PDF file.\n", "BZh is how bzip2 data begins.\n"}) {
    write_file_atomic(join_path(dir, "starts.txt"), std::string(start) + "and more text after it\n");
    EXPECT_NO_THROW(prepare_data(join_path(dir, "starts.txt"), join_path(dir, "out2"), "char", 0.1)) << start;
  }
}

// helper-35: Latin-1 text whose only byte above 127 is its last ("Caf\xE9", é at the end
// of a file without a final newline) was "UTF-8 text cut off inside its last character",
// with advice to truncate the é away. Without a character of several bytes before it,
// the Latin-1 advice stands; with one, the cut-off diagnosis does.
// helper-39: UTF-8 text with one stray byte was told to convert from Latin-1 (`iconv -f
// latin1`), which garbles every other accented character; it is named as UTF-8 with that
// byte now, and the command given drops it alone.
TEST(Prepare, UtfEightTextWithAStrayByteIsNotSentToLatinOne) {
  const std::string dir = test::scratch_dir(), in = join_path(dir, "in.txt");
  std::string text;
  for (int i = 0; i < 50; i++) text += "caf\xC3\xA9 na\xC3\xAFve \xE2\x9C\x93\n";
  const size_t at = text.size() / 2;
  text.insert(at, "\xFF");
  write_file_atomic(in, text);
  expect_error([&] { prepare_data(in, join_path(dir, "d"), "char", 0.1); },
               {in, "UTF-8 text but for 1 byte that is not (the first at byte offset " + std::to_string(at) + ", 0xFF",
                "iconv -f utf-8 -t utf-8 -c"});
  try {
    prepare_data(in, join_path(dir, "d"), "char", 0.1);
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("latin1"), std::string::npos) << e.what();
  }
  // Latin-1 text keeps its advice.
  write_file_atomic(in, "caf\xE9 na\xEFve\n");
  expect_error([&] { prepare_data(in, join_path(dir, "d"), "char", 0.1); }, {in, "latin1"});
}

TEST(Prepare, LatinOneTextEndingInItsOnlyAccentIsNotCalledCutOffUtf8) {
  const std::string dir = test::scratch_dir();
  for (const std::string& text : {std::string("Caf\xE9"), std::string("na\xEFve text, then Caf\xE9")}) {
    const std::string path = join_path(dir, "latin1.txt");
    write_file_atomic(path, text);
    try {
      prepare_data(path, join_path(dir, "out"), "char", 0.1);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("iconv -f latin1 -t utf-8"), std::string::npos) << m;
      EXPECT_EQ(m.find("cut off inside its last character"), std::string::npos) << m;
      EXPECT_EQ(m.find("truncate"), std::string::npos) << m;
    }
  }
  // UTF-8 before it, or a lead byte and its continuation at the end (helper-36): cut off.
  for (const auto& [text, size] : {std::pair<std::string, int>{"caf\xC3\xA9 \xC3", 6}, {"the fox\xE2\x80", 7}}) {
    write_file_atomic(join_path(dir, "cut.txt"), text);
    try {
      prepare_data(join_path(dir, "cut.txt"), join_path(dir, "out"), "char", 0.1);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("truncate -s " + std::to_string(size) + " FILE"), std::string::npos)
          << e.what();
    }
  }
}

// ---------------------------------------------------------------- prepare: many files

std::vector<int> shard_ids(const std::string& path) {
  const auto t = read_shard(path);
  return std::vector<int>(t.begin(), t.end());
}

// The split the tests expect for one file's characters (char tokenizer): its last
// round(f * n) characters go to val. Worked out here from the text, not by prepare.
std::pair<std::string, std::string> char_split(const std::string& text, double f) {
  std::vector<size_t> starts;  // byte offset of every character
  for (size_t i = 0; i < text.size(); i++)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  const size_t nval = size_t(std::llround(f * double(starts.size())));
  const size_t cut = nval == 0 ? text.size() : starts[starts.size() - nval];
  return {text.substr(0, cut), text.substr(cut)};
}

TEST(Prepare, ADirectoryIsReadFileByFileAndEachFileIsSplitOnItsOwn) {
  const std::string dir = test::scratch_dir(), notes = join_path(dir, "notes");
  make_dirs(join_path(notes, "sub"));
  make_dirs(join_path(notes, ".git"));
  const std::string a = "Alpha line one\nalpha line two, no newline at the end";
  const std::string b = "Beta: caf\xC3\xA9 \xE2\x9C\x93 na\xC3\xAFve\nbeta again\n";
  write_file_atomic(join_path(notes, "a.txt"), a);
  write_file_atomic(join_path(notes, "sub/b.md"), b);
  write_file_atomic(join_path(notes, ".git/config"), "Zzz hidden\n");             // skipped: hidden
  write_file_atomic(join_path(notes, "img.png"), std::string("\x89PNG\r\n\x1a\n\0\0", 10));  // not text
  write_file_atomic(join_path(notes, "latin1.txt"), "caf\xE9\n");              // not UTF-8
  write_file_atomic(join_path(notes, "empty.txt"), "");
  // Paths that cannot be read are named, not passed over in silence: a broken link, and
  // a directory whose path is longer than PATH_MAX (17 names of 250 bytes).
  ASSERT_EQ(symlink("nowhere.txt", join_path(notes, "gone.txt").c_str()), 0);
  {
    int fd = ::open(notes.c_str(), O_RDONLY | O_DIRECTORY);
    const std::string name(250, 'd');
    for (int i = 0; i < 17 && fd >= 0; i++) {
      ASSERT_EQ(::mkdirat(fd, name.c_str(), 0755), 0);
      const int next = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY);
      ::close(fd);
      fd = next;
    }
    ASSERT_GE(fd, 0);
    const int f = ::openat(fd, "deep.txt", O_WRONLY | O_CREAT, 0644);
    ASSERT_EQ(::write(f, "deep text\n", 10), 10);
    ::close(f);
    ::close(fd);
  }
  const std::string out = join_path(notes, "data");  // inside the input: never read back
  for (int round = 0; round < 2; round++) {
    SCOPED_TRACE(round);
    const std::string summary = prepare_data(notes, out, "char", 0.2);
    auto tok = Tokenizer::load_dir(out);
    // a.txt comes first (byte order of paths: "a.txt" < "img.png" < "sub/b.md"). Each
    // file gives its own last 20% of its own text to val. A part that ends mid-line is
    // followed by a newline before the next file's part: two here, a.txt's train part and
    // its val part (which ends without one, as a.txt does). The summary counts both, and
    // the files' own characters and bytes only (it counted a newline added to a.txt as
    // a.txt's text, in its val part, and said "1 newline token").
    const auto [a_train, a_val] = char_split(a, 0.2);
    const auto [b_train, b_val] = char_split(b, 0.2);
    ASSERT_NE(a_train.back(), '\n');
    ASSERT_NE(a_val.back(), '\n');
    EXPECT_EQ(decode_shard(*tok, join_path(out, "train.bin")), a_train + "\n" + b_train);
    EXPECT_EQ(decode_shard(*tok, join_path(out, "val.bin")), a_val + "\n" + b_val);
    size_t chars = 0;
    for (char c : a + b) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    ASSERT_LT(chars, a.size() + b.size());
    const std::string sizes = ": " + std::to_string(chars) + " characters (" + std::to_string(a.size() + b.size()) +
                              " bytes)";
    EXPECT_NE(summary.find(sizes), std::string::npos) << sizes << " in: " << summary;
    for (const char* want : {"(2 files, each split on its own, 2 newline tokens between their parts)", "img.png",
                             "latin1.txt", "iconv",
                             "1 empty file:", "empty.txt", "Could not read 2 paths: ", "gone.txt (a broken link)",
                             "ddd (File name too long)"})
      EXPECT_NE(summary.find(want), std::string::npos) << want << " in: " << summary;
    // The hidden file was not read: its 'Z' and 'z' are no characters of the vocabulary.
    EXPECT_THROW(tok->encode("Z"), Error);
    EXPECT_THROW(tok->encode("z"), Error);
    // The second round finds the first round's output inside the input and leaves it.
    if (round == 1) {
      EXPECT_EQ(summary.find("own data or run directories"), std::string::npos) << summary;
    }
  }
  // Another --out beside it: the earlier data directory is gpt's own and is not read.
  const std::string summary = prepare_data(notes, join_path(dir, "data2"), "char", 0.2);
  EXPECT_NE(summary.find("Did not read gpt's own data or run directories: " + out), std::string::npos) << summary;
  EXPECT_EQ(read_file(join_path(dir, "data2/train.bin")), read_file(join_path(out, "train.bin")));
}

// helper-39: a symbolic link to a directory inside --input DIR was skipped without a word
// (a corpus linked in was not read); a FIFO named by a pattern (--input 'dir/*') waited
// forever for a writer, and one met in a directory was skipped unnamed. Links are
// followed now, each directory read once (a link back to one read is named), and FIFOs
// are passed over and named.
TEST(Prepare, LinkedDirectoriesAreReadOnceAndFifosArePassedOverByName) {
  const std::string dir = test::scratch_dir(), notes = join_path(dir, "notes"), corpus = join_path(dir, "corpus");
  make_dirs(notes);
  make_dirs(corpus);
  write_file_atomic(join_path(notes, "a.txt"), "alpha\n");
  write_file_atomic(join_path(corpus, "b.txt"), "beta\n");
  ASSERT_EQ(::symlink("../corpus", join_path(notes, "linked").c_str()), 0);
  ASSERT_EQ(::symlink(".", join_path(notes, "self").c_str()), 0);
  ASSERT_EQ(::mkfifo(join_path(notes, "pipe").c_str(), 0644), 0);
  // helper-40: a hard link was read twice; a broken link matched by a pattern stopped
  // prepare (exit 1) where a directory's was named and passed over.
  ASSERT_EQ(::link(join_path(notes, "a.txt").c_str(), join_path(notes, "hard.txt").c_str()), 0);
  ASSERT_EQ(::symlink("nowhere", join_path(notes, "broken").c_str()), 0);
  for (const std::string& input : {notes, join_path(notes, "*")}) {
    SCOPED_TRACE(input);
    const std::string out = join_path(dir, "data");
    const std::string summary = prepare_data(input, out, "char", 0.0);
    EXPECT_EQ(decode_shard(*Tokenizer::load_dir(out), join_path(out, "train.bin")), "alpha\nbeta\n");
    EXPECT_NE(summary.find("(2 files"), std::string::npos) << summary;
    EXPECT_NE(summary.find(join_path(notes, "pipe") + " (a FIFO, not a file)"), std::string::npos) << summary;
    EXPECT_NE(summary.find(join_path(notes, "hard.txt") + " (the same file as " + join_path(notes, "a.txt")),
              std::string::npos) << summary;
    EXPECT_NE(summary.find(join_path(notes, "broken") + " (a broken link)"), std::string::npos) << summary;
    if (input == notes) {
      EXPECT_NE(summary.find(join_path(notes, "self") + " (the same directory as " + notes + ", read already)"),
                std::string::npos) << summary;
    }
  }
  // A directory read through a link first is named as the link (helper-40: the real one,
  // met second, was "the directory <itself>, read already").
  {
    const std::string top = join_path(dir, "top"), real_dir = join_path(top, "zreal");
    make_dirs(real_dir);
    write_file_atomic(join_path(real_dir, "c.txt"), "gamma\n");
    ASSERT_EQ(::symlink("zreal", join_path(top, "alink").c_str()), 0);
    const std::string summary = prepare_data(join_path(top, "*"), join_path(dir, "d4"), "char", 0.0);
    EXPECT_NE(summary.find(real_dir + " (the same directory as " + join_path(top, "alink") + ", read already)"),
              std::string::npos) << summary;
  }
  // helper-39: an --input link in a loop, or to nothing, was "no such file".
  const std::string loop = join_path(dir, "loop"), gone = join_path(dir, "gone");
  ASSERT_EQ(::symlink("loop", loop.c_str()), 0);
  ASSERT_EQ(::symlink("nowhere.txt", gone.c_str()), 0);
  expect_error([&] { prepare_data(loop, join_path(dir, "d3"), "char", 0.0); }, {loop, "a symbolic link in a loop"});
  expect_error([&] { prepare_data(gone, join_path(dir, "d3"), "char", 0.0); },
               {gone, "a symbolic link to nowhere.txt, which does not exist"});
  // Nothing but a FIFO: named in the error.
  expect_error([&] { prepare_data(join_path(notes, "p*"), join_path(dir, "d2"), "char", 0.0); },
               {"matches no text files", "pipe (a FIFO, not a file)"});
}

TEST(Prepare, ADirectoryOfOneFileAndAPatternGiveWhatTheFileGives) {
  const std::string dir = test::scratch_dir();
  make_dirs(join_path(dir, "one"));
  const std::string text = small_text() + "no newline at the end";
  write_file_atomic(join_path(dir, "one/input.txt"), text);
  write_file_atomic(join_path(dir, "one/notes.md"), "");
  prepare_data(join_path(dir, "one/input.txt"), join_path(dir, "file"), "char", 0.1);
  prepare_data(join_path(dir, "one"), join_path(dir, "dir"), "char", 0.1);
  prepare_data(join_path(dir, "one/*.txt"), join_path(dir, "pattern"), "char", 0.1);
  for (const char* name : {"train.bin", "val.bin", "tokenizer.bin"})
    for (const char* other : {"dir", "pattern"})
      EXPECT_EQ(read_file(join_path(join_path(dir, other), name)), read_file(join_path(join_path(dir, "file"), name)))
          << other << "/" << name;
  // A pattern that matches nothing, a directory of nothing readable.
  expect_error([&] { prepare_data(join_path(dir, "one/*.rst"), join_path(dir, "x"), "char", 0.1); },
               {"--input", "*.rst", "no file matches", "--input 'notes/*.txt'"});
  // (helper-39: it suggested llm.c's token shards, 'dir/fineweb_train_*.bin', for text)
  try {
    prepare_data(join_path(dir, "one/*.rst"), join_path(dir, "x"), "char", 0.1);
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("fineweb"), std::string::npos) << e.what();
  }
  make_dirs(join_path(dir, "bin"));
  write_file_atomic(join_path(dir, "bin/a.bin"), std::string("\0\1\2", 3));
  expect_error([&] { prepare_data(join_path(dir, "bin"), join_path(dir, "x"), "char", 0.1); },
               {join_path(dir, "bin"), "none of its 1 file is", "a.bin"});
  // A pattern matching only data directories says so (it said "directories with no files").
  expect_error([&] { prepare_data(join_path(dir, "fil*"), join_path(dir, "x"), "char", 0.1); },
               {"matches no text files", "gpt's own data or run directories",
                join_path(dir, "file")});
  // A data directory given as the input is refused, not read as text.
  expect_error([&] { prepare_data(join_path(dir, "file"), join_path(dir, "x"), "char", 0.1); },
               {"--input", "data or run directory"}, kExitUsage);
  EXPECT_FALSE(file_exists(join_path(dir, "x")));
}

// A second hostile pass: prepare replaced or removed a user's train.bin / tokenizer.model
// in an --out that was no data directory; a run directory without checkpoint.bin was
// read as text (metrics.jsonl, data.json, train.lock); a tar archive (valid UTF-8 with
// NUL bytes) was tokenized; a file name with a newline or an escape sequence broke the
// summary or reached the terminal raw.
TEST(Prepare, TheUsersFilesRunLeftoversAndBinaryTextAreLeftAlone) {
  const std::string dir = test::scratch_dir();
  write_file_atomic(join_path(dir, "in.txt"), small_text());
  make_dirs(join_path(dir, "mine"));
  write_file_atomic(join_path(dir, "mine/tokenizer.model"), "my llama tokenizer");
  expect_error([&] { prepare_data(join_path(dir, "in.txt"), join_path(dir, "mine"), "char", 0.1); },
               {join_path(dir, "mine"), "holds tokenizer.model", "no data directory", "nothing was written"},
               kExitUsage);
  EXPECT_EQ(read_file(join_path(dir, "mine/tokenizer.model")), "my llama tokenizer");
  EXPECT_FALSE(file_exists(join_path(dir, "mine/train.bin")));
  // A data directory prepare wrote is replaced as before.
  prepare_data(join_path(dir, "in.txt"), join_path(dir, "data"), "char", 0.1);
  prepare_data(join_path(dir, "in.txt"), join_path(dir, "data"), "char", 0.2);

  const std::string proj = join_path(dir, "proj");
  make_dirs(join_path(proj, "notes"));
  make_dirs(join_path(proj, "run"));
  write_file_atomic(join_path(proj, "notes/a.txt"), "the notes\n");
  for (const char* f : {"metrics.jsonl", "data.json", "run.json", "train.lock"})
    write_file_atomic(join_path(proj, std::string("run/") + f), "{\"step\": 1}\n");
  write_file_atomic(join_path(proj, "esc\x1b[31mred.txt"), std::string("\xff", 1));
  const std::string summary = prepare_data(proj, join_path(dir, "out"), "char", 0.1);
  EXPECT_NE(summary.find("(1 file)"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Did not read gpt's own data or run directories: " + join_path(proj, "run")),
            std::string::npos) << summary;
  EXPECT_NE(summary.find("esc\\x1B[31mred.txt"), std::string::npos) << summary;
  EXPECT_EQ(summary.find('\x1b'), std::string::npos) << summary;

  const std::string tar = join_path(dir, "a.tar");
  write_file_atomic(tar, "in.txt" + std::string(94, '\0') + "0000644" + std::string(400, '\0') + "the text\n");
  expect_error([&] { prepare_data(tar, join_path(dir, "t"), "char", 0.1); }, {tar, "NUL bytes", "not text"});
}

// helper-39: --out a symbolic link to a directory (with or without a trailing slash) was
// replaced by a real directory (the link gone, the data it pointed to stale); a private
// (0700) --out came back 0755; a subdirectory in --out was found only at the swap, after
// the tokenizer's training (exit 1).
TEST(Prepare, OutALinkOrAPrivateDirectoryKeepsItsLinkAndPermissions) {
  const std::string dir = test::scratch_dir();
  const std::string in = join_path(dir, "in.txt"), real = join_path(dir, "real"), link = join_path(dir, "link");
  write_file_atomic(in, small_text());
  make_dirs(real);
  ASSERT_EQ(::chmod(real.c_str(), 0700), 0);
  ASSERT_EQ(::symlink("real", link.c_str()), 0);
  for (const std::string& out : {link, link + "/"}) {
    prepare_data(in, out, "char", 0.1);
    struct stat l {};
    ASSERT_EQ(::lstat(link.c_str(), &l), 0);
    EXPECT_TRUE(S_ISLNK(l.st_mode)) << out;
    EXPECT_TRUE(file_exists(join_path(real, "train.bin"))) << out;
    struct stat r {};
    ASSERT_EQ(::stat(real.c_str(), &r), 0);
    EXPECT_EQ(r.st_mode & 07777, 0700u) << out;
  }
  // helper-40: the owner and group were the user's (a shared directory's group was lost).
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(real.c_str(), 1234, 1234), 0);
    prepare_data(in, link, "char", 0.1);
    struct stat r {};
    ASSERT_EQ(::stat(real.c_str(), &r), 0);
    EXPECT_EQ(r.st_uid, 1234u);
    EXPECT_EQ(r.st_gid, 1234u);
    EXPECT_EQ(r.st_mode & 07777, 0700u);
  }
  // helper-40: a link to a file with a trailing slash was exit 1 (without it, 2)
  write_file_atomic(join_path(dir, "file"), "x");
  ASSERT_EQ(::symlink("file", join_path(dir, "to_file").c_str()), 0);
  for (const std::string& out : {join_path(dir, "to_file"), join_path(dir, "to_file") + "/"})
    expect_error([&] { prepare_data(in, out, "char", 0.1); }, {"not a directory"}, kExitUsage);
  const std::string dangling = join_path(dir, "dangling");
  ASSERT_EQ(::symlink("nowhere", dangling.c_str()), 0);
  expect_error([&] { prepare_data(in, dangling, "char", 0.1); }, {dangling, "a symbolic link to nothing"}, kExitUsage);
  make_dirs(join_path(real, "sub"));
  // Said before the text is read (the input does not exist), as a usage error.
  expect_error([&] { prepare_data(join_path(dir, "missing.txt"), link, "char", 0.1); },
               {"holds a subdirectory (sub)", "nothing was changed"}, kExitUsage);
}

// Encoding goes in pieces of kPrepareChunkBytes; the pieces must give exactly the
// tokens of the whole text: cuts inside a character (char) or inside a line
// (SentencePiece) would change them.
TEST(Prepare, EncodingInPiecesGivesTheTokensOfTheWholeText) {
  const std::string dir = test::scratch_dir();
  // A 3-byte character straddles the first cut; a line longer than a piece follows.
  std::string text(kPrepareChunkBytes - 1, 'a');
  for (size_t i = 80; i < text.size(); i += 81) text[i] = '\n';
  for (size_t i = 7; i < text.size(); i += 13) text[i] = ' ';
  text += "\xE2\x82\xAC and some more text\n";
  for (int i = 0; text.size() < kPrepareChunkBytes * 2 + 1000; i++) text += "word" + std::to_string(i % 97) + " ";
  text += "\nend \xF0\x9F\x98\x80\n";
  const std::string input = join_path(dir, "big.txt");
  write_file_atomic(input, text);
  std::vector<std::string> kinds = {"char"};
  if (have_sentencepiece()) kinds.push_back("bpe");
  for (const auto& kind : kinds) {
    SCOPED_TRACE(kind);
    const std::string out = join_path(dir, kind);
    testing::internal::CaptureStderr();
    const std::string summary = prepare_data(input, out, kind, 0.1, kind == "bpe" ? 300 : 0, 0.0);
    const std::string progress = testing::internal::GetCapturedStderr();
    auto tok = Tokenizer::load_dir(out);
    std::vector<int> ids = shard_ids(join_path(out, "train.bin"));
    const auto val = shard_ids(join_path(out, "val.bin"));
    ids.insert(ids.end(), val.begin(), val.end());
    EXPECT_TRUE(ids == tok->encode(text)) << summary;
    EXPECT_EQ(summary.find("WARNING"), std::string::npos) << summary;
    // Progress every piece (every 0 s): share, rate and the time left.
    for (const char* want : {"prepare: encoded ", "MB/s", "ETA"})
      EXPECT_NE(progress.find(want), std::string::npos) << want << " in: " << progress;
  }
}

// A tokenizer from a file may lack a character of the text: the error names the file
// it is in, not the directory.
TEST(Prepare, ACharacterMissingFromAGivenTokenizerNamesTheFile) {
  const std::string dir = test::scratch_dir(), notes = join_path(dir, "notes");
  make_dirs(notes);
  write_file_atomic(join_path(dir, "vocab.txt"), "abc \n");
  prepare_data(join_path(dir, "vocab.txt"), join_path(dir, "vocab"), "char", 0.0);
  write_file_atomic(join_path(notes, "1.txt"), "abc cab\n");
  write_file_atomic(join_path(notes, "2.txt"), "abc cXb\n");
  expect_error(
      [&] { prepare_data(notes, join_path(dir, "out"), join_path(dir, "vocab/tokenizer.bin"), 0.1); },
      {join_path(notes, "2.txt"), "'X'"});
}

// Text needing more memory than there is (about 4 bytes per byte of text) is refused
// before it is read, naming its size and how to prepare it in parts. It was read first
// (for minutes, or until the process was killed), and a file larger than memory ended
// in a bare bad_alloc. Here 4 TiB of sparse files, too much for any test machine.
TEST(Prepare, TextLargerThanMemoryIsRefusedBeforeItIsRead) {
  expect_error([&] { require_prepare_memory("in.txt", 1000, 3999.0); },
               {"in.txt: 1 KB of text", "about 4 KB (4 bytes per byte of text)", "only 4 KB is available",
                "--tokenizer data1/tokenizer.bin", "--train-glob 'data*/train.bin'"});
  EXPECT_NO_THROW(require_prepare_memory("in.txt", 1000, 4000.0));
  EXPECT_NO_THROW(require_prepare_memory("in.txt", uint64_t(1) << 50, std::nullopt));  // (unknown: no check)

  const std::optional<double> avail = available_memory(CommandThreads{});  // (char: the main thread alone)
  if (!avail || *avail > 1e12) GTEST_SKIP() << "needs a known available memory below 1 TB";
  const std::string dir = test::scratch_dir(), big = join_path(dir, "big.txt"), texts = join_path(dir, "texts");
  auto sparse = [](const std::string& path, off_t bytes) {
    write_file_atomic(path, "");
    ASSERT_EQ(::truncate(path.c_str(), bytes), 0) << path;
  };
  sparse(big, off_t(1) << 42);
  expect_error([&] { prepare_data(big, join_path(dir, "out"), "char", 0.1); },
               {big + ": 4398.0 GB of text", "--train-glob"});
  // A directory: the sum of its files (each alone would fit).
  make_dirs(texts);
  const off_t part = off_t(*avail / kPrepareBytesPerTextByte * 0.6);
  sparse(join_path(texts, "a.txt"), part);
  sparse(join_path(texts, "b.txt"), part);
  expect_error([&] { prepare_data(texts, join_path(dir, "out"), "char", 0.1); }, {texts + ": ", "of text"});
  EXPECT_FALSE(file_exists(join_path(dir, "out")));
}

// The advice of the refusal of more tokens than a shard holds.
TEST(Shard, TooManyTokensForOneShardSaysHowToPrepareTheTextInParts) {
  EXPECT_NE(split_text_advice().find("gpt prepare --input PART2 --out data2 --tokenizer data1/tokenizer.bin"),
            std::string::npos);
  EXPECT_NE(split_text_advice().find("gpt train --data data1 --train-glob 'data*/train.bin' --val-glob "
                                     "'data*/val.bin'"),
            std::string::npos);
}

// scripts/get_data.sh DIR: the file was moved into DIR under a temp name while the
// script said it wrote DIR (exit 0). Now refused first, nothing written.
TEST(GetData, ADirectoryAsDestinationIsRefused) {
  const std::string script = test::repo_file("scripts/get_data.sh");
  if (script.empty()) GTEST_SKIP() << "scripts/get_data.sh not found";
  const std::string dir = test::scratch_dir(), dest = join_path(dir, "data");
  make_dirs(dest);
  const char* mirror = std::getenv("GPT_DATA_MIRROR");
  const std::string env = mirror ? std::string("GPT_DATA_MIRROR='") + mirror + "' " : "GPT_DATA_MIRROR=/nonexistent ";
  const std::string log = join_path(dir, "log");
  const int rc = std::system((env + "bash '" + script + "' '" + dest + "' >'" + log + "' 2>&1").c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 1) << read_file(log);
  EXPECT_NE(read_file(log).find(dest + " is a directory; give the file's path"), std::string::npos) << read_file(log);
  EXPECT_EQ(std::system(("test -z \"$(ls -A '" + dest + "')\"").c_str()), 0) << "files left in " << dest;
  // As a user who is not root (helper-43): a mirror this user cannot read was "does not
  // exist", and a destination it cannot write failed as "cannot copy".
  if (::geteuid() == 0 && std::system("command -v setpriv >/dev/null") == 0) {
    const std::string locked = join_path(dir, "locked"), mine = join_path(dir, "mine");
    make_dirs(locked);
    make_dirs(mine);
    write_file_atomic(join_path(locked, "tinyshakespeare.txt"), "not it\n");
    ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
    ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
    ASSERT_EQ(::chown(mine.c_str(), 65534, 65534), 0);
    auto as_nobody = [&](const std::string& mirror, const std::string& to) {
      const int rc = std::system(("GPT_DATA_MIRROR='" + mirror + "' setpriv --reuid=65534 --regid=65534 --clear-groups "
                                  "bash '" + script + "' '" + to + "' >'" + log + "' 2>&1").c_str());
      return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    };
    for (const std::string& mirror : {locked, join_path(locked, "m")}) {
      EXPECT_EQ(as_nobody(mirror, join_path(mine, "t.txt")), 1);
      EXPECT_NE(read_file(log).find("GPT_DATA_MIRROR=" + mirror + ": this user cannot read the directory " + locked +
                                    " (Permission denied); have its owner (uid 0) run chmod a+rx " + locked),
                std::string::npos) << read_file(log);
    }
    EXPECT_EQ(as_nobody(join_path(dir, "none"), join_path(locked, "x/t.txt")), 1);
    EXPECT_NE(read_file(log).find("this user cannot read the directory " + locked + " (Permission denied)"),
              std::string::npos) << read_file(log);
    EXPECT_EQ(read_file(log).find("rm: "), std::string::npos) << read_file(log);
    ASSERT_EQ(::chmod(locked.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    EXPECT_EQ(as_nobody(locked, join_path(dest, "t.txt")), 1);
    EXPECT_NE(read_file(log).find("this user cannot write in " + dest + " (Permission denied)"), std::string::npos)
        << read_file(log);
    // root's file in a sticky directory (as /tmp): refused before the copy (helper-45: mv's own
    // "Operation not permitted" came after it)
    const std::string sticky = join_path(dir, "sticky");
    make_dirs(sticky);
    ASSERT_EQ(::chmod(sticky.c_str(), 01777), 0);
    write_file_atomic(join_path(sticky, "t.txt"), "root's\n");
    EXPECT_EQ(as_nobody(locked, join_path(sticky, "t.txt")), 1);
    EXPECT_NE(read_file(log).find(join_path(sticky, "t.txt") + " belongs to uid 0, and in " + sticky + " (sticky, as "
                                  "/tmp) only its owner may replace it"), std::string::npos) << read_file(log);
    EXPECT_EQ(read_file(log).find("copying"), std::string::npos) << read_file(log);
    EXPECT_EQ(read_file(join_path(sticky, "t.txt")), "root's\n");
  }
}

// A shell command's exit status, its output in `out`.
// (The log sits beside the test's scratch directory, so that it lists only the command's files.)
int sh(const std::string& cmd, std::string* out) {
  const std::string log = test::scratch_dir_of(*::testing::UnitTest::GetInstance()->current_test_info()) + ".log";
  const int rc = std::system((cmd + " >'" + log + "' 2>&1").c_str());
  *out = read_file(log);
  std::remove(log.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

// `scripts/bench.sh --help` ran the whole benchmark, and its report (tee) emptied the
// day's bench/results/DATE-cpu.md at once: a typo or a Ctrl-C lost a committed report.
// In a copy of the layout with a gpt that fails its first training run: the day's
// report stays as it was, and no partial file is left.
TEST(Scripts, AStoppedBenchLeavesTheDaysReportAsItWas) {
  const std::string bench = test::repo_file("scripts/bench.sh"), shards = test::repo_file("scripts/synthetic_shards.py");
  if (bench.empty() || shards.empty()) GTEST_SKIP() << "scripts/bench.sh not found";
  const std::string root = test::scratch_dir();
  for (const char* d : {"scripts", "bin", "build", "bench/results"}) make_dirs(join_path(root, d));
  ASSERT_EQ(std::system(("cp '" + bench + "' '" + shards + "' '" + root + "/scripts/'").c_str()), 0);
  write_file_atomic(join_path(root, "bin/gpt"), "#!/bin/sh\necho 'gpt: failed' >&2\nexit 1\n");
  write_file_atomic(join_path(root, "build/bench_matmul"), "#!/bin/sh\necho 100\n");
  ASSERT_EQ(std::system(("chmod +x '" + root + "/bin/gpt' '" + root + "/build/bench_matmul'").c_str()), 0);
  char day[16];
  const std::time_t now = std::time(nullptr);
  std::strftime(day, sizeof day, "%Y-%m-%d", std::localtime(&now));
  const std::string report = join_path(root, std::string("bench/results/") + day + "-cpu.md");
  write_file_atomic(report, "# the day's committed report\n");
  std::string out;
  EXPECT_NE(sh("BENCH_STEPS=2 bash '" + root + "/scripts/bench.sh'", &out), 0) << out;
  EXPECT_EQ(read_file(report), "# the day's committed report\n") << out;
  EXPECT_EQ(sh("ls '" + root + "/bench/results'", &out), 0);
  EXPECT_EQ(out, std::string(day) + "-cpu.md\n") << "a partial report was left";
  // --help and stray arguments answer at once (--help started the benchmark).
  EXPECT_EQ(sh("bash '" + root + "/scripts/bench.sh' --help", &out), 0) << out;
  EXPECT_NE(out.find("scripts/bench.sh        (no arguments"), std::string::npos) << out;
  EXPECT_EQ(sh("bash '" + root + "/scripts/bench.sh' --steps 3", &out), 2) << out;
  EXPECT_NE(out.find("takes no arguments (got '--steps')"), std::string::npos) << out;
  EXPECT_EQ(read_file(report), "# the day's committed report\n");
}

// The other scripts a user runs by hand: --help prints their usage, a wrong argument is
// named with exit 2 (get_data.sh took --help for the file to write, bench_busy.sh exited
// 127 without a word, synthetic_shards.py raised and left a shard without its tokens).
TEST(Scripts, HelpAndBadArgumentsAreAnsweredNotRun) {
  const std::string get_data = test::repo_file("scripts/get_data.sh"), busy = test::repo_file("scripts/bench_busy.sh"),
                    shards = test::repo_file("scripts/synthetic_shards.py");
  if (get_data.empty() || busy.empty() || shards.empty()) GTEST_SKIP() << "scripts/ not found";
  const std::string dir = test::scratch_dir();
  std::string out;
  EXPECT_EQ(sh("cd '" + dir + "' && bash '" + get_data + "' --help", &out), 0) << out;
  EXPECT_NE(out.find("DEST defaults to data/tinyshakespeare.txt"), std::string::npos) << out;
  EXPECT_EQ(sh("cd '" + dir + "' && bash '" + get_data + "' a.txt b.txt", &out), 2) << out;
  EXPECT_EQ(sh("cd '" + dir + "' && GPT_DATA_MIRROR=/nonexistent bash '" + get_data + "' -x", &out), 2) << out;
  EXPECT_NE(out.find("unknown option '-x'"), std::string::npos) << out;
  // (helper-39: "cp: cannot create regular file 'newdir/.tmp.123'")
  EXPECT_EQ(sh("cd '" + dir + "' && GPT_DATA_MIRROR=/nonexistent bash '" + get_data + "' newdir/", &out), 2) << out;
  EXPECT_NE(out.find("newdir/ ends in /, a directory; give the file's path (e.g. newdir/tinyshakespeare.txt)"),
            std::string::npos) << out;
  // (helper-40: newdir/.. said "wrote" and left a hidden temp file; newdir/. failed in mv)
  for (const char* d : {"newdir/..", "newdir/."}) {
    EXPECT_EQ(sh("cd '" + dir + "' && GPT_DATA_MIRROR=/nonexistent bash '" + get_data + "' " + d, &out), 2) << out;
    EXPECT_NE(out.find("a directory; give the file's path (e.g. " + std::string(d) + "/tinyshakespeare.txt)"),
              std::string::npos) << out;
  }
  EXPECT_EQ(sh("cd '" + dir + "' && ls -A", &out), 0);
  EXPECT_EQ(out, "") << "get_data.sh wrote files for a bad command line";
  // A failed fetch leaves no empty directories behind for DEST (it made data/ first and
  // left it), and keeps the ones that were there.
  EXPECT_EQ(sh("cd '" + dir + "' && mkdir keep && GPT_DATA_MIRROR=/nonexistent bash '" + get_data + "' a/b/x.txt", &out),
            1) << out;
  EXPECT_EQ(sh("cd '" + dir + "' && echo x >tinyshakespeare.txt && GPT_DATA_MIRROR=. bash '" + get_data +
                   "' keep/n/../o/x.txt",
               &out),
            1) << out;
  EXPECT_NE(out.find("checksum mismatch"), std::string::npos) << out;
  EXPECT_EQ(sh("cd '" + dir + "' && rm tinyshakespeare.txt && find . -mindepth 1", &out), 0);
  EXPECT_EQ(out, "./keep\n") << "a failed get_data.sh left directories";
  EXPECT_EQ(sh("rmdir '" + dir + "/keep'", &out), 0) << out;
  EXPECT_EQ(sh("bash '" + busy + "' --help", &out), 0) << out;
  EXPECT_NE(out.find("BIN defaults to bin/gpt"), std::string::npos) << out;
  EXPECT_EQ(sh("bash '" + busy + "' /nonexistent/gpt", &out), 2) << out;
  EXPECT_NE(out.find("/nonexistent/gpt is not an executable gpt binary"), std::string::npos) << out;
  if (std::system("python3 -c '' 2>/dev/null") != 0) return;
  EXPECT_EQ(sh("python3 '" + shards + "' '" + dir + "/s' 70000 10 10", &out), 2) << out;
  EXPECT_NE(out.find("VOCAB must be in 1..65536"), std::string::npos) << out;
  EXPECT_FALSE(file_exists(join_path(dir, "s/train.bin")));
  EXPECT_EQ(sh("python3 '" + shards + "'", &out), 2) << out;
  EXPECT_NE(out.find("usage: synthetic_shards.py DIR VOCAB"), std::string::npos) << out;
}

TEST(Prepare, TinyShakespeareIfPresent) {
  std::string path = "data/tinyshakespeare.txt";
  if (const char* m = std::getenv("GPT_DATA_MIRROR")) path = join_path(m, "tinyshakespeare.txt");
  if (!file_exists(path)) GTEST_SKIP() << path << " not found (run scripts/get_data.sh)";
  const std::string out = test::scratch_dir();
  prepare_data(path, out, "char", 0.1);
  auto tok = Tokenizer::load_dir(out);
  EXPECT_EQ(tok->vocab_size(), 65);
  const auto train = read_shard(join_path(out, "train.bin")), val = read_shard(join_path(out, "val.bin"));
  EXPECT_EQ(train.size() + val.size(), 1115394u);
  EXPECT_EQ(val.size(), 111539u);
  EXPECT_EQ(decode_shard(*tok, join_path(out, "train.bin")) + decode_shard(*tok, join_path(out, "val.bin")),
            read_file(path));
}

}  // namespace
}  // namespace gpt
