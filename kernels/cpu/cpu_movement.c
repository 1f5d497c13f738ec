/* kernels/cpu/cpu_movement.c — CPU data movement: permute, concat, row gather /
 * scatter by index, row masks' backward partners, Idefics3 pixel shuffle and
 * patch unfold, each with its backward.
 *
 * Every forward here is a bijection or an injection on elements, so forwards
 * and most backwards parallelise over output rows without races. The two
 * index-driven ops whose destinations may repeat (gather_rows_backward with
 * repeated ids, scatter_rows with repeated targets) partition columns instead:
 * each thread owns a column block and walks the index list in order, so
 * repeated rows add (or overwrite) in index order whatever the thread count. */
#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"

#include <string.h>

/* ---- permute ---------------------------------------------------------------- */

/* out (dims d[perm[i]]) <- inp (dims d); acc: dinp[in] += dout[out] instead of
 * out[out] = inp[in]. Each out row (last out axis) is one strided walk of inp. */
static void permute_impl(const char *op, const Tensor *in_t, const Tensor *out_t, const int *perm, float *in,
                         float *out, int acc) {
    const int nd = in_t->ndim;
    if (!perm) VLMC_PANIC("%s: perm is NULL", op);
    int64_t stride[VLMC_MAX_DIMS], od[VLMC_MAX_DIMS], is[VLMC_MAX_DIMS];
    int seen[VLMC_MAX_DIMS] = {0};
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        stride[i] = s;
        s *= in_t->shape[i];
    }
    for (int i = 0; i < nd; i++) {
        if (perm[i] < 0 || perm[i] >= nd || seen[perm[i]]++)
            VLMC_PANIC("%s: perm[%d] = %d is not a permutation of %d axes", op, i, perm[i], nd);
        od[i] = in_t->shape[perm[i]];
        is[i] = stride[perm[i]];
    }
    be_check_dims(op, out_t, nd, od, acc ? "dout" : "out");
    if (in_t->numel && in == out) VLMC_PANIC("%s: input and output must not alias", op);
    const int64_t L = od[nd - 1], inner = is[nd - 1];
    const int64_t rows = L ? in_t->numel / L : 0;
#pragma omp parallel for schedule(static) if (in_t->numel >= CPU_PAR_MIN)
    for (int64_t q = 0; q < rows; q++) {
        int64_t base = 0, rem = q;
        for (int i = nd - 2; i >= 0; i--) {
            base += (rem % od[i]) * is[i];
            rem /= od[i];
        }
        float *o = out + q * L;
        const float *src = in + base;
        if (acc) {
            float *dst = in + base;
            for (int64_t j = 0; j < L; j++) dst[j * inner] += o[j];
        } else if (inner == 1) {
            memcpy(o, src, (size_t)L * sizeof *o);
        } else {
            for (int64_t j = 0; j < L; j++) o[j] = src[j * inner];
        }
    }
}

// inp: (d0, .., dn-1) -> out: (d[perm[0]], .., d[perm[n-1]])
void cpu_permute(Backend *be, Tensor *out, const Tensor *inp, const int *perm) {
    (void)be;
    if (!inp) VLMC_PANIC("permute: inp is NULL");
    permute_impl("permute", inp, out, perm, cpu_f32(inp, "permute"), cpu_f32(out, "permute"), 0);
}

// dinp (dims d) += inverse permutation of dout (dims d[perm[i]])
void cpu_permute_backward(Backend *be, Tensor *dinp, const Tensor *dout, const int *perm) {
    (void)be;
    if (!dinp) VLMC_PANIC("permute_backward: dinp is NULL");
    permute_impl("permute_backward", dinp, dout, perm, cpu_f32(dinp, "permute_backward"),
                 cpu_f32(dout, "permute_backward"), 1);
}

/* ---- concat ----------------------------------------------------------------- */

/* Checks parts against out along axis; returns outer (product of dims before
 * axis) and inner (after) and fills len[i] = part i's axis size. */
