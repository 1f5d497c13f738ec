/* data/image_fused.c — img_load_preprocessed: decode -> resize -> normalise
 * with the JPEG rows streamed through the resampler.
 *
 * Per source row (in order): rows the vertical taps need get the horizontal
 * pass into a ring of K = ksize rows; as soon as the last row an output row
 * needs has arrived, that output row is computed from the ring and
 * normalised straight into the (3, S, S) planes. Ring slot y % K is safe to
 * overwrite at row y: an output row emitted at row y' >= y reads rows
 * >= y' + 1 - K > y - K. Exactly the arithmetic of img__resize_window, so the
 * floats equal img_decode + img_preprocess (test_image checks it).
 * Falls back to the two-step path for PNG/WebP, EXIF rotation, PAD, and
 * Pillow's vertical-first pass order. */
#include <stdlib.h>
#include <string.h>

#include "data/image_internal.h"

typedef struct Fused {
    const ImgPreprocess *pp;
    float *out;
    float lut[3][256];
    int S, src_w, src_h, out_w, out_h, x0, y0;
    int need_h, need_v;
    ImgTaps th, tv;
    int K;               // ring rows
    uint8_t *ring;       // (K, S*3)
    uint8_t *row;        // (S*3): one output row before normalising
    const uint8_t **rp;  // (tv.ksize) row pointers
    int next;            // next output row to emit
} Fused;

static void emit_row(Fused *f, const uint8_t *px, int i) {
    size_t plane = (size_t)f->S * f->S, o = (size_t)i * f->S;
    float *o0 = f->out + o, *o1 = f->out + plane + o, *o2 = f->out + 2 * plane + o;
    for (int x = 0; x < f->S; x++) {
        o0[x] = f->lut[0][px[3 * x]];
        o1[x] = f->lut[1][px[3 * x + 1]];
        o2[x] = f->lut[2][px[3 * x + 2]];
    }
}

static int f_begin(void *ctx, int w, int h, VStatus *st) {
    Fused *f = ctx;
    f->src_w = w;
    f->src_h = h;
    if (img__fit_geometry(w, h, f->pp, &f->out_w, &f->out_h, &f->x0, &f->y0) < 0)
        return vs_set(st, VS_EINVAL, "preprocess: %dx%d is too elongated to crop to %d", w, h, f->S);
    if (img__vertical_first(w, h, f->out_w, f->out_h)) return -1;
    f->need_h = f->out_w != w;
    f->need_v = f->out_h != h;
    int S = f->S, rc;
    if (f->need_h && (rc = img__taps_build(w, f->out_w, f->x0, S, f->pp->filter, &f->th, st))) return rc;
    if (f->need_v && (rc = img__taps_build(h, f->out_h, f->y0, S, f->pp->filter, &f->tv, st))) return rc;
    f->K = f->need_v ? f->tv.ksize : 1;
    f->ring = malloc((size_t)f->K * S * 3);
    f->row = malloc((size_t)S * 3);
    f->rp = malloc(sizeof(*f->rp) * (size_t)f->K);
    if (!f->ring || !f->row || !f->rp) return vs_set(st, VS_ENOMEM, "preprocess: out of memory");
    return 0;
}

static int f_rows(void *ctx, const uint8_t *px, size_t stride, int y0, int n, VStatus *st) {
    (void)st;
    Fused *f = ctx;
    int S = f->S;
    for (int r = 0; r < n; r++) {
        int y = y0 + r;
        const uint8_t *in = px + (size_t)r * stride;
        // rows outside the vertical taps' range (or the crop, with no vertical pass) are not needed
        int lo = f->need_v ? f->tv.lo[0] : f->y0;
        int hi = f->need_v ? f->tv.lo[S - 1] + f->tv.cnt[S - 1] : f->y0 + S;
        if (y < lo || y >= hi) continue;
        uint8_t *dst = f->need_v ? f->ring + (size_t)(y % f->K) * S * 3 : f->row;
        if (f->need_h) img__hpass_row(in, stride * (size_t)(n - r), dst, &f->th);
        else memcpy(dst, in + (size_t)f->x0 * 3, (size_t)S * 3);
        if (!f->need_v) {
            emit_row(f, dst, y - f->y0);
            f->next++;
            continue;
        }
        while (f->next < S && f->tv.lo[f->next] + f->tv.cnt[f->next] - 1 <= y) {
            int i = f->next++;
            for (int t = 0; t < f->tv.cnt[i]; t++) f->rp[t] = f->ring + (size_t)((f->tv.lo[i] + t) % f->K) * S * 3;
            img__vpass_row(f->rp, S * 3, f->tv.k + (size_t)i * f->tv.npair * 2, f->tv.cnt[i], f->row);
            emit_row(f, f->row, i);
        }
    }
    return 0;
}

static int two_step(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, const ImgPreprocess *pp, float *out,
                    VStatus *st) {
    Image im;
    int rc = img_decode(buf, n, opt, &im, st);
    if (rc) return rc;
    rc = img_preprocess(&im, pp, out, st);
    img_free(&im);
    return rc;
}

int img_load_preprocessed(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, const ImgPreprocess *pp, float *out,
                          VStatus *st) {
    static const ImgDecodeOpts defaults = {0};
    if (!opt) opt = &defaults;
    int jpeg = n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF;
    if (!jpeg || opt->apply_exif || pp->fit == IMG_FIT_PAD) return two_step(buf, n, opt, pp, out, st);
    if (pp->size <= 0 || pp->size > 8192) return vs_set(st, VS_EINVAL, "preprocess: bad size %d", pp->size);
    if (pp->filter != IMG_BILINEAR && pp->filter != IMG_BICUBIC)
        return vs_set(st, VS_EINVAL, "preprocess: unknown filter %d", (int)pp->filter);
    for (int c = 0; c < 3; c++)
        if (!(pp->std[c] != 0.0f)) return vs_set(st, VS_EINVAL, "preprocess: std[%d] is zero", c);
    Fused f;
    memset(&f, 0, sizeof f);
    f.pp = pp;
    f.out = out;
    f.S = pp->size;
    img__build_lut(pp, f.lut);
    ImgRowSink sink = {&f, f_begin, f_rows};
    int rc = img__jpeg_stream(buf, n, opt, &sink, st);
    if (rc == 0 && f.next != f.S) rc = vs_set(st, VS_EINVAL, "JPEG: stream ended after %d of %d output rows", f.next, f.S);
    img__taps_free(&f.th);
    img__taps_free(&f.tv);
    free(f.ring);
    free(f.row);
    free(f.rp);
    if (rc == -1) return two_step(buf, n, opt, pp, out, st);
    return rc;
}
