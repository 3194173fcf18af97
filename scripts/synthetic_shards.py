#!/usr/bin/env python3
"""Synthetic token shards for the benchmarks: uniform random ids, llm.c's shard format.
usage: synthetic_shards.py DIR VOCAB TRAIN_TOKENS VAL_TOKENS  -> DIR/train.bin, DIR/val.bin"""
import os, random, struct, sys

d, vocab, n_train, n_val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(0)
os.makedirs(d, exist_ok=True)
for split, n in (("train", n_train), ("val", n_val)):
    toks = [random.randrange(vocab) for _ in range(n)]
    with open(os.path.join(d, split + ".bin"), "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)))
        f.write(struct.pack("<%dH" % n, *toks))
