/* tests/data/test_shard.c — shard readers and bad input.
 *  - tar: members grouped by key, multi-image order by index (written out of
 *    order), unsafe member names skipped and never opened, malformed JSON;
 *  - a shard set with < 1% bad records (one corrupt image, one truncated tar)
 *    finishes and reports exactly those records; > 1% fails stating the
 *    fraction;
 *  - HDF5: records written by the HDF5 writer come back identical to the
 *    JSONL they were formatted from; stale shards (tokenizer hash, schema
 *    version, image size) are refused naming the mismatch. */
#include <hdf5.h>

#include "data/loader.h"
#include "data/shards.h"
#include "ld_fixtures.h"
#include "test.h"

static char dir[256];

typedef struct Log { char lines[16][512]; int n; } Log;
static void log_cb(void *ctx, const char *line) {
    Log *g = ctx;
    if (g->n < 16) snprintf(g->lines[g->n], sizeof g->lines[0], "%s", line);
    g->n++;
}

/* runs a loader over shards to the end; returns ld_next's last rc */
static int drain(LdRegime regime, const char *const *shards, int n, int T, LdStats *stats, Log *log, VStatus *st,
                 int64_t *tokens_out) {
    LdSource src = {shards, n, NULL, 1.0};
    LdTextCodec tc = ld_codec_bytes(2);
    LdImageCodec ic = timg_codec(2);
    LdLoaderOpts o = {.regime = regime, .sources = &src, .n_sources = 1, .text = &tc, .image = &ic, .T = T,
                      .global_rows = 4, .seed = 3, .shuffle_buffer = 16, .epochs = 1, .workers = 2,
                      .log = log_cb, .log_ctx = log};
    LdLoader *L;
    int rc = ld_open(&o, &L, st), done = 0;
    LdBatch b = {0};
    int64_t tok = 0;
    while (!rc && !done) {
        rc = ld_next(L, &b, &done, st);
        if (!rc && !done)
            for (int i = 0; i < b.B * b.T; i++) tok += b.doc[i] >= 0;
    }
    if (stats) *stats = ld_stats(L);
    if (tokens_out) *tokens_out = tok;
    ld_batch_free(&b);
    ld_close(L);
    return rc;
}

/* 100 pairs per shard; corrupt: indices with a bad image; cut: truncate inside sample cut's image (-1 none) */
static void pair_shard(const char *path, int first, const int *corrupt, int n_corrupt, int cut) {
    FxMember m[200];
    static char names[200][32], caps[100][8];
    static uint8_t imgs[100][5];
    for (int i = 0; i < 100; i++) {
        int bad = 0;
        for (int c = 0; c < n_corrupt; c++) bad |= corrupt[c] == i;
        snprintf(names[2 * i], 32, "s%05d.jpg", first + i);
        snprintf(names[2 * i + 1], 32, "s%05d.txt", first + i);
        memcpy(imgs[i], bad ? "JUNK!" : "TIMG", bad ? 5 : 4);
        if (!bad) imgs[i][4] = (uint8_t)i;
        snprintf(caps[i], sizeof caps[i], "c%d", i % 10);
        m[2 * i] = (FxMember){names[2 * i], imgs[i], 5};
        m[2 * i + 1] = (FxMember){names[2 * i + 1], caps[i], strlen(caps[i])};
    }
    fx_tar(path, m, 200);
    /* ustar, no extensions: each member is a 512-byte header + one 512-byte data block */
    if (cut >= 0 && truncate(path, (off_t)cut * 2048 + 512 + 3) != 0) perror("truncate");
}

