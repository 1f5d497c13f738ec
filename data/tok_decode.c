/* data/tok_decode.c — ids -> text: decoders ByteLevel, ByteFallback,
 * Metaspace, Replace, Fuse, Strip and Sequence, each a map from a list of
 * token strings to a list of strings (tokenizers' decode_chain), joined at
 * the end. Without a decoder, tokens are joined with spaces (as tokenizers).
 * Not on a hot path: clarity over speed. */
#include <stdlib.h>
#include <string.h>

#include "data/tok_internal.h"

typedef struct DList { TokBuf b; TokSpan *sp; size_t n, cap; } DList;

static void dl_push(DList *l, size_t off, size_t len) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->sp = realloc(l->sp, l->cap * sizeof *l->sp);
        VLMC_ASSERT(l->sp != NULL, "out of memory");
    }
    l->sp[l->n++] = (TokSpan){(uint32_t)off, (uint32_t)len};
}
static void dl_add(DList *l, const char *s, size_t n) {
    size_t off = l->b.n;
    tb_put(&l->b, s, n, 0);
    dl_push(l, off, n);
}
static void dl_free(DList *l) {
    tb_free(&l->b);
    free(l->sp);
}

static int16_t bl_inv[324];   /* byte-level code point -> byte */
static pthread_once_t inv_once = PTHREAD_ONCE_INIT;
static void inv_build(void) {
    tok_bl_init();
    for (int i = 0; i < 324; i++) bl_inv[i] = -1;
    for (int b = 0; b < 256; b++) {
        int len;
        bl_inv[tok_u8dec(tok_bl_map[b], &len)] = (int16_t)b;
    }
}

static void dec_step(const TokDec *d, const DList *in, DList *out) {
    out->b.n = 0;
    out->n = 0;
    switch (d->kind) {
    case TD_BYTELEVEL: {
        TokBuf raw = {0};
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->b.s + in->sp[i].off;
            size_t n = in->sp[i].len, start = raw.n, j = 0;
            while (j < n) {
                int len;
                int32_t cp = tok_u8dec(s + j, &len);
                if (cp >= 324 || bl_inv[cp] < 0) break;
                char b = (char)bl_inv[cp];
                tb_put(&raw, &b, 1, 0);
                j += (size_t)len;
            }
            if (j < n) { raw.n = start; tb_put(&raw, s, n, 0); }   /* not byte-level: raw bytes */
        }
        size_t off = out->b.n;
        tok_lossy_append(&out->b, raw.s, raw.n);
        dl_push(out, off, out->b.n - off);
        tb_free(&raw);
        return;
    }
    case TD_BYTEFALLBACK: {
        TokBuf bytes = {0};
        for (size_t i = 0; i <= in->n; i++) {
            const char *s = i < in->n ? in->b.s + in->sp[i].off : NULL;
            size_t n = i < in->n ? in->sp[i].len : 0;
            int is_byte = 0;
            unsigned v = 0;
            if (s && n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
                char hex[3] = {s[3], s[4], 0}, *end;
                v = (unsigned)strtoul(hex, &end, 16);
                is_byte = *end == 0 && hex[0] != '+' && hex[0] != '-' && hex[0] != ' ';
            }
            if (is_byte) { char b = (char)v; tb_put(&bytes, &b, 1, 0); continue; }
            if (bytes.n) {
                if (tok_u8valid(bytes.s, bytes.n) == bytes.n) dl_add(out, bytes.s, bytes.n);
                else
                    for (size_t k = 0; k < bytes.n; k++) dl_add(out, "\xEF\xBF\xBD", 3);   /* one U+FFFD per byte */
                bytes.n = 0;
            }
            if (s) dl_add(out, s, n);
        }
        tb_free(&bytes);
        return;
    }
    case TD_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->b.s + in->sp[i].off;
            size_t n = in->sp[i].len, off = out->b.n;
            for (size_t j = 0; j < n;) {
                if (j + (size_t)d->repl_len <= n && !memcmp(s + j, d->repl, (size_t)d->repl_len)) {
                    if (!(i == 0 && d->prepend_scheme != TPS_NEVER)) tb_put(&out->b, " ", 1, 0);
                    j += (size_t)d->repl_len;
                } else {
                    int len = tok_u8len((unsigned char)s[j]);
                    tb_put(&out->b, s + j, (size_t)len, 0);
                    j += (size_t)len;
                }
            }
            dl_push(out, off, out->b.n - off);
        }
        return;
    case TD_REPLACE:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->b.s + in->sp[i].off;
            size_t n = in->sp[i].len, off = out->b.n, j = 0;
            while (j < n) {
                if (d->patlen && j + d->patlen <= n && !memcmp(s + j, d->pat, d->patlen)) {
                    tb_put(&out->b, d->content, d->contentlen, 0);
                    j += d->patlen;
                } else {
                    tb_put(&out->b, s + j, 1, 0);
                    j++;
                }
            }
            dl_push(out, off, out->b.n - off);
        }
        return;
    case TD_FUSE: {
        size_t off = out->b.n;
        for (size_t i = 0; i < in->n; i++) tb_put(&out->b, in->b.s + in->sp[i].off, in->sp[i].len, 0);
        dl_push(out, off, out->b.n - off);
        return;
    }
    case TD_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->b.s + in->sp[i].off;
            size_t n = in->sp[i].len, a = 0, b = n;
            for (int k = 0; k < d->start && a < n; k++) {
                int len;
                if (tok_u8dec(s + a, &len) != d->strip_ch) break;
                a += (size_t)len;
            }
            for (int k = 0; k < d->stop && b > a; k++) {
                size_t p = b - 1;
                while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                int len;
                if (tok_u8dec(s + p, &len) != d->strip_ch) break;
                b = p;
            }
            dl_add(out, s + a, b - a);
        }
        return;
    default: VLMC_PANIC("unknown decoder kind %d", d->kind);
    }
}

