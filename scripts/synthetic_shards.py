#!/usr/bin/env python3
"""Synthetic token shards for the benchmarks: uniform random ids, llm.c's shard format.
usage: synthetic_shards.py DIR VOCAB TRAIN_TOKENS VAL_TOKENS  -> DIR/train.bin, DIR/val.bin
VOCAB in 1..65536 (ids are uint16); token counts >= 1. Seeded (0): the same shards each time."""
import os, random, struct, sys


def fail(msg, code=2):
    print("synthetic_shards.py: " + msg, file=sys.stderr)
    sys.exit(code)


args = sys.argv[1:]
if args[:1] in (["-h"], ["--help"]):
    print(__doc__)
    sys.exit(0)
if len(args) != 4:
    fail("expected 4 arguments, got %d\n%s" % (len(args), __doc__))
d = args[0]
nums = []
for name, text in zip(("VOCAB", "TRAIN_TOKENS", "VAL_TOKENS"), args[1:]):
    try:
        nums.append(int(text))
    except ValueError:
        fail("%s must be a whole number, got %r" % (name, text))
vocab, n_train, n_val = nums
if not 1 <= vocab <= 65536:
    fail("VOCAB must be in 1..65536 (token ids are stored as uint16), got %d" % vocab)
if n_train < 1 or n_val < 1:
    fail("TRAIN_TOKENS and VAL_TOKENS must be >= 1, got %d and %d" % (n_train, n_val))
random.seed(0)
os.makedirs(d, exist_ok=True)
for split, n in (("train", n_train), ("val", n_val)):
    toks = [random.randrange(vocab) for _ in range(n)]
    path = os.path.join(d, split + ".bin")
    tmp = "%s.tmp.%d" % (path, os.getpid())  # renamed once whole: no header without its tokens
    with open(tmp, "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)))
        f.write(struct.pack("<%dH" % n, *toks))
    os.replace(tmp, path)