static int concat_geometry(const char *op, const Tensor *out, const Tensor *const *parts, int n, int *axis,
                           int64_t *outer, int64_t *inner, int64_t *len) {
    if (!out) VLMC_PANIC("%s: out is NULL", op);
    if (n < 1 || !parts) VLMC_PANIC("%s: %d parts", op, n);
    const int nd = out->ndim;
    int ax = *axis < 0 ? *axis + nd : *axis;
    if (ax < 0 || ax >= nd) VLMC_PANIC("%s: axis %d out of range for %d dims", op, *axis, nd);
    *axis = ax;
    int64_t dims[VLMC_MAX_DIMS], total = 0;
    memcpy(dims, out->shape, sizeof dims);
    dims[ax] = -1;
    for (int i = 0; i < n; i++) {
        if (!parts[i]) VLMC_PANIC("%s: part %d is NULL", op, i);
        be_check_dims(op, parts[i], nd, dims, "part");
        len[i] = parts[i]->shape[ax];
        total += len[i];
    }
    if (total != out->shape[ax])
        VLMC_PANIC("%s: parts add up to %lld along axis %d, out has %lld", op, (long long)total, ax,
                   (long long)out->shape[ax]);
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < ax; i++) *outer *= out->shape[i];
    for (int i = ax + 1; i < nd; i++) *inner *= out->shape[i];
    return ax;
}

#define CONCAT_MAX_PARTS 64

static void concat_impl(const char *op, Tensor *out_t, const Tensor *const *parts, int n, int axis, int acc) {
    if (n > CONCAT_MAX_PARTS) VLMC_PANIC("%s: %d parts, at most %d", op, n, CONCAT_MAX_PARTS);
    int64_t outer, inner, len[CONCAT_MAX_PARTS] = {0}, off[CONCAT_MAX_PARTS];
    float *ptr[CONCAT_MAX_PARTS];
    int ax = axis;
    /* every part must be given (a NULL dpart's slice could not be located) */
    concat_geometry(op, out_t, parts, n, &ax, &outer, &inner, len);
    int64_t o = 0;
    for (int i = 0; i < n; i++) {
        off[i] = o;
        o += len[i] * inner;
        ptr[i] = cpu_f32(parts[i], op);
    }
    const int64_t row = o; /* elements of out per outer index */
    float *out = cpu_f32(out_t, op);
    const int64_t items = outer * n;
#pragma omp parallel for schedule(static) if (out_t->numel >= CPU_PAR_MIN)
    for (int64_t it = 0; it < items; it++) {
        int64_t q = it / n;
        int i = (int)(it % n);
        int64_t m = len[i] * inner;
        float *dst = out + q * row + off[i], *p = ptr[i] + q * m;
        if (acc) {
            for (int64_t j = 0; j < m; j++) p[j] += dst[j];
        } else {
            memcpy(dst, p, (size_t)m * sizeof *dst);
        }
    }
}

void cpu_concat(Backend *be, Tensor *out, const Tensor *const *parts, int n, int axis) {
    (void)be;
    concat_impl("concat", out, parts, n, axis, 0);
}

void cpu_concat_backward(Backend *be, Tensor *const *dparts, int n, const Tensor *dout, int axis) {
    (void)be;
    concat_impl("concat_backward", (Tensor *)dout, (const Tensor *const *)dparts, n, axis, 1);
}

/* ---- row gather / scatter ------------------------------------------------------ */

/* idx (n) i32, every entry in [0, R): panics naming the op otherwise */
static const int32_t *check_idx(const char *op, const Tensor *idx, int64_t R) {
    if (!idx) VLMC_PANIC("%s: idx is NULL", op);
    const int32_t *id = cpu_i32(idx, op);
    for (int64_t i = 0; i < idx->numel; i++)
        if (id[i] < 0 || id[i] >= R)
            VLMC_PANIC("%s: idx[%lld] = %d outside [0, %lld)", op, (long long)i, id[i], (long long)R);
    return id;
}

/* row length of a (R, C) tensor: its last dim */
static int64_t last_dim(const char *op, const Tensor *t, const char *what) {
    if (!t) VLMC_PANIC("%s: %s is NULL", op, what);
    return t->shape[t->ndim - 1];
}

