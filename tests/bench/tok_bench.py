#!/usr/bin/env python3
"""tests/bench/tok_bench.py — the Python `tokenizers` side of tests/bench/tokenizer.

usage: tok_bench.py TOKENIZER.json CORPUS.txt CORPUS.idx THREADS REPS
Same records and add_special_tokens=True as tok_bench.c; best of REPS after
one warm-up. Prints JSON: encode() loop (single thread), encode_batch with
one rayon thread (set by the driver through RAYON_NUM_THREADS in a separate
process) or all threads.
"""
import json
import struct
import sys
import time

from tokenizers import Tokenizer


def main():
    tok_path, corpus_path, idx_path, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[5])
    data = open(corpus_path, "rb").read()
    lens = struct.unpack(f"<{len(open(idx_path, 'rb').read()) // 4}I", open(idx_path, "rb").read())
    texts, at = [], 0
    for n in lens:
        texts.append(data[at:at + n].decode())
        at += n
    tok = Tokenizer.from_file(tok_path)
    best_single = best_batch = 1e30
    ntok = 0
    for r in range(reps + 1):
        t0 = time.perf_counter()
        ntok = sum(len(tok.encode(s).ids) for s in texts)
        dt = time.perf_counter() - t0
        if r:
            best_single = min(best_single, dt)
    for r in range(reps + 1):
        t0 = time.perf_counter()
        encs = tok.encode_batch(texts)
        dt = time.perf_counter() - t0
        if r:
            best_batch = min(best_batch, dt)
    assert sum(len(e.ids) for e in encs) == ntok
    print(json.dumps({"bytes": len(data), "tokens": ntok, "encode_mbps": len(data) / best_single / 1e6,
                      "batch_mbps": len(data) / best_batch / 1e6}))


if __name__ == "__main__":
    main()
