// `gpt prepare`: text files -> tokenizer + train/val token shards. The input is
// one file, a directory (every text file below it) or a glob pattern; each file
// is split into train and val on its own, so val resembles train however many
// files there are. Encoding goes chunk by chunk (progress on stderr on long work).
#include <dirent.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "check.h"
#include "config.h"
#include "fileio.h"
#include "run_dir.h"
#include "text/dataloader.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"
#include "threads.h"

namespace gpt {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Names of skipped files listed in the summary; the rest are counted.
constexpr size_t kNamesListed = 5;

std::string real_path(const std::string& p) {
  char* r = ::realpath(p.c_str(), nullptr);
  if (!r) return {};
  std::string s(r);
  std::free(r);
  return s;
}

// What a path that is neither a file nor a directory is ("a FIFO, not a file").
std::string not_a_file(mode_t m) {
  return std::string(S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : "a device") + ", not a file";
}

bool is_inside(const std::string& real, const std::string& dir_real) {
  return !dir_real.empty() && (real == dir_real || real.rfind(dir_real + "/", 0) == 0);
}

// A file name as it can be printed: control bytes (a newline, an escape sequence) as \xNN.
std::string printable_name(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out;
}

std::string listed(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < kNamesListed; i++) s += (i ? ", " : "") + printable_name(names[i]);
  if (names.size() > kNamesListed) s += str(" and ", names.size() - kNamesListed, " more");
  return s;
}

// What --input names, expanded to files.
struct InputFiles {
  std::vector<std::string> files;  // in reading order
  bool several = false;            // a directory or a pattern (else one file)
  std::vector<std::string> own_dirs;  // gpt's own directories met and not read
  std::vector<std::string> unreadable;  // "path (why)": broken links, paths too long to open
  std::vector<std::string> passed_over;  // "path (why)": FIFOs, sockets, devices, a directory met twice
  std::map<std::string, std::string> seen;  // real path of each directory walked -> the path it was read as
};

// Regular files below dir (recursively), skipping names that start with '.', the --out
// directory, and gpt's own data and run directories (they hold tokenizer.bin,
// checkpoint.bin, best.bin, or metrics.jsonl and data.json: shards and logs are not text;
// listed in own_dirs). Symbolic links to directories are followed, each directory read
// once (a link back up is passed over and named; links were skipped without a word).
// FIFOs, sockets and devices are passed over and named.
void add_input(const std::string& p, const std::string& out_real, InputFiles& in);
void walk(const std::string& dir, const std::string& out_real, InputFiles& in) {
  const std::string real = real_path(dir);
  if (is_inside(real, out_real)) return;  // what this run replaces
  if (!real.empty()) {
    const auto [at, first] = in.seen.emplace(real, dir);
    if (!first) {  // (named as its real path, which read wrong when the real one came second)
      in.passed_over.push_back(dir + " (the same directory as " + at->second + ", read already)");
      return;
    }
  }
  // (helper-43: an unreadable one was named by the file probed in it, "tree/b/tokenizer.bin")
  if (::access(dir.c_str(), R_OK | X_OK) != 0)
    GPT_FAIL(dir, ": cannot read the directory (", std::strerror(errno), "); ", permission_fix(dir, "rx"),
             " (read and search permission), or leave it out of --input");
  auto has = [&](const char* f) { return file_exists(join_path(dir, f)); };
  if (has(kTokenizerFile) || has("checkpoint.bin") || has("best.bin") || (has("metrics.jsonl") && has("data.json"))) {
    in.own_dirs.push_back(dir);
    return;
  }
  DIR* d = ::opendir(dir.c_str());
  if (!d) GPT_FAIL(dir, ": cannot list the directory (", std::strerror(errno), ")");
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) add_input(join_path(dir, name), out_real, in);
}

// One path met in a directory or matched by a pattern: a directory is walked, a file
// listed, a path that cannot be read (a broken link) or is no file (a FIFO) named in the
// summary: a file the user may expect to be read.
void add_input(const std::string& p, const std::string& out_real, InputFiles& in) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    const int err = errno;
    struct stat lst {};
    const bool link = ::lstat(p.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
    in.unreadable.push_back(p + (link && err == ENOENT ? " (a broken link)" : " (" + std::string(std::strerror(err)) + ")"));
  } else if (S_ISDIR(st.st_mode)) {
    walk(p, out_real, in);
  } else if (S_ISREG(st.st_mode)) {
    in.files.push_back(p);
  } else {  // (a FIFO matched by a pattern waited forever for a writer)
    in.passed_over.push_back(p + " (" + not_a_file(st.st_mode) + ")");
  }
}

