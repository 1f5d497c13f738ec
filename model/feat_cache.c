/* model/feat_cache.c — the frozen-encoder feature cache (vlm.h,
 * vlm_feature_cache): the encoder's output rows of an image, keyed by a
 * 128-bit hash of the image's normalised pixels.
 *
 * What it holds is exact: vlm.c encodes every image on its own while the
 * cache is on (an image's features inside a batch depend in the last bits on
 * its rows' place in the GEMM's blocks), so a hit returns the bits a miss
 * would compute; test_init checks loss and gradients bit for bit between a
 * cache that holds everything and one that holds nothing.
 * It is valid only while the encoder's weights do not change: vlm.c uses it
 * only when no encoder parameter is trainable and empties it on the first
 * forward that finds one trainable; weight loads call vlm_feature_cache_clear.
 *
 * Layout: a host arena of entries of row_floats floats and an open-addressing
 * table of at least twice as many slots, both doubled as entries arrive (from
 * 256 entries) up to the byte budget. Full means full: later images are
 * computed, not cached. */
#include <stdlib.h>
#include <string.h>

#include "model/vlm_internal.h"

typedef struct Slot {
    uint64_t k1, k2;
    int64_t at;          /* entry index + 1; 0 = empty */
} Slot;

struct VlmFeatCache {
    size_t cap_bytes;
    int64_t row_floats;  /* per image: rows x D, fixed by the first use */
    int64_t max, cap, n; /* entries: the budget's, allocated, held */
    float *data;         /* (cap, row_floats) */
    Slot *slot;          /* nslot >= 2 * cap, a power of two */
    int64_t nslot;
    int64_t hits, misses;
};

static uint64_t mix64(uint64_t z) {   /* splitmix64's finaliser: a bijection with full avalanche */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void fc_key(const float *px, int64_t n, uint64_t *k1, uint64_t *k2) {
    uint64_t a = 0x9e3779b97f4a7c15ull ^ (uint64_t)n, b = 0xc2b2ae3d27d4eb4full + (uint64_t)n;
    const unsigned char *p = (const unsigned char *)px;
    size_t bytes = (size_t)n * sizeof(float), i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        a = mix64(a ^ w);
        b = mix64(b + w * 0xff51afd7ed558ccdull);
    }
    if (i < bytes) {
        uint64_t w = 0;
        memcpy(&w, p + i, bytes - i);
        a = mix64(a ^ w);
        b = mix64(b + w * 0xff51afd7ed558ccdull);
    }
    *k1 = a;
    *k2 = mix64(b ^ a);
}

VlmFeatCache *fc_new(size_t cap_bytes) {
    VlmFeatCache *c = calloc(1, sizeof *c);
    VLMC_ASSERT(c, "out of memory");
    c->cap_bytes = cap_bytes;
    return c;
}

void fc_free(VlmFeatCache *c) {
    if (!c) return;
    free(c->data);
    free(c->slot);
    free(c);
}

void fc_clear(VlmFeatCache *c) {
    if (!c || !c->n) return;
    memset(c->slot, 0, (size_t)c->nslot * sizeof *c->slot);
    c->n = 0;
}

static Slot *probe(Slot *slot, int64_t nslot, uint64_t k1, uint64_t k2) {
    for (int64_t i = (int64_t)(k1 & (uint64_t)(nslot - 1));; i = (i + 1) & (nslot - 1)) {
        Slot *s = &slot[i];
        if (!s->at || (s->k1 == k1 && s->k2 == k2)) return s;
    }
}

/* Room for `want` entries (at most max): arena and table grow together; 0
 * when the memory is not there (the cache then stops growing). */
static int fc_grow(VlmFeatCache *c, int64_t want) {
    int64_t cap = c->cap ? c->cap : 256;
    while (cap < want) cap *= 2;
    if (cap > c->max) cap = c->max;
    if (cap <= c->cap) return 0;
    int64_t ns = 2;
    while (ns < 2 * cap) ns *= 2;
    float *d = realloc(c->data, (size_t)cap * (size_t)c->row_floats * sizeof(float));
    if (!d) return 0;
    c->data = d;
    Slot *t = calloc((size_t)ns, sizeof *t);
    if (!t) return 0;
    for (int64_t i = 0; i < c->nslot; i++)
        if (c->slot[i].at) *probe(t, ns, c->slot[i].k1, c->slot[i].k2) = c->slot[i];
    free(c->slot);
    c->slot = t;
    c->nslot = ns;
    c->cap = cap;
    return 1;
}

/* Fixes the entry size on first use; 0 when the budget holds not even one
 * entry or the size differs (the cache then stays out of the way). */
static int fc_ready(VlmFeatCache *c, int64_t row_floats) {
    if (!c->row_floats) {
        c->row_floats = row_floats;
        c->max = (int64_t)(c->cap_bytes / ((size_t)row_floats * sizeof(float)));
        if (c->max > 0) fc_grow(c, 1);
    }
    return c->row_floats == row_floats && c->cap > 0;
}

const float *fc_find(VlmFeatCache *c, int64_t row_floats, uint64_t k1, uint64_t k2) {
    if (!fc_ready(c, row_floats)) return NULL;
    Slot *s = probe(c->slot, c->nslot, k1, k2);
    if (!s->at) { c->misses++; return NULL; }
    c->hits++;
    return c->data + (size_t)(s->at - 1) * (size_t)row_floats;
}

void fc_insert(VlmFeatCache *c, int64_t row_floats, uint64_t k1, uint64_t k2, const float *rows) {
    if (!fc_ready(c, row_floats) || c->n >= c->max) return;
    if (c->n >= c->cap && !fc_grow(c, c->n + 1)) return;
    Slot *s = probe(c->slot, c->nslot, k1, k2);
    if (s->at) return;
    memcpy(c->data + (size_t)c->n * (size_t)row_floats, rows, (size_t)row_floats * sizeof(float));
    *s = (Slot){k1, k2, ++c->n};
}

void fc_stats(const VlmFeatCache *c, VlmFeatCacheStats *s) {
    memset(s, 0, sizeof *s);
    if (!c) return;
    s->hits = c->hits;
    s->misses = c->misses;
    s->entries = c->n;
    s->capacity = c->max;
    s->bytes = (size_t)c->n * (size_t)c->row_floats * sizeof(float);
}
