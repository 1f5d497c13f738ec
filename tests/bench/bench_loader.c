/* tests/bench/bench_loader.c — loader throughput, end to end.
 *
 * Writes N synthetic W x H JPEGs (smooth gradients + texture, quality 90) with
 * captions into 4 WebDataset tar shards, then runs the loader (regime pairs,
 * SigLIP preprocessing at S x S, byte tokenizer, 64 image tokens, rows of
 * 512, 8 rows per global batch) with `workers` threads and reports global
 * batches/s, images/s and images/s per worker after a warm-up batch.
 *   bench_loader [--workers 2] [--images 256] [--batches 40] [--size 384]
 *                [--width 640 --height 480] [--dct]                        */
#include <archive.h>
#include <archive_entry.h>
#include <jpeglib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "data/loader.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec +
           1e-6 * (double)u.ru_stime.tv_usec;
}

static unsigned char *make_jpeg(int w, int h, int seed, unsigned long *len) {
    unsigned char *px = malloc((size_t)w * h * 3), *out = NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + ((size_t)y * w + x) * 3;
            p[0] = (unsigned char)((x * 255) / w + seed);
            p[1] = (unsigned char)((y * 255) / h + 3 * seed);
            p[2] = (unsigned char)(((x ^ y) & 31) * 4 + seed);
        }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = px + (size_t)c.next_scanline * w * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(px);
    return out;
}

static void add(struct archive *a, const char *name, const void *d, size_t n) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, d, n);
    archive_entry_free(e);
}

int main(int argc, char **argv) {
    int workers = 2, n_img = 256, batches = 40, S = 384, W = 640, H = 480, dct = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dct")) dct = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--workers")) workers = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--images")) n_img = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--batches")) batches = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--size")) S = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--width")) W = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--height")) H = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_loader [--workers N] [--images N] [--batches N] [--size S] [--width W --height H] [--dct]\n");
            return 2;
        }
    }
    char dir[] = "/tmp/vlmc_bench_loader_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char paths[4][600];
    const char *shards[4];
    double t0 = now_s();
    for (int s = 0; s < 4; s++) {
        snprintf(paths[s], sizeof paths[s], "%s/shard-%d.tar", dir, s);
        shards[s] = paths[s];
        struct archive *a = archive_write_new();
        archive_write_set_format_ustar(a);
        archive_write_open_filename(a, paths[s]);
        for (int i = s; i < n_img; i += 4) {
            unsigned long len = 0;
            unsigned char *j = make_jpeg(W, H, i, &len);
            char name[64], cap[96];
            snprintf(name, sizeof name, "%06d.jpg", i);
            add(a, name, j, len);
            free(j);
            int n = snprintf(cap, sizeof cap, "a synthetic picture number %d with gradients and a checker texture", i);
            snprintf(name, sizeof name, "%06d.txt", i);
            add(a, name, cap, (size_t)n);
        }
        archive_write_close(a);
        archive_write_free(a);
    }
    printf("dataset: %d JPEGs %dx%d in 4 tar shards (%.1f s to write)\n", n_img, W, H, now_s() - t0);
    LdTextCodec tc = ld_codec_bytes(64);
    LdImageCodec ic;
    VStatus st = {0};
    if (ld_image_codec("siglip", S, dct, &ic, &st)) {
        fprintf(stderr, "%s\n", st.msg);
        return 1;
    }
    LdSource src = {shards, 4, NULL, 1.0};
    LdLoaderOpts o = {.regime = LD_PAIRS, .sources = &src, .n_sources = 1, .text = &tc, .image = &ic, .T = 512,
                      .global_rows = 8, .seed = 1, .shuffle_buffer = 64, .workers = workers, .prefetch = 4};
    LdLoader *L;
    if (ld_open(&o, &L, &st)) {
        fprintf(stderr, "%s\n", st.msg);
        return 1;
    }
    LdBatch b = {0};
    int done = 0;
    ld_next(L, &b, &done, &st);   /* warm-up: threads started, queue primed */
    long imgs = 0;
    double t1 = now_s(), c1 = cpu_s();
    for (int i = 0; i < batches; i++) {
        if (ld_next(L, &b, &done, &st) || done) {
            fprintf(stderr, "loader: %s\n", st.msg);
            return 1;
        }
        imgs += b.n_img;
    }
    double el = now_s() - t1, cpu = cpu_s() - c1;
    printf("loader pairs: %d workers, S=%d%s, T=512 x 8 rows: %.2f global batches/s, %.1f images/s (%.1f per worker), "
           "%.1f images per batch; %.1f images per CPU-second (all threads; robust to a busy machine)\n", workers, S,
           dct ? " (DCT scaling)" : "", batches / el, imgs / el, imgs / el / workers, (double)imgs / batches, imgs / cpu);
    ld_batch_free(&b);
    ld_close(L);
    ld_image_codec_free(&ic);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
