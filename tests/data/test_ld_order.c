/* tests/data/test_ld_order.c — one global order, whatever the rank count.
 *
 * The global batch is rebuilt from the ranks' rows (rank r holds row groups
 * r, r + world, ...) as canonical bytes: tokens, targets, pos, the sample
 * identity (source, epoch, index, part) of every token, and every span with a
 * hash of its image's pixels. Checks:
 *  - worlds 1, 2 and 3 give byte-identical global batches (single source,
 *    shuffled shards and buffer, 2 epochs; and a weighted mix of two sources);
 *  - each epoch covers the dataset once, with no overlap;
 *  - stop after N batches, resume from ld_state() with the same or another
 *    rank count: the following global batches are byte-identical. */
#include "data/loader.h"
#include "ld_fixtures.h"
#include "test.h"

typedef struct Buf { uint8_t *p; size_t n, cap; } Buf;

static void put(Buf *b, const void *x, size_t n) {
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
}

static uint64_t fnv(const void *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
    return h;
}

/* appends global batch (from the W ranks' batches) to out; group = rows per group */
static void canon(LdBatch *const *rb, int W, int group, int rows, Buf *out) {
    for (int g = 0; g < rows; g++) {
        int grp = g / group, rank = grp % W, lr = (grp / W) * group + g % group;
        const LdBatch *b = rb[rank];
        size_t o = (size_t)lr * b->T;
        put(out, b->tokens + o, (size_t)b->T * 4);
        put(out, b->targets + o, (size_t)b->T * 4);
        put(out, b->pos + o, (size_t)b->T * 4);
        for (int t = 0; t < b->T; t++) {
            int d = b->doc[o + t];
            int32_t id[4] = {-1, -1, -1, -1};
            if (d >= 0) {
                id[0] = b->docs[d].source;
                id[1] = b->docs[d].epoch;
                id[2] = (int32_t)b->docs[d].index;
                id[3] = b->docs[d].part;
            }
            put(out, id, sizeof id);
        }
        int32_t pair = b->pair[lr];
        put(out, &pair, 4);
        for (int s = 0; s < b->n_span; s++) {
            if (b->spans[s].row != lr) continue;
            size_t plane = (size_t)3 * b->S * b->S;
            uint64_t h = fnv(b->pixels + (size_t)b->spans[s].img * plane, plane * sizeof(float));
            put(out, &b->spans[s].start, 4);
            put(out, &b->spans[s].len, 4);
            put(out, &h, 8);
        }
    }
}

typedef struct Run {
    Buf all;               /* canonical global batches, concatenated */
    size_t *ends;          /* byte offset after each batch */
    int n_batches;
    char state[64][LD_STATE_MAX];   /* ld_state after batch i (from rank 0) */
    int64_t draws[2];      /* samples per source seen (parts 0) */
    int seen_idx[2][64];   /* epoch-0..1 coverage of source 0: counts per index, per epoch */
    int64_t first_step;    /* LdBatch.step of the first batch */
} Run;

static char dir[256];
static char shard_paths[4][512];
static int g_workers = 2;

static void make_data(void) {
    fx_tmpdir(dir, sizeof dir, "order");
    /* source 0: 3 tar shards of 20, 13, 27 samples with captions of 1..11 bytes */
    int sizes[3] = {20, 13, 27}, k = 0;
    for (int s = 0; s < 3; s++) {
        FxMember m[54];
        char names[54][32], caps[27][16];
        uint8_t imgs[27][5];
        for (int i = 0; i < sizes[s]; i++, k++) {
            snprintf(names[2 * i], 32, "%05d.jpg", k);
            snprintf(names[2 * i + 1], 32, "%05d.txt", k);
            memcpy(imgs[i], "TIMG", 4);
            imgs[i][4] = (uint8_t)k;
            int len = 1 + (k * 7) % 11;
            for (int c = 0; c < len; c++) caps[i][c] = (char)('a' + (k + c) % 26);
            m[2 * i] = (FxMember){names[2 * i], imgs[i], 5};
            m[2 * i + 1] = (FxMember){names[2 * i + 1], caps[i], (size_t)len};
        }
        snprintf(shard_paths[s], sizeof shard_paths[s], "%s/shard-%d.tar", dir, s);
        fx_tar(shard_paths[s], m, 2 * sizes[s]);
    }
    /* source 1: a JSONL of 10 pairs */
    char img[512];
    snprintf(img, sizeof img, "%s/x.jpg", dir);
    fx_write(img, "TIMG\x63", 5);
    snprintf(shard_paths[3], sizeof shard_paths[3], "%s/extra.jsonl", dir);
    FILE *f = fopen(shard_paths[3], "w");
    for (int i = 0; i < 10; i++) fprintf(f, "{\"image\": \"x.jpg\", \"caption\": \"%.*s\"}\n", 1 + i, "ZYXWVUTSRQPO");
    fclose(f);
}

