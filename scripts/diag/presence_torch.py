"""Fine-tunes a run's checkpoint on presence questions ("Is there a red circle
in the picture?" -> yes/no) in PyTorch with transformers' own Idefics3 model,
to tell a vlmc training bug from a task the model does not learn: same
checkpoint, same shards, encoder frozen, AdamW (wd 0.1 on matrices, betas
0.9/0.95), clip 1.0, warmup 10 then cosine to 0.1x, 24 questions per step,
loss on the answer and its end token. Prints the loss every 100 steps and
held-out presence accuracy (yes vs no log-probability, the run's
heldout-*.tar) every 500.

  .venv/bin/python scripts/diag/presence_torch.py CKPT DATA_DIR STEPS [LR]

DATA_DIR's instruct-*.tar are read (presence questions only); held-out
questions come from runs/shapes-data/heldout-*.tar. Measured 2026-11-28 on
the default run's checkpoint with 16000 presence questions: held-out accuracy
0.54 at step 0, then 0.43-0.58 through 2000 steps at lr 2e-4, 1e-3 and 3e-3,
loss flat at ln(2)/2 -- the same plateau vlmc shows.
"""
import json, math, random, sys, time

import torch
from tokenizers import Tokenizer

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from shapes_eval_hf import lm_step, load, pixels, tar_records  # noqa: E402


def presence(pattern, S):
    out = []
    for js, png in tar_records(pattern, "json"):
        q = json.loads(js)
        if not q.get("text_only") and q["question"].startswith(("Is there", "Есть ли")):
            out.append((q, pixels(png, S, True)[0]))
    return out


def main():
    torch.manual_seed(0)
    random.seed(0)
    torch.set_num_threads(1)
    ck, datadir, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lr = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-3
    m, cfg, S, n_tok = load(ck)
    tk = Tokenizer.from_file("configs/shapes_tokenizer.json")
    enc = lambda s: tk.encode(s, add_special_tokens=False).ids
    train, test = presence(datadir + "/instruct-*.tar", S), presence("runs/shapes-data/heldout-*.tar", S)
    if not train or not test:
        sys.exit(f"no presence questions in {datadir}/instruct-*.tar ({len(train)}) or runs/shapes-data/heldout-*.tar ({len(test)})")
    print(len(train), "training and", len(test), "held-out presence questions", flush=True)

    def prompt(q):
        return (enc("<|im_start|>user\n") + [cfg.image_token_id] * n_tok +
                enc("\n" + q["question"] + "<|im_end|>\n<|im_start|>assistant\n"))

    for p in m.model.vision_model.parameters():
        p.requires_grad_(False)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))

    def lr_at(s):
        return lr * s / 10 if s < 10 else lr * (0.1 + 0.45 * (1 + math.cos(math.pi * (s - 10) / (steps - 10))))

    def evaluate():
        m.eval()
        ok = 0
        with torch.no_grad():
            for q, x in test:
                lg = m(input_ids=torch.tensor([prompt(q)]), pixel_values=x[None]).logits[0, -1]
                y, n = enc(q["choices"][0])[0], enc(q["choices"][1])[0]
                ok += (0 if lg[y] > lg[n] else 1) == q["answer_index"]
        m.train()
        return ok / len(test)

    print("step 0 held-out accuracy", evaluate(), flush=True)
    B, t0 = 24, time.time()
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        batch = random.sample(train, B)
        seqs = []
        for q, _ in batch:
            p, a = prompt(q), enc(q["answer"] + "<|im_end|>")
            seqs.append((p + a, [-100] * len(p) + a))
        L = max(len(a) for a, _ in seqs)
        ids = torch.tensor([a + [0] * (L - len(a)) for a, _ in seqs])
        lab = torch.tensor([b + [-100] * (L - len(b)) for _, b in seqs])
        att = torch.tensor([[1] * len(a) + [0] * (L - len(a)) for a, _ in seqs])
        logits = m(input_ids=ids, attention_mask=att, pixel_values=torch.stack([x for _, x in batch])).logits
        loss = lm_step(opt, params, logits[:, :-1], lab[:, 1:])
        if (s + 1) % 100 == 0:
            print("step", s + 1, "loss %.4f" % loss.item(), "%.0f s" % (time.time() - t0), flush=True)
        if (s + 1) % 500 == 0:
            print("step", s + 1, "held-out accuracy", evaluate(), flush=True)


if __name__ == "__main__":
    main()
