/* data/ld_prepare.c — `vlmc prepare`'s work: inputs -> formatted, validated
 * records -> tar or HDF5 shards, in parallel (see data/prepare.h).
 * Shards are shared by the worker threads: tar, JSON and JSONL fetches only
 * pread and take per-call state, HDF5 calls hold the process-wide HDF5 lock. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/prepare.h"
#include "data/shards.h"

typedef struct Prep {
    const LdPrepareOpts *o;
    LdShard **in;
    int64_t *base;          /* (n_inputs + 1) */
    int64_t total, n_chunks, next_chunk, done_records;
    pthread_mutex_t mu;
    LdPrepareSummary sum;
    int failed;
    VStatus err;
} Prep;

/* an image codec that forwards to the real one and keeps the bytes, so tar
 * output carries the images in the formatter's order */
typedef struct Keep {
    const LdImageCodec *inner;
    LdBlob b[LD_MAX_IMAGES];
    int n;
} Keep;

static int keep_load(void *ctx, const uint8_t *buf, size_t n, int S, uint8_t *out, VStatus *st) {
    Keep *k = ctx;
    int rc = k->inner->load(k->inner->ctx, buf, n, S, out, st);
    if (!rc && k->n < LD_MAX_IMAGES) {
        LdBlob *b = &k->b[k->n++];
        b->data = malloc(n ? n : 1);
        VLMC_ASSERT(b->data != NULL, "out of memory");
        memcpy(b->data, buf, n);
        b->n = n;
    }
    return rc;
}

static void keep_reset(Keep *k) {
    for (int i = 0; i < k->n; i++) free(k->b[i].data);
    k->n = 0;
}

static const char *image_ext(const uint8_t *b, size_t n) {
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "jpg";
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "png";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "webp";
    return "jpg";   /* decoding is by content; the extension only marks the member as an image */
}

