/* data/tok_bpe.c — the BPE model: one pre-tokenized piece -> ids.
 *
 * Mirrors tokenizers' BPE::merge_word + Word::merge_all exactly, including
 * its priority queue: entries are (rank, position) with the lowest rank (then
 * leftmost position) popped first, and a popped entry is applied when the pair
 * now at that position still merges into the same new id (the same staleness
 * test tokenizers uses). Characters missing from the vocabulary become
 * <0xNN> byte tokens (byte_fallback) or the unk token (fused when fuse_unk).
 * ignore_merges: a piece that is itself a vocabulary token is emitted whole.
 * A per-thread cache maps recent pieces to their ids (no locks). */
#include <stdlib.h>
#include <string.h>

#include "data/tok_internal.h"

#define CACHE_CAP (1u << 15)          /* entries; cleared when half full */
#define CACHE_MAX_PIECE 256           /* longer pieces are not cached */
#define CACHE_ARENA_MAX (8u << 20)

static void heap_push(TokCtx *c, size_t *n, TokBpeMerge m) {
    if (*n == c->capheap) {
        size_t cap = c->capheap ? c->capheap * 2 : 256;
        TokBpeMerge *h = realloc(c->heap, cap * sizeof *h);
        VLMC_ASSERT(h != NULL, "out of memory");
        c->heap = h;
        c->capheap = cap;
    }
    TokBpeMerge *h = c->heap;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].rank < m.rank || (h[p].rank == m.rank && h[p].pos <= m.pos)) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static TokBpeMerge heap_pop(TokCtx *c, size_t *n) {
    TokBpeMerge *h = c->heap, top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const TokBpeMerge *best = &last;
        if (l < *n && (h[l].rank < best->rank || (h[l].rank == best->rank && h[l].pos < best->pos))) { m = l; best = &h[l]; }
        if (r < *n && (h[r].rank < best->rank || (h[r].rank == best->rank && h[r].pos < best->pos))) { m = r; best = &h[r]; }
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n) h[i] = last;
    return top;
}

static void sym_push(TokCtx *c, size_t *n, int32_t id, int32_t len) {
    if (*n == c->capsym) {
        size_t cap = c->capsym ? c->capsym * 2 : 256;
        TokBpeSym *s = realloc(c->sym, cap * sizeof *s);
        VLMC_ASSERT(s != NULL, "out of memory");
        c->sym = s;
        c->capsym = cap;
    }
    int32_t i = (int32_t)*n;
    c->sym[(*n)++] = (TokBpeSym){id, i - 1, i + 1, len};
}

/* ---- cache ---------------------------------------------------------------- */
static void cache_clear(TokCtx *c) {
    if (!c->cache) {
        c->cache = malloc(CACHE_CAP * sizeof *c->cache);
        VLMC_ASSERT(c->cache != NULL, "out of memory");
        c->cache_cap = CACHE_CAP;
    }
    memset(c->cache, 0, c->cache_cap * sizeof *c->cache);
    c->cache_n = 0;
    c->arena_n = 0;
}

static const TokCacheEnt *cache_get(TokCtx *c, uint64_t h, const char *s, size_t n) {
    if (!c->cache) return NULL;
    for (size_t i = h & (c->cache_cap - 1);; i = (i + 1) & (c->cache_cap - 1)) {
        const TokCacheEnt *e = &c->cache[i];
        if (!e->h) return NULL;
        if (e->h == h && e->klen == n && memcmp(c->arena + e->key, s, n) == 0) return e;
    }
}

static void cache_put(TokCtx *c, uint64_t h, const char *s, size_t n, const int32_t *ids, size_t nids) {
    size_t need = n + 4 + nids * 4;
    if (!c->cache || c->cache_n >= c->cache_cap / 2 || c->arena_n + need > CACHE_ARENA_MAX) cache_clear(c);
    if (c->arena_n + need > c->arena_cap) {
        size_t cap = c->arena_cap ? c->arena_cap : 1 << 16;
        while (cap < c->arena_n + need) cap *= 2;
        char *a = realloc(c->arena, cap);
        VLMC_ASSERT(a != NULL, "out of memory");
        c->arena = a;
        c->arena_cap = cap;
    }
    size_t i = h & (c->cache_cap - 1);
    while (c->cache[i].h) i = (i + 1) & (c->cache_cap - 1);
    TokCacheEnt *e = &c->cache[i];
    e->h = h;
    e->key = (uint32_t)c->arena_n;
    e->klen = (uint32_t)n;
    memcpy(c->arena + c->arena_n, s, n);
    c->arena_n += n;
    c->arena_n = (c->arena_n + 3) & ~(size_t)3;
    e->ids = (uint32_t)c->arena_n;
    e->nids = (uint32_t)nids;
    memcpy(c->arena + c->arena_n, ids, nids * 4);
    c->arena_n += nids * 4;
    c->cache_n++;
}

