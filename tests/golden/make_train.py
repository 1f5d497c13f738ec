#!/usr/bin/env python3
"""tests/golden/make_train.py — golden training parity and the trainer's fixture data.

Regenerate (needs torch + transformers 5.x, Pillow; CI does not run this):
    /work/main/.venv/bin/python tests/golden/make_train.py

1. tests/golden/train/parity/ — 20 AdamW steps of the tiny LLaVA model
   tests/golden/models/llava_clip_llama/hf (CLIP tower frozen; projector and
   Llama trained), run twice from the same float32 weights: in float32 and in
   float64. Each step is 2 micro-batches (gradient accumulation) of 2 rows;
   the loss is the sum of token cross-entropies over both micro-batches
   divided by the step's loss-token count (vlmc's definition: mean over the
   loss tokens of the global batch). Then torch.nn.utils.clip_grad_norm_(1.0),
   AdamW (betas 0.9/0.999, eps 1e-8) with two groups — projector lr 2e-3,
   LLM lr 5e-4 — weight decay 0.01 on matrices and 0 on 1-D tensors (norms,
   biases), and transformers' get_cosine_schedule_with_warmup(3 warmup, 20 total).
     batches.safetensors  input_ids (4, 2, 28) i64, labels (4, 2, 28) i64 (-100 = no
                          loss; transformers' unshifted labels), pixel_values
                          (4, 2, 3, 32, 32) f32: a pool of 4 micro-batches, step s uses
                          micro-batches (2s) % 4 and (2s + 1) % 4
     losses.json          per-step losses of both runs, grad norms, the schedule
     final.safetensors    trained tensors after 20 steps under their HF names:
                          f32.NAME (the float32 run), f64hi.NAME + f64lo.NAME (the
                          float64 run split into two float32 parts, value = hi + lo)
2. tests/golden/train/data/ — 24 32x32 PNG shapes and JSONL captions / instruct
   records (pairs.jsonl: 20, pairs_eval.jsonl: 4, instruct.jsonl: 20, sft.jsonl: 20
   two-turn LLaVA-style conversations, interleaved.jsonl: 10 OBELICS-style documents of 2 images) that the
   trainer tests and the recipe smoke runs train on.
"""
import json
import math
import os
import random
import sys

import torch
from safetensors.torch import save_file
from transformers import LlavaForConditionalGeneration, get_cosine_schedule_with_warmup

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "train")
MODEL = os.path.join(HERE, "models", "llava_clip_llama", "hf")
STEPS, POOL, B, T, VOCAB, IMG_TOK, N_IMG = 20, 4, 2, 28, 256, 255, 16


def make_pool():
    g = torch.Generator().manual_seed(21)
    ids = torch.randint(3, VOCAB - 8, (POOL, B, T), generator=g)
    labels = ids.clone()
    for p in range(POOL):
        for b in range(B):
            start = 1 + int(torch.randint(0, 5, (1,), generator=g))
            ids[p, b, start:start + N_IMG] = IMG_TOK
            labels[p, b, :start + N_IMG + 1] = -100
            labels[p, b, T - 2 - b] = -100
    px = torch.randn(POOL, B, 3, 32, 32, generator=g)
    return ids, labels, px


def loss_sum(model, ids, labels, px, dtype):
    out = model(input_ids=ids, pixel_values=px.to(dtype))
    logits = out.logits[:, :-1].reshape(-1, VOCAB)
    tgt = labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(logits, tgt, ignore_index=-100, reduction="sum"), int((tgt != -100).sum())


def train(dtype, pool):
    model = LlavaForConditionalGeneration.from_pretrained(MODEL, dtype=torch.float32,
                                                          attn_implementation="eager").to(dtype)
    model.train()  # dropout probabilities are 0
    for n, p in model.named_parameters():
        p.requires_grad_(not ("vision_tower" in n))
    groups = []
    for is_proj, lr in ((True, 2e-3), (False, 5e-4)):
        for decay in (True, False):
            ps = [p for n, p in model.named_parameters()
                  if p.requires_grad and ("multi_modal_projector" in n) == is_proj and (p.ndim >= 2) == decay]
            if ps:
                groups.append({"params": ps, "lr": lr, "weight_decay": 0.01 if decay else 0.0})
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8)
    sched = get_cosine_schedule_with_warmup(opt, 3, STEPS)
    ids, labels, px = pool
    losses, norms, lrs = [], [], []
    for s in range(STEPS):
        opt.zero_grad(set_to_none=True)
        micro = [(2 * s) % POOL, (2 * s + 1) % POOL]
        n_tok = sum(int((labels[k][:, 1:] != -100).sum()) for k in micro)
        total = 0.0
        for k in micro:
            l, _ = loss_sum(model, ids[k], labels[k], px[k], dtype)
            (l / n_tok).backward()
            total += l.item() / n_tok
        params = [p for p in model.parameters() if p.requires_grad]
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        lrs.append(sched.get_last_lr()[1])
        opt.step()
        sched.step()
        losses.append(total)
        norms.append(float(norm))
    return model, losses, norms, lrs


