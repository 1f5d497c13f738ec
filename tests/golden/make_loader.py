"""Goldens for tests/data/test_ld_real.c: the rows the loader must build for
`pairs` with a real tokenizer (tests/golden/tok/llama2.json) and real images.

Ids come from the Python `tokenizers` library (the reference); images are
preprocessed with transformers' CLIPImageProcessor at 24 px (the reference
for pixels). Run from the repo root:
    .venv/bin/python tests/golden/make_loader.py
"""
import json

import numpy as np
from PIL import Image
from tokenizers import Tokenizer
from transformers import CLIPImageProcessor

tok = Tokenizer.from_file("tests/golden/tok/llama2.json")
tok.add_special_tokens(["<image>"])
captions = ["A red square on a white table.", "Deux chats dorment — près du feu, 3 fois!"]
out = {
    "image_id": tok.token_to_id("<image>"),
    "bos": tok.token_to_id("<s>"),
    "eos": tok.token_to_id("</s>"),
    "samples": [{"caption": c, "ids": tok.encode(c, add_special_tokens=False).ids} for c in captions],
}
proc = CLIPImageProcessor(size={"shortest_edge": 24}, crop_size={"height": 24, "width": 24})
for name in ["rgb_101x67.jpg", "p_29x31.png"]:
    im = Image.open("tests/golden/images/" + name)
    px = proc(images=im, return_tensors="np")["pixel_values"][0].astype(np.float32)
    px.tofile("tests/golden/loader/%s.clip24.f32" % name)
json.dump(out, open("tests/golden/loader/pairs_llama2.json", "w"), ensure_ascii=False, indent=1)
print(json.dumps(out, ensure_ascii=False)[:300])