// A file met twice (through a symbolic or a hard link, or a pattern and a link) is read
// once, where it comes first in byte order; the others are named.
void read_each_file_once(InputFiles& in) {
  const std::vector<std::string> earlier = earlier_paths_to_same_file(in.files);
  std::vector<std::string> once;
  for (size_t i = 0; i < in.files.size(); i++) {
    if (earlier[i].empty()) once.push_back(in.files[i]);
    else in.passed_over.push_back(in.files[i] + " (the same file as " + earlier[i] + ", read already)");
  }
  in.files = std::move(once);
}

InputFiles list_inputs(const std::string& input, const std::string& outdir) {
  InputFiles in;
  const std::string out_real = real_path(outdir);
  if (is_directory(input)) {
    in.several = true;
    // (the --input itself: "leave it out of --input" was no advice; helper-45)
    if (::access(input.c_str(), R_OK | X_OK) != 0)
      GPT_FAIL("--input ", input, ": cannot read the directory (", std::strerror(errno), "); ",
               permission_fix(input, "rx"), " (read and search permission), or run as its owner");
    if (is_inside(real_path(input), out_real))
      GPT_USAGE_FAIL("--input ", input, " is the --out directory (or inside it); give the text's directory");
    walk(input, out_real, in);
    if (in.own_dirs.size() == 1 && in.own_dirs[0] == input)
      GPT_USAGE_FAIL("--input ", input, " is a data or run directory of gpt (it holds ", kTokenizerFile, " or "
                     "checkpoint.bin), not text; give the text's file or directory");
    std::sort(in.files.begin(), in.files.end());  // byte order of the whole path
    read_each_file_once(in);
    if (in.files.empty())
      GPT_FAIL(input, ": no files below this directory (names starting with '.' are skipped",
               in.own_dirs.empty() ? "" : ", and gpt's own data and run directories",
               in.unreadable.empty() ? std::string() : str("; could not read ", listed(in.unreadable)),
               in.passed_over.empty() ? std::string() : str("; passed over ", listed(in.passed_over)),
               "); expected UTF-8 text files");
  } else if (file_exists(input)) {
    // A pipe (`--input <(zcat text.gz)`, /dev/stdin) is read to its end; a device such as
    // /dev/zero never ends, and a terminal is not where the text is.
    struct stat st {};
    if (::stat(input.c_str(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode)))
      GPT_FAIL(input, ": a device, not a file; expected a UTF-8 text file, a directory of them, a pattern, or a pipe "
               "(e.g. --input <(zcat text.gz))");
    in.files.push_back(input);
  } else if (input.find_first_of("*?[") != std::string::npos) {
    in.several = true;
    // (as in a directory: a broken link here stopped prepare, exit 1)
    for (const auto& p : glob_files(input, "--input")) add_input(p, out_real, in);
    std::sort(in.files.begin(), in.files.end());
    in.files.erase(std::unique(in.files.begin(), in.files.end()), in.files.end());
    read_each_file_once(in);
    if (in.files.empty())
      GPT_FAIL("--input '", input, "': the pattern matches no text files",
               in.own_dirs.empty() ? std::string() : str(" (and gpt's own data or run directories, which are not read: ",
                                                         listed(in.own_dirs), ")"),
               in.unreadable.empty() ? std::string() : str("; could not read ", listed(in.unreadable)),
               in.passed_over.empty() ? std::string() : str("; passed over ", listed(in.passed_over)));
  } else if (struct stat lst {}; ::lstat(input.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    // (A link loop, or a link to nothing, was "no such file": the name is there.)
    struct stat st {};
    const bool loop = ::stat(input.c_str(), &st) != 0 && errno == ELOOP;
    std::string target(4096, '\0');
    const ssize_t n = ::readlink(input.c_str(), target.data(), target.size());
    target.resize(n > 0 ? size_t(n) : 0);
    GPT_FAIL(input, loop ? ": a symbolic link in a loop (links that lead back to themselves)"
                         : str(": a symbolic link to ", target, ", which does not exist"),
             "; point it at the text, or give the text's path");
  } else {
    // (The get_data.sh advice only where it is the file asked for.)
    const bool shakespeare = input.size() >= 19 && input.compare(input.size() - 19, 19, "tinyshakespeare.txt") == 0;
    GPT_FAIL(input, ": no such file; expected a UTF-8 text file, a directory of them or a pattern such as "
             "'notes/*.txt'",
             shakespeare ? ". For Tiny Shakespeare run scripts/get_data.sh (it writes data/tinyshakespeare.txt)" : "");
  }
  return in;
}

// What a file that is not UTF-8 text looks like it is, by its first bytes (nullopt when it
// looks like text in another encoding): the advice differs.
std::optional<NotUtf8Text> binary_kind(std::string_view b) {
  if (auto kind = what_is_not_utf8(b)) return kind;
  if (b.substr(0, 4096).find('\0') != std::string_view::npos)
    return NotUtf8Text{"binary data (it holds NUL bytes), not text", ""};
  return std::nullopt;
}

// The characters of strictly valid UTF-8; nothing for other bytes.
std::optional<size_t> utf8_chars(const std::string& bytes) {
  try {
    return tokenizer_detail::check_utf8(bytes);
  } catch (const Error&) {
    return std::nullopt;
  }
}


// Prints "prepare: encoding ... ETA" lines to stderr every `every` seconds once the
// work has run that long (nothing on short work).
class Progress {
 public:
  Progress(size_t total_bytes, double every)
      : total_(total_bytes), every_(every), next_(every), start_(Clock::now()) {}
  void done_bytes(size_t done) {
    const double t = seconds_since(start_);
    if (every_ < 0 || t < next_ || done == 0) return;
    next_ = t + every_;
    const double rate = double(done) / t;
    const double eta = double(total_ - std::min(done, total_)) / rate;
    std::fprintf(stderr, "prepare: encoded %.0f%% (%.1f of %.1f MB), %.1f MB/s, ETA %.0f s\n",
                 100.0 * double(done) / double(total_), double(done) / 1e6, double(total_) / 1e6, rate / 1e6, eta);
    std::fflush(stderr);
  }

 private:
  size_t total_;
  double every_, next_;
  Clock::time_point start_;
};

}  // namespace

