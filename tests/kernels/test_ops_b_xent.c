/* tests/kernels/test_ops_b_xent.c — op_xent (classifier + cross-entropy,
 * chunked over rows) on the CPU backend against a float64 reference written
 * here, finite differences of the op itself, the workspace bound at the
 * 135M model's size (T=512, V=49152), ignore index, bad targets. */
#include <math.h>

#include "ops_b_testutil.h"

typedef struct XCase { const char *name; int64_t N, C, V, chunk; } XCase;
static const XCase cases[] = {
    {"N13_C7_V37_chunk4", 13, 7, 37, 4},     /* chunks 4+4+4+1 */
    {"N9_C16_V100_chunk9", 9, 16, 100, 9},   /* one exact chunk */
    {"N5_C3_V1000_chunk64", 5, 3, 1000, 64}, /* chunk > N */
    {"N21_C33_V517_chunk1", 21, 33, 517, 1}, /* one row per chunk */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

typedef struct XData {
    XCase c;
    float *x, *w, *wt;
    int32_t *tg;
} XData;

static XData xdata(const XCase *c, uint64_t seed) {
    XData d = {.c = *c};
    TRng r = {seed};
    d.x = tmalloc_f((size_t)(c->N * c->C));
    d.w = tmalloc_f((size_t)(c->V * c->C));
    d.wt = tmalloc_f((size_t)c->N);
    d.tg = calloc((size_t)c->N, sizeof(int32_t));
    trng_fill(&r, d.x, (size_t)(c->N * c->C), 1.0f);
    // logits of O(1-3): |x.w| <= C * amp^2
    trng_fill(&r, d.w, (size_t)(c->V * c->C), 2.0f / sqrtf((float)c->C));
    for (int64_t i = 0; i < c->N; i++) {
        d.tg[i] = (int32_t)(trng_u64(&r) % (uint64_t)c->V);
        d.wt[i] = 0.5f + 0.5f * trng_unif(&r) + 0.5f;  /* per-token weights in [0.5, 1.5) */
    }
    d.tg[1] = -1;  /* ignored rows */
    d.tg[c->N - 1] = -1;
    return d;
}

static void xdata_free(XData *d) { free(d->x); free(d->w); free(d->wt); free(d->tg); }

/* float64 reference: logp (N); dx (N, C), dw (V, C) of L = -sum wt logp (overwritten) */
static void ref_xent(const XData *d, double *logp, double *dx, double *dw) {
    const int64_t N = d->c.N, C = d->c.C, V = d->c.V;
    double *l = tmalloc_d((size_t)V);
    memset(dx, 0, sizeof(double) * (size_t)(N * C));
    memset(dw, 0, sizeof(double) * (size_t)(V * C));
    for (int64_t i = 0; i < N; i++) {
        if (d->tg[i] < 0) { logp[i] = 0; continue; }
        double mx = -INFINITY;
        for (int64_t j = 0; j < V; j++) {
            double s = 0;
            for (int64_t c = 0; c < C; c++) s += (double)d->x[i * C + c] * d->w[j * C + c];
            l[j] = s;
            mx = fmax(mx, s);
        }
        double sum = 0;
        for (int64_t j = 0; j < V; j++) sum += exp(l[j] - mx);
        double lse = mx + log(sum);
        logp[i] = l[d->tg[i]] - lse;
        for (int64_t j = 0; j < V; j++) {
            double g = d->wt[i] * (exp(l[j] - lse) - (j == d->tg[i]));
            for (int64_t c = 0; c < C; c++) {
                dx[i * C + c] += g * d->w[j * C + c];
                dw[j * C + c] += g * d->x[i * C + c];
            }
        }
    }
    free(l);
}

/* Tolerances: logp abs 2e-6 (|logp| <~ 10, the fp32 logits carry ~1e-7
 * relative error and the log-sum-exp is summed in double); dx, dw rel
 * (fp32 sgemms over V <= 1000 and N terms; measured <= 3e-7); tolerance 2e-6. The gradients
 * start from random values: the op must add, not overwrite. */
static void test_vs_reference(void) {
    for (int ci = 0; ci < NCASES; ci++) {
        const XCase *c = &cases[ci];
        Backend *be = tcpu();
        XData d = xdata(c, 100 + (uint64_t)ci);
        const size_t nx = (size_t)(c->N * c->C), nw = (size_t)(c->V * c->C);
        int64_t xs[2] = {c->N, c->C}, ws[2] = {c->V, c->C}, ns[1] = {c->N};
        Tensor *x = tnew_f(be, 2, xs, d.x), *w = tnew_f(be, 2, ws, d.w), *wt = tnew_f(be, 1, ns, d.wt);
        Tensor *tg = tnew_i(be, 1, ns, d.tg), *lp = tnew_f(be, 1, ns, NULL);
        float *dx0 = tmalloc_f(nx), *dw0 = tmalloc_f(nw);
        TRng r = {9};
        trng_fill(&r, dx0, nx, 0.3f);
        trng_fill(&r, dw0, nw, 0.3f);
        Tensor *dx = tnew_f(be, 2, xs, dx0), *dw = tnew_f(be, 2, ws, dw0);
        op_xent(be, lp, dx, dw, x, w, tg, wt, c->chunk);
        VStatus st = {0};
        CHECK(be_sync(be, &st) == 0, "%s", st.msg);
        double *rl = tmalloc_d((size_t)c->N), *rdx = tmalloc_d(nx), *rdw = tmalloc_d(nw);
        ref_xent(&d, rl, rdx, rdw);
        for (size_t i = 0; i < nx; i++) rdx[i] += dx0[i];
        for (size_t i = 0; i < nw; i++) rdw[i] += dw0[i];
        float *gl = tget(be, lp), *gdx = tget(be, dx), *gdw = tget(be, dw);
        double el = tmax_abs_fd(gl, rl, (size_t)c->N);
        double ex = test_rel_err_fd(gdx, rdx, nx), ew = test_rel_err_fd(gdw, rdw, nw);
        CHECK(el < 2e-6, "%s: logp max abs err %.3g", c->name, el);
        CHECK(gl[1] == 0.0f && gl[c->N - 1] == 0.0f, "%s: ignored rows must give logp 0", c->name);
        CHECK(ex < 2e-6 && ew < 2e-6, "%s: dx rel err %.3g, dw rel err %.3g", c->name, ex, ew);
        printf("  %-24s logp %.2e  dx %.2e  dw %.2e\n", c->name, el, ex, ew);

        // forward only (no weight needed), then dx only and dw only: same numbers
        Tensor *lp2 = tnew_f(be, 1, ns, NULL), *dx2 = tnew_f(be, 2, xs, NULL), *dw2 = tnew_f(be, 2, ws, NULL);
        op_xent(be, lp2, NULL, NULL, x, w, tg, NULL, c->chunk);
        op_xent(be, NULL, dx2, NULL, x, w, tg, wt, c->chunk);
        op_xent(be, NULL, NULL, dw2, x, w, tg, wt, c->chunk);
        float *gl2 = tget(be, lp2), *gdx2 = tget(be, dx2), *gdw2 = tget(be, dw2);
        for (size_t i = 0; i < nx; i++) rdx[i] -= dx0[i];
        for (size_t i = 0; i < nw; i++) rdw[i] -= dw0[i];
        CHECK(tmax_abs_fd(gl2, rl, (size_t)c->N) < 2e-6, "%s: forward-only logp", c->name);
        CHECK(test_rel_err_fd(gdx2, rdx, nx) < 1e-5, "%s: dx-only", c->name);
        CHECK(test_rel_err_fd(gdw2, rdw, nw) < 1e-5, "%s: dw-only", c->name);
        free(gl2); free(gdx2); free(gdw2);
        free(gl); free(gdx); free(gdw); free(rl); free(rdx); free(rdw); free(dx0); free(dw0);
        xdata_free(&d);
        be_destroy(be);
    }
}

/* Finite differences of the op: L = -sum wt logp from op_xent's own fp32
 * logp, gradient from its dx / dw. h = 1e-2 on inputs of O(1): truncation
 * O(h^2) ~1e-4 relative, fp32 noise of L (~1e-6) / h ~1e-4; tolerance 1e-3.
 * The same check must reject a gradient scaled by 1.05 (shown). */
typedef struct XCtx { Backend *be; XData *d; Tensor *x, *w, *tg, *lp; int which; } XCtx;
static double xent_loss(void *vctx, const float *v) {
    XCtx *c = vctx;
    be_upload(c->be, c->x, c->which == 0 ? v : c->d->x);
    be_upload(c->be, c->w, c->which == 1 ? v : c->d->w);
    op_xent(c->be, c->lp, NULL, NULL, c->x, c->w, c->tg, NULL, c->d->c.chunk);
    float *lp = tget(c->be, c->lp);
    double L = 0;
    for (int64_t i = 0; i < c->d->c.N; i++) L -= (double)c->d->wt[i] * lp[i];
    free(lp);
    return L;
}

static void test_op_gradient_fd(void) {
    for (int ci = 0; ci < 2; ci++) {
        const XCase *c = &cases[ci];
        Backend *be = tcpu();
        XData d = xdata(c, 200 + (uint64_t)ci);
        const size_t nx = (size_t)(c->N * c->C), nw = (size_t)(c->V * c->C);
        int64_t xs[2] = {c->N, c->C}, ws[2] = {c->V, c->C}, ns[1] = {c->N};
        Tensor *x = tnew_f(be, 2, xs, d.x), *w = tnew_f(be, 2, ws, d.w), *wt = tnew_f(be, 1, ns, d.wt);
        Tensor *tg = tnew_i(be, 1, ns, d.tg), *lp = tnew_f(be, 1, ns, NULL);
        Tensor *dx = tnew_f(be, 2, xs, NULL), *dw = tnew_f(be, 2, ws, NULL);
        op_xent(be, NULL, dx, dw, x, w, tg, wt, c->chunk);
        float *g[2] = {tget(be, dx), tget(be, dw)}, *in[2] = {d.x, d.w};
        size_t n[2] = {nx, nw};
        for (int k = 0; k < 2; k++) {
            XCtx ctx = {be, &d, x, w, tg, lp, k};
            double e = tfd_check(xent_loss, &ctx, in[k], g[k], n[k], 1e-2, 3, 51 + (uint64_t)k, 1e-2);
            CHECK(e < 1e-3, "%s: d%c fd rel err %.3g", c->name, "xw"[k], e);
            float *bad = tmalloc_f(n[k]);
            for (size_t i = 0; i < n[k]; i++) bad[i] = 1.05f * g[k][i];
            double eb = tfd_check(xent_loss, &ctx, in[k], bad, n[k], 1e-2, 3, 51 + (uint64_t)k, 1e-2);
            CHECK(eb > 1e-3, "fd check accepted a gradient scaled by 1.05 (err %.3g)", eb);
            printf("  %-24s d%c fd rel err %.2e (1.05x gradient: %.2e)\n", c->name, "xw"[k], e, eb);
            free(bad);
        }
        free(g[0]); free(g[1]);
        xdata_free(&d);
        be_destroy(be);
    }
}

/* The 135M model's size: T=512 rows, V=49152 (C=8 keeps it quick). The
 * workspace (BUF_SCRATCH high-water mark) must stay under 1/8 of the full
 * (N, V) f32 logits with chunk=32, and sampled rows must match float64. */
static void test_workspace_bound(void) {
    const XCase c = {"T512_V49152", 512, 8, 49152, 32};
    Backend *be = tcpu();
    XData d = xdata(&c, 300);
    int64_t xs[2] = {c.N, c.C}, ws[2] = {c.V, c.C}, ns[1] = {c.N};
    Tensor *x = tnew_f(be, 2, xs, d.x), *w = tnew_f(be, 2, ws, d.w), *wt = tnew_f(be, 1, ns, d.wt);
    Tensor *tg = tnew_i(be, 1, ns, d.tg), *lp = tnew_f(be, 1, ns, NULL);
    Tensor *dx = tnew_f(be, 2, xs, NULL), *dw = tnew_f(be, 2, ws, NULL);
    op_xent(be, lp, dx, dw, x, w, tg, wt, c.chunk);
    size_t peak = be_peak(be, BUF_SCRATCH), full = (size_t)c.N * (size_t)c.V * sizeof(float);
    CHECK(peak > 0 && peak * 8 < full, "workspace %zu bytes vs full logits %zu", peak, full);
    printf("  workspace %zu bytes = 1/%.1f of full logits (%zu bytes)\n", peak, (double)full / (double)peak, full);
    float *gl = tget(be, lp);
    double *l = tmalloc_d((size_t)c.V), err = 0;
    for (int64_t i = 0; i < c.N; i += 37) {  /* 14 sampled rows, across chunks */
        if (d.tg[i] < 0) continue;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < c.V; j++) {
            double s = 0;
            for (int64_t k = 0; k < c.C; k++) s += (double)d.x[i * c.C + k] * d.w[j * c.C + k];
            l[j] = s;
            mx = fmax(mx, s);
        }
        for (int64_t j = 0; j < c.V; j++) sum += exp(l[j] - mx);
        err = fmax(err, fabs(gl[i] - (l[d.tg[i]] - mx - log(sum))));
    }
    // |logp| ~ log(49152) ~ 11: a few fp32 ulps
    CHECK(err < 1e-5, "sampled logp max abs err %.3g", err);
    free(l); free(gl);
    xdata_free(&d);
    be_destroy(be);
}

