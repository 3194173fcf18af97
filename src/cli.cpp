// Command tables, help text and the strict flag parser (see cli.h).
#include "cli.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "check.h"
#include "commands/common.h"
#include "config.h"
#include "gradcheck.h"
#include "process_group.h"
#include "text/dataloader.h"

namespace gpt {

namespace {

// Defaults shown and applied by the CLI come from the config structs (one source of truth).
std::string def_int(long v) { return std::to_string(v); }
std::string def_real(double v) {  // 0.1, 0.99, 1e-3 (as written in the literature)
  char b[32];
  if (v != 0 && std::fabs(v) < 1e-2) {
    // printf's own rounding of the mantissa (a float's 1e-4 is 9.99999975e-05: "1e-4",
    // not "10e-5"), then its trailing zeros dropped.
    std::snprintf(b, sizeof b, "%.5e", v);
    std::string m(b, std::strchr(b, 'e'));
    const int e = std::atoi(std::strchr(b, 'e') + 1);
    while (m.back() == '0') m.pop_back();
    if (m.back() == '.') m.pop_back();
    std::snprintf(b, sizeof b, "%se%d", m.c_str(), e);
  } else {
    std::snprintf(b, sizeof b, v == std::floor(v) && std::fabs(v) < 1e6 ? "%.1f" : "%g", v);
  }
  return b;
}

std::string gradcheck_names() {
  std::string s;
  for (const auto& n : gradcheck_layer_names()) s += (s.empty() ? "" : " | ") + n;
  return s;
}

std::vector<Command> make_commands() {
  const GPTConfig md;
  const TrainConfig td;
  std::vector<Command> cmds;
  cmds.push_back(Command{
      "prepare",
      "text -> tokenizer + train/val token shards (llm.c's format)",
      "gpt prepare --input FILE|DIR|'PATTERN' --out DIR [flags]",
      {"gpt prepare --input data/tinyshakespeare.txt --out data/shakespeare_char",
       "gpt prepare --input data/tinyshakespeare.txt --out data/shakespeare_bpe --tokenizer bpe --vocab-size 1024",
       "gpt prepare --input data/tinyshakespeare.txt --out data/shakespeare_llama --tokenizer tokenizer.model",
       "gpt prepare --input notes --out data/notes --tokenizer bpe"},
      {
          {"input", "PATH", "", "UTF-8 text to train on: a file, a directory (every text file below it) or a "
                                "quoted pattern such as 'notes/*.md'; each file is split into train and val"},
          {"out", "DIR", "", "output directory: train.bin, val.bin, tokenizer.bin (and tokenizer.model)"},
          {"tokenizer", "KIND", "char",
           "char (one token per character) | bpe | unigram (SentencePiece, trained on the input) | FILE (reuse "
           "a SentencePiece .model or a tokenizer.bin) | RUN or a model file (reuse the model's tokenizer)"},
          {"vocab-size", "N", "", "tokens for bpe / unigram, 260..65536", "1024"},
          {"val-fraction", "F", "0.1",
           "fraction of the tokens (the end of each file) held out for validation, 0..0.5"},
      },
      "The first (1 - F) of each file's tokens go to train.bin, the rest to val.bin. A directory\n"
      "is read recursively in path order; names starting with '.', gpt's own data and run\n"
      "directories, empty files and files that are not UTF-8 text are skipped (the summary\n"
      "lists them). In train.bin and val.bin a newline separates one file's part from the\n"
      "next where the part does not end in one. bpe and unigram\n"
      "train SentencePiece in memory with byte fallback and no normalization, so any UTF-8\n"
      "text comes back byte for byte; ids count 256 byte tokens and <unk>, <s>, </s>.\n"
      "They need libsentencepiece (scripts/install_deps.sh); char does not.\n"
      "`gpt tokenize --data DIR --encode TEXT` shows what the tokenizer makes of a text.\n"});
  cmds.push_back(Command{
      "train",
      "train a GPT on prepared shards; checkpoints resume exactly",
      "gpt train --data DIR|--train-glob PATTERN --out RUN [flags]\n       gpt train --resume RUN [flags]",
      {"gpt train --data data/shakespeare_char --out runs/shakespeare",
       "gpt train --resume runs/s --steps 3000",
       "gpt train --train-glob 'fineweb10B/fineweb_train_*.bin' --val-glob 'fineweb10B/fineweb_val_*.bin' \\\n"
       "      --vocab-size 50257 --out runs/fw --sampling sequential",
       "gpt train --init gpt2_124M.bin --context 64 --train-glob 'tinyshakespeare/tiny_shakespeare_train.bin' \\\n"
       "      --val-glob 'tinyshakespeare/tiny_shakespeare_val.bin' --out runs/ft"},
      {
          {"data", "DIR", "", "directory from `gpt prepare` (train.bin, val.bin, tokenizer.bin), or llm.c's "
                              "train.bin/val.bin without a tokenizer (then --vocab-size or --init)"},
          {"train-glob", "PATTERN", "", "training shards instead of DIR/train.bin: a quoted glob of llm.c shards, "
                                        "read in sorted order (e.g. 'dir/fineweb_train_*.bin')"},
          {"val-glob", "PATTERN", "", "validation shards instead of DIR/val.bin (e.g. 'dir/fineweb_val_*.bin')"},
          {"vocab-size", "N", "", "vocabulary size when the data have no tokenizer.bin (50257 for GPT-2 tokens); "
                                  "token ids must be below it"},
          {"out", "RUN", "", "run directory: checkpoint.bin, metrics.jsonl", "the --resume RUN"},
          {"layers", "N", def_int(md.num_layers), "transformer blocks"},
          {"heads", "N", def_int(md.num_heads), "attention heads (must divide --dim; also names the heads of a safetensors "
                              "--init that has no config.json)"},
          {"dim", "N", def_int(md.channels), "channels (embedding size)"},
          {"context", "N", def_int(md.max_seq_len), "context length in tokens"},
          {"pos", "KIND", to_string(md.pos), "positional encoding: learned | sinusoidal | rope"},
          {"dropout", "P", def_real(md.dropout), "dropout probability (embeddings, attention weights, residual branches)"},
          {"batch", "N", def_int(td.batch), "sequences per micro-batch"},
          {"grad-accum", "N", def_int(td.grad_accum), "micro-batches per optimizer step"},
          {"lr", "LR", def_real(td.lr), "peak learning rate"},
          {"min-lr", "LR", def_real(td.min_lr), "learning rate the cosine decay falls to (the last step's is just above it)"},
          {"warmup", "N", def_int(td.warmup), "linear warmup steps"},
          {"schedule", "KIND", td.schedule == Schedule::cosine ? "cosine" : "constant", "cosine | constant"},
          {"weight-decay", "W", def_real(td.weight_decay), "AdamW decoupled weight decay (2-D weights only)"},
          {"beta1", "B", def_real(td.beta1), "AdamW beta1"},
          {"beta2", "B", def_real(td.beta2), "AdamW beta2"},
          {"grad-clip", "G", def_real(td.grad_clip), "clip the global gradient norm to G (0 = off)"},
          {"steps", "N", def_int(td.steps), "total optimizer steps (also when resuming)"},
          {"eval-every", "N", def_int(td.eval_every), "validation loss every N steps and at the end (0 = never)"},
          {"eval-batches", "N", def_int(td.eval_batches), "batches per validation estimate (random windows, the same each time; "
                                     "0 = every window of the val split, in order)"},
          {"log-every", "N", def_int(td.log_every), "metrics.jsonl line and progress every N steps"},
          {"save-every", "N", def_int(td.save_every), "checkpoint every N steps (always at the end; 0 = only at the end)"},
          {"sample-every", "N", "0", "print a sample of the model's text every N steps and at the end, kept in "
                                     "RUN/samples.txt (0 = never; --resume keeps the run's --sample-* settings)"},
          {"sample-tokens", "N", "200", "tokens per sample (temperature 1, seeded with --seed: `gpt sample --ckpt "
                                        "RUN --tokens N` gives the same text from that step's checkpoint)"},
          {"sample-prompt", "TEXT", "", "text the samples continue", "a newline, as `gpt sample`"},
          {"seed", "S", std::to_string(td.seed), "seed for initialisation, data sampling and dropout"},
          {"threads", "N", "0", "OpenMP threads (0 = up to all cores, the count measured as it runs)"},
          {"max-seconds", "S", def_real(0), "stop (saving a checkpoint) after S seconds (wall time: evaluations and samples count; 0 = no limit)"},
          {"stop-at", "N", "0", "stop (saving a checkpoint) after step N without changing the schedule; "
                              "--resume continues (0 = off)"},
          {"sampling", "KIND", td.sampling == SamplingMode::random ? "random" : "sequential", "random (nanoGPT's random windows) | sequential (llm.c's order)"},
          {"zero", "N", "0", "ZeRO stage under mpirun: 0 = every process keeps the whole AdamW state; 1 = m and v "
                             "sharded across the processes (checkpoints are the same files either way)"},
          {"peak-gflops", "G", "", "peak GFLOP/s for the MFU in the progress line (e.g. 67000 for an H200's fp32; "
                                   "0 = no MFU)", "on the CPU the FMA throughput measured at start-up (~0.05 s); "
                                   "on --device cuda none"},
          {"resume", "RUN", "", "continue the run in RUN from its checkpoint (model, optimizer, data position; "
                                "the data it remembers in RUN/data.json unless --data or --train-glob is given)"},
          {"init", "MODEL", "", "start from the weights and model config of a model file (fresh optimizer): a "
                                "run or checkpoint, an llm.c .bin, or a Hugging Face GPT-2 (.safetensors or a "
                                "directory with model.safetensors + config.json); it trains with --dropout as given (0.0 unless given), "
                                "not the dropout the model file was trained with or its config.json names"},
          {"device", "DEV", "cpu", "cpu | cuda"},
          {"profile", "", "", "at the end, the time per layer function of the optimizer steps after the first "
                              "(each call waited for: slower on a GPU than a plain run)"},
          {"dtype", "TYPE", "fp32", "fp32 | bf16: bf16 rounds weights and activations to bfloat16 where they enter "
                                  "a matrix product (fp32 sums, master weights, optimizer state, LayerNorm, softmax "
                                  "and loss); checkpoints are fp32 either way; --resume keeps the run's (RUN/run.json)"},
      },
      "Defaults train a 0.8M-parameter Shakespeare-char model in about two minutes on 2 idle cores\n"
      "(val loss about 1.69). Ctrl-C saves a checkpoint and exits; --resume RUN continues.\n"
      "On --resume the model and optimizer settings come from the checkpoint; flags given\n"
      "explicitly (e.g. --steps) override the optimizer and run settings.\n"
      "A larger --steps on --resume re-stretches the cosine decay (a note says so).\n"
      "Each logged step appends a JSON object to RUN/metrics.jsonl: step, train_loss, lr,\n"
      "grad_norm, tokens_per_s and ms_per_step of that one step, threads (the OpenMP threads it\n"
      "ran on), comm_ms with several processes, and val_loss on evaluation steps;\n"
      "the progress line's tok/s (avg) is a moving average over recent steps. MFU counts\n"
      "6 x matmul parameters + 6 L T C FLOPs per token against --peak-gflops.\n"
      "RUN/best.bin keeps the weights (no optimizer state) of the lowest val loss so far;\n"
      "RUN/data.json remembers the data (absolute paths) for --resume and `gpt eval`.\n"
      "Several shards (--train-glob) are read shard by shard in sequential mode and as one pool of\n"
      "windows in random mode; --resume needs the same shards (checked).\n"});
  cmds.push_back(Command{
      "eval",
      "a model's loss over a whole split, without training",
      "gpt eval --ckpt RUN|FILE [flags]",
      {"gpt eval --ckpt runs/shakespeare_char", "gpt eval --ckpt runs/shakespeare_char/best.bin --data data/shakespeare_char",
       "gpt eval --ckpt gpt2_124M.bin --val-glob 'tinyshakespeare/tiny_shakespeare_val.bin'"},
      {
          {"ckpt", "RUN|FILE", "", "the model: a run or checkpoint (e.g. RUN/best.bin), an llm.c .bin, or a Hugging "
                                   "Face GPT-2"},
          {"data", "DIR", "", "prepared data (DIR/val.bin)", "the data the run was trained on (RUN/data.json)"},
          {"val-glob", "PATTERN", "", "validation shards instead of DIR/val.bin"},
          {"train-glob", "PATTERN", "", "training shards, for --split train"},
          {"split", "NAME", "val", "val | train"},
          {"batch", "N", "", "windows per forward pass; the tail shorter than one batch is left out, as in training",
           "the run's --batch, else 8"},
          {"heads", "N", "", "attention heads, only for a .safetensors file without config.json"},
          {"threads", "N", "0", "OpenMP threads (0 = all cores)"},
          {"device", "DEV", "cpu", "cpu | cuda"},
          {"dtype", "TYPE", "fp32", "fp32 | bf16 (matrix products on bfloat16 operands, fp32 sums)"},
      },
      "Every window of the split in llm.c's sequential order (batch k is tokens [k*B*T, k*B*T+B*T+1)),\n"
      "the pass `gpt train --eval-batches 0` makes: for a run's own checkpoint and batch the same figure.\n"
      "Prints the mean cross-entropy and its perplexity.\n"});
  cmds.push_back(Command{
      "sample",
      "generate text from a trained model (KV cache, streaming)",
      "gpt sample --ckpt RUN|FILE [flags]",
      {"gpt sample --ckpt runs/shakespeare --prompt 'ROMEO:' --tokens 300 --temperature 0.8 --top-k 40"},
      {
          {"ckpt", "RUN|FILE", "", "run directory or checkpoint file, an llm.c .bin, or a Hugging Face GPT-2 "
                                   "(.safetensors, or a directory with model.safetensors + config.json)"},
          {"heads", "N", "", "attention heads, only for a .safetensors file without config.json"},
          {"prompt", "TEXT", "", "text to continue (token ids separated by spaces if there is no tokenizer or it "
                                 "can only decode)", "a newline; without a tokenizer GPT-2's <|endoftext|> 50256 for a 50257-token "
                                 "vocabulary, none for others"},
          {"tokens", "N", "256", "tokens to generate"},
          {"temperature", "T", "1.0", "softmax temperature (0 = greedy)"},
          {"top-k", "K", "0", "sample among the K most likely tokens (0 = off)"},
          {"top-p", "P", "1.0", "sample among the most likely tokens whose probability sums to P (1 = off)"},
          {"seed", "S", "1337", "sampling seed"},
          {"tokenizer", "FILE", "", "tokenizer to use instead of the checkpoint's (tokenizer.bin, SentencePiece "
                                    ".model, llm.c tokenizer file, a data directory or another model's run); "
                                    "one that differs from the checkpoint's is noted"},
          {"prompt-file", "FILE", "", "read the prompt from FILE (as --prompt, byte for byte)"},
          {"num-samples", "N", "1", "independent samples of --tokens each, from the same prompt (separated by a "
                                    "line of dashes)"},
          {"stats", "", "", "print ms/token and tokens/s on stderr"},
          {"threads", "N", "0", "OpenMP threads (0 = up to all cores, the count measured as it runs)"},
          {"device", "DEV", "cpu", "cpu | cuda"},
          {"dtype", "TYPE", "fp32", "fp32 | bf16: decode with bfloat16 weights (half the bytes read per token; "
                                  "fp32 activations and sums)"},
      },
      "The prompt is printed first, then tokens as they are generated. Past the context\n"
      "length the cache is rebuilt from the last half of the context.\n"});
  cmds.push_back(Command{
      "tokenize",
      "show how a tokenizer turns text into tokens and tokens into text",
      "gpt tokenize --data DIR|--ckpt RUN|--tokenizer FILE (--encode TEXT | --decode \"ID ID ...\") [flags]",
      {"gpt tokenize --data data/shakespeare_bpe --encode 'To be, or not to be'",
       "gpt tokenize --ckpt runs/shakespeare --decode \"20 43 50 50 53\"",
       "gpt tokenize --tokenizer tokenizer.model --encode $'caf\\u00e9 \\U0001F600\\n'"},
      {
          {"data", "DIR", "", "use the tokenizer of a data directory (DIR/tokenizer.bin)"},
          {"ckpt", "RUN|FILE", "", "use the tokenizer stored in a checkpoint"},
          {"heads", "N", "", "attention heads, only for a .safetensors file without config.json"},
          {"tokenizer", "FILE", "", "use a tokenizer file: tokenizer.bin, a SentencePiece .model, an llm.c "
                                    "tokenizer file (or a data or run directory, as --data and --ckpt)"},
          {"encode", "TEXT", "", "text to split into tokens"},
          {"decode", "IDS", "", "token ids separated by spaces (or commas) to turn into text"},
      },
      "One row per token: its index, its id, the text it stands for and the piece as the\n"
      "tokenizer names it, both in quotes with \\n, \\t and stray bytes (\\xE2) made visible.\n"
      "SentencePiece writes a space as \"\u2581\" and a byte token as \"<0xE2>\": a character\n"
      "it has no piece for is spelled in its UTF-8 bytes. --encode then prints the ids on\n"
      "one line and the characters-per-token ratio; --decode prints the text.\n"
      "Give exactly one of --data, --ckpt, --tokenizer and one of --encode, --decode.\n"});
  cmds.push_back(Command{
      "export",
      "write a model as an llm.c checkpoint or a Hugging Face GPT-2 (safetensors)",
      "gpt export --ckpt RUN|FILE --to llmc|safetensors --out FILE|DIR [flags]",
      {"gpt export --ckpt runs/shakespeare --to llmc --out shakespeare.bin",
       "gpt export --ckpt runs/shakespeare --to safetensors --out hf/shakespeare",
       "gpt export --ckpt gpt2/model.safetensors --heads 12 --to llmc --out gpt2_124M.bin"},
      {
          {"ckpt", "RUN|FILE", "", "the model: a run or checkpoint, an llm.c .bin, or a safetensors file / directory"},
          {"to", "FORMAT", "", "llmc (llm.c checkpoint, version 3 float32) | safetensors (transformers GPT-2)"},
          {"out", "FILE|DIR", "", "llmc: the file to write; safetensors: a directory (model.safetensors, config.json, "
                                  "the tokenizer also as tokenizer.json + tokenizer_config.json)"},
          {"heads", "N", "", "attention heads, only for a .safetensors input without config.json"},
          {"dtype", "TYPE", "fp32", "fp32 | bf16: with --to llmc, bf16 writes llm.c's version-5 file (bfloat16 "
                                  "parameters rounded to nearest even, half the size)"},
      },
      "Both formats hold GPT-2 with learned positions. A sinusoidal model is exported with its\n"
      "table written into wpe (same logits); a RoPE model cannot be exported (exit 1).\n"
      "No optimizer state. The tokenizer goes beside the model (DIR/tokenizer.model for SentencePiece or\n"
      "DIR/tokenizer.bin; for --to llmc --out X.bin: X.tokenizer.model or X.tokenizer.bin), where\n"
      "`gpt sample --ckpt` finds it. Importing an llm.c\n"
      "checkpoint and exporting it again gives the same bytes. `--init` (gpt train) and\n"
      "`--ckpt` (gpt sample) read both formats back.\n"});
  cmds.push_back(Command{
      "gradcheck",
      "check every hand-written backward pass against finite differences",
      "gpt gradcheck [flags]",
      {"gpt gradcheck", "gpt gradcheck --layer attention", "gpt gradcheck --layer model --pos rope",
       "gpt gradcheck --device cuda"},
      {
          {"layer", "NAME", "all", "one of: all (every layer, then the model), model (the whole 2-layer model), " +
                                       gradcheck_names() + " (one layer)"},
          {"pos", "KIND", "", "learned | sinusoidal | rope: the encoding of the model check, for --layer model or "
                              "all; a single layer is refused", "all three"},
          {"seed", "S", "1234", "seed for the random inputs"},
          {"device", "DEV", "cpu", "cpu | cuda: cuda checks the whole model's gradients computed on the GPU "
                                   "(float, the kernels training runs) against the double-precision model's that the "
                                   "finite differences check (--layer all or model)"},
      },
      "Analytic gradients against central differences, in double precision, on small\n"
      "random inputs. Exits 1 if any tensor fails. An element passes when\n"
      "|analytic - numeric| <= 1e-6 + 1e-5 |numeric|; each row shows its worst element's error\n"
      "beside that element's tolerance. Where a gradient is ~0 the absolute floor decides and the\n"
      "relative error is noise over noise (marked *): qkvb's key third has gradient exactly 0,\n"
      "since softmax ignores q.b_k, which is the same for every key of a row. A small gradient\n"
      "(~1e-5) can be marked too: there the finite difference's own error is over 1e-5 of it.\n"
      "What is checked: each layer's double-precision build (its plain reference loops). The\n"
      "float kernels training runs (the GEMM engine, blocked and flash attention, bf16) are\n"
      "checked against those by the test suite (tests/test_matmul.cpp, tests/test_layers.cpp).\n"
      "--device cuda: the same model and batch for each encoding, without and with dropout, its\n"
      "loss and every parameter's gradient from the GPU's layers against GPT<double>'s on the CPU\n"
      "(the code the finite differences check); an element passes when\n"
      "|gpu - cpu| <= 1e-5 + 1e-4 |cpu| (float sums in another order against double).\n"});
  cmds.push_back(Command{
      "attention",
      "attention step by step from a JSON file, or a trained model's attention maps",
      "gpt attention --input FILE.json [flags]\n"
      "       gpt attention --ckpt RUN|FILE --text TEXT [flags]",
      {"gpt attention --input examples/attention/two_tokens.json",
       "gpt attention --input examples/attention/causal_two_heads.json --json",
       "gpt attention --input examples/attention/why_scale.json --no-scale",
       "gpt attention --ckpt runs/shakespeare --text 'ROMEO: But soft' --layer 3 --out att.svg"},
      {
          {"input", "FILE.json", "", "JSON with X, W_q, W_k, W_v [, W_o] or Q, K, V; optional heads, causal"},
          {"json", "", "", "print every intermediate as JSON instead of tables"},
          {"no-scale", "", "", "drop the 1/sqrt(head size) scaling and compare the softmax entropy with and "
                               "without it"},
          {"ckpt", "RUN|FILE", "", "a trained model: draw its attention weights on --text"},
          {"heads", "N", "", "attention heads, only for a .safetensors file without config.json"},
          {"text", "TEXT", "", "text to run the model on (token ids separated by spaces if the checkpoint has no "
                               "tokenizer)"},
          {"tokenizer", "FILE", "", "tokenizer to use instead of the checkpoint's, as sample's --tokenizer"},
          {"layer", "L", "0", "layer to show, counted from 0"},
          {"head", "H", "", "head to show, counted from 0", "all heads of the layer, as a grid"},
          {"out", "FILE.svg", "", "write a heatmap SVG: one cell per (query, key) token pair"},
      },
      "--input FILE.json: {\"X\": [[...], ...] (T x d), \"W_q\", \"W_k\", \"W_v\": d x d, \"W_o\": d x m (optional),\n"
      "\"heads\": 1, \"causal\": false}, or {\"Q\", \"K\", \"V\": T x d, ...}. Q = X.W_q (rows are tokens). Every step\n"
      "is printed per head: Q, K, V, Q.K^T, the scaling by 1/sqrt(hs) with hs = d/heads the head size, the\n"
      "mask, the softmax weights (rows sum to 1), weights.V; then the concatenated heads and .W_o. It runs\n"
      "the model's own layer functions (matmul_forward, attention_forward) in double precision.\n"
      "--json: {\"heads\": [{\"scores\", \"weights\", \"output\", ...}], \"output\": [[...]]}; masked scores are null.\n"
      "--ckpt: runs the model's forward on TEXT and prints each head's mean entropy (nats);\n"
      "--out also draws the weights, --json prints them.\n"});
  cmds.push_back(Command{
      "posenc",
      "positional encodings as numbers or a heatmap: sinusoidal, RoPE angles, learned",
      "gpt posenc --kind sinusoidal|rope --positions P --dim D [flags]\n"
      "       gpt posenc --kind sinusoidal|rope|learned --ckpt RUN|FILE [flags]",
      {"gpt posenc --kind sinusoidal --positions 8 --dim 8", "gpt posenc --kind rope --positions 64 --dim 32 --out rope.svg",
       "gpt posenc --kind learned --ckpt runs/shakespeare --out wpe.svg"},
      {
          {"kind", "KIND", "", "sinusoidal | rope | learned (needs --ckpt)"},
          {"positions", "P", "", "positions 0..P-1", "with --ckpt, the model's context"},
          {"dim", "D", "", "width of the table; for rope the head size", "with --ckpt, the model's"},
          {"ckpt", "RUN|FILE", "", "take the sizes (and, for learned, the table) from a trained model"},
          {"heads", "N", "", "attention heads, only for a .safetensors file without config.json"},
          {"json", "", "", "print {\"encoding\": [[...]]} instead of a table"},
          {"out", "FILE.svg", "", "write a heatmap SVG (rope: the cosine of each angle)"},
      },
      "sinusoidal: PE[pos, 2i] = sin(pos / 10000^(2i/D)), PE[pos, 2i+1] = cos(same), P x D.\n"
      "rope: theta[pos, i] = pos * 10000^(-2i/D) radians, P x D/2: the angle by which the model rotates the\n"
      "pair (x[2i], x[2i+1]) of every q and k head at position pos (D = head size).\n"
      "learned: the checkpoint's wpe table, P x D. Values come from the model's own code.\n"});
  return cmds;
}

int edit_distance(const std::string& a, const std::string& b) {
  std::vector<int> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) prev[j] = int(j);
  for (size_t i = 1; i <= a.size(); i++) {
    cur[0] = int(i);
    for (size_t j = 1; j <= b.size(); j++)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    // Two neighbours swapped ("stpes") count as one edit (restricted Damerau distance).
    for (size_t j = 2; i >= 2 && j <= b.size(); j++)
      if (a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    prev2 = prev;
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The flag a mistyped name most likely meant, or "": one the name begins (--temp:
// --temperature), the same words in another order (--lr-min: --min-lr), else the
// nearest by edits (a swap of two letters counts one) within ~a quarter of its length,
// so that a name like none of them (--bogus) gets no suggestion.
std::string closest_flag(const Command& cmd, const std::string& typed) {
  std::string name = typed;  // (--STATS: a flag in capitals is the flag)
  for (char& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  auto words = [](const std::string& s) {
    std::vector<std::string> w;
    std::stringstream in(s);
    for (std::string x; std::getline(in, x, '-');) w.push_back(x);
    std::sort(w.begin(), w.end());
    return w;
  };
  std::vector<std::string> starts;
  for (const Flag& g : cmd.flags) {
    if (name.size() >= 3 && g.name.rfind(name, 0) == 0) starts.push_back(g.name);
    if (name.find('-') != std::string::npos && words(g.name) == words(name)) return g.name;
  }
  if (starts.size() == 1) return starts[0];
  std::string best;
  int best_d = name.size() <= 4 ? 2 : name.size() <= 8 ? 3 : 4;  // a distance below this suggests
  for (const Flag& g : cmd.flags) {
    const int d = edit_distance(name, g.name);
    if (d < best_d) best_d = d, best = g.name;
  }
  return best;
}

const Flag* find_flag(const Command& cmd, const std::string& name) {
  for (const Flag& f : cmd.flags)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

const std::vector<Command>& all_commands() {
  static const std::vector<Command> cmds = make_commands();
  return cmds;
}

const Command& find_command(const std::string& name) {
  for (const Command& c : all_commands())
    if (c.name == name) return c;
  if (name == "-v" || name == "-V" || name == "-version")
    GPT_USAGE_FAIL("gpt: unknown command '", name, "'; did you mean --version?");
  if (name == "--")
    GPT_USAGE_FAIL("gpt: '--' is not a command: gpt COMMAND [flags], e.g. gpt train --help (gpt takes no '--' "
                   "separator)\nRun `gpt --help` for the list of commands.");
  if (name.size() > 1 && name[0] == '-')
    GPT_USAGE_FAIL("gpt: '", name, "' is a flag where the command goes: flags come after the command, as in "
                   "gpt COMMAND ", name, " ...\nRun `gpt --help` for the list of commands.");
  std::string best;
  int best_d = 3;
  for (const Command& c : all_commands()) {
    int d = edit_distance(name, c.name);
    if (d < best_d) best_d = d, best = c.name;
  }
  GPT_USAGE_FAIL("gpt: unknown command '", name, "'", best.empty() ? "" : "; did you mean '" + best + "'?",
                 "\nRun `gpt --help` for the list of commands.");
}

std::string help_text(const Command& cmd) {
  std::string s = "gpt " + cmd.name + ": " + cmd.summary + "\n\nUsage: " + cmd.usage + "\n\nFlags:\n";
  size_t w = 0;
  for (const Flag& f : cmd.flags) w = std::max(w, f.name.size() + f.metavar.size() + 3);
  for (const Flag& f : cmd.flags) {
    std::string left = "--" + f.name + (f.metavar.empty() ? "" : " " + f.metavar);
    s += "  " + left + std::string(w - left.size() + 2, ' ') + f.help;
    const std::string& def = f.def.empty() ? f.def_note : f.def;
    if (!def.empty()) s += " [default: " + def + "]";
    s += "\n";
  }
  s += "  --help" + std::string(w - 6 + 2, ' ') + "show this help\n";
  if (!cmd.notes.empty()) s += "\n" + cmd.notes;
  s += "\nExamples:\n";
  for (const auto& e : cmd.examples) s += "  " + e + "\n";
  return s;
}

std::string main_help() {
  std::string s =
      "gpt: train a small GPT on your own text, sample from it, and check every gradient.\n\n"
      "Usage: gpt COMMAND [flags]    (gpt COMMAND --help for its flags; gpt --version)\n\nCommands:\n";
  for (const Command& c : all_commands()) s += "  " + c.name + std::string(12 - c.name.size(), ' ') + c.summary + "\n";
  s +=
      "\nQuick start:\n"
      "  gpt prepare --input data/tinyshakespeare.txt --out data/shakespeare_char\n"
      "  gpt train --data data/shakespeare_char --out runs/shakespeare\n"
      "  gpt sample --ckpt runs/shakespeare --prompt 'ROMEO:'\n"
      "\nFlags follow the command, each once, as --flag VALUE or --flag=VALUE (a value that\n"
      "starts with -- takes the = form: --encode=--x).\n";
  return s;
}

std::string Args::str(const std::string& name) const {
  auto it = given.find(name);
  if (it != given.end()) return it->second;
  auto d = defaults.find(name);
  return d != defaults.end() ? d->second : std::string();
}

std::string Args::require(const std::string& name) const {
  if (!has(name))
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " is required; see `gpt ", command, " --help`");
  if (given.at(name).empty())
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " is empty; it needs a value (see `gpt ", command, " --help`)");
  return given.at(name);
}

double Args::real(const std::string& name) const {
  const std::string s = str(name);
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(s.c_str(), &end);
  // (strtod also reads hexadecimal: --lr 0x10 was 16, --val-fraction 0x0.1 0.0625.)
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0])) || end != s.c_str() + s.size() ||
      s.find_first_of("xX") != std::string::npos)
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " expects a number, got '", s, "'");
  if (errno == ERANGE || !std::isfinite(x))
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " expects a finite number of ordinary size (about 1e-300 to "
                   "1e300 in magnitude, or 0), got '", s, "'");
  return x + 0.0;  // -0 is 0 (it printed as "-0")
}

