/* data/ld_image.c — the loader's image codec on top of data/image.h.
 *
 * load(): img_load_preprocessed (decode and the processor's fit to S x S in
 * one pass; a JPEG's rows stream through the resampler, so the full-size
 * image is never held; the same floats as img_decode + img_preprocess),
 * kept as uint8 (what HDF5 shards store and what batches normalise). The
 * uint8 values are recovered exactly: preprocessing with std 1 and rescale 1
 * gives float32(v - mean) with the real mean (which also sets the pad
 * colour), and v - mean + mean rounds back to v (|error| < 2^-15). */
#include <math.h>
#include <stdlib.h>

#include "data/image.h"
#include "data/loader.h"

typedef struct LdImgCtx {
    ImgDecodeOpts dec;
    ImgPreprocess pp;
    int dct_scale;
} LdImgCtx;

static int img_load(void *ctx, const uint8_t *buf, size_t n, int S, uint8_t *out, VStatus *st) {
    const LdImgCtx *c = ctx;
    ImgDecodeOpts dec = c->dec;
    if (c->dct_scale) dec.min_w = dec.min_h = S;   /* JPEG: decode at >= S x S straight from the DCT */
    ImgPreprocess pp = c->pp;
    pp.size = S;
    pp.std[0] = pp.std[1] = pp.std[2] = 1.0f;
    pp.rescale = 1.0f;
    float *f = malloc((size_t)S * S * 3 * sizeof *f);
    VLMC_ASSERT(f != NULL, "out of memory");
    int rc = img_load_preprocessed(buf, n, &dec, &pp, f, st);
    if (!rc) {
        size_t plane = (size_t)S * S;
        for (size_t p = 0; p < plane; p++)
            for (int ch = 0; ch < 3; ch++) {
                long v = lrintf(f[ch * plane + p] + pp.mean[ch]);
                out[3 * p + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    }
    free(f);
    return rc;
}

int ld_image_codec(const char *preset, int size, int dct_scale, LdImageCodec *out, VStatus *st) {
    LdImgCtx *c = calloc(1, sizeof *c);
    VLMC_ASSERT(c != NULL, "out of memory");
    if (img_preset(preset, size, &c->pp)) {
        free(c);
        return vs_set(st, VS_EINVAL, "unknown image processor preset '%s'", preset);
    }
    c->dct_scale = dct_scale;
    *out = (LdImageCodec){.ctx = c, .load = img_load, .S = c->pp.size, .rescale = c->pp.rescale};
    for (int i = 0; i < 3; i++) {
        out->mean[i] = c->pp.mean[i];
        out->std[i] = c->pp.std[i];
    }
    return 0;
}

void ld_image_codec_free(LdImageCodec *ic) {
    free(ic->ctx);
    ic->ctx = NULL;
}
