/* data/image_preprocess.c — decoded image -> normalised (3, S, S) floats, the
 * way the Hugging Face image processors (PIL backend) compute them, and the
 * processor presets.
 *
 * Fits:
 *  - SQUASH (SigLIP): resize to S x S.
 *  - CROP (CLIP): resize the shortest edge to S, the other to
 *    int(S * long / short), then centre crop S x S at ((w-S)//2, (h-S)//2).
 *    Only the crop window is computed (equal to cropping the full resize).
 *  - PAD (LLaVA's expand2square): paste the image centred at
 *    ((L-w)//2, (L-h)//2) on an L x L canvas, L = max(w, h), filled with
 *    int(mean * 255) per channel, then resize to S x S.
 * Normalisation: HF computes float32((float64)v * rescale) then
 * (x - float32 mean) / float32 std in float32. There are 256 possible inputs
 * per channel, so a 3 x 256 table built with exactly that arithmetic gives
 * bit-identical floats at the cost of one lookup per value. The contract's
 * rescale is a float; 1/255 (the only value the processors use) is taken at
 * double precision as Python has it. */
#include <stdlib.h>
#include <string.h>

#include "data/image_internal.h"

void img__build_lut(const ImgPreprocess *pp, float lut[3][256]) {
    double r = pp->rescale == (float)(1.0 / 255.0) ? 1.0 / 255.0 : (double)pp->rescale;
    for (int c = 0; c < 3; c++) {
        for (int v = 0; v < 256; v++) {
            float x = (float)((double)v * r);
            volatile float d = x - pp->mean[c];  // volatile: keep float32 rounding of each step
            lut[c][v] = d / pp->std[c];
        }
    }
}

/* px (n, 3) interleaved -> out (3, n) planes */
static void normalise(const uint8_t *px, size_t n, float lut[3][256], float *out) {
    float *o0 = out, *o1 = out + n, *o2 = out + 2 * n;
    for (size_t i = 0; i < n; i++) {
        o0[i] = lut[0][px[3 * i]];
        o1[i] = lut[1][px[3 * i + 1]];
        o2[i] = lut[2][px[3 * i + 2]];
    }
}

static int pad_square(const Image *src, const ImgPreprocess *pp, Image *sq, VStatus *st) {
    int L = src->w > src->h ? src->w : src->h;
    if (img__check_dims("pad", L, L, 0, st)) return st ? st->code : VS_ENOMEM;
    int rc = img__alloc(sq, L, L, st);
    if (rc) return rc;
    uint8_t bg[3];
    for (int c = 0; c < 3; c++) bg[c] = (uint8_t)(int)((double)pp->mean[c] * 255.0);
    int ox = (L - src->w) / 2, oy = (L - src->h) / 2;
    for (int y = 0; y < L; y++) {
        uint8_t *row = sq->px + (size_t)y * L * 3;
        int inside = y >= oy && y < oy + src->h;
        for (int x = 0; x < L; x++) {
            if (inside && x == ox) {
                memcpy(row + (size_t)x * 3, src->px + (size_t)(y - oy) * src->w * 3, (size_t)src->w * 3);
                x += src->w - 1;
                continue;
            }
            memcpy(row + (size_t)x * 3, bg, 3);
        }
    }
    return 0;
}

int img__fit_geometry(int w, int h, const ImgPreprocess *pp, int *out_w, int *out_h, int *x0, int *y0) {
    int S = pp->size;
    if (pp->fit == IMG_FIT_CROP) {
        int shortest = w <= h ? w : h, longest = w <= h ? h : w;
        double nl = (double)((int64_t)S * longest) / shortest;  // Python: int(S * long / short)
        if (nl > 1e8) return -1;                                 // absurd aspect ratio
        int nlong = (int)nl;
        *out_w = w <= h ? S : nlong;
        *out_h = w <= h ? nlong : S;
        *x0 = (*out_w - S) / 2;
        *y0 = (*out_h - S) / 2;
        return 0;
    }
    *out_w = *out_h = S;
    *x0 = *y0 = 0;
    return pp->fit == IMG_FIT_SQUASH ? 0 : 1;
}

int img_preprocess(const Image *src, const ImgPreprocess *pp, float *out, VStatus *st) {
    int S = pp->size;
    if (S <= 0 || S > 8192) return vs_set(st, VS_EINVAL, "preprocess: bad size %d", S);
    for (int c = 0; c < 3; c++)
        if (!(pp->std[c] != 0.0f)) return vs_set(st, VS_EINVAL, "preprocess: std[%d] is zero", c);
    if (!src || !src->px || src->w <= 0 || src->h <= 0) return vs_set(st, VS_EINVAL, "preprocess: empty image");
    uint8_t *px = malloc((size_t)S * S * 3);
    if (!px) return vs_set(st, VS_ENOMEM, "preprocess: out of memory");
    int rc = 0;
    switch (pp->fit) {
    case IMG_FIT_SQUASH:
    case IMG_FIT_CROP: {
        int ow, oh, x0, y0;
        if (img__fit_geometry(src->w, src->h, pp, &ow, &oh, &x0, &y0) < 0) {
            rc = vs_set(st, VS_EINVAL, "preprocess: %dx%d is too elongated to crop to %d", src->w, src->h, S);
            break;
        }
        rc = img__resize_window(src, ow, oh, x0, y0, S, S, pp->filter, px, st);
        break;
    }
    case IMG_FIT_PAD: {
        Image sq = {0};
        if (src->w == src->h) {
            rc = img__resize_window(src, S, S, 0, 0, S, S, pp->filter, px, st);
        } else if (!(rc = pad_square(src, pp, &sq, st))) {
            rc = img__resize_window(&sq, S, S, 0, 0, S, S, pp->filter, px, st);
            img_free(&sq);
        }
        break;
    }
    default: rc = vs_set(st, VS_EINVAL, "preprocess: unknown fit %d", (int)pp->fit);
    }
    if (!rc) {
        float lut[3][256];
        img__build_lut(pp, lut);
        normalise(px, (size_t)S * S, lut, out);
    }
    free(px);
    return rc;
}

typedef struct Preset {
    const char *name;
    int size;
    ImgFilter filter;
    ImgFit fit;
    float mean[3], std[3];
} Preset;

/* Values from transformers' image processors (OPENAI_CLIP_MEAN/STD,
 * IMAGENET_STANDARD_MEAN/STD, default sizes and resample). */
static const Preset presets[] = {
    {"clip", 224, IMG_BICUBIC, IMG_FIT_CROP, {0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f}},
    {"siglip", 224, IMG_BICUBIC, IMG_FIT_SQUASH, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}},
    // LLaVA-1.5 "pad": expand2square with the CLIP mean colour, then the CLIP processor
    {"llava", 336, IMG_BICUBIC, IMG_FIT_PAD, {0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f}},
};

int img_preset(const char *name, int size, ImgPreprocess *pp) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const Preset *p = &presets[i];
        if (strcmp(name, p->name) != 0) continue;
        pp->size = size > 0 ? size : p->size;
        pp->filter = p->filter;
        pp->fit = p->fit;
        memcpy(pp->mean, p->mean, sizeof pp->mean);
        memcpy(pp->std, p->std, sizeof pp->std);
        pp->rescale = (float)(1.0 / 255.0);
        return 0;
    }
    return 1;
}
