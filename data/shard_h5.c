/* data/shard_h5.c — pre-tokenized HDF5 shards: reader and writer.
 *
 * Schema (version 1; data/README.md documents it for users):
 *   root attributes  schema_version (int32 = 1), tokenizer_hash (uint64),
 *                    image_size (int32 S), image_token_count (int32),
 *                    regime (string)
 *   tokens        int32  (N_tok)          all sequences, concatenated
 *   loss          uint8  (N_tok)          1 = token is predicted
 *   seq_offsets   int64  (N_seq + 1)      sequence k = tokens[seq_offsets[k]:seq_offsets[k+1]]
 *   sample_seqs   int64  (N_samples + 1)  sample i = sequences [sample_seqs[i], sample_seqs[i+1]) (2 for dpo)
 *   runs          int32  (N_runs, 3)      (start in its sequence, length, image index within the sample)
 *   seq_runs      int64  (N_seq + 1)      runs of sequence k
 *   images        uint8  (N_img, S, S, 3) fitted to S x S, not normalised
 *   sample_images int64  (N_samples + 1)  images of sample i
 * Flat arrays plus offsets, no variable-length types: every read is one
 * hyperslab. Open checks the attributes against the run (LdShardExpect) and
 * names the first mismatch. Debian's HDF5 is built without thread safety:
 * every HDF5 call in the process holds h5_lock. Only one shard's file is open
 * at a time (h5_current): a fetch from another shard closes it and opens its
 * own, so thousands of shards hold no descriptors and the loader's reads,
 * which go shard after shard, reopen rarely. */
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/shards.h"

#define H5_SCHEMA_VERSION 1

static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct H5Index {
    char *path;
    hid_t f, d_tok, d_loss, d_runs, d_img;
    int S;
    int64_t n_seq, n_samples;
    int64_t *seq_off, *sample_seqs, *seq_runs, *sample_imgs;
} H5Index;

static H5Index *h5_current;   /* the shard whose file is open (h5_lock) */

static void h5_close_handles(H5Index *ix) {   /* h5_lock held */
    hid_t ds[4] = {ix->d_tok, ix->d_loss, ix->d_runs, ix->d_img};
    for (int i = 0; i < 4; i++)
        if (ds[i] >= 0) H5Dclose(ds[i]);
    if (ix->f >= 0) H5Fclose(ix->f);
    ix->f = ix->d_tok = ix->d_loss = ix->d_runs = ix->d_img = H5I_INVALID_HID;
    if (h5_current == ix) h5_current = NULL;
}

/* opens ix's file and datasets, closing the previous shard's (h5_lock held) */
static int h5_activate(H5Index *ix, VStatus *st) {
    if (h5_current == ix) return 0;
    if (h5_current) h5_close_handles(h5_current);
    ix->f = H5Fopen(ix->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (ix->f < 0) return vs_set(st, VS_EIO, "%s: cannot open as HDF5", ix->path);
    ix->d_tok = H5Dopen2(ix->f, "tokens", H5P_DEFAULT);
    ix->d_loss = H5Dopen2(ix->f, "loss", H5P_DEFAULT);
    ix->d_runs = H5Dopen2(ix->f, "runs", H5P_DEFAULT);
    ix->d_img = H5Dopen2(ix->f, "images", H5P_DEFAULT);
    if (ix->d_tok < 0 || ix->d_loss < 0 || ix->d_runs < 0 || ix->d_img < 0) {
        h5_close_handles(ix);
        return vs_set(st, VS_EINVAL, "%s: dataset tokens, loss, runs or images missing", ix->path);
    }
    h5_current = ix;
    return 0;
}

static int attr_i64(hid_t f, const char *name, hid_t type, void *out) {
    if (H5Aexists(f, name) <= 0) return 1;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return 1;
    herr_t r = H5Aread(a, type, out);
    H5Aclose(a);
    return r < 0;
}

static int attr_str(hid_t f, const char *name, char *out, size_t cap) {
    if (H5Aexists(f, name) <= 0) return 1;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, cap);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    herr_t r = H5Aread(a, t, out);
    H5Tclose(t);
    H5Aclose(a);
    out[cap - 1] = 0;
    return r < 0;
}

