/* Tests of the CPU activations (gelu tanh / erf, quick_gelu, silu, relu),
 * swiglu and tanh_gate: forwards against float64 references, backwards by
 * central finite differences of the float64 reference forward (see
 * op_testutil.h), on sizes that are not multiples of 8 and one large enough to
 * take the OpenMP path. Gradients are accumulated onto random initial values
 * to check the "+=" contract. */
#include <omp.h>

#include "kernels/cpu/cpu_loops.h"
#include "op_testutil.h"

static const int64_t SIZES[][2] = {{1, 7}, {13, 33}, {300, 129}};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

static double ref_act(double x, ActKind k) {
    switch (k) {
    case ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case ACT_GELU_ERF: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case ACT_QUICK_GELU: return x / (1 + exp(-1.702 * x));
    case ACT_SILU: return x / (1 + exp(-x));
    case ACT_RELU: return x > 0 ? x : 0;
    default: return NAN;
    }
}

typedef struct ActCtx {
    size_t n;
    const double *dout;
    ActKind kind;
} ActCtx;

static double act_loss(const double *x, void *vc) {
    const ActCtx *c = vc;
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += c->dout[i] * ref_act(x[i], c->kind);
    return s;
}

/* float64 loss with eps 1e-6: truncation error ~eps^2 * f''' ~1e-12, rounding
   ~1e-16 / eps ~1e-10; the analytic float32 gradient has ~1e-7 relative error.
   Tolerance 1e-5 (100x margin over float32, far below any formula error).
   Up to 60 coordinates spread over the tensor (both OpenMP halves) keep the
   O(coords * n) cost of a full-loss finite difference small. */
static const TuGradCheck GC = {.eps = 1e-6, .tol = 1e-5, .max_coords = 60};
static double worst_fwd, worst_bwd;

static void test_act(void) {
    Backend *be = tu_backend();
    TuRng rng = {21};
    for (int k = 0; k < ACT__COUNT; k++)
        for (size_t s = 0; s < NSIZES; s++) {
            int64_t shape[2] = {SIZES[s][0], SIZES[s][1]};
            size_t n = (size_t)(shape[0] * shape[1]);
            float *hx, *hd, *hg0;
            Tensor *x = tu_tensor(be, &rng, 2, shape, -4, 4, &hx);
            Tensor *dout = tu_tensor(be, &rng, 2, shape, -1, 1, &hd);
            Tensor *dx = tu_tensor(be, &rng, 2, shape, -1, 1, &hg0);
            Tensor *y = tu_alloc(be, DT_F32, 2, shape);
            double *ref = tu_xmalloc(n * sizeof *ref);
            for (size_t i = 0; i < n; i++) ref[i] = ref_act(hx[i], (ActKind)k);
            op_act(be, y, x, (ActKind)k);
            /* float libm (tanhf, erff, expf) is within ~2 ulp; with the few
               roundings of each formula the norm-relative error is ~1e-7.
               Tolerance 1e-6. */
            double e = tu_err(be, y, ref);
            if (e > worst_fwd) worst_fwd = e;
            CHECK(e < 1e-6, "act kind %d n=%zu: rel err %g", k, n, e);

            op_act_backward(be, dx, dout, x, (ActKind)k);
            float *g = tu_grad_acc(be, dx, hg0);
            double *X = tu_f64(hx, n), *D = tu_f64(hd, n);
            ActCtx c = {n, D, (ActKind)k};
            /* relu: the kink at 0 is hit with probability ~1e-6 per element
               for uniform inputs in [-4, 4]; with <= 60 coordinates checked it
               does not occur for this fixed seed. */
            CHECK(tu_gradcheck("act_backward", act_loss, &c, X, n, g, &GC, &e), "kind %d n=%zu err %g", k, n, e);
            if (e > worst_bwd) worst_bwd = e;
            /* in-place forward */
            op_act(be, x, x, (ActKind)k);
            e = tu_err(be, x, ref);
            CHECK(e < 1e-6, "act in place kind %d: %g", k, e);
            free(hx); free(hd); free(hg0); free(g); free(X); free(D); free(ref);
            be_reset(be, BUF_SCRATCH, 0);
        }
    be_destroy(be);
}

