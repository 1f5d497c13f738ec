/* data/shapes_write.c — writes the shapes world as WebDataset tar shards
 * (layouts in data/shapes_data.h) and the held-out question generator.
 *
 * Every set draws its scenes from its own seed stream (seed, set), so the
 * pairs set does not change when the SFT set grows. Languages alternate
 * record by record (or chat by chat), so each set is half English, half
 * Russian. Shards are written to NAME.tmp and renamed when closed; the
 * completion marker shapes.json is written last. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/shapes_data.h"

enum { SET_PAIRS = 1, SET_INTERLEAVED, SET_INSTRUCT, SET_SFT, SET_SFT_TEXT, SET_DPO, SET_HELDOUT, SET_HELDOUT_TEXT, SET_REPEAT };

static void set_rng(ShRng *r, uint64_t seed, int set, uint64_t i) {
    sh_rng_seed(r, seed * 0x100000001B3ull + (uint64_t)set * 0x9E3779B97F4A7C15ull + i * 0xD1B54A32D192ED03ull);
}

/* ---- shard writer ------------------------------------------------------------ */
typedef struct Shards {
    const char *dir, *prefix;
    int size, index;
    int64_t in_shard, records, bytes;
    struct archive *a;
    char tmp[1040], final[1024];
} Shards;

static int shards_close(Shards *w, VStatus *st) {
    if (!w->a) return 0;
    int bad = archive_write_close(w->a) != ARCHIVE_OK;
    if (bad) vs_set(st, VS_EIO, "%s: %s", w->tmp, archive_error_string(w->a));
    archive_write_free(w->a);
    w->a = NULL;
    if (bad) return VS_EIO;
    if (rename(w->tmp, w->final)) return vs_set(st, VS_EIO, "rename %s: %s", w->tmp, strerror(errno));
    w->index++;
    return 0;
}

/* Starts a record: opens the next shard when the current one is full. */
static int shards_record(Shards *w, VStatus *st) {
    if (w->a && w->in_shard == w->size) {
        int rc = shards_close(w, st);
        if (rc) return rc;
    }
    if (!w->a) {
        snprintf(w->final, sizeof w->final, "%s/%s-%05d.tar", w->dir, w->prefix, w->index);
        snprintf(w->tmp, sizeof w->tmp, "%s.tmp", w->final);
        w->a = archive_write_new();
        if (!w->a) return vs_set(st, VS_ENOMEM, "archive_write_new failed");
        archive_write_set_format_pax_restricted(w->a);
        if (archive_write_open_filename(w->a, w->tmp) != ARCHIVE_OK) {
            vs_set(st, VS_EIO, "%s: %s", w->tmp, archive_error_string(w->a));
            archive_write_free(w->a);
            w->a = NULL;
            return VS_EIO;
        }
        w->in_shard = 0;
    }
    w->in_shard++;
    w->records++;
    return 0;
}

/* Adds member KEY.ext of the current record (key = its global number). */
static int shards_add(Shards *w, const char *ext, const void *data, size_t n, VStatus *st) {
    char name[64];
    snprintf(name, sizeof name, "%09lld.%s", (long long)(w->records - 1), ext);
    struct archive_entry *e = archive_entry_new();
    if (!e) return vs_set(st, VS_ENOMEM, "archive_entry_new failed");
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    int bad = archive_write_header(w->a, e) != ARCHIVE_OK || (n && archive_write_data(w->a, data, n) != (la_ssize_t)n);
    archive_entry_free(e);
    if (bad) return vs_set(st, VS_EIO, "%s: member %s: %s", w->tmp, name, archive_error_string(w->a));
    w->bytes += (int64_t)n;
    return 0;
}

/* j is NULL when json_pack refused a string: the world's texts come from fixed
 * word tables, so that means a text cut inside a UTF-8 character (a buffer of
 * SH_TEXT_MAX too small) rather than bad input. */
static int add_json(Shards *w, json_t *j, VStatus *st) {
    if (!j) return vs_set(st, VS_EINVAL, "a record's text is not valid UTF-8 (cut at SH_TEXT_MAX bytes?)");
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) return vs_set(st, VS_ENOMEM, "json_dumps failed");
    int rc = shards_add(w, "json", s, strlen(s), st);
    free(s);
    return rc;
}

