/* Tests of the CPU LayerNorm / RMSNorm (with and without the fused residual
 * add) against float64 references, their backwards by central finite
 * differences of the float64 forward, "+=" semantics, and bitwise determinism
 * of the weight gradients across thread counts. */
#include <omp.h>

#include "kernels/cpu/cpu_loops.h"
#include "op_testutil.h"

static const int64_t SIZES[][2] = {{1, 7}, {13, 33}, {64, 577}};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])
static const float EPS = 1e-5f;
static double worst_fwd, worst_bwd;

/* float64 reference of one norm: out = (s - mean) * rstd * w + b, or for
   rms: s * rstd * w; s = x (+ r). Returns everything through y. */
static void ref_norm(int rms, int64_t N, int64_t C, const double *s, const double *w, const double *b,
                     double *y) {
    for (int64_t i = 0; i < N; i++) {
        const double *row = s + i * C;
        double mu = 0, var = 0;
        if (!rms) {
            for (int64_t c = 0; c < C; c++) mu += row[c];
            mu /= (double)C;
        }
        for (int64_t c = 0; c < C; c++) var += (row[c] - mu) * (row[c] - mu);
        double rs = 1 / sqrt(var / (double)C + EPS);
        for (int64_t c = 0; c < C; c++) y[i * C + c] = (row[c] - mu) * rs * w[c] + (b ? b[c] : 0);
    }
}

typedef struct NormCtx {
    int rms;
    int64_t N, C;
    const double *s, *w, *b, *dout;
    double *y;
    int which; /* 0: s, 1: w, 2: b */
} NormCtx;

static double norm_loss(const double *p, void *vc) {
    NormCtx *c = vc;
    ref_norm(c->rms, c->N, c->C, c->which == 0 ? p : c->s, c->which == 1 ? p : c->w,
             c->which == 2 ? p : c->b, c->y);
    return tu_dot(c->dout, c->y, (size_t)(c->N * c->C));
}

/* Gradients from float32 backward vs float64 finite differences (eps 1e-6:
   truncation ~1e-12, rounding ~1e-10). Row reductions in float32 over up to
   577 terms and the saved float32 mean/rstd give ~1e-6 relative error, so the
   tolerance is 2e-5. */
static const TuGradCheck GC = {.eps = 1e-6, .tol = 2e-5, .max_coords = 60};

