/* data/tok_pretok.c — pre-tokenizers: ByteLevel, Split (PCRE2 regex with JIT,
 * UTF + UCP so \p{L}, \s follow Unicode like Oniguruma in `tokenizers`),
 * Digits, Whitespace(Split), Metaspace, Sequence.
 *
 * A split step computes events (match / gap spans, in order, covering the
 * piece) and folds them by the delimiter behavior exactly as tokenizers'
 * NormalizedString::split does; empty pieces are dropped. ByteLevel maps
 * every byte to its printable stand-in (GPT-2 bytes_to_unicode). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "data/tok_internal.h"

char tok_bl_map[256][2];
uint8_t tok_bl_len[256];
static pthread_once_t bl_once = PTHREAD_ONCE_INIT;

static void bl_build(void) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int cp = keep ? b : 256 + n++;
        char enc[4];
        tok_bl_len[b] = (uint8_t)tok_u8enc(cp, enc);
        memcpy(tok_bl_map[b], enc, tok_bl_len[b]);
    }
}
void tok_bl_init(void) { pthread_once(&bl_once, bl_build); }

/* Rewrites Oniguruma's Unicode classes (tokenizers compiles tokenizer.json
 * patterns with Oniguruma) into PCRE2 spellings that mean the same: \s and \S
 * are the White_Space property (PCRE2's \s also takes U+180E), \w and \W are
 * Letter | Mark | Decimal_Number | Connector_Punctuation (PCRE2 10.42's \w
 * lacks marks). An escaped character (\\s) is copied as is. Returns a
 * malloc'ed pattern and its length. */
static char *onig_to_pcre2(const char *pat, size_t len, size_t *outlen) {
    static const char ws[] = "\\p{White_Space}", nws[] = "\\P{White_Space}";
    static const char w_in[] = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";
    char *o = malloc(len * 24 + 1);
    VLMC_ASSERT(o != NULL, "out of memory");
    size_t k = 0;
    int in_class = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = pat[i];
        if (ch == '\\' && i + 1 < len) {
            char e = pat[++i];
            const char *rep = NULL;
            char buf[64];
            if (e == 's') rep = ws;
            else if (e == 'S') rep = nws;
            else if (e == 'w') rep = in_class ? w_in : (snprintf(buf, sizeof buf, "[%s]", w_in), buf);
            else if (e == 'W' && !in_class) rep = (snprintf(buf, sizeof buf, "[^%s]", w_in), buf);
            if (rep) {
                memcpy(o + k, rep, strlen(rep));
                k += strlen(rep);
            } else {
                o[k++] = '\\';
                o[k++] = e;
            }
            continue;
        }
        if (ch == '[' && !in_class) {
            in_class = 1;
            o[k++] = ch;
            /* a ']' right after '[' or '[^' is a literal */
            if (i + 1 < len && pat[i + 1] == '^') o[k++] = pat[++i];
            if (i + 1 < len && pat[i + 1] == ']') o[k++] = pat[++i];
            continue;
        }
        if (ch == ']' && in_class) in_class = 0;
        o[k++] = ch;
    }
    o[k] = 0;
    *outlen = k;
    return o;
}

pcre2_code *tok_regex_compile(const char *pat, size_t len, const char *field, VStatus *st) {
    int err;
    PCRE2_SIZE off;
    size_t n;
    char *p = onig_to_pcre2(pat, len, &n);
    /* Oniguruma's Ruby syntax: ^ and $ anchor at lines, '.' stops only at \n */
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    VLMC_ASSERT(cc != NULL, "out of memory");
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, n, PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &off, cc);
    pcre2_compile_context_free(cc);
    free(p);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        vs_set(st, VS_EINVAL, "%s: invalid regex: %s", field, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* falls back to the interpreter when JIT is unavailable */
    return re;
}

static void ev_push(TokCtx *c, size_t *n, uint32_t off, uint32_t len, int m) {
    if (*n == c->capev) {
        size_t cap = c->capev ? c->capev * 2 : 256;
        TokSpan *e = realloc(c->ev, cap * sizeof *e);
        uint8_t *em = realloc(c->evm, cap);
        VLMC_ASSERT(e && em, "out of memory");
        c->ev = e;
        c->evm = em;
        c->capev = cap;
    }
    c->ev[*n] = (TokSpan){off, len};
    c->evm[(*n)++] = (uint8_t)m;
}