/* Same inputs twice: bitwise equal logp, dx, dw. */
static void test_deterministic(void) {
    const XCase *c = &cases[3];
    float *res[2][3];
    for (int run = 0; run < 2; run++) {
        Backend *be = tcpu();
        XData d = xdata(c, 400);
        int64_t xs[2] = {c->N, c->C}, ws[2] = {c->V, c->C}, ns[1] = {c->N};
        Tensor *x = tnew_f(be, 2, xs, d.x), *w = tnew_f(be, 2, ws, d.w), *wt = tnew_f(be, 1, ns, d.wt);
        Tensor *tg = tnew_i(be, 1, ns, d.tg), *lp = tnew_f(be, 1, ns, NULL);
        Tensor *dx = tnew_f(be, 2, xs, NULL), *dw = tnew_f(be, 2, ws, NULL);
        op_xent(be, lp, dx, dw, x, w, tg, wt, 8);
        res[run][0] = tget(be, lp);
        res[run][1] = tget(be, dx);
        res[run][2] = tget(be, dw);
        xdata_free(&d);
        be_destroy(be);
    }
    size_t n[3] = {(size_t)c->N, (size_t)(c->N * c->C), (size_t)(c->V * c->C)};
    for (int k = 0; k < 3; k++) {
        CHECK(memcmp(res[0][k], res[1][k], n[k] * sizeof(float)) == 0, "run-to-run difference in output %d", k);
        free(res[0][k]);
        free(res[1][k]);
    }
}

