"""tests/bench/train_step_torch.py — PyTorch eager (fp32) version of
tests/bench/bench_train_step: the same two VLMs (SigLIP-like encoder with
post-LN, Idefics3 pixel shuffle, bias-free projection, Llama-like decoder with
GQA / RoPE / SwiGLU / RMSNorm, untied head), one forward + backward +
torch.optim.AdamW step, same thread count, same output format:
  CONFIG name ...
  RESULT name median_ms min_ms tokens_per_s
usage: train_step_torch.py [--threads N] [--reps R] [--only demo|small]
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SPECS = {
    # vh, vl, vi, vheads, img, patch, shuffle, h, l, ffn, heads, kv, vocab, B, T
    "demo": (64, 2, 256, 2, 64, 8, 2, 128, 4, 384, 4, 2, 1024, 8, 128),
    "small": (256, 4, 1024, 4, 64, 8, 2, 512, 8, 1536, 8, 4, 8192, 8, 256),
}


class VitBlock(nn.Module):
    def __init__(s, d, i, h):
        super().__init__()
        s.h = h
        s.ln1, s.ln2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        s.q, s.k, s.v, s.o = (nn.Linear(d, d) for _ in range(4))
        s.fc1, s.fc2 = nn.Linear(d, i), nn.Linear(i, d)

    def forward(s, x):
        B, S, D = x.shape
        y = s.ln1(x)
        q, k, v = (t(y).view(B, S, s.h, D // s.h).transpose(1, 2) for t in (s.q, s.k, s.v))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, S, D)
        x = x + s.o(a)
        return x + s.fc2(F.gelu(s.fc1(s.ln2(x)), approximate="tanh"))


def rope(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., h:], x[..., :h]), -1) * sin


class LlmBlock(nn.Module):
    def __init__(s, d, f, h, kv):
        super().__init__()
        s.h, s.kv, s.hd = h, kv, d // h
        s.n1, s.n2 = nn.RMSNorm(d, eps=1e-5), nn.RMSNorm(d, eps=1e-5)
        s.q = nn.Linear(d, d, bias=False)
        s.k = nn.Linear(d, kv * s.hd, bias=False)
        s.v = nn.Linear(d, kv * s.hd, bias=False)
        s.o = nn.Linear(d, d, bias=False)
        s.g, s.u, s.dn = nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False), nn.Linear(f, d, bias=False)

    def forward(s, x, cos, sin):
        B, T, D = x.shape
        y = s.n1(x)
        q = rope(s.q(y).view(B, T, s.h, s.hd).transpose(1, 2), cos, sin)
        k = rope(s.k(y).view(B, T, s.kv, s.hd).transpose(1, 2), cos, sin)
        v = s.v(y).view(B, T, s.kv, s.hd).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + s.o(a.transpose(1, 2).reshape(B, T, D))
        y = s.n2(x)
        return x + s.dn(F.silu(s.g(y)) * s.u(y))


class Vlm(nn.Module):
    def __init__(s, vh, vl, vi, vheads, img, patch, r, h, l, ffn, heads, kv, vocab):
        super().__init__()
        s.patch, s.r, s.side = patch, r, img // patch
        s.pe = nn.Conv2d(3, vh, patch, patch)
        s.pos = nn.Embedding(s.side * s.side, vh)
        s.vit = nn.ModuleList(VitBlock(vh, vi, vheads) for _ in range(vl))
        s.post = nn.LayerNorm(vh, eps=1e-6)
        s.proj = nn.Linear(vh * r * r, h, bias=False)
        s.emb = nn.Embedding(vocab, h)
        s.llm = nn.ModuleList(LlmBlock(h, ffn, heads, kv) for _ in range(l))
        s.norm = nn.RMSNorm(h, eps=1e-5)
        s.head = nn.Linear(h, vocab, bias=False)
        hd = h // heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        s.register_buffer("inv", inv, persistent=False)

    def shuffle(s, x):  # Idefics3 order
        b, seq, d = x.shape
        hgt = wid = int(seq ** 0.5)
        r = s.r
        x = x.view(b, hgt, wid, d).view(b, hgt, wid // r, d * r).permute(0, 2, 1, 3)
        x = x.reshape(b, wid // r, hgt // r, d * r * r).permute(0, 2, 1, 3)
        return x.reshape(b, seq // (r * r), d * r * r)

    def forward(s, px, ids, tgt, img_mask):
        x = s.pe(px).flatten(2).transpose(1, 2) + s.pos.weight
        for b in s.vit:
            x = b(x)
        f = s.proj(s.shuffle(s.post(x)))
        e = s.emb(ids)
        e = e.masked_scatter(img_mask[..., None], f.reshape(-1, f.shape[-1]))
        T = ids.shape[1]
        ang = torch.arange(T, dtype=torch.float32)[:, None] * s.inv[None]
        ang = torch.cat((ang, ang), -1)
        cos, sin = ang.cos(), ang.sin()
        for b in s.llm:
            e = b(e, cos, sin)
        logits = s.head(s.norm(e))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1), ignore_index=-1)


def run(name, reps):
    vh, vl, vi, vheads, img, patch, r, h, l, ffn, heads, kv, vocab, B, T = SPECS[name]
    torch.manual_seed(0)
    m = Vlm(vh, vl, vi, vheads, img, patch, r, h, l, ffn, heads, kv, vocab)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.01)
    tpi = (img // patch) ** 2 // (r * r)
    ids = (torch.arange(B * T) * 7919 % (vocab - 1)).view(B, T)
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[:, 1:1 + tpi] = True
    ids[mask] = vocab - 1
    tgt = torch.full((B, T), -1)
    tgt[:, :-1] = ids[:, 1:]
    tgt[:, :-1][mask[:, 1:]] = -1
    px = torch.randn(B, 3, img, img)
    ms = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = m(px, ids, tgt, mask)
        loss.backward()
        opt.step()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms = sorted(ms[1:])
    med = ms[len(ms) // 2]
    n = sum(p.numel() for p in m.parameters())
    print(f"CONFIG {name} params {n} tokens {B * T} images {B} threads {torch.get_num_threads()}")
    print(f"RESULT {name} {med:.2f} {ms[0]:.2f} {B * T / (med / 1e3):.0f}")


ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--only", default=None)
a = ap.parse_args()
if a.threads > 0:
    torch.set_num_threads(a.threads)
print("torch", torch.__version__, "| BLAS:", " ".join(l.strip() for l in torch.__config__.show().splitlines() if "BLAS" in l or "MKL" in l)[:200])
for name in SPECS:
    if a.only in (None, name):
        run(name, a.reps)
