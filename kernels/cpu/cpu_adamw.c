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
 * Elementwise, so any schedule gives the same bits; the AVX2 build of the
 * span kernel does the same IEEE operations (no FMA contraction in C11 mode,
 * sqrt and division are exact), so it gives the same bits as the base build.
 * Work is cut into fixed spans of ADAMW_SPAN elements, so a single large
 * tensor (the usual case: R = 1) uses every thread.
 */
#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"

#include <math.h>
#include <string.h>

typedef struct AdamWK {
    float b1, b2, eps, gs, step_size, decay, bc2_sqrt;
} AdamWK;

/* elements [0, n) of one span */
CPU_INLINE void adamw_span_body(const AdamWK *k, float *p, float *M, float *Vv, const float *g, int64_t n) {
    const float b1 = k->b1, b2 = k->b2, eps = k->eps, gs = k->gs, step_size = k->step_size, decay = k->decay,
                bc2_sqrt = k->bc2_sqrt;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i] * gs;
        const float mi = b1 * M[i] + (1.0f - b1) * gi;
        const float vi = b2 * Vv[i] + (1.0f - b2) * gi * gi;
        M[i] = mi;
        Vv[i] = vi;
        // torch order: decay first (p * (1 - lr wd)), then the Adam step
        p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}
CPU_DUAL(adamw_span, (const AdamWK *k, float *p, float *M, float *Vv, const float *g, int64_t n),
         (k, p, M, Vv, g, n))

/* elements per parallel span: 64 KB of each of the four arrays */
#define ADAMW_SPAN ((int64_t)16384)

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
    /* bias corrections in double: b^step for large step underflows gracefully */
    const float lr = d->lr;
    const AdamWK k = {.b1 = d->beta1,
                      .b2 = d->beta2,
                      .eps = d->eps,
                      .gs = d->grad_scale,
                      .step_size = lr / (float)(1.0 - pow((double)d->beta1, (double)d->step)),
                      .decay = 1.0f - lr * d->weight_decay,
                      .bc2_sqrt = (float)sqrt(1.0 - pow((double)d->beta2, (double)d->step))};
    const int64_t nspan = (N + ADAMW_SPAN - 1) / ADAMW_SPAN;
#pragma omp parallel for schedule(static) if (nspan > 1)
    for (int64_t sp = 0; sp < nspan; sp++) {
        const int64_t lo = sp * ADAMW_SPAN, hi = cpu_min64(N, lo + ADAMW_SPAN);
        if (!mask) {
            adamw_span(&k, p + lo, M + lo, Vv + lo, g + lo, hi - lo);
            continue;
        }
        /* the span's pieces of each row; rows with mask 0 are skipped */
        for (int64_t i = lo; i < hi;) {
            const int64_t r = i / cols, e = cpu_min64(hi, (r + 1) * cols);
            if (mask[r] != 0.0f) adamw_span(&k, p + i, M + i, Vv + i, g + i, e - i);
            i = e;
        }
    }
    if (param && param != master) {
        be_check_numel(op, param, N, "param");
        float *pc = cpu_f32(param, op);
        if (pc != p) memcpy(pc, p, (size_t)N * sizeof(float));
    }
}