/* Runs decoder d over *cur, leaving the result in *cur (other is scratch). */
static void dec_run(const TokDec *d, DList **cur, DList **other) {
    if (d->kind == TD_SEQ) {
        for (size_t i = 0; i < d->nsub; i++) dec_run(&d->sub[i], cur, other);
        return;
    }
    dec_step(d, *cur, *other);
    DList *x = *cur;
    *cur = *other;
    *other = x;
}

char *tok_decode(const Tokenizer *t, const int32_t *ids, size_t n, int skip_special, VStatus *st) {
    size_t len;
    return tok_decode_len(t, ids, n, skip_special, &len, st);
}

char *tok_decode_len(const Tokenizer *t, const int32_t *ids, size_t n, int skip_special, size_t *len, VStatus *st) {
    pthread_once(&inv_once, inv_build);
    DList a = {0}, b = {0}, *cur = &a, *other = &b;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_ids) {
            vs_set(st, VS_EINVAL, "%s: decode: id %d at position %zu is outside the vocabulary (%d)", t->name, ids[i],
                   i, t->n_ids);
            dl_free(&a);
            return NULL;
        }
        if (skip_special && (t->is_special[ids[i]] & 1)) continue;
        if (!t->tok[ids[i]]) continue;   /* a hole in the vocabulary: tokenizers drops it too */
        const char *s = t->tok[ids[i]];
        size_t n = t->toklen[ids[i]];
        if (t->is_special[ids[i]] & 2)   /* tokenizers maps a normalized added token's id to its normalized text */
            for (size_t k = 0; k < t->n_added; k++)
                if (t->added[k].id == ids[i]) { s = t->added[k].ncontent; n = t->added[k].nlen; break; }
        dl_add(&a, s, n);
    }
    if (t->dec) dec_run(t->dec, &cur, &other);
    TokBuf out = {0};
    for (size_t i = 0; i < cur->n; i++) {
        if (!t->dec && i) tb_put(&out, " ", 1, 0);
        tb_put(&out, cur->b.s + cur->sp[i].off, cur->sp[i].len, 0);
    }
    *len = out.n;
    tb_put(&out, "", 1, 0);
    dl_free(&a);
    dl_free(&b);
    free(out.o);
    return out.s;
}

void tok_dec_free(TokDec *d) {
    free(d->pat);
    free(d->content);
    for (size_t i = 0; i < d->nsub; i++) tok_dec_free(&d->sub[i]);
    free(d->sub);
}
