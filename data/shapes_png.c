/* data/shapes_png.c — lossless PNG encoding of RGB images with libpng into
 * memory (the shapes writer's image format). libpng errors longjmp to the
 * setjmp below with the message kept in the context; the output buffer is
 * owned by the context until success. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/shapes_data.h"

typedef struct WCtx {
    uint8_t *buf;
    size_t n, cap;
    char msg[256];
    int oom;
} WCtx;

static void w_error(png_structp p, png_const_charp msg) {
    WCtx *c = png_get_error_ptr(p);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void w_warn(png_structp p, png_const_charp msg) { (void)p; (void)msg; }

static void w_write(png_structp p, png_bytep data, png_size_t len) {
    WCtx *c = png_get_io_ptr(p);
    if (c->n + len > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->n + len) cap *= 2;
        uint8_t *b = realloc(c->buf, cap);
        if (!b) {
            c->oom = 1;
            png_error(p, "out of memory");
        }
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->n, data, len);
    c->n += len;
}

static void w_flush(png_structp p) { (void)p; }

int sh_png_encode(const uint8_t *px, int w, int h, uint8_t **out, size_t *n, VStatus *st) {
    if (w <= 0 || h <= 0) return vs_set(st, VS_EINVAL, "png encode: bad size %dx%d", w, h);
    /* volatile: modified between setjmp and a possible longjmp */
    WCtx *volatile c = calloc(1, sizeof(WCtx));
    if (!c) return vs_set(st, VS_ENOMEM, "png encode: out of memory");
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, c, w_error, w_warn);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info) {
        png_destroy_write_struct(&p, NULL);
        free(c);
        return vs_set(st, VS_ENOMEM, "png encode: libpng init failed");
    }
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        int rc = vs_set(st, c->oom ? VS_ENOMEM : VS_EINVAL, "png encode: %s", c->msg);
        free(c->buf);
        free(c);
        return rc;
    }
    png_set_write_fn(p, c, w_write, w_flush);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < h; y++) png_write_row(p, (png_const_bytep)(px + (size_t)y * (size_t)w * 3));
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    *out = c->buf;
    *n = c->n;
    free(c);
    return 0;
}
