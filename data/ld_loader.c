/* data/ld_loader.c — the loader's threads and its saved position.
 *
 * Records flow through a window of W slots indexed by draw sequence number:
 *   I/O thread   draws the next record from the global order (data/ld_order.c),
 *                reads it (the only thread touching shards) -> FETCHED
 *   workers      format FETCHED slots (decode, tokenize) -> DONE
 *   assembler    consumes DONE slots strictly in sequence order, counts skips,
 *                packs pieces into global batches (data/ld_pack.c) and queues
 *                at most `prefetch` of them for ld_next.
 * One mutex guards the counters; the heavy work runs unlocked on slots owned
 * by one thread at a time (the slot's state says which). Everything that
 * decides a batch's content happens in the assembler, in draw order, so the
 * threads' timing never changes a batch. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/ld_pack.h"
#include "data/loader.h"
#include "data/shards.h"

enum { SLOT_EMPTY = 0, SLOT_FETCHED, SLOT_BUSY, SLOT_DONE };

typedef struct Slot {
    int state, end;
    int src, epoch;
    int64_t index, t;
    int ep_snap[LD_MAX_SOURCES];     /* order position before this draw */
    int64_t k_snap[LD_MAX_SOURCES];
    LdRaw raw;
    LdSample smp;
    int skip;
    char shard[256], key[192];
    VStatus why;
} Slot;

/* a queued batch, already cut for this rank (the assembler does it, so the
 * trainer's thread only swaps buffers) */
typedef struct QItem {
    LdBatch b;
    LdStats stats;
    char state[LD_STATE_MAX];
} QItem;

struct LdLoader {
    LdLoaderOpts o;
    LdTextCodec tc;
    LdImageCodec ic;
    int n_src, group, world;
    LdShard **shards[LD_MAX_SOURCES];
    int n_shards[LD_MAX_SOURCES];
    int64_t *base[LD_MAX_SOURCES];
    LdOrder order;
    int64_t t0;            /* draw number of sequence 0 */
    int part0;             /* pieces of the first record already delivered (resume) */
    int64_t step0;         /* number of the first batch (resume) */
    LdStats stats0;        /* counters at the resume point */

    pthread_mutex_t mu;
    pthread_cond_t c_io, c_work, c_asm, c_out;
    Slot *slots;
    int W;
    int64_t next_fetch, next_claim, next_asm;
    QItem *q;
    int P;
    int64_t q_head, q_tail;
    int ended, stop, fatal;
    VStatus fst;

    pthread_t io, asmb, *workers;
    int n_workers, started_io, started_asm, started_workers;
    char state[LD_STATE_MAX];
    LdStats last_stats;
};

/* ---- position text -------------------------------------------------------- */
static void state_format(const LdLoader *L, char *buf, size_t cap, int64_t step, int64_t t, int part,
                         const int *ep, const int64_t *k, const LdStats *s) {
    size_t n = (size_t)snprintf(buf, cap, "vlmc-loader 1 regime=%s seed=%" PRIu64 " step=%" PRId64 " t=%" PRId64
                                " part=%d seen=%" PRId64 " skipped=%" PRId64 " reasons=", ld_regime_name(L->o.regime),
                                L->o.seed, step, t, part, s->seen, s->skipped);
    for (int r = 0; r < LD_SKIP_COUNT && n < cap; r++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, r ? "," : "", s->by_reason[r]);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, " src=");
    for (int i = 0; i < L->n_src && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d:%" PRId64, i ? "," : "", ep[i], k[i]);
}

