/* The shapes world written as shards: every record of every set reads back
 * through the real tar reader and formats with the real formatter (no skip),
 * images are lossless (PNG decode == sh_render, exactly), languages are half
 * English / half Russian, held-out records equal the regenerated items,
 * ensure_dataset is idempotent, bad options fail with a message. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "data/image.h"
#include "data/loader.h"
#include "data/shapes_data.h"
#include "data/shards.h"
#include "test.h"

static char dir[64];

static int has_cyrillic(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s == 0xD0 || (unsigned char)*s == 0xD1) return 1;
    return 0;
}

/* Reads every shard PREFIX-*.tar of dir in order; formats each record with regime. */
static int64_t read_set(const char *prefix, LdRegime regime, int64_t *ru, int64_t *with_img, int64_t *two_seq) {
    LdTextCodec tc = ld_codec_bytes(1);
    LdImageCodec ic;
    VStatus st = {0};
    CHECK(ld_image_codec("clip", SH_SIZE, 0, &ic, &st) == 0, "%s", st.msg);
    int64_t n = 0;
    *ru = *with_img = *two_seq = 0;
    for (int k = 0;; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s-%05d.tar", dir, prefix, k);
        if (access(path, F_OK)) break;
        LdShard *s = NULL;
        CHECK(ld_shard_open(path, NULL, NULL, &s, &st) == 0, "%s", st.msg);
        if (!s) break;
        for (int64_t j = 0; j < ld_shard_count(s); j++, n++) {
            LdRaw raw = {0};
            LdSample smp = {0};
            CHECK(ld_shard_fetch(s, j, &raw, &st) == 0, "%s", st.msg);
            CHECK(raw.skip == 0, "%s record %lld: %s", path, (long long)j, raw.skip_msg);
            int rc = ld_format(regime, &raw, &tc, &ic, &smp, &st);
            CHECK(rc == 0, "%s record %lld: %s", path, (long long)j, st.msg);
            char *js = json_dumps(raw.json, 0);
            *ru += js && has_cyrillic(js);
            free(js);
            *with_img += smp.n_img > 0;
            *two_seq += smp.n_seq == 2;
            /* lossless: the first image member decodes to exactly sh_render of some scene; its
             * background corner pixel is the renderer's grey, and the sample image equals the decode */
            if (raw.n_imgs > 0) {
                Image im = {0};
                CHECK(img_decode(raw.imgs[0].data, raw.imgs[0].n, &(ImgDecodeOpts){0}, &im, &st) == 0, "%s", st.msg);
                CHECK(im.w == SH_SIZE && im.h == SH_SIZE);
                static uint8_t blank[SH_SIZE * SH_SIZE * 3];
                sh_render(NULL, 1, blank);
                CHECK(im.px && memcmp(im.px, blank, 3) == 0, "corner pixel is the background");
                CHECK(smp.n_img > 0 && memcmp(smp.px, im.px, (size_t)SH_SIZE * SH_SIZE * 3) == 0,
                      "64x64 image passes through the codec unchanged");
                img_free(&im);
            }
            ld_sample_free(&smp);
            ld_raw_free(&raw);
        }
        ld_shard_close(s);
    }
    ld_image_codec_free(&ic);
    return n;
}

static void test_sets_read_back(void) {
    ShWriteOpts o = {.out = dir, .seed = 5, .samples = 40, .heldout = 3, .shard_size = 7};
    ShWriteSummary s;
    VStatus st = {0};
    CHECK(sh_write_dataset(&o, &s, &st) == 0, "%s", st.msg);
    CHECK(s.pairs == 40 && s.interleaved == 10 && s.instruct == 40 && s.sft == 20 && s.sft_text == 5 && s.dpo == 10);
    CHECK(s.heldout == 3 * SH_NQTYPES * SH_NLANGS && s.heldout_text == 3 * SH_NLANGS);
    int64_t ru, img, two;
    CHECK(read_set("pairs", LD_PAIRS, &ru, &img, &two) == 40 && ru == 20 && img == 40, "pairs ru %lld", (long long)ru);
    CHECK(read_set("interleaved", LD_INTERLEAVED, &ru, &img, &two) == 10 && ru == 5 && img == 10);
    CHECK(read_set("instruct", LD_INSTRUCT, &ru, &img, &two) == 40 && img == 40);
    CHECK(ru >= 16 && ru <= 24, "instruct: %lld of 40 Russian", (long long)ru);
    CHECK(read_set("sft", LD_SFT, &ru, &img, &two) == 25 && img == 20, "sft: 20 image chats, 5 text-only (img %lld)",
          (long long)img);
    CHECK(read_set("dpo", LD_DPO, &ru, &img, &two) == 10 && two == 10 && ru == 5);
    CHECK(read_set("heldout", LD_INSTRUCT, &ru, &img, &two) == 36 && img == 30, "img %lld", (long long)img);
    CHECK(s.repeat == 80 && read_set("repeat", LD_INSTRUCT, &ru, &img, &two) == 80 && img == 0 && ru == 40,
          "repeat: 80 text-only instructions, half Russian (ru %lld)", (long long)ru);
}

