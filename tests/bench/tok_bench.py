#!/usr/bin/env python3
"""tests/bench/tok_bench.py — the Python `tokenizers` side of tests/bench/tokenizer.

usage: tok_bench.py TOKENIZER.json CORPUS.txt CORPUS.idx THREADS REPS
Same records and add_special_tokens=True as tok_bench.c; best of REPS after
one warm-up. Prints JSON (MB/s per wall second, and per CPU second of the process):
encode() loop (single thread), encode_batch with
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
    best_single = best_batch = best_single_cpu = best_batch_cpu = 1e30
    ntok = 0
    for r in range(reps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        ntok = sum(len(tok.encode(s).ids) for s in texts)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if r:
            best_single = min(best_single, dt)
            best_single_cpu = min(best_single_cpu, dc)
    for r in range(reps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        encs = tok.encode_batch(texts)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if r:
            best_batch = min(best_batch, dt)
            best_batch_cpu = min(best_batch_cpu, dc)
    assert sum(len(e.ids) for e in encs) == ntok
    print(json.dumps({"bytes": len(data), "tokens": ntok, "encode_mbps": len(data) / best_single / 1e6,
                      "batch_mbps": len(data) / best_batch / 1e6,
                      "encode_cpu_mbps": len(data) / best_single_cpu / 1e6,
                      "batch_cpu_mbps": len(data) / best_batch_cpu / 1e6}))


if __name__ == "__main__":
    main()