static int state_parse(LdLoader *L, const char *s, VStatus *st) {
    char regime[32];
    uint64_t seed;
    int64_t t, step;
    int part, used = 0;
    LdStats *S = &L->stats0;
    if (sscanf(s, "vlmc-loader 1 regime=%31s seed=%" SCNu64 " step=%" SCNd64 " t=%" SCNd64 " part=%d seen=%" SCNd64
                  " skipped=%" SCNd64 " reasons=%n", regime, &seed, &step, &t, &part, &S->seen, &S->skipped, &used) != 7 ||
        !used || step < 0 || t < 0 || part < 0)
        return vs_set(st, VS_EINVAL, "loader state: not a vlmc-loader 1 position: '%.80s'", s);
    if (strcmp(regime, ld_regime_name(L->o.regime)) != 0)
        return vs_set(st, VS_EINVAL, "loader state: saved for regime %s, the run is %s", regime,
                      ld_regime_name(L->o.regime));
    if (seed != L->o.seed)
        return vs_set(st, VS_EINVAL, "loader state: saved with seed %" PRIu64 ", the run has seed %" PRIu64, seed,
                      L->o.seed);
    const char *p = s + used;
    for (int r = 0; r < LD_SKIP_COUNT; r++) {
        char *e;
        S->by_reason[r] = strtoll(p, &e, 10);
        if (e == p) return vs_set(st, VS_EINVAL, "loader state: bad skip counters");
        p = *e == ',' ? e + 1 : e;
    }
    if (strncmp(p, " src=", 5) != 0) return vs_set(st, VS_EINVAL, "loader state: no source positions");
    p += 5;
    int ep[LD_MAX_SOURCES];
    int64_t k[LD_MAX_SOURCES];
    for (int i = 0; i < L->n_src; i++) {
        int got = 0;
        if (sscanf(p, "%d:%" SCNd64 "%n", &ep[i], &k[i], &got) != 2 || ep[i] < 0 || k[i] < 0 ||
            k[i] > L->order.src[i].n)
            return vs_set(st, VS_EINVAL, "loader state: position of source %d missing or out of range "
                          "(saved for a different data mix?)", i);
        p += got;
        if (*p == ',') p++;
    }
    if (*p != 0 && *p != '\n') return vs_set(st, VS_EINVAL, "loader state: more sources than the run has");
    ld_order_seek(&L->order, t, ep, k);
    L->t0 = t;
    L->part0 = part;
    L->step0 = step;
    return 0;
}

/* ---- threads -------------------------------------------------------------- */
static void set_fatal(LdLoader *L, const VStatus *st) {   /* mu held */
    if (!L->fatal) {
        L->fatal = 1;
        L->fst = *st;
    }
    pthread_cond_broadcast(&L->c_out);
}

