/* kernels/cpu/cpu_norm.c — CPU LayerNorm and RMSNorm, each optionally fused
 * with the residual add, and their backwards.
 *
 * Rows of (N, C) are normalised over C. Forward: one OpenMP pass over rows;
 * each row is read once from memory (the residual sum is formed, written to
 * sum_out and reduced while in cache), row statistics use 16 float
 * accumulators (cpu_loops.h) with a two-pass variance (mean first, then
 * squares about it).
 * Row kernels are compiled for the base ISA and AVX2 (CPU_DUAL, cpu_loops.h).
 * Backward: dinp is a per-row pass; dw / db are summed over rows by a
 * column-partitioned pass (each column block owned by one thread, rows added
 * in order 0..N-1 in double), so the weight gradients are bit-identical for any
 * thread count. Both passes run inside one parallel region.
 * Backward ops accumulate (+=); mean / rstd are those saved by the forward. */
#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"

#include <math.h>
#include <string.h>


/* Common argument checks of the forwards; returns N, the number of rows. */
static int64_t norm_fwd_check(const char *op, const Tensor *out, const Tensor *sum_out, const Tensor *inp,
                              const Tensor *resid, const Tensor *w, int64_t *C) {
    if (!w) VLMC_PANIC("%s: weight is NULL", op);
    *C = w->numel;
    int64_t N = cpu_rows_of(op, inp->numel, *C, "inp");
    be_check_numel(op, out, N * *C, "out");
    if (resid) {
        be_check_numel(op, resid, N * *C, "resid");
        be_check_numel(op, sum_out, N * *C, "sum_out (required with resid)");
    } else if (sum_out) {
        be_check_numel(op, sum_out, N * *C, "sum_out");
    }
    return N;
}

/* s = x + r (or s = x when r is NULL; then s may equal x and nothing is written) */
CPU_INLINE const float *row_sum(float *s, const float *x, const float *r, int64_t C) {
    if (!r) {
        if (s && s != x) memcpy(s, x, (size_t)C * sizeof *s);
        return x;
    }
#pragma omp simd
    for (int64_t c = 0; c < C; c++) s[c] = x[c] + r[c];
    return s;
}

/* Everything a norm kernel reads or writes; rows are (N, C). */
typedef struct NormArgs {
    float *out, *sum_out, *mean, *rstd;  /* forward outputs (sum_out, mean, rstd may be NULL) */
    float *dinp, *dw, *db;               /* backward outputs (any may be NULL) */
    const float *inp, *resid, *w, *b, *dout;
    const float *smean, *srstd;          /* saved statistics (backward) */
    int64_t N, C;
    float invC, eps;
} NormArgs;

/* ---- row kernels (compiled for the base ISA and for AVX2) ------------------ */

CPU_INLINE void ln_fwd_row_body(const NormArgs *a, int64_t r) {
    const int64_t C = a->C;
    const float *s = row_sum(a->sum_out ? a->sum_out + r * C : NULL, a->inp + r * C,
                             a->resid ? a->resid + r * C : NULL, C);
    const float mu = cpu_row_sum(s, C) * a->invC;
    const float rs = 1.0f / sqrtf(cpu_row_sqdev(s, mu, C) * a->invC + a->eps);
    float *o = a->out + r * C;
    const float *w = a->w, *b = a->b;
    if (b) {
#pragma omp simd
        for (int64_t c = 0; c < C; c++) o[c] = (s[c] - mu) * rs * w[c] + b[c];
    } else {
#pragma omp simd
        for (int64_t c = 0; c < C; c++) o[c] = (s[c] - mu) * rs * w[c];
    }
    if (a->mean) a->mean[r] = mu;
    if (a->rstd) a->rstd[r] = rs;
}
CPU_DUAL(ln_fwd_row, (const NormArgs *a, int64_t r), (a, r))

CPU_INLINE void rms_fwd_row_body(const NormArgs *a, int64_t r) {
    const int64_t C = a->C;
    const float *s = row_sum(a->sum_out ? a->sum_out + r * C : NULL, a->inp + r * C,
                             a->resid ? a->resid + r * C : NULL, C);
    const float rs = 1.0f / sqrtf(cpu_row_dot(s, s, C) * a->invC + a->eps);
    float *o = a->out + r * C;
    const float *w = a->w;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) o[c] = s[c] * rs * w[c];
    if (a->rstd) a->rstd[r] = rs;
}
CPU_DUAL(rms_fwd_row, (const NormArgs *a, int64_t r), (a, r))

