"""Where do a shapes-demo checkpoint's colour and shape errors come from?
Scores the held-out colour and shape questions of heldout-*.tar shards
(written by `vlmc prepare --format shapes`, which stores each scene's English
caption) exactly as shapes_eval_hf.py does, and splits the questions by the
number of objects in the scene and the asked object's size; each wrong
answer is tallied as "other object" when it names the attribute of another
object in the scene (a binding error: the right attribute, read from the
wrong cell) or "misread" otherwise (the attribute itself was not seen).

  .venv/bin/python scripts/diag/shapes_errors.py runs/shapes \\
      "DIR/heldout-0000[0-2].tar"
"""
import collections, json, re, sys

import numpy as np
import torch

from shapes_eval_hf import scorer, tar_records

CELLS = ["at the top left", "at the top right", "at the bottom left", "at the bottom right", "at the top",
         "on the left", "in the center", "on the right", "at the bottom"]
COLORS = {"красный": "red", "зелёный": "green", "синий": "blue", "жёлтый": "yellow", "фиолетовый": "purple",
          "оранжевый": "orange", "белый": "white", "чёрный": "black"}
SHAPES = {"круг": "circle", "квадрат": "square", "треугольник": "triangle", "ромб": "diamond", "крест": "cross"}
RU_CELLS = {"вверху слева": "at the top left", "вверху справа": "at the top right", "внизу слева": "at the bottom left",
            "внизу справа": "at the bottom right", "вверху": "at the top", "слева": "on the left",
            "в центре": "in the center", "справа": "on the right", "внизу": "at the bottom"}


def scene(caption):
    """[(size, colour, shape, cell phrase)] of an English caption."""
    objs = []
    objects = caption.split(". ")[0].rstrip(".")   # since data version 7 a colour list follows
    for part in re.split(r", | and ", objects):
        w = part.split()
        objs.append((w[1], w[2], w[3], " ".join(w[4:])))
    return objs


def asked_cell(q):
    if q["lang"] == "en":
        return next(c for c in CELLS if q["question"].rstrip("?").endswith(c))
    return next(v for k, v in RU_CELLS.items() if q["question"].rstrip("?").endswith(k))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    score = scorer(sys.argv[1])
    # (type, key) -> [right, other object, misread]
    tally = collections.defaultdict(lambda: [0, 0, 0])
    confusions, base = collections.Counter(), collections.defaultdict(lambda: [0, 0])
    for js, png in tar_records(sys.argv[2], "json"):
        q = json.loads(js)
        if q["text_only"] or q["type"] not in ("color", "shape"):
            continue
        objs = scene(q["caption"])
        cell = asked_cell(q)
        me = next(o for o in objs if o[3] == cell)
        col = 1 if q["type"] == "color" else 2
        norm = (lambda w: COLORS.get(w, w)) if col == 1 else (lambda w: SHAPES.get(w, w))
        lps = score(q["question"], q["choices"], png)
        said = norm(q["choices"][int(np.argmax(lps))])
        others = {o[col] for o in objs if o is not me}
        k = 0 if said == me[col] else 1 if said in others else 2
        for key in (f"all {q['lang']}", f"{len(objs)} objects", f"size {me[0]}", cell + (" (>1)" if len(objs) > 1 else " (1)")):
            tally[(q["type"], key)][k] += 1
        if k == 1:   # which other object: one whose cell phrase shares a word with the asked one?
            for o in objs:
                if o is not me and o[col] == said:
                    near = bool(set(o[3].split()[2:]) & set(cell.split()[2:]) - {"the"})
                    confusions[(q["type"], "shares a word" if near else "no shared word")] += 1
                    break
        if len(objs) > 1:   # the chance a random other object's place shares a word with the asked one
            for o in objs:
                if o is not me:
                    base[q["type"]][bool(set(o[3].split()[2:]) & set(cell.split()[2:]) - {"the"})] += 1
    print(f"{'type':6s} {'split':24s} {'n':>4s} {'right':>6s} {'other object':>13s} {'misread':>8s}")
    for (t, key), (ok, oth, bad) in sorted(tally.items()):
        n = ok + oth + bad
        print(f"{t:6s} {key:24s} {n:4d} {ok / n:6.3f} {oth / n:13.3f} {bad / n:8.3f}")
    print("other-object errors: the object named has a place sharing a word with the asked one (top, left, ...)")
    for t in ("color", "shape"):
        a, b = confusions[(t, "shares a word")], confusions[(t, "no shared word")]
        print(f"{t:6s} {a} of {a + b} errors; among all other objects of these scenes {base[t][1]} of {sum(base[t])}")


if __name__ == "__main__":
    main()
