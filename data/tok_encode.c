/* data/tok_encode.c — the encode pipeline, added-token splitting, the
 * post-processor's BOS/EOS, per-thread scratch, and batch encoding.
 *
 * Added tokens are split off first, as tokenizers' AddedVocabulary does:
 * tokens with normalized=false are matched on the raw text, then each plain
 * segment is normalized and tokens with normalized=true are matched on the
 * result. Matching is leftmost-longest and non-overlapping (aho-corasick
 * LeftmostLongest); single_word drops a match touching a word character;
 * lstrip/rstrip widen a match over adjacent whitespace. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "data/tok_internal.h"

/* ---- per-thread scratch pool ----------------------------------------------- */
static TokCtx *ctx_new(void) {
    TokCtx *c = calloc(1, sizeof *c);
    VLMC_ASSERT(c != NULL, "out of memory");
    c->md = pcre2_match_data_create(8, NULL);
    c->mctx = pcre2_match_context_create(NULL);
    c->jit = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    VLMC_ASSERT(c->md && c->mctx, "out of memory");
    if (c->jit) pcre2_jit_stack_assign(c->mctx, NULL, c->jit);
    return c;
}

void tok_ctx_free(TokCtx *c) {
    if (!c) return;
    pcre2_match_data_free(c->md);
    pcre2_match_context_free(c->mctx);
    if (c->jit) pcre2_jit_stack_free(c->jit);
    tb_free(&c->seg);
    tb_free(&c->norm);
    tb_free(&c->tmp);
    tp_free(&c->pa);
    tp_free(&c->pb);
    free(c->sg[0]);
    free(c->sg[1]);
    free(c->ev);
    free(c->evm);
    free(c->sym);
    free(c->heap);
    free(c->cache);
    free(c->arena);
    free(c);
}

TokCtx *tok_ctx_get(const Tokenizer *tc) {
    Tokenizer *t = (Tokenizer *)tc;   /* the pool is the only mutable part, guarded by pool_mu */
    TokCtx *c = NULL;
    pthread_mutex_lock(&t->pool_mu);
    if (t->npool) c = t->pool[--t->npool];
    pthread_mutex_unlock(&t->pool_mu);
    return c ? c : ctx_new();
}

void tok_ctx_put(const Tokenizer *tc, TokCtx *c) {
    Tokenizer *t = (Tokenizer *)tc;
    pthread_mutex_lock(&t->pool_mu);
    if (t->npool == t->cappool) {
        size_t cap = t->cappool ? t->cappool * 2 : 8;
        TokCtx **p = realloc(t->pool, cap * sizeof *p);
        VLMC_ASSERT(p != NULL, "out of memory");
        t->pool = p;
        t->cappool = cap;
    }
    t->pool[t->npool++] = c;
    pthread_mutex_unlock(&t->pool_mu);
}

/* ---- added tokens ---------------------------------------------------------------- */
static const Tokenizer *sort_t;
static int by_len_desc(const void *a, const void *b) {
    uint32_t la = sort_t->added[*(const uint32_t *)a].nlen, lb = sort_t->added[*(const uint32_t *)b].nlen;
    return la < lb ? 1 : la > lb ? -1 : 0;
}

void tok_added_reindex(Tokenizer *t) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;   /* guards sort_t */
    tok_bl_init();
    if (!t->word_re) {
        static const char w[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
        VStatus st = {0};
        t->word_re = tok_regex_compile(w, sizeof w - 1, "word class", &st);
        VLMC_ASSERT(t->word_re != NULL, "%s", st.msg);
    }
    for (size_t i = 0; i < t->n_added; i++) {   /* the text a token matches: normalized content for kind 1 */
        TokAdded *a = &t->added[i];
        free(a->ncontent);
        if (a->normalized) t->is_special[a->id] |= 2;
        TokBuf in = {0}, out = {0}, tmp = {0};
        tb_put(&in, a->content, a->len, 0);
        VStatus st = {0};
        if (a->normalized && t->norm && tok_normalize(t->norm, &in, &out, &tmp, &st) == 0 && out.n) {
            a->ncontent = out.s;
            a->nlen = (uint32_t)out.n;
            out.s = NULL;
        } else {
            a->ncontent = in.s;
            a->nlen = a->len;
            in.s = NULL;
        }
        tb_free(&in);
        tb_free(&out);
        tb_free(&tmp);
    }
    for (int k = 0; k < 2; k++) {
        free(t->abkt[k]);
        t->abkt[k] = malloc((t->n_added + 1) * sizeof(uint32_t));
        VLMC_ASSERT(t->abkt[k] != NULL, "out of memory");
        uint32_t cnt[257] = {0};
        for (size_t i = 0; i < t->n_added; i++)
            if (t->added[i].normalized == k) cnt[(unsigned char)t->added[i].ncontent[0] + 1]++;
        for (int b = 0; b < 256; b++) cnt[b + 1] += cnt[b];
        memcpy(t->abkt_off[k], cnt, sizeof cnt);
        for (size_t i = 0; i < t->n_added; i++)
            if (t->added[i].normalized == k) t->abkt[k][cnt[(unsigned char)t->added[i].ncontent[0]]++] = (uint32_t)i;
        pthread_mutex_lock(&mu);
        sort_t = t;
        for (int b = 0; b < 256; b++)
            qsort(t->abkt[k] + t->abkt_off[k][b], t->abkt_off[k][b + 1] - t->abkt_off[k][b], sizeof(uint32_t),
                  by_len_desc);
        pthread_mutex_unlock(&mu);
    }
}