/* ---- merge_word ------------------------------------------------------------ */
static int32_t char_id(const Tokenizer *t, const char *s, int len) {
    unsigned char b = (unsigned char)s[0];
    if (b < 0x80) return t->cp_id[b];
    if (len == 2) {
        int l;
        return t->cp_id[tok_u8dec(s, &l)];
    }
    return tok_strmap_get(&t->vocab, s, (size_t)len);
}

int tok_bpe_piece(const Tokenizer *t, TokCtx *c, const char *s, size_t n, const uint32_t *o, TokIds *out,
                  TokIds *starts, TokIds *ends, VStatus *st) {
    (void)st;
    if (n == 0) return 0;
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->vocab, s, n);
        if (id >= 0) {
            tok_ids_push(out, id);
            if (starts) { tok_ids_push(starts, (int32_t)o[0]); tok_ids_push(ends, (int32_t)o[n - 1] + 1); }
            return 0;
        }
    }
    uint64_t h = 0;
    int use_cache = !starts && n <= CACHE_MAX_PIECE;
    if (use_cache) {
        h = tok_mix_hash(s, n) | 1;
        const TokCacheEnt *e = cache_get(c, h, s, n);
        if (e) {
            for (uint32_t i = 0; i < e->nids; i++) {
                int32_t id;
                memcpy(&id, c->arena + e->ids + 4 * i, 4);
                tok_ids_push(out, id);
            }
            return 0;
        }
    }
    /* initial symbols: one per character (or per byte / fused unk) */
    size_t ns = 0;
    int32_t unk_len = 0;   /* pending unk run (bytes), 0 = none */
    for (size_t i = 0; i < n;) {
        int len = tok_u8len((unsigned char)s[i]);
        int32_t id = char_id(t, s + i, len);
        if (id >= 0) {
            if (unk_len) { sym_push(c, &ns, t->unk_id, unk_len); unk_len = 0; }
            sym_push(c, &ns, id, len);
        } else {
            int all = t->byte_fallback;
            for (int k = 0; all && k < len; k++) all = t->byte_id[(unsigned char)s[i + k]] >= 0;
            if (all) {
                if (unk_len) { sym_push(c, &ns, t->unk_id, unk_len); unk_len = 0; }
                for (int k = 0; k < len; k++) sym_push(c, &ns, t->byte_id[(unsigned char)s[i + k]], 1);
            } else if (t->unk_id >= 0) {
                if (unk_len && !t->fuse_unk) { sym_push(c, &ns, t->unk_id, unk_len); unk_len = 0; }
                unk_len += len;
            }
            /* no unk token: the character is dropped, as tokenizers does */
        }
        i += (size_t)len;
    }
    if (unk_len) sym_push(c, &ns, t->unk_id, unk_len);
    if (ns == 0) return 0;
    c->sym[ns - 1].next = -1;
    /* merge_all */
    TokBpeSym *sym = c->sym;
    size_t nh = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
        int32_t rank, nid;
        if (tok_pairmap_get(&t->merges, sym[i].id, sym[i + 1].id, &rank, &nid))
            heap_push(c, &nh, (TokBpeMerge){rank, (int32_t)i, nid});
    }
    while (nh) {
        TokBpeMerge top = heap_pop(c, &nh);
        sym = c->sym;
        TokBpeSym *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        int32_t nx = cur->next;
        int32_t rank, nid;
        if (!tok_pairmap_get(&t->merges, cur->id, sym[nx].id, &rank, &nid) || nid != top.newid) continue;
        cur->id = top.newid;
        cur->len += sym[nx].len;
        cur->next = sym[nx].next;
        sym[nx].len = 0;
        if (cur->next >= 0) sym[cur->next].prev = top.pos;
        if (cur->prev >= 0 && tok_pairmap_get(&t->merges, sym[cur->prev].id, cur->id, &rank, &nid))
            heap_push(c, &nh, (TokBpeMerge){rank, cur->prev, nid});
        sym = c->sym;
        cur = &sym[top.pos];
        if (cur->next >= 0 && tok_pairmap_get(&t->merges, cur->id, sym[cur->next].id, &rank, &nid))
            heap_push(c, &nh, (TokBpeMerge){rank, top.pos, nid});
    }
    size_t first = out->n;
    uint32_t at = 0;
    for (size_t i = 0; i < ns; i++) {
        if (!c->sym[i].len) continue;
        tok_ids_push(out, c->sym[i].id);
        if (starts) {
            tok_ids_push(starts, (int32_t)o[at]);
            tok_ids_push(ends, (int32_t)o[at + (uint32_t)c->sym[i].len - 1] + 1);
        }
        at += (uint32_t)c->sym[i].len;
    }
    if (use_cache) cache_put(c, h, s, n, out->ids + first, out->n - first);
    return 0;
}
