"""Does a shapes-demo checkpoint decide "nowhere" from the image? Greedy-decodes
the position questions ("Where is the red circle?") of instruct shards with
transformers and tallies, separately for objects that are in the scene and
for absent ones (answer "nowhere" / "нигде", sh_question_nowhere), whether the
model said "nowhere", the right cell, or another cell. A model whose "nowhere"
share is the same for both has learned a prior, not a look-up.

  .venv/bin/python scripts/diag/where_answers.py runs/shapes \\
      "runs/shapes-data/instruct-0000[67].tar" 200
"""
import collections, json, sys

import torch
from tokenizers import Tokenizer

from shapes_eval_hf import load, pixels, tar_records

NOWHERE = ("nowhere", "нигде")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    ck, pattern, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    m, cfg, size, n_tok = load(ck)
    idefics = cfg.model_type == "idefics3"
    image_id = cfg.image_token_id if idefics else cfg.image_token_index
    tk = Tokenizer.from_file("configs/shapes_tokenizer.json")
    enc = lambda s: tk.encode(s, add_special_tokens=False).ids
    end = enc("<|im_end|>")[0]
    tally, n = collections.Counter(), 0
    for js, png in tar_records(pattern, "json"):
        rec = json.loads(js)
        q, truth = rec["question"], rec["answer"]
        if not (q.startswith("Where") or q.startswith("Где")):
            continue
        ids = enc("<|im_start|>user\n") + [image_id] * n_tok + enc("\n" + q + "<|im_end|>\n<|im_start|>assistant\n")
        start, px = len(ids), pixels(png, size, idefics)
        with torch.no_grad():
            for _ in range(8):
                t = int(m(input_ids=torch.tensor([ids]), pixel_values=px).logits[0, -1].argmax())
                if t == end:
                    break
                ids.append(t)
        said = tk.decode(ids[start:]).strip()
        kind = "absent" if truth in NOWHERE else "present"
        tally[(kind, "nowhere" if said in NOWHERE else "right cell" if said == truth else "other cell")] += 1
        n += 1
        if n >= limit:
            break
    for kind in ("present", "absent"):
        row = {k[1]: v for k, v in tally.items() if k[0] == kind}
        print(f"{kind:8s} {sum(row.values()):4d}: " + ", ".join(f"{k} {v}" for k, v in sorted(row.items())))


if __name__ == "__main__":
    main()
