/* tests/data/test_fmt.c — exact rows per regime, through the whole loader.
 *
 * Each case writes a small JSONL (or JSON) file plus TIMG images, runs the
 * loader in file order (keep_shard_order, no shuffle buffer, one rank) with
 * the byte codec (id = byte, image 256, bos 257, eos 258, pad 259, role
 * 260 + role; chat: [role] images text [eos]) and compares tokens, targets,
 * pos, doc, spans and docs with rows written out by hand from those rules. */
#include "data/loader.h"
#include "ld_fixtures.h"
#include "test.h"

enum { IM = 256, BOS = 257, EOS = 258, PAD = 259, SYS = 260, USR = 261, AST = 262 };

static char dir[256];

static const char *image_root;   /* NULL: the shard's folder */

static int run_first(LdRegime regime, const char *file, const char *body, int T, int rows, LdBatch *b, LdStats *stats) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    fx_write_str(path, body);
    const char *shards[1] = {path};
    LdSource src = {shards, 1, image_root, 1.0};
    LdTextCodec tc = ld_codec_bytes(2);
    LdImageCodec ic = timg_codec(4);
    LdLoaderOpts o = {.regime = regime, .sources = &src, .n_sources = 1, .text = &tc, .image = &ic, .T = T,
                      .global_rows = rows, .world = 1, .seed = 7, .shuffle_buffer = 1, .keep_shard_order = 1,
                      .epochs = 1, .workers = 2, .max_skip_frac = -1};
    LdLoader *L;
    VStatus st = {0};
    int done = 0, rc = ld_open(&o, &L, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (rc == 0) rc = ld_next(L, b, &done, &st);
    CHECK(rc == 0 && !done, "%s", st.msg);
    if (stats) {
        LdBatch rest = {0};
        while (!rc && !done) rc = ld_next(L, &rest, &done, &st);
        *stats = ld_stats(L);
        ld_batch_free(&rest);
    }
    ld_close(L);
    return rc;
}

/* compares one row (n leading values; the rest must be padding) */
static void check_row(const LdBatch *b, int r, const int32_t *tok, const int32_t *tgt, const int32_t *pos,
                      const int32_t *doc, int n, const char *what) {
    for (int t = 0; t < b->T; t++) {
        size_t i = (size_t)r * b->T + t;
        int32_t et = t < n ? tok[t] : PAD, eg = t < n ? tgt[t] : -1, ep = t < n ? pos[t] : 0, ed = t < n ? doc[t] : -1;
        CHECK(b->tokens[i] == et && b->targets[i] == eg && b->pos[i] == ep && b->doc[i] == ed,
              "%s row %d t %d: tok %d tgt %d pos %d doc %d, want %d %d %d %d", what, r, t, b->tokens[i],
              b->targets[i], b->pos[i], b->doc[i], et, eg, ep, ed);
    }
}

static void write_images(void) {
    char p[512];
    const char *names[3] = {"a.timg", "b.timg", "c.timg"};
    for (int i = 0; i < 3; i++) {
        uint8_t im[5] = {'T', 'I', 'M', 'G', (uint8_t)(10 * (i + 1))};
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        fx_write(p, im, 5);
    }
}