/* ---- swiglu --------------------------------------------------------------- */
typedef struct SwiCtx {
    size_t n;
    const double *gate, *up, *dout;
    int which; /* 0: perturb gate, 1: up */
} SwiCtx;

static double swi_loss(const double *p, void *vc) {
    const SwiCtx *c = vc;
    const double *a = c->which == 0 ? p : c->gate, *b = c->which == 1 ? p : c->up;
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += c->dout[i] * a[i] / (1 + exp(-a[i])) * b[i];
    return s;
}

static void test_swiglu(void) {
    Backend *be = tu_backend();
    TuRng rng = {22};
    for (size_t s = 0; s < NSIZES; s++) {
        int64_t shape[2] = {SIZES[s][0], SIZES[s][1]};
        size_t n = (size_t)(shape[0] * shape[1]);
        float *ha, *hb, *hd, *hga, *hgb;
        Tensor *a = tu_tensor(be, &rng, 2, shape, -4, 4, &ha);
        Tensor *b = tu_tensor(be, &rng, 2, shape, -2, 2, &hb);
        Tensor *d = tu_tensor(be, &rng, 2, shape, -1, 1, &hd);
        Tensor *ga = tu_tensor(be, &rng, 2, shape, -1, 1, &hga);
        Tensor *gb = tu_tensor(be, &rng, 2, shape, -1, 1, &hgb);
        Tensor *y = tu_alloc(be, DT_F32, 2, shape);
        double *ref = tu_xmalloc(n * sizeof *ref);
        for (size_t i = 0; i < n; i++) ref[i] = (double)ha[i] / (1 + exp(-(double)ha[i])) * hb[i];
        op_swiglu(be, y, a, b);
        double e = tu_err(be, y, ref);
        if (e > worst_fwd) worst_fwd = e;
        CHECK(e < 1e-6, "swiglu n=%zu: %g", n, e); /* expf + 3 roundings, as act */
        op_swiglu_backward(be, ga, gb, d, a, b);
        float *g0 = tu_grad_acc(be, ga, hga), *g1 = tu_grad_acc(be, gb, hgb);
        double *A = tu_f64(ha, n), *B = tu_f64(hb, n), *D = tu_f64(hd, n);
        SwiCtx c = {n, A, B, D, 0};
        CHECK(tu_gradcheck("swiglu dgate", swi_loss, &c, A, n, g0, &GC, &e), "n=%zu err %g", n, e);
        if (e > worst_bwd) worst_bwd = e;
        c.which = 1;
        CHECK(tu_gradcheck("swiglu dup", swi_loss, &c, B, n, g1, &GC, &e), "n=%zu err %g", n, e);
        if (e > worst_bwd) worst_bwd = e;
        free(ha); free(hb); free(hd); free(hga); free(hgb); free(ref); free(g0); free(g1);
        free(A); free(B); free(D);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

/* ---- tanh_gate ------------------------------------------------------------ */
typedef struct GateCtx {
    int64_t N, C, G;
    const double *x, *gate, *resid, *dout;
    int which; /* 0: x, 1: gate, 2: resid */
} GateCtx;

static double gate_loss(const double *p, void *vc) {
    const GateCtx *c = vc;
    const double *x = c->which == 0 ? p : c->x, *g = c->which == 1 ? p : c->gate, *r = c->which == 2 ? p : c->resid;
    double s = 0;
    for (int64_t i = 0; i < c->N; i++)
        for (int64_t j = 0; j < c->C; j++) {
            int64_t k = i * c->C + j;
            s += c->dout[k] * (r[k] + tanh(g[c->G == 1 ? 0 : j]) * x[k]);
        }
    return s;
}

static void test_tanh_gate(void) {
    Backend *be = tu_backend();
    TuRng rng = {23};
    for (size_t s = 0; s < NSIZES; s++)
        for (int per_col = 0; per_col < 2; per_col++) {
            int64_t N = SIZES[s][0], C = SIZES[s][1], G = per_col ? C : 1;
            int64_t shape[2] = {N, C}, gshape[1] = {G};
            size_t n = (size_t)(N * C);
            float *hx, *hr, *hg, *hd, *hdx, *hdg, *hdr;
            Tensor *x = tu_tensor(be, &rng, 2, shape, -1, 1, &hx);
            Tensor *r = tu_tensor(be, &rng, 2, shape, -1, 1, &hr);
            Tensor *g = tu_tensor(be, &rng, 1, gshape, -1.5, 1.5, &hg);
            Tensor *d = tu_tensor(be, &rng, 2, shape, -1, 1, &hd);
            Tensor *dx = tu_tensor(be, &rng, 2, shape, -1, 1, &hdx);
            Tensor *dg = tu_tensor(be, &rng, 1, gshape, -1, 1, &hdg);
            Tensor *dr = tu_tensor(be, &rng, 2, shape, -1, 1, &hdr);
            Tensor *y = tu_alloc(be, DT_F32, 2, shape);
            double *ref = tu_xmalloc(n * sizeof *ref);
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = 0; j < C; j++)
                    ref[i * C + j] = hr[i * C + j] + tanh((double)hg[per_col ? j : 0]) * hx[i * C + j];
            op_tanh_gate(be, y, x, g, r);
            double e = tu_err(be, y, ref);
            if (e > worst_fwd) worst_fwd = e;
            CHECK(e < 1e-6, "tanh_gate N=%lld C=%lld G=%lld: %g", (long long)N, (long long)C, (long long)G, e);
            op_tanh_gate(be, y, x, g, NULL); /* no residual */
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = 0; j < C; j++) ref[i * C + j] -= hr[i * C + j];
            e = tu_err(be, y, ref);
            CHECK(e < 1e-6, "tanh_gate no resid: %g", e);

            op_tanh_gate_backward(be, dx, dg, dr, d, x, g);
            float *gx = tu_grad_acc(be, dx, hdx), *gg = tu_grad_acc(be, dg, hdg), *gr = tu_grad_acc(be, dr, hdr);
            double *X = tu_f64(hx, n), *Gd = tu_f64(hg, (size_t)G), *R = tu_f64(hr, n), *D = tu_f64(hd, n);
            GateCtx c = {N, C, G, X, Gd, R, D, 0};
            CHECK(tu_gradcheck("tanh_gate dx", gate_loss, &c, X, n, gx, &GC, &e), "err %g", e);
            c.which = 1;
            /* dgate sums up to 38700 products: float64 partial sums, one
               rounding at the end, so the same 1e-5 holds */
            CHECK(tu_gradcheck("tanh_gate dgate", gate_loss, &c, Gd, (size_t)G, gg, &GC, &e), "err %g", e);
            if (e > worst_bwd) worst_bwd = e;
            c.which = 2;
            CHECK(tu_gradcheck("tanh_gate dresid", gate_loss, &c, R, n, gr, &GC, &e), "err %g", e);
            free(hx); free(hr); free(hg); free(hd); free(hdx); free(hdg); free(hdr); free(ref);
            free(gx); free(gg); free(gr); free(X); free(Gd); free(R); free(D);
            be_reset(be, BUF_SCRATCH, 0);
        }
    be_destroy(be);
}

