/* data/image_decode.c — format sniffing, file loading, the pixel limit, and
 * EXIF orientation (parse + transpose). The per-format decoders live in
 * image_jpeg.c, image_png.c, image_webp.c.
 *
 * Invariants: the format is chosen from the first bytes (magic numbers),
 * never from a file name; a failing call leaves *out empty ({0,0,NULL});
 * transparency is composited on white unless opt->drop_alpha; EXIF
 * orientation is applied only when opt->apply_exif is set (Hugging
 * Face processors never apply it, so parity is the default). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image_internal.h"

int img__check_dims(const char *fmt, int64_t w, int64_t h, int64_t max_pixels, VStatus *st) {
    if (max_pixels <= 0) max_pixels = IMG_DEFAULT_MAX_PIXELS;
    if (w <= 0 || h <= 0) return vs_set(st, VS_EINVAL, "%s: declared size %lldx%lld is empty", fmt, (long long)w, (long long)h);
    if (w > 65535 * 4 || h > 65535 * 4 || w * h > max_pixels)
        return vs_set(st, VS_ENOMEM, "%s: declared %lldx%lld exceeds the %lld-pixel limit (decompression bomb?)", fmt,
                      (long long)w, (long long)h, (long long)max_pixels);
    return 0;
}

int img__alloc(Image *im, int w, int h, VStatus *st) {
    im->px = malloc((size_t)w * (size_t)h * 3);
    if (!im->px) return vs_set(st, VS_ENOMEM, "out of memory for a %dx%d image", w, h);
    im->w = w;
    im->h = h;
    return 0;
}

void img_free(Image *im) {
    if (!im) return;
    free(im->px);
    im->px = NULL;
    im->w = im->h = 0;
}

void img__flatten_alpha(const uint8_t *in, uint8_t *out, size_t n, int drop) {
    for (size_t i = 0; i < n; i++, in += 4, out += 3) {
        unsigned a = in[3];
        if (drop || a == 255) {
            out[0] = in[0], out[1] = in[1], out[2] = in[2];
        } else if (a == 0) {
            out[0] = out[1] = out[2] = 255;
        } else {
            // Pillow's alpha_composite over opaque white, 7 fraction bits:
            // t = 128 (v a + 255 (255 - a)); out = div255(t + 128 * 128) >> 7
            for (int c = 0; c < 3; c++) {
                uint32_t t = 128u * (in[c] * a + 255u * (255u - a)) + (0x80u << 7);
                out[c] = (uint8_t)((((t >> 8) + t) >> 8) >> 7);
            }
        }
    }
}

typedef enum { FMT_UNKNOWN, FMT_JPEG, FMT_PNG, FMT_WEBP } ImgFormat;

static ImgFormat sniff(const uint8_t *b, size_t n) {
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return FMT_JPEG;
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return FMT_PNG;
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return FMT_WEBP;
    return FMT_UNKNOWN;
}

int img_decode(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, VStatus *st) {
    static const ImgDecodeOpts defaults = {0};
    if (!opt) opt = &defaults;
    out->w = out->h = 0;
    out->px = NULL;
    int orient = 1, rc;
    switch (sniff(buf, n)) {
    case FMT_JPEG: rc = img__decode_jpeg(buf, n, opt, out, &orient, st); break;
    case FMT_PNG: rc = img__decode_png(buf, n, opt, out, &orient, st); break;
    case FMT_WEBP: rc = img__decode_webp(buf, n, opt, out, &orient, st); break;
    default:
        if (n == 0) return vs_set(st, VS_EINVAL, "empty image data");
        return vs_set(st, VS_EINVAL, "unknown image format (first bytes %02x %02x %02x %02x; expected JPEG, PNG or WebP)",
                      buf[0], n > 1 ? buf[1] : 0, n > 2 ? buf[2] : 0, n > 3 ? buf[3] : 0);
    }
    if (rc) return rc;
    if (opt->apply_exif && orient != 1 && (rc = img__apply_orientation(out, orient, st))) {
        img_free(out);
        return rc;
    }
    return 0;
}

int img_decode_file(const char *path, const ImgDecodeOpts *opt, Image *out, VStatus *st) {
    out->w = out->h = 0;
    out->px = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return vs_set(st, VS_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return vs_set(st, VS_EIO, "%s: cannot seek: %s", path, strerror(errno));
    }
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf) {
        fclose(f);
        return vs_set(st, VS_ENOMEM, "%s: out of memory for %ld bytes", path, n);
    }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        free(buf);
        return vs_set(st, VS_EIO, "%s: short read (%zu of %ld bytes)", path, got, n);
    }
    int rc = img_decode(buf, (size_t)n, opt, out, st);
    free(buf);
    if (rc) vs_prefix(st, "%s", path);
    return rc;
}

/* ---- EXIF ---------------------------------------------------------------- */

static unsigned rd16(const uint8_t *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int img__exif_orientation(const uint8_t *t, size_t n) {
    if (n < 8) return 1;
    int le;
    if (memcmp(t, "II*\0", 4) == 0) le = 1;
    else if (memcmp(t, "MM\0*", 4) == 0) le = 0;
    else return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > n - 2) return 1;
    unsigned count = rd16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;  // 12-byte IFD entries
        if (e + 12 > n) return 1;
        if (rd16(t + e, le) == 0x0112 && rd16(t + e + 2, le) == 3) {  // Orientation, SHORT
            unsigned v = rd16(t + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

/* Destination (x, y) takes source (sx, sy); for orientations 5..8 the
 * destination is h x w. Matches ImageOps.exif_transpose: 2 mirror, 3 rotate
 * 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
 * counter-clockwise. */
int img__apply_orientation(Image *im, int orient, VStatus *st) {
    if (orient < 2 || orient > 8) return 0;
    int W = im->w, H = im->h, swap = orient >= 5;
    int dw = swap ? H : W, dh = swap ? W : H;
    Image d;
    if (img__alloc(&d, dw, dh, st)) return st ? st->code : VS_ENOMEM;
    for (int y = 0; y < dh; y++) {
        for (int x = 0; x < dw; x++) {
            int sx, sy;
            switch (orient) {
            case 2: sx = W - 1 - x; sy = y; break;
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;
            case 4: sx = x; sy = H - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = H - 1 - x; break;
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;
            default: sx = W - 1 - y; sy = x; break;  // 8
            }
            memcpy(d.px + ((size_t)y * dw + x) * 3, im->px + ((size_t)sy * W + sx) * 3, 3);
        }
    }
    free(im->px);
    *im = d;
    return 0;
}
