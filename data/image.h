/* data/image.h — image decoding and preprocessing (contract; data/image*.c).
 *
 * Decode by content (JPEG via libjpeg-turbo, PNG via libpng, WebP via
 * libwebp), never by file extension. Output is always 8-bit RGB, interleaved
 * (H, W, 3). Declared dimensions are checked against max_pixels before any
 * allocation. Resizing reproduces Pillow 13's BICUBIC / BILINEAR bit for bit
 * (antialiased, fixed-point taps, two passes with uint8 between them, in
 * Pillow's pass order); preprocessing reproduces transformers' PIL-backend
 * CLIP / SigLIP processors (and LLaVA's pad) bit for bit.
 * Every failure returns nonzero and fills st with the reason ("truncated
 * JPEG", "declared 65535x65535 exceeds the 89478485-pixel limit", ...). */
#ifndef VLMC_DATA_IMAGE_H
#define VLMC_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct Image {
    int w, h;        /* pixels */
    uint8_t *px;     /* (h, w, 3) RGB, owned: img_free */
} Image;

typedef enum ImgFilter { IMG_BILINEAR = 0, IMG_BICUBIC } ImgFilter;

typedef struct ImgDecodeOpts {
    int64_t max_pixels;     /* 0 = default (Pillow's 89478485) */
    int apply_exif;         /* rotate by EXIF orientation (off: HF processors don't) */
    int min_w, min_h;       /* JPEG: DCT-scale by 1/2, 1/4 or 1/8 while the result stays >= these
                               (0 = no scaling). Same pixels as Pillow's Image.draft(); the HF
                               processors do not draft, so this trades exact parity for speed */
    int drop_alpha;         /* transparency: 0 = composite on white, as transformers' convert_to_rgb
                               does (the default, parity); 1 = drop alpha, as Pillow's
                               convert("RGB") does (what LLaVA-style code that calls it sees) */
} ImgDecodeOpts;

/* What the encoder's processor does, as numbers. */
typedef enum ImgFit { IMG_FIT_SQUASH = 0, IMG_FIT_PAD, IMG_FIT_CROP } ImgFit;
typedef struct ImgPreprocess {
    int size;               /* output is size x size */
    ImgFilter filter;
    ImgFit fit;             /* squash: resize to size x size (SigLIP); crop: shortest edge to
                               size, then centre crop (CLIP); pad: LLaVA's expand2square —
                               pad to a square with int(mean * 255), then resize */
    float mean[3], std[3];  /* per channel, on [0, 1] values */
    float rescale;          /* usually 1/255 */
} ImgPreprocess;

int img_decode(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, VStatus *st);
int img_decode_file(const char *path, const ImgDecodeOpts *opt, Image *out, VStatus *st);
/* base64 (standard alphabet, padding optional, whitespace skipped) -> image */
int img_decode_base64(const char *b64, size_t n, const ImgDecodeOpts *opt, Image *out, VStatus *st);
int img_resize(const Image *src, int w, int h, ImgFilter f, Image *dst, VStatus *st);
/* decoded image -> normalised float pixels out (3, size, size), channel-major */
int img_preprocess(const Image *src, const ImgPreprocess *pp, float *out, VStatus *st);
void img_free(Image *im);
/* Decode + preprocess in one call — the loader's fast path. Same floats as
 * img_decode followed by img_preprocess with the same options; for JPEG the
 * rows stream from libjpeg through the resampler (a ring of a few rows), so
 * the full-size image is never held. */
int img_load_preprocessed(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, const ImgPreprocess *pp, float *out,
                          VStatus *st);

/* Processor presets with the values of the Hugging Face image processors:
 * "clip" (CLIPImageProcessor) and "siglip" (SiglipImageProcessor).
 * Returns 0 when the name is known. */
int img_preset(const char *name, int size, ImgPreprocess *pp);

#endif
