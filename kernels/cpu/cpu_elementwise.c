/* kernels/cpu/cpu_elementwise.c — CPU fill, copy, add, scale, bias add and its
 * backward, row masks (fp32, OpenMP over contiguous ranges).
 *
 * Invariants: forward ops overwrite, backward ops accumulate (+=). The only
 * cross-row reduction here, bias_backward, is column-partitioned: each column
 * block is summed over rows 0..N-1 in order by one thread, so the result does
 * not depend on the thread count or schedule. */
#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"

#include <string.h>

int64_t cpu_rows_of(const char *op, int64_t numel, int64_t cols, const char *what) {
    if (cols <= 0 || numel % cols != 0)
        VLMC_PANIC("%s: %s has %lld elements, not a multiple of the row length %lld", op, what,
                   (long long)numel, (long long)cols);
    return numel / cols;
}

void cpu_fill(Backend *be, Tensor *t, float value) {
    (void)be;
    float *p = cpu_f32(t, "fill");
    int64_t n = t->numel;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) p[i] = value;
}

void cpu_copy(Backend *be, Tensor *dst, const Tensor *src) {
    (void)be;
    be_check_numel("copy", dst, src->numel, "dst");
    if (dst->dt != src->dt)
        VLMC_PANIC("copy: dst is %s but src is %s", dt_name(dst->dt), dt_name(src->dt));
    if (dst->data == src->data) return;
    size_t es = dt_size(src->dt);
    int64_t n = src->numel, chunk = CPU_PAR_MIN;
    int64_t nchunks = (n + chunk - 1) / chunk;
    const char *s = src->data;
    char *d = dst->data;
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t lo = c * chunk, hi = cpu_min64(n, lo + chunk);
        memcpy(d + (size_t)lo * es, s + (size_t)lo * es, (size_t)(hi - lo) * es);
    }
}

void cpu_add(Backend *be, Tensor *out, const Tensor *a, const Tensor *b, float alpha, float beta) {
    (void)be;
    be_check_numel("add", a, out->numel, "a");
    be_check_numel("add", b, out->numel, "b");
    float *o = cpu_f32(out, "add");
    const float *x = cpu_f32(a, "add"), *y = cpu_f32(b, "add");
    int64_t n = out->numel;
    /* out may alias a or b: each element is read before it is written */
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) o[i] = alpha * x[i] + beta * y[i];
}

void cpu_scale(Backend *be, Tensor *t, float s) {
    (void)be;
    float *p = cpu_f32(t, "scale");
    int64_t n = t->numel;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) p[i] *= s;
}

// inp, out: (N, K), bias: (K)
void cpu_bias_add(Backend *be, Tensor *out, const Tensor *inp, const Tensor *bias) {
    (void)be;
    const int64_t K = bias ? bias->numel : 0;
    be_check_numel("bias_add", inp, out->numel, "inp");
    be_check_numel("bias_add", bias, K, "bias");
    int64_t N = cpu_rows_of("bias_add", out->numel, K, "out");
    float *o = cpu_f32(out, "bias_add");
    const float *x = cpu_f32(inp, "bias_add"), *bb = cpu_f32(bias, "bias_add");
#pragma omp parallel for schedule(static) if (N * K >= CPU_PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        float *orow = o + r * K;
        const float *xrow = x + r * K;
#pragma omp simd
        for (int64_t c = 0; c < K; c++) orow[c] = xrow[c] + bb[c];
    }
}

// dout: (N, K) -> dbias (K) +=, rows summed in order 0..N-1 (double accumulators)
void cpu_bias_backward(Backend *be, Tensor *dbias, const Tensor *dout) {
    (void)be;
    const int64_t K = dbias ? dbias->numel : 0;
    be_check_numel("bias_backward", dbias, K, "dbias");
    int64_t N = cpu_rows_of("bias_backward", dout->numel, K, "dout");
    float *db = cpu_f32(dbias, "bias_backward");
    const float *g = cpu_f32(dout, "bias_backward");
    int64_t nblk = (K + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static) if (N * K >= CPU_PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * CPU_COL_BLOCK, w = cpu_min64(K - c0, CPU_COL_BLOCK);
        double acc[CPU_COL_BLOCK] = {0};
        for (int64_t r = 0; r < N; r++) {
            const float *row = g + r * K + c0;
#pragma omp simd
            for (int64_t c = 0; c < w; c++) acc[c] += row[c];
        }
        for (int64_t c = 0; c < w; c++) db[c0 + c] += (float)acc[c];
    }
}

// t: (R, C), row_mask: (R)
void cpu_mask_rows(Backend *be, Tensor *t, const Tensor *row_mask) {
    (void)be;
    const int64_t R = row_mask ? row_mask->numel : 0;
    be_check_numel("mask_rows", row_mask, R, "row_mask");
    int64_t C = R ? cpu_rows_of("mask_rows", t->numel, R, "t") : 0;
    float *p = cpu_f32(t, "mask_rows");
    const float *m = cpu_f32(row_mask, "mask_rows");
#pragma omp parallel for schedule(static) if (R * C >= CPU_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        float s = m[r];
        float *row = p + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) row[c] *= s;
    }
}
