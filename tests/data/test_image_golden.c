/* tests/data/test_image_golden.c — data/image*.c against Pillow and
 * transformers, from tests/golden/images/manifest.txt (written by
 * tests/golden/make_images.py; see its header for the line formats).
 *
 * Tolerances, and why:
 *  - decode of PNG / lossless WebP: exact (lossless; both sides do the same
 *    integer conversions).
 *  - decode of JPEG: exact expected (libjpeg-turbo on both sides, ISLOW IDCT,
 *    fancy upsampling); a difference of 1 is tolerated because Pillow bundles
 *    a different libjpeg-turbo release than Debian; the figures are printed.
 *  - decode of lossy WebP: within 2 (libwebp versions differ the same way).
 *  - resize: within 1 of Pillow (the bar); identical is expected and
 *    max difference / differing values are printed per case.
 *  - processors: |vlmc - transformers| <= 1e-6 (identical uint8 pixels give
 *    identical floats; one uint8 step is ~0.015 after normalisation, so this
 *    also proves the resized pixels are identical). */
#include <stdint.h>

#include "data/image.h"
#include "data/image_internal.h"
#include "test.h"

static char dir[1024];

static uint8_t *read_all(const char *name, size_t *n) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

/* binary PPM (P6, maxval 255) as written by the golden script */
static int read_ppm(const char *name, Image *im) {
    size_t n;
    uint8_t *b = read_all(name, &n);
    if (!b) return 1;
    int w, h, mx, off = 0;
    if (sscanf((char *)b, "P6 %d %d %d%n", &w, &h, &mx, &off) != 3 || mx != 255) {
        free(b);
        return 1;
    }
    off++;  // the single whitespace after maxval
    im->w = w;
    im->h = h;
    im->px = malloc((size_t)w * h * 3);
    memcpy(im->px, b + off, (size_t)w * h * 3);
    free(b);
    return 0;
}

static int n_pixel_checks;
static int worst_resize, worst_jpeg, worst_webp_lossy;
static long diff_resize_values, total_resize_values;