/* Runs `world` ranks in lockstep for at most max_batches (0 = to the end),
 * from resume (or the start). */
static void run(int world, int n_sources, int epochs, int max_batches, const char *resume, Run *r) {
    memset(r, 0, sizeof *r);
    const char *s0[3] = {shard_paths[0], shard_paths[1], shard_paths[2]}, *s1[1] = {shard_paths[3]};
    LdSource src[2] = {{s0, 3, NULL, 3.0}, {s1, 1, NULL, 1.0}};
    LdTextCodec tc = ld_codec_bytes(2);
    LdImageCodec ic = timg_codec(3);
    LdLoader *L[3];
    LdBatch b[3];
    LdBatch *bp[3] = {&b[0], &b[1], &b[2]};
    memset(b, 0, sizeof b);
    VStatus st = {0};
    for (int k = 0; k < world; k++) {
        LdLoaderOpts o = {.regime = LD_PAIRS, .sources = src, .n_sources = n_sources, .text = &tc, .image = &ic,
                          .T = 24, .global_rows = 6, .rank = k, .world = world, .seed = 1234, .shuffle_buffer = 8,
                          .epochs = epochs, .workers = g_workers, .prefetch = 2, .resume_state = resume};
        int rc = ld_open(&o, &L[k], &st);
        CHECK(rc == 0, "open rank %d: %s", k, st.msg);
        if (rc) return;
    }
    r->ends = calloc(256, sizeof *r->ends);
    for (;;) {
        int done[3] = {0}, any = 0, all = 1;
        for (int k = 0; k < world; k++) {
            int rc = ld_next(L[k], &b[k], &done[k], &st);
            CHECK(rc == 0, "rank %d: %s", k, st.msg);
            any |= done[k];
            all &= done[k];
        }
        CHECK(any == all, "ranks disagree about the end");
        if (all || r->n_batches == 255) break;
        canon(bp, world, 1, 6, &r->all);
        if (r->n_batches == 0) r->first_step = b[0].step;
        for (int k = 0; k < world; k++) CHECK(b[k].step == r->first_step + r->n_batches, "step numbers");
        ld_state(L[0], r->state[r->n_batches < 64 ? r->n_batches : 63], LD_STATE_MAX);
        for (int k = 1; k < world; k++) {
            char sk[LD_STATE_MAX];
            ld_state(L[k], sk, sizeof sk);
            CHECK(strcmp(sk, r->state[r->n_batches < 64 ? r->n_batches : 63]) == 0, "rank states differ");
        }
        /* coverage bookkeeping from the per-rank docs */
        for (int k = 0; k < world; k++)
            for (int d = 0; d < b[k].n_docs; d++) {
                const LdDoc *doc = &b[k].docs[d];
                r->draws[doc->source]++;
                if (doc->source == 0 && doc->epoch < 2 && doc->index < 64) r->seen_idx[doc->epoch][doc->index]++;
            }
        r->ends[r->n_batches++] = r->all.n;
        if (max_batches && r->n_batches == max_batches) break;
    }
    for (int k = 0; k < world; k++) {
        ld_close(L[k]);
        ld_batch_free(&b[k]);
    }
}

static void run_free(Run *r) {
    free(r->all.p);
    free(r->ends);
}

