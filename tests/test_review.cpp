// Findings of a black-box review: --init trains with --dropout as given whatever the
// model file says; sample without a tokenizer starts from <|endoftext|> or asks for a
// prompt; ...
#include <cstring>
#include <fstream>

#include "fileio.h"
#include "formats/json.h"
#include "formats/llmc.h"
#include "tensors.h"
#include "text/dataloader.h"
#include "test_util.h"

namespace gpt::test {

namespace {

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Replaces every `from` in a file with `to`.
void replace_in_file(const std::string& path, const std::string& from, const std::string& to) {
  std::string s = read_file(path);
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
  write_file_atomic(path, s);
}

}  // namespace

// review 1: --init of a Hugging Face directory trained with its config.json's resid_pdrop
// (0.1 where it had none), and of a gpt.cc run with the run's --dropout, while the same
// weights as an llm.c file trained with 0.0; `train --help` says --dropout's default is
// 0.0. Every source now trains with --dropout as given.
TEST(Init, TrainsWithTheDropoutFlagWhateverTheModelFileSays) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir), run = dir + "/run", bin = dir + "/m.bin", hf = dir + "/hf";
  std::string err;
  const std::vector<std::string> train = cat({"train", "--data", data, "--steps", "1", "--eval-every", "0",
                                              "--log-every", "1", "--sampling", "sequential"},
                                             tiny_model_flags());
  ASSERT_EQ(run_gpt(cat(train, {"--out", run, "--dropout", "0.1"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "llmc", "--out", bin}, nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "safetensors", "--out", hf}, nullptr, &err), 0) << err;
  ASSERT_NE(read_file(hf + "/config.json").find("\"resid_pdrop\": 0.1"), std::string::npos)
      << read_file(hf + "/config.json");
  auto first_loss = [&](const std::string& init, const std::vector<std::string>& extra) {
    const std::string out = dir + "/ft" + std::to_string(std::rand());
    EXPECT_EQ(run_gpt(cat(cat(train, {"--init", init, "--out", out}), extra), nullptr, &err), 0) << err;
    return read_losses(out + "/metrics.jsonl")[1];
  };
  const std::string plain = first_loss(bin, {});
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(first_loss(hf, {}), plain);
  EXPECT_EQ(first_loss(run, {}), plain);
  EXPECT_EQ(first_loss(run + "/checkpoint.bin", {}), plain);
  // Without the key, transformers' default 0.1 was used: 0.0 all the same.
  replace_in_file(hf + "/config.json", "\"resid_pdrop\": 0.1,", "");
  EXPECT_EQ(first_loss(hf, {}), plain);
  // --dropout still applies, to every source alike.
  const std::string dropped = first_loss(bin, {"--dropout", "0.1"});
  EXPECT_NE(dropped, plain);
  EXPECT_EQ(first_loss(hf, {"--dropout", "0.1"}), dropped);
  EXPECT_EQ(first_loss(run, {"--dropout", "0.1"}), dropped);
  std::string out;
  ASSERT_EQ(run_gpt({"train", "--help"}, &out, &err), 0);
  EXPECT_NE(out.find("it trains with --dropout as given (0.0 unless given)"), std::string::npos) << out;
}

