"""Which part of the demo's image tokens keeps presence at chance? A fresh
LLM (transformers' Llama in the demo's shape: 4 layers x 160, 5 heads, 1 KV
head, tied embeddings, initializer_range --init) is trained on presence
questions only ("Is there a red circle in the picture?" / "Есть ли на
картинке красный круг?", the world's templates, rendered as the trainer
renders an instruct record: chatml, the 9 image tokens after
"<|im_start|>user\\n", loss on the answer and <|im_end|>), 24 a step, AdamW
(no weight decay), clip 1.0, lr --lr constant. Held-out accuracy every 250
steps (yes vs no logit at the answer position; --task count asks "How many
objects are in the picture?" instead, a control the demo learns from the
same tokens). The 9 image tokens are:

  --image symbolic   a learned colour embedding + a learned shape embedding
                     per object cell, a learned "empty" embedding elsewhere,
                     plus (--cell-vector N) a fixed random vector of norm N
                     per cell position; fresh scenes every step, 400
                     held-out ones.
  --image fitted     the same features through a fixed least-squares
                     read-out onto clean labels (colour one-hot, shape
                     one-hot, empty; fitted on the pairs scenes, whose cells
                     the captions name) and a learned table from there, as
                     in symbolic: is a clean token one linear map away?
  --image features   a trained checkpoint's frozen vision encoder output,
                     pixel-shuffled (1152 per cell, the connector's input),
                     through a fresh linear connector (std 0.02), for the
                     scenes of DATA/pairs-*.tar (objects read back from the
                     captions); optionally minus the mean per cell position
                     (--center cell) or over all cells (--center all).
                     Held out: the presence questions of DATA/heldout-*.tar.

  --order question-first puts the question before the image tokens (the
  trainer's layout is image-first); --kv-heads sets the LLM's KV heads (the demo: 1).

  .venv/bin/python scripts/diag/presence_features.py --image symbolic [--cell-vector 3]
  .venv/bin/python scripts/diag/presence_features.py --image features|fitted --ckpt runs/shapes
      [--center none|cell|all] [--task presence|count] [--steps 1500] [--init 0.08]

Measured 2026-11-28 (1 thread, seed 0, --init 0.08; train/README.md,
"Presence: the initial scale and the image tokens"): symbolic 0.57 / 0.62 /
0.69 / 0.69 after 250 / 500 / 750 / 1000 steps; --cell-vector 3: 0.50 /
0.50 / 0.56 / 0.59; features (the checkpoint of a 2-thread default run with
model.init.llm.init_std=0.08): 0.50 / 0.57 / 0.48 / 0.52 / 0.59 / 0.47
after 250 ... 1500; --center cell 0.53 / 0.57 / 0.50 / 0.46 / 0.56 / 0.51;
the checkpoint of a run without position embeddings: 0.56 / 0.57 / 0.43 /
0.46 / 0.55 / 0.48; --task count on the same features (the control):
0.95 / 1.00 / 1.00 / 0.99 after 250 ... 1000; fitted (same checkpoint):
R2 0.994, colour and shape 1.000, presence 0.62 / 0.61 / 0.61 / 0.80 after
250 ... 1000. A draft of this script (its own random streams, 8000
presence questions of a local build instead of the pairs scenes) gave
--center cell 0.58 / 0.57 / 0.62 / 0.61 after 750 ... 1500 (loss below
chance from ~1250) and chance with --center all.

Measured 2026-11-28, a later session (symbolic, 1000 steps, held-out after
250 / 500 / 750 / 1000): the lr is the lever, more than the layout or the
KV heads. lr 1e-3: image-first 0.57 / 0.62 / 0.69 / 0.69 (as above),
question-first 0.50 / 0.53 / 0.57 / 0.63, --kv-heads 5 0.59 / 0.58 / 0.63 /
0.82 (seed 1: 0.70 / 0.76 / 0.77 / 0.79); --kv-heads 5 at lr 2e-3 0.51 /
0.52 / 0.53 / 0.53; at lr 5e-4 0.70 / 0.84 / 0.84 / 0.92 (seed 1: 0.65 /
0.71 / 0.81 / 0.88), and --kv-heads 1 at lr 5e-4 0.70 / 0.73 / 0.82 / 0.88.
--init 0.02 at lr 5e-4: 0.51 / 0.50 / 0.51 / 0.50 / 0.50 / 0.49 through 1500.
--image features at lr 5e-4 (the 0.02-init default checkpoint of that
day, 100 held-out questions): 0.54 / 0.57 / 0.52 / 0.64; with the encoder
of a 1-thread seed-1 run (--ckpt of the std-0.02, lr-split run in
train/README.md), 3000 steps: 0.55 / 0.57 / 0.46 / 0.53 / 0.71 / 0.68 /
0.75 / 0.62 / 0.72 / 0.74 / 0.67 / 0.78 after 250 ... 3000 steps.
"""
import argparse, json, random, sys, time

import torch
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from shapes_eval_hf import lm_step, load, pixels, tar_records  # noqa: E402