static void test_ranks_and_epochs(void) {
    Run r1, r2, r3;
    run(1, 1, 2, 0, NULL, &r1);
    run(2, 1, 2, 0, NULL, &r2);
    run(3, 1, 2, 0, NULL, &r3);
    CHECK(r1.n_batches > 5, "%d batches", r1.n_batches);
    CHECK(r1.all.n == r2.all.n && r1.all.n == r3.all.n && memcmp(r1.all.p, r2.all.p, r1.all.n) == 0 &&
              memcmp(r1.all.p, r3.all.p, r1.all.n) == 0,
          "global batches differ between 1, 2, 3 ranks");
    /* 60 records, 2 epochs: each index exactly once per epoch */
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 60; i++) CHECK(r1.seen_idx[e][i] == 1, "epoch %d index %d seen %d times", e, i, r1.seen_idx[e][i]);
    CHECK(r1.draws[0] == 120, "%lld", (long long)r1.draws[0]);
    /* the order is shuffled: epoch 0 does not start with record 0, 1, 2 */
    run_free(&r2);
    run_free(&r3);
    /* nor on the number of worker threads */
    g_workers = 5;
    run(2, 1, 2, 0, NULL, &r2);
    g_workers = 1;
    run(1, 1, 2, 0, NULL, &r3);
    g_workers = 2;
    CHECK(r2.all.n == r1.all.n && !memcmp(r2.all.p, r1.all.p, r1.all.n) && r3.all.n == r1.all.n &&
              !memcmp(r3.all.p, r1.all.p, r1.all.n),
          "global batches depend on the worker count");
    run_free(&r2);
    run_free(&r3);

    /* resume after 3 batches with 1, 2 and 3 ranks: the rest is identical */
    for (int w = 1; w <= 3; w++) {
        Run rr;
        run(w, 1, 2, 0, r1.state[2], &rr);
        size_t off = r1.ends[2];
        CHECK(rr.n_batches == r1.n_batches - 3, "world %d: %d batches after resume, want %d", w, rr.n_batches,
              r1.n_batches - 3);
        CHECK(rr.all.n == r1.all.n - off && memcmp(rr.all.p, r1.all.p + off, rr.all.n) == 0,
              "world %d: resumed batches differ", w);
        CHECK(rr.first_step == 3, "world %d: resumed run starts at step %lld, want 3", w, (long long)rr.first_step);
        run_free(&rr);
    }
    run_free(&r1);
}