static int find_shard(const LdLoader *L, int src, int64_t index) {
    int lo = 0, hi = L->n_shards[src] - 1;
    while (lo < hi) {   /* last shard with base <= index */
        int mid = (lo + hi + 1) / 2;
        if (L->base[src][mid] <= index) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static void *io_main(void *arg) {
    LdLoader *L = arg;
    for (;;) {
        pthread_mutex_lock(&L->mu);
        while (!L->stop && L->next_fetch - L->next_asm >= L->W) pthread_cond_wait(&L->c_io, &L->mu);
        int stop = L->stop;
        pthread_mutex_unlock(&L->mu);
        if (stop) break;
        Slot *s = &L->slots[L->next_fetch % L->W];   /* EMPTY: ours until published */
        for (int i = 0; i < L->n_src; i++) {
            s->ep_snap[i] = L->order.src[i].epoch;
            s->k_snap[i] = L->order.src[i].k;
        }
        s->t = L->order.t;
        int end = ld_order_next(&L->order, &s->src, &s->index, &s->epoch);
        VStatus st = {0};
        int rc = 0;
        if (!end) {
            int sh = find_shard(L, s->src, s->index);
            LdShard *shard = L->shards[s->src][sh];
            rc = ld_shard_fetch(shard, s->index - L->base[s->src][sh], &s->raw, &st);
            s->raw.image_root = L->o.sources[s->src].image_root ? L->o.sources[s->src].image_root
                                                                 : shard->image_root;
        }
        pthread_mutex_lock(&L->mu);
        if (rc) {
            set_fatal(L, &st);
            pthread_mutex_unlock(&L->mu);
            break;
        }
        s->end = end;
        s->state = end ? SLOT_DONE : SLOT_FETCHED;
        L->next_fetch++;
        pthread_cond_broadcast(end ? &L->c_asm : &L->c_work);
        pthread_mutex_unlock(&L->mu);
        if (end) break;
    }
    return NULL;
}

static void *worker_main(void *arg) {
    LdLoader *L = arg;
    for (;;) {
        pthread_mutex_lock(&L->mu);
        while (!L->stop && !(L->next_claim < L->next_fetch && L->slots[L->next_claim % L->W].state == SLOT_FETCHED))
            pthread_cond_wait(&L->c_work, &L->mu);
        if (L->stop) {
            pthread_mutex_unlock(&L->mu);
            break;
        }
        Slot *s = &L->slots[L->next_claim++ % L->W];
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&L->mu);
        vs_clear(&s->why);
        s->skip = ld_format(L->o.regime, &s->raw, &L->tc, &L->ic, &s->smp, &s->why);
        snprintf(s->shard, sizeof s->shard, "%s", s->raw.shard ? s->raw.shard : "?");
        snprintf(s->key, sizeof s->key, "%s", s->raw.key);
        ld_raw_free(&s->raw);
        pthread_mutex_lock(&L->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&L->c_asm);
        pthread_mutex_unlock(&L->mu);
    }
    return NULL;
}

static void log_line(const LdLoader *L, const char *line) {
    if (L->o.log) L->o.log(L->o.log_ctx, line);
    else fprintf(stderr, "vlmc: %s\n", line);
}

/* 1 (and fatal set) when the skipped fraction is over the limit */
static int check_skips(LdLoader *L, const LdStats *s, int at_end) {
    double lim = L->o.max_skip_frac == 0 ? 0.01 : L->o.max_skip_frac;
    int64_t min_seen = L->o.min_seen ? L->o.min_seen : 1000;
    if (lim < 0 || s->seen == 0 || (!at_end && s->seen < min_seen)) return 0;
    if ((double)s->skipped <= lim * (double)s->seen) return 0;
    VStatus st;
    char why[256] = "";
    size_t n = 0;
    for (int r = 1; r < LD_SKIP_COUNT; r++)
        if (s->by_reason[r] && n < sizeof why)
            n += (size_t)snprintf(why + n, sizeof why - n, "%s%s %" PRId64, n ? ", " : "", ld_skip_name(r),
                                  s->by_reason[r]);
    vs_set(&st, VS_EINVAL, "skipped %" PRId64 " of %" PRId64 " records (%.2f%%), more than the allowed %.2f%% (%s); "
           "the log names each file and key", s->skipped, s->seen, 100.0 * (double)s->skipped / (double)s->seen,
           100.0 * lim, why);
    pthread_mutex_lock(&L->mu);
    set_fatal(L, &st);
    pthread_mutex_unlock(&L->mu);
    return 1;
}

/* cuts gb into the next queue slot and publishes it (gb NULL: the end);
 * 1 when stopping. The slot at q_tail is the assembler's until q_tail moves. */
static int push_batch(LdLoader *L, const LdGBatch *gb, const LdStats *stats) {
    pthread_mutex_lock(&L->mu);
    while (!L->stop && gb && L->q_tail - L->q_head >= L->P) pthread_cond_wait(&L->c_out, &L->mu);
    int stop = L->stop;
    pthread_mutex_unlock(&L->mu);
    if (stop) return 1;
    if (gb) {
        QItem *it = &L->q[L->q_tail % L->P];
        ld_gb_cut(gb, L->o.rank, L->world, &L->ic, &it->b);
        it->stats = *stats;
        snprintf(it->state, sizeof it->state, "%s", gb->state_after);
    }
    pthread_mutex_lock(&L->mu);
    if (gb) L->q_tail++;
    else L->ended = 1;
    pthread_cond_broadcast(&L->c_out);
    pthread_mutex_unlock(&L->mu);
    return 0;
}

static void *asm_main(void *arg) {
    LdLoader *L = arg;
    LdStats stats = L->stats0;
    int64_t step = L->step0;
    LdGBatch gbs, *gb = &gbs;   /* one global batch, refilled */
    ld_gb_init(gb, L->o.global_rows, L->o.T, L->group, L->ic.S, L->tc.pad >= 0 ? L->tc.pad : 0, step);
    int first = 1, max_pieces = 4096;
    int64_t *pa = malloc((size_t)max_pieces * sizeof *pa), *pb = malloc((size_t)max_pieces * sizeof *pb);
    VLMC_ASSERT(pa && pb, "out of memory");
    for (;;) {
        pthread_mutex_lock(&L->mu);
        Slot *s = &L->slots[L->next_asm % L->W];
        while (!L->stop && !(L->next_asm < L->next_fetch && s->state == SLOT_DONE)) pthread_cond_wait(&L->c_asm, &L->mu);
        int stop = L->stop;
        pthread_mutex_unlock(&L->mu);
        if (stop) break;
        if (s->end) {
            if (check_skips(L, &stats, 1)) break;
            if (!ld_gb_empty(gb)) {
                state_format(L, gb->state_after, sizeof gb->state_after, step + 1, s->t, 0, s->ep_snap, s->k_snap, &stats);
                if (push_batch(L, gb, &stats)) break;
            }
            push_batch(L, NULL, &stats);
            break;
        }
        LdStats before = stats;
        stats.seen++;
        int reason = s->skip, np = 0;
        if (!reason) {
            np = ld_pack_pieces(&s->smp, L->o.T, L->o.regime == LD_INTERLEAVED, pa, pb, max_pieces);
            if (np == 0) {
                reason = LD_SKIP_TOO_LONG;
                vs_set(&s->why, VS_EINVAL, "%zu tokens do not fit rows of %d", s->smp.seq[0].tok.n, L->o.T);
            }
        }
        if (reason) {
            stats.skipped++;
            stats.by_reason[reason]++;
            char line[2048];
            snprintf(line, sizeof line, "skipped %s [%s]: %s: %s", s->shard, s->key, ld_skip_name(reason), s->why.msg);
            log_line(L, line);
        }
        int full = 0;
        for (int p = first ? L->part0 : 0; p < np && !full; p++) {
            LdDoc d = {s->src, s->epoch, s->index, np > 1 ? p : 0};
            if (!ld_gb_place(gb, &s->smp, pa[p], pb[p], d)) continue;
            /* batch full: it ends before piece p of this record */
            state_format(L, gb->state_after, sizeof gb->state_after, step + 1, s->t, p, s->ep_snap, s->k_snap, &before);
            if (check_skips(L, &stats, 0) || push_batch(L, gb, &before)) {
                full = 1;
                break;
            }
            ld_gb_reset(gb, ++step);
            if (ld_gb_place(gb, &s->smp, pa[p], pb[p], d)) VLMC_PANIC("a piece of <= T tokens did not fit an empty batch");
        }
        first = 0;
        if (full) break;
        pthread_mutex_lock(&L->mu);
        s->state = SLOT_EMPTY;
        s->end = 0;
        L->next_asm++;
        pthread_cond_broadcast(&L->c_io);
        pthread_mutex_unlock(&L->mu);
    }
    free(pa);
    free(pb);
    ld_gb_free(gb);
    return NULL;
}

/* ---- API ------------------------------------------------------------------ */
static int open_loader(const LdLoaderOpts *o, LdLoader **out, VStatus *st) {
    *out = NULL;
    if (o->n_sources < 1 || o->n_sources > LD_MAX_SOURCES)
        return vs_set(st, VS_EINVAL, "loader: %d sources (1..%d)", o->n_sources, LD_MAX_SOURCES);
    int world = o->world > 0 ? o->world : 1, group = o->regime == LD_DPO ? 2 : 1;
    if (o->T < 2 || o->global_rows < 1 || o->rank < 0 || o->rank >= world)
        return vs_set(st, VS_EINVAL, "loader: T %d, global_rows %d, rank %d of %d", o->T, o->global_rows, o->rank,
                      world);
    if (o->global_rows % (world * group))
        return vs_set(st, VS_EINVAL, "loader: global_rows %d is not a multiple of world %d x %d row(s) per group",
                      o->global_rows, world, group);
    LdLoader *L = calloc(1, sizeof *L);
    VLMC_ASSERT(L != NULL, "out of memory");
    L->o = *o;
    L->o.resume_state = NULL;
    L->tc = *o->text;
    L->ic = *o->image;
    L->n_src = o->n_sources;
    L->group = group;
    L->world = world;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->c_io, NULL);
    pthread_cond_init(&L->c_work, NULL);
    pthread_cond_init(&L->c_asm, NULL);
    pthread_cond_init(&L->c_out, NULL);
    *out = L;   /* from here ld_close cleans up (ld_open calls it on failure) */
    LdShardExpect ex = {L->tc.hash, L->ic.S, L->tc.image_seq_len, ld_regime_name(o->regime)};
    double w[LD_MAX_SOURCES];
    const int64_t *bases[LD_MAX_SOURCES];
    for (int s = 0; s < L->n_src; s++) {
        const LdSource *src = &o->sources[s];
        if (src->n_shards < 1) return vs_set(st, VS_EINVAL, "loader: source %d has no shards", s);
        if (!(src->weight > 0)) return vs_set(st, VS_EINVAL, "loader: source %d: weight must be > 0", s);
        w[s] = src->weight;
        L->shards[s] = calloc((size_t)src->n_shards, sizeof *L->shards[s]);
        L->base[s] = calloc((size_t)src->n_shards + 1, sizeof *L->base[s]);
        VLMC_ASSERT(L->shards[s] && L->base[s], "out of memory");
        L->n_shards[s] = src->n_shards;
        for (int i = 0; i < src->n_shards; i++) {
            if (ld_shard_open(src->shards[i], src->image_root, &ex, &L->shards[s][i], st)) return st ? st->code : 1;
            L->base[s][i + 1] = L->base[s][i] + ld_shard_count(L->shards[s][i]);
        }
        if (L->base[s][src->n_shards] == 0) return vs_set(st, VS_EINVAL, "loader: source %d has no records", s);
        bases[s] = L->base[s];
    }
    ld_order_init(&L->order, o->seed, L->n_src, bases, L->n_shards, w, o->shuffle_buffer, o->keep_shard_order,
                  o->epochs);
    if (o->resume_state && state_parse(L, o->resume_state, st)) return st ? st->code : 1;
    int ep[LD_MAX_SOURCES];
    int64_t k[LD_MAX_SOURCES];
    for (int s = 0; s < L->n_src; s++) {
        ep[s] = L->order.src[s].epoch;
        k[s] = L->order.src[s].k;
    }
    state_format(L, L->state, sizeof L->state, L->step0, L->order.t, L->part0, ep, k, &L->stats0);
    L->last_stats = L->stats0;
    L->n_workers = o->workers > 0 ? o->workers : 2;
    L->W = 8 * L->n_workers + 16;
    L->slots = calloc((size_t)L->W, sizeof *L->slots);
    L->P = o->prefetch > 0 ? o->prefetch : 2;
    L->q = calloc((size_t)L->P, sizeof *L->q);
    L->workers = calloc((size_t)L->n_workers, sizeof *L->workers);
    VLMC_ASSERT(L->slots && L->q && L->workers, "out of memory");
    if (pthread_create(&L->io, NULL, io_main, L)) return vs_set(st, VS_EIO, "loader: cannot start the I/O thread");
    L->started_io = 1;
    if (pthread_create(&L->asmb, NULL, asm_main, L)) return vs_set(st, VS_EIO, "loader: cannot start the assembler");
    L->started_asm = 1;
    for (; L->started_workers < L->n_workers; L->started_workers++)
        if (pthread_create(&L->workers[L->started_workers], NULL, worker_main, L))
            return vs_set(st, VS_EIO, "loader: cannot start worker %d", L->started_workers);
    return 0;
}

