/* data/fmt_common.c — pieces every formatter uses: id arrays, samples, the
 * byte-level test codec, image loading from a record, regime names and the
 * ld_format dispatch table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"
#include "data/shards.h"

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    VLMC_ASSERT(q != NULL, "out of memory (%zu bytes)", n);
    return q;
}

void ld_ids_push(LdIds *a, int32_t x) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = x;
}

void ld_ids_append(LdIds *a, const int32_t *x, size_t n) {
    for (size_t i = 0; i < n; i++) ld_ids_push(a, x[i]);
}

void ld_ids_free(LdIds *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

void ld_seq_add_run(LdSeq *q, int32_t start, int32_t len, int32_t img) {
    if (q->n_runs == q->runs_cap) {
        q->runs_cap = q->runs_cap ? q->runs_cap * 2 : 8;
        q->runs = xrealloc(q->runs, (size_t)q->runs_cap * sizeof *q->runs);
    }
    q->runs[q->n_runs++] = (LdRun){start, len, img};
}

void ld_sample_reset(LdSample *s) {
    for (int i = 0; i < 2; i++) {
        s->seq[i].tok.n = s->seq[i].loss.n = 0;
        s->seq[i].n_runs = 0;
    }
    s->n_seq = 1;
    s->n_img = 0;
}

void ld_sample_free(LdSample *s) {
    for (int i = 0; i < 2; i++) {
        ld_ids_free(&s->seq[i].tok);
        ld_ids_free(&s->seq[i].loss);
        free(s->seq[i].runs);
    }
    free(s->px);
    memset(s, 0, sizeof *s);
}

uint8_t *ld_sample_add_image(LdSample *s, int S) {
    VLMC_ASSERT(s->n_img == 0 || s->S == S, "image size changed within a sample");
    s->S = S;
    if (s->n_img == s->img_cap) {
        s->img_cap = s->img_cap ? s->img_cap * 2 : 2;
        s->px = xrealloc(s->px, (size_t)s->img_cap * S * S * 3);
    }
    return s->px + (size_t)s->n_img++ * S * S * 3;
}

void ld_raw_free(LdRaw *r) {
    if (r->json) json_decref(r->json);
    for (int i = 0; i < r->n_imgs; i++) free(r->imgs[i].data);
    free(r->imgs);
    if (r->pre) {
        ld_sample_free(r->pre);
        free(r->pre);
    }
    memset(r, 0, sizeof *r);
}

static const char *const skip_names[LD_SKIP_COUNT] = {
    "none", "corrupt_image", "missing_image", "malformed_json", "truncated_tar", "too_long", "unsafe_name", "bad_sample",
};

const char *ld_skip_name(int reason) {
    return reason >= 0 && reason < LD_SKIP_COUNT ? skip_names[reason] : "unknown";
}

static const char *const regime_names[LD_REGIME_COUNT] = {"pairs", "interleaved", "instruct", "sft", "dpo"};

int ld_regime_parse(const char *name, LdRegime *out) {
    for (int i = 0; i < LD_REGIME_COUNT; i++)
        if (strcmp(name, regime_names[i]) == 0) {
            *out = (LdRegime)i;
            return 0;
        }
    return 1;
}

const char *ld_regime_name(LdRegime r) { return (unsigned)r < LD_REGIME_COUNT ? regime_names[r] : "?"; }

/* ---- byte codec ----------------------------------------------------------- */
enum { BC_IMAGE = 256, BC_BOS = 257, BC_EOS = 258, BC_PAD = 259, BC_ROLE = 260 };

static int bc_encode(void *ctx, const char *text, size_t len, LdIds *out, VStatus *st) {
    (void)ctx;
    (void)st;
    for (size_t i = 0; i < len; i++) ld_ids_push(out, (uint8_t)text[i]);
    return 0;
}

static int bc_render(void *ctx, const LdChatMsg *m, size_t n, int32_t image_token, int image_seq_len, LdIds *ids,
                     LdIds *mask, VStatus *st) {
    for (size_t i = 0; i < n; i++) {
        int on = m[i].role == LD_ASSISTANT;
        ld_ids_push(ids, BC_ROLE + (int32_t)m[i].role);
        ld_ids_push(mask, 0);
        size_t len = strlen(m[i].text), done = 0, before = ids->n;
        for (int im = 0; im < m[i].n_images; im++) {
            size_t at = m[i].image_ats ? m[i].image_ats[im] : m[i].image_at;
            if (at > len) at = len;
            if (at < done) at = done;
            if (bc_encode(ctx, m[i].text + done, at - done, ids, st)) return 1;
            for (int k = 0; k < image_seq_len; k++) ld_ids_push(ids, image_token);
            done = at;
        }
        if (bc_encode(ctx, m[i].text + done, len - done, ids, st)) return 1;
        for (size_t k = before; k < ids->n; k++) ld_ids_push(mask, on && ids->v[k] != image_token);
        ld_ids_push(ids, BC_EOS);
        ld_ids_push(mask, on);
    }
    return 0;
}