/* heldout records equal the regenerated items (what the demo's evaluator uses) */
static void test_heldout_matches(void) {
    VStatus st = {0};
    int type_hist[SH_NQTYPES] = {0}, item = 0;
    for (int k = 0;; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s/heldout-%05d.tar", dir, k);
        if (access(path, F_OK)) break;
        LdShard *s = NULL;
        CHECK(ld_shard_open(path, NULL, NULL, &s, &st) == 0, "%s", st.msg);
        if (!s) return;
        for (int64_t j = 0; j < ld_shard_count(s); j++, item++) {
            LdRaw raw = {0};
            CHECK(ld_shard_fetch(s, j, &raw, &st) == 0, "%s", st.msg);
            ShScene sc;
            ShQuestion q;
            ShLang l;
            int text_only = item >= 30;
            if (text_only) sh_heldout_text_item(5, item - 30, &q, &l);
            else sh_heldout_item(5, item, &sc, &q, &l);
            CHECK(!strcmp(json_string_value(json_object_get(raw.json, "question")), q.text), "item %d", item);
            CHECK(json_integer_value(json_object_get(raw.json, "answer_index")) == q.answer);
            CHECK(!strcmp(json_string_value(json_object_get(raw.json, "answer")), q.choices[q.answer]));
            CHECK(!strcmp(json_string_value(json_object_get(raw.json, "lang")), sh_lang_name(l)));
            CHECK(json_is_true(json_object_get(raw.json, "text_only")) == text_only);
            CHECK(raw.n_imgs == !text_only, "item %d: %d images", item, raw.n_imgs);
            char cap[SH_TEXT_MAX] = "";
            if (!text_only) sh_caption(&sc, SH_EN, cap, sizeof cap);
            CHECK(!strcmp(json_string_value(json_object_get(raw.json, "caption")), cap), "item %d", item);
            if (!text_only) {
                type_hist[q.type]++;
                static uint8_t px[SH_SIZE * SH_SIZE * 3];
                sh_render(&sc, 0, px);
                Image im = {0};
                CHECK(img_decode(raw.imgs[0].data, raw.imgs[0].n, &(ImgDecodeOpts){0}, &im, &st) == 0, "%s", st.msg);
                CHECK(im.px && memcmp(im.px, px, sizeof px) == 0, "held-out image %d == sh_render of its scene", item);
                img_free(&im);
            }
            ld_raw_free(&raw);
        }
        ld_shard_close(s);
    }
    CHECK(item == 36, "%d held-out records", item);
    for (int t = 0; t < SH_NQTYPES; t++) CHECK(type_hist[t] == 3 * SH_NLANGS, "type %d: %d", t, type_hist[t]);
}

static void test_ensure(void) {
    ShWriteOpts o = {.out = dir, .seed = 5, .samples = 40, .heldout = 3, .shard_size = 7};
    VStatus st = {0};
    int made = -1;
    CHECK(sh_ensure_dataset(&o, &made, &st) == 0 && made == 0, "complete set is kept");
    /* a set written by an older format version is rewritten, not reused */
    char marker[600];
    snprintf(marker, sizeof marker, "%s/shapes.json", dir);
    json_t *j = json_load_file(marker, 0, NULL);
    CHECK(j != NULL && json_integer_value(json_object_get(j, "version")) >= 2, "marker has a version");
    json_object_set_new(j, "version", json_integer(1));
    CHECK(json_dump_file(j, marker, 0) == 0);
    json_decref(j);
    CHECK(sh_ensure_dataset(&o, &made, &st) == 0 && made == 1, "an older version is rewritten");
    CHECK(sh_ensure_dataset(&o, &made, &st) == 0 && made == 0, "and then kept");
    o.samples = 16;   /* a smaller set: stale shards of the bigger one are removed */
    CHECK(sh_ensure_dataset(&o, &made, &st) == 0 && made == 1);
    int64_t ru, img, two;
    CHECK(read_set("pairs", LD_PAIRS, &ru, &img, &two) == 16);
}

static void test_bad_options(void) {
    VStatus st = {0};
    ShWriteOpts o = {.out = dir, .seed = 1, .samples = 0, .heldout = 1};
    CHECK(sh_write_dataset(&o, NULL, &st) != 0 && strstr(st.msg, "samples"), "%s", st.msg);
    o = (ShWriteOpts){.out = "/proc/version/x", .seed = 1, .samples = 16, .heldout = 1};
    CHECK(sh_write_dataset(&o, NULL, &st) != 0 && strstr(st.msg, "/proc/version"), "%s", st.msg);
    uint8_t px[3] = {0}, *png = NULL;
    size_t n = 0;
    CHECK(sh_png_encode(px, 0, 1, &png, &n, &st) != 0 && strstr(st.msg, "size"), "%s", st.msg);
}

static void test_cleanup(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/vlmc-shapes-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

TEST_MAIN({"setup", setup}, {"sets_read_back", test_sets_read_back}, {"heldout_matches", test_heldout_matches},
          {"ensure", test_ensure}, {"bad_options", test_bad_options}, {"cleanup", test_cleanup})