int ld_open(const LdLoaderOpts *o, LdLoader **out, VStatus *st) {
    *out = NULL;
    LdLoader *L = NULL;
    int rc = open_loader(o, &L, st);
    if (rc) {
        ld_close(L);   /* stops whatever threads started, closes the shards */
        return rc;
    }
    *out = L;
    return 0;
}

int ld_next(LdLoader *L, LdBatch *b, int *done, VStatus *st) {
    *done = 0;
    pthread_mutex_lock(&L->mu);
    while (!L->fatal && L->q_head == L->q_tail && !L->ended) pthread_cond_wait(&L->c_out, &L->mu);
    if (L->fatal) {
        VStatus e = L->fst;
        pthread_mutex_unlock(&L->mu);
        if (st) *st = e;
        return e.code ? e.code : VS_EINVAL;
    }
    if (L->q_head == L->q_tail) {
        pthread_mutex_unlock(&L->mu);
        *done = 1;
        return 0;
    }
    QItem *it = &L->q[L->q_head % L->P];
    LdBatch mine = *b;   /* swap: the caller's old buffers are refilled by the assembler later */
    *b = it->b;
    it->b = mine;
    snprintf(L->state, sizeof L->state, "%s", it->state);
    L->last_stats = it->stats;
    L->q_head++;
    pthread_cond_broadcast(&L->c_out);
    pthread_mutex_unlock(&L->mu);
    return 0;
}

