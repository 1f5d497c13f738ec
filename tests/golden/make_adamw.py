"""tests/golden/make_adamw.py — golden for tests/kernels/test_ops_b_adamw.c.

Runs torch.optim.AdamW (float32, foreach=False: the plain per-tensor loop) on
two parameter groups with their own lr / weight decay for 6 steps with fixed
random gradients, and writes tests/golden/adamw_ops_b.txt:

  groups G steps S
  per group:  numel lr beta1 beta2 eps weight_decay
              p0 (numel floats)
              per step: grad (numel floats), then p after the step
              final exp_avg, final exp_avg_sq

Floats are printed with 9 significant digits (exact float32 round trip).
Run: .venv/bin/python tests/golden/make_adamw.py
"""
import os

import torch

torch.manual_seed(1234)
STEPS = 6
specs = [  # (numel, lr, wd)
    (15, 1e-2, 0.1),
    (7, 3e-3, 0.0),
]
betas, eps = (0.9, 0.95), 1e-8
params = [torch.nn.Parameter(torch.randn(n, dtype=torch.float32)) for n, _, _ in specs]
p0 = [p.detach().clone() for p in params]
opt = torch.optim.AdamW(
    [{"params": [p], "lr": lr, "weight_decay": wd} for p, (_, lr, wd) in zip(params, specs)],
    betas=betas, eps=eps, foreach=False)
grads = [[torch.randn(n, dtype=torch.float32) * (0.1 + s) for s in range(STEPS)] for n, _, _ in specs]
after = [[] for _ in specs]
for s in range(STEPS):
    for gi, p in enumerate(params):
        p.grad = grads[gi][s].clone()
    opt.step()
    for gi, p in enumerate(params):
        after[gi].append(p.detach().clone())


def fmt(t):
    return " ".join("%.9g" % v for v in t.tolist())


out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "adamw_ops_b.txt")
with open(out, "w") as f:
    f.write("groups %d steps %d\n" % (len(specs), STEPS))
    for gi, (n, lr, wd) in enumerate(specs):
        f.write("%d %.9g %.9g %.9g %.9g %.9g\n" % (n, lr, betas[0], betas[1], eps, wd))
        f.write(fmt(p0[gi]) + "\n")
        for s in range(STEPS):
            f.write(fmt(grads[gi][s]) + "\n")
            f.write(fmt(after[gi][s]) + "\n")
        st = opt.state[params[gi]]
        f.write(fmt(st["exp_avg"]) + "\n")
        f.write(fmt(st["exp_avg_sq"]) + "\n")
print("wrote", out)