static void seg_push(TokCtx *c, int lvl, size_t *n, uint32_t a, uint32_t b, int32_t id) {
    if (*n == c->capsg[lvl]) {
        size_t cap = c->capsg[lvl] ? c->capsg[lvl] * 2 : 64;
        TokSeg *s = realloc(c->sg[lvl], cap * sizeof *s);
        VLMC_ASSERT(s != NULL, "out of memory");
        c->sg[lvl] = s;
        c->capsg[lvl] = cap;
    }
    c->sg[lvl][(*n)++] = (TokSeg){a, b, id};
}

/* single_word uses the Rust regex \w class: Alphabetic, marks, Nd, Pc, Join_Control
 * (so "xyzzy\u0301" or "xyzzy\u200d" touch a word, "xyzzy\u00b2" does not). */
static int is_word_char(const Tokenizer *t, TokCtx *c, const char *s, size_t at) {
    int len;
    int32_t cp = tok_u8dec(s + at, &len);
    if (cp < 0x80) return cp == '_' || tok_is_alnum(cp);
    return pcre2_match(t->word_re, (PCRE2_SPTR)(s + at), (size_t)len, 0, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, c->md,
                       c->mctx) >= 0;
}
static size_t prev_char(const char *s, size_t at) {
    do at--; while (at > 0 && ((unsigned char)s[at] & 0xC0) == 0x80);
    return at;
}

/* Splits s[0..n) on added tokens of kind k into c->sg[lvl]; returns the count. */
static size_t split_added(const Tokenizer *t, TokCtx *c, int k, int lvl, const char *s, size_t n) {
    size_t ns = 0, start_off = 0, i = 0;
    const uint32_t *off = t->abkt_off[k];
    if (off[256] == 0) {
        seg_push(c, lvl, &ns, 0, (uint32_t)n, -1);
        return ns;
    }
    while (i < n) {
        unsigned char b = (unsigned char)s[i];
        const TokAdded *m = NULL;
        for (uint32_t j = off[b]; j < off[b + 1]; j++) {
            const TokAdded *a = &t->added[t->abkt[k][j]];
            if (a->nlen <= n - i && memcmp(s + i, a->ncontent, a->nlen) == 0) { m = a; break; }
        }
        if (!m) { i++; continue; }
        size_t start = i, stop = i + m->nlen;
        i = stop;   /* the matcher resumes after the raw match, whatever stripping does */
        if (m->single_word) {
            int ok_left = start == 0 || !is_word_char(t, c, s, prev_char(s, start));
            int ok_right = stop == n || !is_word_char(t, c, s, stop);
            if (!ok_left || !ok_right) continue;
        }
        if (m->lstrip) {
            size_t ns2 = start;
            while (ns2 > 0) {
                size_t p = prev_char(s, ns2);
                int len;
                if (!tok_is_whitespace(tok_u8dec(s + p, &len))) break;
                ns2 = p;
            }
            start = ns2 > start_off ? ns2 : start_off;
        }
        if (m->rstrip) {
            while (stop < n) {
                int len;
                if (!tok_is_whitespace(tok_u8dec(s + stop, &len))) break;
                stop += (size_t)len;
            }
        }
        if (start_off < start) seg_push(c, lvl, &ns, (uint32_t)start_off, (uint32_t)start, -1);
        seg_push(c, lvl, &ns, (uint32_t)start, (uint32_t)stop, m->id);
        start_off = stop;
    }
    if (start_off < n) seg_push(c, lvl, &ns, (uint32_t)start_off, (uint32_t)n, -1);
    return ns;
}