static void test_skip_fraction(void) {
    char p[3][512];
    const char *sh[3] = {p[0], p[1], p[2]};
    for (int i = 0; i < 3; i++) snprintf(p[i], sizeof p[i], "%s/ok-%d.tar", dir, i);
    int c1[1] = {17};
    pair_shard(p[0], 0, c1, 1, -1);
    pair_shard(p[1], 100, NULL, 0, -1);
    pair_shard(p[2], 200, NULL, 0, 50);   /* records 250..299 are cut off; 250 is damaged */
    LdStats s;
    Log log = {0};
    VStatus st = {0};
    int64_t tokens = 0;
    int rc = drain(LD_PAIRS, sh, 3, 16, &s, &log, &st, &tokens);
    CHECK(rc == 0, "2 bad of 251 (0.8%%) must pass: %s", st.msg);
    CHECK(s.seen == 251 && s.skipped == 2, "seen %lld skipped %lld", (long long)s.seen, (long long)s.skipped);
    CHECK(s.by_reason[LD_SKIP_CORRUPT_IMAGE] == 1 && s.by_reason[LD_SKIP_TRUNCATED] == 1, "by reason");
    /* 249 good records: bos + 2 image + "cN" + eos = 6 tokens each */
    CHECK(tokens == 249 * 6, "%lld tokens", (long long)tokens);
    CHECK(log.n == 2, "%d log lines", log.n);
    int saw_corrupt = 0, saw_trunc = 0;
    for (int i = 0; i < log.n && i < 16; i++) {
        saw_corrupt |= strstr(log.lines[i], "ok-0.tar [s00017]: corrupt_image") != NULL;
        saw_trunc |= strstr(log.lines[i], "ok-2.tar [s00250]: truncated_tar") != NULL;
    }
    CHECK(saw_corrupt && saw_trunc, "log: %s | %s", log.lines[0], log.lines[1]);

    /* 3 corrupt + the truncated one: 4 of 251 = 1.59% > 1% */
    int c3[3] = {5, 6, 70};
    pair_shard(p[0], 0, c3, 3, -1);
    Log log2 = {0};
    rc = drain(LD_PAIRS, sh, 3, 16, NULL, &log2, &st, NULL);
    CHECK(rc != 0 && strstr(st.msg, "skipped 4 of 251 records (1.59%)") && strstr(st.msg, "allowed 1.00%"),
          "message: %s", st.msg);
    CHECK(strstr(st.msg, "corrupt_image 3") && strstr(st.msg, "truncated_tar 1"), "message: %s", st.msg);
}

static void test_tar_members(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/multi.tar", dir);
    const char *js = "{\"question\": \"q\", \"answer\": \"a\"}";
    FxMember m[] = {
        {"d/k1.1.jpg", "TIMG\x02", 5}, {"d/k1.0.jpg", "TIMG\x01", 5}, {"d/k1.json", js, strlen(js)},
        {"../evil.jpg", "TIMG\x03", 5}, {"../evil.json", js, strlen(js)},
        {"/abs.json", js, strlen(js)},
        {"k3.json", "{\"question\": ", 13}, {"k3.jpg", "TIMG\x04", 5},
        {"k4.json", js, strlen(js)}, {"k4.png", "TIMG\x05", 5}, {"k4.cls", "7", 1},
    };
    fx_tar(p, m, 11);
    VStatus st = {0};
    LdShard *s;
    CHECK(ld_shard_open(p, NULL, NULL, &s, &st) == 0, "%s", st.msg);
    CHECK(ld_shard_count(s) == 5, "%lld samples", (long long)ld_shard_count(s));
    LdRaw r;
    CHECK(ld_shard_fetch(s, 0, &r, &st) == 0, "%s", st.msg);
    CHECK(!strcmp(r.key, "d/k1") && r.n_imgs == 2 && r.imgs[0].index == 0 && r.imgs[0].data[4] == 1 &&
              r.imgs[1].data[4] == 2 && r.skip == 0, "k1: key %s, %d images", r.key, r.n_imgs);
    ld_raw_free(&r);
    ld_shard_fetch(s, 1, &r, &st);
    CHECK(r.skip == LD_SKIP_UNSAFE_NAME, "../evil: skip %d", r.skip);
    ld_raw_free(&r);
    ld_shard_fetch(s, 2, &r, &st);
    CHECK(r.skip == LD_SKIP_UNSAFE_NAME, "/abs: skip %d", r.skip);
    ld_raw_free(&r);
    ld_shard_fetch(s, 3, &r, &st);
    CHECK(r.skip == LD_SKIP_BAD_JSON, "k3: skip %d", r.skip);
    ld_raw_free(&r);
    ld_shard_fetch(s, 4, &r, &st);
    CHECK(r.skip == 0 && r.n_imgs == 1 && r.imgs[0].index == -1, "k4");
    ld_raw_free(&r);
    ld_shard_close(s);
    CHECK(ld_name_is_safe("a/b..c/d.jpg") && !ld_name_is_safe("a/../b") && !ld_name_is_safe("..") &&
              !ld_name_is_safe("/x"), "name rules");

    /* through the loader: 3 of 5 records bad is far over 1%: the run fails saying so */
    const char *sh[1] = {p};
    Log log = {0};
    int rc = drain(LD_INSTRUCT, sh, 1, 32, NULL, &log, &st, NULL);
    CHECK(rc != 0 && strstr(st.msg, "skipped 3 of 5 records (60.00%)"), "%s", st.msg);
    CHECK(log.n == 3, "%d log lines", log.n);
    /* the two-image sample: two runs, images in member index order */
    LdTextCodec tc = ld_codec_bytes(2);
    LdImageCodec ic = timg_codec(2);
    LdSample smp = {0};
    ld_shard_open(p, NULL, NULL, &s, &st);
    ld_shard_fetch(s, 0, &r, &st);
    CHECK(ld_format(LD_INSTRUCT, &r, &tc, &ic, &smp, &st) == 0, "%s", st.msg);
    CHECK(smp.n_img == 2 && smp.seq[0].n_runs == 2 && smp.px[0] == 1 && smp.px[12] == 2 &&
              smp.seq[0].runs[0].start == 1 && smp.seq[0].runs[1].start == 3,
          "multi-image sample");
    ld_raw_free(&r);
    ld_sample_free(&smp);
    ld_shard_close(s);
    /* a file that is none of the formats */
    char q[512];
    snprintf(q, sizeof q, "%s/x.bin", dir);
    fx_write_str(q, "hello");
    CHECK(ld_shard_open(q, NULL, NULL, &s, &st) != 0 && strstr(st.msg, "not a tar, HDF5"), "%s", st.msg);
}


