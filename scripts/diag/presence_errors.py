"""Which presence questions does a shapes-demo checkpoint get wrong?
Scores the held-out presence questions of heldout-*.tar shards (written by
`vlmc prepare --format shapes`, which stores each scene's English caption)
exactly as shapes_eval_hf.py does, and splits them by the right answer and,
for absent objects ("no"), by what the scene shares with the asked pair:
"neither" (no object has its colour or its shape), "colour only", "shape
only", or "both, apart" (one object has the colour, another the shape — only
a look-up that binds colour to shape on one image token answers these).
A model that checks colour and shape separately ("bag of features") gets
every split right except "both, apart".

  .venv/bin/python scripts/diag/presence_errors.py runs/shapes \\
      "DIR/heldout-0000[0-2].tar"
"""
import collections, json, re, sys

import numpy as np
import torch

from shapes_eval_hf import scorer, tar_records
from shapes_errors import COLORS, SHAPES, scene


def asked_pair(q):
    text = q["question"].rstrip("?")
    if q["lang"] == "en":
        return re.match(r"Is there an? (\w+) (\w+) in the picture", text).groups()
    color, shape = text.split()[-2:]
    return COLORS[color], SHAPES[shape]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    score = scorer(sys.argv[1])
    tally = collections.defaultdict(lambda: [0, 0])   # split -> [right, n]
    for js, png in tar_records(sys.argv[2], "json"):
        q = json.loads(js)
        if q["text_only"] or q["type"] != "presence":
            continue
        objs = scene(q["caption"])
        color, shape = asked_pair(q)
        yes = any(o[1] == color and o[2] == shape for o in objs)
        assert yes == (q["answer_index"] == 0), (q, objs)
        if yes:
            split = "yes"
        else:
            c, s = any(o[1] == color for o in objs), any(o[2] == shape for o in objs)
            split = "no: " + ("both, apart" if c and s else "colour only" if c else "shape only" if s else "neither")
        lps = score(q["question"], q["choices"], png)
        ok = int(np.argmax(lps)) == q["answer_index"]
        for key in (f"all {q['lang']}", split, f"{split} ({len(objs)} obj)"):
            tally[key][0] += ok
            tally[key][1] += 1
    print(f"{'split':28s} {'n':>4s} {'right':>6s}")
    for key, (ok, n) in sorted(tally.items()):
        print(f"{key:28s} {n:4d} {ok / n:6.3f}")


if __name__ == "__main__":
    main()
