/* tests/data/test_ld_real.c — the loader with the real codecs: tokenizer.json
 * (data/tokenizer.h) and JPEG/PNG decoding + CLIP preprocessing
 * (data/image.h), against references from Python: ids from `tokenizers`, pixels
 * from transformers' CLIPImageProcessor (tests/golden/make_loader.py).
 * A tar shard holds a JPEG sample, a PNG sample, a file that is not an image
 * and a truncated JPEG; the last two are skipped as corrupt_image. */
#include <jansson.h>

#include "data/loader.h"
#include "data/tokenizer.h"
#include "ld_fixtures.h"
#include "test.h"

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* Opens a pairs loader over one tar shard in file order and takes its first batch. */
static int first_batch(const char *shard, const LdTextCodec *tc, const LdImageCodec *ic, int T, int rows,
                       LdLoader **L, LdBatch *b, VStatus *st) {
    const char *sh[1] = {shard};
    LdSource src = {sh, 1, NULL, 1.0};
    LdLoaderOpts o = {.regime = LD_PAIRS, .sources = &src, .n_sources = 1, .text = tc, .image = ic, .T = T,
                      .global_rows = rows, .seed = 1, .shuffle_buffer = 1, .keep_shard_order = 1, .epochs = 1,
                      .max_skip_frac = -1};
    int done = 0;
    if (ld_open(&o, L, st)) return 1;
    if (ld_next(*L, b, &done, st)) return 1;
    return done ? vs_set(st, VS_EINVAL, "%s: no batch", shard) : 0;
}

static void test_real(void) {
    const char *root = getenv("VLMC_SOURCE_DIR");
    char p[1024], dir[256];
    if (!root) root = ".";
    fx_tmpdir(dir, sizeof dir, "real");
    VStatus st = {0};
    snprintf(p, sizeof p, "%s/tests/golden/tok/llama2.json", root);
    Tokenizer *tok = tok_load(p, &st);
    CHECK(tok != NULL, "%s", st.msg);
    if (!tok) return;
    snprintf(p, sizeof p, "%s/tests/golden/loader/pairs_llama2.json", root);
    json_error_t je;
    json_t *g = json_load_file(p, 0, &je);
    CHECK(g != NULL, "%s: %s", p, je.text);
    if (!g) return;
    LdTextCodec tc;
    LdImageCodec ic;
    CHECK(ld_text_codec(tok, "chatml", 3, &tc, &st) == 0, "%s", st.msg);
    CHECK(ld_image_codec("clip", 24, 0, &ic, &st) == 0, "%s", st.msg);
    CHECK(tc.image_token == json_integer_value(json_object_get(g, "image_id")), "image id %d", tc.image_token);
    CHECK(tc.bos == json_integer_value(json_object_get(g, "bos")) && tc.eos == json_integer_value(json_object_get(g, "eos")),
          "bos %d eos %d", tc.bos, tc.eos);

    const char *imgs[4] = {"rgb_101x67.jpg", "p_29x31.png", "not_an_image.jpg", "truncated_prog.jpg"};
    uint8_t *data[4];
    size_t len[4];
    FxMember m[8];
    char names[8][32];
    json_t *samples = json_object_get(g, "samples");
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/tests/golden/images/%s", root, imgs[i]);
        data[i] = slurp(p, &len[i]);
        CHECK(data[i] != NULL, "%s", p);
        snprintf(names[2 * i], 32, "k%d.%s", i, strrchr(imgs[i], '.') + 1);
        snprintf(names[2 * i + 1], 32, "k%d.txt", i);
        const char *cap = json_string_value(json_object_get(json_array_get(samples, (size_t)(i % 2)), "caption"));
        m[2 * i] = (FxMember){names[2 * i], data[i], len[i]};
        m[2 * i + 1] = (FxMember){names[2 * i + 1], cap, strlen(cap)};
    }
    snprintf(p, sizeof p, "%s/real.tar", dir);
    fx_tar(p, m, 8);
    LdLoader *L = NULL;
    LdBatch b = {0};
    int done = 0;
    CHECK(first_batch(p, &tc, &ic, 64, 2, &L, &b, &st) == 0, "%s", st.msg);
    /* expected: per sample [bos] + 3 x <image> + caption ids + [eos], packed in order */
    int32_t want[128];
    int n = 0, doc_start[2];
    for (int i = 0; i < 2; i++) {
        json_t *ids = json_object_get(json_array_get(samples, (size_t)i), "ids");
        doc_start[i] = n;
        want[n++] = tc.bos;
        for (int k = 0; k < 3; k++) want[n++] = tc.image_token;
        for (size_t k = 0; k < json_array_size(ids); k++) want[n++] = (int32_t)json_integer_value(json_array_get(ids, k));
        want[n++] = tc.eos;
    }
    CHECK(n <= 64, "fixture too long");
    int row_ok = 1;
    for (int t = 0; t < n; t++) row_ok &= b.tokens[t] == want[t];
    CHECK(row_ok, "row 0 differs from the tokenizers ids");
    CHECK(b.n_img == 2 && b.n_span == 2 && b.spans[1].start == doc_start[1] + 1, "spans");
    for (int i = 0; i < 2 && b.n_img == 2; i++) {
        snprintf(p, sizeof p, "%s/tests/golden/loader/%s.clip24.f32", root, imgs[i]);
        size_t nb = 0;
        float *ref = (float *)slurp(p, &nb);
        CHECK(ref && nb == 3 * 24 * 24 * sizeof(float), "%s", p);
        double mx = 0;
        long nd = 0;
        for (int k = 0; ref && k < 3 * 24 * 24; k++) {
            double d = fabs((double)b.pixels[(size_t)i * 3 * 576 + k] - ref[k]);
            if (d > mx) mx = d;
            nd += d != 0;
        }
        /* same tolerance as the image module's golden test: Pillow-exact uint8
         * and the processor's float arithmetic -> bit-identical expected */
        CHECK(mx <= 1e-6, "%s: max |diff| %g", imgs[i], mx);
        printf("  %s: max |diff| vs CLIPImageProcessor %.3g, %ld of %d floats differ\n", imgs[i], mx, nd, 3 * 576);
        free(ref);
    }
    CHECK(ld_next(L, &b, &done, &st) == 0 && done, "one batch only");
    LdStats s = ld_stats(L);
    CHECK(s.seen == 4 && s.by_reason[LD_SKIP_CORRUPT_IMAGE] == 2, "seen %lld corrupt %lld", (long long)s.seen,
          (long long)s.by_reason[LD_SKIP_CORRUPT_IMAGE]);
    ld_batch_free(&b);
    ld_close(L);
    for (int i = 0; i < 4; i++) free(data[i]);
    json_decref(g);
    ld_text_codec_free(&tc);
    ld_image_codec_free(&ic);
    tok_free(tok);
    fx_rmtree(dir);
}

