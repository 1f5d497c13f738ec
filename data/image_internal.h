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

/* Resampling taps of one pass (image_resize.c): for outputs [o0, o0+n) of
 * an in_size -> out_size pass. kv holds the same weights split into 15-bit
 * halves, interleaved for pmaddwd (NULL when ksize is too large for the
 * int32 sums of that form; the scalar path is used then). */
typedef struct ImgTaps {
    int n, ksize, npair;
    int *lo, *cnt;   /* (n) first input index, number of taps */
    int32_t *k;      /* (n, ksize) fixed point, 22 fraction bits */
    int16_t *kv;     /* (n, npair, 16) or NULL */
} ImgTaps;
int img__taps_build(int in_size, int out_size, int o0, int n, ImgFilter f, ImgTaps *t, VStatus *st);
void img__taps_free(ImgTaps *t);
/* Horizontal pass of one row: in (pixels, 3) -> out (t->n, 3). avail: how
 * many bytes from in may be read (>= the row; vector loads read up to 8
 * bytes past the last tap when allowed). */
void img__hpass_row(const uint8_t *in, size_t avail, uint8_t *out, const ImgTaps *t);
/* Vertical pass, one output row: rows[r] (r < cnt) are input rows of B bytes
 * weighted by k[r]. */
void img__vpass_row(const uint8_t *const *rows, int B, const int32_t *k, int cnt, uint8_t *out);
/* Highest instruction set the pixel loops may use: 2 = AVX2 when the CPU
 * has it (default), 1 = SSSE3 baseline, 0 = scalar. Tests lower it to check
 * that every path gives the same bytes. */
extern int img__simd_max;
/* Pillow 13's pass order: vertical first when the height loses more than
 * twice as many pixels as the width. */
int img__vertical_first(int in_w, int in_h, int out_w, int out_h);

/* Geometry of a fit (image_preprocess.c): the resize target (out_w, out_h)
 * and the window (x0, y0) + size x size kept from it. PAD is not a window of
 * a resize of the source (it resizes a padded copy); returns 1 for it, and
 * -1 when a crop target would be absurdly long (aspect ratio > 1e8 / size). */
int img__fit_geometry(int w, int h, const ImgPreprocess *pp, int *out_w, int *out_h, int *x0, int *y0);
/* lut[c][v]: the float the HF processors produce for channel c, value v */
void img__build_lut(const ImgPreprocess *pp, float lut[3][256]);

/* Row-streaming JPEG decode (image_jpeg.c): begin() gets the output size
 * (after DCT scaling) before any row; rows() gets n rows starting at row y,
 * stride bytes apart, each readable for stride bytes (>= w*3 + 16). A
 * nonzero return from a callback stops the decode and is returned (with st
 * already filled; -1 = "use the slow path", st untouched). */
typedef struct ImgRowSink {
    void *ctx;
    int (*begin)(void *ctx, int w, int h, VStatus *st);
    int (*rows)(void *ctx, const uint8_t *px, size_t stride, int y, int n, VStatus *st);
} ImgRowSink;
int img__jpeg_stream(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, const ImgRowSink *sink, VStatus *st);

/* Resize with an output window: the image is resized to (out_w, out_h) as
 * img_resize does, but only the window [x0, x0+cw) x [y0, y0+ch) is computed
 * and written to dst (ch, cw, 3). Each output pixel depends only on its own
 * taps, so the window equals cropping the full result (how a centre crop
 * after a resize is done without computing the discarded border). */
int img__resize_window(const Image *src, int out_w, int out_h, int x0, int y0, int cw, int ch, ImgFilter f,
                       uint8_t *dst, VStatus *st);

#endif
