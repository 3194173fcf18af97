// gpt export: writes a model (any format load_model reads) as an llm.c checkpoint
// (version 3, float32: the bytes llm.c itself writes) or as a Hugging Face GPT-2
// directory (model.safetensors + config.json), with the tokenizer written beside it
// (tokenizer_files_beside) so the export samples as text, and for safetensors also as
// Hugging Face's tokenizer.json + tokenizer_config.json (hf_tokenizer.h) so that
// transformers reads it. No optimizer state.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <memory>

#include "bf16.h"
#include "check.h"
#include "commands/common.h"
#include "commands/run_info.h"
#include "fileio.h"
#include "formats/checkpoint.h"
#include "formats/hf_gpt2.h"
#include "formats/hf_tokenizer.h"
#include "formats/json.h"
#include "formats/llmc.h"
#include "formats/model_io.h"
#include "run_dir.h"
#include "tensors.h"
#include "text/tokenizer.h"

namespace gpt {

namespace {

// A regular file holding a JSON object with `key`.
bool json_object_with(const std::string& path, const char* key) {
  try {
    if (!is_regular_file(path)) return false;
    const Json j = Json::parse(read_file(path), path);
    return j.is_object() && j.find(key) != nullptr;
  } catch (const Error&) {
    return false;
  }
}

// An export writes weights only, so it must not replace what it is not: a gpt.cc
// checkpoint (a run's optimizer state and data position, which `--resume` needs), or any
// other file that is not an earlier llm.c export (metrics, shards, the text), and it
// writes nothing into a run or data directory (its tokenizer.bin belongs to the data).
void refuse_training_files(const std::string& out, const std::string& to) {
  if (to == "llmc" && file_exists(out) && !is_directory(out)) {
    const std::optional<ModelFormat> format = file_model_format(out);
    if (format == ModelFormat::gptcc)
      GPT_USAGE_FAIL("--out ", out, " is a gpt.cc checkpoint (weights, optimizer state and data position): an "
                     "export (weights only) would replace it and the run could no longer be resumed; choose "
                     "another --out (nothing was written)");
    if (format != ModelFormat::llmc)
      GPT_USAGE_FAIL("--out ", out, " exists and is not an llm.c checkpoint; an export replaces only an earlier "
                     "export: choose another --out, or remove the file first (nothing was written)");
  }
  // The other files an export writes (or removes) may only be an earlier export's.
  auto refuse_unless = [&](const std::string& path, bool (*is_kind)(const std::string&), const char* kind) {
    if (file_exists(path) && !is_kind(path))
      GPT_USAGE_FAIL("--out ", out, ": ", path, " exists and is not ", kind, "; an export replaces only the files "
                     "of an earlier export: choose another --out, or move that file away (nothing was written)");
  };
  if (to == "safetensors") {
    refuse_unless(
        join_path(out, kSafetensorsFile),
        [](const std::string& p) { return is_regular_file(p) && file_model_format(p) == ModelFormat::safetensors; },
        "a safetensors file");
    refuse_unless(
        join_path(out, kHfConfigFile),
        [](const std::string& p) {
          try {
            if (!is_regular_file(p)) return false;
            const Json j = Json::parse(read_file(p), p);
            const Json* t = j.find("model_type");
            return t && t->as_string("model_type") == "gpt2";
          } catch (const Error&) {
            return false;
          }
        },
        "a GPT-2 config (JSON with \"model_type\": \"gpt2\")");
    // Hugging Face's tokenizer files: JSON objects with a "model" (tokenizer.json) and a
    // "tokenizer_class" (tokenizer_config.json).
    refuse_unless(
        join_path(out, kHfTokenizerFile), [](const std::string& p) { return json_object_with(p, "model"); },
        "a Hugging Face tokenizer (JSON with a \"model\")");
    refuse_unless(
        join_path(out, kHfTokenizerConfigFile),
        [](const std::string& p) { return json_object_with(p, "tokenizer_class"); },
        "a Hugging Face tokenizer config (JSON with a \"tokenizer_class\")");
  }
  for (const std::string& f : tokenizer_files_beside(to == "safetensors" ? join_path(out, kSafetensorsFile) : out))
    refuse_unless(
        f,
        [](const std::string& p) {
          try {
            return is_regular_file(p) && load_tokenizer_file(p) != nullptr;
          } catch (const Error&) {
            return false;
          }
        },
        "a tokenizer file");
  const std::string dir = to == "safetensors" ? out : parent_dir(out);
  if (const std::string f = run_dir_evidence(dir); !f.empty())
    GPT_USAGE_FAIL("--out ", out, ": ", dir, " holds ", f, ", so it is the directory of a gpt.cc run; export into "
                   "a directory of its own (nothing was written)");
  if (is_directory(dir) && file_exists(join_path(dir, "train.bin")))
    GPT_USAGE_FAIL("--out ", out, ": ", dir, " holds train.bin, so it is the directory of a gpt.cc data set; "
                   "export into a directory of its own (nothing was written)");
}

}  // namespace

int cmd_export(const Args& a) {
  const std::string src = a.require("ckpt"), to = a.require("to"), out = a.require("out");
  if (to != "llmc" && to != "safetensors")
    GPT_USAGE_FAIL("--to: unknown format '", to, "'; choose llmc (an llm.c checkpoint file) or safetensors (a "
                   "Hugging Face GPT-2 directory)");
  const std::string dtype = a.str("dtype");
  if (dtype != "fp32" && dtype != "bf16") GPT_USAGE_FAIL("--dtype: unknown type '", dtype, "'; choose fp32 or bf16");
  if (dtype == "bf16" && to != "llmc")
    GPT_USAGE_FAIL("--dtype bf16 is for --to llmc (llm.c's version-5 file); safetensors exports are float32");
  const std::optional<int> heads = heads_flag(a);
  // (a trailing '/' names a directory too: it failed "cannot create temp file", exit 1)
  if (to == "llmc" && (is_directory(out) || (!out.empty() && out.back() == '/')))
    GPT_USAGE_FAIL("--out ", out, " is a directory; --to llmc writes one file (e.g. --out ",
                   join_path(out, "model.bin"), ")");
  // A name that says the other format (helper-37: --to llmc --out x.safetensors wrote an
  // llm.c file that safetensors readers reject; --to safetensors --out m.safetensors made a
  // directory of that name, which a safetensors reader cannot open as a file).
  const std::string ext = ".safetensors";
  const bool named_safetensors = out.size() > ext.size() && out.compare(out.size() - ext.size(), ext.size(), ext) == 0;
  if (named_safetensors && to == "llmc")
    GPT_USAGE_FAIL("--out ", out, ": --to llmc writes an llm.c checkpoint, not a safetensors file; name it .bin (--out ",
                   out.substr(0, out.size() - ext.size()), ".bin), or write Hugging Face's format with --to "
                   "safetensors --out DIR (nothing was written)");
  if (named_safetensors && to == "safetensors" && !is_directory(out))
    GPT_USAGE_FAIL("--out ", out, ": --to safetensors writes a directory (", kSafetensorsFile, ", ", kHfConfigFile,
                   " and the tokenizer), as transformers' from_pretrained reads it; name the directory (--out ",
                   out.substr(0, out.size() - ext.size()), ", which will hold ",
                   join_path(out.substr(0, out.size() - ext.size()), kSafetensorsFile), ") (nothing was written)");
  refuse_training_files(out, to);
  // A directory this user cannot write, named before any work (helper-41: the error named
  // the export's marker and its temp file, X.bin.exporting.tmp.PID).
  if (to == "llmc") {
    const std::string d = existing_ancestor(parent_dir(out));
    if (::access(d.c_str(), W_OK | X_OK) != 0)
      GPT_FAIL("--out ", out, ": this user cannot write in ", d, " (", std::strerror(errno), "); give an --out in a "
               "directory you can write to (nothing was written)");
  }
  // An earlier export is there (its weights file; refuse_training_files checked its kind):
  // the tokenizer files beside it are its own, which this export may replace or remove.
  const std::string main_file = to == "safetensors" ? join_path(out, kSafetensorsFile) : out;
  // An llm.c export that was interrupted left its marker (and no weights): its files are
  // an earlier export's too.
  const std::string marker = interrupted_export_marker(out);
  const bool earlier_export = file_exists(main_file) || (to == "llmc" && is_regular_file(marker));
  const auto beside = tokenizer_files_beside(main_file);
  Stopwatch sw;
  ModelFormat from;
  const Checkpoint ck = load_model(src, heads, &from);
  note_latest_checkpoint(src, ck);
  const double load_s = sw.seconds();
  const std::string target = to == "llmc" ? "llm.c's checkpoint format" : "transformers' GPT-2";
  const LearnedPositions lp = with_learned_positions(ck, src, target);
  const GPTConfig& c = lp.cfg;
  // A weight beyond bfloat16's range would be written as inf, which every reader
  // (gpt.cc's own included) refuses: said before anything is written.
  if (dtype == "bf16") {
    const size_t n = param_layout(c).total;
    for (size_t i = 0; i < n; i++)
      if (!std::isfinite(bf16_to_float(float_to_bf16(lp.params[i]))))
        GPT_FAIL(src, ": weight of ", param_location(c, i), " is ", lp.params[i], ", beyond bfloat16's largest "
                 "finite value (", bf16_to_float(0x7f7f), "), so --dtype bf16 would write it as inf, which no reader "
                 "accepts (gpt sample refuses it); export it as float32 (--dtype fp32) (nothing was written)");
  }
  std::unique_ptr<Tokenizer> tok;
  if (!ck.tokenizer.empty()) tok = Tokenizer::deserialize(ck.tokenizer, src);
  // The tokenizer file this export writes (none without a tokenizer). The other one beside
  // the weights would be read in its place (a .model first): removed when it is an
  // earlier export's. Without an earlier export, either is the user's: refused before
  // anything is written.
  const bool spm = tok && tok->kind() == "sentencepiece" && !tok->native_file().empty();
  const std::string tok_written = tok ? beside[spm ? 0 : 1] : std::string();
  // A safetensors export also gives the tokenizer as Hugging Face's tokenizer.json and
  // tokenizer_config.json (built now: a failure writes nothing), or says why it cannot.
  // Those files join the set an export owns: written, or removed when an earlier
  // export's, by the rules above.
  HfTokenizerFiles hf;
  if (to == "safetensors" && tok) hf = hf_tokenizer_files(*tok, c.max_seq_len);
  std::vector<std::string> owned = beside, written;
  if (tok) written.push_back(tok_written);
  if (to == "safetensors")
    for (const char* name : {kHfTokenizerFile, kHfTokenizerConfigFile}) {
      owned.push_back(join_path(out, name));
      if (hf.written()) written.push_back(owned.back());
    }
  auto writes = [&](const std::string& f) { return std::find(written.begin(), written.end(), f) != written.end(); };
  for (const std::string& f : owned)
    if (file_exists(f) && !earlier_export) {
      const bool hf_file = std::find(beside.begin(), beside.end(), f) == beside.end();
      const std::string reader = hf_file ? "transformers" : "`gpt sample`";
      GPT_USAGE_FAIL("--out ", out, ": ", f, " is there but no earlier export is (", main_file, "), so it is not "
                     "one's to replace", writes(f) ? "" : " or remove (" + reader + " would read it as the export's "
                     "tokenizer)", "; choose another --out, or move that file away (nothing was written)");
    }
  // Each file this export replaces or removes, checked before any is touched (helper-44: over
  // another user's export in /tmp the tokenizer was replaced, then the weights' rename failed,
  // leaving the old weights beside the new tokenizer, and the message said they were removed).
  if (to == "llmc") {
    std::vector<std::string> touched = {out, marker};
    touched.insert(touched.end(), owned.begin(), owned.end());
    for (const std::string& f : touched)
      if (::access(f.c_str(), F_OK) == 0)
        if (const std::string why = why_not_replaceable(f); !why.empty())
          GPT_FAIL("--out ", out, ": ", why, "; give another --out, or have its owner remove ", f,
                   " (nothing was written)");
  }
  Stopwatch sw2;
  size_t bytes;
  std::string what;
  // The files of an export belong together (a model beside another model's tokenizer of
  // the same size would sample without a word of warning), so no crash may leave a mix:
  // a safetensors directory is written whole beside --out and swapped in at once
  // (DirWriter); an llm.c file and the tokenizer beside it cannot be, so the old weights
  // go first, under a marker naming the interrupted export, and the new weights come
  // last: until then no model is there to be read with the wrong tokenizer. The new
  // weights are written (staged) before the old ones go: a full disk fails there with the
  // earlier export whole (helper-41: it was removed first, and the error said "the
  // previous file, if any, is untouched").
  if (to == "llmc") {
    const std::string file = llmc_bytes(c, lp.params, dtype == "bf16");
    // Missing directories above the file are made, as for a safetensors directory (the
    // error named the marker's temp file in a directory that was not there).
    make_dirs(parent_dir(out));
    for (const std::string& f : owned) remove_stale_temps_of(f);
    remove_stale_temps_of(out);
    remove_stale_temps_of(marker);
    const std::string staged = write_file_staged(out, {file});
    // The tokenizer too (helper-43: new weights that fit beside a tokenizer that did not lost
    // the earlier export's weights).
    std::string staged_tok;
    bool old_removed = false;
    const bool marker_there = is_regular_file(marker);  // (an earlier interrupted export's: it stays)
    try {
      if (tok) staged_tok = write_file_staged(tok_written, {spm ? tok->native_file() : tok->serialize()});
      write_file_atomic(marker, str("gpt export to ", out, " was interrupted here (no weights were written yet); "
                                    "run the export again\n"));
      if (std::remove(out.c_str()) != 0 && errno != ENOENT)
        GPT_FAIL(out, ": cannot remove the earlier export's weights (", std::strerror(errno), "); nothing of it was "
                 "changed");
      old_removed = earlier_export;
      crash_point("export:old-weights-removed");
      if (tok) commit_staged(staged_tok, tok_written);
      staged_tok.clear();
      for (const std::string& f : owned)
        if (!writes(f)) std::remove(f.c_str());  // an earlier export's (checked above)
      crash_point("export:tokenizer-written");
      commit_staged(staged, out);
    } catch (const Error& e) {
      discard_staged(staged);
      if (!staged_tok.empty()) discard_staged(staged_tok);
      if (!old_removed && !marker_there) std::remove(marker.c_str());
      if (!old_removed) throw;
      throw Error(e.code, str(e.what(), "; the earlier export's weights were already removed (", marker,
                              " says so): run this export again once that is fixed"));
    }
    std::remove(marker.c_str());
    bytes = file.size();
    what = out + (dtype == "bf16" ? " (llm.c checkpoint, version 5, bfloat16)" : " (llm.c checkpoint, version 3, float32)");
  } else {
    std::optional<SpecialTokens> special;
    if (tok) special = SpecialTokens{tok->bos_id(), tok->eos_id()};
    // Every file an export owns is replaced or dropped; the directory's other files
    // (a README, say) are carried over. A failure leaves --out as it was.
    std::vector<std::string> replaced = {kSafetensorsFile, kHfConfigFile};
    for (const std::string& f : owned) replaced.push_back(f.substr(f.find_last_of('/') + 1));
    for (const std::string& f : replaced) remove_stale_temps_of(join_path(out, f));  // else carried over
    DirWriter dw(out, replaced);
    auto inside = [&](const std::string& f) { return join_path(dw.path(), f.substr(f.find_last_of('/') + 1)); };
    bytes = export_hf_gpt2(dw.path(), c, lp.params, special);
    if (tok) write_file_atomic(inside(tok_written), spm ? tok->native_file() : tok->serialize());
    if (hf.written()) {
      write_file_atomic(join_path(dw.path(), kHfTokenizerFile), hf.tokenizer_json);
      write_file_atomic(join_path(dw.path(), kHfTokenizerConfigFile), hf.config_json);
    }
    crash_point("export:directory-written");
    dw.commit();
    what = join_path(out, kSafetensorsFile) + " + " + kHfConfigFile + " (Hugging Face GPT-2)";
  }
  std::printf("gpt export: %s -> %s\n  %s parameters: %s, %s, dim %d, context %d, vocab %d (padded %d); "
              "%s bytes; read in %.2f s, written in %.2f s\n",
              to_string(from), what.c_str(), format_count(double(param_layout(c).total)).c_str(),
              count(c.num_layers, "layer").c_str(), count(c.num_heads, "head").c_str(), c.channels,
              c.max_seq_len, c.vocab_size, c.padded_vocab_size,
              format_count(double(bytes)).c_str(), load_s, sw2.seconds());
  if (lp.baked)
    std::printf("  note: sinusoidal positions were written into wpe as a learned table (the logits are the same)\n");
  if (tok)
    std::printf("  tokenizer: %s (%s); `gpt sample --ckpt %s` reads it\n", tok_written.c_str(),
                tok->describe().c_str(), shell_word(out).c_str());
  else
    std::printf("  tokenizer: none (the model has none); `gpt sample --ckpt %s --tokenizer FILE` gives one\n",
                shell_word(out).c_str());
  if (hf.written())
    std::printf("  Hugging Face tokenizer: %s + %s (%s); transformers' AutoTokenizer reads them\n",
                join_path(out, kHfTokenizerFile).c_str(), kHfTokenizerConfigFile, hf.describe.c_str());
  else if (tok && to == "safetensors")
    std::printf("  Hugging Face tokenizer: no tokenizer.json written: %s\n", hf.why_not.c_str());
  return 0;
}

}  // namespace gpt
