"""Cross-checks vlmc's shapes eval with transformers (an implementation
nobody here wrote): loads a run's checkpoint (LLaVA or Idefics3 layout),
scores every held-out multiple-choice question of a heldout-*.tar shard by
summed option log-likelihood exactly as eval/shapes_eval.c does (chatml
prompt, image tokens, option + <|im_end|>), and prints accuracy per type and
language. The figures must equal the mc column `vlmc train` printed.

  .venv/bin/python scripts/diag/shapes_eval_hf.py runs/shapes \\
      runs/shapes-data/heldout-00000.tar
"""
import collections, glob, io, json, os, sys, tarfile

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer
from transformers import AutoConfig, Idefics3ForConditionalGeneration, LlavaForConditionalGeneration


def checkpoint(path):
    """A checkpoint directory, or a run directory whose `latest` names one."""
    latest = os.path.join(path, "latest")
    if os.path.isfile(latest):
        with open(latest) as f:
            return os.path.join(path, f.read().strip())
    return path


def load(ck):
    ck = checkpoint(ck)
    cfg = AutoConfig.from_pretrained(ck)
    cls = Idefics3ForConditionalGeneration if cfg.model_type == "idefics3" else LlavaForConditionalGeneration
    m = cls.from_pretrained(ck, dtype=torch.float32).eval()
    vc = cfg.vision_config
    n_tok = (vc.image_size // vc.patch_size) ** 2 // (cfg.scale_factor ** 2 if cfg.model_type == "idefics3" else 1)
    return m, cfg, vc.image_size, n_tok


def pixels(png, S, idefics):
    # siglip preset: bicubic resize to S x S, rescale 1/255, mean 0.5, std 0.5 (Pillow, as vlmc's decoder)
    img = Image.open(io.BytesIO(png)).convert("RGB").resize((S, S), Image.BICUBIC)
    x = (torch.tensor(np.asarray(img)).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.5
    return x[None] if idefics else x   # Idefics3 takes (batch, images, 3, S, S)


def tar_records(pattern, ext):
    """(payload, png) bytes of every record with a .EXT member in the tars matching pattern, in name order
    (png None for a record without an image, e.g. a text-only question)."""
    for f in sorted(glob.glob(pattern)):
        tf = tarfile.open(f)
        mem = {x.name: x for x in tf.getmembers()}
        for name in sorted(mem):
            if name.endswith("." + ext):
                img = mem.get(name[:-len(ext)] + "png")
                yield tf.extractfile(mem[name]).read(), tf.extractfile(img).read() if img else None


def image_tag_ids(ck):
    """The token ids a run puts before each image token (the checkpoint's trainer.json), or None."""
    tj = os.path.join(checkpoint(ck), "trainer.json")
    if os.path.isfile(tj):
        return json.load(open(tj)).get("image_tag_ids")
    return None


def image_tags(ck, n_tok):
    """The texts the run put before each image token (its config.yaml beside the checkpoint: image_tags: grid, or
    image_tag_text), or None; for checkpoints written before trainer.json held image_tag_ids."""
    cfgfile = os.path.join(os.path.dirname(os.path.abspath(checkpoint(ck))), "config.yaml")
    if not os.path.isfile(cfgfile):
        return None
    for line in open(cfgfile):
        key, _, val = line.partition(":")
        val = val.split("#")[0].strip() if not val.strip().startswith("[") else val.strip()
        if key == "image_tags" and val.strip('"') == "grid":
            side = int(round(n_tok ** 0.5))
            return [f"<row_{k // side + 1}_col_{k % side + 1}>" for k in range(n_tok)]
        if key == "image_tag_text" and val not in ("[]", "null", ""):
            return json.loads(val)
    return None


def option_logprobs(m, enc, image_ids, question, choices, x):
    """Summed log-likelihood of each option (+ <|im_end|>) after the chatml prompt with the image tokens first,
    as eval/shapes_eval.c scores it."""
    pre = enc("<|im_start|>user\n") + image_ids + enc("\n" + question + "<|im_end|>\n<|im_start|>assistant\n")
    lps = []
    for c in choices:
        a = enc(c + "<|im_end|>")
        with torch.no_grad():
            lg = m(input_ids=torch.tensor([pre + a]), pixel_values=x).logits[0].double().log_softmax(-1)
        lps.append(sum(lg[len(pre) - 1 + i, a[i]].item() for i in range(len(a))))
    return lps


def scorer(ck, tokfile="configs/shapes_tokenizer.json"):
    """score(question, choices, png) -> option_logprobs for the checkpoint ck, as eval/shapes_eval.c scores."""
    m, cfg, S, n_tok = load(ck)
    idefics = cfg.model_type == "idefics3"
    image_id = cfg.image_token_id if idefics else cfg.image_token_index
    tk = Tokenizer.from_file(tokfile)
    image_ids = [image_id] * n_tok
    tags = None if image_tag_ids(ck) else image_tags(ck, n_tok)
    if image_tag_ids(ck):
        image_ids = [x for ids in image_tag_ids(ck) for x in ids + [image_id]]
    elif tags:
        # vlmc adds the grid's <row_r_col_c> after "<image>" in this order (data/ld_tok.c); each tag text, encoded
        # alone, goes before its image token
        tk.add_special_tokens([t for t in tags if t.startswith("<row_")])
        image_ids = [x for k in range(n_tok) for x in tk.encode(tags[k], add_special_tokens=False).ids + [image_id]]
    enc = lambda s: tk.encode(s, add_special_tokens=False).ids
    return lambda question, choices, png: option_logprobs(m, enc, image_ids, question, choices,
                                                          pixels(png, S, idefics))


def lm_step(opt, params, logits, labels, clip=1.0):
    """One optimizer step on the mean cross-entropy of logits (..., V) against labels (...; -100 ignored),
    global-norm clipped; returns the loss."""
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    return loss


def main():
    ck, tar = sys.argv[1], sys.argv[2]
    tokfile = sys.argv[3] if len(sys.argv) > 3 else "configs/shapes_tokenizer.json"
    score = scorer(ck, tokfile)
    stats = collections.defaultdict(lambda: [0, 0])
    for js, png in tar_records(tar, "json"):
        q = json.loads(js)
        if q.get("text_only"):
            continue
        lps = score(q["question"], q["choices"], png)
        s = stats[(q["type"], q["lang"])]
        s[0] += int(np.argmax(lps)) == q["answer_index"]
        s[1] += 1
    for (t, l), (ok, n) in sorted(stats.items()):
        print(f"{t:9s} {l}  mc {ok / n:.3f}  ({n} questions)")


if __name__ == "__main__":
    main()
