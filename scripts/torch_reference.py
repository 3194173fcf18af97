#!/usr/bin/env python3
"""PyTorch reference for gpt.cc: the same GPT-2 model written independently in PyTorch,
used by tests to check gpt.cc's training and its exported files.

  init-llmc  write a GPT-2-initialised model as an llm.c version-3 checkpoint
  train      train from an llm.c checkpoint on a token shard (llm.c's sequential
             batch order) with torch.optim.AdamW; print every step's loss as JSON
  logits     load model.safetensors + config.json (GPT-2 layout, as `gpt export
             --to safetensors` writes them) and print the logits for some token ids

Formats are read and written here from their descriptions in data/README.md (llm.c
checkpoint: 256 int32 header, fp32 params in llm.c's order; safetensors: u64 header
length, JSON header, raw tensors), not through gpt.cc. Needs python3-torch, numpy.
The model: GPT-2 (pre-LayerNorm blocks, eps 1e-5, tanh GELU, learned positions, tied
head, loss over the first V of the Vp padded logits), like llm.c's train_gpt2.

A side-by-side run by hand (what tests/test_reference.cpp does; DATA from `gpt prepare`,
V its vocabulary size, which gpt prepare prints):
  scripts/torch_reference.py init-llmc --out init.bin --vocab V --layers 2 --heads 4 --dim 64 --context 32
  scripts/torch_reference.py train --ckpt init.bin --shard DATA/train.bin --steps 20
  gpt train --data DATA --out run --init init.bin --sampling sequential --schedule constant
      --warmup 0 --weight-decay 0 --grad-clip 0 --dropout 0 --batch 4 --context 32 --steps 20
      --lr 1e-3 --beta1 0.9 --beta2 0.99 --log-every 1 --eval-every 0      (one command line)
  then compare run/metrics.jsonl's train_loss with the "losses" printed (within ~1e-5).
"""
import argparse
import json
import math
import os
import struct
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    # Debian's python3-torch lives in the system interpreter; a pyenv or venv python3
    # earlier on PATH may lack it (as plot_loss.py does for matplotlib).
    system = "/usr/bin/python3"
    if os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system) \
            and not os.environ.get("TORCH_REFERENCE_REEXEC"):
        os.environ["TORCH_REFERENCE_REEXEC"] = "1"
        os.execv(system, [system] + sys.argv)
    sys.exit("torch_reference.py: needs %s; on Debian/Ubuntu: apt-get install python3-torch python3-numpy "
             "(or scripts/install_deps.sh --test)" % e.name)

LLMC_MAGIC, LLMC_VERSION_FP32, LLMC_VERSION_BF16 = 20240326, 3, 5
SHARD_MAGIC = 20240520


def param_shapes(maxT, V, Vp, L, NH, C):
    """llm.c's parameter order and shapes (PyTorch Linear layout: (out, in))."""
    return [
        ("wte", (Vp, C)), ("wpe", (maxT, C)),
        ("ln1w", (L, C)), ("ln1b", (L, C)),
        ("qkvw", (L, 3 * C, C)), ("qkvb", (L, 3 * C)),
        ("attprojw", (L, C, C)), ("attprojb", (L, C)),
        ("ln2w", (L, C)), ("ln2b", (L, C)),
        ("fcw", (L, 4 * C, C)), ("fcb", (L, 4 * C)),
        ("fcprojw", (L, C, 4 * C)), ("fcprojb", (L, C)),
        ("lnfw", (C,)), ("lnfb", (C,)),
    ]


