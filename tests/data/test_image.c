/* tests/data/test_image.c — data/image*.c behaviour that the Pillow goldens
 * (test_image_golden.c) do not cover: bad input of every kind (each must fail
 * with a message naming the reason, never crash: this file also runs under
 * ASan/UBSan), the pixel limit, base64, windowed resize, properties of the
 * filters, EXIF parsing edge cases, presets. */
#include <stdint.h>

#include "data/image.h"
#include "data/image_internal.h"
#include "test.h"

static uint8_t *slurp(const char *name, size_t *n) {
    const char *root = getenv("VLMC_SOURCE_DIR");
    char p[2048];
    snprintf(p, sizeof p, "%s/tests/golden/images/%s", root ? root : ".", name);
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static int same(const Image *a, const Image *b) {
    return a->w == b->w && a->h == b->h && memcmp(a->px, b->px, (size_t)a->w * a->h * 3) == 0;
}

static void test_pixel_limit(void) {
    size_t n;
    const char *files[] = {"rgb_37x23.png", "rgb_101x67.jpg", "rgb_39x27_lossless.webp"};
    const int px[] = {37 * 23, 101 * 67, 39 * 27};
    for (int i = 0; i < 3; i++) {
        uint8_t *b = slurp(files[i], &n);
        CHECK(b != NULL, "missing %s", files[i]);
        if (!b) continue;
        Image im;
        VStatus st = {0};
        ImgDecodeOpts o = {.max_pixels = px[i] - 1};
        CHECK(img_decode(b, n, &o, &im, &st) != 0 && im.px == NULL, "%s: limit %d not enforced", files[i], px[i] - 1);
        CHECK(strstr(st.msg, "pixel limit") != NULL, "%s: message '%s'", files[i], st.msg);
        o.max_pixels = px[i];
        CHECK(img_decode(b, n, &o, &im, &st) == 0, "%s: at the limit: %s", files[i], st.msg);
        img_free(&im);
        free(b);
    }
}

/* Every strict prefix of a valid file is rejected (truncation is corruption,
 * never a silently grey-padded image), and random byte corruption never
 * crashes: it either decodes to a well-formed image or fails with a message. */
static void test_truncation_and_fuzz(void) {
    const char *files[] = {"rgb_101x67.jpg", "rgb_53x41_444_prog.jpg", "rgb_37x23.png", "p_29x31.png",
                           "rgb_47x35_lossy.webp", "rgb_39x27_lossless.webp", "cmyk_31x27.jpg"};
    uint32_t seed = 12345;
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        size_t n;
        uint8_t *b = slurp(files[fi], &n);
        CHECK(b != NULL, "missing %s", files[fi]);
        if (!b) continue;
        int accepted = 0;
        for (size_t cut = 1; cut < n; cut += (cut < 64 ? 1 : 7)) {
            Image im;
            VStatus st = {0};
            int rc = img_decode(b, cut, NULL, &im, &st);
            if (rc == 0) {
                accepted++;
                img_free(&im);
            } else {
                CHECK(st.msg[0] != 0 && im.px == NULL, "%s cut at %zu: empty message", files[fi], cut);
            }
        }
        CHECK(accepted == 0, "%s: %d truncated prefixes decoded without error", files[fi], accepted);
        uint8_t *m = malloc(n);
        for (int it = 0; it < 150; it++) {
            memcpy(m, b, n);
            int flips = 1 + it % 4;
            for (int k = 0; k < flips; k++) {
                seed = seed * 1664525u + 1013904223u;
                size_t pos = (seed >> 8) % n;
                seed = seed * 1664525u + 1013904223u;
                m[pos] ^= (uint8_t)(1 + (seed >> 24) % 255);
            }
            Image im;
            VStatus st = {0};
            int rc = img_decode(m, n, NULL, &im, &st);
            if (rc == 0) {
                CHECK(im.w > 0 && im.h > 0 && im.px, "%s mutation %d: bad image", files[fi], it);
                img_free(&im);
            } else {
                CHECK(st.msg[0] != 0 && im.px == NULL, "%s mutation %d: rc %d without message", files[fi], it, rc);
            }
        }
        free(m);
        free(b);
    }
    Image im;
    VStatus st = {0};
    CHECK(img_decode((const uint8_t *)"", 0, NULL, &im, &st) != 0 && strstr(st.msg, "empty"), "%s", st.msg);
    CHECK(img_decode_file("/nonexistent/x.jpg", NULL, &im, &st) != 0 && strstr(st.msg, "cannot open"), "%s", st.msg);
}

static size_t b64enc(const uint8_t *in, size_t n, char *out, int wrap) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = T[v >> 18 & 63];
        out[o++] = T[v >> 12 & 63];
        out[o++] = i + 1 < n ? T[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? T[v & 63] : '=';
        if (wrap && (i / 3) % 19 == 18) out[o++] = '\n';
    }
    out[o] = 0;
    return o;
}

