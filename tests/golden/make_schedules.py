#!/usr/bin/env python3
"""Learning-rate multipliers from transformers' schedules, for tests/train/test_schedule.c.

Writes tests/golden/train/schedules.txt: one line per (config, step):
  kind warmup total decay decay_shape min_lr_ratio step factor
decay_shape: 0 linear, 1 cosine, 2 1-sqrt (wsd only)."""
import pathlib

import torch
from transformers import optimization as o

out = pathlib.Path(__file__).resolve().parent / "train" / "schedules.txt"
configs = [
    ("constant", 10, 100, 0, 0, 0.0),
    ("constant", 0, 50, 0, 0, 0.0),
    ("linear", 7, 60, 0, 0, 0.0),
    ("linear", 0, 33, 0, 0, 0.0),
    ("cosine", 5, 40, 0, 0, 0.0),
    ("cosine", 0, 20, 0, 0, 0.0),
    ("cosine", 3, 25, 0, 0, 0.1),
    ("wsd", 4, 50, 10, 0, 0.0),
    ("wsd", 4, 50, 10, 1, 0.05),
    ("wsd", 0, 30, 7, 2, 0.0),
]
kinds = {"constant": 0, "linear": 1, "cosine": 2, "wsd": 3}
shapes = ["linear", "cosine", "1-sqrt"]
lines = []
for kind, w, n, d, shape, r in configs:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    if kind == "constant":
        sch = o.get_constant_schedule_with_warmup(opt, w)
    elif kind == "linear":
        sch = o.get_linear_schedule_with_warmup(opt, w, n)
    elif kind == "cosine":
        sch = o.get_cosine_with_min_lr_schedule_with_warmup(opt, w, n, min_lr_rate=r) if r else \
            o.get_cosine_schedule_with_warmup(opt, w, n)
    else:
        sch = o.get_wsd_schedule(opt, w, d, num_training_steps=n, decay_type=shapes[shape], min_lr_ratio=r)
    for step in range(n + 3):
        f = sch.lr_lambdas[0](step)
        lines.append(f"{kinds[kind]} {w} {n} {d} {shape} {r!r} {step} {float(f)!r}")
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text("\n".join(lines) + "\n")
print(f"wrote {out} ({len(lines)} rows)")
