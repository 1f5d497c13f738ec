"""Linear probes of a shapes-demo checkpoint's image features: how well can
a linear classifier read each grid cell's shape, colour and size from the
encoder output and from the adapter output (one token per cell), compared
with raw pixels? And can it tell from a token alone which cell it stands for
("cell, object": over the tokens of occupied cells; "cell, any": over all)?
The LLM answers "What colour is the object at the top left?" by finding the
token of that cell; a token that does not carry its cell leaves it only the
token's sequence position. Renders fresh scenes with the shapes world's rules
(data/shapes_scene.c: 21-px cells inside a 1-px margin, half-extent 9 / 5).
Loads LLaVA- or Idefics3-layout checkpoints with transformers.

  .venv/bin/python scripts/diag/shapes_probe.py runs/shapes [scenes]
"""
import sys

import numpy as np
import torch
from transformers import AutoConfig, Idefics3ForConditionalGeneration, LlavaForConditionalGeneration

from shapes_eval_hf import checkpoint

PALETTE = np.array([[220, 30, 30], [30, 170, 40], [40, 70, 220], [240, 220, 30], [150, 40, 190], [250, 140, 20],
                    [255, 255, 255], [0, 0, 0]], np.uint8)


def inside(s, dx, dy, e):
    ax, ay = abs(dx), abs(dy)
    return [dx * dx + dy * dy <= e * e, ax <= e and ay <= e, -e <= dy <= e and 2 * ax <= dy + e, ax + ay <= e,
            (ax <= e // 3 and ay <= e) or (ay <= e // 3 and ax <= e)][s]


def scene(rng):
    n = rng.integers(1, 5)
    img = np.full((64, 64, 3), 128, np.uint8)
    lab = np.full((9, 5), -1)
    lab[:, 4] = np.arange(9)
    for c in rng.permutation(9)[:n]:
        s, col, sz = rng.integers(5), rng.integers(8), rng.integers(2)
        cx, cy, e = 1 + (c % 3) * 21 + 10, 1 + (c // 3) * 21 + 10, 9 if sz else 5
        for y in range(cy - e, cy + e + 1):
            for x in range(cx - e, cx + e + 1):
                if inside(s, x - cx, y - cy, e):
                    img[y, x] = PALETTE[col]
        lab[c, :4] = (s, col, sz, c)
    return img, lab


def per_cell(h, N):
    """(N, g*g, C) tokens on a g x g grid -> (N, 9, (g/3)^2 * C), one row per grid cell"""
    g = int(round(h.shape[1] ** 0.5))
    r = g // 3
    return h.view(N, 3, r, 3, r, -1).permute(0, 1, 3, 2, 4, 5).reshape(N, 9, -1)


def probe(F, labs, name, N):
    tr = int(N * 0.75) * 9
    F = F.reshape(N * 9, -1)
    for k, kn, nc in ((0, "shape", 5), (1, "colour", 8), (2, "size", 2), (3, "cell, object", 9), (4, "cell, any", 9)):
        y = labs[:, :, k].reshape(-1)
        ok = y >= 0
        Xtr, ytr, Xte, yte = F[:tr][ok[:tr]], y[:tr][ok[:tr]], F[tr:][ok[tr:]], y[tr:][ok[tr:]]
        mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
        W = torch.zeros(F.shape[1], nc, requires_grad=True)
        b = torch.zeros(nc, requires_grad=True)
        opt = torch.optim.Adam([W, b], lr=0.01)
        for _ in range(500):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(((Xtr - mu) / sd) @ W + b, ytr) + 1e-4 * (W ** 2).sum()
            loss.backward()
            opt.step()
        acc = ((((Xte - mu) / sd) @ W + b).argmax(1) == yte).float().mean().item()
        print(f"{name:10s} {kn:12s} linear-probe accuracy {acc:.3f}")


def main():
    torch.manual_seed(0)
    ck = checkpoint(sys.argv[1])
    N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    cfg = AutoConfig.from_pretrained(ck)
    idefics = cfg.model_type == "idefics3"
    m = (Idefics3ForConditionalGeneration if idefics else LlavaForConditionalGeneration).from_pretrained(
        ck, dtype=torch.float32).eval()
    rng = np.random.default_rng(0)
    imgs, labs = zip(*[scene(rng) for _ in range(N)])
    labs = torch.tensor(np.stack(labs))
    S = cfg.vision_config.image_size
    x = torch.tensor(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    x = torch.nn.functional.interpolate(x, size=(S, S), mode="bicubic", align_corners=False, antialias=True)
    x = (x - 0.5) / 0.5
    with torch.no_grad():
        if idefics:
            vt = m.model.vision_model(pixel_values=x).last_hidden_state
            pr = m.model.connector(vt)
        else:
            vt = m.model.vision_tower(pixel_values=x).last_hidden_state
            pr = m.model.multi_modal_projector(vt)
    probe(per_cell(vt, N), labs, "encoder", N)
    probe(per_cell(pr, N), labs, "adapter", N)
    xr = torch.tensor(np.stack(imgs)).float() / 255
    cells = [xr[:, 1 + 21 * (c // 3):22 + 21 * (c // 3), 1 + 21 * (c % 3):22 + 21 * (c % 3), :].reshape(N, -1) for c in range(9)]
    probe(torch.stack(cells, 1), labs, "pixels", N)


if __name__ == "__main__":
    main()
