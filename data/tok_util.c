/* data/tok_util.c — hash maps, text buffers and UTF-8 helpers for the tokenizer.
 *
 * TokStrMap maps token strings to ids without owning the strings (they live
 * in Tokenizer.tok). TokPairMap maps a BPE pair of ids to (rank, merged id).
 * Both use linear probing at load factor <= 1/2, sized at construction. */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "data/tok_internal.h"

uint64_t tok_fnv1a(const void *p, size_t n, uint64_t h) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

int tok_strmap_init(TokStrMap *m, size_t n_expected, char **str, uint32_t *len) {
    m->cap = pow2_at_least(2 * n_expected + 16);
    m->slot = malloc(m->cap * sizeof *m->slot);
    if (!m->slot) return -1;
    memset(m->slot, 0xff, m->cap * sizeof *m->slot);
    m->str = str;
    m->len = len;
    return 0;
}

void tok_strmap_free(TokStrMap *m) {
    free(m->slot);
    m->slot = NULL;
}

static size_t str_slot(size_t cap, const char *s, size_t n) {
    return (size_t)tok_mix_hash(s, n) & (cap - 1);
}

int32_t tok_strmap_get(const TokStrMap *m, const char *s, size_t n) {
    size_t i = str_slot(m->cap, s, n);
    for (;;) {
        int32_t id = m->slot[i];
        if (id < 0) return -1;
        if (m->len[id] == n && memcmp(m->str[id], s, n) == 0) return id;
        i = (i + 1) & (m->cap - 1);
    }
}

int tok_strmap_put(TokStrMap *m, int32_t id) {
    size_t i = str_slot(m->cap, m->str[id], m->len[id]);
    for (;;) {
        int32_t o = m->slot[i];
        if (o < 0) { m->slot[i] = id; return 0; }
        if (m->len[o] == m->len[id] && memcmp(m->str[o], m->str[id], m->len[id]) == 0) return 1;
        i = (i + 1) & (m->cap - 1);
    }
}

int tok_pairmap_init(TokPairMap *m, size_t n_expected) {
    m->cap = pow2_at_least(2 * n_expected + 16);
    m->e = malloc(m->cap * sizeof *m->e);
    if (!m->e) return -1;
    for (size_t i = 0; i < m->cap; i++) m->e[i].key = UINT64_MAX;
    return 0;
}

void tok_pairmap_free(TokPairMap *m) {
    free(m->e);
    m->e = NULL;
}

void tok_pairmap_put(TokPairMap *m, int32_t a, int32_t b, int32_t rank, int32_t newid) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 20) & (m->cap - 1);
    for (;;) {
        TokPairEnt *e = &m->e[i];
        if (e->key == k) return;   /* tokenizers keeps the first (lowest-rank) merge of a pair */
        if (e->key == UINT64_MAX) {
            *e = (TokPairEnt){k, rank, newid};
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

void tb_reserve(TokBuf *b, size_t extra) {
    size_t need = b->n + extra;
    if (need <= b->cap) return;
    size_t c = b->cap ? b->cap : 256;
    while (c < need) c *= 2;
    char *s = realloc(b->s, c);
    VLMC_ASSERT(s != NULL, "out of memory growing a text buffer to %zu bytes", c);
    b->s = s;
    if (b->track || b->o) {
        uint32_t *o = realloc(b->o, c * sizeof *o);
        VLMC_ASSERT(o != NULL, "out of memory");
        b->o = o;
    }
    b->cap = c;
}

void tb_set_track(TokBuf *b, int track) {
    b->track = track;
    if (track && !b->o && b->cap) {
        b->o = malloc(b->cap * sizeof *b->o);
        VLMC_ASSERT(b->o != NULL, "out of memory");
    }
}

void tb_free(TokBuf *b) {
    free(b->s);
    free(b->o);
    memset(b, 0, sizeof *b);
}

void tp_reset(TokPieces *p, int track) {
    tb_set_track(&p->b, track);
    p->b.n = 0;
    p->nsp = 0;
}

void tp_push(TokPieces *p, uint32_t off, uint32_t len) {
    if (len == 0) return;
    if (p->nsp == p->capsp) {
        size_t c = p->capsp ? p->capsp * 2 : 64;
        TokSpan *s = realloc(p->sp, c * sizeof *s);
        VLMC_ASSERT(s != NULL, "out of memory");
        p->sp = s;
        p->capsp = c;
    }
    p->sp[p->nsp++] = (TokSpan){off, len};
}

void tp_free(TokPieces *p) {
    tb_free(&p->b);
    free(p->sp);
    memset(p, 0, sizeof *p);
}

int32_t tok_u8dec(const char *s, int *len) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) { *len = 1; return u[0]; }
    if (u[0] < 0xE0) { *len = 2; return ((u[0] & 0x1F) << 6) | (u[1] & 0x3F); }
    if (u[0] < 0xF0) { *len = 3; return ((u[0] & 0x0F) << 12) | ((u[1] & 0x3F) << 6) | (u[2] & 0x3F); }
    *len = 4;
    return ((u[0] & 0x07) << 18) | ((u[1] & 0x3F) << 12) | ((u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

int tok_u8enc(int32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F); o[2] = 0x80 | ((cp >> 6) & 0x3F);
    o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid; also
 * reports how many bytes form the maximal invalid prefix (Unicode's "maximal
 * subpart", what Rust's from_utf8_lossy replaces by one U+FFFD). */
static int u8_seq(const unsigned char *s, size_t n, int *bad) {
    unsigned char c = s[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else { *bad = 1; return 0; }
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n) { *bad = k; return 0; }
        unsigned char d = s[k];
        unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (d < l || d > h) { *bad = k; return 0; }
    }
    return need + 1;
}

size_t tok_u8valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {   /* ASCII runs 8 bytes at a time */
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        if (u[i] < 0x80) { i++; continue; }
        int bad = 0, k = u8_seq(u + i, n - i, &bad);
        if (!k) return i;
        i += (size_t)k;
    }
    return n;
}

void tok_lossy_append(TokBuf *out, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int bad = 0, k = u8_seq(u + i, n - i, &bad);
        if (k) { tb_put(out, s + i, (size_t)k, 0); i += (size_t)k; }
        else { tb_put(out, "\xEF\xBF\xBD", 3, 0); i += (size_t)bad; }
    }
}

int tok_is_whitespace(int32_t cp) {
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return 1;
    if (cp < 0x80) return 0;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000: return 1;
    default: return cp >= 0x2000 && cp <= 0x200A;
    }
}

int tok_is_alnum(int32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 32) >= 'a' && (cp | 32) <= 'z');
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT ||
           c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_LO || c == UTF8PROC_CATEGORY_ND ||
           c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

void tok_ids_push(TokIds *v, int32_t id) {
    if (v->n == v->cap) {
        size_t c = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, c * sizeof *p);
        VLMC_ASSERT(p != NULL, "out of memory growing an id list to %zu", c);
        v->ids = p;
        v->cap = c;
    }
    v->ids[v->n++] = id;
}

void tok_ids_free(TokIds *v) {
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}