int ld_state(const LdLoader *L, char *buf, size_t cap) {
    if (strlen(L->state) + 1 > cap) return 1;
    strcpy(buf, L->state);
    return 0;
}

LdStats ld_stats(const LdLoader *L) { return L->last_stats; }

int64_t ld_source_count(const LdLoader *L, int source) { return L->base[source][L->n_shards[source]]; }

void ld_close(LdLoader *L) {
    if (!L) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->c_io);
    pthread_cond_broadcast(&L->c_work);
    pthread_cond_broadcast(&L->c_asm);
    pthread_cond_broadcast(&L->c_out);
    pthread_mutex_unlock(&L->mu);
    if (L->started_io) pthread_join(L->io, NULL);
    if (L->started_asm) pthread_join(L->asmb, NULL);
    for (int i = 0; i < L->started_workers; i++) pthread_join(L->workers[i], NULL);
    for (int i = 0; L->slots && i < L->W; i++) {
        ld_raw_free(&L->slots[i].raw);
        ld_sample_free(&L->slots[i].smp);
    }
    for (int i = 0; L->q && i < L->P; i++) ld_batch_free(&L->q[i].b);
    for (int s = 0; s < L->n_src; s++) {
        for (int i = 0; L->shards[s] && i < L->n_shards[s]; i++) ld_shard_close(L->shards[s][i]);
        free(L->shards[s]);
        free(L->base[s]);
    }
    if (L->order.n_src) ld_order_free(&L->order);
    free(L->slots);
    free(L->q);
    free(L->workers);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->c_io);
    pthread_cond_destroy(&L->c_work);
    pthread_cond_destroy(&L->c_asm);
    pthread_cond_destroy(&L->c_out);
    free(L);
}
