"""Which image tokens does a shapes-demo checkpoint look at when it answers
"What colour / shape is the object at the top left?" For held-out colour and
shape questions about scenes with 3-4 objects (heldout-*.tar shards written
by `vlmc prepare --format shapes`, which carry each scene's caption), prints
per layer and head the attention from the last prompt position (the one that
predicts the answer) to the asked cell's token, to another occupied cell's
token, to an empty cell's token (each a mean per token), and to all text.
A model that looks up the asked place puts more on the asked cell than on
the others; one that reads "some object" spreads it over all occupied cells.
Idefics3 layout (the demo's pixel-shuffle adapter).

  .venv/bin/python scripts/diag/shapes_attention.py runs/shapes \\
      "DIR/heldout-0000[0-2].tar" [questions]
"""
import json, sys

import numpy as np
import torch
from tokenizers import Tokenizer

from shapes_errors import asked_cell, scene
from shapes_eval_hf import load, pixels, tar_records

CELL_INDEX = {p: i for i, p in enumerate(["at the top left", "at the top", "at the top right", "on the left",
                                          "in the center", "on the right", "at the bottom left", "at the bottom",
                                          "at the bottom right"])}


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    torch.set_num_threads(1)
    m, cfg, S, n_tok = load(sys.argv[1])
    m.config._attn_implementation = "eager"   # output_attentions needs the eager path
    m.model.text_model.config._attn_implementation = "eager"
    tk = Tokenizer.from_file("configs/shapes_tokenizer.json")
    enc = lambda s: tk.encode(s, add_special_tokens=False).ids
    acc, n = None, 0
    for js, png in tar_records(sys.argv[2], "json"):
        q = json.loads(js)
        if q["text_only"] or q["type"] not in ("color", "shape"):
            continue
        objs = scene(q["caption"])
        if len(objs) < 3:
            continue
        cell = CELL_INDEX[asked_cell(q)]
        occ = {CELL_INDEX[o[3]] for o in objs}
        ids = enc("<|im_start|>user\n") + [cfg.image_token_id] * n_tok + enc(
            "\n" + q["question"] + "<|im_end|>\n<|im_start|>assistant\n")
        start = ids.index(cfg.image_token_id)
        with torch.no_grad():
            att = m(input_ids=torch.tensor([ids]), pixel_values=pixels(png, S, True), output_attentions=True).attentions
        if acc is None:
            acc = np.zeros((len(att), att[0].shape[1], 4))
        for layer, a in enumerate(att):
            a = a[0, :, -1].numpy()   # (heads, seq)
            img = a[:, start:start + n_tok]
            acc[layer, :, 0] += img[:, cell]
            acc[layer, :, 1] += img[:, [c for c in occ if c != cell]].mean(1)
            acc[layer, :, 2] += img[:, [c for c in range(n_tok) if c not in occ]].mean(1)
            acc[layer, :, 3] += a.sum(1) - img.sum(1)
        n += 1
        if n >= limit:
            break
    print(f"{n} colour/shape questions about scenes with 3-4 objects; attention from the last prompt position")
    print("layer head  asked cell  other occupied  empty   text")
    for layer in range(acc.shape[0]):
        for h in range(acc.shape[1]):
            t = acc[layer, h] / n
            print(f"{layer:5d} {h:4d}  {t[0]:10.3f}  {t[1]:14.3f}  {t[2]:6.3f}  {t[3]:5.3f}")


if __name__ == "__main__":
    main()
