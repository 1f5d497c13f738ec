/* tests/kernels/test_ops_b_adamw.c — op_adamw on the CPU backend:
 * (1) against torch.optim.AdamW (golden tests/golden/adamw_ops_b.txt made by
 *     tests/golden/make_adamw.py: two groups with their own lr / wd, 6 steps);
 * (2) against a float64 reference of the ops.h formula over several steps with
 *     grad_scale != 1 and a row mask, masked rows bitwise untouched;
 * (3) on tensors of several parallel spans, with and without a row mask whose
 *     rows straddle the spans, on 1 and 2 threads and with the AVX2 and the
 *     base-ISA kernels: every result equals, bit for bit, the formula
 *     evaluated one element at a time in float32. */
#include <math.h>
#include <omp.h>

#include "kernels/cpu/cpu_loops.h"

#include "ops_b_testutil.h"

static FILE *open_golden(const char *name) {
    const char *src = getenv("VLMC_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/%s", src ? src : ".", name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open golden %s", path);
    return f;
}

static int read_floats(FILE *f, float *x, int n) {
    for (int i = 0; i < n; i++)
        if (fscanf(f, "%f", &x[i]) != 1) return 0;
    return 1;
}

/* Tolerance: rel 1e-6 per step on p, m, v. The op evaluates torch's float32
 * formula (decay, then p - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)); m and v
 * differ from torch's lerp/addcmul by an ulp or two (~1e-7). */
static void test_vs_torch(void) {
    FILE *f = open_golden("adamw_ops_b.txt");
    if (!f) return;
    int groups = 0, steps = 0;
    CHECK(fscanf(f, "groups %d steps %d", &groups, &steps) == 2, "golden header");
    for (int g = 0; g < groups; g++) {
        int n = 0;
        float lr, b1, b2, eps, wd;
        CHECK(fscanf(f, "%d %f %f %f %f %f", &n, &lr, &b1, &b2, &eps, &wd) == 6, "group header");
        if (n <= 0 || n > 1000) break;
        Backend *be = tcpu();
        float *p = tmalloc_f((size_t)n), *gr = tmalloc_f((size_t)n), *want = tmalloc_f((size_t)n);
        CHECK(read_floats(f, p, n), "p0");
        int64_t sh[1] = {n};
        Tensor *tp = tnew_f(be, 1, sh, p), *tg = tnew_f(be, 1, sh, NULL);
        Tensor *tm = tnew_f(be, 1, sh, NULL), *tv = tnew_f(be, 1, sh, NULL);
        double worst = 0;
        for (int s = 1; s <= steps; s++) {
            CHECK(read_floats(f, gr, n) && read_floats(f, want, n), "step %d", s);
            be_upload(be, tg, gr);
            AdamWDesc d = {lr, b1, b2, eps, wd, s, 1.0f};
            op_adamw(be, &d, tp, g ? NULL : tp, tg, tm, tv, NULL);  /* param: the same tensor, or NULL */
            float *got = tget(be, tp);
            double e = test_rel_err_f(got, want, (size_t)n);
            worst = fmax(worst, e);
            CHECK(e < 1e-6, "group %d step %d: p rel err %.3g", g, s, e);
            free(got);
        }
        CHECK(read_floats(f, want, n), "exp_avg");
        float *m = tget(be, tm), *v;
        double em = test_rel_err_f(m, want, (size_t)n);
        CHECK(read_floats(f, want, n), "exp_avg_sq");
        v = tget(be, tv);
        double ev = test_rel_err_f(v, want, (size_t)n);
        CHECK(em < 1e-6 && ev < 1e-6, "group %d: m rel err %.3g, v rel err %.3g", g, em, ev);
        printf("  group %d (lr %g wd %g): p worst rel err %.2e, m %.2e, v %.2e\n", g, lr, wd, worst, em, ev);
        free(m); free(v); free(p); free(gr); free(want);
        be_destroy(be);
    }
    fclose(f);
}

/* float64 reference of the ops.h formula, R x Cc parameters, rows 1 and 3
 * masked; grad_scale 0.25 (as clipping would set it). Tolerance rel 2e-6
 * after 5 steps (fp32 vs fp64 per-step ~1e-7, compounding over steps). */
static void test_vs_float64_masked(void) {
    enum { R = 5, Cc = 7, N = R * Cc, STEPS = 5 };
    Backend *be = tcpu();
    TRng r = {21};
    float p[N], m0[N], v0[N], mask[R] = {1, 0, 1, 0, 1};
    trng_fill(&r, p, N, 1.0f);
    trng_fill(&r, m0, N, 0.01f);
    for (int i = 0; i < N; i++) v0[i] = 1e-4f * (1.0f + trng_unif(&r));
    double dp[N], dm[N], dv[N];
    for (int i = 0; i < N; i++) { dp[i] = p[i]; dm[i] = m0[i]; dv[i] = v0[i]; }
    int64_t sh[2] = {R, Cc}, rs[1] = {R};
    Tensor *tp = tnew_f(be, 2, sh, p), *tm = tnew_f(be, 2, sh, m0), *tv = tnew_f(be, 2, sh, v0);
    Tensor *tg = tnew_f(be, 2, sh, NULL), *tmask = tnew_f(be, 1, rs, mask);
    /* the descriptor holds f32 hyper-parameters: the reference uses the same
     * rounded values (1 - (float)0.999 differs from 0.001 by 1.3e-5 relative) */
    const double lr = (float)2e-2, b1 = (float)0.9, b2 = (float)0.999, eps = (float)1e-8, wd = (float)0.05, gs = 0.25;
    for (int s = 1; s <= STEPS; s++) {
        float g[N];
        trng_fill(&r, g, N, 1.0f);
        be_upload(be, tg, g);
        AdamWDesc d = {(float)lr, (float)b1, (float)b2, (float)eps, (float)wd, s + 10, (float)gs};
        op_adamw(be, &d, tp, tp, tg, tm, tv, tmask);
        double bc1 = 1 - pow(b1, s + 10), bc2 = 1 - pow(b2, s + 10);
        for (int i = 0; i < N; i++) {
            if (mask[i / Cc] == 0) continue;
            double gi = (double)g[i] * gs;
            dm[i] = b1 * dm[i] + (1 - b1) * gi;
            dv[i] = b2 * dv[i] + (1 - b2) * gi * gi;
            dp[i] -= lr * ((dm[i] / bc1) / (sqrt(dv[i] / bc2) + eps) + wd * dp[i]);
        }
    }
    float *gp = tget(be, tp), *gm = tget(be, tm), *gv = tget(be, tv);
    double ep = test_rel_err_fd(gp, dp, N), em = test_rel_err_fd(gm, dm, N), ev = test_rel_err_fd(gv, dv, N);
    CHECK(ep < 2e-6 && em < 2e-6 && ev < 2e-6, "rel err p %.3g m %.3g v %.3g", ep, em, ev);
    printf("  masked, grad_scale 0.25, 5 steps: p %.2e m %.2e v %.2e\n", ep, em, ev);
    int untouched = 1;
    for (int i = 0; i < N; i++)
        if (mask[i / Cc] == 0) untouched &= gp[i] == p[i] && gm[i] == m0[i] && gv[i] == v0[i];
    CHECK(untouched, "masked rows must be bitwise unchanged");
    free(gp); free(gm); free(gv);
    be_destroy(be);
}

/* the ops.h formula, one element at a time, float32, torch's order */
static void scalar_adamw(const AdamWDesc *d, float *p, float *m, float *v, const float *g, const float *mask,
                         int64_t N, int64_t cols) {
    const float bc1 = (float)(1.0 - pow((double)d->beta1, (double)d->step));
    const float bc2_sqrt = (float)sqrt(1.0 - pow((double)d->beta2, (double)d->step));
    const float step_size = d->lr / bc1, decay = 1.0f - d->lr * d->weight_decay;
    for (int64_t i = 0; i < N; i++) {
        if (mask && mask[i / cols] == 0.0f) continue;
        const float gi = g[i] * d->grad_scale;
        const float mi = d->beta1 * m[i] + (1.0f - d->beta1) * gi;
        const float vi = d->beta2 * v[i] + (1.0f - d->beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) / bc2_sqrt + d->eps);
    }
}