/* reads a whole 1-D int64 dataset; returns its length or -1 */
static int64_t read_offsets(hid_t f, const char *name, int64_t **out) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    hsize_t n = 0;
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    *out = malloc((n ? n : 1) * sizeof **out);
    VLMC_ASSERT(*out != NULL, "out of memory");
    herr_t r = nd == 1 && n > 0 ? H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) : -1;
    H5Dclose(d);
    return r < 0 ? -1 : (int64_t)n;
}

static int h5_open_locked(const char *path, const LdShardExpect *ex, LdShard *s, H5Index *ix, VStatus *st) {
    if (h5_activate(ix, st)) return st ? st->code : 1;
    int32_t ver = 0, S = 0, itc = 0;
    uint64_t hash = 0;
    char regime[32] = "";
    if (attr_i64(ix->f, "schema_version", H5T_NATIVE_INT32, &ver) ||
        attr_i64(ix->f, "tokenizer_hash", H5T_NATIVE_UINT64, &hash) ||
        attr_i64(ix->f, "image_size", H5T_NATIVE_INT32, &S) ||
        attr_i64(ix->f, "image_token_count", H5T_NATIVE_INT32, &itc) || attr_str(ix->f, "regime", regime, sizeof regime))
        return vs_set(st, VS_EINVAL, "%s: missing root attribute (schema_version, tokenizer_hash, image_size, "
                      "image_token_count, regime): not a vlmc shard", path);
    if (ver != H5_SCHEMA_VERSION)
        return vs_set(st, VS_EINVAL, "%s: stale shard: schema_version %d, this vlmc reads %d (re-run vlmc prepare)",
                      path, ver, H5_SCHEMA_VERSION);
    if (ex && ex->tokenizer_hash && hash != ex->tokenizer_hash)
        return vs_set(st, VS_EINVAL, "%s: stale shard: tokenizer_hash %016llx, the run's tokenizer is %016llx "
                      "(re-run vlmc prepare with this tokenizer)", path, (unsigned long long)hash,
                      (unsigned long long)ex->tokenizer_hash);
    if (ex && ex->image_size && S != ex->image_size)
        return vs_set(st, VS_EINVAL, "%s: stale shard: image_size %d, the run's encoder wants %d", path, S,
                      ex->image_size);
    if (ex && ex->image_token_count && itc != ex->image_token_count)
        return vs_set(st, VS_EINVAL, "%s: stale shard: image_token_count %d, the run uses %d", path, itc,
                      ex->image_token_count);
    if (ex && ex->regime && strcmp(regime, ex->regime) != 0)
        return vs_set(st, VS_EINVAL, "%s: shard holds regime '%s', the run wants '%s'", path, regime, ex->regime);
    ix->S = S;
    int64_t n_sso = read_offsets(ix->f, "seq_offsets", &ix->seq_off);
    int64_t n_ss = read_offsets(ix->f, "sample_seqs", &ix->sample_seqs);
    int64_t n_sr = read_offsets(ix->f, "seq_runs", &ix->seq_runs);
    int64_t n_si = read_offsets(ix->f, "sample_images", &ix->sample_imgs);
    if (n_sso < 1 || n_ss < 1 || n_sr != n_sso || n_si != n_ss)
        return vs_set(st, VS_EINVAL, "%s: offset arrays missing or of inconsistent lengths", path);
    ix->n_seq = n_sso - 1;
    ix->n_samples = n_ss - 1;
    if (ix->sample_seqs[ix->n_samples] != ix->n_seq)
        return vs_set(st, VS_EINVAL, "%s: sample_seqs does not end at the sequence count", path);
    s->count = ix->n_samples;
    return 0;
}