float Args::single(const std::string& name) const {
  const double x = real(name);
  if (std::fabs(x) > double(std::numeric_limits<float>::max()))
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " is ", str(name), ", beyond single precision, which gpt computes "
                   "it in (magnitude at most 3.4e38)");
  if (x != 0 && float(x) == 0.0f)
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " is ", str(name), ", below single precision's smallest (1.4e-45), "
                   "which gpt computes it in: it would be 0");
  return float(x);
}

int Args::integer(const std::string& name) const {
  const std::string s = str(name);
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0])) || end != s.c_str() + s.size())
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " expects a whole number, got '", s, "'");
  if (errno == ERANGE || x < -2147483647LL || x > 2147483647LL)
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " is ", s, ", more than gpt takes (at most 2147483647 in "
                   "magnitude)");
  return int(x);
}

uint64_t Args::u64(const std::string& name) const {
  const std::string s = str(name);
  char* end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(s.c_str(), &end, 10);
  // (strtoull skips leading spaces and negates a '-': ' -5' read as 18446744073709551611.)
  if (s.empty() || s[0] == '-' || std::isspace(static_cast<unsigned char>(s[0])) || end != s.c_str() + s.size())
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " expects a non-negative whole number, got '", s, "'");
  if (errno == ERANGE)
    GPT_USAGE_FAIL("gpt ", command, ": --", name, " is ", s, ", more than 64 bits hold (at most 18446744073709551615)");
  return uint64_t(x);
}