static void test_spans_bitwise(void) {
    enum { R = 37, Cc = 1429, N = R * Cc }; /* 52873 elements: 4 spans of 16384, rows across span edges */
    TRng r = {5};
    float *p0 = tmalloc_f(N), *m0 = tmalloc_f(N), *v0 = tmalloc_f(N), *g = tmalloc_f(N), mask[R];
    trng_fill(&r, p0, N, 1.0f);
    trng_fill(&r, m0, N, 0.01f);
    for (int i = 0; i < N; i++) v0[i] = 1e-4f * (1.0f + trng_unif(&r));
    trng_fill(&r, g, N, 1.0f);
    for (int i = 0; i < R; i++) mask[i] = (float)(i % 3 != 1);
    const AdamWDesc d = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 7, 0.5f};
    int saved = omp_get_max_threads();
    for (int masked = 0; masked < 2; masked++) {
        float *wp = tmalloc_f(N), *wm = tmalloc_f(N), *wv = tmalloc_f(N);
        memcpy(wp, p0, N * sizeof(float));
        memcpy(wm, m0, N * sizeof(float));
        memcpy(wv, v0, N * sizeof(float));
        scalar_adamw(&d, wp, wm, wv, g, masked ? mask : NULL, N, Cc);
        for (int isa = 0; isa < 2; isa++)
            for (int th = 1; th <= 2; th++) {
                cpu_force_isa(isa);
                omp_set_num_threads(th);
                Backend *be = tcpu();
                int64_t sh[2] = {R, Cc}, rs[1] = {R};
                Tensor *tp = tnew_f(be, 2, sh, p0), *tm = tnew_f(be, 2, sh, m0), *tv = tnew_f(be, 2, sh, v0);
                Tensor *tg = tnew_f(be, 2, sh, g), *tmask = tnew_f(be, 1, rs, mask);
                op_adamw(be, &d, tp, NULL, tg, tm, tv, masked ? tmask : NULL);
                float *gp = tget(be, tp), *gm = tget(be, tm), *gv = tget(be, tv);
                CHECK(!memcmp(gp, wp, N * sizeof(float)) && !memcmp(gm, wm, N * sizeof(float)) &&
                          !memcmp(gv, wv, N * sizeof(float)),
                      "masked %d, %s kernels, %d thread(s): differs from the element-wise formula", masked,
                      isa ? "AVX2 (if present)" : "base", th);
                free(gp); free(gm); free(gv);
                be_destroy(be);
            }
        free(wp); free(wm); free(wv);
    }
    cpu_force_isa(-1);
    omp_set_num_threads(saved);
    free(p0); free(m0); free(v0); free(g);
}

TEST_MAIN({"vs_torch", test_vs_torch}, {"vs_float64_masked", test_vs_float64_masked},
          {"spans_bitwise", test_spans_bitwise})
