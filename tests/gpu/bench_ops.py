"""tests/gpu/bench_ops.py — PyTorch's equivalents of bench_ops.c's ops on the
same device, bf16, same shapes (B*T = 16384, C = 960, V = 49152). Prints
"RESULT op ms" lines that tests/gpu/run.sh joins with bench_ops' for the
ratio torch/vlmc (> 1: vlmc is faster). Timing with CUDA events after a
warm-up; ops PyTorch has no single kernel for are composed as a model would.
"""
import torch
import torch.nn.functional as F

N, C, V, FF, H, HKV, HD = 16384, 960, 49152, 2560, 15, 5, 64
dev = "cuda"
bf = torch.bfloat16
torch.backends.cuda.matmul.allow_tf32 = False


def timeit(name, fn, iters=20):
    fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(iters):
        fn()
    b.record()
    torch.cuda.synchronize()
    ms = a.elapsed_time(b) / iters
    print(f"{name:22s} {ms:9.3f} ms")
    print(f"RESULT {name} {ms:.4f}")


def main():
    print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())
    x = torch.randn(N, C, device=dev, dtype=bf)
    r = torch.randn(N, C, device=dev, dtype=bf)
    y = torch.empty_like(x)
    w = torch.randn(C, device=dev, dtype=bf)
    b = torch.randn(C, device=dev, dtype=bf)
    g = torch.randn(N, FF, device=dev, dtype=bf)
    u = torch.randn(N, FF, device=dev, dtype=bf)
    lm = torch.randn(V, C, device=dev, dtype=bf) * 0.02
    tg = torch.randint(0, V, (N,), device=dev)
    timeit("copy", lambda: y.copy_(x))
    timeit("add", lambda: torch.add(x, r, out=y))
    timeit("act_gelu_tanh", lambda: F.gelu(x, approximate="tanh"))
    timeit("act_silu", lambda: F.silu(x))
    xg = x.clone().requires_grad_(True)
    yg = F.gelu(xg, approximate="tanh")
    timeit("act_backward_gelu", lambda: torch.autograd.grad(yg, xg, y, retain_graph=True))
    timeit("swiglu", lambda: F.silu(g) * u)

    def rms():
        s = x + r
        return F.rms_norm(s, (C,), w, 1e-5), s

    timeit("rmsnorm_resid", rms)
    timeit("layernorm_resid", lambda: F.layer_norm(x + r, (C,), w, b, 1e-5))
    pos = torch.arange(N, device=dev) % 2048
    inv = 1.0 / (100000.0 ** (torch.arange(0, HD, 2, device=dev).float() / HD))
    ang = pos[:, None].float() * inv[None]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :].to(bf)
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :].to(bf)
    xq = x.view(N, H, HD)

    def rope():
        x1, x2 = xq[..., : HD // 2], xq[..., HD // 2:]
        return xq * cos + torch.cat([-x2, x1], -1) * sin

    timeit("rope", rope)
    timeit("fill", lambda: y.fill_(0.5))
    timeit("scale", lambda: y.mul_(0.5))
    timeit("bias_add", lambda: torch.add(x, b, out=y))
    timeit("bias_backward", lambda: x.float().sum(0))
    timeit("tanh_gate", lambda: torch.addcmul(r, torch.tanh(w), x))
    timeit("permute", lambda: xq.permute(1, 0, 2).contiguous())
    timeit("concat", lambda: torch.cat([x[: N // 2], r[: N // 2]], 0))
    xs4 = x.view(16, 32, 32, C)
    timeit("pixel_shuffle", lambda: xs4.view(16, 32, 16, 2 * C).permute(0, 2, 1, 3).reshape(16, 16, 16, 4 * C)
           .permute(0, 2, 1, 3).reshape(16, 256, 4 * C).contiguous())
    pix = g.view(-1)[: 8 * 3 * 512 * 512].view(8, 3, 512, 512)
    timeit("patch_unfold", lambda: pix.unfold(2, 16, 16).unfold(3, 16, 16).permute(0, 2, 3, 1, 4, 5)
           .reshape(8 * 32 * 32, 3 * 256).contiguous())
    timeit("gather_rows", lambda: F.embedding(tg, lm))
    dlm = torch.zeros(V, C, device=dev, dtype=torch.float32)
    timeit("gather_rows_backward", lambda: dlm.index_add_(0, tg, x.float()), iters=5)
    timeit("sumsq", lambda: dlm.square().sum())
    p = torch.nn.Parameter(torch.zeros(V, C, device=dev))
    p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW([p], lr=1e-4, fused=True)
    timeit("adamw", opt.step, iters=10)
    wq = torch.randn(C, C, device=dev, dtype=bf)
    timeit("matmul_960x960", lambda: F.linear(x, wq, b))
    xs = x.clone().requires_grad_(True)
    lms = lm.clone().requires_grad_(True)

    def xent():
        loss = F.cross_entropy(F.linear(xs, lms).float(), tg)
        loss.backward()

    timeit("xent_fwd", lambda: F.cross_entropy(F.linear(x, lm).float(), tg, reduction="none"), iters=3)
    timeit("xent_fwd_bwd", xent, iters=3)
    q = x.view(16, 1024, H, HD).transpose(1, 2)
    kv = r.view(16, 1024 * 3, HKV, HD)[:, :1024].transpose(1, 2)
    timeit("attention_ref", lambda: F.scaled_dot_product_attention(q, kv, kv, is_causal=True, enable_gqa=True), iters=5)
    qg, kg = q.detach().clone().requires_grad_(True), kv.detach().clone().requires_grad_(True)
    og = F.scaled_dot_product_attention(qg, kg, kg, is_causal=True, enable_gqa=True)
    timeit("attention_ref_backward", lambda: torch.autograd.grad(og, (qg, kg), og.detach(), retain_graph=True), iters=5)


if __name__ == "__main__":
    main()