static int tar_add(struct archive *a, const char *name, const void *data, size_t n) {
    struct archive_entry *e = archive_entry_new();
    VLMC_ASSERT(e != NULL, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    int rc = archive_write_header(a, e) != ARCHIVE_OK || (n && archive_write_data(a, data, n) != (la_ssize_t)n);
    archive_entry_free(e);
    return rc;
}

static void log_skip(Prep *P, const LdRaw *raw, int reason, const char *msg) {
    char line[2048];
    snprintf(line, sizeof line, "skipped %s [%s]: %s: %s", raw->shard ? raw->shard : "?", raw->key,
             ld_skip_name(reason), msg);
    if (P->o->log) P->o->log(P->o->log_ctx, line);
    else fprintf(stderr, "%svlmc prepare: %s\n", P->o->progress ? "\r\033[K" : "", line);
}

/* one output shard: records [a, b) */
static int do_chunk(Prep *P, int64_t c, LdSample *smp, Keep *keep, VStatus *st) {
    const LdPrepareOpts *o = P->o;
    int64_t a = c * o->shard_size, b = a + o->shard_size < P->total ? a + o->shard_size : P->total;
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s-%05" PRId64 ".%s", o->out_dir, o->prefix ? o->prefix : "shard", c,
             o->to_h5 ? "h5" : "tar");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct archive *ar = NULL;
    LdH5Writer *w = NULL;
    if (o->to_h5) {
        LdH5Meta m = {o->text->hash, o->image->S, o->text->image_seq_len, ld_regime_name(o->regime)};
        if (ld_h5_create(tmp, &m, &w, st)) return 1;
    } else {
        ar = archive_write_new();
        archive_write_set_format_pax_restricted(ar);
        if (archive_write_open_filename(ar, tmp) != ARCHIVE_OK) {
            vs_set(st, VS_EIO, "%s: %s", tmp, archive_error_string(ar));
            archive_write_free(ar);
            return 1;
        }
    }
    LdImageCodec ic = *o->image;
    ic.ctx = keep;
    ic.load = keep_load;
    keep->inner = o->image;
    LdPrepareSummary part = {0};
    int rc = 0;
    for (int64_t r = a; r < b && !rc; r++) {
        int in = 0;
        while (P->base[in + 1] <= r) in++;
        LdRaw raw;
        if ((rc = ld_shard_fetch(P->in[in], r - P->base[in], &raw, st))) break;
        if (o->image_root) raw.image_root = o->image_root;
        else if (!raw.image_root) raw.image_root = P->in[in]->image_root;
        keep_reset(keep);
        VStatus why = {0};
        int reason = ld_format(o->regime, &raw, o->text, &ic, smp, &why);
        part.records++;
        if (reason) {
            part.skipped++;
            part.by_reason[reason]++;
            pthread_mutex_lock(&P->mu);
            log_skip(P, &raw, reason, why.msg);
            pthread_mutex_unlock(&P->mu);
        } else {
            part.samples++;
            part.images += smp->n_img;
            for (int k = 0; k < smp->n_seq; k++) part.tokens += (int64_t)smp->seq[k].tok.n;
            if (w) {
                rc = ld_h5_append(w, smp, st);
            } else {
                char key[32], name[64];
                snprintf(key, sizeof key, "%09" PRId64, r);
                if (o->regime == LD_PAIRS && keep->n == 1) {
                    const char *cap = ld_fmt_field(raw.json, (const char *const[]){"txt", "caption", "text", NULL});
                    snprintf(name, sizeof name, "%s.%s", key, image_ext(keep->b[0].data, keep->b[0].n));
                    rc = tar_add(ar, name, keep->b[0].data, keep->b[0].n);
                    snprintf(name, sizeof name, "%s.txt", key);
                    rc = rc || tar_add(ar, name, cap, strlen(cap));
                } else {
                    char *js = json_dumps(raw.json, JSON_COMPACT);
                    VLMC_ASSERT(js != NULL, "json_dumps failed");
                    snprintf(name, sizeof name, "%s.json", key);
                    rc = tar_add(ar, name, js, strlen(js));
                    free(js);
                    for (int i = 0; i < keep->n && !rc; i++) {
                        snprintf(name, sizeof name, "%s.%d.%s", key, i, image_ext(keep->b[i].data, keep->b[i].n));
                        rc = tar_add(ar, name, keep->b[i].data, keep->b[i].n);
                    }
                }
                if (rc) vs_set(st, VS_EIO, "%s: writing %s: %s", tmp, key, archive_error_string(ar));
            }
        }
        ld_raw_free(&raw);
        pthread_mutex_lock(&P->mu);
        P->done_records++;
        pthread_mutex_unlock(&P->mu);
    }
    keep_reset(keep);
    if (w) {
        int frc = ld_h5_finish(w, rc ? NULL : st);
        rc = rc || frc;
    } else {
        if (archive_write_close(ar) != ARCHIVE_OK && !rc) rc = vs_set(st, VS_EIO, "%s: %s", tmp, archive_error_string(ar));
        archive_write_free(ar);
    }
    if (!rc && rename(tmp, path) != 0) rc = vs_set(st, VS_EIO, "rename %s: %s", tmp, strerror(errno));
    if (rc) unlink(tmp);
    pthread_mutex_lock(&P->mu);
    P->sum.records += part.records;
    P->sum.samples += part.samples;
    P->sum.images += part.images;
    P->sum.tokens += part.tokens;
    P->sum.skipped += part.skipped;
    for (int i = 0; i < LD_SKIP_COUNT; i++) P->sum.by_reason[i] += part.by_reason[i];
    if (!rc) P->sum.shards++;
    pthread_mutex_unlock(&P->mu);
    return rc;
}