int ld_h5_open(const char *path, const LdShardExpect *ex, LdShard *s, VStatus *st) {
    H5Index *ix = calloc(1, sizeof *ix);
    VLMC_ASSERT(ix != NULL, "out of memory");
    ix->f = ix->d_tok = ix->d_loss = ix->d_runs = ix->d_img = H5I_INVALID_HID;
    ix->path = strdup(path);
    s->impl = ix;
    pthread_mutex_lock(&h5_lock);
    h5_quiet();
    int rc = h5_open_locked(path, ex, s, ix, st);
    pthread_mutex_unlock(&h5_lock);
    return rc;
}

/* rows [a, a+n) of a dataset whose rows are `row` elements of type t */
static int read_rows(hid_t d, hid_t t, int64_t a, int64_t n, int rank, const hsize_t *row, void *out) {
    if (n == 0) return 0;
    hid_t fs = H5Dget_space(d);
    hsize_t start[4] = {(hsize_t)a, 0, 0, 0}, count[4] = {(hsize_t)n, 0, 0, 0};
    for (int i = 1; i < rank; i++) count[i] = row[i - 1];
    herr_t r = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    if (r >= 0) r = H5Dread(d, t, ms, fs, H5P_DEFAULT, out);
    H5Sclose(ms);
    H5Sclose(fs);
    return r < 0;
}

static int h5_fetch_locked(LdShard *s, H5Index *ix, int64_t j, LdSample *p, VStatus *st) {
    int64_t q0 = ix->sample_seqs[j], q1 = ix->sample_seqs[j + 1];
    if (q1 - q0 < 1 || q1 - q0 > 2) return vs_set(st, VS_EINVAL, "%s: sample %lld has %lld sequences", s->path,
                                                   (long long)j, (long long)(q1 - q0));
    p->n_seq = (int)(q1 - q0);
    for (int k = 0; k < p->n_seq; k++) {
        int64_t a = ix->seq_off[q0 + k], n = ix->seq_off[q0 + k + 1] - a;
        LdSeq *q = &p->seq[k];
        for (int64_t i = 0; i < n; i++) { ld_ids_push(&q->tok, 0); ld_ids_push(&q->loss, 0); }
        uint8_t *l = malloc((size_t)n + 1);
        VLMC_ASSERT(l != NULL, "out of memory");
        int bad = read_rows(ix->d_tok, H5T_NATIVE_INT32, a, n, 1, NULL, q->tok.v) ||
                  read_rows(ix->d_loss, H5T_NATIVE_UINT8, a, n, 1, NULL, l);
        for (int64_t i = 0; i < n; i++) q->loss.v[i] = l[i];
        free(l);
        int64_t r0 = ix->seq_runs[q0 + k], nr = ix->seq_runs[q0 + k + 1] - r0;
        int32_t *runs = malloc((size_t)(nr ? nr : 1) * 3 * sizeof *runs);
        VLMC_ASSERT(runs != NULL, "out of memory");
        hsize_t row3 = 3;
        bad = bad || read_rows(ix->d_runs, H5T_NATIVE_INT32, r0, nr, 2, &row3, runs);
        for (int64_t r = 0; r < nr && !bad; r++) ld_seq_add_run(q, runs[3 * r], runs[3 * r + 1], runs[3 * r + 2]);
        free(runs);
        if (bad) return vs_set(st, VS_EIO, "%s: sample %lld: reading tokens failed", s->path, (long long)j);
    }
    int64_t i0 = ix->sample_imgs[j], ni = ix->sample_imgs[j + 1] - i0;
    for (int64_t i = 0; i < ni; i++) ld_sample_add_image(p, ix->S);
    hsize_t dims[3] = {(hsize_t)ix->S, (hsize_t)ix->S, 3};
    if (read_rows(ix->d_img, H5T_NATIVE_UINT8, i0, ni, 4, dims, p->px))
        return vs_set(st, VS_EIO, "%s: sample %lld: reading images failed", s->path, (long long)j);
    return 0;
}

