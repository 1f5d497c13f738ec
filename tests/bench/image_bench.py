#!/usr/bin/env python3
"""tests/bench/image_bench.py — image half of the loader benchmark.

images/s per core for decode -> resize to SIZE x SIZE (BICUBIC) -> normalise
(SigLIP mean/std), from 640x480 and 1920x1080 JPEGs made here with Pillow from
synthetic content, for vlmc (build/tests/bench_image) and for Pillow (with
Image.draft, i.e. libjpeg DCT scaling) + numpy, both pinned to one core.
Also checks that both produce the same floats for the first image. Both sides
count thread CPU time, so the figures are images per core-second even on a
busy shared machine.

usage: /work/main/.venv/bin/python tests/bench/image_bench.py [--bin build/tests/bench_image]
       [--seconds 3] [--size 384] [--count 12] [--core 0]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
from PIL import Image


def synth(w, h, seed, noise=6.0):
    """Photo-like content: smooth colour fields, edges, texture, mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        f = 110 + 60 * np.sin(x / (37 + 11 * c) + rng.uniform(0, 6)) * np.cos(y / (53 + 7 * c))
        f += 40 * np.sin((x + y) / (9 + c))  # texture
        img[:, :, c] = f
    for _ in range(12):  # shapes with hard edges
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(h / 20, h / 5)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += rng.normal(0, noise, img.shape)  # sensor-like noise: sets the JPEG entropy (decode cost)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


MEAN = np.array([0.5, 0.5, 0.5], np.float32)
STD = np.array([0.5, 0.5, 0.5], np.float32)


def pillow_one(path, size):
    with Image.open(path) as im:
        im.draft("RGB", (size, size))  # DCT scaling, as vlmc's min_w/min_h
        im = im.convert("RGB").resize((size, size), Image.BICUBIC)
        a = np.asarray(im).astype(np.float32) * np.float32(1 / 255)
        a = (a - MEAN) / STD
        return a.transpose(2, 0, 1)  # (3, S, S) like the processors


def pillow_exact(path, size):
    """transformers' arithmetic (float64 rescale, then float32 normalise)."""
    with Image.open(path) as im:
        im.draft("RGB", (size, size))
        im = im.convert("RGB").resize((size, size), Image.BICUBIC)
    a = (np.asarray(im).astype(np.float64) * (1 / 255)).astype(np.float32)
    return ((a - MEAN) / STD).transpose(2, 0, 1)


def bench_pillow(files, size, seconds):
    """images per CPU-second of this thread (the C side measures the same way)"""
    n, t0 = 0, time.thread_time()
    while n < len(files) or time.thread_time() - t0 < seconds:
        pillow_one(files[n % len(files)], size)
        n += 1
    el = time.thread_time() - t0
    return n / el


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/tests/bench_image")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--core", type=int, default=0)
    ap.add_argument("--noise", type=float, default=6.0, help="noise sigma of the synthetic photos")
    args = ap.parse_args()
    os.sched_setaffinity(0, {args.core})  # this process (Pillow baseline) on one core
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for (w, h) in ((640, 480), (1920, 1080)):
            files = []
            for i in range(args.count):
                p = os.path.join(d, f"{w}x{h}_{i}.jpg")
                synth(w, h, 100 * w + i, args.noise).save(p, quality=90)  # 4:2:0, like most photos
                files.append(p)
            outp = os.path.join(d, "out.f32")
            cmd = ["taskset", "-c", str(args.core), args.bin, "siglip", str(args.size), str(args.seconds), outp] + files
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            cmd2 = cmd[:4] + ["-2"] + cmd[4:7] + ["-"] + files
            r2 = json.loads(subprocess.run(cmd2, check=True, capture_output=True, text=True).stdout)
            ours = np.fromfile(outp, np.float32).reshape(3, args.size, args.size)
            ref = pillow_exact(files[0], args.size)
            maxdiff = float(np.abs(ours - ref).max())
            pil = bench_pillow(files, args.size, args.seconds)
            kb = sum(os.path.getsize(f) for f in files) / len(files) / 1024
            results[f"{w}x{h}"] = dict(vlmc_images_per_s=round(r["images_per_s"], 1),
                                       vlmc_two_step_images_per_s=round(r2["images_per_s"], 1),
                                       jpeg_kb=round(kb, 1),
                                       pillow_images_per_s=round(pil, 1),
                                       ratio=round(r["images_per_s"] / pil, 2),
                                       two_step_decode_ms=round(r2["decode_s"] * 1e3, 3),
                                       two_step_preprocess_ms=round(r2["preprocess_s"] * 1e3, 3),
                                       max_abs_diff_vs_pillow=maxdiff)
            print(f"{w}x{h} ({kb:.0f} KB) -> {args.size}: vlmc {r['images_per_s']:.1f} img/s fused "
                  f"[two-step {r2['images_per_s']:.1f}: decode {r2['decode_s']*1e3:.2f} ms + resize/normalise "
                  f"{r2['preprocess_s']*1e3:.2f} ms], Pillow+numpy {pil:.1f} img/s, "
                  f"ratio {r['images_per_s']/pil:.2f}x, max |diff| {maxdiff:.3g}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