/* compares, prints max |diff| and how many of the w*h*3 values differ */
static int compare(const char *what, const Image *a, const Image *ref, int tol, long *ndiff_out) {
    CHECK(a->w == ref->w && a->h == ref->h, "%s: size %dx%d, Pillow %dx%d", what, a->w, a->h, ref->w, ref->h);
    if (a->w != ref->w || a->h != ref->h) return 999;
    int mx = 0;
    long nd = 0;
    size_t n = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a->px[i] - (int)ref->px[i]);
        if (d) nd++;
        if (d > mx) mx = d;
    }
    CHECK(mx <= tol, "%s: max |diff| %d > %d (%ld of %zu values differ)", what, mx, tol, nd, n);
    printf("  %-52s %4dx%-4d max|diff| %d, %ld/%zu values differ\n", what, a->w, a->h, mx, nd, n);
    n_pixel_checks++;
    if (ndiff_out) *ndiff_out = nd;
    return mx;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static void check_line(char *line) {
    char kind[16], img[256], a[256], b[256], c[256], d[256];
    int k = sscanf(line, "%15s %255s %255s %255s %255s %255s", kind, img, a, b, c, d);
    if (k < 2) return;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, img);
    VStatus st = {0};
    Image im = {0}, ref = {0};
    ImgDecodeOpts opt = {0};
    if (strcmp(kind, "reject") == 0) {
        char *reason = strstr(line, img) + strlen(img) + 1;
        reason[strcspn(reason, "\n")] = 0;
        int rc = img_decode_file(path, &opt, &im, &st);
        CHECK(rc != 0 && im.px == NULL, "%s: decoded but must be rejected", img);
        CHECK(rc == 0 || strstr(st.msg, reason), "%s: message '%s' does not name '%s'", img, st.msg, reason);
        printf("  reject %-45s -> %s\n", img, st.msg);
        return;
    }
    if (strcmp(kind, "draft") == 0) {
        opt.min_w = atoi(a);
        opt.min_h = atoi(b);
    }
    if (strcmp(kind, "exif") == 0) opt.apply_exif = 1;
    if (strcmp(kind, "dropalpha") == 0) opt.drop_alpha = 1;
    int rc = img_decode_file(path, &opt, &im, &st);
    CHECK(rc == 0, "%s: %s", img, st.msg);
    if (rc) return;
    char what[1200];
    if (strcmp(kind, "decode") == 0 || strcmp(kind, "exif") == 0 || strcmp(kind, "draft") == 0 ||
        strcmp(kind, "dropalpha") == 0) {
        const char *refname = strcmp(kind, "draft") == 0 ? c : a;
        CHECK(read_ppm(refname, &ref) == 0, "cannot read %s", refname);
        int jpeg = ends_with(img, ".jpg"), lossy = ends_with(img, "_lossy.webp");
        snprintf(what, sizeof what, "%s %s", kind, img);
        int mx = compare(what, &im, &ref, jpeg ? 1 : lossy ? 2 : 0, NULL);
        if (jpeg && mx > worst_jpeg) worst_jpeg = mx;
        if (lossy && mx > worst_webp_lossy) worst_webp_lossy = mx;
    } else if (strcmp(kind, "resize") == 0) {
        ImgFilter f = strcmp(a, "bicubic") == 0 ? IMG_BICUBIC : IMG_BILINEAR;
        // the reference resized Pillow's decode; resize Pillow's decode too so
        // JPEG decode differences (if any) do not count against the resize
        Image base = {0}, out = {0};
        char decref[600];
        snprintf(decref, sizeof decref, "%s.dec.ppm", img);
        CHECK(read_ppm(decref, &base) == 0, "cannot read %s", decref);
        CHECK(read_ppm(d, &ref) == 0, "cannot read %s", d);
        rc = img_resize(&base, atoi(b), atoi(c), f, &out, &st);
        CHECK(rc == 0, "resize %s: %s", img, st.msg);
        if (!rc) {
            long nd = 0;
            snprintf(what, sizeof what, "resize %s %s %sx%s", img, a, b, c);
            int mx = compare(what, &out, &ref, 1, &nd);
            if (mx > worst_resize) worst_resize = mx;
            diff_resize_values += nd;
            total_resize_values += (long)out.w * out.h * 3;
        }
        img_free(&base);
        img_free(&out);
    } else if (strcmp(kind, "pre") == 0) {
        ImgPreprocess pp;
        int S = atoi(b);
        CHECK(img_preset(a, S, &pp) == 0, "unknown preset %s", a);
        size_t n = (size_t)3 * S * S, nb = 0;
        float *out = malloc(n * sizeof(float));
        float *want = (float *)read_all(c, &nb);
        CHECK(want && nb == n * sizeof(float), "%s: %zu bytes, want %zu", c, nb, n * sizeof(float));
        rc = img_preprocess(&im, &pp, out, &st);
        CHECK(rc == 0, "preprocess %s %s: %s", img, a, st.msg);
        if (!rc && want && nb == n * sizeof(float)) {
            double mx = 0;
            long nd = 0;
            for (size_t i = 0; i < n; i++) {
                double e = fabs((double)out[i] - (double)want[i]);
                if (e > mx) mx = e;
                nd += out[i] != want[i];
            }
            CHECK(mx <= 1e-6, "preprocess %s %s %d: max |diff| %g", img, a, S, mx);
            printf("  pre %-10s %-30s S=%-4d max|diff| %.3g, %ld/%zu floats differ\n", a, img, S, mx, nd, n);
        }
        free(out);
        free(want);
    }
    img_free(&im);
    img_free(&ref);
}

static void test_manifest(void) {
    const char *root = getenv("VLMC_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/tests/golden/images", root ? root : ".");
    char mp[1200];
    snprintf(mp, sizeof mp, "%s/manifest.txt", dir);
    FILE *f = fopen(mp, "r");
    CHECK(f != NULL, "cannot open %s", mp);
    if (!f) return;
    char line[2048];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        check_line(line);
        lines++;
    }
    fclose(f);
    CHECK(lines >= 60, "manifest has only %d lines", lines);
    printf("resize: worst max|diff| %d, %ld of %ld values differ; JPEG decode worst %d; lossy WebP worst %d\n",
           worst_resize, diff_resize_values, total_resize_values, worst_jpeg, worst_webp_lossy);
}

/* the same manifest with the SSSE3-only and the scalar pixel loops: every
 * path must give Pillow's bytes */
static void test_manifest_sse(void) {
    img__simd_max = 1;
    test_manifest();
    img__simd_max = 2;
}
static void test_manifest_scalar(void) {
    img__simd_max = 0;
    test_manifest();
    img__simd_max = 2;
}

TEST_MAIN({"manifest", test_manifest}, {"manifest_sse", test_manifest_sse}, {"manifest_scalar", test_manifest_scalar})
