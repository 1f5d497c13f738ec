#!/usr/bin/env python3
"""tests/golden/check_export.py — developer check (needs torch + transformers; not
run by CI): converts every golden model with `vlmc convert` (f32 and bf16) and
verifies that transformers loads the export without missing/unexpected keys and
computes the same logits as the original checkpoint (f32: bit-identical weights,
so logits match to float32 noise; bf16: the original is cast to bf16 first when
it was saved in bf16).

    /work/main/.venv/bin/python tests/golden/check_export.py build/vlmc
"""
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
vlmc = sys.argv[1]


def load(d, name):
    cls = AutoModelForCausalLM if name.startswith("text") else AutoModelForImageTextToText
    m, info = cls.from_pretrained(d, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    assert not bad, f"{d}: {bad}"
    return m.eval()


ok = True
for name in ["text_llama", "llava_clip_llama", "llava_clip_full", "llava_siglip_qwen2", "idefics3"]:
    src = os.path.join(HERE, "models", name, "hf")
    inputs = load_file(os.path.join(HERE, "models", name, "inputs.safetensors"))
    inputs.pop("labels")
    ref = load(src, name).float()
    with torch.no_grad():
        want = ref(**inputs).logits
    for dt in ["f32", "bf16"]:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "m")
            subprocess.run([vlmc, "convert", src, out, "--dtype", dt], check=True, stdout=subprocess.DEVNULL)
            m = load(out, name).float()
            with torch.no_grad():
                got = m(**inputs).logits
            err = ((got - want).norm() / want.norm()).item()
            lim = 1e-6 if dt == "f32" else 2e-2
            print(f"{name} export {dt}: logits rel err {err:.2e} (limit {lim})")
            ok &= err <= lim
sys.exit(0 if ok else 1)
