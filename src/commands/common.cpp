// Shared subcommand helpers (see common.h).
#include "common.h"

#include <sys/stat.h>
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "check.h"
#include "device.h"
#include "fileio.h"
#include "formats/hf_gpt2.h"
#include "formats/model_io.h"
#include "layers/gemm.h"
#include "text/tokenizer.h"

namespace gpt {

DeviceKind device_from_flags(const Args& a) {
  const DeviceKind d = parse_device(a.str("device"));
  backend_for<float>(d);  // gpt::Error (exit 2) saying why, when there is no such backend here
  return d;
}

std::string dtype_note(Dtype t, DeviceKind device) {
  if (device == DeviceKind::cuda)
    return ", on " + cuda_status().name + (t == Dtype::bf16 ? ", bf16 matmuls on " : ", matmuls on ") +
           cuda_matmul_engine();
  if (t == Dtype::fp32) return "";
  return std::string(", bf16 matmuls (") + cpu::bf16_isa_name(cpu::bf16_isa()) + " kernels)";
}

int most_threads() {
  // (--threads 100000 crashed in libgomp: a team that large does not get its stacks.
  // More threads than cores only take turns; 8x is far past any use.)
  return std::max(64, 8 * omp_get_num_procs());
}

int default_threads() {
  // OMP_NUM_THREADS went around that cap (OMP_NUM_THREADS=100000 crashed the same way, in
  // train and, with no --threads to check, in attention on a model wide enough to go parallel).
  int start = initial_max_threads();
  if (start > most_threads()) {
    std::fprintf(stderr, "note: OMP_NUM_THREADS asks for %d threads, more than gpt starts (at most %d here); using "
                 "the %s\n", start, most_threads(), count(omp_get_num_procs(), "core").c_str());
    start = omp_get_num_procs();
  }
  omp_set_num_threads(start);  // an earlier command in this process may have set another count
  return start;
}

AdaptiveThreads thread_policy(const Args& a) {
  const int n = a.has("threads") ? a.integer("threads") : 0;
  if (n < 0) GPT_USAGE_FAIL("--threads must be >= 0 (0 = all cores, adaptive), got ", n);
  const int most = most_threads();
  if (n > most)
    GPT_USAGE_FAIL("--threads ", n, " is more than gpt starts (at most ", most, " here: 8 per core, 64 at least, for ",
                   count(omp_get_num_procs(), "core"), "); give at most ", omp_get_num_procs(),
                   ", or 0 for all cores");
  if (n > omp_get_num_procs())
    std::fprintf(stderr, "note: --threads %d is more than the %s this process may use; the threads beyond "
                 "them take turns on those cores, which usually makes every step slower\n", n,
                 count(omp_get_num_procs(), "core").c_str());
  if (n > 0) {
    omp_set_num_threads(n);
    return AdaptiveThreads(n, false);
  }
  return AdaptiveThreads(default_threads(), true);
}

void apply_threads(const Args& a) { thread_policy(a); }

void require_output_file(const Args& a, const char* example) {
  if (!a.has("out")) return;
  const std::string out = a.str("out");
  if (out.empty()) GPT_USAGE_FAIL("--out is empty; give a file name (e.g. --out ", example, ")");
  if (is_directory(out))
    GPT_USAGE_FAIL("--out ", out, " is a directory; give a file name (e.g. --out ", join_path(out, example), ")");
  // The picture is written beside the path and renamed over it: a device, FIFO or link
  // there was replaced by a regular file (as root, --out /dev/full replaced the device).
  struct stat st {};
  if (::lstat(out.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    GPT_USAGE_FAIL("--out ", out, " is ", S_ISLNK(st.st_mode) ? "a symbolic link" : "a device, FIFO or socket",
                   ", not a file: the picture is written to a new file renamed over that path, which would replace "
                   "it; give a file name (e.g. --out ", example, S_ISLNK(st.st_mode) ? ", or the file the link names" : "",
                   ") (nothing was written)");
  // A missing directory is said now, not after the work.
  if (const std::string dir = parent_dir(out); !is_directory(dir))
    GPT_USAGE_FAIL("--out ", out, ": there is no directory ", dir, "; create it first (mkdir -p ", dir,
                   ") or give another path (nothing was written)");
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[64];
  if (s > 0 && s < 0.05) return "<0.1s";  // ("done: 30 steps in 0.0s")
  if (s < 0.95) {  // (0.7 s printed as "1s", 0.2 s as "0s")
    std::snprintf(buf, sizeof buf, "%.1fs", s);
    return buf;
  }
  long t = long(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

std::string format_count(double x) {
  long long v = (long long)std::llround(x);
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

size_t count_chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

size_t utf8_len(const std::string& s, size_t i) {
  const unsigned char b = static_cast<unsigned char>(s[i]);
  size_t n = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; k++)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

namespace {
uint32_t code_point(const std::string& s, size_t i, size_t n) {
  uint32_t cp = static_cast<unsigned char>(s[i]) & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < n; k++) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

// Characters that take no room on screen or pass for another (tokenizer.h; the same set
// the tokenizers' messages name by code point).
bool invisible(const std::string& s, size_t i, size_t n) { return hidden_character(code_point(s, i, n)) != nullptr; }
}  // namespace

bool holds_model(const std::string& dir) {
  return file_exists(join_path(dir, kCheckpointFile)) || file_exists(join_path(dir, kSafetensorsFile));
}

std::string data_tokenizer_dir(const std::string& dir, const std::vector<std::string>& shards) {
  std::vector<std::string> dirs;
  if (!dir.empty()) dirs.push_back(dir);
  for (const std::string& s : shards) {
    const std::string d = parent_dir(s);
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  }
  std::string first, first_blob, without;
  for (const std::string& d : dirs) {
    if (!file_exists(join_path(d, kTokenizerFile))) {
      if (without.empty()) without = d;
      continue;
    }
    const std::string blob = Tokenizer::load_dir(d)->serialize();
    if (first.empty()) {
      first = d;
      first_blob = blob;
    } else if (blob != first_blob) {
      GPT_FAIL(join_path(d, kTokenizerFile), " and ", join_path(first, kTokenizerFile),
               " differ: the shards were prepared with different tokenizers, so the same id means another piece "
               "in each; give one tokenizer's data (prepare the other texts with --tokenizer ",
               join_path(first, kTokenizerFile), "), or narrow the pattern to one directory");
    }
  }
  // Shards of a directory without one beside shards of a directory with one: their ids were
  // read as that tokenizer's without a word (llm.c's GPT-2 shards beside a char data set).
  if (!first.empty() && !without.empty())
    GPT_FAIL(without, " has no ", kTokenizerFile, " but ", first, " has one: the shards are read as one tokenizer's "
             "ids, and those of ", without, " may be another's; if they were prepared with ",
             join_path(first, kTokenizerFile), ", copy it into ", without, ", else give the shards of one tokenizer");
  return first;
}

std::optional<int> heads_flag(const Args& a) {
  return a.has("heads") ? std::optional<int>(a.integer("heads")) : std::nullopt;
}

void write_svg(const std::string& path, const std::string& svg) {
  write_file_atomic(path, svg);
  std::fprintf(stderr, "wrote %s\n", path.c_str());
  const size_t dot = path.find_last_of("./");
  std::string ext = dot != std::string::npos && path[dot] == '.' ? path.substr(dot) : "";
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (ext != ".svg")
    std::fprintf(stderr, "note: %s is an SVG image whatever its name says (gpt draws only SVG; a browser opens it): "
                 "name it .svg so that programs know it\n", path.c_str());
}

std::string visible(const std::string& s, size_t* width) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8_len(s, i);
      if (n && invisible(s, i, n)) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "\\u{%04X}", unsigned(code_point(s, i, n)));
        out += buf;
        i += n;
        continue;
      }
      if (n) {
        out.append(s, i, n);
        i += n;
        continue;
      }
    }
    char buf[8];
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          std::snprintf(buf, sizeof buf, "\\x%02X", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
    i++;
  }
  out += "\"";
  if (width) *width = count_chars(out);
  return out;
}

std::unique_ptr<Tokenizer> load_tokenizer_from(const std::string& path, std::string* source,
                                               const std::string& no_tokenizer_hint) {
  auto holds = [&](const char* f) { return file_exists(join_path(path, f)); };
  // A data directory: a tokenizer.bin and no model beside it.
  if (is_directory(path) && holds(kTokenizerFile) && !holds(kCheckpointFile) && !holds(kSafetensorsFile)) {
    *source = join_path(path, kTokenizerFile);
    return load_tokenizer_file(*source);
  }
  if (is_directory(path) && !holds(kCheckpointFile) && !holds(kSafetensorsFile))
    GPT_FAIL(path, ": a directory with no ", kTokenizerFile, " and no model (", kCheckpointFile, " or ",
             kSafetensorsFile, "); expected a tokenizer file (", kTokenizerFile, ", a SentencePiece .model, an "
             "llm.c tokenizer file), a data directory of `gpt prepare` or a model's run directory");
  if (!is_directory(path) && !file_model_format(path)) {  // a tokenizer file (or an error naming it)
    *source = path;
    return load_tokenizer_file(path);
  }
  std::string tok_file;
  const Checkpoint ck = load_model(path, std::nullopt, nullptr, nullptr, &tok_file);
  if (ck.tokenizer.empty())
    GPT_FAIL(path, ": this model has no tokenizer (none stored in it, ", tokenizer_beside_note(path), ")",
             no_tokenizer_hint);
  *source = tok_file.empty() ? path : tok_file;
  std::unique_ptr<Tokenizer> tok = Tokenizer::deserialize(ck.tokenizer, *source);
  require_tokenizer_fits(tok->vocab_size(), ck.model.vocab_size, *source);
  return tok;
}

std::string tokenizer_mismatch_note(const Tokenizer& given, const std::string& given_source,
                                    const std::string& stored, const std::string& stored_source) {
  if (given.serialize() == stored) return "";
  const std::unique_ptr<Tokenizer> own = Tokenizer::deserialize(stored, stored_source);
  std::string where;
  const int n = std::min(given.vocab_size(), own->vocab_size());
  for (int id = 0; id < n && where.empty(); id++)
    if (given.piece(id) != own->piece(id))
      where = str("token ", id, " is ", visible(given.piece(id)), " in it and ", visible(own->piece(id)),
                  " in the model's");
  if (where.empty())
    where = given.vocab_size() != own->vocab_size()
                ? str("it has ", given.vocab_size(), " tokens, the model's ", own->vocab_size())
                : "the same pieces, but other rules or scores, so text may split into other tokens";
  return str(given_source, " is not the tokenizer the model was trained with (", stored_source, ": ",
             own->describe(), "): ", where, "; it is used as given");
}

// Fields dropped in order of need (common.h).
std::string fit_progress_line(const std::string& line, int cols, bool keep_val) {
  if (cols <= 0 || int(line.size()) < cols) return line;
  std::vector<std::string> fields;
  for (size_t at = 0;;) {
    const size_t bar = line.find(" | ", at);
    fields.push_back(line.substr(at, bar == std::string::npos ? std::string::npos : bar - at));
    if (bar == std::string::npos) break;
    at = bar + 3;
  }
  auto joined = [&] {
    std::string out;
    for (const std::string& f : fields) out += (out.empty() ? "" : " | ") + f;
    return out;
  };
  auto drop = [&](const char* prefix) {
    for (size_t i = 1; i < fields.size(); i++)
      if (fields[i].rfind(prefix, 0) == 0) {
        fields.erase(fields.begin() + std::ptrdiff_t(i));
        return;
      }
  };
  std::string out = joined();
  for (const char* p : {"lr ", "MFU ", "(avg)", "comm ", keep_val ? "ETA " : "val "}) {
    if (int(out.size()) < cols) break;
    if (std::string(p) == "(avg)") {
      for (std::string& f : fields)
        if (const size_t k = f.find(" tok/s (avg)"); k != std::string::npos) f = f.substr(0, k) + " tok/s";
    } else {
      drop(p);
    }
    out = joined();
  }
  if (int(out.size()) >= cols) {  // the speed next, whole: a line cut mid-field read "371,852 to"
    for (size_t i = 1; i < fields.size(); i++)
      if (fields[i].find(" tok/s") != std::string::npos) {
        fields.erase(fields.begin() + std::ptrdiff_t(i));
        break;
      }
    out = joined();
  }
  if (int(out.size()) >= cols) out.resize(size_t(cols - 1));
  return out;
}

}  // namespace gpt