/* Events of piece s[0..n) for a Split-like step; returns count or -1. */
static long find_events(const TokPre *p, TokCtx *c, const char *s, size_t n, VStatus *st) {
    size_t ne = 0, prev = 0;
    if (p->matcher == TM_REGEX) {
        size_t at = 0;
        while (at <= n) {
            int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, at, PCRE2_NO_UTF_CHECK, c->md, c->mctx);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0 && rc != 0) {
                PCRE2_UCHAR msg[128];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return vs_set(st, VS_EINVAL, "pre_tokenizer: regex match failed: %s", (char *)msg), -1;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
            size_t a = ov[0], b = ov[1];
            if (b == a) {   /* empty match: contributes nothing; step one character */
                if (a >= n) break;
                at = a + (size_t)tok_u8len((unsigned char)s[a]);
                continue;
            }
            if (a > prev) ev_push(c, &ne, (uint32_t)prev, (uint32_t)(a - prev), 0);
            ev_push(c, &ne, (uint32_t)a, (uint32_t)(b - a), 1);
            prev = at = b;
        }
    } else {
        for (size_t i = 0; i < n;) {
            int len;
            int32_t cp = tok_u8dec(s + i, &len);
            int m;
            if (p->matcher == TM_CHAR) m = cp == p->ch;
            else {
                utf8proc_category_t cat = utf8proc_category(cp);
                m = cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
            }
            if (m) {
                if (i > prev) ev_push(c, &ne, (uint32_t)prev, (uint32_t)(i - prev), 0);
                ev_push(c, &ne, (uint32_t)i, (uint32_t)len, 1);
                prev = i + (size_t)len;
            }
            i += (size_t)len;
        }
    }
    if (prev < n) ev_push(c, &ne, (uint32_t)prev, (uint32_t)(n - prev), 0);
    if (p->invert)
        for (size_t i = 0; i < ne; i++) c->evm[i] ^= 1;
    return (long)ne;
}

/* Folds events by behavior (tokenizers' SplitDelimiterBehavior); pushes spans
 * shifted by base into out. */
static void fold_events(int behavior, TokCtx *c, size_t ne, uint32_t base, TokPieces *out) {
    TokSpan *e = c->ev;
    uint8_t *m = c->evm;
    switch (behavior) {
    case TS_REMOVED:
        for (size_t i = 0; i < ne; i++)
            if (!m[i]) tp_push(out, base + e[i].off, e[i].len);
        return;
    case TS_ISOLATED:
        for (size_t i = 0; i < ne; i++) tp_push(out, base + e[i].off, e[i].len);
        return;
    case TS_MERGED_PREV:
    case TS_CONTIGUOUS: {
        /* accumulate into the last output span in place (k = spans emitted) */
        size_t k = 0;
        int prevm = 0;
        for (size_t i = 0; i < ne; i++) {
            int merge = behavior == TS_MERGED_PREV ? (m[i] && !prevm) : (m[i] == prevm);
            if (merge && k > 0) e[k - 1].len = e[i].off + e[i].len - e[k - 1].off;
            else e[k++] = e[i];
            prevm = m[i];
        }
        for (size_t i = 0; i < k; i++) tp_push(out, base + e[i].off, e[i].len);
        return;
    }
    case TS_MERGED_NEXT: {
        /* fold from the right: a match joins the span that follows it */
        size_t k = ne;   /* output built at the end of the array, growing left */
        int prevm = 0;
        for (size_t i = ne; i-- > 0;) {
            int merge = m[i] && !prevm;
            if (merge && k < ne) { e[k].len = e[k].off + e[k].len - e[i].off; e[k].off = e[i].off; }
            else e[--k] = e[i];
            prevm = m[i];
        }
        for (size_t i = k; i < ne; i++) tp_push(out, base + e[i].off, e[i].len);
        return;
    }
    }
}

static int split_step(const TokPre *p, TokCtx *c, const TokPieces *in, TokPieces *out, VStatus *st) {
    for (size_t i = 0; i < in->nsp; i++) {
        const char *s = in->b.s + in->sp[i].off;
        size_t n = in->sp[i].len;
        uint32_t base = (uint32_t)out->b.n;
        tb_copy(&out->b, s, in->b.track ? in->b.o + in->sp[i].off : NULL, n);
        long ne = find_events(p, c, s, n, st);
        if (ne < 0) return -1;
        fold_events(p->behavior, c, (size_t)ne, base, out);
    }
    return 0;
}