int ld_h5_fetch(LdShard *s, int64_t j, LdRaw *raw, VStatus *st) {
    H5Index *ix = s->impl;
    raw->shard = s->path;
    snprintf(raw->key, sizeof raw->key, "sample %lld", (long long)j);
    raw->pre = calloc(1, sizeof *raw->pre);
    VLMC_ASSERT(raw->pre != NULL, "out of memory");
    pthread_mutex_lock(&h5_lock);
    int rc = h5_activate(ix, st);
    if (!rc) rc = h5_fetch_locked(s, ix, j, raw->pre, st);
    pthread_mutex_unlock(&h5_lock);
    return rc;
}

void ld_h5_close(LdShard *s) {
    H5Index *ix = s->impl;
    if (!ix) return;
    pthread_mutex_lock(&h5_lock);
    h5_close_handles(ix);
    pthread_mutex_unlock(&h5_lock);
    free(ix->path);
    free(ix->seq_off);
    free(ix->sample_seqs);
    free(ix->seq_runs);
    free(ix->sample_imgs);
    free(ix);
}

/* ---- writer: samples accumulate in memory, written at finish ------------- */
struct LdH5Writer {
    char *path;
    LdH5Meta m;
    char regime[32];
    LdIds tok, loss, runs;             /* runs: 3 ids each */
    int64_t *o_seq, *o_sruns, *o_sseq, *o_simg;
    int64_t c_seq, c_sruns, c_sseq, c_simg;   /* capacities */
    int64_t n_seq, n_samples;
    uint8_t *img;
    int64_t n_img, cap_img;
};

static void push64(int64_t **a, int64_t *cap, int64_t n, int64_t v) {
    if (n >= *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *a = realloc(*a, (size_t)*cap * sizeof **a);
        VLMC_ASSERT(*a != NULL, "out of memory");
    }
    (*a)[n] = v;
}

int ld_h5_create(const char *path, const LdH5Meta *m, LdH5Writer **out, VStatus *st) {
    (void)st;
    LdH5Writer *w = calloc(1, sizeof *w);
    VLMC_ASSERT(w != NULL, "out of memory");
    w->path = strdup(path);
    w->m = *m;
    snprintf(w->regime, sizeof w->regime, "%s", m->regime ? m->regime : "");
    push64(&w->o_seq, &w->c_seq, 0, 0);
    push64(&w->o_sruns, &w->c_sruns, 0, 0);
    push64(&w->o_sseq, &w->c_sseq, 0, 0);
    push64(&w->o_simg, &w->c_simg, 0, 0);
    *out = w;
    return 0;
}

int ld_h5_append(LdH5Writer *w, const LdSample *s, VStatus *st) {
    if (s->n_img && s->S != w->m.image_size)
        return vs_set(st, VS_EINVAL, "%s: image of %d px in a shard of %d px", w->path, s->S, w->m.image_size);
    for (int k = 0; k < s->n_seq; k++) {
        const LdSeq *q = &s->seq[k];
        ld_ids_append(&w->tok, q->tok.v, q->tok.n);
        ld_ids_append(&w->loss, q->loss.v, q->loss.n);
        for (int r = 0; r < q->n_runs; r++) {
            int32_t t[3] = {q->runs[r].start, q->runs[r].len, q->runs[r].img};
            ld_ids_append(&w->runs, t, 3);
        }
        w->n_seq++;
        push64(&w->o_seq, &w->c_seq, w->n_seq, (int64_t)w->tok.n);
        push64(&w->o_sruns, &w->c_sruns, w->n_seq, (int64_t)w->runs.n / 3);
    }
    size_t isz = (size_t)w->m.image_size * w->m.image_size * 3;
    if (w->n_img + s->n_img > w->cap_img) {
        while (w->n_img + s->n_img > w->cap_img) w->cap_img = w->cap_img ? w->cap_img * 2 : 16;
        w->img = realloc(w->img, (size_t)w->cap_img * isz);
        VLMC_ASSERT(w->img != NULL, "out of memory");
    }
    if (s->n_img) memcpy(w->img + (size_t)w->n_img * isz, s->px, (size_t)s->n_img * isz);
    w->n_img += s->n_img;
    w->n_samples++;
    push64(&w->o_sseq, &w->c_sseq, w->n_samples, w->n_seq);
    push64(&w->o_simg, &w->c_simg, w->n_samples, w->n_img);
    return 0;
}