static void test_base64(void) {
    size_t n;
    uint8_t *b = slurp("rgb_37x23.png", &n);
    CHECK(b != NULL, "missing rgb_37x23.png");
    if (!b) return;
    char *s = malloc(n * 2 + 64);
    Image ref, im;
    VStatus st = {0};
    CHECK(img_decode(b, n, NULL, &ref, &st) == 0, "%s", st.msg);
    size_t m = b64enc(b, n, s, 1);  // wrapped at 76 columns like MIME
    CHECK(img_decode_base64(s, m, NULL, &im, &st) == 0 && same(&im, &ref), "wrapped base64: %s", st.msg);
    img_free(&im);
    // data URL prefix, no padding
    char *d = malloc(n * 2 + 64);
    strcpy(d, "data:image/png;base64,");
    m = b64enc(b, n, d + strlen(d), 0);
    m = strlen(d);
    while (d[m - 1] == '=') d[--m] = 0;
    CHECK(img_decode_base64(d, m, NULL, &im, &st) == 0 && same(&im, &ref), "data URL: %s", st.msg);
    img_free(&im);
    // an invalid character is named with its offset
    d[40] = '*';
    CHECK(img_decode_base64(d, m, NULL, &im, &st) != 0 && strstr(st.msg, "invalid character 0x2a at offset 40"), "%s",
          st.msg);
    CHECK(img_decode_base64("QUJD!", 5, NULL, &im, &st) != 0 && strstr(st.msg, "invalid character"), "%s", st.msg);
    CHECK(img_decode_base64("QUJDR", 5, NULL, &im, &st) != 0 && strstr(st.msg, "dangling"), "%s", st.msg);
    CHECK(img_decode_base64("QUJD", 4, NULL, &im, &st) != 0 && strstr(st.msg, "unknown image format"), "%s", st.msg);
    img_free(&ref);
    free(s);
    free(d);
    free(b);
}

/* A constant image stays constant under both filters, at any size (the taps
 * of every output sum to 1 << 22 within rounding): an algebraic property,
 * independent of Pillow. */
static void test_resize_properties(void) {
    Image c = {0}, out;
    VStatus st = {0};
    CHECK(img__alloc(&c, 23, 17, &st) == 0, "%s", st.msg);
    for (int i = 0; i < 23 * 17; i++) c.px[3 * i] = 200, c.px[3 * i + 1] = 7, c.px[3 * i + 2] = 255;
    const int sizes[][2] = {{1, 1}, {5, 40}, {23, 3}, {100, 17}, {230, 170}, {11, 9}};
    for (int f = 0; f < 2; f++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            CHECK(img_resize(&c, sizes[s][0], sizes[s][1], (ImgFilter)f, &out, &st) == 0, "%s", st.msg);
            int bad = 0;
            for (int i = 0; i < out.w * out.h; i++)
                bad += out.px[3 * i] != 200 || out.px[3 * i + 1] != 7 || out.px[3 * i + 2] != 255;
            CHECK(bad == 0, "filter %d %dx%d: %d pixels not constant", f, sizes[s][0], sizes[s][1], bad);
            img_free(&out);
        }
    }
    // same size: an exact copy
    CHECK(img_resize(&c, 23, 17, IMG_BICUBIC, &out, &st) == 0 && same(&out, &c), "identity resize");
    img_free(&out);
    // bad arguments are errors, not crashes
    CHECK(img_resize(&c, 0, 5, IMG_BICUBIC, &out, &st) != 0 && strstr(st.msg, "bad target"), "%s", st.msg);
    CHECK(img_resize(&c, 5, 5, (ImgFilter)9, &out, &st) != 0 && strstr(st.msg, "unknown filter"), "%s", st.msg);
    Image empty = {0};
    CHECK(img_resize(&empty, 5, 5, IMG_BILINEAR, &out, &st) != 0 && strstr(st.msg, "empty"), "%s", st.msg);
    img_free(&c);
}

/* The window of a resize equals the same crop of the full resize, for both
 * pass orders (the vertical-first order triggers when the height shrinks
 * more than twice as many pixels as the width). */