/* place tags: a pairs sample renders [bos] + (tag_k, <image>) for k < 4 +
 * caption + [eos], tags of one special token ("<row_1_col_1>", the
 * tokenizer's next ids) or of words; the span covers the run from tag 0. */
static void test_tagged(void) {
    const char *root = getenv("VLMC_SOURCE_DIR");
    char p[1024], dir[256];
    if (!root) root = ".";
    fx_tmpdir(dir, sizeof dir, "tagged");
    VStatus st = {0};
    snprintf(p, sizeof p, "%s/tests/golden/tok/llama2.json", root);
    Tokenizer *tok = tok_load(p, &st);
    CHECK(tok != NULL, "%s", st.msg);
    if (!tok) return;
    LdTextCodec tc, plain;
    LdImageCodec ic;
    CHECK(ld_add_image_specials(tok, 3, 2, &st) != 0 && strstr(st.msg, "2 x 2"), "3 tokens: %s", st.msg);
    CHECK(ld_text_codec(tok, "llava_v1", 4, &plain, &st) == 0, "%s", st.msg);
    int32_t v0 = tok_vocab_size(tok);
    CHECK(ld_add_image_specials(tok, 4, 2, &st) == 0, "%s", st.msg);
    /* the grid's special tokens, then words ("left", "right") of one and two tokens */
    char nm[4][32];
    const char *tags[4] = {ld_grid_tag(0, 2, nm[0], 32), ld_grid_tag(1, 2, nm[1], 32), " left", " top right"};
    CHECK(ld_text_codec_tagged(tok, "llava_v1", 4, tags, &tc, &st) == 0, "%s", st.msg);
    CHECK(ld_image_codec("clip", 24, 0, &ic, &st) == 0, "%s", st.msg);
    CHECK(tc.image_token == plain.image_token && tc.hash != plain.hash, "hash must tell tagged shards apart");
    CHECK(!strcmp(nm[0], "<row_1_col_1>") && !strcmp(nm[1], "<row_1_col_2>"), "names %s %s", nm[0], nm[1]);
    TokIds w2 = {0}, w3 = {0};
    CHECK(tok_encode(tok, tags[2], strlen(tags[2]), 0, &w2, &st) == 0 &&
              tok_encode(tok, tags[3], strlen(tags[3]), 0, &w3, &st) == 0 && w3.n >= 2,
          "%s", st.msg);
    CHECK(tc.tag_off[1] == 1 && tc.tag_off[2] == 2 && tc.tag_ids[0] == v0 && tc.tag_ids[1] == v0 + 1 &&
              tc.tag_off[4] == 2 + (int32_t)(w2.n + w3.n),
          "tag offsets %d %d %d %d", tc.tag_off[1], tc.tag_off[2], tc.tag_off[3], tc.tag_off[4]);
    snprintf(p, sizeof p, "%s/tests/golden/images/p_29x31.png", root);
    size_t n = 0;
    uint8_t *png = slurp(p, &n);
    CHECK(png != NULL, "%s", p);
    const char *cap = "a red circle";
    FxMember m[2] = {{"k0.png", png, n}, {"k0.txt", cap, strlen(cap)}};
    snprintf(p, sizeof p, "%s/tagged.tar", dir);
    fx_tar(p, m, 2);
    LdLoader *L = NULL;
    LdBatch b = {0};
    CHECK(first_batch(p, &tc, &ic, 32, 1, &L, &b, &st) == 0, "%s", st.msg);
    TokIds ci = {0};
    CHECK(tok_encode(tok, cap, strlen(cap), 0, &ci, &st) == 0, "%s", st.msg);
    int32_t want[40];
    int w = 0;
    want[w++] = tc.bos;
    for (int k = 0; k < 4; k++) {
        for (int32_t j = tc.tag_off[k]; j < tc.tag_off[k + 1]; j++) want[w++] = tc.tag_ids[j];
        want[w++] = tc.image_token;
    }
    int run = w - 1;
    for (size_t k = 0; k < ci.n && w < 39; k++) want[w++] = ci.ids[k];
    want[w++] = tc.eos;
    int ok = 1;
    for (int t = 0; t < w; t++) ok &= b.tokens[t] == want[t];
    CHECK(ok, "tagged row differs");
    CHECK(b.n_img == 1 && b.n_span == 1 && b.spans[0].start == 1 && b.spans[0].len == run, "span (%d, %d), want (1, %d)",
          b.n_span ? b.spans[0].start : -1, b.n_span ? b.spans[0].len : -1, run);
    /* a chat render with the same tags parses into the same run; a render without them is refused */
    LdSeq q = {0};
    LdChatMsg msg[2] = {{LD_USER, "What is it?", 1, 0, NULL}, {LD_ASSISTANT, "a circle", 0, 0, NULL}};
    CHECK(tc.render_chat(tc.ctx, msg, 2, tc.image_token, 4, &q.tok, &q.loss, &st) == 0, "%s", st.msg);
    CHECK(ld_fmt_find_runs(&q, &tc, 1, &st) == 0 && q.n_runs == 1 && q.runs[0].len == run, "%s", st.msg);
    LdSeq q2 = {0};
    CHECK(plain.render_chat(plain.ctx, msg, 2, plain.image_token, 4, &q2.tok, &q2.loss, &st) == 0, "%s", st.msg);
    CHECK(ld_fmt_find_runs(&q2, &tc, 1, &st) != 0 && strstr(st.msg, "tagged layout"), "untagged render: %s", st.msg);
    printf("  untagged render with a tagged codec -> %s\n", st.msg);
    free(q.tok.v); free(q.loss.v); free(q.runs);
    free(q2.tok.v); free(q2.loss.v); free(q2.runs);
    tok_ids_free(&w2);
    tok_ids_free(&w3);
    int no_loss = 1;
    for (int t = 0; t < run; t++) no_loss &= b.targets[t] == -1 || t == run;
    CHECK(no_loss, "targets inside the image run");
    printf("  tagged pairs row: %d tokens, span at %d of %d tokens\n", w, b.spans[0].start, b.spans[0].len);
    tok_ids_free(&ci);
    ld_batch_free(&b);
    ld_close(L);
    free(png);
    ld_text_codec_free(&tc);
    ld_text_codec_free(&plain);
    ld_image_codec_free(&ic);
    tok_free(tok);
    fx_rmtree(dir);
}

TEST_MAIN({"real_codecs", test_real}, {"tagged", test_tagged})
