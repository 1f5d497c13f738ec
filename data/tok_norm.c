/* data/tok_norm.c — normalizers: NFC/NFD/NFKC/NFKD (utf8proc), Lowercase,
 * Replace (literal or regex), Prepend, Strip, Sequence.
 *
 * Unicode normalization only calls utf8proc on the short regions around
 * characters that a normalization form may change (see unicode_norm), so
 * normalizing region by region equals normalizing the whole text, and
 * offsets stay exact outside changed regions. */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "data/tok_internal.h"

/* A character no normalization form changes or combines into its left
 * neighbour: no decomposition, combining class 0, never the second half of a
 * composition (Hangul jamo/syllables are composed by rule: never stable).
 * Nearly all Cyrillic, CJK and emoji text is stable. */
static int stable_char(int32_t cp) {
    if (cp < 0x80) return 1;
    if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xAC00 && cp <= 0xD7A3)) return 0;
    const utf8proc_property_t *p = utf8proc_get_property(cp);
    return p->decomp_seqindex == UINT16_MAX && p->combining_class == 0 &&
           (p->comb_index == UINT16_MAX || p->comb_index < 0x8000);
}

/* Normalizes region by region: a region starts at the stable character before
 * an unstable one (it may compose with it) and ends before a stable character
 * followed by a stable one (nothing can reach across that boundary). Outside
 * regions text is copied, offsets exact; a changed region maps to its start. */
static int unicode_norm(int kind, const TokBuf *in, TokBuf *out, VStatus *st) {
    utf8proc_option_t opt = UTF8PROC_STABLE;
    opt |= (kind == TN_NFC || kind == TN_NFKC) ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
    if (kind == TN_NFKC || kind == TN_NFKD) opt |= UTF8PROC_COMPAT;
    const char *s = in->s;
    size_t n = in->n, i = 0;
    while (i < n) {
        size_t p = i, prev = i;
        int len = 1;
        while (p < n) {
            if ((unsigned char)s[p] < 0x80) { prev = p++; continue; }
            int32_t cp = tok_u8dec(s + p, &len);
            if (!stable_char(cp)) break;
            prev = p;
            p += (size_t)len;
        }
        if (p >= n) { tb_copy(out, s + i, in->track ? in->o + i : NULL, n - i); break; }
        size_t cs = p > i ? prev : p;
        tb_copy(out, s + i, in->track ? in->o + i : NULL, cs - i);
        size_t e = p + (size_t)len;
        while (e < n) {
            int l1, l2;
            if (stable_char(tok_u8dec(s + e, &l1)) && (e + (size_t)l1 >= n || stable_char(tok_u8dec(s + e + l1, &l2))))
                break;
            e += (size_t)l1;
        }
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s + cs, (utf8proc_ssize_t)(e - cs), &dst, opt);
        if (r < 0) return vs_set(st, VS_EINVAL, "normalizer: %s", utf8proc_errmsg(r));
        if ((size_t)r == e - cs && memcmp(dst, s + cs, (size_t)r) == 0)
            tb_copy(out, s + cs, in->track ? in->o + cs : NULL, e - cs);
        else
            tb_put(out, (const char *)dst, (size_t)r, in->track ? in->o[cs] : 0);
        free(dst);
        i = e;
    }
    return 0;
}

static void lowercase(const TokBuf *in, TokBuf *out) {
    size_t i = 0;
    while (i < in->n) {
        unsigned char c = (unsigned char)in->s[i];
        uint32_t o = in->track ? in->o[i] : 0;
        if (c < 0x80) {
            char l = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            tb_put(out, &l, 1, o);
            i++;
            continue;
        }
        int len;
        int32_t cp = tok_u8dec(in->s + i, &len);
        char enc[8];
        if (cp == 0x130) {   /* İ: Rust's full lowercase mapping gives "i\u0307" */
            tb_put(out, "i\xCC\x87", 3, o);
        } else {
            int k = tok_u8enc(utf8proc_tolower(cp), enc);
            tb_put(out, enc, (size_t)k, o);
        }
        i += (size_t)len;
    }
}

