/* data/image_png.c — PNG decoding with libpng.
 *
 * Invariants:
 *  - libpng errors go through png_set_error_fn: the message is kept in PCtx
 *    and libpng longjmps to png_jmpbuf; every allocation is reachable from
 *    PCtx so the error path frees it. Reading past the buffer end is the
 *    error "truncated PNG".
 *  - IHDR's size is checked before any pixel or row-pointer allocation.
 *  - Output equals transformers' convert_to_rgb (alpha or tRNS composited on
 *    white) or, with opt->drop_alpha, Pillow's convert("RGB"): palette -> its
 *    colours, gray -> replicated, 16-bit samples keep
 *    their high byte (Pillow's "RGB;16B" raw mode), 1/2/4-bit gray scaled to
 *    0..255. gAMA/iCCP are ignored (Pillow ignores them as well).
 *    16-bit grayscale is the exception where Pillow clips ("I;16" -> "L"
 *    saturates at 255); we follow Pillow there too (see expand_gray16). */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "data/image_internal.h"

typedef struct PCtx {
    const uint8_t *buf;
    size_t n, pos;
    char msg[256];
    png_bytep *rows;   // (h) row pointers
    uint8_t *rgba;     // (h, w, 4) when the image has transparency
    uint16_t *g16;     // 16-bit gray scratch, (h, w)
} PCtx;

static void p_read(png_structp png, png_bytep dst, png_size_t len) {
    PCtx *c = png_get_io_ptr(png);
    if (len > c->n - c->pos) png_error(png, "truncated PNG (data ends early)");
    memcpy(dst, c->buf + c->pos, len);
    c->pos += len;
}

static void p_error(png_structp png, png_const_charp m) {
    PCtx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", m);
    png_longjmp(png, 1);
}

static void p_warn(png_structp png, png_const_charp m) { (void)png, (void)m; }

int img__decode_png(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, int *orient, VStatus *st) {
    PCtx c;
    memset(&c, 0, sizeof c);
    c.buf = buf;
    c.n = n;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, p_error, p_warn);
    if (!png) return vs_set(st, VS_ENOMEM, "PNG: cannot create a libpng reader");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return vs_set(st, VS_ENOMEM, "PNG: cannot create libpng info");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(c.rows);
        free(c.g16);
        free(c.rgba);
        img_free(out);
        if (strncmp(c.msg, "truncated", 9) == 0) return vs_set(st, VS_EINVAL, "PNG: %s", c.msg);
        return vs_set(st, VS_EINVAL, "corrupt PNG: %s", c.msg);
    }
    png_set_read_fn(png, &c, p_read);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (img__check_dims("PNG", w, h, opt->max_pixels, st)) {
        png_destroy_read_struct(&png, &info, NULL);
        return st ? st->code : VS_ENOMEM;
    }
    if (opt->apply_exif) {
        png_uint_32 ne = 0;
        png_bytep ex = NULL;
        if (png_get_eXIf_1(png, info, &ne, &ex) && ex) *orient = img__exif_orientation(ex, ne);
    }
    int ct = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    // 16-bit gray without alpha is Pillow's "I;16" (clipped to 255 on conversion);
    // 16-bit gray + alpha opens as 8-bit high bytes like every other mode
    int gray16 = depth == 16 && ct == PNG_COLOR_TYPE_GRAY;
    int alpha = !gray16 && ((ct & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS));
    if (gray16) {
        // Pillow opens these as "I;16" and converts to L by clipping at 255,
        // so the low byte matters: read 16-bit samples, alpha stripped.
        png_set_strip_alpha(png);  // a tRNS entry is ignored here (rare; not checked against Pillow)
        png_set_swap(png);         // native little-endian uint16
    } else {
        png_set_expand(png);  // palette -> RGB, gray < 8 bits -> 8, tRNS -> alpha
        png_set_strip_16(png);
        if (!alpha) png_set_strip_alpha(png);
        png_set_gray_to_rgb(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rb = png_get_rowbytes(png, info), want = (size_t)w * (gray16 ? 2 : alpha ? 4 : 3);
    if (rb != want) {
        png_destroy_read_struct(&png, &info, NULL);
        return vs_set(st, VS_EUNSUP, "PNG: unexpected row size %zu (color type %d, depth %d)", rb, ct, depth);
    }
    if (img__alloc(out, (int)w, (int)h, st)) {
        png_destroy_read_struct(&png, &info, NULL);
        return st ? st->code : VS_ENOMEM;
    }
    c.rows = malloc(sizeof(png_bytep) * h);
    if (gray16) c.g16 = malloc((size_t)w * h * 2);
    if (alpha) c.rgba = malloc((size_t)w * h * 4);
    if (!c.rows || (gray16 && !c.g16) || (alpha && !c.rgba)) png_error(png, "out of memory for rows");
    for (png_uint_32 y = 0; y < h; y++)
        c.rows[y] = gray16  ? (png_bytep)(c.g16 + (size_t)y * w)
                    : alpha ? c.rgba + (size_t)y * w * 4
                            : out->px + (size_t)y * w * 3;
    png_read_image(png, c.rows);
    png_read_end(png, NULL);
    if (gray16) {
        for (size_t i = 0; i < (size_t)w * h; i++) {
            uint8_t v = c.g16[i] > 255 ? 255 : (uint8_t)c.g16[i];
            out->px[i * 3] = out->px[i * 3 + 1] = out->px[i * 3 + 2] = v;
        }
    }
    if (alpha) img__flatten_alpha(c.rgba, out->px, (size_t)w * h, opt->drop_alpha);
    png_destroy_read_struct(&png, &info, NULL);
    free(c.rows);
    free(c.g16);
    free(c.rgba);
    return 0;
}