static void test_pairs(void) {
    LdBatch b = {0};
    LdStats s;
    run_first(LD_PAIRS, "pairs.jsonl",
              "{\"image\": \"a.timg\", \"caption\": \"ab\"}\n"
              "{\"image\": \"b.timg\", \"caption\": \"xyz\"}\n"
              "{\"image\": \"a.timg\", \"caption\": \"this caption is far longer than a row\"}\n",
              16, 1, &b, &s);
    int32_t tok[] = {BOS, IM, IM, 'a', 'b', EOS, BOS, IM, IM, 'x', 'y', 'z', EOS};
    int32_t tgt[] = {-1, -1, 'a', 'b', EOS, -1, -1, -1, 'x', 'y', 'z', EOS, -1};
    int32_t pos[] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6};
    int32_t doc[] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1};
    CHECK(b.B == 1 && b.T == 16, "values differ");
    check_row(&b, 0, tok, tgt, pos, doc, 13, "pairs");
    CHECK(b.n_img == 2 && b.n_span == 2 && b.S == 4, "values differ");
    CHECK(b.spans[0].img == 0 && b.spans[0].row == 0 && b.spans[0].start == 1 && b.spans[0].len == 2, "values differ");
    CHECK(b.spans[1].img == 1 && b.spans[1].row == 0 && b.spans[1].start == 7 && b.spans[1].len == 2, "values differ");
    CHECK(b.n_docs == 2 && b.docs[0].index == 0 && b.docs[1].index == 1 && b.docs[0].part == 0, "values differ");
    CHECK(b.n_loss == 7, "%lld", (long long)b.n_loss);
    CHECK(b.pair[0] == -1, "values differ");
    /* pixel (c, y, x) of image 1 = ((v or x or y) / 255 - 0.5) / 0.5; v = 20 for b.timg.
     * Exact float expression, same rounding: tolerance 0. */
    float want0 = (20.0f * (1.0f / 255.0f) - 0.5f) / 0.5f, want1 = (3.0f * (1.0f / 255.0f) - 0.5f) / 0.5f;
    CHECK(b.pixels[16 * 3 + 0] == want0, "%g vs %g", b.pixels[48], want0);
    CHECK(b.pixels[16 * 3 + 16 + 3] == want1, "x channel at (0, 3)");
    /* the 3rd record (> 16 tokens, pairs do not split) is skipped and counted */
    CHECK(s.seen == 3 && s.skipped == 1 && s.by_reason[LD_SKIP_TOO_LONG] == 1, "values differ");
    ld_batch_free(&b);
}