/* Saturated and non-finite inputs: large |x| must saturate without inf/NaN
   (the vectorised exp clamps its argument), NaN must propagate. Absolute
   error vs float64 <= 1e-6 * max(1, |y|) on the finite inputs. */
static void test_act_extremes(void) {
    Backend *be = tu_backend();
    const float xs[] = {-1e30f, -100.0f, -20.0f, -0.0f, 0.0f, 20.0f, 100.0f, 1e30f, NAN};
    enum { N = sizeof xs / sizeof xs[0] };
    int64_t shape[1] = {N};
    Tensor *x = tu_from(be, 1, shape, xs), *y = tu_alloc(be, DT_F32, 1, shape);
    for (int k = 0; k < ACT__COUNT; k++) {
        op_act(be, y, x, (ActKind)k);
        float *h = tu_get(be, y);
        for (int i = 0; i < N - 1; i++) {
            double r = ref_act(xs[i], (ActKind)k);
            CHECK(isfinite(h[i]) && fabs(h[i] - r) <= 1e-6 * fmax(1.0, fabs(r)), "act kind %d x=%g: %g vs %g", k,
                  (double)xs[i], (double)h[i], r);
        }
        CHECK(isnan(h[N - 1]), "act kind %d does not propagate NaN (got %g)", k, (double)h[N - 1]);
        free(h);
    }
    be_destroy(be);
}