COL = [["red", "green", "blue", "yellow", "purple", "orange", "white", "black"],
       ["красный", "зелёный", "синий", "жёлтый", "фиолетовый", "оранжевый", "белый", "чёрный"]]
SHP = [["circle", "square", "triangle", "diamond", "cross"], ["круг", "квадрат", "треугольник", "ромб", "крест"]]
NC, NS, CELLS = 8, 5, 9
TASK = "presence"


def question(objs, lang, task="presence"):
    """A presence (or count) question about a scene's (colour, shape) set, as data/shapes_text.c asks it."""
    if task == "count":
        q = "How many objects are in the picture?" if lang == 0 else "Сколько объектов на картинке?"
        return q, str(len(objs))
    yes = random.randrange(2)
    if yes:
        c, s = random.choice(sorted(objs))
    else:
        while True:
            c, s = random.randrange(NC), random.randrange(NS)
            if (c, s) not in objs:
                break
    if lang == 0:
        q = "Is there %s %s %s in the picture?" % ("an" if COL[0][c][0] in "aeiou" else "a", COL[0][c], SHP[0][s])
        return q, "yes" if yes else "no"
    return "Есть ли на картинке %s %s?" % (COL[1][c], SHP[1][s]), "да" if yes else "нет"


CELL = [["at the top left", "at the top", "at the top right", "on the left", "in the center", "on the right",
         "at the bottom left", "at the bottom", "at the bottom right"],
        ["вверху слева", "вверху", "вверху справа", "слева", "в центре", "справа", "внизу слева", "внизу",
         "внизу справа"]]


def caption_objects(cap):
    """The (colour, shape) set a shapes caption names, its language and its grid (cell -> (colour, shape) or
    None); a caption object reads "[a ]SIZE COLOUR SHAPE CELL-PHRASE" (data/shapes_text.c)."""
    lang = 0 if cap.startswith("a ") else 1
    grid = [None] * CELLS
    for part in cap.rstrip(".").replace(" and ", ", ").replace(" и ", ", ").split(", "):
        w = part.split()[1 - lang:]   # drop the English article
        try:
            grid[CELL[lang].index(" ".join(w[3:]))] = (COL[lang].index(w[1]), SHP[lang].index(w[2]))
        except (ValueError, IndexError):
            sys.exit("cannot read the objects of caption %r" % cap)
    return {g for g in grid if g}, lang, grid


def encoder_features(ck, data):
    m, cfg, S, _ = load(ck)

    def feat(png):
        with torch.no_grad():
            h = m.model.vision_model(pixel_values=pixels(png, S, True)[0]).last_hidden_state
            return m.model.connector.pixel_shuffle(h, cfg.scale_factor)[0]

    train, test = [], []
    for txt, png in tar_records(data + "/pairs-*.tar", "txt"):
        train.append(caption_objects(txt.decode()) + (feat(png),))
    for js, png in tar_records(data + "/heldout-*.tar", "json"):
        q = json.loads(js)
        if q.get("type") == TASK and not q.get("text_only"):
            test.append((q["question"], q["answer"], feat(png)))
    if not train or not test:
        sys.exit("no pairs-*.tar scenes (%d) or held-out presence questions (%d) in %s" % (len(train), len(test), data))
    return train, test