// src (R, C), idx (n) -> out (n, C)
void cpu_gather_rows(Backend *be, Tensor *out, const Tensor *src, const Tensor *idx) {
    (void)be;
    const char *op = "gather_rows";
    int64_t C = last_dim(op, src, "src"), R = cpu_rows_of(op, src->numel, C, "src");
    const int32_t *id = check_idx(op, idx, R);
    const int64_t n = idx->numel;
    be_check_numel(op, out, n * C, "out");
    float *o = cpu_f32(out, op);
    const float *s = cpu_f32(src, op);
#pragma omp parallel for schedule(static) if (n * C >= CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) memcpy(o + i * C, s + (int64_t)id[i] * C, (size_t)C * sizeof *o);
}

// dsrc (R, C)[idx[i]] += row_mask[idx[i]] * dout (n, C)[i], in i order per column block
void cpu_gather_rows_backward(Backend *be, Tensor *dsrc, const Tensor *dout, const Tensor *idx,
                              const Tensor *row_mask) {
    (void)be;
    const char *op = "gather_rows_backward";
    int64_t C = last_dim(op, dsrc, "dsrc"), R = cpu_rows_of(op, dsrc->numel, C, "dsrc");
    const int32_t *id = check_idx(op, idx, R);
    const int64_t n = idx->numel;
    be_check_numel(op, dout, n * C, "dout");
    if (row_mask) be_check_numel(op, row_mask, R, "row_mask");
    float *d = cpu_f32(dsrc, op);
    const float *g = cpu_f32(dout, op), *m = row_mask ? cpu_f32(row_mask, op) : NULL;
    const int64_t nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static) if (n * C >= CPU_PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * CPU_COL_BLOCK, w = cpu_min64(C - c0, CPU_COL_BLOCK);
        for (int64_t i = 0; i < n; i++) {
            int64_t r = id[i];
            float s = m ? m[r] : 1.0f;
            if (s == 0.0f) continue; /* frozen row: no gradient at all */
            float *dr = d + r * C + c0;
            const float *gr = g + i * C + c0;
#pragma omp simd
            for (int64_t c = 0; c < w; c++) dr[c] += s * gr[c];
        }
    }
}

// dst (R, C)[idx[i]] = src (n, C)[i]; with repeated targets the last i wins
void cpu_scatter_rows(Backend *be, Tensor *dst, const Tensor *src, const Tensor *idx) {
    (void)be;
    const char *op = "scatter_rows";
    int64_t C = last_dim(op, dst, "dst"), R = cpu_rows_of(op, dst->numel, C, "dst");
    const int32_t *id = check_idx(op, idx, R);
    const int64_t n = idx->numel;
    be_check_numel(op, src, n * C, "src");
    float *d = cpu_f32(dst, op);
    const float *s = cpu_f32(src, op);
    const int64_t nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static) if (n * C >= CPU_PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * CPU_COL_BLOCK, w = cpu_min64(C - c0, CPU_COL_BLOCK);
        for (int64_t i = 0; i < n; i++)
            memcpy(d + (int64_t)id[i] * C + c0, s + i * C + c0, (size_t)w * sizeof *d);
    }
}

// dsrc (n, C)[i] += ddst (R, C)[idx[i]]; then those ddst rows = 0
void cpu_scatter_rows_backward(Backend *be, Tensor *dsrc, Tensor *ddst, const Tensor *idx) {
    (void)be;
    const char *op = "scatter_rows_backward";
    int64_t C = last_dim(op, ddst, "ddst"), R = cpu_rows_of(op, ddst->numel, C, "ddst");
    const int32_t *id = check_idx(op, idx, R);
    const int64_t n = idx->numel;
    be_check_numel(op, dsrc, n * C, "dsrc");
    float *ds = cpu_f32(dsrc, op), *dd = cpu_f32(ddst, op);
    const int64_t nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static) if (n * C >= CPU_PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * CPU_COL_BLOCK, w = cpu_min64(C - c0, CPU_COL_BLOCK);
        /* reverse order: with a repeated target only the last writer of the
           forward survived, so only it receives the gradient (earlier ones
           then read the zeroed row) */
        for (int64_t i = n - 1; i >= 0; i--) {
            float *gr = dd + (int64_t)id[i] * C + c0, *sr = ds + i * C + c0;
            for (int64_t c = 0; c < w; c++) {
                sr[c] += gr[c];
                gr[c] = 0.0f;
            }
        }
    }
}

