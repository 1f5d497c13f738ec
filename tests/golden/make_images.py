#!/usr/bin/env python3
"""tests/golden/make_images.py — golden images for data/image*.c.

Writes small JPEG/PNG/WebP inputs of odd sizes and modes plus what Pillow
(and transformers' PIL-backend processors) make of them:
  NAME.dec.ppm               transformers.image_transforms.convert_to_rgb(Image.open(NAME))
  NAME.drop.ppm              Image.open(NAME).convert("RGB") (alpha dropped)
  NAME.exif.ppm              ImageOps.exif_transpose, then convert("RGB")
  NAME.draftWxH.ppm          JPEG decoded with Image.draft("RGB", (W, H))
  NAME.FILTER.WxH.ppm        convert("RGB").resize((W, H), FILTER)
  NAME.PRESET.S.f32          processor output (3, S, S) float32 little-endian
and manifest.txt, one check per line, read by tests/data/test_image_golden.c:
  decode  IMAGE REF.ppm                   (transformers' convert_to_rgb: alpha on white)
  dropalpha IMAGE REF.ppm                 (Pillow's convert("RGB"), ImgDecodeOpts.drop_alpha)
  exif    IMAGE REF.ppm
  draft   IMAGE W H REF.ppm
  resize  IMAGE bicubic|bilinear W H REF.ppm
  pre     IMAGE clip|siglip|llava S REF.f32
  reject  IMAGE REASON-SUBSTRING          (decode must fail naming this)
Run: /work/main/.venv/bin/python tests/golden/make_images.py (fixed seed;
outputs are committed, CI has no Python).
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
rng = np.random.default_rng(1234)
manifest = []


def content(w, h, ch=3):
    """Smooth gradients + shapes + noise: exercises every tap of the filters."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(ch):
        f = 127 + 90 * np.sin(x / (3 + 2 * c) + y / (5 + c)) + 30 * np.cos((x * y) / (40.0 + 9 * c))
        f += rng.normal(0, 18, size=(h, w))
        f[(x - w / 3) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 4) ** 2] = 250 - 200 * (c % 2)
        planes.append(f)
    return np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)


def mk(a, mode):
    a = np.ascontiguousarray(a)
    return Image.frombytes(mode, (a.shape[1], a.shape[0]), a.tobytes())


def ppm(name, im):
    a = np.asarray(im.convert("RGB"))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (a.shape[1], a.shape[0]))
        f.write(a.tobytes())
    return name


def save(name, im, **kw):
    im.save(os.path.join(OUT, name), **kw)
    return name


def add_decode(name):
    """default: transformers' convert_to_rgb (transparency composited on white);
    dropalpha: Pillow's convert("RGB"), written only where they differ."""
    from transformers.image_transforms import convert_to_rgb
    with Image.open(os.path.join(OUT, name)) as im:
        im.load()
        hf = convert_to_rgb(im, return_numpy=True)
        ref = ppm(name + ".dec.ppm", Image.fromarray(hf))
        manifest.append(f"decode {name} {ref}")
        drop = np.asarray(im.convert("RGB"))
        if not np.array_equal(drop, hf):
            manifest.append(f"dropalpha {name} " + ppm(name + ".drop.ppm", im.convert("RGB")))