// review 2: `gpt sample` of a model without a tokenizer and no --prompt (or an empty one)
// started from token 0, while the help says a newline, which has no id there. A GPT-2
// vocabulary starts from <|endoftext|> 50256 (as llm.c's samples do), and says so; any
// other is refused, with the flag to give. train --sample-every alike.
TEST(SampleCli, WithoutATokenizerStartsFromEndOfTextOrAsksForTokenIds) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir);
  std::remove((data + "/tokenizer.bin").c_str());
  std::string out, err;
  const std::vector<std::string> train = cat({"train", "--data", data, "--steps", "1", "--eval-every", "0"},
                                             tiny_model_flags());
  ASSERT_EQ(run_gpt(cat(train, {"--out", dir + "/gpt2", "--vocab-size", "50257"}), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt(cat(train, {"--out", dir + "/small", "--vocab-size", "64"}), nullptr, &err), 0) << err;
  for (const std::vector<std::string>& prompt : std::vector<std::vector<std::string>>{{}, {"--prompt", ""}}) {
    const std::vector<std::string> sample = cat({"sample", "--tokens", "3", "--seed", "1"}, prompt);
    ASSERT_EQ(run_gpt(cat(sample, {"--ckpt", dir + "/gpt2"}), &out, &err), 0) << err;
    EXPECT_NE(err.find(": the samples start from token 50256 (GPT-2's <|endoftext|>, as llm.c's do)"),
              std::string::npos) << err;
    EXPECT_EQ(out.rfind("50256 ", 0), 0u) << out;
    EXPECT_EQ(run_gpt(cat(sample, {"--ckpt", dir + "/small"}), &out, &err), 2) << out;
    EXPECT_NE(err.find(prompt.empty() ? "no --prompt, and this checkpoint has no tokenizer" : "--prompt is empty"),
              std::string::npos) << err;
    EXPECT_NE(err.find("the vocabulary of 64 tokens is not GPT-2's"), std::string::npos) << err;
    EXPECT_NE(err.find("give --prompt with token ids 0..63 separated by spaces"), std::string::npos) << err;
    EXPECT_TRUE(out.empty()) << out;
  }
  // Token ids as the prompt: as before.
  ASSERT_EQ(run_gpt({"sample", "--ckpt", dir + "/small", "--prompt", "3 4", "--tokens", "2"}, &out, &err), 0) << err;
  EXPECT_EQ(out.rfind("3 4 ", 0), 0u) << out;
  // train --sample-every on data without a tokenizer: its own flag is named, before any step.
  EXPECT_EQ(run_gpt(cat(train, {"--out", dir + "/samples", "--vocab-size", "64", "--sample-every", "1"}), &out, &err),
            2);
  EXPECT_NE(err.find("give --sample-prompt with token ids 0..63"), std::string::npos) << err;
  EXPECT_FALSE(file_exists(dir + "/samples/checkpoint.bin"));
  // gpt attention needs its --text: an empty one is refused as before.
  EXPECT_EQ(run_gpt({"attention", "--ckpt", dir + "/small", "--text", ""}, &out, &err), 2);
  EXPECT_NE(err.find("--text is empty"), std::string::npos) << err;
}

// review 3: --resume RUN --val-glob P without --train-glob said "--data is required", which
// does not fit a resume. A resume takes the data it remembers unless --data or
// --train-glob is given: said so, with the run's data.
TEST(Runs, ResumeWithValGlobAloneSaysItNeedsTrainGlob) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir), run = dir + "/run";
  std::string err;
  const std::vector<std::string> flags = cat({"--eval-every", "0"}, tiny_model_flags());
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", run, "--steps", "1"}, flags), nullptr, &err), 0) << err;
  EXPECT_EQ(run_gpt(cat({"train", "--resume", run, "--steps", "2", "--val-glob", data + "/val.bin"}, flags), nullptr,
                    &err), 2);
  EXPECT_NE(err.find("--resume " + run + ": --val-glob without --train-glob (or --data): a resume reads the data the "
                     "run remembers (--data " + data + ")"), std::string::npos) << err;
  EXPECT_NE(err.find("pass --train-glob (or --data) with --val-glob, or drop --val-glob"), std::string::npos) << err;
  EXPECT_EQ(err.find("--data is required"), std::string::npos) << err;
  // With --train-glob it resumes.
  EXPECT_EQ(run_gpt(cat({"train", "--resume", run, "--steps", "2", "--train-glob", data + "/train.bin", "--val-glob",
                         data + "/val.bin"}, flags), nullptr, &err), 0) << err;
}