static int replace(const TokNorm *n, const TokBuf *in, TokBuf *out, VStatus *st) {
    size_t i = 0;
    if (!n->re) {
        if (n->patlen == 0) { tb_copy(out, in->s, in->o, in->n); return 0; }
        while (i < in->n) {
            const char *m = memmem(in->s + i, in->n - i, n->pat, n->patlen);
            size_t at = m ? (size_t)(m - in->s) : in->n;
            tb_copy(out, in->s + i, in->track ? in->o + i : NULL, at - i);
            if (!m) break;
            tb_put(out, n->content, n->contentlen, in->track ? in->o[at] : 0);
            i = at + n->patlen;
        }
        return 0;
    }
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    if (!md) return vs_set(st, VS_ENOMEM, "out of memory");
    while (i <= in->n) {
        int rc = pcre2_match(n->re, (PCRE2_SPTR)in->s, in->n, i, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) { pcre2_match_data_free(md); return vs_set(st, VS_EINVAL, "normalizer Replace: regex error %d", rc); }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        tb_copy(out, in->s + i, in->track ? in->o + i : NULL, a - i);
        if (b > a) {
            tb_put(out, n->content, n->contentlen, in->track ? in->o[a] : 0);
            i = b;
        } else {   /* empty match: keep one character and move on */
            if (a >= in->n) { i = a; break; }
            size_t k = (size_t)tok_u8len((unsigned char)in->s[a]);
            tb_copy(out, in->s + a, in->track ? in->o + a : NULL, k);
            i = a + k;
        }
    }
    if (i < in->n) tb_copy(out, in->s + i, in->track ? in->o + i : NULL, in->n - i);
    pcre2_match_data_free(md);
    return 0;
}

static void strip(const TokNorm *n, const TokBuf *in, TokBuf *out) {
    size_t a = 0, b = in->n;
    while (n->strip_left && a < b) {
        int len;
        if (!tok_is_whitespace(tok_u8dec(in->s + a, &len))) break;
        a += (size_t)len;
    }
    while (n->strip_right && b > a) {
        size_t k = b - 1;
        while (k > a && ((unsigned char)in->s[k] & 0xC0) == 0x80) k--;
        int len;
        if (!tok_is_whitespace(tok_u8dec(in->s + k, &len))) break;
        b = k;
    }
    tb_copy(out, in->s + a, in->track ? in->o + a : NULL, b - a);
}

int tok_normalize(const TokNorm *n, const TokBuf *in, TokBuf *out, TokBuf *tmp, VStatus *st) {
    out->n = 0;
    tb_set_track(out, in->track);
    switch (n->kind) {
    case TN_NFC: case TN_NFD: case TN_NFKC: case TN_NFKD: return unicode_norm(n->kind, in, out, st);
    case TN_LOWER: lowercase(in, out); return 0;
    case TN_REPLACE: return replace(n, in, out, st);
    case TN_STRIP: strip(n, in, out); return 0;
    case TN_PREPEND:
        if (in->n) tb_put(out, n->content, n->contentlen, in->track ? in->o[0] : 0);
        tb_copy(out, in->s, in->o, in->n);
        return 0;
    case TN_SEQ: {
        /* ping-pong between out and tmp; a nested Sequence gets its own scratch */
        const TokBuf *cur = in;
        TokBuf local = {0};
        for (size_t i = 0; i < n->nsub; i++) {
            TokBuf *dst = (i % 2 == 0) ? tmp : out;
            if (cur == dst) dst = (dst == tmp) ? out : tmp;
            if (tok_normalize(&n->sub[i], cur, dst, &local, st)) { tb_free(&local); return -1; }
            cur = dst;
        }
        tb_free(&local);
        if (cur == in) { out->n = 0; tb_copy(out, in->s, in->o, in->n); }
        else if (cur == tmp) { out->n = 0; tb_copy(out, tmp->s, tmp->o, tmp->n); }
        return 0;
    }
    default: VLMC_PANIC("unknown normalizer kind %d", n->kind);
    }
}

void tok_norm_free(TokNorm *n) {
    free(n->pat);
    free(n->content);
    if (n->re) pcre2_code_free(n->re);
    for (size_t i = 0; i < n->nsub; i++) tok_norm_free(&n->sub[i]);
    free(n->sub);
}