static int add_png(Shards *w, const char *ext, const ShScene *sc, VStatus *st) {
    uint8_t px[SH_SIZE * SH_SIZE * 3], *png = NULL;
    size_t n = 0;
    sh_render(sc, 0, px);
    int rc = sh_png_encode(px, SH_SIZE, SH_SIZE, &png, &n, st);
    if (!rc) rc = shards_add(w, ext, png, n, st);
    free(png);
    return rc;
}

/* One record: an optional image (member `ext`, none when sc is NULL) and a
 * JSON member; takes ownership of j. */
static int add_record(Shards *w, const char *ext, const ShScene *sc, json_t *j, VStatus *st) {
    int rc = shards_record(w, st);
    if (!rc && sc) rc = add_png(w, ext, sc, st);
    if (rc) {
        json_decref(j);
        return rc;
    }
    return add_json(w, j, st);
}

/* ---- texts ------------------------------------------------------------------- */
static const char *const describe_prompt[SH_NLANGS] = {"Describe the picture.", "Опиши картинку."};

/* One instruct turn about sc: a question of a random type (open answer) or,
 * one time in six, a request for a caption. Half of the position questions
 * ask for an absent object and are answered "nowhere" (sh_question_nowhere). */
static void turn(const ShScene *sc, ShLang l, ShRng *r, int kind, char *q, char *a) {
    if (kind == SH_NQTYPES) {
        snprintf(q, SH_TEXT_MAX, "%s", describe_prompt[l]);
        sh_caption(sc, l, a, SH_TEXT_MAX);
        return;
    }
    ShQuestion qq;
    if (kind == SH_Q_POSITION && sh_rng_below(r, 2))   /* half of them about an absent object */
        sh_question_nowhere(sc, l, r, &qq);
    else
        sh_question(sc, (ShQType)kind, l, r, &qq);
    snprintf(q, SH_TEXT_MAX, "%s", qq.text);
    snprintf(a, SH_TEXT_MAX, "%s", qq.choices[qq.answer]);
}

/* ---- sets -------------------------------------------------------------------- */
static int write_pairs(Shards *w, uint64_t seed, int n, VStatus *st) {
    char cap[SH_TEXT_MAX];
    for (int i = 0; i < n; i++) {
        ShRng r;
        ShScene sc;
        set_rng(&r, seed, SET_PAIRS, (uint64_t)i);
        sh_scene_random(&r, &sc);
        size_t len = sh_caption(&sc, (ShLang)(i % 2), cap, sizeof cap);
        int rc = shards_record(w, st);
        if (!rc) rc = add_png(w, "png", &sc, st);
        if (!rc) rc = shards_add(w, "txt", cap, len, st);
        if (rc) return rc;
    }
    return 0;
}

static int write_interleaved(Shards *w, uint64_t seed, int n, VStatus *st) {
    static const char *const pic[SH_NLANGS] = {"Picture %d:\n", "Картинка %d:\n"};
    char buf[SH_TEXT_MAX + 2];
    for (int i = 0; i < n; i++) {
        ShRng r;
        set_rng(&r, seed, SET_INTERLEAVED, (uint64_t)i);
        ShLang l = (ShLang)(i % 2);
        int k = 2 + (int)sh_rng_below(&r, 2);
        json_t *texts = json_array(), *images = json_array(), *doc = json_object();
        int rc = shards_record(w, st);
        for (int j = 0; j < k && !rc; j++) {
            ShScene sc;
            sh_scene_random(&r, &sc);
            snprintf(buf, sizeof buf, pic[l], j + 1);
            json_array_append_new(texts, json_string(buf));
            json_array_append_new(images, json_null());
            json_array_append_new(texts, json_null());
            char ref[16], ext[16];
            snprintf(ref, sizeof ref, "%d.png", j);
            json_array_append_new(images, json_string(ref));
            size_t len = sh_caption(&sc, l, buf, SH_TEXT_MAX);
            buf[len] = '\n';
            buf[len + 1] = 0;
            json_array_append_new(texts, json_string(buf));
            json_array_append_new(images, json_null());
            snprintf(ext, sizeof ext, "%d.png", j);
            rc = add_png(w, ext, &sc, st);
        }
        json_object_set_new(doc, "texts", texts);
        json_object_set_new(doc, "images", images);
        if (rc) {
            json_decref(doc);
            return rc;
        }
        if ((rc = add_json(w, doc, st))) return rc;
    }
    return 0;
}