Args parse_args(const Command& cmd, const std::vector<std::string>& argv) {
  Args a;
  a.command = cmd.name;
  for (const Flag& f : cmd.flags)
    if (!f.def.empty()) a.defaults[f.name] = f.def;
  for (size_t i = 0; i < argv.size(); i++) {
    const std::string& tok = argv[i];
    if (tok == "--help" || tok == "-h") {
      a.given["help"] = "";
      continue;
    }
    if (tok == "--")
      GPT_USAGE_FAIL("gpt ", cmd.name, ": unexpected argument '--': gpt takes no '--' separator; a value that "
                     "starts with -- is given as --FLAG=VALUE (see `gpt ", cmd.name, " --help`)");
    if (tok.rfind("--", 0) != 0)
      GPT_USAGE_FAIL("gpt ", cmd.name, ": unexpected argument '", tok, "' (flags start with --); see `gpt ",
                     cmd.name, " --help`");
    std::string name = tok.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const Flag* f = find_flag(cmd, name);
    if (!f) {
      const std::string best = closest_flag(cmd, name);
      GPT_USAGE_FAIL("gpt ", cmd.name, ": unknown flag --", name,
                     best.empty() ? "." : "; did you mean --" + best + "?", " See `gpt ", cmd.name, " --help`.");
    }
    // (Flags with a value and flags without alike: a repeated --json was taken without a word.)
    if (a.given.count(name)) GPT_USAGE_FAIL("gpt ", cmd.name, ": --", name, " given twice");
    if (f->metavar.empty()) {
      if (inline_value) GPT_USAGE_FAIL("gpt ", cmd.name, ": --", name, " takes no value");
      a.given[name] = "1";
      continue;
    }
    if (!inline_value) {
      // A value may start with '-' only if it is a number (e.g. --lr -1 is then
      // rejected by validation, not mistaken for a missing value).
      if (i + 1 >= argv.size())
        GPT_USAGE_FAIL("gpt ", cmd.name, ": --", name, " needs a value (", f->metavar, "); see `gpt ", cmd.name,
                       " --help`");
      const std::string& next = argv[i + 1];
      if (next.rfind("--", 0) == 0 && next.size() > 2 && !std::isdigit(static_cast<unsigned char>(next[2])))
        GPT_USAGE_FAIL("gpt ", cmd.name, ": --", name, " needs a value (", f->metavar, "), and '", next,
                       "' after it is read as a flag; a value that starts with -- is written --", name, "=", next,
                       " (see `gpt ", cmd.name, " --help`)");
      value = argv[++i];
    }
    a.given[name] = value;
  }
  return a;
}

