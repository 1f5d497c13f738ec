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
 * Layout: one host arena of `cap` entries of row_floats floats (malloc'd
 * once; pages are committed as entries fill), an open-addressing table of
 * 2 * cap slots. Full means full: later images are computed, not cached. */
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
    int64_t cap, n;      /* entries */
    float *data;         /* (cap, row_floats) */
    Slot *slot;          /* 2 * cap, a power of two */
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

/* Sizes the arena for entries of row_floats floats on first use; 0 when the
 * cache cannot hold even one (then it stays off). */
static int fc_ready(VlmFeatCache *c, int64_t row_floats) {
    if (c->data) return c->row_floats == row_floats;
    int64_t cap = (int64_t)(c->cap_bytes / ((size_t)row_floats * sizeof(float)));
    if (cap < 1) return 0;
    int64_t ns = 2;
    while (ns < 2 * cap) ns *= 2;
    c->data = malloc((size_t)cap * (size_t)row_floats * sizeof(float));
    c->slot = calloc((size_t)ns, sizeof *c->slot);
    if (!c->data || !c->slot) {
        free(c->data);
        free(c->slot);
        c->data = NULL;
        c->slot = NULL;
        return 0;
    }
    c->cap = cap;
    c->nslot = ns;
    c->row_floats = row_floats;
    return 1;
}

static Slot *probe(VlmFeatCache *c, uint64_t k1, uint64_t k2) {
    for (int64_t i = (int64_t)(k1 & (uint64_t)(c->nslot - 1));; i = (i + 1) & (c->nslot - 1)) {
        Slot *s = &c->slot[i];
        if (!s->at || (s->k1 == k1 && s->k2 == k2)) return s;
    }
}

const float *fc_find(VlmFeatCache *c, int64_t row_floats, uint64_t k1, uint64_t k2) {
    if (!fc_ready(c, row_floats)) return NULL;
    Slot *s = probe(c, k1, k2);
    if (!s->at) { c->misses++; return NULL; }
    c->hits++;
    return c->data + (size_t)(s->at - 1) * (size_t)row_floats;
}

void fc_insert(VlmFeatCache *c, int64_t row_floats, uint64_t k1, uint64_t k2, const float *rows) {
    if (!fc_ready(c, row_floats) || c->n >= c->cap) return;
    Slot *s = probe(c, k1, k2);
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
    s->capacity = c->cap;
    s->bytes = (size_t)c->n * (size_t)c->row_floats * sizeof(float);
}
