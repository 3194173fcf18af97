#!/usr/bin/env python3
"""PyTorch baseline for `make bench`: the same GPT-2 models as gpt.cc's benchmark,
written nanoGPT-style (nn.Linear, pre-LayerNorm, tanh GELU, tied head, AdamW), timed
on this machine in the same run. Prints one JSON object.

  train   tokens/s of full training steps (forward, backward, AdamW) on random tokens
  sample  ms/token of batch-1 generation with a KV cache (prefix fed once)

--autocast bf16 runs the forward (and so the backward's products) under
torch.autocast("cpu", dtype=torch.bfloat16): PyTorch's CPU mixed precision, the
baseline of gpt.cc's --dtype bf16. fp32 master weights and AdamW either way.

Run it with OPENBLAS_CORETYPE unset and OMP_WAIT_POLICY=PASSIVE (scripts/bench.sh does).
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.fcproj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def attend(self, x, cache=None):
        B, T, C = x.shape
        hs = C // self.NH
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, hs).transpose(1, 2) for t in (q, k, v))
        if cache is not None:  # decode: append this token's k, v
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            mask = torch.ones(T, T, dtype=torch.bool).tril()
            att = att.masked_fill(~mask, float("-inf"))
        y = att.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))

    def forward(self, x, cache=None):
        x = x + self.attend(self.ln1(x), cache)
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, V, T, L, NH, C):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.lnf = nn.LayerNorm(C)

    def forward(self, idx, pos0=0, caches=None):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(pos0, pos0 + T))
        for i, b in enumerate(self.blocks):
            x = b(x, None if caches is None else caches[i])
        return self.lnf(x) @ self.wte.weight.T


def bench_train(a):
    model = GPT(a.vocab, a.context, a.layers, a.heads, a.dim)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.1)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(a.steps):
        x = torch.randint(0, a.vocab, (a.batch, a.context), generator=g)
        y = torch.randint(0, a.vocab, (a.batch, a.context), generator=g)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast == "bf16"):
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, a.vocab).float(), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times[1:]) * 1000  # step 1 pays allocation and warm-up
    return {"ms_per_step": ms, "tokens_per_s": a.batch * a.context / (ms / 1000)}


@torch.no_grad()
def bench_sample(a):
    model = GPT(a.vocab, a.context, a.layers, a.heads, a.dim).eval()
    g = torch.Generator().manual_seed(0)
    caches = [dict() for _ in range(a.layers)]
    prompt = torch.randint(0, a.vocab, (1, 4), generator=g)
    logits = model(prompt, 0, caches)
    pos, tok = 4, None
    t0 = time.perf_counter()
    for _ in range(min(a.tokens, a.context - 5)):  # stay inside the context (no cache eviction here)
        probs = logits[0, -1].softmax(-1)
        tok = torch.multinomial(probs, 1, generator=g).view(1, 1)
        logits = model(tok, pos, caches)
        pos += 1
    ms = (time.perf_counter() - t0) * 1000 / min(a.tokens, a.context - 5)
    return {"ms_per_token": ms}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["train", "sample"])
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--autocast", choices=["off", "bf16"], default="off")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = bench_train(a) if a.mode == "train" else bench_sample(a)
    out.update(torch=torch.__version__, threads=torch.get_num_threads(), autocast=a.autocast)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