/* a gate wider than the kernel's stack buffer (4096) takes the heap path */
static void test_tanh_gate_wide(void) {
    Backend *be = tu_backend();
    TuRng rng = {25};
    int64_t N = 3, C = 4099, shape[2] = {N, C}, gs[1] = {C};
    float *hx, *hg, *hd, *hdx;
    Tensor *x = tu_tensor(be, &rng, 2, shape, -1, 1, &hx), *g = tu_tensor(be, &rng, 1, gs, -1, 1, &hg);
    Tensor *d = tu_tensor(be, &rng, 2, shape, -1, 1, &hd), *dx = tu_tensor(be, &rng, 2, shape, -1, 1, &hdx);
    Tensor *y = tu_alloc(be, DT_F32, 2, shape);
    double *ref = tu_xmalloc((size_t)(N * C) * sizeof *ref), *gref = tu_xmalloc((size_t)(N * C) * sizeof *gref);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < C; j++) {
            ref[i * C + j] = tanh((double)hg[j]) * hx[i * C + j];
            gref[i * C + j] = tanh((double)hg[j]) * hd[i * C + j];
        }
    op_tanh_gate(be, y, x, g, NULL);
    double e = tu_err(be, y, ref);
    CHECK(e < 1e-6, "wide tanh_gate: %g", e); /* tanhf (1 ulp) and one product */
    op_tanh_gate_backward(be, dx, NULL, NULL, d, x, g);
    e = tu_err_acc(be, dx, hdx, gref);
    CHECK(e < 1e-6, "wide tanh_gate_backward dx: %g", e);
    free(hx); free(hg); free(hd); free(hdx); free(ref); free(gref);
    be_destroy(be);
}

/* dgate (a reduction over all rows) is bit-identical for 1 and 2 threads */
static void test_tanh_gate_deterministic(void) {
    Backend *be = tu_backend();
    TuRng rng = {24};
    int64_t N = 333, C = 257, shape[2] = {N, C};
    Tensor *x = tu_tensor(be, &rng, 2, shape, -1e3, 1e3, NULL), *d = tu_tensor(be, &rng, 2, shape, -1, 1, NULL);
    for (int per_col = 0; per_col < 2; per_col++) {
        int64_t gs[1] = {per_col ? C : 1};
        Tensor *g = tu_tensor(be, &rng, 1, gs, -1, 1, NULL), *dg = tu_alloc(be, DT_F32, 1, gs);
        float *res[2];
        int saved = omp_get_max_threads();
        for (int t = 0; t < 2; t++) {
            omp_set_num_threads(t + 1);
            op_fill(be, dg, 0);
            op_tanh_gate_backward(be, NULL, dg, NULL, d, x, g);
            res[t] = tu_get(be, dg);
        }
        omp_set_num_threads(saved);
        CHECK(memcmp(res[0], res[1], (size_t)gs[0] * sizeof(float)) == 0, "dgate (G=%lld) differs 1 vs 2 threads",
              (long long)gs[0]);
        free(res[0]);
        free(res[1]);
    }
    be_destroy(be);
}

/* The same checks with the base-ISA (SSE4.2) kernels forced (the automatic
   choice, AVX2 on this machine, ran above). */
static void test_base_isa(void) {
    cpu_force_isa(0);
    test_act();
    test_swiglu();
    test_act_extremes();
    cpu_force_isa(-1);
}

static void report(void) {
    printf("act/swiglu/tanh_gate: max forward rel err %.3g, max gradcheck rel err %.3g\n", worst_fwd, worst_bwd);
}

TEST_MAIN({"act", test_act}, {"swiglu", test_swiglu}, {"tanh_gate", test_tanh_gate},
          {"act_extremes", test_act_extremes}, {"tanh_gate_deterministic", test_tanh_gate_deterministic},
          {"tanh_gate_wide", test_tanh_gate_wide},
          {"base_isa", test_base_isa}, {"report", report})