/* A target outside [-1, V) is a data error reported by be_sync, naming the row. */
static void test_bad_target(void) {
    const XCase c = {"bad", 4, 3, 10, 2};
    Backend *be = tcpu();
    XData d = xdata(&c, 500);
    d.tg[2] = 10;
    int64_t xs[2] = {c.N, c.C}, ws[2] = {c.V, c.C}, ns[1] = {c.N};
    Tensor *x = tnew_f(be, 2, xs, d.x), *w = tnew_f(be, 2, ws, d.w), *wt = tnew_f(be, 1, ns, d.wt);
    Tensor *tg = tnew_i(be, 1, ns, d.tg), *lp = tnew_f(be, 1, ns, NULL), *dx = tnew_f(be, 2, xs, NULL);
    op_xent(be, lp, dx, NULL, x, w, tg, wt, c.chunk);
    VStatus st = {0};
    int rc = be_sync(be, &st);
    CHECK(rc == VS_EINVAL && strstr(st.msg, "row 2") && strstr(st.msg, "target 10"), "rc %d msg '%s'", rc, st.msg);
    CHECK(be_sync(be, &st) == 0, "the error is reported once");
    xdata_free(&d);
    be_destroy(be);
}

TEST_MAIN({"vs_reference", test_vs_reference}, {"op_gradient_fd", test_op_gradient_fd},
          {"workspace_bound", test_workspace_bound}, {"deterministic", test_deterministic},
          {"bad_target", test_bad_target})