static int write_instruct(Shards *w, uint64_t seed, int n, VStatus *st) {
    char q[SH_TEXT_MAX], a[SH_TEXT_MAX];
    for (int i = 0; i < n; i++) {
        ShRng r;
        ShScene sc;
        set_rng(&r, seed, SET_INSTRUCT, (uint64_t)i);
        sh_scene_random(&r, &sc);
        turn(&sc, (ShLang)((i / (SH_NQTYPES + 1)) % 2), &r, i % (SH_NQTYPES + 1), q, a);
        json_t *j = json_pack("{s:s, s:s}", "question", q, "answer", a);
        int rc = add_record(w, "png", &sc, j, st);
        if (rc) return rc;
    }
    return 0;
}

static json_t *msg(const char *from, const char *value) { return json_pack("{s:s, s:s}", "from", from, "value", value); }

/* Image chats: 2-3 turns about one scene; text-only chats: 1-2 vocabulary questions. */
static int write_sft(Shards *w, uint64_t seed, int n, int n_text, int64_t *made_text, VStatus *st) {
    char q[SH_TEXT_MAX], a[SH_TEXT_MAX], first[SH_TEXT_MAX + 16];
    for (int i = 0; i < n + n_text; i++) {
        int text_only = i >= n;
        ShRng r;
        set_rng(&r, seed, text_only ? SET_SFT_TEXT : SET_SFT, (uint64_t)i);
        ShLang l = (ShLang)(i % 2);
        ShScene sc;
        json_t *conv = json_array();
        int turns = text_only ? 1 + (int)sh_rng_below(&r, 2) : 2 + (int)sh_rng_below(&r, 2);
        if (!text_only) sh_scene_random(&r, &sc);
        for (int t = 0; t < turns; t++) {
            if (text_only) {
                ShQuestion qq;
                sh_text_question(l, &r, &qq);
                snprintf(q, sizeof q, "%s", qq.text);
                snprintf(a, sizeof a, "%s", qq.choices[qq.answer]);
            } else {
                turn(&sc, l, &r, (int)sh_rng_below(&r, SH_NQTYPES + 1), q, a);
            }
            if (t == 0 && !text_only) snprintf(first, sizeof first, "<image>\n%s", q);
            json_array_append_new(conv, msg("human", t == 0 && !text_only ? first : q));
            json_array_append_new(conv, msg("gpt", a));
        }
        json_t *j = json_pack("{s:o}", "conversations", conv);
        int rc = add_record(w, "png", text_only ? NULL : &sc, j, st);
        if (rc) return rc;
        *made_text += text_only;
    }
    return 0;
}

/* Text-only "repeat after me" instructions over the world's vocabulary (the
 * instruct layout without an image), for an LLM warm-up stage. Copying a
 * sequence needs an induction circuit (find the earlier occurrence of the
 * current token, predict what followed it), the content look-up that
 * presence questions need and that captions and short answers never teach.
 * Measured in train/README.md ("The LLM warm-up"): it breaks the presence
 * plateau of the symbolic toy, not yet that of the demo, so configs/shapes.yaml
 * does not use it. */
static int write_repeat(Shards *w, uint64_t seed, int n, VStatus *st) {
    static const char *const prompt[SH_NLANGS] = {"Repeat: %s", "Повтори: %s"};
    char words[SH_TEXT_MAX], q[SH_TEXT_MAX + 32];
    for (int i = 0; i < n; i++) {
        ShRng r;
        set_rng(&r, seed, SET_REPEAT, (uint64_t)i);
        ShLang l = (ShLang)(i % 2);
        sh_repeat_words(l, &r, words, sizeof words);
        snprintf(q, sizeof q, prompt[l], words);
        int rc = add_record(w, "png", NULL, json_pack("{s:s, s:s}", "question", q, "answer", words), st);
        if (rc) return rc;
    }
    return 0;
}