static void test_h5(void) {
    char js[512], h5[512], img[512];
    snprintf(img, sizeof img, "%s/p.jpg", dir);
    fx_write(img, "TIMG\x2a", 5);
    snprintf(js, sizeof js, "%s/dpo.jsonl", dir);
    fx_write_str(js, "{\"prompt\": \"p1\", \"chosen\": \"c\", \"rejected\": \"rr\", \"images\": [\"p.jpg\"]}\n"
                     "{\"prompt\": \"p2\", \"chosen\": \"cc\", \"rejected\": \"r\"}\n"
                     "{\"prompt\": \"p3\", \"chosen\": \"x\", \"rejected\": \"y\", \"images\": [\"p.jpg\", \"p.jpg\"]}\n");
    snprintf(h5, sizeof h5, "%s/dpo.h5", dir);
    /* format each record and write it */
    LdTextCodec tc = ld_codec_bytes(2);
    LdImageCodec ic = timg_codec(2);
    VStatus st = {0};
    LdShard *s;
    CHECK(ld_shard_open(js, NULL, NULL, &s, &st) == 0, "%s", st.msg);
    LdH5Writer *w;
    LdH5Meta meta = {tc.hash, 2, 2, "dpo"};
    CHECK(ld_h5_create(h5, &meta, &w, &st) == 0, "%s", st.msg);
    LdSample smp = {0};
    for (int64_t j = 0; j < ld_shard_count(s); j++) {
        LdRaw r;
        ld_shard_fetch(s, j, &r, &st);
        r.image_root = dir;
        int rc = ld_format(LD_DPO, &r, &tc, &ic, &smp, &st);
        CHECK(rc == 0, "record %lld: %s", (long long)j, st.msg);
        CHECK(ld_h5_append(w, &smp, &st) == 0, "%s", st.msg);
        ld_raw_free(&r);
    }
    ld_sample_free(&smp);
    ld_shard_close(s);
    CHECK(ld_h5_finish(w, &st) == 0, "%s", st.msg);

    /* the loader gives the same batches from the JSONL and from the HDF5 shard */
    LdBatch a[8], b[8];
    int na = 0, nb = 0;
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    for (int pass = 0; pass < 2; pass++) {
        const char *sh[1] = {pass ? h5 : js};
        LdSource src = {sh, 1, pass ? NULL : dir, 1.0};
        LdLoaderOpts o = {.regime = LD_DPO, .sources = &src, .n_sources = 1, .text = &tc, .image = &ic, .T = 16,
                          .global_rows = 2, .seed = 3, .shuffle_buffer = 3, .epochs = 1};
        LdLoader *L;
        CHECK(ld_open(&o, &L, &st) == 0, "%s", st.msg);
        int done = 0;
        LdBatch *out = pass ? b : a;
        int *n = pass ? &nb : &na;
        while (*n < 8 && ld_next(L, &out[*n], &done, &st) == 0 && !done) (*n)++;
        ld_close(L);
    }
    CHECK(na == 3 && nb == 3, "%d and %d batches", na, nb);
    for (int i = 0; i < na && i < nb; i++) {
        size_t n = (size_t)a[i].B * a[i].T * 4;
        CHECK(!memcmp(a[i].tokens, b[i].tokens, n) && !memcmp(a[i].targets, b[i].targets, n) &&
                  !memcmp(a[i].pos, b[i].pos, n) && a[i].n_img == b[i].n_img && a[i].n_span == b[i].n_span &&
                  !memcmp(a[i].pixels, b[i].pixels, (size_t)a[i].n_img * 12 * 4) &&
                  !memcmp(a[i].spans, b[i].spans, (size_t)a[i].n_span * sizeof *a[i].spans),
              "batch %d differs between JSONL and HDF5", i);
    }
    for (int i = 0; i < 8; i++) {
        ld_batch_free(&a[i]);
        ld_batch_free(&b[i]);
    }

    /* stale shards: each mismatch named */
    LdShardExpect ex = {tc.hash ^ 1, 2, 2, "dpo"};
    CHECK(ld_shard_open(h5, NULL, &ex, &s, &st) != 0 && strstr(st.msg, "tokenizer_hash"), "%s", st.msg);
    ex = (LdShardExpect){tc.hash, 4, 2, "dpo"};
    CHECK(ld_shard_open(h5, NULL, &ex, &s, &st) != 0 && strstr(st.msg, "image_size 2"), "%s", st.msg);
    ex = (LdShardExpect){tc.hash, 2, 9, "dpo"};
    CHECK(ld_shard_open(h5, NULL, &ex, &s, &st) != 0 && strstr(st.msg, "image_token_count 2"), "%s", st.msg);
    ex = (LdShardExpect){tc.hash, 2, 2, "sft"};
    CHECK(ld_shard_open(h5, NULL, &ex, &s, &st) != 0 && strstr(st.msg, "regime 'dpo'"), "%s", st.msg);
    /* bump schema_version in place */
    hid_t f = H5Fopen(h5, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t at = H5Aopen(f, "schema_version", H5P_DEFAULT);
    int32_t v2 = 2;
    H5Awrite(at, H5T_NATIVE_INT32, &v2);
    H5Aclose(at);
    H5Fclose(f);
    ex = (LdShardExpect){tc.hash, 2, 2, "dpo"};
    CHECK(ld_shard_open(h5, NULL, &ex, &s, &st) != 0 && strstr(st.msg, "schema_version 2"), "%s", st.msg);
}

/* JSONL line bookkeeping (blank lines, CRLF, no final newline) and tar
 * members with long names (pax headers, as `vlmc prepare` writes them) */
static void test_lines_and_long_names(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/lines.jsonl", dir);
    fx_write_str(p, "{\"a\": 1}\n\n  \n{\"a\": 2}\r\n{\"a\": 3}");
    VStatus st = {0};
    LdShard *s;
    CHECK(ld_shard_open(p, NULL, NULL, &s, &st) == 0, "%s", st.msg);
    CHECK(ld_shard_count(s) == 3, "%lld records", (long long)ld_shard_count(s));
    const char *keys[3] = {"line 1", "line 4", "line 5"};
    for (int j = 0; j < 3; j++) {
        LdRaw r;
        ld_shard_fetch(s, j, &r, &st);
        CHECK(!strcmp(r.key, keys[j]) && r.skip == 0 && json_integer_value(json_object_get(r.json, "a")) == j + 1,
              "record %d: key %s skip %d", j, r.key, r.skip);
        ld_raw_free(&r);
    }
    ld_shard_close(s);

    snprintf(p, sizeof p, "%s/long.tar", dir);
    char dirname[200], n1[300], n2[300], n3[300];
    memset(dirname, 'd', 150);
    dirname[150] = 0;
    snprintf(n1, sizeof n1, "%s/key1.jpg", dirname);
    snprintf(n2, sizeof n2, "%s/key1.txt", dirname);
    snprintf(n3, sizeof n3, "%s/key2.txt", dirname);
    FxMember m[3] = {{n1, "TIMG\x09", 5}, {n2, "hello", 5}, {n3, "second", 6}};
    struct archive *a = archive_write_new();   /* pax: names over 100 bytes */
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, p);
    for (int i = 0; i < 3; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_size(e, (la_int64_t)m[i].n);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, m[i].data, m[i].n);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    CHECK(ld_shard_open(p, NULL, NULL, &s, &st) == 0, "%s", st.msg);
    CHECK(ld_shard_count(s) == 2, "%lld samples", (long long)ld_shard_count(s));
    LdRaw r;
    ld_shard_fetch(s, 0, &r, &st);
    CHECK(r.skip == 0 && r.n_imgs == 1 && r.imgs[0].data[4] == 9 && !strcmp(json_string_value(json_object_get(r.json, "txt")), "hello") &&
              strlen(r.key) == 155,
          "long-name sample: skip %d, %d images, key length %zu", r.skip, r.n_imgs, strlen(r.key));
    ld_raw_free(&r);
    ld_shard_fetch(s, 1, &r, &st);
    CHECK(r.skip == 0 && !strcmp(json_string_value(json_object_get(r.json, "txt")), "second"), "second sample");
    ld_raw_free(&r);
    ld_shard_close(s);
}

static void all(void) {
    fx_tmpdir(dir, sizeof dir, "shard");
    test_tar_members();
    test_lines_and_long_names();
    test_skip_fraction();
    test_h5();
    fx_rmtree(dir);
}

TEST_MAIN({"shards", all})