LdTextCodec ld_codec_bytes(int image_seq_len) {
    return (LdTextCodec){.ctx = NULL, .encode = bc_encode, .render_chat = bc_render, .bos = BC_BOS, .eos = BC_EOS,
                         .pad = BC_PAD, .image_token = BC_IMAGE, .image_seq_len = image_seq_len,
                         .hash = 0x6279746573000001ull};
}

/* ---- shared formatter steps ----------------------------------------------- */
void ld_fmt_tok(LdSeq *q, int32_t id, int loss) {
    if (id < 0) return;
    ld_ids_push(&q->tok, id);
    ld_ids_push(&q->loss, loss);
}

int ld_run_len(const LdTextCodec *tc) {
    return tc->image_seq_len + (tc->tag_off ? tc->tag_off[tc->image_seq_len] : 0);
}

void ld_fmt_image_run(LdSeq *q, const LdTextCodec *tc, int img) {
    ld_seq_add_run(q, (int32_t)q->tok.n, ld_run_len(tc), img);
    for (int k = 0; k < tc->image_seq_len; k++) {
        for (int32_t j = tc->tag_off ? tc->tag_off[k] : 0; tc->tag_off && j < tc->tag_off[k + 1]; j++)
            ld_fmt_tok(q, tc->tag_ids[j], 0);
        ld_fmt_tok(q, tc->image_token, 0);
    }
}

/* With tags: whether the tagged run (tag_0 img tag_1 img ...) starts at i; -1 + st if not. */
static int tagged_run_at(const LdSeq *q, const LdTextCodec *tc, int64_t i, VStatus *st) {
    int64_t at = i;
    for (int k = 0; k < tc->image_seq_len; k++)
        for (int32_t j = tc->tag_off[k]; j <= tc->tag_off[k + 1]; j++, at++) {
            int32_t want = j < tc->tag_off[k + 1] ? tc->tag_ids[j] : tc->image_token;
            if (at < 0 || at >= (int64_t)q->tok.n || q->tok.v[at] != want)
                return vs_set(st, VS_EINVAL,
                              "image placeholder run at token %lld: token %lld is %d where the tagged layout has %d",
                              (long long)i, (long long)at, at >= 0 && at < (int64_t)q->tok.n ? q->tok.v[at] : -1,
                              want), -1;
        }
    return 0;
}

int ld_fmt_text(LdSeq *q, const LdTextCodec *tc, const char *text, int loss, VStatus *st) {
    size_t before = q->tok.n;
    if (tc->encode(tc->ctx, text, strlen(text), &q->tok, st)) return LD_SKIP_BAD_SAMPLE;
    for (size_t k = before; k < q->tok.n; k++) ld_ids_push(&q->loss, loss);
    return 0;
}

int ld_fmt_find_runs(LdSeq *q, const LdTextCodec *tc, int n_img, VStatus *st) {
    int img = 0;
    if (tc->tag_off) {   /* every placeholder must sit in a whole tagged run; its first one follows tag 0 */
        for (size_t i = 0; i < q->tok.n; i++) {
            if (q->tok.v[i] != tc->image_token) continue;
            int64_t start = (int64_t)i - tc->tag_off[1];
            if (tagged_run_at(q, tc, start, st)) return LD_SKIP_BAD_SAMPLE;
            ld_seq_add_run(q, (int32_t)start, ld_run_len(tc), img++);
            i = (size_t)(start + ld_run_len(tc) - 1);
        }
        if (img != n_img)
            return vs_set(st, VS_EINVAL, "%d image placeholders for %d images", img, n_img), LD_SKIP_BAD_SAMPLE;
        return 0;
    }
    for (size_t i = 0; i < q->tok.n;) {
        if (q->tok.v[i] != tc->image_token) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < q->tok.n && q->tok.v[j] == tc->image_token) j++;
        if ((j - i) % (size_t)tc->image_seq_len)
            return vs_set(st, VS_EINVAL, "image placeholder run of %zu tokens is not a multiple of %d", j - i,
                          tc->image_seq_len), LD_SKIP_BAD_SAMPLE;
        for (size_t s = i; s < j; s += (size_t)tc->image_seq_len) ld_seq_add_run(q, (int32_t)s, tc->image_seq_len, img++);
        i = j;
    }
    if (img != n_img)
        return vs_set(st, VS_EINVAL, "%d image placeholders for %d images", img, n_img), LD_SKIP_BAD_SAMPLE;
    return 0;
}