def fitted_connector(train, H, std):
    """The clean read-out of the features: ridge least squares from a cell's features (+1) to its labels
    (colour one-hot, shape one-hot, empty), fixed, then a learned (labels -> H) table like --image symbolic's."""
    X = torch.cat([torch.cat([f, torch.ones(CELLS, 1)], 1) for *_, f in train]).double()
    Y = torch.zeros(X.shape[0], NC + NS + 1, dtype=torch.double)
    for i, (_, _, grid, _) in enumerate(train):
        for k, g in enumerate(grid):
            if g is None:
                Y[CELLS * i + k, NC + NS] = 1
            else:
                Y[CELLS * i + k, g[0]] = Y[CELLS * i + k, NC + g[1]] = 1
    W = torch.linalg.solve(X.T @ X + 1e-3 * torch.eye(X.shape[1], dtype=torch.double), X.T @ Y)
    P = X @ W
    obj = Y[:, NC + NS] == 0
    print("least squares read-out of the features: R2 %.3f, colour %.3f, shape %.3f (argmax on object cells)" % (
        1 - (P - Y).pow(2).sum() / (Y - Y.mean(0)).pow(2).sum(),
        (P[obj, :NC].argmax(1) == Y[obj, :NC].argmax(1)).double().mean(),
        (P[obj, NC:NC + NS].argmax(1) == Y[obj, NC:NC + NS].argmax(1)).double().mean()), flush=True)
    W = W.float()
    table = torch.nn.Parameter(torch.randn(NC + NS + 1, H) * std)
    return (lambda f: torch.cat([f, torch.ones(f.shape[0], 1)], 1) @ W @ table), [table]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", choices=["symbolic", "features", "fitted"], required=True)
    ap.add_argument("--ckpt", default="runs/shapes", help="features: the checkpoint whose encoder is used")
    ap.add_argument("--data", default="runs/shapes-data", help="features: the shapes folder (pairs-*.tar, heldout-*.tar)")
    ap.add_argument("--center", choices=["none", "cell", "all"], default="none")
    ap.add_argument("--cell-vector", type=float, default=0.0, help="symbolic: norm of a fixed random vector per cell")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--init", type=float, default=0.08)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kv-heads", type=int, default=1)
    ap.add_argument("--order", choices=["image-first", "question-first"], default="image-first")
    ap.add_argument("--task", choices=["presence", "count"], default="presence",
                    help="count: the control (learned from the same tokens by the demo)")
    a = ap.parse_args()
    global TASK
    TASK = a.task
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    torch.set_num_threads(1)
    tk = Tokenizer.from_file("configs/shapes_tokenizer.json")
    enc = lambda s: tk.encode(s, add_special_tokens=False).ids
    V = tk.get_vocab_size()
    H = 160
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=H, intermediate_size=432, num_hidden_layers=4,
                                       num_attention_heads=5, num_key_value_heads=a.kv_heads, max_position_embeddings=512,
                                       tie_word_embeddings=True, initializer_range=a.init))
    if a.image == "symbolic":
        table = torch.nn.Embedding(NC + NS + 1, H)   # colours, shapes, empty
        torch.nn.init.normal_(table.weight, std=a.init)
        cellv = torch.randn(CELLS, H) / H ** 0.5 * a.cell_vector
        extra = list(table.parameters())

        def scene():
            n = random.randint(1, 4)
            cells = random.sample(range(CELLS), n)
            objs = set()
            while len(objs) < n:
                objs.add((random.randrange(NC), random.randrange(NS)))
            grid = [None] * CELLS
            for cell, o in zip(cells, sorted(objs)):
                grid[cell] = o
            return objs, random.randrange(2), grid

        def image(grid):
            e = table.weight
            return torch.stack([(e[NC + NS] if g is None else e[g[0]] + e[NC + g[1]]) + cellv[k] for k, g in enumerate(grid)])

        def draw_train():
            objs, lang, grid = scene()
            return question(objs, lang, a.task) + (grid,)

        test = []
        for _ in range(400):
            objs, lang, grid = scene()
            test.append(question(objs, lang, a.task) + (grid,))
    else:
        train, test = encoder_features(a.ckpt, a.data)
        if a.center != "none":
            mu = torch.stack([f for *_, f in train]).mean(0)
            if a.center == "all":
                mu = mu.mean(0, keepdim=True)
            train = [(o, l, g, f - mu) for o, l, g, f in train]
            test = [(q, ans, f - mu) for q, ans, f in test]
        if a.image == "fitted":
            image, extra = fitted_connector(train, H, a.init)
        else:
            conn = torch.nn.Linear(train[0][-1].shape[-1], H, bias=False)
            torch.nn.init.normal_(conn.weight, std=0.02)
            extra = list(conn.parameters())
            image = conn

        def draw_train():
            objs, lang, _, f = random.choice(train)
            return question(objs, lang, a.task) + (f,)

        print(len(train), "scenes,", len(test), "held-out questions", flush=True)
    params = list(llm.parameters()) + extra
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    pre = enc("<|im_start|>user\n")

    def batch(items):
        E = llm.get_input_embeddings().weight
        xs, ys, ends = [], [], []
        for q, ans, img in items:
            an = enc(ans + "<|im_end|>")
            if a.order == "image-first":
                post = enc("\n" + q + "<|im_end|>\n<|im_start|>assistant\n")
                xs.append(torch.cat([E[pre], image(img), E[post + an]]))
                end = len(pre) + CELLS + len(post) - 1   # predicts the answer's first token
            else:
                mid, post = enc(q + "\n"), enc("<|im_end|>\n<|im_start|>assistant\n")
                xs.append(torch.cat([E[pre + mid], image(img), E[post + an]]))
                end = len(pre) + len(mid) + CELLS + len(post) - 1
            ys.append([-100] * end + an + [-100])
            ends.append(end)
        L = max(len(x) for x in xs)
        x = torch.stack([torch.cat([s, torch.zeros(L - len(s), H)]) for s in xs])
        return x, torch.tensor([y + [-100] * (L - len(y)) for y in ys]), ends

    t0 = time.time()
    for step in range(a.steps):
        x, y, _ = batch([draw_train() for _ in range(24)])
        loss = lm_step(opt, params, llm(inputs_embeds=x).logits, y)
        if (step + 1) % 250 == 0:
            ok = 0
            with torch.no_grad():
                for i in range(0, len(test), 50):
                    chunk = test[i:i + 50]
                    x, _, ends = batch(chunk)
                    lg = llm(inputs_embeds=x).logits
                    for j, (q, ans, _) in enumerate(chunk):
                        opts = ["1", "2", "3", "4"] if a.task == "count" else \
                            ["yes", "no"] if q.startswith("Is") else ["да", "нет"]
                        best = max(opts, key=lambda o: lg[j, ends[j], enc(o)[0]].item())
                        ok += int(best == ans)
            print(step + 1, "loss %.3f" % loss.item(), "held-out accuracy %.3f" % (ok / len(test)),
                  "%.0f s" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
