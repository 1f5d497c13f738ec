/* data/image_webp.c — WebP decoding with libwebp (still images; an
 * animation decodes its first frame's bitstream only if libwebp accepts it).
 *
 * Invariants: WebPGetFeatures gives the declared size, checked before the
 * allocation; alpha is composited on white (or dropped with
 * opt->drop_alpha), as for PNG; EXIF is read from
 * the RIFF "EXIF" chunk only when asked. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

#include "data/image_internal.h"

static const char *vp8_status(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature (animation?)";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated WebP (not enough data)";
    default: return "unknown error";
    }
}

/* Walks the RIFF chunks after "RIFFxxxxWEBP" looking for "EXIF". */
static int webp_orientation(const uint8_t *b, size_t n) {
    size_t p = 12;
    while (p + 8 <= n) {
        uint32_t len = (uint32_t)b[p + 4] | (uint32_t)b[p + 5] << 8 | (uint32_t)b[p + 6] << 16 | (uint32_t)b[p + 7] << 24;
        if (len > n - p - 8) return 1;
        if (memcmp(b + p, "EXIF", 4) == 0) {
            const uint8_t *e = b + p + 8;
            size_t el = len;
            if (el > 6 && memcmp(e, "Exif\0\0", 6) == 0) e += 6, el -= 6;  // some writers keep the JPEG prefix
            return img__exif_orientation(e, el);
        }
        p += 8 + (size_t)len + (len & 1);  // chunks are padded to even sizes
    }
    return 1;
}

int img__decode_webp(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, int *orient, VStatus *st) {
    WebPBitstreamFeatures f;
    VP8StatusCode s = WebPGetFeatures(buf, n, &f);
    if (s != VP8_STATUS_OK) return vs_set(st, VS_EINVAL, "corrupt WebP header: %s", vp8_status(s));
    if (img__check_dims("WebP", f.width, f.height, opt->max_pixels, st)) return st ? st->code : VS_ENOMEM;
    if (f.has_animation) return vs_set(st, VS_EUNSUP, "WebP: animated WebP is not supported");
    if (img__alloc(out, f.width, f.height, st)) return st ? st->code : VS_ENOMEM;
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg)) {
        img_free(out);
        return vs_set(st, VS_EUNSUP, "WebP: libwebp version mismatch");
    }
    int bpp = f.has_alpha ? 4 : 3;
    uint8_t *rgba = NULL;
    if (f.has_alpha && !(rgba = malloc((size_t)f.width * f.height * 4))) {
        img_free(out);
        return vs_set(st, VS_ENOMEM, "WebP: out of memory for %dx%d RGBA", f.width, f.height);
    }
    cfg.output.colorspace = f.has_alpha ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = f.has_alpha ? rgba : out->px;
    cfg.output.u.RGBA.stride = f.width * bpp;
    cfg.output.u.RGBA.size = (size_t)f.width * bpp * (size_t)f.height;
    s = WebPDecode(buf, n, &cfg);
    WebPFreeDecBuffer(&cfg.output);  // external memory: frees nothing of ours
    if (s == VP8_STATUS_OK && rgba) img__flatten_alpha(rgba, out->px, (size_t)f.width * f.height, opt->drop_alpha);
    free(rgba);
    if (s != VP8_STATUS_OK) {
        img_free(out);
        return vs_set(st, VS_EINVAL, "%s%s", s == VP8_STATUS_NOT_ENOUGH_DATA ? "" : "corrupt WebP: ", vp8_status(s));
    }
    if (opt->apply_exif) *orient = webp_orientation(buf, n);
    return 0;
}
