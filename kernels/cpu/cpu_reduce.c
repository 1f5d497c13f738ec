/* kernels/cpu/cpu_reduce.c — deterministic reductions on the CPU:
 * segment sums (per-document log-prob sums) and their backward, the count of
 * loss tokens, and the sum of squares over a list of tensors (global norm).
 *
 * Determinism: every sum runs in double in an order fixed by the data alone.
 * segment_sum walks the values in index order (N is a token count, so one
 * thread is enough). sumsq cuts each tensor into fixed blocks of
 * SUMSQ_BLOCK elements, reduces blocks in parallel into per-block partials,
 * then adds the partials in block order: the result does not even depend on
 * the thread count. No OpenMP `reduction` clause is used (its order is not
 * specified).
 */
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_scratch.h"

#include <math.h>

#define SUMSQ_BLOCK 16384   /* elements per partial sum */
#define SUMSQ_GROUP 1024    /* partials held at once (blocks per parallel pass) */

/* out (S) = per-segment sums of vals (N); seg (N) in [0, S) or -1; seg NULL: out (1) = total */
void cpu_segment_sum(Backend *be, Tensor *out, const Tensor *vals, const Tensor *seg) {
    static const char op[] = "segment_sum";
    const int64_t N = t_numel(vals), S = t_numel(out);
    const float *x = cpu_f32(vals, op);
    float *o = cpu_f32(out, op);
    if (!seg) {
        be_check_numel(op, out, 1, "out (no seg)");
        double s = 0;
        for (int64_t i = 0; i < N; i++) s += x[i];
        o[0] = (float)s;
        return;
    }
    be_check_numel(op, seg, N, "seg (N)");
    const int32_t *sg = cpu_i32(seg, op);
    /* per-segment double accumulators (S is a document count: small), carved
     * from scratch as 2 S floats (the arena aligns to 256 bytes) */
    size_t mark = be_mark(be, BUF_SCRATCH);
    double *acc = (double *)cpu_scratch_f32(be, 2 * S, op);
    if (!acc) return;
    for (int64_t s = 0; s < S; s++) acc[s] = 0;
    int64_t bad = -1;
    for (int64_t i = 0; i < N; i++) {
        int32_t s = sg[i];
        if (s >= 0 && s < S) acc[s] += x[i];
        else if (s != -1 && bad < 0) bad = i;
    }
    for (int64_t s = 0; s < S; s++) o[s] = (float)acc[s];
    be_reset(be, BUF_SCRATCH, mark);
    if (bad >= 0)
        be_record_error(be, VS_EINVAL, "%s: segment id %d at %lld is outside [-1, %lld) (value skipped)", op,
                        (int)sg[bad], (long long)bad, (long long)S);
}

/* dvals[i] += dout[seg[i]] (seg -1: nothing); seg NULL: dvals[i] += dout[0] */
void cpu_segment_sum_backward(Backend *be, Tensor *dvals, const Tensor *dout, const Tensor *seg) {
    static const char op[] = "segment_sum_backward";
    const int64_t N = t_numel(dvals), S = t_numel(dout);
    float *dx = cpu_f32(dvals, op);
    const float *g = cpu_f32(dout, op);
    if (!seg) {
        be_check_numel(op, dout, 1, "dout (no seg)");
        for (int64_t i = 0; i < N; i++) dx[i] += g[0];
        return;
    }
    be_check_numel(op, seg, N, "seg (N)");
    const int32_t *sg = cpu_i32(seg, op);
    int64_t bad = -1;
    for (int64_t i = 0; i < N; i++) {
        int32_t s = sg[i];
        if (s >= 0 && s < S) dx[i] += g[s];
        else if (s != -1 && bad < 0) bad = i;
    }
    if (bad >= 0)
        be_record_error(be, VS_EINVAL, "%s: segment id %d at %lld is outside [-1, %lld) (skipped)", op,
                        (int)sg[bad], (long long)bad, (long long)S);
}

/* out (1) = number of targets != -1 */
void cpu_count_targets(Backend *be, Tensor *out, const Tensor *targets) {
    static const char op[] = "count_targets";
    (void)be;
    be_check_numel(op, out, 1, "out");
    const int32_t *t = cpu_i32(targets, op);
    int64_t n = 0, N = t_numel(targets);
    for (int64_t i = 0; i < N; i++) n += t[i] != -1;
    cpu_f32(out, op)[0] = (float)n;
}

/* out (1) = sum over tensors, in list order, of sum of squares (fixed blocks) */
void cpu_sumsq(Backend *be, Tensor *out, const Tensor *const *ts, int n) {
    static const char op[] = "sumsq";
    (void)be;
    be_check_numel(op, out, 1, "out");
    double total = 0;
    double part[SUMSQ_GROUP];
    for (int ti = 0; ti < n; ti++) {
        const float *x = cpu_f32(ts[ti], op);
        const int64_t N = t_numel(ts[ti]), nblk = (N + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
        for (int64_t g0 = 0; g0 < nblk; g0 += SUMSQ_GROUP) {
            const int64_t ng = nblk - g0 < SUMSQ_GROUP ? nblk - g0 : SUMSQ_GROUP;
#pragma omp parallel for schedule(static)
            for (int64_t bi = 0; bi < ng; bi++) {
                const int64_t lo = (g0 + bi) * SUMSQ_BLOCK, hi = lo + SUMSQ_BLOCK < N ? lo + SUMSQ_BLOCK : N;
                double a[4] = {0};  /* four lanes, combined in a fixed order */
                int64_t i = lo;
                for (; i + 4 <= hi; i += 4)
                    for (int u = 0; u < 4; u++) a[u] += (double)x[i + u] * x[i + u];
                for (; i < hi; i++) a[0] += (double)x[i] * x[i];
                part[bi] = (a[0] + a[1]) + (a[2] + a[3]);
            }
            for (int64_t bi = 0; bi < ng; bi++) total += part[bi];
        }
    }
    cpu_f32(out, op)[0] = (float)total;
}
