#!/usr/bin/env python3
"""tests/golden/fuzz_tokenizers.py — random-text comparison of `vlmc inspect --json`
against Python `tokenizers` on every golden tokenizer (a development check,
not run by CI: it needs Python).

usage: /work/main/.venv/bin/python tests/golden/fuzz_tokenizers.py SEED LINES
  (from the repo root, after building build/vlmc). ASSIGNED_ONLY=0 also draws
  code points unassigned in Python's Unicode tables: differences there come
  from Unicode versions (tokenizers' Rust tables are newer than PCRE2's and
  utf8proc's), not from the tokenizer logic.
"""
import json
import os
import random
import subprocess
import sys
import unicodedata

from tokenizers import Tokenizer

ASSIGNED_ONLY = int(os.environ.get("ASSIGNED_ONLY", "1"))
INPUT = "/tmp/vlmc_tok_fuzz.txt"
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
pools = [
    lambda: chr(rng.randint(0x20, 0x7e)),
    lambda: rng.choice(" \t\r\x0b\x0c\x85\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\u180e\u200b\ufeff"),
    lambda: chr(rng.randint(0x80, 0x2ff)),
    lambda: chr(rng.randint(0x300, 0x36f)),   # combining
    lambda: chr(rng.randint(0x400, 0x4ff)),
    lambda: chr(rng.randint(0x1100, 0x11ff)),  # jamo
    lambda: chr(rng.randint(0xac00, 0xd7a3)),
    lambda: chr(rng.randint(0x4e00, 0x9fff)),
    lambda: chr(rng.randint(0x1f300, 0x1faff)),
    lambda: chr(rng.randint(0x10000, 0x10ffff)),
    lambda: chr(rng.choice([rng.randint(0xe000, 0xfffd), rng.randint(0x2000, 0x2bff), rng.randint(0xff00, 0xffef)])),
    lambda: rng.choice(["'s", "'S", "'ll", "'LL", "'ſ", "<image>", "<mask>", " <mask>", "[R] ", "xyzzy", " xyzzy",
                        "<|im_end|>", "<s>", "</s>", "<0x41>", "123456", "3.14", "ǅ", "ﬁ", "İ", "K", "Å", "e\u0301"]),
]
lines = []
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 2000):
    n = rng.randint(0, 40)
    s = "".join(rng.choice(pools)() for _ in range(n))
    s = "".join(c for c in s if c != "\n" and not (0xd800 <= ord(c) <= 0xdfff) and (ASSIGNED_ONLY == 0 or unicodedata.category(c) != "Cn"))
    lines.append(s)
open(INPUT, "w", encoding="utf-8", newline="").write("\n".join(lines) + "\n")
bad = 0
for fam in ["gpt2", "llama3", "qwen2", "llama2", "mistral", "var_a", "var_b", "var_c", "var_d"]:
    t = Tokenizer.from_file(f"tests/golden/tok/{fam}.json")
    out = subprocess.run(["build/vlmc", "inspect", f"tests/golden/tok/{fam}.json", "--file", INPUT, "--json"],
                         capture_output=True, text=True)
    got = [json.loads(l)["ids"] for l in out.stdout.splitlines()]
    assert len(got) == len(lines), (fam, len(got), out.stderr[:500])
    nb = 0
    for s, g in zip(lines, got):
        w = t.encode(s).ids
        if w != g:
            nb += 1
            if nb <= 3:
                print(fam, repr(s), "\n  py", w, t.encode(s).tokens, "\n  c ", g)
    print(fam, "mismatches", nb, "of", len(lines))
    bad += nb
sys.exit(1 if bad else 0)