static void test_resize_window(void) {
    size_t n;
    uint8_t *b = slurp("rgb_101x67.png", &n);
    if (!b) return;
    Image src, full;
    VStatus st = {0};
    CHECK(img_decode(b, n, NULL, &src, &st) == 0, "%s", st.msg);
    const int cases[][6] = {
        // out_w, out_h, x0, y0, cw, ch
        {80, 50, 10, 5, 40, 30}, {150, 20, 50, 3, 60, 12}, {60, 120, 0, 30, 60, 60}, {101, 30, 20, 0, 50, 30},
        {40, 67, 5, 10, 30, 40}};
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const int *c = cases[i];
            CHECK(img_resize(&src, c[0], c[1], (ImgFilter)f, &full, &st) == 0, "%s", st.msg);
            uint8_t *win = malloc((size_t)c[4] * c[5] * 3);
            CHECK(img__resize_window(&src, c[0], c[1], c[2], c[3], c[4], c[5], (ImgFilter)f, win, &st) == 0, "%s",
                  st.msg);
            int bad = 0;
            for (int y = 0; y < c[5]; y++)
                bad += memcmp(win + (size_t)y * c[4] * 3, full.px + ((size_t)(y + c[3]) * c[0] + c[2]) * 3,
                              (size_t)c[4] * 3) != 0;
            CHECK(bad == 0, "case %zu filter %d: %d window rows differ from the full resize", i, f, bad);
            free(win);
            img_free(&full);
        }
    }
    uint8_t dummy[3];
    CHECK(img__resize_window(&src, 10, 10, 5, 5, 6, 1, IMG_BICUBIC, dummy, &st) != 0, "window outside the target");
    img_free(&src);
    free(b);
}

static void test_exif_parse(void) {
    // big-endian TIFF, one IFD entry: Orientation (0x0112) SHORT 1 value 8
    const uint8_t mm[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0};
    CHECK(img__exif_orientation(mm, sizeof mm) == 8, "big-endian orientation");
    const uint8_t ii[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0};
    CHECK(img__exif_orientation(ii, sizeof ii) == 6, "little-endian orientation");
    uint8_t bad[sizeof ii];
    memcpy(bad, ii, sizeof ii);
    bad[8] = 200;  // entry count runs past the payload (ASan: nothing read past it)
    bad[10] = 0x13;  // and the one real entry is another tag
    CHECK(img__exif_orientation(bad, sizeof bad) == 1, "overlong IFD ignored");
    memcpy(bad, ii, sizeof ii);
    bad[4] = 0xF0;  // IFD offset past the end
    CHECK(img__exif_orientation(bad, sizeof bad) == 1, "IFD offset past the end ignored");
    memcpy(bad, ii, sizeof ii);
    bad[18] = 9;  // orientation out of range
    CHECK(img__exif_orientation(bad, sizeof bad) == 1, "orientation 9 ignored");
    CHECK(img__exif_orientation(ii, 5) == 1, "short payload ignored");
}

static void test_presets(void) {
    ImgPreprocess pp;
    CHECK(img_preset("clip", 0, &pp) == 0 && pp.size == 224 && pp.fit == IMG_FIT_CROP && pp.filter == IMG_BICUBIC,
          "clip preset");
    CHECK(fabsf(pp.mean[0] - 0.48145466f) < 1e-9f && fabsf(pp.std[2] - 0.27577711f) < 1e-9f, "clip mean/std");
    CHECK(img_preset("siglip", 384, &pp) == 0 && pp.size == 384 && pp.fit == IMG_FIT_SQUASH && pp.mean[1] == 0.5f &&
              pp.std[1] == 0.5f,
          "siglip preset");
    CHECK(img_preset("llava", 0, &pp) == 0 && pp.size == 336 && pp.fit == IMG_FIT_PAD, "llava preset");
    CHECK(img_preset("nope", 0, &pp) != 0, "unknown preset must fail");
    // errors
    Image im = {0};
    VStatus st = {0};
    CHECK(img__alloc(&im, 4, 4, &st) == 0, "%s", st.msg);
    memset(im.px, 9, 48);
    float out[3 * 4 * 4];
    img_preset("siglip", 4, &pp);
    CHECK(img_preprocess(&im, &pp, out, &st) == 0, "%s", st.msg);
    // SigLIP: (9/255 - 0.5) / 0.5 in float32, computed independently here
    float want = ((float)(9.0 / 255.0) - 0.5f) / 0.5f;
    CHECK(out[0] == want && out[47] == want, "siglip value %g, want %g", out[0], want);
    pp.std[1] = 0;
    CHECK(img_preprocess(&im, &pp, out, &st) != 0 && strstr(st.msg, "std[1]"), "%s", st.msg);
    pp.std[1] = 0.5f;
    Image thin = {0};
    CHECK(img__alloc(&thin, 1, 200000, &st) == 0, "%s", st.msg);  // 1 x 200000 cropped to 1000: 2e8 rows
    memset(thin.px, 1, 600000);
    ImgPreprocess cp;
    img_preset("clip", 1000, &cp);
    float *big = malloc(sizeof(float) * 3 * 1000 * 1000);
    CHECK(img_preprocess(&thin, &cp, big, &st) != 0 && strstr(st.msg, "too elongated"), "%s", st.msg);
    free(big);
    img_free(&thin);
    pp.size = 0;
    CHECK(img_preprocess(&im, &pp, out, &st) != 0 && strstr(st.msg, "bad size"), "%s", st.msg);
    img_free(&im);
}