def read_llmc(path):
    with open(path, "rb") as f:
        raw = f.read()
    header = np.frombuffer(raw[:1024], dtype="<i4")
    if header[0] != LLMC_MAGIC or header[1] not in (LLMC_VERSION_FP32, LLMC_VERSION_BF16):
        sys.exit(f"{path}: not an llm.c checkpoint (magic {header[0]}, version {header[1]})")
    maxT, V, L, NH, C, Vp = (int(x) for x in header[2:8])
    shapes = param_shapes(maxT, V, Vp, L, NH, C)
    n = sum(int(np.prod(s)) for _, s in shapes)
    if header[1] == LLMC_VERSION_FP32:
        flat = np.frombuffer(raw[1024:], dtype="<f4")
    else:  # bf16: the upper half of an fp32
        flat = (np.frombuffer(raw[1024:], dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    if flat.size != n:
        sys.exit(f"{path}: expected {n} parameters, found {flat.size}")
    params, off = {}, 0
    for name, s in shapes:
        k = int(np.prod(s))
        params[name] = torch.from_numpy(flat[off:off + k].copy().reshape(s))
        off += k
    return dict(maxT=maxT, V=V, L=L, NH=NH, C=C, Vp=Vp), params


def write_llmc(path, cfg, params):
    header = np.zeros(256, dtype="<i4")
    header[:8] = [LLMC_MAGIC, LLMC_VERSION_FP32, cfg["maxT"], cfg["V"], cfg["L"], cfg["NH"], cfg["C"], cfg["Vp"]]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        for name, s in param_shapes(cfg["maxT"], cfg["V"], cfg["Vp"], cfg["L"], cfg["NH"], cfg["C"]):
            t = params[name]
            assert tuple(t.shape) == s, (name, t.shape, s)
            f.write(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def read_shard(path):
    with open(path, "rb") as f:
        raw = f.read()
    header = np.frombuffer(raw[:1024], dtype="<i4")
    if header[0] != SHARD_MAGIC or header[1] != 1:
        sys.exit(f"{path}: not a token shard (magic {header[0]}, version {header[1]})")
    tokens = np.frombuffer(raw[1024:], dtype="<u2")
    if tokens.size != header[2]:
        sys.exit(f"{path}: header says {header[2]} tokens, file holds {tokens.size}")
    return tokens.astype(np.int64)


class GPT2(torch.nn.Module):
    """GPT-2 on a flat dict of llm.c-named tensors (one nn.Parameter each)."""

    def __init__(self, cfg, params, dtype):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict({k: torch.nn.Parameter(v.to(dtype).clone()) for k, v in params.items()})

    def forward(self, idx, targets=None):
        c, p = self.cfg, self.p
        B, T = idx.shape
        C, NH, L = c["C"], c["NH"], c["L"]
        hs = C // NH
        x = p["wte"][idx] + p["wpe"][:T]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for l in range(L):
            h = torch.nn.functional.layer_norm(x, (C,), p["ln1w"][l], p["ln1b"][l], 1e-5)
            qkv = h @ p["qkvw"][l].T + p["qkvb"][l]
            q, k, v = qkv.split(C, dim=-1)
            q, k, v = (t.view(B, T, NH, hs).transpose(1, 2) for t in (q, k, v))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + y @ p["attprojw"][l].T + p["attprojb"][l]
            h = torch.nn.functional.layer_norm(x, (C,), p["ln2w"][l], p["ln2b"][l], 1e-5)
            h = torch.nn.functional.gelu(h @ p["fcw"][l].T + p["fcb"][l], approximate="tanh")
            x = x + h @ p["fcprojw"][l].T + p["fcprojb"][l]
        x = torch.nn.functional.layer_norm(x, (C,), p["lnfw"], p["lnfb"], 1e-5)
        logits = x @ p["wte"].T  # (B, T, Vp)
        if targets is None:
            return logits, None
        V = c["V"]
        loss = torch.nn.functional.cross_entropy(logits[..., :V].reshape(-1, V), targets.reshape(-1))
        return logits, loss


def cmd_init_llmc(a):
    g = torch.Generator().manual_seed(a.seed)
    V, L, NH, C, maxT = a.vocab, a.layers, a.heads, a.dim, a.context
    Vp = (V + 127) // 128 * 128
    shapes = dict(param_shapes(maxT, V, Vp, L, NH, C))
    params = {}
    for name, s in shapes.items():
        if name.endswith("w") and name.startswith("ln"):
            params[name] = torch.ones(s)
        elif name in ("wte", "wpe", "qkvw", "fcw", "attprojw", "fcprojw"):
            std = 0.02 / math.sqrt(2 * L) if name in ("attprojw", "fcprojw") else 0.02
            params[name] = torch.randn(s, generator=g) * std
        else:  # biases, LayerNorm biases: small random values so their gradients matter
            params[name] = torch.randn(s, generator=g) * 0.01
    params["wte"][V:] = 0  # padded vocabulary rows
    write_llmc(a.out, dict(maxT=maxT, V=V, L=L, NH=NH, C=C, Vp=Vp), params)


def cmd_train(a):
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    torch.set_num_threads(a.threads)
    cfg, params = read_llmc(a.ckpt)
    if a.context > cfg["maxT"]:
        sys.exit(f"--context {a.context} exceeds the checkpoint's {cfg['maxT']}")
    model = GPT2(cfg, params, dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps, weight_decay=0.0)
    tokens = read_shard(a.shard)
    B, T = a.batch, a.context
    pos, losses = 0, []
    for _ in range(a.steps):
        if pos + B * T + 1 > tokens.size:  # llm.c's sequential order wraps to the start
            pos = 0
        buf = torch.from_numpy(tokens[pos:pos + B * T + 1])
        x, y = buf[:-1].view(B, T), buf[1:].view(B, T)
        pos += B * T
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    json.dump({"losses": losses}, sys.stdout)
    print()


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = {"F32": "<f4"}.get(info["dtype"])
        if dt is None:
            sys.exit(f"{path}: {name}: dtype {info['dtype']} not handled by this reference")
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=dt).copy().reshape(info["shape"]))
    return out


def cmd_logits(a):
    with open(f"{a.dir}/config.json") as f:
        hf = json.load(f)
    st = read_safetensors(f"{a.dir}/model.safetensors")
    pre = "transformer." if "transformer.wte.weight" in st else ""
    L, C, V = hf["n_layer"], hf["n_embd"], hf["vocab_size"]
    cfg = dict(maxT=hf["n_positions"], V=V, L=L, NH=hf["n_head"], C=C, Vp=V)

    def stack(fmt, transpose):
        ts = [st[pre + fmt.format(l)] for l in range(L)]
        return torch.stack([t.T if transpose else t for t in ts])

    params = {
        "wte": st[pre + "wte.weight"], "wpe": st[pre + "wpe.weight"],
        "ln1w": stack("h.{}.ln_1.weight", False), "ln1b": stack("h.{}.ln_1.bias", False),
        # Hugging Face's Conv1D stores (in, out): transpose to (out, in).
        "qkvw": stack("h.{}.attn.c_attn.weight", True), "qkvb": stack("h.{}.attn.c_attn.bias", False),
        "attprojw": stack("h.{}.attn.c_proj.weight", True), "attprojb": stack("h.{}.attn.c_proj.bias", False),
        "ln2w": stack("h.{}.ln_2.weight", False), "ln2b": stack("h.{}.ln_2.bias", False),
        "fcw": stack("h.{}.mlp.c_fc.weight", True), "fcb": stack("h.{}.mlp.c_fc.bias", False),
        "fcprojw": stack("h.{}.mlp.c_proj.weight", True), "fcprojb": stack("h.{}.mlp.c_proj.bias", False),
        "lnfw": st[pre + "ln_f.weight"], "lnfb": st[pre + "ln_f.bias"],
    }
    model = GPT2(cfg, params, torch.float64)
    idx = torch.tensor([[int(t) for t in a.tokens.split()]])
    with torch.no_grad():
        logits, _ = model(idx)
    json.dump({"logits": logits[0].tolist()}, sys.stdout)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("init-llmc")
    s.add_argument("--out", required=True)
    s.add_argument("--vocab", type=int, required=True)
    s.add_argument("--layers", type=int, default=2)
    s.add_argument("--heads", type=int, default=4)
    s.add_argument("--dim", type=int, default=64)
    s.add_argument("--context", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("train")
    s.add_argument("--ckpt", required=True)
    s.add_argument("--shard", required=True)
    s.add_argument("--batch", type=int, default=4)
    s.add_argument("--context", type=int, default=32)
    s.add_argument("--steps", type=int, default=20)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--beta1", type=float, default=0.9)
    s.add_argument("--beta2", type=float, default=0.99)
    s.add_argument("--eps", type=float, default=1e-8)
    s.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    s.add_argument("--threads", type=int, default=1)
    s = sub.add_parser("logits")
    s.add_argument("--dir", required=True, help="directory with model.safetensors and config.json")
    s.add_argument("--tokens", required=True, help="token ids separated by spaces")
    a = ap.parse_args()
    {"init-llmc": cmd_init_llmc, "train": cmd_train, "logits": cmd_logits}[a.cmd](a)


if __name__ == "__main__":
    main()
