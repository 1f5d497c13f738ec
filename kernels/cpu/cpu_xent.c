/* kernels/cpu/cpu_xent.c — the classifier + softmax cross-entropy, chunked
 * over rows (tokens) so the full (N, V) logits never exist.
 *
 * x (N, C) (any leading dims), w (V, C) the lm-head, targets (N) i32 with -1
 * = ignore. For each chunk of `chunk` rows:
 *   logits (n, V) = x_chunk w^T                 (one sgemm, OpenBLAS threads)
 *   per row: lse = max + log(sum exp(l - max))  (sum in double, fixed order)
 *            logp[i] = l[target] - lse
 *   if a gradient is asked, the same buffer becomes
 *            dlogits = weight[i] * (softmax - onehot(target))
 *   dx_chunk += dlogits w,  dw += dlogits^T x_chunk   (sgemm, beta = 1)
 * so forward and backward share one logits computation. Workspace: one
 * (chunk, V) f32 buffer from BUF_SCRATCH. Ignored rows give logp 0 and a zero
 * dlogits row. Deterministic: each row is reduced by one thread in a fixed
 * order; the sgemms do not split their inner dimension across threads.
 * A target outside [-1, V) is bad data, not a bug: it is recorded as a
 * runtime error (be_sync) and the row is treated as ignored.
 */
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_scratch.h"

#include <cblas.h>
#include <math.h>

/* Turns one row of logits l (V) into exp(l - max) in place; returns the sum in
 * double and stores max. Eight accumulators, added in a fixed order, keep the
 * sum fast yet deterministic. */
static double xent_exp_row(float *l, int64_t V, float *max_out) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < V; j++) mx = l[j] > mx ? l[j] : mx;
    double acc[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= V; j += 8)
        for (int u = 0; u < 8; u++) {
            float e = expf(l[j + u] - mx);
            l[j + u] = e;
            acc[u] += e;
        }
    for (; j < V; j++) {
        float e = expf(l[j] - mx);
        l[j] = e;
        acc[0] += e;
    }
    *max_out = mx;
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void cpu_xent(Backend *be, Tensor *logp, Tensor *dx, Tensor *dw, const Tensor *x, const Tensor *w,
              const Tensor *targets, const Tensor *weight, int64_t chunk) {
    static const char op[] = "xent";
    if (!targets || !x || !w) VLMC_PANIC("%s: x, w and targets are required", op);
    const int64_t N = t_numel(targets), C = t_dim(x, -1);
    if (t_ndim(w) != 2 || t_dim(w, 1) != C)
        VLMC_PANIC("%s: w must be (V, %lld) to match x's last dim", op, (long long)C);
    const int64_t V = t_dim(w, 0);
    be_check_numel(op, x, N * C, "x (N, C)");
    if (logp) be_check_numel(op, logp, N, "logp (N)");
    if (dx) be_check_numel(op, dx, N * C, "dx (N, C)");
    if (dw) be_check_numel(op, dw, V * C, "dw (V, C)");
    const int grad = dx || dw;
    if (grad && !weight) VLMC_PANIC("%s: weight (N) is required when dx or dw is given", op);
    if (weight) be_check_numel(op, weight, N, "weight (N)");
    if (chunk < 1) VLMC_PANIC("%s: chunk must be >= 1 (got %lld)", op, (long long)chunk);
    if (N == 0) return;
    if (chunk > N) chunk = N;

    const float *X = cpu_f32(x, op), *W = cpu_f32(w, op);
    const int32_t *tg = cpu_i32(targets, op);
    const float *wt = weight ? cpu_f32(weight, op) : NULL;
    float *LP = logp ? cpu_f32(logp, op) : NULL, *DX = dx ? cpu_f32(dx, op) : NULL, *DW = dw ? cpu_f32(dw, op) : NULL;

    size_t mark = be_mark(be, BUF_SCRATCH);
    float *logits = cpu_scratch_f32(be, chunk * V, op);  /* (chunk, V) */
    if (!logits) return;

    for (int64_t c0 = 0; c0 < N; c0 += chunk) {
        const int64_t n = N - c0 < chunk ? N - c0 : chunk;
        const float *Xc = X + c0 * C;
        // logits (n, V) = x_chunk (n, C) w^T (C, V)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)V, (int)C, 1.0f, Xc, (int)C, W, (int)C,
                    0.0f, logits, (int)V);
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < n; r++) {
            const int64_t i = c0 + r;
            float *l = logits + r * V;
            const int32_t t = tg[i];
            if (t < 0 || t >= V) {
                if (LP) LP[i] = 0.0f;
                if (grad)
                    for (int64_t j = 0; j < V; j++) l[j] = 0.0f;
                continue;
            }
            const float lt = l[t];
            float mx;
            double sum = xent_exp_row(l, V, &mx);
            if (LP) LP[i] = (float)((double)lt - (double)mx - log(sum));
            if (grad) {
                // dL/dlogit_j for L = -weight * logp = weight * (softmax_j - [j == t])
                const float s = (float)((double)wt[i] / sum);
                for (int64_t j = 0; j < V; j++) l[j] *= s;
                l[t] -= wt[i];
            }
        }
        if (DX)  // dx_chunk (n, C) += dlogits (n, V) w (V, C)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)C, (int)V, 1.0f, logits, (int)V, W,
                        (int)C, 1.0f, DX + c0 * C, (int)C);
        if (DW)  // dw (V, C) += dlogits^T (V, n) x_chunk (n, C)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)V, (int)C, (int)n, 1.0f, logits, (int)V, Xc,
                        (int)C, 1.0f, DW, (int)C);
    }
    be_reset(be, BUF_SCRATCH, mark);
    for (int64_t i = 0; i < N; i++)
        if (tg[i] < -1 || tg[i] >= V) {
            be_record_error(be, VS_EINVAL, "%s: target %d of row %lld is outside [-1, %lld) (row ignored)", op,
                            (int)tg[i], (long long)i, (long long)V);
            break;
        }
}
