"""tests/bench/bench_ops_torch.py — PyTorch eager timings of the ops that
tests/bench/bench_ops.c times, at the same sizes (135M LLM: T=512, C=576,
V=49152, 9 query heads / 3 kv heads of 64, MLP 1536; RoPE as transformers'
Llama applies it, with positions restarting every 128 tokens; one step of
torch.optim.AdamW with its defaults on 8M parameters), the same thread count
and the same output format:
  CONFIG key value...
  RESULT name median_ms min_ms
  MEMORY name bytes
Run by tests/bench/ops; usage:
  bench_ops_torch.py [--threads N] [--batch B] [--reps R] [--only NAME] [--clock wall|cpu]
"""
import argparse
import time

import torch
import torch.nn.functional as F

T, C, FF, V, HQ, HKV, HD = 512, 576, 1536, 49152, 9, 3, 64

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--reps", type=int, default=10)
ap.add_argument("--only", default=None)
ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
args = ap.parse_args()
if args.threads > 0:
    torch.set_num_threads(args.threads)
torch.manual_seed(0)
B, N = args.batch, args.batch * T


def config():
    cfg = torch.__config__.show()
    keep = [l.strip(" -") for l in cfg.splitlines()
            if any(k in l for k in ("Math Kernel", "MKL-DNN", "OpenMP", "CPU capability", "BLAS"))]
    print("CONFIG torch", torch.__version__)
    for l in keep:
        if l.startswith("Build settings"):
            l = l[len("Build settings: "):]
            l = ", ".join(p for p in l.split(", ") if p.startswith(("BLAS_INFO", "LAPACK_INFO", "USE_OPENMP", "USE_MKL")))
        print("CONFIG torch_build", l)
    print("CONFIG threads torch.get_num_threads=%d interop=%d" % (torch.get_num_threads(), torch.get_num_interop_threads()))
    try:
        from threadpoolctl import threadpool_info
        # libraries loaded in this process (numpy's OpenBLAS may show up; torch's
        # own MKL is linked statically and reported by the build lines above)
        for p in threadpool_info():
            print("CONFIG threadpool %s %s %s threads=%s" % (p.get("internal_api"), p.get("version"),
                                                         p.get("architecture", ""), p.get("num_threads")))
    except ImportError:
        print("CONFIG threadpool (threadpoolctl not installed)")


def bench(name, fn, reps):
    if args.only and args.only not in name:
        return
    for _ in range(2):
        fn()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    ts = []
    for _ in range(reps):
        t0 = clock()
        fn()
        ts.append((clock() - t0) * 1e3)
    ts.sort()
    print("RESULT %s %.3f %.3f" % (name, ts[len(ts) // 2], ts[0]), flush=True)


config()
print("CONFIG clock %s" % ("wall" if args.clock == "wall" else "process-cpu"))
print("CONFIG sizes B=%d T=%d C=%d F=%d V=%d heads=%d kv_heads=%d head_dim=%d" % (B, T, C, FF, V, HQ, HKV, HD))
R = args.reps

# matmul: Linear (N, C) -> (N, F); backward gives dx and dW
x = torch.randn(N, C, requires_grad=True)
w = (torch.randn(FF, C) * 0.04).requires_grad_()
dy = torch.randn(N, FF)
with torch.no_grad():
    bench("matmul_fwd", lambda: F.linear(x, w), R)


def mm_fb():
    F.linear(x, w).backward(dy)


bench("matmul_fwd_bwd", mm_fb, R)

# attention: causal, GQA; the model holds (B, T, H, D) and transposes to (B, H, T, D)
q = torch.randn(B, T, HQ, HD, requires_grad=True)
k = torch.randn(B, T, HKV, HD, requires_grad=True)
v = torch.randn(B, T, HKV, HD, requires_grad=True)
do = torch.randn(B, HQ, T, HD)


def attn():
    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                          is_causal=True, enable_gqa=True)


with torch.no_grad():
    bench("attention_fwd", attn, R)
bench("attention_fwd_bwd", lambda: attn().backward(do), R)

# the same attention over packed documents of 20-120 tokens (the lengths
# bench_ops.c draws): SDPA with a block-diagonal causal boolean mask, as
# transformers' eager/sdpa paths take packed rows without flash-attention
def packed_segments(b):
    x, seg = 12345, torch.empty(b, T, dtype=torch.int64)
    for r in range(b):
        s, t = 0, 0
        while t < T:
            x = (x * 1103515245 + 12345) % (1 << 32)
            n = 20 + (x >> 16) % 101
            seg[r, t:t + n] = s
            t += n
            s += 1
    return seg


sg = packed_segments(B)
pmask = (sg[:, :, None] == sg[:, None, :]) & torch.ones(T, T, dtype=torch.bool).tril()[None]
pmask = pmask[:, None]  # (B, 1, T, T)


def attn_packed():
    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                          attn_mask=pmask, enable_gqa=True)


bench("attention_packed_fwd_bwd", lambda: attn_packed().backward(do), R)

# rmsnorm over C
xr = torch.randn(N, C, requires_grad=True)
wr = torch.randn(C, requires_grad=True)
dyr = torch.randn(N, C)
with torch.no_grad():
    bench("rmsnorm_fwd", lambda: F.rms_norm(xr, (C,), wr, 1e-5), R * 5)
bench("rmsnorm_fwd_bwd", lambda: F.rms_norm(xr, (C,), wr, 1e-5).backward(dyr), R * 5)

# rope on q and k as transformers' Llama does it (cos/sin from the position ids
# once per forward, q * cos + rotate_half(q) * sin), forward and backward
qr = torch.randn(N, HQ, HD, requires_grad=True)
kr = torch.randn(N, HKV, HD, requires_grad=True)
pos = torch.arange(N) % 128
inv_freq = 1.0 / (10000.0 ** (torch.arange(0, HD, 2, dtype=torch.int64).float() / HD))
dqr, dkr = torch.randn(N, HQ, HD), torch.randn(N, HKV, HD)


def rotate_half(t):
    t1, t2 = t[..., : HD // 2], t[..., HD // 2:]
    return torch.cat((-t2, t1), dim=-1)


def rope_fb():
    freqs = pos[:, None].float() * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    qo = qr * cos + rotate_half(qr) * sin
    ko = kr * cos + rotate_half(kr) * sin
    torch.autograd.backward((qo, ko), (dqr, dkr))


bench("rope_fwd_bwd", rope_fb, R * 5)

# one AdamW step (torch.optim.AdamW defaults for CPU tensors) on a flat parameter
pa = torch.nn.Parameter(torch.randn(8 << 20) * 0.05)
pa.grad = torch.randn(8 << 20) * 0.01
opt = torch.optim.AdamW([pa], lr=1e-4, weight_decay=0.01)
bench("adamw_8M", opt.step, R)

# classifier + cross-entropy: full logits (N, V), per-token log-probs forward
xe = torch.randn(N, C, requires_grad=True)
we = (torch.randn(V, C) * 0.04).requires_grad_()
tg = torch.randint(0, V, (N,))
xreps = max(R // 2, 3)
with torch.no_grad():
    bench("xent_fwd", lambda: -F.cross_entropy(F.linear(xe, we), tg, reduction="none"), xreps)
bench("xent_fwd_bwd", lambda: F.cross_entropy(F.linear(xe, we), tg, reduction="sum").backward(), xreps)
if not args.only or "xent" in args.only:
    print("MEMORY full_logits %d" % (N * V * 4))
