/* kernels/cpu/cpu_adamw.c — AdamW (decoupled weight decay) on one parameter
 * tensor, as torch.optim.AdamW computes it:
 *   g = grad * grad_scale
 *   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
 *   p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p),  mhat = m / (1 - b1^step),
 *                                                   vhat = v / (1 - b2^step)
 * On the CPU the compute weights are the f32 master weights: `param` is NULL
 * or the same storage as `master` (a distinct tensor gets a copy of master).
 * row_mask (R) f32: master is viewed as (R, numel / R) and rows whose mask is
 * 0 are left untouched (no update, no decay, moments unchanged), which is how
 * frozen rows of an embedding (e.g. old vocabulary) stay exact.
 * Elementwise, so any schedule gives the same bits.
 */
#include "kernels/cpu/cpu_ops.h"

#include <math.h>
#include <string.h>

void cpu_adamw(Backend *be, const AdamWDesc *d, Tensor *master, Tensor *param, const Tensor *grad, Tensor *m,
               Tensor *v, const Tensor *row_mask) {
    static const char op[] = "adamw";
    (void)be;
    const int64_t N = t_numel(master);
    be_check_numel(op, grad, N, "grad");
    be_check_numel(op, m, N, "m");
    be_check_numel(op, v, N, "v");
    if (d->step < 1) VLMC_PANIC("%s: step is 1-based (got %lld)", op, (long long)d->step);
    float *p = cpu_f32(master, op), *M = cpu_f32(m, op), *Vv = cpu_f32(v, op);
    const float *g = cpu_f32(grad, op);
    const float *mask = NULL;
    int64_t R = 1, cols = N;
    if (row_mask) {
        R = t_numel(row_mask);
        if (R < 1 || N % R) VLMC_PANIC("%s: row_mask has %lld rows, which do not divide %lld elements", op,
                                       (long long)R, (long long)N);
        cols = N / R;
        mask = cpu_f32(row_mask, op);
    }
    const float b1 = d->beta1, b2 = d->beta2, eps = d->eps, lr = d->lr, wd = d->weight_decay, gs = d->grad_scale;
    /* bias corrections in double: b^step for large step underflows gracefully */
    const float bc1 = (float)(1.0 - pow((double)b1, (double)d->step));
    const float bc2_sqrt = (float)sqrt(1.0 - pow((double)b2, (double)d->step));
    const float step_size = lr / bc1, decay = 1.0f - lr * wd;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        if (mask && mask[r] == 0.0f) continue;
        for (int64_t c = 0; c < cols; c++) {
            const int64_t i = r * cols + c;
            const float gi = g[i] * gs;
            const float mi = b1 * M[i] + (1.0f - b1) * gi;
            const float vi = b2 * Vv[i] + (1.0f - b2) * gi * gi;
            M[i] = mi;
            Vv[i] = vi;
            // torch order: decay first (p * (1 - lr wd)), then the Adam step
            p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
        }
    }
    if (param && param != master) {
        be_check_numel(op, param, N, "param");
        float *pc = cpu_f32(param, op);
        if (pc != p) memcpy(pc, p, (size_t)N * sizeof(float));
    }
}
