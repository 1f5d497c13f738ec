/* data/image.h — image decoding and preprocessing (contract; data/image*.c).
 *
 * Decode by content (JPEG via libjpeg-turbo, PNG via libpng, WebP via
 * libwebp), never by file extension. Output is always 8-bit RGB, interleaved
 * (H, W, 3). Declared dimensions are checked against max_pixels before any
 * allocation. Resizing reproduces Pillow's BICUBIC / BILINEAR (antialiased,
 * fixed-point taps, horizontal then vertical pass, uint8 between passes).
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
    int min_w, min_h;       /* JPEG: DCT-scale down while the result stays >= these (0 = no scaling) */
    int drop_alpha;         /* transparency: 0 = composite on white, as transformers' convert_to_rgb
                               does (the default, parity); 1 = drop alpha, as Pillow's
                               convert("RGB") does (what LLaVA-style code that calls it sees) */
} ImgDecodeOpts;

/* What the encoder's processor does, as numbers. */
typedef enum ImgFit { IMG_FIT_SQUASH = 0, IMG_FIT_PAD, IMG_FIT_CROP } ImgFit;
typedef struct ImgPreprocess {
    int size;               /* output is size x size */
    ImgFilter filter;
    ImgFit fit;             /* squash: resize to size x size; pad: longest edge then pad
                               with the mean colour; crop: shortest edge then centre crop */
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

/* Processor presets with the values of the Hugging Face image processors:
 * "clip" (CLIPImageProcessor) and "siglip" (SiglipImageProcessor).
 * Returns 0 when the name is known. */
int img_preset(const char *name, int size, ImgPreprocess *pp);

#endif