static void run_norm(int rms, int fused, int with_bias) {
    Backend *be = tu_backend();
    TuRng rng = {(uint64_t)(31 + rms * 4 + fused * 2 + with_bias)};
    for (size_t sz = 0; sz < NSIZES; sz++) {
        int64_t N = SIZES[sz][0], C = SIZES[sz][1];
        int64_t shape[2] = {N, C}, cs[1] = {C}, ns[1] = {N};
        size_t n = (size_t)(N * C);
        float *hx, *hr, *hw, *hb = NULL, *hd, *hdx, *hdw, *hdb;
        Tensor *x = tu_tensor(be, &rng, 2, shape, -2, 3, &hx); /* nonzero mean */
        Tensor *r = tu_tensor(be, &rng, 2, shape, -1, 1, &hr);
        Tensor *w = tu_tensor(be, &rng, 1, cs, 0.5, 1.5, &hw);
        Tensor *b = with_bias ? tu_tensor(be, &rng, 1, cs, -1, 1, &hb) : NULL;
        Tensor *d = tu_tensor(be, &rng, 2, shape, -1, 1, &hd);
        Tensor *dx = tu_tensor(be, &rng, 2, shape, -1, 1, &hdx);
        Tensor *dw = tu_tensor(be, &rng, 1, cs, -1, 1, &hdw);
        Tensor *db = tu_tensor(be, &rng, 1, cs, -1, 1, &hdb);
        Tensor *y = tu_alloc(be, DT_F32, 2, shape), *so = tu_alloc(be, DT_F32, 2, shape);
        Tensor *mean = tu_alloc(be, DT_F32, 1, ns), *rstd = tu_alloc(be, DT_F32, 1, ns);
        /* the reference sum is the float32 sum, as the op writes it */
        float *hs = tu_xmalloc(n * sizeof *hs);
        for (size_t i = 0; i < n; i++) hs[i] = fused ? hx[i] + hr[i] : hx[i];
        double *S = tu_f64(hs, n), *W = tu_f64(hw, (size_t)C), *B = with_bias ? tu_f64(hb, (size_t)C) : NULL;
        double *D = tu_f64(hd, n), *ref = tu_xmalloc(n * sizeof *ref);
        ref_norm(rms, N, C, S, W, B, ref);
        if (rms)
            op_rmsnorm(be, y, fused ? so : NULL, rstd, x, fused ? r : NULL, w, EPS);
        else
            op_layernorm(be, y, fused ? so : NULL, mean, rstd, x, fused ? r : NULL, w, b, EPS);
        /* float32 statistics over C <= 577 terms: ~1e-7 relative; output is a
           few roundings more. Tolerance 1e-6. */
        double e = tu_err(be, y, ref);
        if (e > worst_fwd) worst_fwd = e;
        CHECK(e < 1e-6, "%s fused=%d bias=%d N=%lld C=%lld: rel err %g", rms ? "rmsnorm" : "layernorm", fused,
              with_bias, (long long)N, (long long)C, e);
        if (fused) { /* sum_out is the float32 sum exactly */
            float *hso = tu_get(be, so);
            CHECK(memcmp(hso, hs, n * sizeof *hs) == 0, "sum_out differs from x + r");
            free(hso);
        }
        /* backward (input = the normalised sum) */
        const Tensor *sin = fused ? so : x;
        if (rms)
            op_rmsnorm_backward(be, dx, dw, d, sin, w, rstd);
        else
            op_layernorm_backward(be, dx, dw, with_bias ? db : NULL, d, sin, w, mean, rstd);
        float *gx = tu_grad_acc(be, dx, hdx), *gw = tu_grad_acc(be, dw, hdw), *gb = tu_grad_acc(be, db, hdb);
        double *yb = tu_xmalloc(n * sizeof *yb);
        NormCtx c = {rms, N, C, S, W, B, D, yb, 0};
        CHECK(tu_gradcheck("norm dinp", norm_loss, &c, S, n, gx, &GC, &e), "rms=%d N=%lld C=%lld err %g", rms,
              (long long)N, (long long)C, e);
        if (e > worst_bwd) worst_bwd = e;
        c.which = 1;
        CHECK(tu_gradcheck("norm dw", norm_loss, &c, W, (size_t)C, gw, &GC, &e), "rms=%d err %g", rms, e);
        if (e > worst_bwd) worst_bwd = e;
        if (with_bias) {
            c.which = 2;
            CHECK(tu_gradcheck("norm db", norm_loss, &c, B, (size_t)C, gb, &GC, &e), "err %g", e);
            if (e > worst_bwd) worst_bwd = e;
        } else {
            /* db NULL (or rmsnorm): db must be untouched */
            double zero_err = 0;
            for (int64_t i = 0; i < C; i++) zero_err += fabs(gb[i]);
            CHECK(zero_err == 0, "db changed without a bias");
        }
        free(hx); free(hr); free(hw); free(hb); free(hd); free(hdx); free(hdw); free(hdb); free(hs);
        free(S); free(W); free(B); free(D); free(ref); free(gx); free(gw); free(gb); free(yb);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

static void test_layernorm(void) {
    for (int fused = 0; fused < 2; fused++)
        for (int bias = 0; bias < 2; bias++) run_norm(0, fused, bias);
}

static void test_rmsnorm(void) {
    for (int fused = 0; fused < 2; fused++) run_norm(1, fused, 0);
}

/* The weight gradients must be bit-identical for 1 and 2 threads (fixed
   summation order), and the in-place forward (out = inp) must work. */
static void test_determinism_and_inplace(void) {
    Backend *be = tu_backend();
    TuRng rng = {39};
    int64_t N = 300, C = 129, shape[2] = {N, C}, cs[1] = {C}, ns[1] = {N};
    size_t n = (size_t)(N * C);
    Tensor *x = tu_tensor(be, &rng, 2, shape, -1, 1, NULL), *w = tu_tensor(be, &rng, 1, cs, 0.5, 1.5, NULL);
    Tensor *d = tu_tensor(be, &rng, 2, shape, -1, 1, NULL);
    Tensor *mean = tu_alloc(be, DT_F32, 1, ns), *rstd = tu_alloc(be, DT_F32, 1, ns);
    Tensor *y = tu_alloc(be, DT_F32, 2, shape), *dw = tu_alloc(be, DT_F32, 1, cs), *db = tu_alloc(be, DT_F32, 1, cs);
    Tensor *dx = tu_alloc(be, DT_F32, 2, shape);
    float *res[2][3];
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t ? 2 : 1);
        op_layernorm(be, y, NULL, mean, rstd, x, NULL, w, NULL, EPS);
        op_fill(be, dw, 0);
        op_fill(be, db, 0);
        op_fill(be, dx, 0);
        op_layernorm_backward(be, dx, dw, db, d, x, w, mean, rstd);
        res[t][0] = tu_get(be, dw);
        res[t][1] = tu_get(be, db);
        op_fill(be, dw, 0);
        op_rmsnorm(be, y, NULL, rstd, x, NULL, w, EPS);
        op_rmsnorm_backward(be, dx, dw, d, x, w, rstd);
        res[t][2] = tu_get(be, dw);
    }
    omp_set_num_threads(saved);
    for (int k = 0; k < 3; k++) {
        CHECK(memcmp(res[0][k], res[1][k], (size_t)C * sizeof(float)) == 0, "weight grad %d differs 1 vs 2 threads", k);
        free(res[0][k]);
        free(res[1][k]);
    }
    /* in place: y = rmsnorm(x) into x itself */
    op_rmsnorm(be, y, NULL, NULL, x, NULL, w, EPS);
    op_rmsnorm(be, x, NULL, NULL, x, NULL, w, EPS);
    float *a = tu_get(be, y), *b = tu_get(be, x);
    CHECK(memcmp(a, b, n * sizeof *a) == 0, "in-place rmsnorm differs");
    free(a);
    free(b);
    be_destroy(be);
}