static void test_instruct(void) {
    LdBatch b = {0};
    run_first(LD_INSTRUCT, "instr.jsonl", "{\"image\": \"a.timg\", \"question\": \"q\", \"answer\": \"A\"}\n", 10, 1,
              &b, NULL);
    int32_t tok[] = {USR, IM, IM, 'q', EOS, AST, 'A', EOS};
    int32_t tgt[] = {-1, -1, -1, -1, -1, 'A', EOS, -1};
    int32_t pos[] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t doc[] = {0, 0, 0, 0, 0, 0, 0, 0};
    check_row(&b, 0, tok, tgt, pos, doc, 8, "instruct");
    CHECK(b.n_span == 1 && b.spans[0].start == 1, "values differ");
    ld_batch_free(&b);
    /* an "<image>" marker (and the newline after it) places the image where it stands */
    run_first(LD_INSTRUCT, "instr_at.jsonl",
              "{\"image\": \"a.timg\", \"question\": \"qr<image>\\ns\", \"answer\": \"A\"}\n", 12, 1, &b, NULL);
    int32_t tok2[] = {USR, 'q', 'r', IM, IM, 's', EOS, AST, 'A', EOS};
    int32_t tgt2[] = {-1, -1, -1, -1, -1, -1, -1, 'A', EOS, -1};
    int32_t pos2[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int32_t doc2[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    check_row(&b, 0, tok2, tgt2, pos2, doc2, 10, "instruct, marker");
    CHECK(b.n_span == 1 && b.spans[0].start == 3 && b.spans[0].len == 2, "span at %d", b.spans[0].start);
    ld_batch_free(&b);
    /* one marker per image: each image where its marker stands */
    run_first(LD_INSTRUCT, "instr_2i.jsonl",
              "{\"images\": [\"a.timg\", \"b.timg\"], \"question\": \"q<image>r<image>\", \"answer\": \"A\"}\n", 14,
              1, &b, NULL);
    int32_t tok4[] = {USR, 'q', IM, IM, 'r', IM, IM, EOS, AST, 'A', EOS};
    int32_t tgt4[] = {-1, -1, -1, -1, -1, -1, -1, -1, 'A', EOS, -1};
    int32_t pos4[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    int32_t doc4[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    check_row(&b, 0, tok4, tgt4, pos4, doc4, 11, "instruct, two markers");
    CHECK(b.n_span == 2 && b.spans[0].start == 2 && b.spans[1].start == 5, "spans at %d, %d", b.spans[0].start,
          b.spans[1].start);
    ld_batch_free(&b);
    /* two markers for one image: refused, named */
    LdStats s;
    run_first(LD_INSTRUCT, "instr_2m.jsonl",
              "{\"image\": \"a.timg\", \"question\": \"<image>q<image>\", \"answer\": \"A\"}\n"
              "{\"image\": \"a.timg\", \"question\": \"q\", \"answer\": \"A\"}\n", 10, 1, &b, &s);
    CHECK(s.seen == 2 && s.skipped == 1 && s.by_reason[LD_SKIP_BAD_SAMPLE] == 1, "seen %lld skipped %lld",
          (long long)s.seen, (long long)s.skipped);
    ld_batch_free(&b);
}

static void test_sft(void) {
    LdBatch b = {0};
    /* a LLaVA conversation with an image, then a text-only OpenAI-style one */
    run_first(LD_SFT, "sft.json",
              "[{\"image\": \"a.timg\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nhi\"},"
              " {\"from\": \"gpt\", \"value\": \"yo\"}]},\n"
              " {\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\":"
              " [{\"type\": \"text\", \"text\": \"u\"}]}, {\"role\": \"assistant\", \"content\": \"a\"}]}]",
              20, 1, &b, NULL);
    int32_t tok[] = {USR, IM, IM, 'h', 'i', EOS, AST, 'y', 'o', EOS, SYS, 's', EOS, USR, 'u', EOS, AST, 'a', EOS};
    int32_t tgt[] = {-1, -1, -1, -1, -1, -1, 'y', 'o', EOS, -1, -1, -1, -1, -1, -1, -1, 'a', EOS, -1};
    int32_t pos[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    int32_t doc[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    check_row(&b, 0, tok, tgt, pos, doc, 19, "sft");
    CHECK(b.n_img == 1 && b.n_span == 1 && b.spans[0].start == 1, "values differ");
    ld_batch_free(&b);
    /* two markers in one message: each image where its marker stands; then
     * OpenAI content parts text, image, text: the image between the texts */
    run_first(LD_SFT, "sft_multi.json",
              "[{\"images\": [\"a.timg\", \"b.timg\"], \"conversations\": [{\"from\": \"human\", \"value\":"
              " \"<image>\\nA<image>B\"}, {\"from\": \"gpt\", \"value\": \"y\"}]},\n"
              " {\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"x\"},"
              " {\"type\": \"image\", \"image\": \"c.timg\"}, {\"type\": \"text\", \"text\": \"z\"}]},"
              " {\"role\": \"assistant\", \"content\": \"a\"}]}]",
              24, 1, &b, NULL);
    int32_t tok3[] = {USR, IM, IM, 'A', IM, IM, 'B', EOS, AST, 'y', EOS, USR, 'x', IM, IM, 'z', EOS, AST, 'a', EOS};
    int32_t tgt3[] = {-1, -1, -1, -1, -1, -1, -1, -1, 'y', EOS, -1, -1, -1, -1, -1, -1, -1, 'a', EOS, -1};
    int32_t pos3[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    int32_t doc3[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    check_row(&b, 0, tok3, tgt3, pos3, doc3, 20, "sft, several markers and content parts");
    CHECK(b.n_img == 3 && b.n_span == 3, "%d images, %d spans", b.n_img, b.n_span);
    CHECK(b.spans[0].img == 0 && b.spans[0].start == 1 && b.spans[1].img == 1 && b.spans[1].start == 4 &&
              b.spans[2].img == 2 && b.spans[2].start == 13,
          "spans (img, start): (%d, %d) (%d, %d) (%d, %d)", b.spans[0].img, b.spans[0].start, b.spans[1].img,
          b.spans[1].start, b.spans[2].img, b.spans[2].start);
    ld_batch_free(&b);
}

static void test_dpo(void) {
    LdBatch b = {0};
    run_first(LD_DPO, "dpo.jsonl", "{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"rr\", \"images\": [\"a.timg\"]}\n",
              10, 2, &b, NULL);
    int32_t tc[] = {USR, IM, IM, 'p', EOS, AST, 'c', EOS};
    int32_t gc[] = {-1, -1, -1, -1, -1, 'c', EOS, -1};
    int32_t tr[] = {USR, IM, IM, 'p', EOS, AST, 'r', 'r', EOS};
    int32_t gr[] = {-1, -1, -1, -1, -1, 'r', 'r', EOS, -1};
    int32_t pos[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    int32_t doc[] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(b.B == 2, "values differ");
    check_row(&b, 0, tc, gc, pos, doc, 8, "chosen");
    check_row(&b, 1, tr, gr, pos, doc, 9, "rejected");
    CHECK(b.pair[0] == 0 && b.pair[1] == 0, "values differ");
    /* one image, referenced by both rows */
    CHECK(b.n_img == 1 && b.n_span == 2, "values differ");
    CHECK(b.spans[0].img == 0 && b.spans[0].row == 0 && b.spans[0].start == 1, "values differ");
    CHECK(b.spans[1].img == 0 && b.spans[1].row == 1 && b.spans[1].start == 1, "values differ");
    ld_batch_free(&b);
}

static void test_interleaved(void) {
    LdBatch b = {0};
    /* OBELICS, then MMC4 with two images matched to the same sentence */
    run_first(LD_INTERLEAVED, "inter.jsonl",
              "{\"texts\": [\"ab\", null, \"c\"], \"images\": [null, \"a.timg\", null]}\n"
              "{\"text_list\": [\"ab\", \"c\"], \"image_info\": [{\"image_name\": \"b.timg\", \"matched_text_index\": 1},"
              " {\"image_name\": \"c.timg\", \"matched_text_index\": 1}]}\n",
              12, 2, &b, NULL);   /* 7 + 9 tokens > 12: one document per row */
    int32_t t0[] = {BOS, 'a', 'b', IM, IM, 'c', EOS};
    int32_t g0[] = {'a', 'b', -1, -1, 'c', EOS, -1};
    int32_t p0[] = {0, 1, 2, 3, 4, 5, 6};
    int32_t d0[] = {0, 0, 0, 0, 0, 0, 0};
    int32_t t1[] = {BOS, 'a', 'b', IM, IM, IM, IM, 'c', EOS};
    int32_t g1[] = {'a', 'b', -1, -1, -1, -1, 'c', EOS, -1};
    int32_t p1[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    int32_t d1[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    check_row(&b, 0, t0, g0, p0, d0, 7, "obelics");
    check_row(&b, 1, t1, g1, p1, d1, 9, "mmc4");
    CHECK(b.n_img == 3 && b.n_span == 3, "values differ");
    CHECK(b.spans[1].row == 1 && b.spans[1].start == 3 && b.spans[2].row == 1 && b.spans[2].start == 5, "values differ");
    /* images in document order: b.timg (v=20) then c.timg (v=30) */
    CHECK(b.pixels[(size_t)b.spans[1].img * 48] == (20.0f * (1.0f / 255.0f) - 0.5f) / 0.5f, "values differ");
    CHECK(b.pixels[(size_t)b.spans[2].img * 48] == (30.0f * (1.0f / 255.0f) - 0.5f) / 0.5f, "values differ");
    ld_batch_free(&b);
}

static void test_split(void) {
    LdBatch b = {0};
    /* 16 tokens, rows of 8: cuts at the image-run edges 7 and 13, never dropped */
    run_first(LD_INTERLEAVED, "long.jsonl",
              "{\"texts\": [\"abcd\", null, \"efgh\", null, \"ij\"], \"images\": [null, \"a.timg\", null, \"b.timg\", null]}\n"
              "{\"texts\": [\"abcdefghijkl\"], \"images\": [null]}\n",
              8, 5, &b, NULL);
    int32_t t0[] = {BOS, 'a', 'b', 'c', 'd', IM, IM}, g0[] = {'a', 'b', 'c', 'd', -1, -1, -1};
    int32_t t1[] = {'e', 'f', 'g', 'h', IM, IM}, g1[] = {'f', 'g', 'h', -1, -1, -1};
    int32_t t2[] = {'i', 'j', EOS}, g2[] = {'j', EOS, -1};
    /* a text longer than a row with no image inside is cut at T */
    int32_t t3[] = {BOS, 'a', 'b', 'c', 'd', 'e', 'f', 'g'}, g3[] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', -1};
    int32_t t4[] = {'h', 'i', 'j', 'k', 'l', EOS}, g4[] = {'i', 'j', 'k', 'l', EOS, -1};
    int32_t pos[] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t d0[8] = {0, 0, 0, 0, 0, 0, 0, 0}, d1[8] = {1, 1, 1, 1, 1, 1, 1, 1}, d2[8] = {2, 2, 2, 2, 2, 2, 2, 2};
    int32_t d3[8] = {3, 3, 3, 3, 3, 3, 3, 3}, d4[8] = {4, 4, 4, 4, 4, 4, 4, 4};
    check_row(&b, 0, t0, g0, pos, d0, 7, "piece 0");
    check_row(&b, 1, t1, g1, pos, d1, 6, "piece 1");
    check_row(&b, 2, t2, g2, pos, d2, 3, "piece 2");
    check_row(&b, 3, t3, g3, pos, d3, 8, "text piece 0");
    check_row(&b, 4, t4, g4, pos, d4, 6, "text piece 1");
    CHECK(b.n_docs == 5, "values differ");
    for (int i = 0; i < 3; i++) CHECK(b.docs[i].index == 0 && b.docs[i].part == i, "doc %d", i);
    CHECK(b.docs[3].index == 1 && b.docs[3].part == 0 && b.docs[4].part == 1, "values differ");
    CHECK(b.n_span == 2 && b.spans[0].row == 0 && b.spans[0].start == 5 && b.spans[1].row == 1 &&
          b.spans[1].start == 4, "values differ");
    ld_batch_free(&b);
}

static void test_llava_root(void) {
    /* LLaVA JSON in its own folder, images under a separate root */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/meta", dir);
    mkdir(sub, 0755);
    image_root = dir;
    LdBatch b = {0};
    LdStats s;
    run_first(LD_SFT, "meta/llava.json",
              "[{\"id\": \"x\", \"image\": \"b.timg\", \"conversations\": [{\"from\": \"human\", \"value\": "
              "\"q<image>\"}, {\"from\": \"gpt\", \"value\": \"a\"}, {\"from\": \"human\", \"value\": \"r\"}, "
              "{\"from\": \"gpt\", \"value\": \"b\"}]}]",
              24, 1, &b, &s);
    image_root = NULL;
    /* the marker's images go where it stands (after "q"); two assistant turns carry loss */
    int32_t tok[] = {USR, 'q', IM, IM, EOS, AST, 'a', EOS, USR, 'r', EOS, AST, 'b', EOS};
    int32_t tgt[] = {-1, -1, -1, -1, -1, 'a', EOS, -1, -1, -1, -1, 'b', EOS, -1};
    int32_t pos[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    int32_t doc[14] = {0};
    check_row(&b, 0, tok, tgt, pos, doc, 14, "llava");
    CHECK(s.skipped == 0 && b.n_img == 1 && b.pixels[0] == (20.0f * (1.0f / 255.0f) - 0.5f) / 0.5f, "image from the root");
    CHECK(b.n_span == 1 && b.spans[0].start == 2, "span at %d", b.spans[0].start);
    ld_batch_free(&b);
}

static void test_bad_fields(void) {
    /* each malformed record is skipped with its reason; the good one stays */
    LdBatch b = {0};
    LdStats s;
    run_first(LD_PAIRS, "bad.jsonl",
              "{\"image\": \"a.timg\", \"caption\": \"ok\"}\n"
              "{\"image\": \"a.timg\"\n"
              "{\"image\": \"missing.timg\", \"caption\": \"x\"}\n"
              "{\"image\": \"../a.timg\", \"caption\": \"x\"}\n"
              "{\"caption\": 3, \"image\": \"a.timg\"}\n",
              16, 1, &b, &s);
    CHECK(s.seen == 5 && s.skipped == 4, "seen %lld skipped %lld", (long long)s.seen, (long long)s.skipped);
    CHECK(s.by_reason[LD_SKIP_BAD_JSON] == 1 && s.by_reason[LD_SKIP_MISSING_IMAGE] == 1 &&
          s.by_reason[LD_SKIP_UNSAFE_NAME] == 1 && s.by_reason[LD_SKIP_BAD_SAMPLE] == 1, "values differ");
    CHECK(b.n_docs == 1 && b.tokens[3] == 'o', "values differ");
    ld_batch_free(&b);
}

static void setup(void) {
    fx_tmpdir(dir, sizeof dir, "fmt");
    write_images();
}

static void all(void) {
    setup();
    test_pairs();
    test_instruct();
    test_sft();
    test_dpo();
    test_interleaved();
    test_split();
    test_llava_root();
    test_bad_fields();
    fx_rmtree(dir);
}

TEST_MAIN({"formats", all})