static void test_mix(void) {
    /* two sources, weights 3:1, endless epochs, 40 global batches */
    Run a, b;
    run(1, 2, 0, 40, NULL, &a);
    run(3, 2, 0, 40, NULL, &b);
    CHECK(a.all.n == b.all.n && memcmp(a.all.p, b.all.p, a.all.n) == 0, "mixed: 1 vs 3 ranks differ");
    double frac = (double)a.draws[0] / (double)(a.draws[0] + a.draws[1]);
    /* ~ 700 draws at p = 0.75: sd ~ 0.016; 0.06 is ~ 4 sd */
    CHECK(frac > 0.69 && frac < 0.81, "source 0 fraction %.3f, want 0.75", frac);
    /* resume at batch 17 with 2 ranks from a 1-rank run's state */
    Run c;
    run(2, 2, 0, 23, a.state[16], &c);
    size_t off = a.ends[16];
    CHECK(c.all.n == a.ends[39] - off && memcmp(c.all.p, a.all.p + off, c.all.n) == 0, "mixed resume differs");
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

static void test_bad_state(void) {
    const char *s0[1] = {shard_paths[0]};
    LdSource src = {s0, 1, NULL, 1.0};
    LdTextCodec tc = ld_codec_bytes(2);
    LdImageCodec ic = timg_codec(3);
    LdLoaderOpts o = {.regime = LD_PAIRS, .sources = &src, .n_sources = 1, .text = &tc, .image = &ic, .T = 24,
                      .global_rows = 6, .seed = 99, .resume_state = "vlmc-loader 1 regime=pairs seed=5 step=0 t=0 part=0 "
                                                                   "seen=0 skipped=0 reasons=0,0,0,0,0,0,0,0 src=0:0"};
    LdLoader *L;
    VStatus st = {0};
    CHECK(ld_open(&o, &L, &st) != 0 && strstr(st.msg, "seed 5"), "%s", st.msg);
    ld_close(L);
    o.resume_state = "garbage";
    CHECK(ld_open(&o, &L, &st) != 0 && strstr(st.msg, "loader state"), "%s", st.msg);
    ld_close(L);
    o.global_rows = 5;
    o.world = 2;
    o.resume_state = NULL;
    CHECK(ld_open(&o, &L, &st) != 0 && strstr(st.msg, "multiple"), "%s", st.msg);
}

/* interleaved documents split across rows and batches: resuming from every
 * batch boundary (some fall inside a document) with 1 or 2 ranks continues
 * exactly */
static void test_resume_split(void) {
    char path[512], img[512];
    snprintf(img, sizeof img, "%s/i.jpg", dir);
    fx_write(img, "TIMG\x07", 5);
    snprintf(path, sizeof path, "%s/docs.jsonl", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 12; i++)
        fprintf(f, "{\"texts\": [\"%.*s\", null, \"%.*s\"], \"images\": [null, \"i.jpg\", null]}\n", 3 + i % 5,
                "abcdefghij", 2 + (i * 3) % 9, "KLMNOPQRSTUV");
    fclose(f);
    const char *sh[1] = {path};
    LdSource src = {sh, 1, NULL, 1.0};
    LdTextCodec tc = ld_codec_bytes(2);
    LdImageCodec ic = timg_codec(2);
    Buf ref = {0};
    size_t ends[128];
    char states[128][LD_STATE_MAX];
    int n = 0, parts = 0;
    for (int pass = 0; pass < 1 + 2 * 127; pass++) {   /* every boundary, 1 and 2 ranks */
        int world = pass == 0 ? 1 : 1 + (pass - 1) % 2, from = pass == 0 ? -1 : (pass - 1) / 2;
        if (pass > 0 && from >= n - 1) break;
        LdLoader *L[2];
        LdBatch b[2];
        LdBatch *bp[2] = {&b[0], &b[1]};
        memset(b, 0, sizeof b);
        VStatus st = {0};
        for (int k = 0; k < world; k++) {
            LdLoaderOpts o = {.regime = LD_INTERLEAVED, .sources = &src, .n_sources = 1, .text = &tc, .image = &ic,
                              .T = 8, .global_rows = 2, .rank = k, .world = world, .seed = 5, .shuffle_buffer = 4,
                              .epochs = 1, .workers = 3, .resume_state = from >= 0 ? states[from] : NULL};
            CHECK(ld_open(&o, &L[k], &st) == 0, "%s", st.msg);
        }
        Buf got = {0};
        for (int i = 0;; i++) {
            int done = 0;
            for (int k = 0; k < world; k++) CHECK(ld_next(L[k], &b[k], &done, &st) == 0, "%s", st.msg);
            if (done) break;
            canon(bp, world, 1, 2, &got);
            if (pass == 0) {
                for (int d = 0; d < b[0].n_docs; d++) parts += b[0].docs[d].part > 0;
                ld_state(L[0], states[n], LD_STATE_MAX);
                ends[n++] = got.n;
            }
        }
        if (pass == 0) {
            ref = got;
            CHECK(n > 6 && parts > 0, "%d batches, %d split pieces", n, parts);
        } else {
            size_t off = ends[from];
            CHECK(got.n == ref.n - off && memcmp(got.p, ref.p + off, got.n) == 0,
                  "resume after batch %d with %d ranks differs", from, world);
            free(got.p);
        }
        for (int k = 0; k < world; k++) {
            ld_close(L[k]);
            ld_batch_free(&b[k]);
        }
    }
    int mid = 0;   /* at least one saved position falls inside a split document */
    for (int i = 0; i + 1 < n; i++) mid |= strstr(states[i], "part=0") == NULL;
    CHECK(mid, "no batch boundary inside a document; the test would not cover part > 0");
    free(ref.p);
}

static void all(void) {
    make_data();
    test_ranks_and_epochs();
    test_mix();
    test_bad_state();
    test_resume_split();
    fx_rmtree(dir);
}

TEST_MAIN({"global_order", all})
