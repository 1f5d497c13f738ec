/* data/image_resize.c — antialiased resampling with Pillow's results.
 *
 * The algorithm (re-implemented from its description, as Pillow's
 * ImagingResample computes it for 8-bit images):
 *  - For each output index i of a pass: scale = in/out, fscale = max(scale, 1)
 *    (widening the filter when shrinking = antialiasing), support =
 *    filter_support * fscale, center = (i + 0.5) * scale; the taps cover
 *    inputs [trunc(center - support + 0.5) clamped to 0,
 *            trunc(center + support + 0.5) clamped to in); tap j of input x
 *    weighs filter((x - center + 0.5) / fscale); weights are divided by their
 *    sum (in double), then turned into fixed point with PREC = 22 fraction
 *    bits, rounding half away from zero.
 *  - A pixel is (1 << (PREC-1) + sum of value * tap) >> PREC, clipped to
 *    0..255 (arithmetic shift, so negatives floor and then clip to 0).
 *  - Two passes with a uint8 result between them: horizontal first (only
 *    over the rows the vertical taps read), then vertical — except that
 *    Pillow 13 goes vertical first when the height loses more than twice as
 *    many pixels as the width (Pillow PR #9549; the exact comparison was read
 *    off Pillow 13.0's compiled ImagingResample and confirmed against Pillow
 *    on 158 random size pairs, all matching). A dimension whose size does
 *    not change gets no pass.
 *  - BILINEAR: support 1, f(x) = 1 - |x|. BICUBIC: support 2, Keys cubic with
 *    a = -0.5.
 * Intermediate and tap buffers are allocated per call (per image), never in
 * the pixel loops.
 * Speed: the horizontal pass multiplies two taps at a time with pmaddwd
 * (SSSE3/SSE2, in the build's x86-64-v2 baseline): each 22-bit weight k is
 * split exactly as k = hi * 2^15 + lo (lo in [0, 2^15)), the two int16
 * products are summed separately and recombined as (H << 15) + L — the same
 * int32 sum as Pillow's, bit for bit, as long as the sums cannot overflow
 * (ksize <= 128; larger kernels take the scalar loop); with AVX2 (chosen at
 * run time) two output pixels go through one 256-bit register. The vertical
 * loop is plain C written to auto-vectorise, compiled twice (baseline and
 * AVX2). img__simd_max lets the tests run every path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSSE3__)
#include <immintrin.h>
#endif

#include "data/image_internal.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-loop-unroll-and-jam")  // vectorise the pixel loops; unroll-and-jam would turn the vertical loop scalar
#endif

#define PREC 22
#define KV_MAX_KSIZE 128  // 255 * (2^15 - 1) * 128 < 2^31: the split sums cannot overflow

static double f_bilinear(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

static double f_bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

int img__simd_max = 2;

static inline int16_t *kv_at(const ImgTaps *t, int i, int p) {
    return t->kv + ((size_t)(i / 2) * t->npair + p) * 32 + (i & 1) * 8;
}

void img__taps_free(ImgTaps *t) {
    free(t->lo);
    free(t->cnt);
    free(t->k);
    free(t->kv);
    memset(t, 0, sizeof *t);
}

int img__taps_build(int in_size, int out_size, int o0, int n, ImgFilter f, ImgTaps *t, VStatus *st) {
    double (*fn)(double) = f == IMG_BICUBIC ? f_bicubic : f_bilinear;
    double fsupport = f == IMG_BICUBIC ? 2.0 : 1.0;
    double scale = (double)in_size / out_size, fscale = scale < 1.0 ? 1.0 : scale;
    double support = fsupport * fscale, ss = 1.0 / fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    memset(t, 0, sizeof *t);
    t->n = n;
    t->ksize = ksize;
    t->npair = (ksize + 1) / 2;
    t->lo = malloc(sizeof(int) * n);
    t->cnt = malloc(sizeof(int) * n);
    t->k = calloc((size_t)n * t->npair * 2, sizeof(int32_t));  // rows padded to an even count
    if (ksize <= KV_MAX_KSIZE) t->kv = calloc((size_t)(n + 1) / 2 * t->npair * 32, sizeof(int16_t));
    double *w = malloc(sizeof(double) * ksize);
    if (!t->lo || !t->cnt || !t->k || (ksize <= KV_MAX_KSIZE && !t->kv) || !w) {
        free(w);
        img__taps_free(t);
        return vs_set(st, VS_ENOMEM, "resize: out of memory for %d x %d taps", n, ksize);
    }
    for (int i = 0; i < n; i++) {
        double center = (o0 + i + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        int cnt = xmax - xmin;
        if (cnt > ksize) cnt = ksize;  // cannot happen; keeps the buffer safe
        double sum = 0.0;
        for (int j = 0; j < cnt; j++) {
            w[j] = fn((j + xmin - center + 0.5) * ss);
            sum += w[j];
        }
        int32_t *k = t->k + (size_t)i * t->npair * 2;
        for (int j = 0; j < cnt; j++) {
            double v = sum != 0.0 ? w[j] / sum : w[j];
            k[j] = v < 0 ? (int32_t)(-0.5 + v * (1 << PREC)) : (int32_t)(0.5 + v * (1 << PREC));
        }
        t->lo[i] = xmin;
        t->cnt[i] = cnt;
        if (t->kv) {
            // tap pair p (taps 2p, 2p+1) of output i: 8 int16 [l0 l1 l0 l1 l0 l1 0 0] of the low
            // halves matching the pixel layout [r0 r1 g0 g1 b0 b1 0 0] built by the shuffle in
            // the row loops, and 8 of the high halves 16 further on; outputs 2q and 2q+1 are
            // interleaved ([lo_2q lo_2q+1 hi_2q hi_2q+1]) so the AVX2 loop loads both at once.
            for (int p = 0; p < t->npair; p++) {
                int16_t *kv = kv_at(t, i, p);
                for (int e = 0; e < 2; e++) {
                    int32_t kk = k[2 * p + e];
                    int16_t lo = (int16_t)(kk & 0x7FFF), hi = (int16_t)(kk >> 15);  // kk = hi * 2^15 + lo
                    for (int c = 0; c < 3; c++) {
                        kv[2 * c + e] = lo;
                        kv[16 + 2 * c + e] = hi;
                    }
                }
            }
        }
    }
    free(w);
    return 0;
}

static inline uint8_t clip8(int32_t v) {
    v >>= PREC;  // arithmetic shift: floor
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One output pixel, scalar: exactly Pillow's loop. */
static inline void hpx_scalar(const uint8_t *in, uint8_t *out, const ImgTaps *t, int i) {
    const int32_t *k = t->k + (size_t)i * t->npair * 2;
    const uint8_t *p = in + (size_t)t->lo[i] * 3;
    int32_t s0 = 1 << (PREC - 1), s1 = s0, s2 = s0;
    for (int j = 0; j < t->cnt[i]; j++) {
        s0 += p[3 * j] * k[j];
        s1 += p[3 * j + 1] * k[j];
        s2 += p[3 * j + 2] * k[j];
    }
    out[3 * i] = clip8(s0);
    out[3 * i + 1] = clip8(s1);
    out[3 * i + 2] = clip8(s2);
}