static void *worker(void *arg) {
    Prep *P = arg;
    LdSample smp = {0};
    Keep *keep = calloc(1, sizeof *keep);
    VLMC_ASSERT(keep != NULL, "out of memory");
    for (;;) {
        pthread_mutex_lock(&P->mu);
        int64_t c = P->failed ? P->n_chunks : P->next_chunk++;
        pthread_mutex_unlock(&P->mu);
        if (c >= P->n_chunks) break;
        VStatus st = {0};
        if (do_chunk(P, c, &smp, keep, &st)) {
            pthread_mutex_lock(&P->mu);
            if (!P->failed) P->err = st;
            P->failed = 1;
            pthread_mutex_unlock(&P->mu);
        }
    }
    ld_sample_free(&smp);
    free(keep);
    return NULL;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int ld_prepare(const LdPrepareOpts *o, LdPrepareSummary *sum, VStatus *st) {
    memset(sum, 0, sizeof *sum);
    if (o->n_inputs < 1 || o->shard_size < 1)
        return vs_set(st, VS_EINVAL, "prepare: %d inputs, shard size %" PRId64, o->n_inputs, o->shard_size);
    if (mkdir(o->out_dir, 0755) != 0 && errno != EEXIST) return vs_set(st, VS_EIO, "%s: %s", o->out_dir, strerror(errno));
    double t0 = now_s();
    Prep P = {.o = o};
    pthread_mutex_init(&P.mu, NULL);
    P.in = calloc((size_t)o->n_inputs, sizeof *P.in);
    P.base = calloc((size_t)o->n_inputs + 1, sizeof *P.base);
    VLMC_ASSERT(P.in && P.base, "out of memory");
    int rc = 0;
    /* HDF5 inputs are copied as they are: they must already match the run */
    LdShardExpect ex = {o->text->hash, o->image->S, o->text->image_seq_len, ld_regime_name(o->regime)};
    for (int i = 0; i < o->n_inputs && !rc; i++) {
        rc = ld_shard_open(o->inputs[i], o->image_root, &ex, &P.in[i], st);
        if (!rc && !o->to_h5 && ld_shard_kind(P.in[i]) == LD_SHARD_H5)
            rc = vs_set(st, VS_EUNSUP, "%s: HDF5 shards hold no image files; convert them to HDF5 only", o->inputs[i]);
        if (!rc) P.base[i + 1] = P.base[i] + ld_shard_count(P.in[i]);
    }
    if (!rc) {
        P.total = P.base[o->n_inputs];
        P.n_chunks = (P.total + o->shard_size - 1) / o->shard_size;
        int jobs = o->jobs > 0 ? o->jobs : 2;
        pthread_t th[64];
        int started = 0;
        for (; started < jobs && started < 64; started++)
            if (pthread_create(&th[started], NULL, worker, &P)) break;
        if (started == 0) rc = vs_set(st, VS_EIO, "prepare: cannot start threads");
        while (o->progress && started) {   /* progress line until the workers are through */
            pthread_mutex_lock(&P.mu);
            int64_t d = P.done_records, sk = P.sum.skipped;
            int fin = P.next_chunk >= P.n_chunks && d >= P.total;
            pthread_mutex_unlock(&P.mu);
            double el = now_s() - t0;
            fprintf(stderr, "\r\033[Kprepare: %" PRId64 "/%" PRId64 " records (%.0f%%), %" PRId64 " skipped, %.0f records/s",
                    d, P.total, P.total ? 100.0 * (double)d / (double)P.total : 100.0, sk, el > 0 ? (double)d / el : 0);
            if (fin || P.failed) break;
            usleep(200000);
        }
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        if (o->progress) fputc('\n', stderr);
        if (P.failed && !rc) {
            rc = P.err.code ? P.err.code : VS_EIO;
            if (st) *st = P.err;
        }
    }
    *sum = P.sum;
    sum->seconds = now_s() - t0;
    double lim = o->max_skip_frac == 0 ? 0.01 : o->max_skip_frac;
    if (!rc && lim >= 0 && sum->records && (double)sum->skipped > lim * (double)sum->records)
        rc = vs_set(st, VS_EINVAL, "skipped %" PRId64 " of %" PRId64 " records (%.2f%%), more than the allowed %.2f%%",
                    sum->skipped, sum->records, 100.0 * (double)sum->skipped / (double)sum->records, 100.0 * lim);
    for (int i = 0; i < o->n_inputs; i++) ld_shard_close(P.in[i]);
    free(P.in);
    free(P.base);
    pthread_mutex_destroy(&P.mu);
    return rc;
}

int ld_prepare_write_summary(const LdPrepareSummary *s, const char *path, VStatus *st) {
    json_t *j = json_object(), *by = json_object();
    for (int r = 1; r < LD_SKIP_COUNT; r++) json_object_set_new(by, ld_skip_name(r), json_integer(s->by_reason[r]));
    json_object_set_new(j, "samples", json_integer(s->samples));
    json_object_set_new(j, "images", json_integer(s->images));
    json_object_set_new(j, "tokens", json_integer(s->tokens));
    json_object_set_new(j, "skipped", json_integer(s->skipped));
    json_object_set_new(j, "skipped_by_reason", by);
    json_object_set_new(j, "records", json_integer(s->records));
    json_object_set_new(j, "shards", json_integer(s->shards));
    json_object_set_new(j, "seconds", json_real(s->seconds));
    int rc = json_dump_file(j, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return rc ? vs_set(st, VS_EIO, "%s: cannot write the summary", path) : 0;
}
