/* tests/data/test_ld_prepare.c — `vlmc prepare` end to end (the binary).
 *  - a pairs JSONL (120 records, 1 corrupt image: 0.83%) -> h5 and tar shards
 *    of 50 records; the summary JSON counts exactly (samples, images, tokens,
 *    skipped, skipped_by_reason); the loader reads the same batches (tokens,
 *    targets, pos, pixels) from the JSONL, the tar shards and the h5 shards;
 *  - an MMC4 interleaved JSONL whose images are listed out of document order
 *    -> tar: same batches as the JSONL (images stored in the order used);
 *  - 3 corrupt of 122 (2.46%) -> exit 1 and a message stating the fraction;
 *  - usage errors exit 2. */
#include <jansson.h>

#include "data/loader.h"
#include "ld_fixtures.h"
#include "test.h"

static char dir[256], src_root[512];

static void copy_image(const char *name, const char *as) {
    char from[1024], to[1024], cmd[2200];
    snprintf(from, sizeof from, "%s/tests/golden/images/%s", src_root, name);
    snprintf(to, sizeof to, "%s/%s", dir, as);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    if (system(cmd) != 0) fprintf(stderr, "cannot copy %s\n", from);
}

static int run_prepare(const char *args, char *err, size_t cap) {
    const char *bin = getenv("VLMC_BINARY");
    char cmd[4096], ef[600];
    snprintf(ef, sizeof ef, "%s/stderr.txt", dir);
    snprintf(cmd, sizeof cmd, "%s prepare --quiet %s > /dev/null 2> '%s'", bin ? bin : "build/vlmc", args, ef);
    int rc = system(cmd);
    FILE *f = fopen(ef, "r");
    size_t n = f ? fread(err, 1, cap - 1, f) : 0;
    err[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* all batches' tokens/targets/pos/pixels/spans of a loader run, as bytes */
static size_t load_all(LdRegime regime, const char *const *shards, int n, uint8_t **out) {
    LdSource src = {shards, n, NULL, 1.0};
    LdTextCodec tc = ld_codec_bytes(2);
    LdImageCodec ic;
    VStatus st = {0};
    ld_image_codec("clip", 24, 0, &ic, &st);
    LdLoaderOpts o = {.regime = regime, .sources = &src, .n_sources = 1, .text = &tc, .image = &ic, .T = 64,
                      .global_rows = 4, .seed = 1, .shuffle_buffer = 1, .keep_shard_order = 1, .epochs = 1,
                      .max_skip_frac = -1, .log = NULL};
    LdLoader *L;
    size_t len = 0, cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    if (ld_open(&o, &L, &st)) {
        CHECK(0, "%s", st.msg);
        *out = buf;
        return 0;
    }
    LdBatch b = {0};
    int done = 0;
    while (ld_next(L, &b, &done, &st) == 0 && !done) {
        size_t nt = (size_t)b.B * b.T * 4, np = (size_t)b.n_img * 3 * b.S * b.S * 4, ns = (size_t)b.n_span * sizeof *b.spans;
        while (len + 3 * nt + np + ns > cap) buf = realloc(buf, cap *= 2);
        memcpy(buf + len, b.tokens, nt), len += nt;
        memcpy(buf + len, b.targets, nt), len += nt;
        memcpy(buf + len, b.pos, nt), len += nt;
        memcpy(buf + len, b.pixels, np), len += np;
        memcpy(buf + len, b.spans, ns), len += ns;
    }
    ld_batch_free(&b);
    ld_close(L);
    ld_image_codec_free(&ic);
    *out = buf;
    return len;
}

static void shard_list(const char *sub, const char *ext, int n, char paths[][600], const char **ptrs) {
    for (int i = 0; i < n; i++) {
        snprintf(paths[i], 600, "%s/%s/shard-%05d.%s", dir, sub, i, ext);
        ptrs[i] = paths[i];
    }
}

static const char *const good[3] = {"a.jpg", "b.png", "c.webp"};

static void test_pairs(void) {
    char p[600], err[4096], args[2048];
    snprintf(p, sizeof p, "%s/pairs.jsonl", dir);
    FILE *f = fopen(p, "w");
    int64_t tokens = 0;
    for (int i = 0; i < 120; i++) {
        char cap[32];
        snprintf(cap, sizeof cap, "caption %d", i * 7);
        fprintf(f, "{\"image\": \"%s\", \"caption\": \"%s\"}\n", i == 33 ? "bad.jpg" : good[i % 3], cap);
        if (i != 33) tokens += 1 + 2 + (int64_t)strlen(cap) + 1;   /* bos, image run, caption bytes, eos */
    }
    fclose(f);
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "--regime pairs --format %s --out %s/%s --shard-size 50 --image-size 24 "
                 "--image-seq-len 2 --summary %s/sum_%s.json %s", k ? "tar" : "h5", dir, k ? "tar" : "h5", dir,
                 k ? "tar" : "h5", p);
        int rc = run_prepare(args, err, sizeof err);
        CHECK(rc == 0, "prepare %s: exit %d: %s", k ? "tar" : "h5", rc, err);
        CHECK(strstr(err, "[line 34]: corrupt_image"), "skip logged with file and key: %s", err);
        char sp[700];
        snprintf(sp, sizeof sp, "%s/sum_%s.json", dir, k ? "tar" : "h5");
        json_error_t je;
        json_t *s = json_load_file(sp, 0, &je);
        CHECK(s != NULL, "summary: %s", je.text);
        if (!s) continue;
        json_t *by = json_object_get(s, "skipped_by_reason");
        CHECK(json_integer_value(json_object_get(s, "samples")) == 119 &&
                  json_integer_value(json_object_get(s, "images")) == 119 &&
                  json_integer_value(json_object_get(s, "tokens")) == tokens &&
                  json_integer_value(json_object_get(s, "skipped")) == 1 &&
                  json_integer_value(json_object_get(by, "corrupt_image")) == 1 &&
                  json_integer_value(json_object_get(s, "shards")) == 3,
              "summary counts (tokens want %lld)", (long long)tokens);
        json_decref(s);
    }
    char hp[3][600], tp[3][600];
    const char *h[3], *t[3], *j[1] = {p};
    shard_list("h5", "h5", 3, hp, h);
    shard_list("tar", "tar", 3, tp, t);
    uint8_t *a, *b, *c;
    size_t na = load_all(LD_PAIRS, j, 1, &a), nb = load_all(LD_PAIRS, h, 3, &b), nc = load_all(LD_PAIRS, t, 3, &c);
    CHECK(na > 0 && na == nb && na == nc, "sizes %zu %zu %zu", na, nb, nc);
    CHECK(na == nb && !memcmp(a, b, na), "HDF5 shards give other batches than the JSONL");
    CHECK(na == nc && !memcmp(a, c, na), "tar shards give other batches than the JSONL");
    free(a);
    free(b);
    free(c);

    /* h5 -> h5 copies records, so the inputs must match the run: a 32 px run refuses 24 px shards */
    snprintf(args, sizeof args, "--regime pairs --format h5 --out %s/h5b --image-size 32 --image-seq-len 2 %s", dir, hp[0]);
    int rc0 = run_prepare(args, err, sizeof err);
    CHECK(rc0 == 1 && strstr(err, "stale shard: image_size 24, the run's encoder wants 32"), "exit %d: %s", rc0, err);

    /* over the limit: 3 of 122 */
    f = fopen(p, "a");
    fprintf(f, "{\"image\": \"bad.jpg\", \"caption\": \"x\"}\n{\"image\": \"trunc.jpg\", \"caption\": \"y\"}\n");
    fclose(f);
    snprintf(args, sizeof args, "--regime pairs --out %s/over --image-size 24 %s", dir, p);
    int rc = run_prepare(args, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "skipped 3 of 122 records (2.46%), more than the allowed 1.00%"), "exit %d: %s", rc, err);
}