static int bytelevel_step(const TokPre *p, TokCtx *c, const TokPieces *in, TokPieces *out, VStatus *st) {
    TokBuf *tmp = &c->tmp;
    for (size_t i = 0; i < in->nsp; i++) {
        const char *s = in->b.s + in->sp[i].off;
        const uint32_t *o = in->b.track ? in->b.o + in->sp[i].off : NULL;
        size_t n = in->sp[i].len;
        if (p->add_prefix_space && n && s[0] != ' ') {
            tmp->n = 0;
            tb_set_track(tmp, in->b.track);
            tb_put(tmp, " ", 1, o ? o[0] : 0);
            tb_copy(tmp, s, o, n);
            s = tmp->s;
            o = tmp->track ? tmp->o : NULL;
            n = tmp->n;
        }
        size_t ne;
        if (p->use_regex) {
            TokPre rx = *p;
            rx.matcher = TM_REGEX;
            rx.invert = 0;
            long r = find_events(&rx, c, s, n, st);
            if (r < 0) return -1;
            ne = (size_t)r;
        } else {
            ne = 0;
            ev_push(c, &ne, 0, (uint32_t)n, 1);
        }
        for (size_t k = 0; k < ne; k++) {   /* Isolated: every event becomes a piece */
            uint32_t start = (uint32_t)out->b.n;
            tb_reserve(&out->b, 2 * (size_t)c->ev[k].len);   /* each byte maps to 1 or 2 bytes */
            char *w = out->b.s + out->b.n;
            for (uint32_t j = c->ev[k].off; j < c->ev[k].off + c->ev[k].len; j++) {
                unsigned char b = (unsigned char)s[j];
                if (o) {
                    out->b.o[w - out->b.s] = o[j];
                    if (tok_bl_len[b] == 2) out->b.o[w - out->b.s + 1] = o[j];
                }
                w[0] = tok_bl_map[b][0];
                w[1] = tok_bl_map[b][1];
                w += tok_bl_len[b];
            }
            out->b.n = (size_t)(w - out->b.s);
            tp_push(out, start, (uint32_t)out->b.n - start);
        }
    }
    return 0;
}

static int metaspace_step(const TokPre *p, TokCtx *c, const TokPieces *in, TokPieces *out) {
    for (size_t i = 0; i < in->nsp; i++) {
        const char *s = in->b.s + in->sp[i].off;
        const uint32_t *o = in->b.track ? in->b.o + in->sp[i].off : NULL;
        size_t n = in->sp[i].len;
        uint32_t base = (uint32_t)out->b.n;
        int starts = n >= (size_t)p->repl_len && memcmp(s, p->repl, (size_t)p->repl_len) == 0;
        starts |= n > 0 && s[0] == ' ';   /* becomes the replacement below */
        int first = in->first && i == 0 && in->sp[i].off == 0;
        if (n && !starts && (p->prepend_scheme == TPS_ALWAYS || (p->prepend_scheme == TPS_FIRST && first)))
            tb_put(&out->b, p->repl, (size_t)p->repl_len, o ? o[0] : 0);
        for (size_t j = 0; j < n; j++) {
            if (s[j] == ' ') tb_put(&out->b, p->repl, (size_t)p->repl_len, o ? o[j] : 0);
            else tb_put(&out->b, s + j, 1, o ? o[j] : 0);
        }
        uint32_t len = (uint32_t)out->b.n - base;
        if (!p->split) { tp_push(out, base, len); continue; }
        /* split on the replacement character, each one starting a new piece (MergedWithNext) */
        size_t ne = 0, prev = 0;
        const char *t = out->b.s + base;
        for (size_t j = 0; j + (size_t)p->repl_len <= len;) {
            if (memcmp(t + j, p->repl, (size_t)p->repl_len) == 0) {
                if (j > prev) ev_push(c, &ne, (uint32_t)prev, (uint32_t)(j - prev), 0);
                ev_push(c, &ne, (uint32_t)j, (uint32_t)p->repl_len, 1);
                j += (size_t)p->repl_len;
                prev = j;
            } else {
                j += (size_t)tok_u8len((unsigned char)t[j]);
            }
        }
        if (prev < len) ev_push(c, &ne, (uint32_t)prev, (uint32_t)(len - prev), 0);
        fold_events(TS_MERGED_NEXT, c, ne, base, out);
    }
    return 0;
}

TokPieces *tok_pretokenize(const TokPre *p, TokCtx *c, TokPieces *in, TokPieces *out, VStatus *st) {
    if (p->kind == TP_SEQ) {
        TokPieces *cur = in, *other = out;
        for (size_t i = 0; i < p->nsub; i++) {
            TokPieces *r = tok_pretokenize(&p->sub[i], c, cur, other, st);
            if (!r) return NULL;
            other = (r == cur) ? other : cur;
            cur = r;
        }
        return cur;
    }
    tp_reset(out, in->b.track);
    out->first = in->first;
    int rc;
    switch (p->kind) {
    case TP_BYTELEVEL: rc = bytelevel_step(p, c, in, out, st); break;
    case TP_SPLIT: rc = split_step(p, c, in, out, st); break;
    case TP_METASPACE: rc = metaspace_step(p, c, in, out); break;
    default: VLMC_PANIC("unknown pre-tokenizer kind %d", p->kind);
    }
    return rc ? NULL : out;
}

void tok_pre_free(TokPre *p) {
    if (p->re) pcre2_code_free(p->re);
    for (size_t i = 0; i < p->nsub; i++) tok_pre_free(&p->sub[i]);
    free(p->sub);
}
