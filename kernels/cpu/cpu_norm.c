/* kernels/cpu/cpu_norm.c — CPU LayerNorm and RMSNorm, each optionally fused
 * with the residual add, and their backwards.
 *
 * Rows of (N, C) are normalised over C. Forward: one OpenMP pass over rows;
 * each row is read once from memory (the residual sum is formed, written to
 * sum_out and reduced while in cache), row statistics use float SIMD
 * accumulators with a two-pass variance (mean first, then squares about it).
 * Backward: dinp is a per-row pass; dw / db are summed over rows by a
 * column-partitioned pass (each column block owned by one thread, rows added
 * in order 0..N-1 in double), so the weight gradients are bit-identical for any
 * thread count. Both passes run inside one parallel region.
 * Backward ops accumulate (+=); mean / rstd are those saved by the forward. */
#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"

#include <math.h>
#include <string.h>

#define NORM_COL_BLOCK CPU_COL_BLOCK

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
static inline const float *row_sum(float *s, const float *x, const float *r, int64_t C) {
    if (!r) {
        if (s && s != x) memcpy(s, x, (size_t)C * sizeof *s);
        return x;
    }
#pragma omp simd
    for (int64_t c = 0; c < C; c++) s[c] = x[c] + r[c];
    return s;
}

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
    float *o = cpu_f32(out, op), *so = sum_out ? cpu_f32(sum_out, op) : NULL;
    float *pm = mean ? cpu_f32(mean, op) : NULL, *pr = rstd ? cpu_f32(rstd, op) : NULL;
    const float *x = cpu_f32(inp, op), *res = resid ? cpu_f32(resid, op) : NULL, *pw = cpu_f32(w, op);
    const float *pb = b ? cpu_f32(b, op) : NULL;
    const float invC = 1.0f / (float)C;
#pragma omp parallel for schedule(static) if (N * C >= CPU_PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *s = row_sum(so ? so + r * C : NULL, x + r * C, res ? res + r * C : NULL, C);
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t c = 0; c < C; c++) sum += s[c];
        float mu = sum * invC, var = 0;
#pragma omp simd reduction(+ : var)
        for (int64_t c = 0; c < C; c++) var += (s[c] - mu) * (s[c] - mu);
        float rs = 1.0f / sqrtf(var * invC + eps);
        float *orow = o + r * C;
        if (pb) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) orow[c] = (s[c] - mu) * rs * pw[c] + pb[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) orow[c] = (s[c] - mu) * rs * pw[c];
        }
        if (pm) pm[r] = mu;
        if (pr) pr[r] = rs;
    }
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
    float *pdx = dinp ? cpu_f32(dinp, op) : NULL, *pdw = dw ? cpu_f32(dw, op) : NULL;
    float *pdb = db ? cpu_f32(db, op) : NULL;
    const float *g = cpu_f32(dout, op), *x = cpu_f32(inp, op), *pw = cpu_f32(w, op);
    const float *pm = cpu_f32(mean, op), *pr = cpu_f32(rstd, op);
    const float invC = 1.0f / (float)C;
    const int64_t nblk = (pdw || pdb) ? (C + NORM_COL_BLOCK - 1) / NORM_COL_BLOCK : 0;