/* ---- pixel shuffle and patch unfold -------------------------------------------- */

/* inp (B, s*s, D) -> out (B, (s/r)^2, D r^2):
 *   out[b, h2 (s/r) + w2, (hr r + wr) D + d] = inp[b, (h2 r + hr) s + w2 r + wr, d]
 * which is what Idefics3Connector.pixel_shuffle's view/permute/reshape chain
 * computes. acc: the backward (dinp += the inverse gather). */
static void pixel_shuffle_impl(const char *op, const Tensor *in_t, const Tensor *out_t, int r, int acc) {
    if (!in_t || in_t->ndim != 3) VLMC_PANIC("%s: input must be (B, S, D)", op);
    const int64_t B = in_t->shape[0], S = in_t->shape[1], D = in_t->shape[2];
    int64_t s = 0;
    while (s * s < S) s++;
    if (r < 1 || s * s != S || s % r != 0)
        VLMC_PANIC("%s: sequence %lld is not a square side divisible by the scale %d", op, (long long)S, r);
    const int64_t s2 = s / r;
    int64_t od[3] = {B, s2 * s2, D * r * r};
    be_check_dims(op, out_t, 3, od, acc ? "dout" : "out");
    float *in = cpu_f32(in_t, op), *out = cpu_f32(out_t, op);
    const int64_t rows = B * s2 * s2;
#pragma omp parallel for schedule(static) if (in_t->numel >= CPU_PAR_MIN)
    for (int64_t q = 0; q < rows; q++) {
        int64_t b = q / (s2 * s2), h2 = (q / s2) % s2, w2 = q % s2;
        float *orow = out + q * od[2];
        for (int64_t hr = 0; hr < r; hr++)
            for (int64_t wr = 0; wr < r; wr++) {
                float *irow = in + (b * S + (h2 * r + hr) * s + w2 * r + wr) * D;
                float *o = orow + (hr * r + wr) * D;
                if (acc) {
#pragma omp simd
                    for (int64_t d = 0; d < D; d++) irow[d] += o[d];
                } else {
                    memcpy(o, irow, (size_t)D * sizeof *o);
                }
            }
    }
}

void cpu_pixel_shuffle(Backend *be, Tensor *out, const Tensor *inp, int r) {
    (void)be;
    pixel_shuffle_impl("pixel_shuffle", inp, out, r, 0);
}

void cpu_pixel_shuffle_backward(Backend *be, Tensor *dinp, const Tensor *dout, int r) {
    (void)be;
    pixel_shuffle_impl("pixel_shuffle_backward", dinp, dout, r, 1);
}

// pixels (B, Cc, H, W) -> out (B (H/p) (W/p), Cc p p), features (c, ky, kx)
void cpu_patch_unfold(Backend *be, Tensor *out, const Tensor *pixels, int p) {
    (void)be;
    const char *op = "patch_unfold";
    if (!pixels || pixels->ndim != 4) VLMC_PANIC("%s: pixels must be (B, C, H, W)", op);
    const int64_t B = pixels->shape[0], Cc = pixels->shape[1], H = pixels->shape[2], W = pixels->shape[3];
    if (p < 1 || H % p || W % p)
        VLMC_PANIC("%s: image %lldx%lld is not divisible by the patch size %d", op, (long long)H, (long long)W, p);
    const int64_t HP = H / p, WP = W / p, F = Cc * p * p;
    int64_t od[2] = {B * HP * WP, F};
    be_check_dims(op, out, 2, od, "out");
    float *o = cpu_f32(out, op);
    const float *x = cpu_f32(pixels, op);
    const int64_t rows = B * HP * WP;
#pragma omp parallel for schedule(static) if (out->numel >= CPU_PAR_MIN)
    for (int64_t q = 0; q < rows; q++) {
        int64_t b = q / (HP * WP), py = (q / WP) % HP, px = q % WP;
        float *orow = o + q * F;
        for (int64_t c = 0; c < Cc; c++)
            for (int64_t ky = 0; ky < p; ky++)
                memcpy(orow + (c * p + ky) * p, x + ((b * Cc + c) * H + py * p + ky) * W + px * p,
                       (size_t)p * sizeof *orow);
    }
}