#if defined(__SSSE3__)
/* One output pixel, two taps per pmaddwd (see the file header). */
static inline void hpx_sse(const uint8_t *in, size_t avail, uint8_t *out, const ImgTaps *t, int i) {
    int np = (t->cnt[i] + 1) / 2;
    if (!t->kv || (size_t)t->lo[i] * 3 + (size_t)np * 6 + 2 > avail) {
        hpx_scalar(in, out, t, i);
        return;
    }
    const __m128i shuf = _mm_setr_epi8(0, -128, 3, -128, 1, -128, 4, -128, 2, -128, 5, -128, -128, -128, -128, -128);
    const uint8_t *p = in + (size_t)t->lo[i] * 3;
    __m128i aL = _mm_setzero_si128(), aH = _mm_setzero_si128();
    for (int j = 0; j < np; j++) {
        const int16_t *kv = kv_at(t, i, j);
        // 8 bytes = pixels 2j, 2j+1 (+2 ignored) -> int16 [r0 r1 g0 g1 b0 b1 0 0]
        __m128i px = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(p + 6 * j)), shuf);
        aL = _mm_add_epi32(aL, _mm_madd_epi16(px, _mm_loadu_si128((const __m128i *)kv)));
        aH = _mm_add_epi32(aH, _mm_madd_epi16(px, _mm_loadu_si128((const __m128i *)(kv + 16))));
    }
    __m128i acc = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(aH, 15), aL), _mm_set1_epi32(1 << (PREC - 1)));
    acc = _mm_srai_epi32(acc, PREC);
    acc = _mm_packus_epi16(_mm_packs_epi32(acc, acc), acc);  // saturating = clip to 0..255
    uint32_t o = (uint32_t)_mm_cvtsi128_si32(acc);
    memcpy(out + 3 * i, &o, 3);
}
#endif