// dinp += rstd * (dyw - mean(dyw) - xhat * mean(dyw * xhat)), dyw = dout * w
CPU_INLINE void ln_bwd_row_body(const NormArgs *a, int64_t r) {
    const int64_t C = a->C;
    const float *g = a->dout + r * C, *x = a->inp + r * C, *w = a->w;
    const float mu = a->smean[r], rs = a->srstd[r];
    float acc_a[CPU_ACC] = {0}, acc_b[CPU_ACC] = {0};
    int64_t c = 0;
    for (; c + CPU_ACC <= C; c += CPU_ACC)
#pragma omp simd
        for (int j = 0; j < CPU_ACC; j++) {
            float dyw = g[c + j] * w[c + j];
            acc_a[j] += dyw;
            acc_b[j] += dyw * ((x[c + j] - mu) * rs);
        }
    for (int j = 0; c < C; c++, j++) {
        float dyw = g[c] * w[c];
        acc_a[j] += dyw;
        acc_b[j] += dyw * ((x[c] - mu) * rs);
    }
    const float ma = cpu_hsum16(acc_a) * a->invC, mb = cpu_hsum16(acc_b) * a->invC;
    float *d = a->dinp + r * C;
#pragma omp simd
    for (int64_t k = 0; k < C; k++) d[k] += rs * (g[k] * w[k] - ma - (x[k] - mu) * rs * mb);
}
CPU_DUAL(ln_bwd_row, (const NormArgs *a, int64_t r), (a, r))

// dinp += rs * (dyw - xhat * mean(dyw * xhat)), xhat = x rs
CPU_INLINE void rms_bwd_row_body(const NormArgs *a, int64_t r) {
    const int64_t C = a->C;
    const float *g = a->dout + r * C, *x = a->inp + r * C, *w = a->w;
    const float rs = a->srstd[r];
    float acc[CPU_ACC] = {0};
    int64_t c = 0;
    for (; c + CPU_ACC <= C; c += CPU_ACC)
#pragma omp simd
        for (int j = 0; j < CPU_ACC; j++) acc[j] += g[c + j] * w[c + j] * x[c + j];
    for (int j = 0; c < C; c++, j++) acc[j] += g[c] * w[c] * x[c];
    const float k = cpu_hsum16(acc) * a->invC * rs * rs;
    float *d = a->dinp + r * C;
#pragma omp simd
    for (int64_t i = 0; i < C; i++) d[i] += rs * (g[i] * w[i] - x[i] * k);
}
CPU_DUAL(rms_bwd_row, (const NormArgs *a, int64_t r), (a, r))

/* dw (and db) over one column block: rows added in order 0..N-1 in double.
 * rms: xhat = x rstd; layernorm: xhat = (x - mean) rstd. */
CPU_INLINE void norm_dw_block_body(const NormArgs *a, int64_t blk, int rms) {
    const int64_t C = a->C, c0 = blk * CPU_COL_BLOCK, wd = cpu_min64(C - c0, CPU_COL_BLOCK);
    double aw[CPU_COL_BLOCK] = {0}, ab[CPU_COL_BLOCK] = {0};
    for (int64_t r = 0; r < a->N; r++) {
        const float *g = a->dout + r * C + c0, *x = a->inp + r * C + c0;
        const float mu = rms ? 0.0f : a->smean[r], rs = a->srstd[r];
#pragma omp simd
        for (int64_t c = 0; c < wd; c++) {
            aw[c] += (double)(g[c] * ((x[c] - mu) * rs));
            ab[c] += (double)g[c];
        }
    }
    for (int64_t c = 0; c < wd; c++) {
        if (a->dw) a->dw[c0 + c] += (float)aw[c];
        if (a->db) a->db[c0 + c] += (float)ab[c];
    }
}
CPU_DUAL(norm_dw_block, (const NormArgs *a, int64_t blk, int rms), (a, blk, rms))

/* ---- ops --------------------------------------------------------------------- */

// inp, resid, out, sum_out: (N, C); w, b: (C); mean, rstd: (N) (may be NULL)
void cpu_layernorm(Backend *be, Tensor *out, Tensor *sum_out, Tensor *mean, Tensor *rstd, const Tensor *inp,
                   const Tensor *resid, const Tensor *w, const Tensor *b, float eps) {
    (void)be;
    const char *op = "layernorm";
    int64_t C;
    int64_t N = norm_fwd_check(op, out, sum_out, inp, resid, w, &C);
    if (mean) be_check_numel(op, mean, N, "mean");
    if (rstd) be_check_numel(op, rstd, N, "rstd");
    if (b) be_check_numel(op, b, C, "bias");
    NormArgs a = {.out = cpu_f32(out, op), .sum_out = sum_out ? cpu_f32(sum_out, op) : NULL,
                  .mean = mean ? cpu_f32(mean, op) : NULL, .rstd = rstd ? cpu_f32(rstd, op) : NULL,
                  .inp = cpu_f32(inp, op), .resid = resid ? cpu_f32(resid, op) : NULL, .w = cpu_f32(w, op),
                  .b = b ? cpu_f32(b, op) : NULL, .N = N, .C = C, .invC = 1.0f / (float)C, .eps = eps};
#pragma omp parallel for schedule(static) if (N * C >= CPU_PAR_MIN)
    for (int64_t r = 0; r < N; r++) ln_fwd_row(&a, r);
}