int run_cli(int argc, char** argv) {
  const std::string command = argc >= 2 ? argv[1] : "";
  // Under mpirun every rank parses the same command line: help, the version and a bad
  // flag were printed once per rank (helper-47). Rank 0 prints them; the other ranks
  // print nothing for help and the version, and say an error of theirs only after a
  // pause, by which time mpirun has ended them if rank 0 met the same error (a rank's
  // own command line, `mpirun ... : ...`, can differ: then the error still comes).
  const bool other_rank = launched_process_count() > 1 && launched_process_rank() != 0;
  std::ostringstream unshown;
  std::ostream& out = other_rank ? unshown : std::cout;
  const auto error_line = [&](const std::string& what) {
    if (other_rank) {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      std::cerr << "error (rank " << launched_process_rank() << " of " << launched_process_count() << "): " << what
                << "\n";
    } else {
      std::cerr << "error: " << what << "\n";
    }
  };
  try {
    if (argc < 2) {
      (other_rank ? unshown : std::cerr) << main_help();
      return kExitUsage;
    }
    const std::string name = argv[1];
    if (name == "--version" || name == "version") {
      if (argc >= 3) GPT_USAGE_FAIL("gpt ", name, " takes no arguments (got '", argv[2], "')");
      out << version_text();
      return 0;
    }
    if (name == "--help" || name == "-h" || name == "help") {
      const std::string what = argc >= 3 ? argv[2] : "";
      if (argc >= 4) GPT_USAGE_FAIL("gpt ", name, " takes one command at most (got '", argv[2], "' and '", argv[3], "')");
      if (!what.empty() && what != "help" && what != "--help" && what != "-h" && what != "--version" &&
          what != "version") {
        out << help_text(find_command(argv[2]));
      } else {
        out << main_help();
      }
      return 0;
    }
    const Command& cmd = find_command(name);
    Args a = parse_args(cmd, std::vector<std::string>(argv + 2, argv + argc));
    if (a.has("help")) {
      out << help_text(cmd);
      return 0;
    }
    // Under mpirun every rank runs the command: N copies of a sample or an export (and N
    // copies of its output). Only train runs on several processes; rank 0 says so.
    if (const int size = launched_process_count(); name != "train" && size > 1) {
      if (launched_process_rank() != 0) return kExitUsage;
      GPT_USAGE_FAIL("gpt ", name, " runs in one process; under mpirun -np ", size, " each process would run it "
                     "(", size, " copies of its work and output): run it without mpirun (only gpt train uses "
                     "several processes)");
    }
    // Every command's thread count is capped (OMP_NUM_THREADS=100000 crashed gpt attention);
    // train, sample and eval cap theirs together with their --threads (thread_policy).
    if (std::none_of(cmd.flags.begin(), cmd.flags.end(), [](const Flag& f) { return f.name == "threads"; }))
      default_threads();
    if (name == "prepare") return cmd_prepare(a);
    if (name == "train") return cmd_train(a);
    if (name == "sample") return cmd_sample(a);
    if (name == "tokenize") return cmd_tokenize(a);
    if (name == "gradcheck") return cmd_gradcheck(a);
    if (name == "attention") return cmd_attention(a);
    if (name == "posenc") return cmd_posenc(a);
    if (name == "export") return cmd_export(a);
    if (name == "eval") return cmd_eval(a);
    GPT_CHECK(false, "command table and dispatcher disagree on ", name);
  } catch (const Error& e) {
    std::cout.flush();
    error_line(e.what());
    return e.code;
  } catch (const std::bad_alloc&) {
    // (Every command was told "try a smaller --batch, --context or model", flags most do not have.)
    if (command == "prepare")
      std::cerr << "error: out of memory; gpt " << command << " holds the whole text and its tokens in memory (about "
                << kPrepareBytesPerTextByte << " bytes per byte of text, more while SentencePiece trains): give it "
                   "less text at a time, free memory, or raise the address-space limit (ulimit -v) if one is set\n";
    else if (command == "attention")
      std::cerr << "error: out of memory; gpt attention holds each shown head's weights, (tokens of --text)^2 of "
                   "them: pick one head with --head, shorten --text, or leave out --json\n";
    else if (command == "train")
      std::cerr << "error: out of memory; try a smaller --batch, --context or model\n";
    else if (command == "eval")
      std::cerr << "error: out of memory; try a smaller --batch, or free memory\n";
    else
      std::cerr << "error: out of memory in gpt " << command << "; free memory, or give it a smaller model or input\n";
    return kExitFailure;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace gpt