static int write_dpo(Shards *w, uint64_t seed, int n, VStatus *st) {
    char good[SH_TEXT_MAX], bad[SH_TEXT_MAX];
    for (int i = 0; i < n; i++) {
        ShRng r;
        ShScene sc;
        set_rng(&r, seed, SET_DPO, (uint64_t)i);
        sh_scene_random(&r, &sc);
        ShLang l = (ShLang)(i % 2);
        sh_caption(&sc, l, good, sizeof good);
        sh_caption_corrupt(&sc, l, &r, bad, sizeof bad);
        json_t *j = json_pack("{s:s, s:s, s:s, s:[s]}", "prompt", describe_prompt[l], "chosen", good, "rejected", bad,
                              "images", "0.png");
        int rc = add_record(w, "0.png", &sc, j, st);
        if (rc) return rc;
    }
    return 0;
}

void sh_heldout_item(uint64_t seed, int i, ShScene *sc, ShQuestion *q, ShLang *lang) {
    ShRng r;
    set_rng(&r, seed, SET_HELDOUT, (uint64_t)i);
    *lang = (ShLang)((i / SH_NQTYPES) % SH_NLANGS);
    sh_scene_random(&r, sc);
    sh_question(sc, (ShQType)(i % SH_NQTYPES), *lang, &r, q);
}

void sh_heldout_text_item(uint64_t seed, int i, ShQuestion *q, ShLang *lang) {
    ShRng r;
    set_rng(&r, seed, SET_HELDOUT_TEXT, (uint64_t)i);
    *lang = (ShLang)(i % SH_NLANGS);
    sh_text_question(*lang, &r, q);
}

/* The record's scene is in its English caption (empty for a text-only
 * question), so an error analysis can tell a misread attribute from an
 * attribute of another object (scripts/diag/shapes_errors.py). */
static json_t *heldout_json(const ShScene *sc, const ShQuestion *q, ShLang l, int text_only) {
    char caption[SH_TEXT_MAX];
    caption[0] = 0;
    if (!text_only) sh_caption(sc, SH_EN, caption, sizeof caption);
    json_t *ch = json_array();
    for (int k = 0; k < q->n_choices; k++) json_array_append_new(ch, json_string(q->choices[k]));
    return json_pack("{s:s, s:s, s:o, s:i, s:s, s:s, s:b, s:s}", "question", q->text, "answer",
                     q->choices[q->answer], "choices", ch, "answer_index", q->answer, "type",
                     sh_qtype_name(q->type), "lang", sh_lang_name(l), "text_only", text_only, "caption", caption);
}

static int write_heldout(Shards *w, uint64_t seed, int n, int n_text, VStatus *st) {
    for (int i = 0; i < n + n_text; i++) {
        ShScene sc;
        ShQuestion q;
        ShLang l;
        int text_only = i >= n;
        if (text_only) sh_heldout_text_item(seed, i - n, &q, &l);
        else sh_heldout_item(seed, i, &sc, &q, &l);
        json_t *j = heldout_json(&sc, &q, l, text_only);
        int rc = add_record(w, "png", text_only ? NULL : &sc, j, st);
        if (rc) return rc;
    }
    return 0;
}