#pragma omp parallel if (N * C >= CPU_PAR_MIN)
    {
        if (pdx) {
#pragma omp for schedule(static) nowait
            for (int64_t r = 0; r < N; r++) {
                const float *gr = g + r * C, *xr = x + r * C;
                const float mu = pm[r], rs = pr[r];
                float a = 0, bsum = 0;
#pragma omp simd reduction(+ : a, bsum)
                for (int64_t c = 0; c < C; c++) {
                    float dyw = gr[c] * pw[c];
                    a += dyw;
                    bsum += dyw * (xr[c] - mu) * rs;
                }
                a *= invC;
                bsum *= invC;
                float *dr = pdx + r * C;
#pragma omp simd
                for (int64_t c = 0; c < C; c++)
                    dr[c] += rs * (gr[c] * pw[c] - a - (xr[c] - mu) * rs * bsum);
            }
        }
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblk; blk++) {
            int64_t c0 = blk * NORM_COL_BLOCK, wd = cpu_min64(C - c0, NORM_COL_BLOCK);
            double aw[NORM_COL_BLOCK] = {0}, ab[NORM_COL_BLOCK] = {0};
            for (int64_t r = 0; r < N; r++) {
                const float *gr = g + r * C + c0, *xr = x + r * C + c0;
                const float mu = pm[r], rs = pr[r];
#pragma omp simd
                for (int64_t c = 0; c < wd; c++) {
                    aw[c] += (double)(gr[c] * ((xr[c] - mu) * rs));
                    ab[c] += (double)gr[c];
                }
            }
            for (int64_t c = 0; c < wd; c++) {
                if (pdw) pdw[c0 + c] += (float)aw[c];
                if (pdb) pdb[c0 + c] += (float)ab[c];
            }
        }
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
    float *o = cpu_f32(out, op), *so = sum_out ? cpu_f32(sum_out, op) : NULL;
    float *pr = rstd ? cpu_f32(rstd, op) : NULL;
    const float *x = cpu_f32(inp, op), *res = resid ? cpu_f32(resid, op) : NULL, *pw = cpu_f32(w, op);
    const float invC = 1.0f / (float)C;
#pragma omp parallel for schedule(static) if (N * C >= CPU_PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *s = row_sum(so ? so + r * C : NULL, x + r * C, res ? res + r * C : NULL, C);
        float ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t c = 0; c < C; c++) ss += s[c] * s[c];
        float rs = 1.0f / sqrtf(ss * invC + eps);
        float *orow = o + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) orow[c] = s[c] * rs * pw[c];
        if (pr) pr[r] = rs;
    }
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
    float *pdx = dinp ? cpu_f32(dinp, op) : NULL, *pdw = dw ? cpu_f32(dw, op) : NULL;
    const float *g = cpu_f32(dout, op), *x = cpu_f32(inp, op), *pw = cpu_f32(w, op), *pr = cpu_f32(rstd, op);
    const float invC = 1.0f / (float)C;
    const int64_t nblk = pdw ? (C + NORM_COL_BLOCK - 1) / NORM_COL_BLOCK : 0;
#pragma omp parallel if (N * C >= CPU_PAR_MIN)
    {
        if (pdx) {
#pragma omp for schedule(static) nowait
            for (int64_t r = 0; r < N; r++) {
                const float *gr = g + r * C, *xr = x + r * C;
                const float rs = pr[r];
                float bsum = 0;
#pragma omp simd reduction(+ : bsum)
                for (int64_t c = 0; c < C; c++) bsum += gr[c] * pw[c] * xr[c];
                /* d/dx of x * rs * w: rs * (dyw - xhat * mean(dyw * xhat)), xhat = x rs */
                const float k = bsum * invC * rs * rs;
                float *dr = pdx + r * C;
#pragma omp simd
                for (int64_t c = 0; c < C; c++) dr[c] += rs * (gr[c] * pw[c] - xr[c] * k);
            }
        }
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblk; blk++) {
            int64_t c0 = blk * NORM_COL_BLOCK, wd = cpu_min64(C - c0, NORM_COL_BLOCK);
            double aw[NORM_COL_BLOCK] = {0};
            for (int64_t r = 0; r < N; r++) {
                const float *gr = g + r * C + c0, *xr = x + r * C + c0;
                const float rs = pr[r];
#pragma omp simd
                for (int64_t c = 0; c < wd; c++) aw[c] += (double)(gr[c] * (xr[c] * rs));
            }
            for (int64_t c = 0; c < wd; c++) pdw[c0 + c] += (float)aw[c];
        }
    }
}