/* DCT scaling: only with both minimums set, only by 1/2, 1/4, 1/8, and never
 * below the minimums. */
static void test_dct_scaling(void) {
    size_t n;
    uint8_t *b = slurp("rgb_160x120.jpg", &n);
    if (!b) return;
    const int cases[][4] = {{0, 0, 160, 120}, {80, 0, 160, 120}, {81, 60, 160, 120}, {80, 60, 80, 60},
                            {41, 30, 80, 60}, {40, 30, 40, 30},  {1, 1, 20, 15},     {100, 100, 160, 120}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ImgDecodeOpts o = {.min_w = cases[i][0], .min_h = cases[i][1]};
        Image im;
        VStatus st = {0};
        CHECK(img_decode(b, n, &o, &im, &st) == 0, "%s", st.msg);
        CHECK(im.w == cases[i][2] && im.h == cases[i][3], "min %dx%d: got %dx%d, want %dx%d", cases[i][0], cases[i][1],
              im.w, im.h, cases[i][2], cases[i][3]);
        img_free(&im);
    }
    free(b);
}

/* img_load_preprocessed (streamed JPEG rows) gives exactly the floats of
 * img_decode + img_preprocess, for every fit, filter, DCT scaling, colour
 * space, and the fallbacks (vertical-first order, PAD, PNG); bad input
 * fails the same way. */
static void test_fused_equals_two_step(void) {
    const char *files[] = {"rgb_101x67.jpg", "rgb_160x120.jpg", "l_45x37.jpg", "cmyk_31x27.jpg",
                           "rgb_53x41_444_prog.jpg", "exif6_40x30.jpg", "rgb_37x23.png",
                           "rgb_23x71_portrait.jpg"};  // the portrait takes the vertical-first fallback
    const char *presets[] = {"siglip", "clip", "llava"};
    const int sizes[] = {16, 37, 64, 150, 20};
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        size_t n;
        uint8_t *b = slurp(files[fi], &n);
        CHECK(b != NULL, "missing %s", files[fi]);
        if (!b) continue;
        for (int p = 0; p < 3; p++) {
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                for (int filt = 0; filt < 2; filt++) {
                    for (int dct = 0; dct < 2; dct++) {
                        ImgPreprocess pp;
                        img_preset(presets[p], sizes[si], &pp);
                        pp.filter = (ImgFilter)filt;
                        ImgDecodeOpts o = {.min_w = dct ? pp.size : 0, .min_h = dct ? pp.size : 0};
                        size_t m = (size_t)3 * pp.size * pp.size;
                        float *a = malloc(m * sizeof(float)), *c = malloc(m * sizeof(float));
                        VStatus st = {0};
                        Image im;
                        int rc1 = img_decode(b, n, &o, &im, &st);
                        if (!rc1) rc1 = img_preprocess(&im, &pp, a, &st);
                        if (!rc1) img_free(&im);
                        int rc2 = img_load_preprocessed(b, n, &o, &pp, c, &st);
                        CHECK(rc1 == 0 && rc2 == 0, "%s %s %d: %s", files[fi], presets[p], pp.size, st.msg);
                        CHECK(rc1 || rc2 || memcmp(a, c, m * sizeof(float)) == 0, "%s %s S=%d filter %d dct %d differ",
                              files[fi], presets[p], pp.size, filt, dct);
                        free(a);
                        free(c);
                    }
                }
            }
        }
        free(b);
    }
    const char *bad[] = {"truncated.jpg", "truncated_prog.jpg", "bomb_30000.jpg", "bomb_65535.jpg"};
    for (int i = 0; i < 4; i++) {
        size_t n;
        uint8_t *b = slurp(bad[i], &n);
        if (!b) continue;
        ImgPreprocess pp;
        img_preset("siglip", 32, &pp);
        float out[3 * 32 * 32];
        VStatus st = {0};
        CHECK(img_load_preprocessed(b, n, NULL, &pp, out, &st) != 0 && st.msg[0], "%s accepted", bad[i]);
        printf("  fused reject %s -> %s\n", bad[i], st.msg);
        free(b);
    }
}

TEST_MAIN({"pixel_limit", test_pixel_limit}, {"truncation_and_fuzz", test_truncation_and_fuzz},
          {"base64", test_base64}, {"resize_properties", test_resize_properties},
          {"resize_window", test_resize_window}, {"exif_parse", test_exif_parse}, {"presets", test_presets},
          {"dct_scaling", test_dct_scaling}, {"fused_equals_two_step", test_fused_equals_two_step})