// review 4: `gpt tokenize --ckpt` used a tokenizer beside the model of another size than
// its vocabulary (ids past it, exit 0), where `gpt sample` refuses it: refused alike.
TEST(TokenizeCli, RefusesATokenizerBesideTheModelOfAnotherSize) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir), run = dir + "/run", bin = dir + "/c.bin";
  std::string out, err;
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", run, "--steps", "1", "--eval-every", "0"},
                        tiny_model_flags()), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "llmc", "--out", bin}, nullptr, &err), 0) << err;
  // Another text's tokenizer, with more characters.
  std::string text;
  for (int c = 33; c < 120; c++) text += std::string(40, char(c)) + " ";
  write_file_atomic(dir + "/other.txt", text);
  prepare_data(dir + "/other.txt", dir + "/other", "char", 0.1);
  write_file_atomic(dir + "/c.tokenizer.bin", read_file(dir + "/other/tokenizer.bin"));
  EXPECT_EQ(run_gpt({"sample", "--ckpt", bin, "--tokens", "2"}, &out, &err), 1);
  const size_t at = err.find(": the tokenizer has ");
  ASSERT_NE(at, std::string::npos) << err;
  const std::string refusal = err.substr(at, err.find(";", at) - at);
  EXPECT_EQ(run_gpt({"tokenize", "--ckpt", bin, "--encode", "the cat"}, &out, &err), 1) << out;
  EXPECT_NE(err.find(dir + "/c.tokenizer.bin" + refusal), std::string::npos) << err << " lacks " << refusal;
  EXPECT_NE(err.find("they do not belong together. Give the tokenizer the model was trained with (--tokenizer FILE)"),
            std::string::npos) << err;
  EXPECT_TRUE(out.empty()) << out;
}

// review 5: export --to llmc --dtype bf16 rounded a weight beyond bfloat16's range to inf,
// and gpt then refused its own export. The export refuses, naming the weight, and writes nothing.
TEST(Llmc, Bf16ExportRefusesAWeightBeyondBf16sRange) {
  const std::string dir = scratch_dir();
  const std::string data = make_data(dir), run = dir + "/run", bin = dir + "/m.bin", out = dir + "/bf16.bin";
  std::string err;
  ASSERT_EQ(run_gpt(cat({"train", "--data", data, "--out", run, "--steps", "1", "--eval-every", "0"},
                        tiny_model_flags()), nullptr, &err), 0) << err;
  ASSERT_EQ(run_gpt({"export", "--ckpt", run, "--to", "llmc", "--out", bin}, nullptr, &err), 0) << err;
  // fcb of layer 1, element 3 set to 3.4e38 (finite in fp32, inf in bf16).
  GPTConfig c = small_gpt(16, 32);
  c.vocab_size = 0;
  std::string file = read_file(bin);
  int32_t header[8];
  std::memcpy(header, file.data(), sizeof header);
  c.vocab_size = header[3];
  c.padded_vocab_size = header[7];
  const ParamLayout l = param_layout(c);
  int fcb = 0;
  while (std::string(tensor_spec(fcb).name) != "fcb") fcb++;
  const float big = 3.4e38f;
  std::memcpy(&file[1024 + 4 * (l.offset[fcb] + l.per_layer[fcb] + 3)], &big, 4);
  write_file_atomic(bin, file);
  EXPECT_EQ(run_gpt({"export", "--ckpt", bin, "--to", "llmc", "--dtype", "bf16", "--out", out}, nullptr, &err), 1);
  EXPECT_NE(err.find(bin + ": weight of tensor fcb (layer 1, element 3) is 3.4e+38, beyond bfloat16's largest finite "
                     "value"), std::string::npos) << err;
  EXPECT_NE(err.find("export it as float32 (--dtype fp32) (nothing was written)"), std::string::npos) << err;
  EXPECT_FALSE(file_exists(out));
  EXPECT_FALSE(file_exists(dir + "/bf16.tokenizer.bin"));
  EXPECT_EQ(run_gpt({"export", "--ckpt", bin, "--to", "llmc", "--dtype", "fp32", "--out", out}, nullptr, &err), 0)
      << err;
}

// review 7: an empty --data directory said "has no tokenizer.bin, so the vocabulary size is
// unknown: pass --vocab-size N", which cannot help: the missing train.bin is named first.
TEST(Runs, AnEmptyDataDirectoryNamesTheMissingTrainBin) {
  const std::string dir = scratch_dir();
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "/empty'").c_str()), 0);
  std::string err;
  EXPECT_EQ(run_gpt(cat({"train", "--data", dir + "/empty", "--out", dir + "/run", "--steps", "1"},
                        tiny_model_flags()), nullptr, &err), 1);
  EXPECT_NE(err.find("--data " + dir + "/empty: has no train.bin (nor tokenizer.bin), so it is not a data directory "
                     "of `gpt prepare`; make one with gpt prepare --input TEXT --out " + dir + "/empty"),
            std::string::npos) << err;
  EXPECT_EQ(err.find("--vocab-size"), std::string::npos) << err;
  EXPECT_FALSE(file_exists(dir + "/run/metrics.jsonl"));
}

}  // namespace gpt::test