static int write_ds(hid_t f, const char *name, hid_t t, int rank, const hsize_t *dims, const void *data) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : (dims[0] ? H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return r < 0;
}

static int write_attr(hid_t f, const char *name, hid_t t, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, t, v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return r < 0;
}

static int h5_finish_locked(LdH5Writer *w, VStatus *st) {
    h5_quiet();
    hid_t f = H5Fcreate(w->path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return vs_set(st, VS_EIO, "%s: cannot create HDF5 file", w->path);
    int32_t ver = H5_SCHEMA_VERSION, S = w->m.image_size, itc = w->m.image_token_count;
    hid_t ts = H5Tcopy(H5T_C_S1);
    H5Tset_size(ts, strlen(w->regime) + 1);
    int bad = write_attr(f, "schema_version", H5T_NATIVE_INT32, &ver) ||
              write_attr(f, "tokenizer_hash", H5T_NATIVE_UINT64, &w->m.tokenizer_hash) ||
              write_attr(f, "image_size", H5T_NATIVE_INT32, &S) ||
              write_attr(f, "image_token_count", H5T_NATIVE_INT32, &itc) || write_attr(f, "regime", ts, w->regime);
    H5Tclose(ts);
    uint8_t *l = malloc(w->loss.n + 1);
    VLMC_ASSERT(l != NULL, "out of memory");
    for (size_t i = 0; i < w->loss.n; i++) l[i] = (uint8_t)w->loss.v[i];
    hsize_t d1 = w->tok.n, dr[2] = {w->runs.n / 3, 3}, ds = (hsize_t)w->n_seq + 1, dn = (hsize_t)w->n_samples + 1;
    hsize_t di[4] = {(hsize_t)w->n_img, (hsize_t)S, (hsize_t)S, 3};
    bad = bad || write_ds(f, "tokens", H5T_NATIVE_INT32, 1, &d1, w->tok.v) ||
          write_ds(f, "loss", H5T_NATIVE_UINT8, 1, &d1, l) || write_ds(f, "runs", H5T_NATIVE_INT32, 2, dr, w->runs.v) ||
          write_ds(f, "seq_offsets", H5T_NATIVE_INT64, 1, &ds, w->o_seq) ||
          write_ds(f, "seq_runs", H5T_NATIVE_INT64, 1, &ds, w->o_sruns) ||
          write_ds(f, "sample_seqs", H5T_NATIVE_INT64, 1, &dn, w->o_sseq) ||
          write_ds(f, "sample_images", H5T_NATIVE_INT64, 1, &dn, w->o_simg) ||
          write_ds(f, "images", H5T_NATIVE_UINT8, 4, di, w->img);
    free(l);
    if (H5Fclose(f) < 0) bad = 1;
    return bad ? vs_set(st, VS_EIO, "%s: writing the HDF5 shard failed", w->path) : 0;
}

int ld_h5_finish(LdH5Writer *w, VStatus *st) {
    pthread_mutex_lock(&h5_lock);
    int rc = h5_finish_locked(w, st);
    pthread_mutex_unlock(&h5_lock);
    free(w->path);
    ld_ids_free(&w->tok);
    ld_ids_free(&w->loss);
    ld_ids_free(&w->runs);
    free(w->o_seq);
    free(w->o_sruns);
    free(w->o_sseq);
    free(w->o_simg);
    free(w->img);
    free(w);
    return rc;
}
