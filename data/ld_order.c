/* data/ld_order.c — the global sample order, over record indices only.
 *
 * Source s, epoch e: shards in a permutation drawn from rng(seed, s, e)
 * (identity with keep_shard_order), records of each shard in file order,
 * streamed through a K-slot shuffle buffer: fill to K, emit a uniformly drawn
 * slot, move the last slot into it, repeat; the buffer drains at the end of
 * the epoch, so an epoch is a permutation of the source (no overlap between
 * epochs). Mixing: draw t picks source s with probability weight_s from
 * hash(seed, t) alone. No I/O here: the order is a pure function of the seed
 * and the record counts, which is what makes resuming and changing the rank
 * count exact. */
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"

uint64_t ld_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, n) (n small next to 2^64: the modulo bias is < 2^-40) */
static int64_t below(uint64_t *rng, int64_t n) { return (int64_t)(ld_splitmix64(rng) % (uint64_t)n); }

static void start_epoch(LdOrder *o, int s, int epoch) {
    LdOrderSrc *q = &o->src[s];
    q->epoch = epoch;
    q->k = 0;
    q->filled = 0;
    q->incoming = 0;
    q->in_p = 0;
    q->in_off = 0;
    q->rng = o->seed ^ (0xA0761D6478BD642Full * (uint64_t)(s + 1)) ^ (0xE7037ED1A0B428DBull * (uint64_t)(epoch + 1));
    ld_splitmix64(&q->rng);
    for (int i = 0; i < q->n_shards; i++) q->perm[i] = i;
    if (!o->keep_shard_order)
        for (int i = q->n_shards - 1; i > 0; i--) {
            int j = (int)below(&q->rng, i + 1), t = q->perm[i];
            q->perm[i] = q->perm[j];
            q->perm[j] = t;
        }
}

void ld_order_init(LdOrder *o, uint64_t seed, int n_src, const int64_t *const *bases, const int *n_shards,
                   const double *weights, int K, int keep_shard_order, int max_epochs) {
    memset(o, 0, sizeof *o);
    VLMC_ASSERT(n_src >= 1 && n_src <= LD_MAX_SOURCES, "%d sources", n_src);
    o->n_src = n_src;
    o->seed = seed;
    o->K = K < 1 ? 1 : K;
    o->keep_shard_order = keep_shard_order;
    o->max_epochs = max_epochs;
    double total = 0;
    for (int s = 0; s < n_src; s++) total += weights[s];
    double c = 0;
    for (int s = 0; s < n_src; s++) {
        LdOrderSrc *q = &o->src[s];
        q->n_shards = n_shards[s];
        q->base = bases[s];
        q->n = q->base[q->n_shards];
        q->perm = malloc((size_t)(q->n_shards ? q->n_shards : 1) * sizeof *q->perm);
        q->buf = malloc((size_t)o->K * sizeof *q->buf);
        VLMC_ASSERT(q->perm && q->buf, "out of memory");
        c += weights[s] / total;
        o->cum[s] = c;
        start_epoch(o, s, 0);
    }
    o->cum[n_src - 1] = 1.0;
}

/* record index of the next record of the epoch stream (shards in perm
 * order), moving the (shard position, offset) cursor: O(1) per record */
static int64_t stream_next(LdOrderSrc *q) {
    for (;;) {
        VLMC_ASSERT(q->in_p < q->n_shards, "stream position past the epoch");
        int sh = q->perm[q->in_p];
        if (q->in_off < q->base[sh + 1] - q->base[sh]) return q->base[sh] + q->in_off++;
        q->in_p++;
        q->in_off = 0;
    }
}

/* one draw from source s; 1 when its epochs are used up */
static int draw(LdOrder *o, int s, int64_t *index, int *epoch) {
    LdOrderSrc *q = &o->src[s];
    if (q->k == q->n) {
        if (o->max_epochs > 0 && q->epoch + 1 >= o->max_epochs) return 1;
        start_epoch(o, s, q->epoch + 1);
    }
    while (q->filled < o->K && q->incoming < q->n) {
        q->buf[q->filled++] = stream_next(q);
        q->incoming++;
    }
    int64_t r = below(&q->rng, q->filled);
    *index = q->buf[r];
    q->buf[r] = q->buf[--q->filled];
    *epoch = q->epoch;
    q->k++;
    return 0;
}

static int pick_source(const LdOrder *o, int64_t t) {
    if (o->n_src == 1) return 0;
    uint64_t x = o->seed ^ 0x5851F42D4C957F2Dull ^ ((uint64_t)t * 0x9E3779B97F4A7C15ull);
    double u = (double)(ld_splitmix64(&x) >> 11) * 0x1p-53;
    int s = 0;
    while (s < o->n_src - 1 && u >= o->cum[s]) s++;
    return s;
}

int ld_order_next(LdOrder *o, int *src, int64_t *index, int *epoch) {
    int s = pick_source(o, o->t);
    if (draw(o, s, index, epoch)) return 1;
    *src = s;
    o->t++;
    return 0;
}

void ld_order_seek(LdOrder *o, int64_t t, const int *epoch, const int64_t *k) {
    o->t = t;
    for (int s = 0; s < o->n_src; s++) {
        start_epoch(o, s, epoch[s]);
        int64_t idx;
        int e;
        /* replay the shuffle buffer's draws of this epoch (no I/O, O(k)) */
        for (int64_t i = 0; i < k[s]; i++) draw(o, s, &idx, &e);
    }
}

void ld_order_free(LdOrder *o) {
    for (int s = 0; s < o->n_src; s++) {
        free(o->src[s].perm);
        free(o->src[s].buf);
    }
}