void require_prepare_memory(const std::string& input, uint64_t text_bytes, std::optional<double> available) {
  const double need = kPrepareBytesPerTextByte * double(text_bytes);
  if (!available || need <= *available) return;
  GPT_FAIL(input, ": ", format_bytes(double(text_bytes)), " of text; gpt prepare holds the text and its tokens in "
           "memory, about ", format_bytes(need), " (", kPrepareBytesPerTextByte, " bytes per byte of text), but only ",
           format_bytes(*available), " is available (", kAvailableMemorySources, "). "
           "Nothing was read or written. ", split_text_advice());
}

std::string prepare_data(const std::string& input, const std::string& outdir, const std::string& tokenizer,
                         double val_fraction, int vocab_size, double progress_every_s,
                         std::unique_ptr<Tokenizer> reuse) {
  // Command-line mistakes first (exit code 2), before touching any file.
  const bool trained = tokenizer == "bpe" || tokenizer == "unigram";
  const bool from_file = tokenizer != "char" && !trained;
  if (from_file && !reuse && (tokenizer.empty() || !file_exists(tokenizer)))
    GPT_USAGE_FAIL("unknown tokenizer \"", tokenizer, "\"; valid choices: char, bpe, unigram, or an existing "
                   "tokenizer file (a SentencePiece .model, a tokenizer.bin, an llm.c tokenizer file) or a model "
                   "(a run directory, a checkpoint) whose tokenizer to reuse");
  if (vocab_size != 0 && !trained)
    GPT_USAGE_FAIL("--vocab-size applies to --tokenizer bpe and unigram only; ",
                   from_file ? "the vocabulary comes from the tokenizer file"
                             : "a char vocabulary is the set of characters in the text");
  SentencePieceOptions spm;
  if (trained) {
    spm.model_type = tokenizer;
    spm.vocab_size = vocab_size ? vocab_size : kDefaultVocabSize;
    if (spm.vocab_size < 260 || spm.vocab_size > kMaxVocab)
      GPT_USAGE_FAIL("--vocab-size must be in [260, ", kMaxVocab, "], got ", spm.vocab_size,
                     spm.vocab_size > kMaxVocab ? " (shard tokens are uint16)"
                                                : " (256 byte tokens + <unk>, <s>, </s> + the text's characters)");
  }
  if (!(val_fraction >= 0.0 && val_fraction <= 0.5)) {
    char got[32];  // the shortest digits that give it back (0.5000001 was shown as "got 0.5")
    for (int digits = 1; digits <= 17; digits++) {
      std::snprintf(got, sizeof got, "%.*g", digits, val_fraction);
      if (std::strtod(got, nullptr) == val_fraction) break;
    }
    GPT_USAGE_FAIL("--val-fraction must be in [0, 0.5], got ", got);
  }
  if (trained && !have_sentencepiece())
    GPT_FAIL("--tokenizer ", tokenizer, " needs SentencePiece, but this gpt.cc was built without it: install "
             "libsentencepiece-dev (scripts/install_deps.sh, or `apt-get install libsentencepiece-dev`) and "
             "rebuild (make clean && make); --tokenizer char works without it");

  // What the swap at the end would refuse (a subdirectory in --out, ".") is said now,
  // not after the tokenizer's training (exit 1, minutes later).
  replaceable_dir(outdir);
  // --out may be a data directory prepare wrote (its files are replaced); in any other
  // directory, files with the names prepare writes are the user's.
  if (is_directory(outdir)) {
    bool ours = false;
    try {
      ours = is_regular_file(join_path(outdir, kTokenizerFile)) && load_tokenizer_file(join_path(outdir, kTokenizerFile));
    } catch (const Error&) {
    }
    for (const char* f : {"train.bin", "val.bin", kTokenizerFile, kSentencePieceFile})
      if (!ours && file_exists(join_path(outdir, f)))
        GPT_USAGE_FAIL("--out ", outdir, " holds ", f, " but is no data directory of `gpt prepare` (no readable ",
                       kTokenizerFile, "): prepare would replace or remove that file; choose another --out, or move "
                       "it away (nothing was written)");
  }
  // The text: the files one after the other, each with a newline added where it
  // does not end in one and another file follows (so two files never share a line).
  // `parts` records where each file's text lies in `text`.
  const InputFiles in = list_inputs(input, outdir);
  // Too much text for memory is refused now, not after reading it (a pipe's size is unknown).
  uint64_t input_bytes = 0;
  for (const auto& f : in.files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0 && S_ISREG(st.st_mode)) input_bytes += uint64_t(st.st_size);
  }
  // Only SentencePiece runs threads here (its trainer's and the encoder's, which allocate);
  // a char tokenizer runs none. Under ulimit -v each further thread reserves address space
  // (a stack, a malloc arena): where the text fits with fewer threads, prepare runs fewer
  // and says so (30 KB of text under ulimit -v 300 MB with 16 threads was refused: "only
  // 0 KB is available", and split the text).
  const int want_threads = tokenizer == "char" ? 1 : omp_get_max_threads();
  // SentencePiece's trainer runs its N threads beside the main thread, which waits (with
  // one thread, one more: a std::bad_alloc in it under ulimit -v 125 MB ended prepare in
  // std::terminate, exit 134); its memory grows with the text it trains on (at most all).
  const int trainer_threads = trained ? 1 : 0;
  if (trained) share_one_malloc_arena_under_address_limit();
  const double train_per_byte = trained ? sentencepiece_training_bytes_per_byte(tokenizer) : 0.0;
  const double text_need = (kPrepareBytesPerTextByte + train_per_byte) * double(input_bytes) +
                           (trained ? sentencepiece_training_fixed_bytes(tokenizer) : 0.0);
  auto fits = [&](int n) {
    const std::optional<double> a = available_memory(CommandThreads{n + trainer_threads, true});
    return !a || text_need <= *a;
  };
  int threads = want_threads;
  while (threads > 1 && !fits(threads)) threads--;
  if (!fits(threads)) threads = want_threads;  // refused below, with every thread counted
  const ScopedOmpThreads thread_guard(threads);
  if (threads < want_threads)
    std::fprintf(stderr, "note: the address-space limit (ulimit -v) leaves room for %d of the %d threads "
                 "SentencePiece would run (each reserves a stack beyond its memory); "
                 "prepare runs %d (a larger limit runs them all)\n", threads, want_threads, threads);
  require_prepare_memory(input, input_bytes, available_memory(CommandThreads{threads + trainer_threads, true}));
  struct Part {
    std::string file;
    size_t begin, end;
  };
  std::vector<Part> parts;
  std::vector<std::string> not_text, empty;
  std::vector<std::optional<NotUtf8Text>> not_text_kinds;  // what each file of not_text is
  std::string text;
  size_t nchars = 0, nbytes = 0;  // characters and bytes of the files (`text` less the newlines between them)
  for (const auto& f : in.files) {
    std::string bytes = read_file(f);
    if (bytes.empty()) {
      if (!in.several) GPT_FAIL(f, ": empty file; expected some UTF-8 text to train on");
      empty.push_back(f);
      continue;
    }
    // Each file's bytes are checked once, here. Files that are not text (invalid UTF-8
    // or NUL bytes) are skipped when a directory or pattern names them, not refused.
    const std::optional<size_t> chars = utf8_chars(bytes);
    if (in.several && (!chars || bytes.find('\0') != std::string::npos)) {
      not_text.push_back(f);
      not_text_kinds.push_back(binary_kind(bytes));
      continue;
    }
    // Binary files first: a tar archive or text with NUL bytes is valid UTF-8. Only files
    // that are not clean text are named by their first bytes (valid UTF-8 text that began
    // "BZh" or "%PDF" was refused as bzip2 data or a PDF).
    const bool clean = chars && bytes.find('\0') == std::string::npos;
    if (const auto kind = clean ? std::nullopt : binary_kind(bytes))
      GPT_FAIL(f, ": this is ", kind->what, "; prepare reads UTF-8 text",
               kind->todo.empty() ? "" : "; " + kind->todo);
    if (!chars) {  // again, for the error naming the byte offset
      try {
        tokenizer_detail::check_utf8(bytes);
      } catch (const Error& e) {
        throw Error(e.code, str(f, ": ", e.what()));
      }
    }
    // A newline between files, so that a tokenizer trained on `text` does not see them run
    // together (and char's vocabulary holds the separator's "\n"); it is no file's text:
    // outside every part, and counted as a separator, not as characters or bytes (it was
    // the earlier file's last character, its val part's, and the summary counted it twice).
    if (!parts.empty() && text.back() != '\n') text += '\n';
    parts.push_back({f, text.size(), text.size() + bytes.size()});
    text += bytes;
    nchars += *chars;
    nbytes += bytes.size();
  }
  if (parts.empty())
    GPT_FAIL(input, ": none of its ", count(in.files.size(), "file"), " is UTF-8 text with something in it",
             not_text.empty() ? "" : str(" (not text: ", listed(not_text), ")"), "; expected UTF-8 text files");
  const std::string where = parts.size() == 1 ? parts[0].file : input;
  // More tokens than a shard holds: known before encoding for char (a token per
  // character; each file's train part has at least (1 - F) of its characters, rounded).
  if (tokenizer == "char" && double(nchars) * (1 - val_fraction) - 0.5 * double(parts.size()) > double(kMaxShardTokens))
    GPT_FAIL(where, ": ", count(nchars, "character"), ", so train.bin would hold more than a shard's ",
             kMaxShardTokens, " tokens (its header counts them in an int32); nothing was written. ",
             split_text_advice());
  // Errors about a file's bytes name the file.
  auto file_error = [](const Error& e, const Part& p) { return Error(e.code, str(p.file, ": ", e.what())); };

  std::unique_ptr<Tokenizer> tok;
  const auto t0 = Clock::now();
  if (from_file) {
    tok = reuse ? std::move(reuse) : load_tokenizer_file(tokenizer);  // errors name that file
    if (!tok->can_encode())
      GPT_FAIL(tokenizer, ": ", tok->describe(), " cannot turn text into tokens, so it cannot prepare data; use "
               "--tokenizer char, bpe, unigram or a SentencePiece .model");
  }
  if (trained) {
    // The trainer's memory, now that the lines it will see are known: a std::bad_alloc in
    // its threads cannot be caught (std::terminate, exit 134), so it is refused here.
    const size_t lines = size_t(std::count(text.begin(), text.end(), '\n')) + 1;
    const double sample = lines > kMaxTrainingSentences
                              ? double(text.size()) * double(kMaxTrainingSentences) / double(lines)
                              : double(text.size());
    const double need = sentencepiece_training_fixed_bytes(tokenizer) + train_per_byte * sample +
                        (kPrepareBytesPerTextByte - 1.0) * double(text.size());
    const std::optional<double> avail = available_memory(CommandThreads{threads + trainer_threads, true});
    if (avail && need > *avail)
      GPT_FAIL(where, ": training a ", tokenizer, " tokenizer on ", format_bytes(sample), " of text needs about ",
               format_bytes(need), " more memory (SentencePiece holds about ", train_per_byte, " bytes per byte it "
               "trains on, and ", format_bytes(sentencepiece_training_fixed_bytes(tokenizer)), " more), but only ", format_bytes(*avail), " is available (", kAvailableMemorySources, "). Nothing "
               "was written. Train the tokenizer on a part of the text (gpt prepare --input PART --out part "
               "--tokenizer ", tokenizer, "), then prepare the whole with it (--tokenizer part/tokenizer.bin); or use "
               "--tokenizer char", tokenizer == "unigram" ? ", or bpe (it needs less)" : "", "; or raise the limit");
  }
  try {
    if (tokenizer == "char") tok = build_char_tokenizer(text);
    else if (trained) tok = train_sentencepiece(text, spm);
  } catch (const Error& e) {
    throw Error(e.code, str(where, ": ", e.what()));
  }
  const auto t1 = Clock::now();
  if (tok->vocab_size() > kMaxVocab)
    GPT_FAIL(where, ": ", tok->vocab_size(), " distinct characters, but shard tokens are uint16 (at most ", kMaxVocab,
             " ids); use text with fewer distinct characters, or --tokenizer bpe");

  // Encode file by file, in pieces: char tokens are characters, so any character
  // boundary is exact; the SentencePiece models prepare trains never continue a piece
  // past a newline (see training_sentences), so line boundaries are exact for them;
  // a tokenizer from a file is given each file whole.
  auto piece_end = [&](size_t begin, size_t end) {
    if (from_file || end - begin <= kPrepareChunkBytes) return end;
    size_t cut = begin + kPrepareChunkBytes;
    if (!trained) {
      while (cut > begin && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) cut--;
      return cut;
    }
    const size_t nl = text.rfind('\n', cut - 1);
    if (nl != std::string::npos && nl >= begin) return nl + 1;
    const size_t next = text.find('\n', cut);
    return next == std::string::npos || next >= end ? end : next + 1;
  };
  auto continues_character = [&](uint16_t id) {
    const std::string t = tok->decode_token(id);
    return !t.empty() && (static_cast<unsigned char>(t[0]) & 0xC0) == 0x80;
  };
  std::vector<uint16_t> train, val;
  size_t not_exact = 0;  // pieces that do not decode back to their text
  // Files' parts follow each other in train.bin and val.bin; a part that does not end
  // in a newline (a file's train part usually ends mid-line) gets one before the next
  // part, so no two files run together inside a word (none if "\n" cannot be encoded).
  std::vector<uint16_t> newline;
  try {
    for (int id : tok->encode("\n")) newline.push_back(uint16_t(id));
  } catch (const Error&) {
  }
  auto separate = [&](std::vector<uint16_t>& v) {
    if (v.empty() || newline.empty()) return;
    const std::string last = tok->decode_token(v.back());
    if (last.empty() || last.back() != '\n') v.insert(v.end(), newline.begin(), newline.end());
  };
  size_t separators = 0;
  if (tokenizer == "char") {  // one token per character (and separators): no doubling of the vectors as they grow
    train.reserve(nchars + 2 * parts.size());
    val.reserve(size_t(val_fraction * double(nchars)) + 2 * parts.size() + 16);
  }
  Progress progress(text.size(), progress_every_s);
  for (const auto& p : parts) {
    const size_t before = train.size() + val.size();
    separate(train);
    const size_t first = train.size();
    for (size_t b = p.begin; b < p.end;) {
      const size_t e = piece_end(b, p.end);
      const std::string piece = text.substr(b, e - b);
      std::vector<int> ids;
      try {
        ids = tok->encode(piece);
      } catch (const Error& err) {
        throw file_error(err, p);
      }
      train.insert(train.end(), ids.begin(), ids.end());
      if (tok->decode(ids) != piece) not_exact++;
      b = e;
      progress.done_bytes(b);
    }
    // This file's split: its last round(val_fraction * tokens) go to val. For char,
    // tokens are characters, so this splits its text by characters. A split inside a
    // character spelled in byte tokens moves to its end, so that each split decodes on
    // its own.
    const size_t n = train.size() - first;
    size_t cut = first + n - std::min(n, size_t(std::llround(val_fraction * double(n))));
    while (cut < train.size() && continues_character(train[cut])) cut++;
    if (cut < train.size()) separate(val);
    val.insert(val.end(), train.begin() + std::ptrdiff_t(cut), train.end());
    train.resize(cut);
    separators += train.size() + val.size() - before - n;
  }
  const auto t2 = Clock::now();
  const size_t ntok = train.size() + val.size(), n_train = train.size(), n_val = val.size();
  for (const auto& [name, n] : {std::pair<const char*, size_t>{"train.bin", n_train}, {"val.bin", n_val}})
    if (n > kMaxShardTokens)
      GPT_FAIL(where, ": ", count(n, "token"), " for ", name, ", more than a shard holds (", kMaxShardTokens,
               ": its header counts them in an int32); nothing was written. ", split_text_advice());

  // The files go to a temp sibling swapped in whole: a failure (disk full, kill) leaves
  // the old directory as it was, never new shards beside an old tokenizer.
  const std::string train_path = join_path(outdir, "train.bin");
  const std::string val_path = join_path(outdir, "val.bin");
  const std::string tok_path = join_path(outdir, kTokenizerFile);
  const std::string model_path = join_path(outdir, kSentencePieceFile);
  // Shards replaced by others: runs that trained on the old ones cannot resume on them.
  // (A damaged shard is nothing a run could resume on.)
  const std::optional<bool> same = shard_holds(train_path, train);
  const bool replaced = same && !*same;
  // The disk: the new files are written whole beside the old directory before it is
  // replaced, so they need room of their own; checked before any is written (helper-41: the
  // error named the file that failed, "room for 21 KB" of val.bin where 202 KB were needed).
  const std::string tok_blob = tok->serialize();
  const uint64_t disk_need = 2 * (kShardHeaderInts * sizeof(int32_t) + 4096) + 2 * uint64_t(ntok) + tok_blob.size() + 4096 +
                        (tok->kind() == "sentencepiece" ? tok->native_file().size() + 4096 : 0);
  if (const std::optional<uint64_t> free = free_disk_bytes(parent_dir(outdir)); free && *free < disk_need)
    GPT_FAIL(outdir, ": its disk has ", format_bytes(double(*free)), " free and the prepared data need ",
             format_bytes(double(disk_need)), " (train.bin, val.bin and the tokenizer, written whole beside ", outdir,
             " before it is replaced); free space on it, or choose another --out (nothing was written)");
  DirWriter out(outdir, {"train.bin", "val.bin", kTokenizerFile, kSentencePieceFile});
  write_shard(join_path(out.path(), "train.bin"), train);
  write_shard(join_path(out.path(), "val.bin"), val);
  tok->save_dir(out.path());
  const bool spm_file = tok->kind() == "sentencepiece";
  if (spm_file) write_file_atomic(join_path(out.path(), kSentencePieceFile), tok->native_file());
  out.commit();

  auto secs = [](auto a, auto b) { return std::round(std::chrono::duration<double>(b - a).count() * 100) / 100; };
  std::string summary =
      in.several ? str(input, " (", parts.size(), parts.size() == 1 ? " file" : " files, each split on its own",
                       separators ? str(", ", count(separators, "newline token"), " between their parts")
                                  : std::string(),
                       ")")
                 : where;
  summary += str(": ", count(nchars, "character"), " (", count(nbytes, "byte"), "). Tokenizer: ", tok->describe(),
                 ", vocab size ",
                 tok->vocab_size());
  if (trained) summary += str(", trained in ", secs(t0, t1), " s");
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.2f", ntok ? double(nchars) / double(ntok) : 0.0);
  summary += str(". ", count(ntok, "token"), " (", ratio, " characters per token, encoded in ", secs(t1, t2),
                 " s). Wrote ", train_path, " (", count(n_train, "token"), "), ", val_path, " (", count(n_val, "token"),
                 ", val fraction ",
                 val_fraction, "), ", tok_path, spm_file ? ", " + model_path : std::string(), ".");
  if (!not_text.empty()) {
    // What each listed file is and what to do with it; the Latin-1 advice only where some
    // file is none of those (it made garbage of UTF-16 text).
    std::string what;
    bool other = false;
    for (size_t k = 0; k < not_text.size(); k++) {
      const auto& kind = not_text_kinds[k];
      other = other || !kind;
      if (kind && k < kNamesListed)
        what += str(what.empty() ? "" : "; ", printable_name(not_text[k]), " is ", kind->what,
                    kind->todo.empty() ? "" : ": " + kind->todo);
    }
    if (other) what += str(what.empty() ? "" : "; ", kOtherEncodingAdvice);
    summary += str(" Skipped ", count(not_text.size(), "file"), " that ", not_text.size() == 1 ? "is" : "are",
                   " not UTF-8 text: ", listed(not_text), " (", what, ").");
  }
  if (!empty.empty()) summary += str(" Skipped ", count(empty.size(), "empty file"), ": ", listed(empty), ".");
  if (!in.own_dirs.empty())
    summary += str(" Did not read gpt's own data or run directories: ", listed(in.own_dirs), ".");
  if (!in.unreadable.empty())
    summary += str(" Could not read ", count(in.unreadable.size(), "path"), ": ", listed(in.unreadable), ".");
  if (!in.passed_over.empty())
    summary += str(" Passed over ", count(in.passed_over.size(), "path"), ": ", listed(in.passed_over), ".");
  if (replaced)
    summary += str(" Note: this replaced other shards in ", outdir, "; a run that trained on them cannot --resume "
                   "with this --data (start a new one from its weights with --init RUN).");
  // Bytes kept as they are that a user may not know are there.
  std::vector<std::string> with_bom, with_crlf, with_cr;
  for (const auto& p : parts) {
    // (Each search within its file: one through the rest of the text took time quadratic in
    // the number of files.)
    const std::string_view file(text.data() + p.begin, p.end - p.begin);
    if (file.substr(0, 3) == "\xEF\xBB\xBF") with_bom.push_back(p.file);
    if (file.find("\r\n") != std::string_view::npos) with_crlf.push_back(p.file);
    // Classic Mac OS line endings: a \r and no \n in the whole file.
    if (file.find('\r') != std::string_view::npos && file.find('\n') == std::string_view::npos)
      with_cr.push_back(p.file);
  }
  if (!with_bom.empty())
    summary += str(" Note: ", listed(with_bom), " start", with_bom.size() == 1 ? "s" : "", " with a byte-order mark "
                   "(U+FEFF), kept as text (the model learns it as the text's first character); remove it with "
                   "sed -i '1s/^\\xEF\\xBB\\xBF//' FILE if that is not wanted.");
  if (!with_crlf.empty())
    summary += str(" Note: ", listed(with_crlf), with_crlf.size() == 1 ? " has" : " have", " Windows line endings "
                   "(\\r\\n): the \\r is kept as a character of its own; convert with sed -i 's/\\r$//' FILE "
                   "if that is not wanted.");
  if (!with_cr.empty())
    summary += str(" Note: ", listed(with_cr), with_cr.size() == 1 ? " has" : " have", " line endings of \\r alone "
                   "(classic Mac OS) and no \\n: the model learns \\r as its line break, and samples and prompts "
                   "need it; convert with tr '\\r' '\\n' < FILE > FILE.txt if that is not wanted.");
  if (not_exact)
    summary += " WARNING: decoding the tokens does not give back the text exactly (this tokenizer normalizes "
               "text, lacks byte fallback, or has no piece for \u2581, which SentencePiece puts for a space); the model will learn the tokenizer's version of it.";
  // Training's random windows (the default) need T+1 tokens, sequential batches B*T+1;
  // say it now, not at `gpt train`.
  const GPTConfig md;
  const TrainConfig td;
  const size_t window = size_t(md.max_seq_len) + 1, need = size_t(td.batch) * size_t(md.max_seq_len) + 1;
  if (n_train < 2)
    summary += str(" WARNING: train.bin has only ", count(n_train, "token"), "; training needs at least 2 (a window "
                   "of --context 1). Use more text.");
  else if (n_train < window)
    summary += str(" Note: train.bin's ", n_train, " tokens are fewer than one window of `gpt train`'s default "
                   "--context (T+1 = ", md.max_seq_len, "+1 = ", window, "): train with --context below ", n_train,
                   ", or use more text.");
  else if (n_train < need)
    summary += str(" Note: train.bin's ", n_train, " tokens are fewer than one batch of `gpt train`'s defaults (B*T+1 = ",
                   td.batch, "*", md.max_seq_len, "+1 = ", need, "): random windows (the default) overlap; "
                   "--sampling sequential needs a smaller --batch and --context (B*T below ", n_train, ").");
  if (val_fraction == 0)
    summary += " WARNING: --val-fraction 0 leaves val.bin empty: train with `gpt train --eval-every 0` (no validation "
               "loss); with evaluation on, training refuses the data.";
  else if (n_val < 2)
    summary += str(" WARNING: val.bin has only ", count(n_val, "token"), ", too few to evaluate: `gpt train` refuses "
                   "the data unless given --eval-every 0 (no validation loss). Raise --val-fraction or use more text.");
  else if (n_val < window)
    summary += str(" Note: val.bin's ", n_val, " tokens are fewer than one window of the default --context (",
                   window, "): evaluation needs --context below ", n_val, " too, or a larger --val-fraction.");
  else if (n_val < need)
    summary += str(" Note: val.bin's ", n_val, " tokens are fewer than one batch of the defaults (", need, "): "
                   "`gpt eval` and `gpt train --eval-batches 0` (every window in order) need B*T below ", n_val,
                   ", or a larger --val-fraction.");
  return summary;
}

}  // namespace gpt