static void test_mmc4(void) {
    char p[600], err[4096], args[2048];
    snprintf(p, sizeof p, "%s/mmc4.jsonl", dir);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 6; i++)
        fprintf(f, "{\"text_list\": [\"first %d\", \"second\", \"third\"], \"image_info\": ["
                   "{\"image_name\": \"%s\", \"matched_text_index\": 2}, {\"image_name\": \"%s\", \"matched_text_index\": 0}]}\n",
                i, good[i % 3], good[(i + 1) % 3]);
    fclose(f);
    snprintf(args, sizeof args, "--regime interleaved --out %s/mmc4 --shard-size 4 --image-size 24 --image-seq-len 2 %s",
             dir, p);
    int rc = run_prepare(args, err, sizeof err);
    CHECK(rc == 0, "exit %d: %s", rc, err);
    char tp[2][600];
    const char *t[2], *j[1] = {p};
    shard_list("mmc4", "tar", 2, tp, t);
    uint8_t *a, *b;
    size_t na = load_all(LD_INTERLEAVED, j, 1, &a), nb = load_all(LD_INTERLEAVED, t, 2, &b);
    CHECK(na > 0 && na == nb && !memcmp(a, b, na), "interleaved tar differs from the JSONL (%zu vs %zu bytes)", na, nb);
    free(a);
    free(b);
}

static void test_usage(void) {
    char err[4096];
    CHECK(run_prepare("--regime nope --out x y", err, sizeof err) == 2 && strstr(err, "unknown --regime"), "%s", err);
    CHECK(run_prepare("--regime pairs x", err, sizeof err) == 2 && strstr(err, "missing --out"), "%s", err);
    CHECK(run_prepare("--regime pairs --out", err, sizeof err) == 2 && strstr(err, "needs a value"), "%s", err);
}

static void all(void) {
    const char *r = getenv("VLMC_SOURCE_DIR");
    snprintf(src_root, sizeof src_root, "%s", r ? r : ".");
    fx_tmpdir(dir, sizeof dir, "prep");
    copy_image("rgb_101x67.jpg", "a.jpg");
    copy_image("p_29x31.png", "b.png");
    copy_image("rgb_47x35_lossy.webp", "c.webp");
    copy_image("not_an_image.jpg", "bad.jpg");
    copy_image("truncated.jpg", "trunc.jpg");
    test_pairs();
    test_mmc4();
    test_usage();
    fx_rmtree(dir);
}

TEST_MAIN({"prepare", all})