/* mismatched shapes panic with a message naming the op */
typedef struct BadNorm { Backend *be; int which; } BadNorm;

static void bad_norm(void *vc) {
    BadNorm *c = vc;
    Backend *be = c->be;
    int64_t xs[2] = {4, 6}, ws[1] = {5}, ns[1] = {3}, w6[1] = {6};
    Tensor *x = tu_alloc(be, DT_F32, 2, xs), *y = tu_alloc(be, DT_F32, 2, xs);
    Tensor *w5 = tu_alloc(be, DT_F32, 1, ws), *w = tu_alloc(be, DT_F32, 1, w6), *r3 = tu_alloc(be, DT_F32, 1, ns);
    if (c->which == 0) op_rmsnorm(be, y, NULL, NULL, x, NULL, w5, EPS);
    if (c->which == 1) op_layernorm(be, y, NULL, r3, NULL, x, NULL, w, NULL, EPS);
    if (c->which == 2) op_rmsnorm(be, y, NULL, NULL, x, x, w, EPS); /* resid without sum_out */
}

static void test_bad_input(void) {
    Backend *be = tu_backend();
    static const char *const expect[] = {"rmsnorm: inp has 24 elements, not a multiple of the row length 5",
                                         "layernorm: mean has shape (3)", "rmsnorm: sum_out (required with resid) is NULL"};
    for (int w = 0; w < 3; w++) {
        BadNorm c = {be, w};
        CHECK(tu_expect_panic(bad_norm, &c, expect[w]), "case %d", w);
    }
    be_destroy(be);
}

/* The same checks with the base-ISA (SSE4.2) kernels forced; the automatic
   choice (AVX2 on this machine) ran above. The two builds must also agree bit
   for bit: summation orders are fixed in the source. */
static void test_base_isa(void) {
    cpu_force_isa(0);
    test_layernorm();
    test_rmsnorm();
    cpu_force_isa(-1);
}

static void test_isa_bitwise(void) {
    Backend *be = tu_backend();
    TuRng rng = {40};
    int64_t N = 37, C = 577, shape[2] = {N, C}, cs[1] = {C}, ns[1] = {N};
    size_t n = (size_t)(N * C);
    Tensor *x = tu_tensor(be, &rng, 2, shape, -1, 2, NULL), *r = tu_tensor(be, &rng, 2, shape, -1, 1, NULL);
    Tensor *w = tu_tensor(be, &rng, 1, cs, 0.5, 1.5, NULL), *b = tu_tensor(be, &rng, 1, cs, -1, 1, NULL);
    Tensor *d = tu_tensor(be, &rng, 2, shape, -1, 1, NULL);
    Tensor *y = tu_alloc(be, DT_F32, 2, shape), *so = tu_alloc(be, DT_F32, 2, shape);
    Tensor *mean = tu_alloc(be, DT_F32, 1, ns), *rstd = tu_alloc(be, DT_F32, 1, ns);
    Tensor *dx = tu_alloc(be, DT_F32, 2, shape), *dw = tu_alloc(be, DT_F32, 1, cs), *db = tu_alloc(be, DT_F32, 1, cs);
    float *res[2][5];
    for (int isa = 0; isa < 2; isa++) {
        cpu_force_isa(isa);
        op_layernorm(be, y, so, mean, rstd, x, r, w, b, EPS);
        op_fill(be, dx, 0);
        op_fill(be, dw, 0);
        op_fill(be, db, 0);
        op_layernorm_backward(be, dx, dw, db, d, so, w, mean, rstd);
        res[isa][0] = tu_get(be, y);
        res[isa][1] = tu_get(be, dx);
        res[isa][2] = tu_get(be, dw);
        op_rmsnorm(be, y, so, rstd, x, r, w, EPS);
        op_rmsnorm_backward(be, dx, dw, d, so, w, rstd);
        res[isa][3] = tu_get(be, y);
        res[isa][4] = tu_get(be, dx);
    }
    cpu_force_isa(-1);
    size_t len[5] = {n, n, (size_t)C, n, n};
    for (int k = 0; k < 5; k++) {
        CHECK(memcmp(res[0][k], res[1][k], len[k] * sizeof(float)) == 0, "output %d differs between ISAs", k);
        free(res[0][k]);
        free(res[1][k]);
    }
    be_destroy(be);
}

static void report(void) {
    printf("norms: max forward rel err %.3g, max gradcheck rel err %.3g\n", worst_fwd, worst_bwd);
}

TEST_MAIN({"layernorm", test_layernorm}, {"rmsnorm", test_rmsnorm},
          {"determinism_and_inplace", test_determinism_and_inplace}, {"bad_input", test_bad_input},
          {"base_isa", test_base_isa}, {"isa_bitwise", test_isa_bitwise}, {"report", report})
