/* kernels/cpu/cpu_xent.c — the classifier + softmax cross-entropy, chunked
 * over rows (tokens) so the full (N, V) logits never exist.
 *
 * x (N, C) (any leading dims), w (V, C) the lm-head, targets (N) i32 with -1
 * = ignore. The rows with a target are cut into ceil(rows / chunk) equal
 * chunks of at most `chunk` rows; for each:
 *   logits (n, V) = x_chunk w^T                 (one sgemm, OpenBLAS threads)
 *   per row: lse = max + log(sum exp(l - max))  (sum in double, fixed order)
 *            logp[i] = l[target] - lse
 *   if a gradient is asked, the same buffer becomes
 *            dlogits = weight[i] * (softmax - onehot(target))
 *   dx_chunk += dlogits w,  dw += dlogits^T x_chunk   (sgemm, beta = 1)
 * so forward and backward share one logits computation. Workspace: one
 * (chunk, V) f32 buffer from BUF_SCRATCH, plus two (chunk, C) buffers.
 * Ignored rows (target -1: padding, image tokens, prompts) are skipped
 * entirely and give logp 0: a chunk holds the next rows that have a target,
 * gathered when they are not contiguous (dx scattered back).
 * Deterministic: each row is reduced by one thread in a fixed order; the
 * sgemms do not split their inner dimension across threads.
 * A target outside [-1, V) is bad data, not a bug: it is recorded as a
 * runtime error (be_sync) and the row is treated as ignored.
 */
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_scratch.h"
#include "kernels/cpu/cpu_vexp.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

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

    const float *X = cpu_f32(x, op), *W = cpu_f32(w, op);
    const int32_t *tg = cpu_i32(targets, op);
    // balance the chunks: as many as `chunk` asks for, but of equal size
    // (512 rows at chunk 63 make 9 chunks of <= 57, not 8 of 63 and one of 8)
    int64_t nvalid = 0;
    for (int64_t i = 0; i < N; i++) nvalid += tg[i] >= 0 && tg[i] < V;
    if (nvalid > 0) {
        const int64_t nchunks = (nvalid + chunk - 1) / chunk;
        chunk = (nvalid + nchunks - 1) / nchunks;
    } else {
        chunk = 1;  /* nothing to compute; keep the buffers tiny */
    }
    const float *wt = weight ? cpu_f32(weight, op) : NULL;
    float *LP = logp ? cpu_f32(logp, op) : NULL, *DX = dx ? cpu_f32(dx, op) : NULL, *DW = dw ? cpu_f32(dw, op) : NULL;

    size_t mark = be_mark(be, BUF_SCRATCH);
    float *logits = cpu_scratch_f32(be, chunk * V, op);   /* (chunk, V) */
    float *xbuf = cpu_scratch_f32(be, 2 * chunk * C, op); /* gathered x rows, then dx rows (chunk, C) each */
    int64_t *rows = (int64_t *)(void *)cpu_scratch_f32(be, 2 * chunk, op);  /* row index of each chunk row */
    if (!logits || !xbuf || !rows) {
        be_reset(be, BUF_SCRATCH, mark);
        return;
    }
    float *dxbuf = xbuf + chunk * C;
    int64_t bad = -1;

    for (int64_t next = 0; next < N;) {
        // the chunk: the next (up to) `chunk` rows with a target; ignored rows cost nothing
        int64_t n = 0;
        for (; next < N && n < chunk; next++) {
            const int32_t t = tg[next];
            if (t >= 0 && t < V) {
                rows[n++] = next;
                continue;
            }
            if (t != -1 && bad < 0) bad = next;
            if (LP) LP[next] = 0.0f;
        }
        if (n == 0) break;
        // contiguous rows are used in place; otherwise gathered (and dx scattered back)
        const int contiguous = rows[n - 1] - rows[0] == n - 1;
        const float *Xc = X + rows[0] * C;
        if (!contiguous) {
            for (int64_t r = 0; r < n; r++) memcpy(xbuf + r * C, X + rows[r] * C, (size_t)C * sizeof(float));
            Xc = xbuf;
        }
        // logits (n, V) = x_chunk (n, C) w^T (C, V)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)V, (int)C, 1.0f, Xc, (int)C, W, (int)C,
                    0.0f, logits, (int)V);
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < n; r++) {
            const int64_t i = rows[r];
            float *l = logits + r * V;
            const int32_t t = tg[i];
            const float lt = l[t];
            const float mx = cpu_vmax(l, V);
            cpu_vexp_sub(l, V, mx);          /* l = exp(logit - max) */
            const double sum = cpu_vsum(l, V);  /* double, fixed order */
            if (LP) LP[i] = (float)((double)lt - (double)mx - log(sum));
            if (grad) {
                // dL/dlogit_j for L = -weight * logp = weight * (softmax_j - [j == t])
                cpu_vscale(l, V, (float)((double)wt[i] / sum));
                l[t] -= wt[i];
            }
        }
        if (DX) {  // dx_chunk (n, C) += dlogits (n, V) w (V, C)
            float *DXc = contiguous ? DX + rows[0] * C : dxbuf;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)C, (int)V, 1.0f, logits, (int)V, W,
                        (int)C, contiguous ? 1.0f : 0.0f, DXc, (int)C);
            if (!contiguous)
                for (int64_t r = 0; r < n; r++) {
                    float *d = DX + rows[r] * C;
                    for (int64_t c = 0; c < C; c++) d[c] += dxbuf[r * C + c];
                }
        }
        if (DW)  // dw (V, C) += dlogits^T (V, n) x_chunk (n, C)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)V, (int)C, (int)n, 1.0f, logits, (int)V, Xc,
                        (int)C, 1.0f, DW, (int)C);
    }
    be_reset(be, BUF_SCRATCH, mark);
    if (bad >= 0)
        be_record_error(be, VS_EINVAL, "%s: target %d of row %lld is outside [-1, %lld) (row ignored)", op,
                        (int)tg[bad], (long long)bad, (long long)V);
}