#if defined(__x86_64__) && defined(__GNUC__) && defined(__SSSE3__)
#define HAVE_AVX2_PATH 1
/* Two output pixels per iteration: output i in the low 128-bit lane, i+1 in
 * the high one, each lane computing exactly what hpx_sse computes. */
__attribute__((target("avx2"))) static void hpass_avx2(const uint8_t *in, size_t avail, uint8_t *out,
                                                       const ImgTaps *t) {
    const __m256i shuf = _mm256_setr_epi8(0, -128, 3, -128, 1, -128, 4, -128, 2, -128, 5, -128, -128, -128, -128, -128,
                                          0, -128, 3, -128, 1, -128, 4, -128, 2, -128, 5, -128, -128, -128, -128, -128);
    const __m256i half = _mm256_set1_epi32(1 << (PREC - 1));
    int i = 0;
    for (; i + 1 < t->n; i += 2) {
        int n0 = (t->cnt[i] + 1) / 2, n1 = (t->cnt[i + 1] + 1) / 2, np = n0 > n1 ? n0 : n1;
        // lo[i] <= lo[i+1]: the check for i+1 covers both (extra pairs have zero weights)
        if ((size_t)t->lo[i + 1] * 3 + (size_t)np * 6 + 2 > avail) break;
        const uint8_t *p0 = in + (size_t)t->lo[i] * 3, *p1 = in + (size_t)t->lo[i + 1] * 3;
        const int16_t *kv = t->kv + (size_t)(i / 2) * t->npair * 32;
        __m256i aL = _mm256_setzero_si256(), aH = _mm256_setzero_si256();
        for (int j = 0; j < np; j++, kv += 32) {
            __m128i a = _mm_loadl_epi64((const __m128i *)(p0 + 6 * j));
            __m128i b = _mm_loadl_epi64((const __m128i *)(p1 + 6 * j));
            __m256i px = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1), shuf);
            aL = _mm256_add_epi32(aL, _mm256_madd_epi16(px, _mm256_loadu_si256((const __m256i *)kv)));
            aH = _mm256_add_epi32(aH, _mm256_madd_epi16(px, _mm256_loadu_si256((const __m256i *)(kv + 16))));
        }
        __m256i acc = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(aH, 15), aL), half);
        acc = _mm256_srai_epi32(acc, PREC);
        acc = _mm256_packus_epi16(_mm256_packs_epi32(acc, acc), acc);  // per lane: [r g b 0 ...]
        uint64_t o = (uint64_t)(uint32_t)_mm256_cvtsi256_si32(acc) |
                     (uint64_t)(uint32_t)_mm_cvtsi128_si32(_mm256_extracti128_si256(acc, 1)) << 24;
        memcpy(out + 3 * i, &o, 6);
    }
    for (; i < t->n; i++) hpx_sse(in, avail, out, t, i);
}
#endif

