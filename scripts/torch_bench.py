#!/usr/bin/env python3
"""PyTorch baseline for `make bench` (CPU) and scripts/gpu_check.sh (GPU): the same GPT-2
models as gpt.cc's benchmark, written nanoGPT-style (nn.Linear, pre-LayerNorm, tanh GELU,
tied head, AdamW), timed on this machine in the same run. Prints one JSON object.

  train   tokens/s of full training steps (forward, backward, AdamW) on random tokens
  sample  ms/token of batch-1 generation with a KV cache (prefix fed once)

--device cpu (default, what `make bench` runs; unchanged by the GPU options): explicit
causal-masked attention, plain AdamW, every step but the first (--warmup) timed.
--device cuda: attention through F.scaled_dot_product_attention (flash attention in
bf16), fused AdamW, TF32 off (fp32 means fp32), torch.cuda.synchronize() around each
timed step; --compile wraps the model in torch.compile, its first step (which compiles)
reported apart as first_step_s, never timed. Needs PyTorch >= 2.0.

--autocast bf16 runs the forward (and so the backward's products) under
torch.autocast(DEVICE, dtype=torch.bfloat16): PyTorch's mixed precision, the baseline of
gpt.cc's --dtype bf16. fp32 master weights and AdamW either way.

FLOPs per token (train): nanoGPT's estimate_mfu, after PaLM (Chowdhery et al. 2022,
appendix B): 6 N + 12 L H Q T, with N the parameters less the position embedding (the tied
token embedding counts once, as the classifier) and H Q = C, so 6 N + 12 L C T; the
attention term counts the full T x T score and value products (not halved for causality).
`tflops` = tokens_per_s x flops_per_token; MFU = tflops / the device's peak.

On the CPU run it with OPENBLAS_CORETYPE unset and OMP_WAIT_POLICY=PASSIVE (scripts/bench.sh does).
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def fail(msg):
    print("torch_bench.py: " + msg, file=sys.stderr)
    sys.exit(2)


class Block(nn.Module):
    def __init__(self, C, NH, sdpa):
        super().__init__()
        self.NH, self.sdpa = NH, sdpa
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.fcproj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def attend(self, x, cache=None):
        B, T, C = x.shape
        hs = C // self.NH
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, hs).transpose(1, 2) for t in (q, k, v))
        past = 0
        if cache is not None:  # decode: append this token's k, v
            if "k" in cache:
                past = cache["k"].shape[2]
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        if self.sdpa:
            # is_causal masks top-left aligned: right only when the queries are all the keys
            # (training, or a prompt fed into an empty cache); one new token sees every key.
            if past == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            elif T == 1:
                y = F.scaled_dot_product_attention(q, k, v)
            else:
                mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            if T > 1:
                mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
                att = att.masked_fill(~mask, float("-inf"))
            y = att.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))

    def forward(self, x, cache=None):
        x = x + self.attend(self.ln1(x), cache)
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, V, T, L, NH, C, sdpa=False):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block(C, NH, sdpa) for _ in range(L))
        self.lnf = nn.LayerNorm(C)

    def forward(self, idx, pos0=0, caches=None, targets=None):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(pos0, pos0 + T, device=idx.device))
        for i, b in enumerate(self.blocks):
            x = b(x, None if caches is None else caches[i])
        logits = self.lnf(x) @ self.wte.weight.T
        if targets is None:
            return logits
        # the loss inside forward, as nanoGPT: torch.compile then fuses it with the classifier
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


def flops_per_token(model, a):
    # nanoGPT / PaLM: 6 N + 12 L H Q T (H Q = C); N without the position embedding.
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return n, 6 * n + 12 * a.layers * a.dim * a.context


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bench_train(a, dev):
    torch.manual_seed(0)
    model = GPT(a.vocab, a.context, a.layers, a.heads, a.dim, a.attention == "sdpa").to(dev)
    n_params, fpt = flops_per_token(model, a)
    extra = {"fused": True} if dev.type == "cuda" else {}  # fused AdamW: one kernel set for all tensors
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.1, **extra)
    step_model = model
    if a.compile:
        step_model = torch.compile(model)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(a.steps):
        x = torch.randint(0, a.vocab, (a.batch, a.context), generator=g).to(dev)
        y = torch.randint(0, a.vocab, (a.batch, a.context), generator=g).to(dev)
        sync(dev)
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.autocast == "bf16"):
            loss = step_model(x, targets=y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(dev)
        times.append(time.perf_counter() - t0)
    # the warm-up steps pay allocation, kernel loading and (--compile) compilation
    ms = statistics.median(times[a.warmup:]) * 1000
    tps = a.batch * a.context / (ms / 1000)
    out = {"ms_per_step": ms, "tokens_per_s": tps}
    if dev.type == "cuda":
        out.update(first_step_s=times[0], timed_steps=len(times) - a.warmup, final_loss=loss.item())
    out.update(params=n_params, flops_per_token=fpt, tflops=tps * fpt / 1e12,
               flops_formula="6N+12LCT (nanoGPT/PaLM; N = parameters less the position embedding)")
    return out


@torch.no_grad()
def bench_sample(a, dev):
    torch.manual_seed(0)
    model = GPT(a.vocab, a.context, a.layers, a.heads, a.dim, a.attention == "sdpa").to(dev).eval()
    g = torch.Generator().manual_seed(0)
    gs = g if dev.type == "cpu" else torch.Generator(device=dev).manual_seed(0)
    n = min(a.tokens, a.context - 5)  # stay inside the context (no cache eviction here)

    def generate(count):
        caches = [dict() for _ in range(a.layers)]
        prompt = torch.randint(0, a.vocab, (1, 4), generator=g).to(dev)
        logits = model(prompt, 0, caches)
        pos = 4
        sync(dev)
        t0 = time.perf_counter()
        for _ in range(count):
            probs = logits[0, -1].float().softmax(-1)
            tok = torch.multinomial(probs, 1, generator=gs).view(1, 1)
            logits = model(tok, pos, caches)
            pos += 1
        sync(dev)
        return (time.perf_counter() - t0) * 1000 / count

    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.autocast == "bf16"):
        if dev.type == "cuda":
            generate(min(n, 16))  # warm-up: kernel loading for the decode shapes
        ms = generate(n)
    return {"ms_per_token": ms, "tokens": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["train", "sample"])
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6, help="training steps in all, warm-up included")
    ap.add_argument("--warmup", type=int, default=None,
                    help="untimed first steps (default: 1; 2 on cuda; 3 with --compile)")
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--autocast", choices=["off", "bf16"], default="off")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--attention", choices=["auto", "manual", "sdpa"], default="auto",
                    help="auto: sdpa on cuda, manual (explicit mask and softmax) on cpu")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (train only)")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda: no usable GPU here (PyTorch %s, built with CUDA %s, torch.cuda.is_available() "
             "is False): run it on a GPU machine, or use --device cpu" % (torch.__version__, torch.version.cuda))
    if a.attention == "auto":
        a.attention = "sdpa" if a.device == "cuda" else "manual"
    if a.warmup is None:
        a.warmup = 3 if a.compile else 2 if a.device == "cuda" else 1
    if a.mode == "train" and a.steps <= a.warmup:
        fail("--steps %d must be larger than the %d warm-up steps (--warmup)" % (a.steps, a.warmup))
    if a.dim % a.heads:
        fail("--heads %d must divide --dim %d" % (a.heads, a.dim))
    if a.attention == "sdpa" and not hasattr(F, "scaled_dot_product_attention"):
        fail("--attention sdpa needs PyTorch >= 2.0 (this is %s): use --attention manual" % torch.__version__)
    if a.compile and (a.mode != "train" or not hasattr(torch, "compile")):
        fail("--compile needs PyTorch >= 2.0 (this is %s) and train mode" % torch.__version__)
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    if dev.type == "cuda":
        # TF32 off: fp32 products in full fp32 (bf16 ones are bf16 either way). "highest" is
        # PyTorch's default; set through the API every version has, because PyTorch >= 2.9
        # can fail on a mix of its legacy allow_tf32 flags and the new fp32_precision ones. There
        # are no convolutions here, so cuDNN's TF32 flag is moot and left alone.
        torch.set_float32_matmul_precision("highest")
    out = bench_train(a, dev) if a.mode == "train" else bench_sample(a, dev)
    out.update(torch=torch.__version__, threads=torch.get_num_threads(), autocast=a.autocast)
    out.update(device=a.device, compiled=a.compile, attention=a.attention)
    if dev.type == "cuda":
        out.update(gpu=torch.cuda.get_device_name(dev), matmul_precision="highest (no TF32)",
                   max_memory_gib=torch.cuda.max_memory_allocated(dev) / 2**30)
    out.update(mode=a.mode, layers=a.layers, heads=a.heads, dim=a.dim, context=a.context, vocab=a.vocab,
               batch=a.batch if a.mode == "train" else 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
