#!/usr/bin/env python3
"""Writes the safetensors goldens read by tests/model/test_safetensors.c.

Run from the repository root:  /path/to/venv/bin/python tests/golden/make_safetensors.py

Files (each a few hundred bytes, written by the Python `safetensors` library,
an implementation independent of ours):
  safetensors/dtypes.safetensors — one tensor per dtype the project uses, a
    scalar and an empty tensor, metadata with several keys. Values follow
    simple formulas the C test recomputes:
      f32   (2, 3)  F32  : arange(6) * 0.5 - 1
      i32   (5,)    I32  : [-7, 0, 1, 2**31-1, -2**31]
      i64   (2, 2)  I64  : [-1, 2**40, 3, -(2**40)]
      u8    (4,)    U8   : [0, 1, 128, 255]
      scalar ()     F32  : 3.25
      empty (0, 4)  F32  : nothing
    and rounding references from torch: `x` (64,) F32 holds values chosen to hit
    the rounding cases (ties, subnormals, overflow, NaN, inf); `x_bf16` and
    `x_f16` are torch's x.to(bfloat16) / x.to(float16), and `x_bf16_f32`,
    `x_f16_f32` are those converted back to float32 by torch.
  safetensors/one_meta.safetensors — three tensors and a single metadata key,
    so its header bytes are deterministic (the library stores metadata in a
    hash map): the C writer must reproduce this file byte for byte.
Regenerating dtypes.safetensors may reorder its three metadata keys in the
header (hash-map order); tensors, values and layout are the same every run.
"""
import os
import numpy as np
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safetensors")


def rounding_cases():
    rng = np.random.default_rng(1234)
    v = [
        0.0, -0.0, 1.0, -1.0, 1.00390625, 1.005859375,  # bf16 ties: 1 + 2^-8 (to even: 1), 1 + 3*2^-9
        1.0009765625 * (1 + 2**-11), 1 + 2**-11,  # f16 tie (to even: 1) and just above
        65504.0, 65519.0, 65520.0, 70000.0, -1e6,  # f16 max, below/at the overflow rounding edge
        6.103515625e-05, 6.0e-05, 5.960464477539063e-08, 2.98e-08, 2.9802322387695312e-08,  # f16 normal/subnormal edges
        1e-40, -3e-39, 3.4e38, float("inf"), float("-inf"), float("nan"),
    ]
    v += list(rng.standard_normal(64 - len(v)) * 10.0 ** rng.integers(-6, 6, 64 - len(v)))
    return torch.tensor(np.array(v, dtype=np.float32))


def main():
    os.makedirs(OUT, exist_ok=True)
    x = rounding_cases()
    t = {
        "f32": (torch.arange(6, dtype=torch.float32) * 0.5 - 1).reshape(2, 3),
        "i32": torch.tensor([-7, 0, 1, 2**31 - 1, -(2**31)], dtype=torch.int32),
        "i64": torch.tensor([-1, 2**40, 3, -(2**40)], dtype=torch.int64).reshape(2, 2),
        "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
        "x": x,
        "x_bf16": x.to(torch.bfloat16),
        "x_f16": x.to(torch.float16),
        "x_bf16_f32": x.to(torch.bfloat16).to(torch.float32),
        "x_f16_f32": x.to(torch.float16).to(torch.float32),
    }
    meta = {"format": "pt", "producer": "tests/golden/make_safetensors.py", "note": "ünïcode ok"}
    save_file(t, os.path.join(OUT, "dtypes.safetensors"), metadata=meta)
    one = {
        "b.weight": torch.arange(6, dtype=torch.float32).reshape(3, 2),
        "a.ids": torch.tensor([5, 6, 7], dtype=torch.int64),
        "c.half": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
    }
    save_file(one, os.path.join(OUT, "one_meta.safetensors"), metadata={"format": "pt"})
    for name in ("dtypes.safetensors", "one_meta.safetensors"):
        os.chmod(os.path.join(OUT, name), 0o644)


if __name__ == "__main__":
    main()