def saved_name_map(model):
    """parameter name -> the name transformers writes (LLaVA is saved in the older layout)."""
    from safetensors import safe_open
    with safe_open(os.path.join(MODEL, "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    rules = [("model.language_model.", "language_model.model."), ("lm_head.", "language_model.lm_head."),
             ("model.multi_modal_projector.", "multi_modal_projector."), ("model.vision_tower.", "vision_tower.")]
    names = {}
    for n, _ in model.named_parameters():
        out = n
        for a, b in rules:
            if n.startswith(a):
                out = b + n[len(a):]
                break
        assert out in keys, (n, out)
        names[n] = out
    return names


def parity():
    d = os.path.join(OUT, "parity")
    os.makedirs(d, exist_ok=True)
    pool = make_pool()
    m32, l32, n32, lr32 = train(torch.float32, pool)
    m64, l64, n64, lr64 = train(torch.float64, pool)
    ids, labels, px = pool
    save_file({"input_ids": ids.contiguous(), "labels": labels.contiguous(), "pixel_values": px.contiguous()},
              os.path.join(d, "batches.safetensors"))
    names = saved_name_map(m32)
    p64 = dict(m64.named_parameters())
    fin = {}
    d32 = d64 = 0.0
    for n, p in m32.named_parameters():
        if not p.requires_grad:
            continue
        hf = names[n]
        w64 = p64[n].detach()
        hi = w64.float()
        lo = (w64 - hi.double()).float()
        fin["f32." + hf] = p.detach().float().contiguous()
        fin["f64hi." + hf] = hi.contiguous()
        fin["f64lo." + hf] = lo.contiguous()
        d32 += float(((p.detach().double() - w64) ** 2).sum())
    save_file(fin, os.path.join(d, "final.safetensors"))
    rel = [abs(a - b) / abs(b) for a, b in zip(l32, l64)]
    info = {"loss_f32": l32, "loss_f64": l64, "grad_norm_f32": n32, "grad_norm_f64": n64, "lr_llm": lr64,
            "loss_rel_f32_vs_f64_max": max(rel), "weights_f32_vs_f64_abs": math.sqrt(d32),
            "steps": STEPS, "micro_per_step": 2, "clip": 1.0, "warmup": 3, "lr_projector": 2e-3, "lr_llm_peak": 5e-4,
            "weight_decay": 0.01}
    with open(os.path.join(d, "losses.json"), "w") as f:
        json.dump(info, f, indent=1)
    for fn in os.listdir(d):
        os.chmod(os.path.join(d, fn), 0o644)
    print(f"parity: loss {l64[0]:.5f} -> {l64[-1]:.5f}; f32 vs f64 loss rel max {max(rel):.2e}, "
          f"||w32 - w64|| {math.sqrt(d32):.3e}; grad norms {n64[0]:.3f} .. {n64[-1]:.3f}")


def fixtures():
    from PIL import Image, ImageDraw
    d = os.path.join(OUT, "data")
    os.makedirs(os.path.join(d, "img"), exist_ok=True)
    rng = random.Random(7)
    cols = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220), "yellow": (230, 220, 40)}
    recs = []
    for i in range(24):
        c = rng.choice(list(cols))
        s = rng.choice(["circle", "square"])
        im = Image.new("RGB", (32, 32), (128, 128, 128))
        dr = ImageDraw.Draw(im)
        (dr.ellipse if s == "circle" else dr.rectangle)([6, 6, 26, 26], fill=cols[c])
        name = f"img/{i:02d}.png"
        im.save(os.path.join(d, name), optimize=True)
        recs.append((name, c, s))
    with open(os.path.join(d, "pairs.jsonl"), "w") as f:
        for n, c, s in recs[:20]:
            f.write(json.dumps({"image": n, "caption": f"a {c} {s}"}) + "\n")
    with open(os.path.join(d, "pairs_eval.jsonl"), "w") as f:
        for n, c, s in recs[20:]:
            f.write(json.dumps({"image": n, "caption": f"a {c} {s}"}) + "\n")
    with open(os.path.join(d, "instruct.jsonl"), "w") as f:
        for n, c, s in recs[:20]:
            f.write(json.dumps({"image": n, "question": "what colour is the shape?", "answer": c}) + "\n")
    with open(os.path.join(d, "sft.jsonl"), "w") as f:
        for n, c, s in recs[:20]:
            conv = [{"from": "human", "value": "<image>\nwhat is it?"}, {"from": "gpt", "value": f"a {c} {s}"},
                    {"from": "human", "value": "and its colour?"}, {"from": "gpt", "value": c}]
            f.write(json.dumps({"image": n, "conversations": conv}) + "\n")
    with open(os.path.join(d, "interleaved.jsonl"), "w") as f:
        for i in range(0, 20, 2):
            (n1, c1, s1), (n2, c2, s2) = recs[i], recs[i + 1]
            f.write(json.dumps({"texts": [f"first a {c1} {s1}.", None, f"then a {c2} {s2}.", None],
                                "images": [None, n1, None, n2]}) + "\n")
    print(f"fixtures: {len(recs)} images, pairs/instruct JSONL in {d}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    fixtures()
    if "--fixtures-only" not in sys.argv:
        parity()
