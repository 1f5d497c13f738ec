/* data/image_internal.h — helpers shared by the data/image*.c files only
 * (not part of the public contract in data/image.h).
 *
 * Invariants: every decoder checks the declared size with img__check_dims
 * before allocating pixels; on failure the output Image is left empty
 * ({0, 0, NULL}) and st names the format and the reason. */
#ifndef VLMC_DATA_IMAGE_INTERNAL_H
#define VLMC_DATA_IMAGE_INTERNAL_H

#include "data/image.h"

/* Pillow's Image.MAX_IMAGE_PIXELS: the default decompression-bomb limit. */
#define IMG_DEFAULT_MAX_PIXELS 89478485LL

/* 0 when w x h is positive and within the limit (max_pixels <= 0: default). */
int img__check_dims(const char *fmt, int64_t w, int64_t h, int64_t max_pixels, VStatus *st);
/* allocates im->px for (h, w, 3); dims already checked */
int img__alloc(Image *im, int w, int h, VStatus *st);

/* Per-format decoders. *orient receives the EXIF orientation (1..8, 1 when
 * absent); it is only looked for when opt->apply_exif is set. */
int img__decode_jpeg(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, int *orient, VStatus *st);
int img__decode_png(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, int *orient, VStatus *st);
int img__decode_webp(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, int *orient, VStatus *st);

/* rgba (n, 4) -> rgb (n, 3): alpha dropped (drop = 1) or composited on
 * opaque white with Pillow's integer arithmetic (alpha_composite). */
void img__flatten_alpha(const uint8_t *rgba, uint8_t *rgb, size_t n, int drop);

/* EXIF: tiff points at the TIFF header ("II*\0" / "MM\0*") of an Exif
 * payload of n bytes. Returns the orientation tag 1..8, or 1 when absent or
 * malformed (a bad EXIF block is not a reason to drop an image). */
int img__exif_orientation(const uint8_t *tiff, size_t n);
/* Rewrites im in place (new buffer) as Pillow's ImageOps.exif_transpose does. */
int img__apply_orientation(Image *im, int orient, VStatus *st);

/* Resize with an output window: the image is resized to (out_w, out_h) as
 * img_resize does, but only the window [x0, x0+cw) x [y0, y0+ch) is computed
 * and written to dst (ch, cw, 3). Each output pixel depends only on its own
 * taps, so the window equals cropping the full result (how a centre crop
 * after a resize is done without computing the discarded border). */
int img__resize_window(const Image *src, int out_w, int out_h, int x0, int y0, int cw, int ch, ImgFilter f,
                       uint8_t *dst, VStatus *st);

#endif