// dout, inp (the normalised sum), dinp: (N, C); w, dw, db: (C); mean, rstd: (N)
void cpu_layernorm_backward(Backend *be, Tensor *dinp, Tensor *dw, Tensor *db, const Tensor *dout,
                            const Tensor *inp, const Tensor *w, const Tensor *mean, const Tensor *rstd) {
    (void)be;
    const char *op = "layernorm_backward";
    if (!w) VLMC_PANIC("%s: weight is NULL", op);
    const int64_t C = w->numel;
    const int64_t N = cpu_rows_of(op, inp->numel, C, "inp");
    be_check_numel(op, dout, N * C, "dout");
    if (dinp) be_check_numel(op, dinp, N * C, "dinp");
    if (dw) be_check_numel(op, dw, C, "dw");
    if (db) be_check_numel(op, db, C, "db");
    be_check_numel(op, mean, N, "mean");
    be_check_numel(op, rstd, N, "rstd");
    NormArgs a = {.dinp = dinp ? cpu_f32(dinp, op) : NULL, .dw = dw ? cpu_f32(dw, op) : NULL,
                  .db = db ? cpu_f32(db, op) : NULL, .inp = cpu_f32(inp, op), .w = cpu_f32(w, op),
                  .dout = cpu_f32(dout, op), .smean = cpu_f32(mean, op), .srstd = cpu_f32(rstd, op), .N = N, .C = C,
                  .invC = 1.0f / (float)C};
    const int64_t nrow = a.dinp ? N : 0, nblk = (a.dw || a.db) ? (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK : 0;
    /* one team: the row pass (dinp) then the column pass (dw, db); both only read shared inputs */
#pragma omp parallel if (N * C >= CPU_PAR_MIN)
    {
#pragma omp for schedule(static) nowait
        for (int64_t r = 0; r < nrow; r++) ln_bwd_row(&a, r);
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblk; blk++) norm_dw_block(&a, blk, 0);
    }
}

// inp, resid, out, sum_out: (N, C); w: (C); rstd: (N) (may be NULL)
void cpu_rmsnorm(Backend *be, Tensor *out, Tensor *sum_out, Tensor *rstd, const Tensor *inp, const Tensor *resid,
                 const Tensor *w, float eps) {
    (void)be;
    const char *op = "rmsnorm";
    int64_t C;
    int64_t N = norm_fwd_check(op, out, sum_out, inp, resid, w, &C);
    if (rstd) be_check_numel(op, rstd, N, "rstd");
    NormArgs a = {.out = cpu_f32(out, op), .sum_out = sum_out ? cpu_f32(sum_out, op) : NULL,
                  .rstd = rstd ? cpu_f32(rstd, op) : NULL, .inp = cpu_f32(inp, op),
                  .resid = resid ? cpu_f32(resid, op) : NULL, .w = cpu_f32(w, op), .N = N, .C = C,
                  .invC = 1.0f / (float)C, .eps = eps};
#pragma omp parallel for schedule(static) if (N * C >= CPU_PAR_MIN)
    for (int64_t r = 0; r < N; r++) rms_fwd_row(&a, r);
}

// dout, inp (the normalised sum), dinp: (N, C); w, dw: (C); rstd: (N)
void cpu_rmsnorm_backward(Backend *be, Tensor *dinp, Tensor *dw, const Tensor *dout, const Tensor *inp,
                          const Tensor *w, const Tensor *rstd) {
    (void)be;
    const char *op = "rmsnorm_backward";
    if (!w) VLMC_PANIC("%s: weight is NULL", op);
    const int64_t C = w->numel;
    const int64_t N = cpu_rows_of(op, inp->numel, C, "inp");
    be_check_numel(op, dout, N * C, "dout");
    if (dinp) be_check_numel(op, dinp, N * C, "dinp");
    if (dw) be_check_numel(op, dw, C, "dw");
    be_check_numel(op, rstd, N, "rstd");
    NormArgs a = {.dinp = dinp ? cpu_f32(dinp, op) : NULL, .dw = dw ? cpu_f32(dw, op) : NULL,
                  .inp = cpu_f32(inp, op), .w = cpu_f32(w, op), .dout = cpu_f32(dout, op),
                  .srstd = cpu_f32(rstd, op), .N = N, .C = C, .invC = 1.0f / (float)C};
    const int64_t nrow = a.dinp ? N : 0, nblk = a.dw ? (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK : 0;
#pragma omp parallel if (N * C >= CPU_PAR_MIN)
    {
#pragma omp for schedule(static) nowait
        for (int64_t r = 0; r < nrow; r++) rms_bwd_row(&a, r);
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblk; blk++) norm_dw_block(&a, blk, 1);
    }
}