def add_resize(name, sizes):
    from transformers.image_transforms import convert_to_rgb
    with Image.open(os.path.join(OUT, name)) as im:
        rgb = Image.fromarray(convert_to_rgb(im, return_numpy=True))
    for w, h in sizes:
        for fname, filt in (("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)):
            ref = ppm(f"{name}.{fname}.{w}x{h}.ppm", rgb.resize((w, h), filt))
            manifest.append(f"resize {name} {fname} {w} {h} {ref}")


def png16(name, a16, color_type=2):
    """16-bit PNG written by hand (Pillow cannot save 16-bit RGB or LA):
    color_type 2 = RGB (a16: h, w, 3), 4 = gray + alpha (a16: h, w, 2)."""
    h, w, _ = a16.shape
    raw = b"".join(b"\0" + a16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    return name


def exif_bytes(orient):
    ex = Image.Exif()
    ex[0x0112] = orient
    return ex.tobytes()


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))

    # --- lossless inputs: decode must equal Pillow exactly ---
    src = Image.fromarray(content(101, 67))
    save("rgb_101x67.png", src)
    save("rgb_37x23.png", Image.fromarray(content(37, 23)))
    save("l_41x29.png", mk(content(41, 29, 1)[:, :, 0], "L"))
    save("rgba_33x21.png", mk(content(33, 21, 4), "RGBA"))
    pal = Image.fromarray(content(29, 31)).convert("P", palette=Image.ADAPTIVE, colors=37)
    save("p_29x31.png", pal, transparency=5)
    png16("rgb16_23x19.png", content(23, 19).astype(np.uint16) * 257 + rng.integers(0, 256, (19, 23, 3)).astype(np.uint16))
    g16 = (content(19, 17, 1)[:, :, 0].astype(np.int32) * 3).astype(np.uint16)  # some values > 255: Pillow clips
    save("l16_19x17.png", Image.fromarray(g16))
    la16 = np.stack([g16.astype(np.uint16) * 80, content(19, 17, 1)[:, :, 0].astype(np.uint16) * 257], -1)
    png16("la16_19x17.png", la16, color_type=4)
    save("bw_27x13.png", Image.fromarray(content(27, 13)).convert("1"))      # 1-bit
    save("la_21x15.png", mk(content(21, 15, 2), "LA"))
    save("p4_25x19.png", Image.fromarray(content(25, 19)).convert("P", palette=Image.ADAPTIVE, colors=12), bits=4)
    save("rgb_39x27_lossless.webp", Image.fromarray(content(39, 27)), lossless=True)
    save("rgba_35x25_lossless.webp", mk(content(35, 25, 4), "RGBA"), lossless=True)
    save("rgb_47x35_lossy.webp", Image.fromarray(content(47, 35)), quality=80)
    for n in ("rgb_101x67.png", "rgb_37x23.png", "l_41x29.png", "rgba_33x21.png", "p_29x31.png",
              "rgb16_23x19.png", "l16_19x17.png", "la16_19x17.png", "bw_27x13.png", "la_21x15.png", "p4_25x19.png", "rgb_39x27_lossless.webp", "rgba_35x25_lossless.webp",
              "rgb_47x35_lossy.webp"):
        add_decode(n)

    # --- JPEG: libjpeg-turbo both sides ---
    save("rgb_101x67.jpg", src, quality=90)                       # 4:2:0
    save("rgb_53x41_444_prog.jpg", Image.fromarray(content(53, 41)), quality=85, subsampling=0, progressive=True)
    save("l_45x37.jpg", mk(content(45, 37, 1)[:, :, 0], "L"), quality=90)
    save("cmyk_31x27.jpg", mk(content(31, 27, 4), "CMYK"), quality=92)
    save("rgb_23x71_portrait.jpg", Image.fromarray(content(23, 71)), quality=88)  # vertical-first resizes
    big = Image.fromarray(content(160, 120))
    save("rgb_160x120.jpg", big, quality=90)
    for n in ("rgb_101x67.jpg", "rgb_53x41_444_prog.jpg", "l_45x37.jpg", "cmyk_31x27.jpg", "rgb_160x120.jpg",
              "rgb_23x71_portrait.jpg"):
        add_decode(n)
    for (w, h) in ((80, 60), (40, 30), (20, 15)):                # DCT scaling 1/2, 1/4, 1/8
        with Image.open(os.path.join(OUT, "rgb_160x120.jpg")) as im:
            im.draft("RGB", (w, h))
            ref = ppm(f"rgb_160x120.jpg.draft{w}x{h}.ppm", im.convert("RGB"))
        manifest.append(f"draft rgb_160x120.jpg {w} {h} {ref}")

    # --- EXIF orientation: a JPEG (6) and lossless PNGs for every value ---
    save("exif6_40x30.jpg", Image.fromarray(content(40, 30)), quality=90, exif=exif_bytes(6))
    names = ["exif6_40x30.jpg"]
    for o in range(2, 9):
        names.append(save(f"exif{o}_7x5.png", Image.fromarray(content(7, 5)), exif=exif_bytes(o)))
    names.append(save("exif6_9x7_lossless.webp", Image.fromarray(content(9, 7)), lossless=True, exif=exif_bytes(6)))
    for n in names:
        with Image.open(os.path.join(OUT, n)) as im:
            ref = ppm(n + ".exif.ppm", ImageOps.exif_transpose(im).convert("RGB"))
        manifest.append(f"exif {n} {ref}")
        add_decode(n)  # without apply_exif: stored orientation, as HF sees it

    # --- resize parity: up, down, non-uniform, one axis unchanged ---
    add_resize("rgb_101x67.png", [(50, 33), (160, 100), (150, 20), (17, 90), (101, 40), (60, 67), (9, 7), (120, 120), (3, 2), (2, 60)])
    add_resize("rgba_33x21.png", [(16, 10), (70, 45)])
    add_resize("rgb_101x67.jpg", [(37, 23), (224, 150)])
    add_resize("rgb_23x71_portrait.jpg", [(20, 20), (16, 40)])

    # --- processors (transformers, PIL backend = the slow processors) ---
    from transformers import CLIPImageProcessorPil, SiglipImageProcessorPil
    from transformers.image_utils import OPENAI_CLIP_MEAN

    def f32(name, arr):
        a = np.asarray(arr, dtype=np.float32)
        assert a.ndim == 3 and a.shape[0] == 3, a.shape
        a.astype("<f4").tofile(os.path.join(OUT, name))
        return name

    for n, S in (("rgb_101x67.png", 48), ("p_29x31.png", 24), ("rgb_101x67.jpg", 64), ("rgb_23x71_portrait.jpg", 20)):
        with Image.open(os.path.join(OUT, n)) as im:
            im.load()
            clip = CLIPImageProcessorPil(size={"shortest_edge": S}, crop_size={"height": S, "width": S})
            manifest.append(f"pre {n} clip {S} " + f32(f"{n}.clip.{S}.f32", clip(im, return_tensors="np")["pixel_values"][0]))
            sig = SiglipImageProcessorPil(size={"height": S, "width": S})
            manifest.append(f"pre {n} siglip {S} " + f32(f"{n}.siglip.{S}.f32", sig(im, return_tensors="np")["pixel_values"][0]))
            # LLaVA-1.5 image_aspect_ratio="pad": expand2square with the mean colour, then CLIP
            # (LLaVA's own code calls convert("RGB"); the decode side is tested
            # separately, so both sides here start from the default decode)
            from transformers.image_transforms import convert_to_rgb
            rgb = Image.fromarray(convert_to_rgb(im, return_numpy=True))
            w, h = rgb.size
            L = max(w, h)
            sq = Image.new("RGB", (L, L), tuple(int(x * 255) for x in OPENAI_CLIP_MEAN))
            sq.paste(rgb, ((L - w) // 2, (L - h) // 2))
            manifest.append(f"pre {n} llava {S} " + f32(f"{n}.llava.{S}.f32", clip(sq, return_tensors="np")["pixel_values"][0]))

    # --- bad input ---
    data = open(os.path.join(OUT, "rgb_101x67.jpg"), "rb").read()
    open(os.path.join(OUT, "truncated.jpg"), "wb").write(data[: len(data) * 6 // 10])
    manifest.append("reject truncated.jpg truncated JPEG")
    prog = open(os.path.join(OUT, "rgb_53x41_444_prog.jpg"), "rb").read()
    open(os.path.join(OUT, "truncated_prog.jpg"), "wb").write(prog[: len(prog) // 2])
    manifest.append("reject truncated_prog.jpg truncated JPEG")
    # 65535x65535 declared in the SOF marker of a valid small JPEG: must fail before allocating
    sof = data.index(b"\xff\xc0")
    bomb = data[: sof + 5] + struct.pack(">HH", 65535, 65535) + data[sof + 9:]
    open(os.path.join(OUT, "bomb_65535.jpg"), "wb").write(bomb)
    manifest.append("reject bomb_65535.jpg Maximum supported image dimension")  # libjpeg's own limit
    bomb = data[: sof + 5] + struct.pack(">HH", 30000, 30000) + data[sof + 9:]
    open(os.path.join(OUT, "bomb_30000.jpg"), "wb").write(bomb)
    manifest.append("reject bomb_30000.jpg exceeds the 89478485-pixel limit")
    ll = open(os.path.join(OUT, "rgb_39x27_lossless.webp"), "rb").read()
    assert ll[12:16] == b"VP8L" and ll[20] == 0x2F
    hdr = struct.pack("<I", 16382 | 16382 << 14)  # 14-bit (width-1), (height-1), no alpha, version 0
    open(os.path.join(OUT, "bomb_16383.webp"), "wb").write(ll[:21] + hdr + ll[25:])
    manifest.append("reject bomb_16383.webp exceeds the 89478485-pixel limit")
    png = open(os.path.join(OUT, "rgb_37x23.png"), "rb").read()
    ihdr = struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)
    bomb = png[:8] + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + png[33:]
    open(os.path.join(OUT, "bomb_65535.png"), "wb").write(bomb)
    manifest.append("reject bomb_65535.png exceeds the 89478485-pixel limit")
    open(os.path.join(OUT, "truncated.png"), "wb").write(png[: len(png) // 2])
    manifest.append("reject truncated.png truncated PNG")
    web = open(os.path.join(OUT, "rgb_47x35_lossy.webp"), "rb").read()
    open(os.path.join(OUT, "truncated.webp"), "wb").write(web[: len(web) * 2 // 3])
    manifest.append("reject truncated.webp WebP")
    open(os.path.join(OUT, "not_an_image.jpg"), "wb").write(b"GIF89a this is not a JPEG")
    manifest.append("reject not_an_image.jpg unknown image format")

    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(manifest)} checks, {len(os.listdir(OUT))} files, {total} bytes")


if __name__ == "__main__":
    main()