void img__hpass_row(const uint8_t *in, size_t avail, uint8_t *out, const ImgTaps *t) {
#if defined(HAVE_AVX2_PATH)
    if (t->kv && img__simd_max >= 2 && __builtin_cpu_supports("avx2")) {
        hpass_avx2(in, avail, out, t);
        return;
    }
#endif
    for (int i = 0; i < t->n; i++) {
#if defined(__SSSE3__)
        if (img__simd_max >= 1) {
            hpx_sse(in, avail, out, t, i);
            continue;
        }
#endif
        (void)avail;
        hpx_scalar(in, out, t, i);
    }
}

/* Vertical pass body, chunked so the accumulators stay in registers and the
 * inner loops (fixed trip count) vectorise. */
static inline void vrow_body(const uint8_t *const *rows, int B, const int32_t *k, int cnt, uint8_t *out) {
    enum { CH = 64 };
    int x0 = 0;
    for (; x0 + CH <= B; x0 += CH) {
        int32_t acc[CH];
        for (int j = 0; j < CH; j++) acc[j] = 1 << (PREC - 1);
        for (int r = 0; r < cnt; r++) {
            const uint8_t *p = rows[r] + x0;
            int32_t kk = k[r];
            for (int j = 0; j < CH; j++) acc[j] += p[j] * kk;
        }
        for (int j = 0; j < CH; j++) out[x0 + j] = clip8(acc[j]);
    }
    for (; x0 < B; x0++) {
        int32_t acc = 1 << (PREC - 1);
        for (int r = 0; r < cnt; r++) acc += rows[r][x0] * k[r];
        out[x0] = clip8(acc);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void vrow_avx2(const uint8_t *const *rows, int B, const int32_t *k, int cnt,
                                                      uint8_t *out) {
    vrow_body(rows, B, k, cnt, out);
}
#endif

void img__vpass_row(const uint8_t *const *rows, int B, const int32_t *k, int cnt, uint8_t *out) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (img__simd_max >= 2 && __builtin_cpu_supports("avx2")) {
        vrow_avx2(rows, B, k, cnt, out);
        return;
    }
#endif
    vrow_body(rows, B, k, cnt, out);
}

int img__vertical_first(int in_w, int in_h, int out_w, int out_h) {
    return out_w != in_w && out_h != in_h && in_h - out_h > 0 && in_h - out_h > 2 * (in_w - out_w);
}

/* all output rows of a vertical pass: input row r (relative to taps' lo) at base + r*stride */
static int vpass(const uint8_t *base, size_t stride, int B, uint8_t *out, const ImgTaps *t, VStatus *st) {
    const uint8_t **rows = malloc(sizeof(*rows) * (size_t)t->ksize);
    if (!rows) return vs_set(st, VS_ENOMEM, "resize: out of memory");
    for (int i = 0; i < t->n; i++) {
        for (int r = 0; r < t->cnt[i]; r++) rows[r] = base + (size_t)(t->lo[i] + r) * stride;
        img__vpass_row(rows, B, t->k + (size_t)i * t->npair * 2, t->cnt[i], out + (size_t)i * B);
    }
    free(rows);
    return 0;
}

int img__resize_window(const Image *src, int out_w, int out_h, int x0, int y0, int cw, int ch, ImgFilter f,
                       uint8_t *dst, VStatus *st) {
    if (!src || !src->px || src->w <= 0 || src->h <= 0) return vs_set(st, VS_EINVAL, "resize: empty source image");
    if (out_w <= 0 || out_h <= 0 || cw <= 0 || ch <= 0 || x0 < 0 || y0 < 0 || x0 + cw > out_w || y0 + ch > out_h)
        return vs_set(st, VS_EINVAL, "resize: bad target %dx%d window (%d,%d)+%dx%d", out_w, out_h, x0, y0, cw, ch);
    if (f != IMG_BILINEAR && f != IMG_BICUBIC) return vs_set(st, VS_EINVAL, "resize: unknown filter %d", (int)f);
    int need_h = out_w != src->w, need_v = out_h != src->h;
    ImgTaps th = {0}, tv = {0};
    uint8_t *tmp = NULL;
    int rc = 0;
    if (need_h && (rc = img__taps_build(src->w, out_w, x0, cw, f, &th, st))) return rc;
    if (need_v && (rc = img__taps_build(src->h, out_h, y0, ch, f, &tv, st))) {
        img__taps_free(&th);
        return rc;
    }
    size_t sstride = (size_t)src->w * 3, stotal = sstride * (size_t)src->h;
    if (img__vertical_first(src->w, src->h, out_w, out_h)) {
        // source columns the horizontal taps read: [c0, c1)
        int c0 = th.lo[0], c1 = th.lo[cw - 1] + th.cnt[cw - 1];
        size_t tb = (size_t)(c1 - c0) * 3;
        tmp = malloc((size_t)ch * tb + 16);  // +16: the pair loads may read past the last tap
        if (!tmp) {
            rc = vs_set(st, VS_ENOMEM, "resize: out of memory for %dx%d intermediate", c1 - c0, ch);
            goto done;
        }
        if ((rc = vpass(src->px + (size_t)c0 * 3, sstride, (int)tb, tmp, &tv, st))) goto done;
        for (int i = 0; i < cw; i++) th.lo[i] -= c0;
        for (int y = 0; y < ch; y++)
            img__hpass_row(tmp + (size_t)y * tb, (size_t)(ch - y) * tb + 16, dst + (size_t)y * cw * 3, &th);
        goto done;
    }
    // rows of the source the vertical pass reads: [r0, r1)
    int r0 = need_v ? tv.lo[0] : y0;
    int r1 = need_v ? tv.lo[ch - 1] + tv.cnt[ch - 1] : y0 + ch;
    const uint8_t *vbase;  // what the vertical pass reads: row r0, column x0
    size_t vstride;
    if (need_h) {
        uint8_t *hout = need_v ? (tmp = malloc((size_t)(r1 - r0) * cw * 3)) : dst;
        if (!hout) {
            rc = vs_set(st, VS_ENOMEM, "resize: out of memory for %dx%d intermediate", cw, r1 - r0);
            goto done;
        }
        for (int y = r0; y < r1; y++)
            img__hpass_row(src->px + (size_t)y * sstride, stotal - (size_t)y * sstride,
                           hout + (size_t)(y - r0) * cw * 3, &th);
        vbase = hout;
        vstride = (size_t)cw * 3;
    } else {
        vbase = src->px + (size_t)r0 * sstride + (size_t)x0 * 3;
        vstride = sstride;
    }
    if (need_v) {
        for (int i = 0; i < ch; i++) tv.lo[i] -= r0;  // relative to vbase
        rc = vpass(vbase, vstride, cw * 3, dst, &tv, st);
    } else if (!need_h) {
        for (int y = 0; y < ch; y++) memcpy(dst + (size_t)y * cw * 3, vbase + (size_t)y * vstride, (size_t)cw * 3);
    }
done:
    free(tmp);
    img__taps_free(&th);
    img__taps_free(&tv);
    return rc;
}

int img_resize(const Image *src, int w, int h, ImgFilter f, Image *dst, VStatus *st) {
    dst->w = dst->h = 0;
    dst->px = NULL;
    if (w <= 0 || h <= 0 || (int64_t)w * h > IMG_DEFAULT_MAX_PIXELS)
        return vs_set(st, VS_EINVAL, "resize: bad target size %dx%d", w, h);
    int rc = img__alloc(dst, w, h, st);
    if (rc) return rc;
    if ((rc = img__resize_window(src, w, h, 0, 0, w, h, f, dst->px, st))) img_free(dst);
    return rc;
}
