/* tests/bench/bench_image.c — images/s for decode -> resize -> normalise on
 * one thread, the way the loader's workers run it (per image: img_decode with
 * DCT scaling down to the target, then img_preprocess).
 *
 * usage: bench_image [-2] PRESET SIZE SECONDS OUT.f32|- FILE...
 * Default: img_load_preprocessed (the loader's fused path); -2: the two
 * calls img_decode + img_preprocess (decode_s / preprocess_s split them).
 * Times are thread CPU time (images per core-second; robust on a shared
 * machine). Prints one JSON line: {"images": N, "seconds": S, "images_per_s": R,
 * "decode_s": D, "preprocess_s": P}. Writes the first file's output
 * (3, SIZE, SIZE) float32 to OUT.f32 (the driver compares it with numpy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/image.h"

/* CPU time of this thread: the machine may be shared, and what we want is
 * images per core-second, not per wall second. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int two_step = argc > 1 && strcmp(argv[1], "-2") == 0;
    if (two_step) argc--, argv++;
    if (argc < 6) {
        fprintf(stderr, "usage: %s PRESET SIZE SECONDS OUT.f32|- FILE...\n", argv[0]);
        return 2;
    }
    ImgPreprocess pp;
    if (img_preset(argv[1], atoi(argv[2]), &pp)) {
        fprintf(stderr, "unknown preset %s\n", argv[1]);
        return 2;
    }
    double budget = atof(argv[3]);
    int nf = argc - 5;
    uint8_t **bufs = calloc((size_t)nf, sizeof *bufs);
    size_t *lens = calloc((size_t)nf, sizeof *lens);
    for (int i = 0; i < nf; i++) {
        FILE *f = fopen(argv[5 + i], "rb");
        if (!f) {
            fprintf(stderr, "cannot open %s\n", argv[5 + i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        lens[i] = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        bufs[i] = malloc(lens[i]);
        if (fread(bufs[i], 1, lens[i], f) != lens[i]) return 1;
        fclose(f);
    }
    float *out = malloc(sizeof(float) * 3 * pp.size * pp.size);
    ImgDecodeOpts opt = {.min_w = pp.size, .min_h = pp.size};
    VStatus st = {0};
    long n = 0;
    double t0 = now(), td = 0, tp = 0;
    while (n < nf || now() - t0 < budget) {
        int i = (int)(n % nf);
        Image im = {0};
        double a = now(), b, c;
        if (two_step) {
            if (img_decode(bufs[i], lens[i], &opt, &im, &st)) {
                fprintf(stderr, "%s: %s\n", argv[5 + i], st.msg);
                return 1;
            }
            b = now();
            if (img_preprocess(&im, &pp, out, &st)) {
                fprintf(stderr, "%s: %s\n", argv[5 + i], st.msg);
                return 1;
            }
            c = now();
        } else {
            if (img_load_preprocessed(bufs[i], lens[i], &opt, &pp, out, &st)) {
                fprintf(stderr, "%s: %s\n", argv[5 + i], st.msg);
                return 1;
            }
            b = c = now();
        }
        td += b - a;
        tp += c - b;
        if (n == 0 && strcmp(argv[4], "-") != 0) {
            FILE *f = fopen(argv[4], "wb");
            if (!f || fwrite(out, sizeof(float), (size_t)3 * pp.size * pp.size, f) != (size_t)3 * pp.size * pp.size)
                return 1;
            fclose(f);
        }
        img_free(&im);
        n++;
    }
    double el = now() - t0;
    printf("{\"images\": %ld, \"seconds\": %.4f, \"images_per_s\": %.2f, \"decode_s\": %.6f, \"preprocess_s\": %.6f}\n", n,
           el, n / el, td / n, tp / n);
    for (int i = 0; i < nf; i++) free(bufs[i]);
    free(bufs);
    free(lens);
    free(out);
    return 0;
}