static int read_file(const char *path, uint8_t **buf, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = xrealloc(NULL, cap);
    for (;;) {
        if (len == cap) b = xrealloc(b, cap *= 2);
        size_t got = fread(b + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(b);
        return 1;
    }
    *buf = b;
    *n = len;
    return 0;
}

int ld_fmt_image(const LdRaw *raw, int ord, const char *ref, const LdImageCodec *ic, LdSample *s, VStatus *st) {
    const uint8_t *data;
    size_t n;
    uint8_t *owned = NULL;
    if (raw->n_imgs > 0 || !ref) {
        if (ord >= raw->n_imgs)
            return vs_set(st, VS_EINVAL, "image %d missing (the record has %d)", ord, raw->n_imgs),
                   LD_SKIP_MISSING_IMAGE;
        data = raw->imgs[ord].data;
        n = raw->imgs[ord].n;
    } else {
        if (!ld_name_is_safe(ref))
            return vs_set(st, VS_EINVAL, "image path '%s' is absolute or contains '..'", ref), LD_SKIP_UNSAFE_NAME;
        char path[4096];
        const char *root = raw->image_root ? raw->image_root : ".";
        if ((size_t)snprintf(path, sizeof path, "%s/%s", root, ref) >= sizeof path)
            return vs_set(st, VS_EINVAL, "image path too long"), LD_SKIP_BAD_SAMPLE;
        if (read_file(path, &owned, &n))
            return vs_set(st, VS_EIO, "image %s: %s", path, strerror(errno)), LD_SKIP_MISSING_IMAGE;
        data = owned;
    }
    uint8_t *slot = ld_sample_add_image(s, ic->S);
    int rc = ic->load(ic->ctx, data, n, ic->S, slot, st);
    free(owned);
    if (rc) {
        s->n_img--;
        vs_prefix(st, "image %d", ord);
        return LD_SKIP_CORRUPT_IMAGE;
    }
    return 0;
}

/* ---- dispatch ------------------------------------------------------------- */
int ld_fmt_pairs(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st);
int ld_fmt_instruct(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st);
int ld_fmt_interleaved(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st);
int ld_fmt_sft(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st);
int ld_fmt_dpo(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st);

typedef int (*FmtFn)(const LdRaw *, const LdTextCodec *, const LdImageCodec *, LdSample *, VStatus *);
static const FmtFn formatters[LD_REGIME_COUNT] = {ld_fmt_pairs, ld_fmt_interleaved, ld_fmt_instruct, ld_fmt_sft,
                                                  ld_fmt_dpo};

int ld_format(LdRegime regime, const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out,
              VStatus *st) {
    ld_sample_reset(out);
    if (raw->skip) return vs_set(st, VS_EINVAL, "%s", raw->skip_msg), raw->skip;
    if (raw->pre) {
        /* HDF5 records are samples already; copy so the record can be freed. */
        const LdSample *p = raw->pre;
        out->n_seq = p->n_seq;
        for (int i = 0; i < p->n_seq; i++) {
            ld_ids_append(&out->seq[i].tok, p->seq[i].tok.v, p->seq[i].tok.n);
            ld_ids_append(&out->seq[i].loss, p->seq[i].loss.v, p->seq[i].loss.n);
            for (int r = 0; r < p->seq[i].n_runs; r++)
                ld_seq_add_run(&out->seq[i], p->seq[i].runs[r].start, p->seq[i].runs[r].len, p->seq[i].runs[r].img);
        }
        for (int i = 0; i < p->n_img; i++)
            memcpy(ld_sample_add_image(out, p->S), p->px + (size_t)i * p->S * p->S * 3, (size_t)p->S * p->S * 3);
        return 0;
    }
    if (!raw->json || !json_is_object(raw->json))
        return vs_set(st, VS_EINVAL, "record is not a JSON object"), LD_SKIP_BAD_SAMPLE;
    int rc = formatters[regime](raw, tc, ic, out, st);
    if (rc) ld_sample_reset(out);
    return rc;
}

/* Image references of a record: tar image members (refs[i] = NULL), else the
 * strings of "image" (string or list) or "images" (list; nulls skipped).
 * Returns the count (at most max), or -1 when a reference is not a string. */
int ld_fmt_image_refs(const LdRaw *raw, const char **refs, int max) {
    if (raw->n_imgs > 0) {
        int n = raw->n_imgs < max ? raw->n_imgs : max;
        for (int i = 0; i < n; i++) refs[i] = NULL;
        return n;
    }
    json_t *v = json_object_get(raw->json, "image");
    if (!v) v = json_object_get(raw->json, "images");
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        refs[0] = json_string_value(v);
        return 1;
    }
    if (!json_is_array(v)) return -1;
    int n = 0;
    for (size_t i = 0; i < json_array_size(v) && n < max; i++) {
        json_t *e = json_array_get(v, i);
        if (json_is_null(e)) continue;
        if (!json_is_string(e)) return -1;
        refs[n++] = json_string_value(e);
    }
    return n;
}

char *ld_fmt_cut_markers(const char *text, int *n_marks, size_t *ats, int max_ats) {
    size_t len = strlen(text), w = 0;
    char *o = malloc(len + 1);
    VLMC_ASSERT(o != NULL, "out of memory");
    *n_marks = 0;
    for (size_t i = 0; i < len;) {
        if (!strncmp(text + i, "<image>", 7)) {
            if (*n_marks < max_ats) ats[*n_marks] = w;
            (*n_marks)++;
            i += 7;
            if (text[i] == '\n') i++;
        } else {
            o[w++] = text[i++];
        }
    }
    o[w] = 0;
    return o;
}

/* First string field among names, or NULL. */
const char *ld_fmt_field(const json_t *obj, const char *const *names) {
    for (; *names; names++) {
        json_t *v = json_object_get(obj, *names);
        if (json_is_string(v)) return json_string_value(v);
    }
    return NULL;
}