/* ---- the whole set ------------------------------------------------------------ */
static int mkdirs(const char *path, VStatus *st) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) && errno != EEXIST) return vs_set(st, VS_EIO, "mkdir %s: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

/* Bump when the generated texts or images change, so a folder written by an
 * older vlmc is rewritten instead of silently reused. */
#define SH_DATA_VERSION 7

static json_t *marker_json(const ShWriteOpts *o) {
    return json_pack("{s:i, s:I, s:i, s:i}", "version", SH_DATA_VERSION, "seed", (json_int_t)o->seed, "samples",
                     o->samples, "heldout", o->heldout);
}

int sh_write_dataset(const ShWriteOpts *o, ShWriteSummary *sum, VStatus *st) {
    if (!o->out || !*o->out) return vs_set(st, VS_EINVAL, "shapes: no output folder");
    if (o->samples < 8) return vs_set(st, VS_EINVAL, "shapes: samples must be >= 8 (got %d)", o->samples);
    if (o->heldout < 1) return vs_set(st, VS_EINVAL, "shapes: heldout must be >= 1 (got %d)", o->heldout);
    int rc = mkdirs(o->out, st);
    if (rc) return rc;
    char marker[1024];
    snprintf(marker, sizeof marker, "%s/shapes.json", o->out);
    remove(marker);   /* incomplete until rewritten */
    const char *const prefixes[] = {"pairs", "interleaved", "instruct", "sft", "dpo", "heldout", "repeat"};
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {   /* stale shards of an older set */
        char pat[1100];
        glob_t g;
        snprintf(pat, sizeof pat, "%s/%s-*.tar", o->out, prefixes[k]);
        if (!glob(pat, 0, NULL, &g))
            for (size_t i = 0; i < g.gl_pathc; i++) remove(g.gl_pathv[i]);
        globfree(&g);
    }
    ShWriteSummary s = {0};
    int size = o->shard_size > 0 ? o->shard_size : 1000, N = o->samples;
    struct { const char *prefix; int64_t *count; } sets[] = {
        {"pairs", &s.pairs}, {"interleaved", &s.interleaved}, {"instruct", &s.instruct},
        {"sft", &s.sft}, {"dpo", &s.dpo}, {"heldout", &s.heldout}, {"repeat", &s.repeat},
    };
    for (size_t k = 0; k < sizeof sets / sizeof sets[0] && !rc; k++) {
        Shards w = {.dir = o->out, .prefix = sets[k].prefix, .size = size};
        switch (k) {
        case 0: rc = write_pairs(&w, o->seed, N, st); break;
        case 1: rc = write_interleaved(&w, o->seed, N / 4, st); break;
        case 2: rc = write_instruct(&w, o->seed, N, st); break;
        case 3: rc = write_sft(&w, o->seed, N / 2, N / 8, &s.sft_text, st); break;
        case 4: rc = write_dpo(&w, o->seed, N / 4, st); break;
        case 5:
            rc = write_heldout(&w, o->seed, o->heldout * SH_NQTYPES * SH_NLANGS, o->heldout * SH_NLANGS, st);
            s.heldout_text = o->heldout * SH_NLANGS;
            break;
        default: rc = write_repeat(&w, o->seed, 2 * N, st); break;
        }
        if (!rc) rc = shards_close(&w, st);
        else if (w.a) archive_write_free(w.a), remove(w.tmp);
        *sets[k].count = w.records;
        s.bytes += w.bytes;
    }
    if (rc) return rc;
    s.sft -= s.sft_text;
    s.heldout -= s.heldout_text;
    json_t *m = marker_json(o);
    json_object_set_new(m, "counts", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "pairs", s.pairs,
                                               "interleaved", s.interleaved, "instruct", s.instruct, "sft", s.sft,
                                               "sft_text", s.sft_text, "dpo", s.dpo, "heldout", s.heldout,
                                               "heldout_text", s.heldout_text, "repeat", s.repeat));
    rc = json_dump_file(m, marker, JSON_INDENT(2));
    json_decref(m);
    if (rc) return vs_set(st, VS_EIO, "shapes: cannot write %s", marker);
    if (sum) *sum = s;
    return 0;
}

int sh_ensure_dataset(const ShWriteOpts *o, int *made, VStatus *st) {
    char marker[1024];
    snprintf(marker, sizeof marker, "%s/shapes.json", o->out ? o->out : "");
    *made = 0;
    json_t *have = json_load_file(marker, 0, NULL);
    if (have) {
        json_t *want = marker_json(o);
        int same = json_equal(json_object_get(have, "version"), json_object_get(want, "version")) &&
                   json_equal(json_object_get(have, "seed"), json_object_get(want, "seed")) &&
                   json_equal(json_object_get(have, "samples"), json_object_get(want, "samples")) &&
                   json_equal(json_object_get(have, "heldout"), json_object_get(want, "heldout"));
        json_decref(have);
        json_decref(want);
        if (same) return 0;
    }
    int rc = sh_write_dataset(o, NULL, st);
    if (!rc) *made = 1;
    return rc;
}