/* ---- pipeline ---------------------------------------------------------------------- */
static int encode_text(const Tokenizer *t, TokCtx *c, const char *text, size_t len, TokIds *out, TokIds *starts,
                       TokIds *ends, VStatus *st) {
    int track = starts != NULL;
    size_t n0 = split_added(t, c, 0, 0, text, len);
    for (size_t s0 = 0; s0 < n0; s0++) {
        TokSeg g = c->sg[0][s0];
        if (g.id >= 0) {
            tok_ids_push(out, g.id);
            if (track) { tok_ids_push(starts, (int32_t)g.a); tok_ids_push(ends, (int32_t)g.b); }
            continue;
        }
        TokBuf *seg = &c->seg, *nb = seg;
        seg->n = 0;
        tb_set_track(seg, track);
        tb_reserve(seg, g.b - g.a);
        memcpy(seg->s, text + g.a, g.b - g.a);
        if (track)
            for (uint32_t i = g.a; i < g.b; i++) seg->o[i - g.a] = i;
        seg->n = g.b - g.a;
        if (t->norm) {
            if (tok_normalize(t->norm, seg, &c->norm, &c->tmp, st)) return -1;
            nb = &c->norm;
        }
        size_t n1 = split_added(t, c, 1, 1, nb->s, nb->n);
        for (size_t s1 = 0; s1 < n1; s1++) {
            TokSeg h = c->sg[1][s1];
            if (h.id >= 0) {
                tok_ids_push(out, h.id);
                if (track) { tok_ids_push(starts, (int32_t)nb->o[h.a]); tok_ids_push(ends, (int32_t)nb->o[h.b - 1] + 1); }
                continue;
            }
            TokPieces *pc = &c->pa;
            tp_reset(pc, track);
            tb_copy(&pc->b, nb->s + h.a, track ? nb->o + h.a : NULL, h.b - h.a);
            tp_push(pc, 0, h.b - h.a);
            pc->first = g.a == 0 && h.a == 0;
            if (t->pre && !(pc = tok_pretokenize(t->pre, c, &c->pa, &c->pb, st))) return -1;
            for (size_t k = 0; k < pc->nsp; k++) {
                TokSpan sp = pc->sp[k];
                if (tok_bpe_piece(t, c, pc->b.s + sp.off, sp.len, track ? pc->b.o + sp.off : NULL, out, starts, ends,
                                  st))
                    return -1;
            }
        }
    }
    return 0;
}

int tok_encode_ex(const Tokenizer *t, const char *text, size_t len, int add_special, TokIds *out, TokIds *starts,
                  TokIds *ends, VStatus *st) {
    size_t bad = tok_u8valid(text, len);
    if (bad != len) return vs_set(st, VS_EINVAL, "%s: encode: invalid UTF-8 at byte %zu", t->name, bad);
    if (len > UINT32_MAX / 4) return vs_set(st, VS_EINVAL, "%s: encode: text of %zu bytes is too long", t->name, len);
    if (add_special)
        for (size_t i = 0; i < t->prefix.n; i++) {
            tok_ids_push(out, t->prefix.ids[i]);
            if (starts) { tok_ids_push(starts, 0); tok_ids_push(ends, 0); }
        }
    TokCtx *c = tok_ctx_get(t);
    int rc = encode_text(t, c, text, len, out, starts, ends, st);
    tok_ctx_put(t, c);
    if (rc) return rc;
    if (add_special)
        for (size_t i = 0; i < t->suffix.n; i++) {
            tok_ids_push(out, t->suffix.ids[i]);
            if (starts) { tok_ids_push(starts, 0); tok_ids_push(ends, 0); }
        }
    return 0;
}

int tok_encode(const Tokenizer *t, const char *text, size_t len, int add_special, TokIds *out, VStatus *st) {
    return tok_encode_ex(t, text, len, add_special, out, NULL, NULL, st);
}

/* ---- batch encoding over threads ---------------------------------------------------- */
typedef struct BatchJob {
    const Tokenizer *t;
    const char *const *texts;
    const size_t *lens;
    size_t n;
    int add_special;
    TokIds *outs;
    atomic_size_t next;
    atomic_int failed;
    VStatus err;
    pthread_mutex_t mu;
} BatchJob;

static void *batch_worker(void *arg) {
    BatchJob *j = arg;
    VStatus st = {0};
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&j->failed)) break;
        j->outs[i].n = 0;
        if (tok_encode(j->t, j->texts[i], j->lens[i], j->add_special, &j->outs[i], &st)) {
            pthread_mutex_lock(&j->mu);
            if (!atomic_load(&j->failed)) {
                j->err = st;
                vs_prefix(&j->err, "text %zu", i);
                atomic_store(&j->failed, 1);
            }
            pthread_mutex_unlock(&j->mu);
            break;
        }
    }
    return NULL;
}

int tok_encode_batch(const Tokenizer *t, const char *const *texts, const size_t *lens, size_t n, int add_special,
                     TokIds *outs, int nthreads, VStatus *st) {
    if (nthreads < 1) nthreads = 1;
    if ((size_t)nthreads > n) nthreads = n ? (int)n : 1;
    BatchJob j = {.t = t, .texts = texts, .lens = lens, .n = n, .add_special = add_special, .outs = outs};
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    pthread_mutex_init(&j.mu, NULL);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);   /* NULL: the caller works alone */
    int started = 0;
    for (int i = 1; th && i < nthreads; i++, started++)
        if (pthread_create(&th[i], NULL, batch_worker, &j)) break;
    batch_worker(&j);   /* the caller works too */
    for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
    free(th);
    pthread_mutex_destroy(&j.mu);
    if (atomic_load(&j.failed)) {
        if (st) *st = j.err;
        return j.err.code ? j.err.code : VS_EINVAL;
    }
    return 0;
}
