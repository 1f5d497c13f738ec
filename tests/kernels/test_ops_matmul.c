/* Tests of the CPU matmul against a float64 reference: every transpose
 * combination, beta, bias, batches (contiguous, broadcast A/B, accumulating
 * C), sizes that are not multiples of 8. Also the Linear-layer backward built
 * from matmul + bias_backward checked by finite differences, and a negative
 * test showing the gradient checker rejects a perturbed gradient. */
#include "op_testutil.h"

/* float64 reference: C = alpha op(A) op(B) + beta C0 + bias, one batch item */
static void ref_gemm(const MatmulDesc *d, double *c, const float *c0, const float *a, const float *b,
                     const float *bias, double beta) {
    for (int64_t i = 0; i < d->m; i++)
        for (int64_t j = 0; j < d->n; j++) {
            double s = 0;
            for (int64_t p = 0; p < d->k; p++) {
                double av = d->trans_a ? a[p * d->m + i] : a[i * d->k + p];
                double bv = d->trans_b ? b[j * d->k + p] : b[p * d->n + j];
                s += av * bv;
            }
            double v = (double)d->alpha * s + (beta != 0 ? beta * c0[i * d->n + j] : 0.0);
            c[i * d->n + j] = v + (bias ? bias[j] : 0.0);
        }
}

static double max_err; /* largest error seen, printed for the record */

static void run_case(Backend *be, TuRng *rng, MatmulDesc d, int with_bias, const char *what) {
    int64_t sa = d.batch > 1 ? d.stride_a : 0, sb = d.batch > 1 ? d.stride_b : 0,
            sc = d.batch > 1 ? d.stride_c : 0;
    int64_t na = d.batch > 1 && sa ? (d.batch - 1) * sa + d.m * d.k : d.m * d.k;
    int64_t nb = d.batch > 1 && sb ? (d.batch - 1) * sb + d.k * d.n : d.k * d.n;
    int64_t nc = d.batch > 1 && sc ? (d.batch - 1) * sc + d.m * d.n : d.m * d.n;
    float *ha, *hb, *hc, *hbias = NULL;
    Tensor *A = tu_tensor(be, rng, 1, &na, -1, 1, &ha);
    Tensor *B = tu_tensor(be, rng, 1, &nb, -1, 1, &hb);
    Tensor *C = tu_tensor(be, rng, 1, &nc, -1, 1, &hc);
    Tensor *bias = with_bias ? tu_tensor(be, rng, 1, &d.n, -1, 1, &hbias) : NULL;
    if (d.beta == 0.0f) { /* beta = 0 must not read C: poison it */
        for (int64_t i = 0; i < nc; i++) hc[i] = NAN;
        be_upload(be, C, hc);
    }
    double *ref = tu_xmalloc((size_t)nc * sizeof *ref);
    for (int64_t i = 0; i < nc; i++) ref[i] = hc[i];
    if (sc == 0 && d.batch > 1) {
        /* every item accumulates into one C: item 0 applies beta and bias */
        double *tmp = tu_xmalloc((size_t)nc * sizeof *tmp);
        for (int64_t it = 0; it < d.batch; it++) {
            ref_gemm(&d, tmp, hc, ha + it * sa, hb + it * sb, it ? NULL : hbias, it ? 0.0 : d.beta);
            for (int64_t i = 0; i < nc; i++) ref[i] = it ? ref[i] + tmp[i] : tmp[i];
        }
        free(tmp);
    } else {
        for (int64_t it = 0; it < d.batch; it++)
            ref_gemm(&d, ref + it * sc, hc + it * sc, ha + it * sa, hb + it * sb, hbias, d.beta);
    }
    op_matmul(be, &d, C, A, B, bias);
    /* fp32 sgemm: each entry is a k-term dot product with rounding error
       ~sqrt(k) * 6e-8 relative to sum |a||b|; for k <= 130 and uniform inputs
       the norm-relative error measures ~1e-7. Tolerance 2e-6 leaves 10x margin
       and still catches any wrong element (an error in one entry of a 7x13
       output is >= 1e-2 relative). */
    double e = tu_err(be, C, ref);
    if (e > max_err) max_err = e;
    CHECK(e < 2e-6, "%s m=%lld n=%lld k=%lld ta=%d tb=%d batch=%lld bias=%d beta=%g: rel err %g", what,
          (long long)d.m, (long long)d.n, (long long)d.k, d.trans_a, d.trans_b, (long long)d.batch,
          with_bias, (double)d.beta, e);
    free(ha); free(hb); free(hc); free(hbias); free(ref);
}

static void test_single(void) {
    Backend *be = tu_backend();
    TuRng rng = {11};
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 13, 33}, {33, 7, 13}, {65, 31, 130}, {5, 9, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int variant = 0; variant < 3; variant++) {
                    MatmulDesc d = {.trans_a = ta, .trans_b = tb, .m = shapes[s][0], .n = shapes[s][1],
                                    .k = shapes[s][2], .batch = 1, .alpha = variant == 2 ? 0.7f : 1.0f,
                                    .beta = variant == 1 ? 0.5f : 0.0f};
                    run_case(be, &rng, d, variant != 1, "single");
                    be_reset(be, BUF_SCRATCH, 0);
                }
    be_destroy(be);
}

static void test_batched(void) {
    Backend *be = tu_backend();
    TuRng rng = {12};
    /* small items (parallel over items) and large ones (sequential, BLAS threads) */
    static const int64_t shapes[][4] = {{13, 7, 9, 9}, {130, 129, 131, 2}};
    for (size_t s = 0; s < 2; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], batch = shapes[s][3];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                MatmulDesc d = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .batch = batch,
                                .stride_a = m * k, .stride_b = k * n, .stride_c = m * n, .alpha = 1, .beta = 0};
                run_case(be, &rng, d, 1, "contiguous");
                d.stride_a = m * k + 3; /* gaps between items */
                d.stride_c = m * n + 5;
                d.beta = 1;
                run_case(be, &rng, d, 0, "gapped");
                d.stride_a = 0; /* broadcast A */
                run_case(be, &rng, d, 0, "broadcast A");
                d.stride_a = m * k;
                d.stride_b = 0; /* broadcast B */
                run_case(be, &rng, d, 1, "broadcast B");
                d.stride_b = k * n;
                d.stride_c = 0; /* accumulate into one C */
                d.beta = 0.25f;
                run_case(be, &rng, d, 1, "accumulate C");
                be_reset(be, BUF_SCRATCH, 0);
            }
    }
    be_destroy(be);
}

/* ---- Linear backward by finite differences -------------------------------
 * y (N, O) = x (N, I) W^T + b; loss = sum dy * y. */
typedef struct LinCtx {
    int64_t N, I, O;
    const double *x, *w, *b, *dy;
    int which; /* 0: perturb x, 1: W, 2: b */
} LinCtx;

static double lin_loss(const double *p, void *vctx) {
    const LinCtx *c = vctx;
    const double *x = c->which == 0 ? p : c->x, *w = c->which == 1 ? p : c->w, *b = c->which == 2 ? p : c->b;
    double s = 0;
    for (int64_t r = 0; r < c->N; r++)
        for (int64_t o = 0; o < c->O; o++) {
            double y = b[o];
            for (int64_t i = 0; i < c->I; i++) y += x[r * c->I + i] * w[o * c->I + i];
            s += c->dy[r * c->O + o] * y;
        }
    return s;
}

static void test_linear_backward_gradcheck(void) {
    Backend *be = tu_backend();
    TuRng rng = {13};
    const int64_t N = 7, I = 13, O = 9;
    int64_t sx[2] = {N, I}, sw[2] = {O, I}, sb[1] = {O}, sy[2] = {N, O};
    float *hx, *hw, *hb, *hdy;
    Tensor *x = tu_tensor(be, &rng, 2, sx, -1, 1, &hx);
    Tensor *w = tu_tensor(be, &rng, 2, sw, -1, 1, &hw);
    tu_tensor(be, &rng, 1, sb, -1, 1, &hb);
    Tensor *dy = tu_tensor(be, &rng, 2, sy, -1, 1, &hdy);
    Tensor *dx = tu_alloc(be, DT_F32, 2, sx), *dw = tu_alloc(be, DT_F32, 2, sw), *db = tu_alloc(be, DT_F32, 1, sb);
    op_fill(be, dx, 0);
    op_fill(be, dw, 0);
    op_fill(be, db, 0);
    /* dx (N, I) += dy (N, O) @ W (O, I) */
    MatmulDesc m1 = {.m = N, .n = I, .k = O, .batch = 1, .alpha = 1, .beta = 1};
    op_matmul(be, &m1, dx, dy, w, NULL);
    /* dW (O, I) += dy^T (O, N) @ x (N, I) */
    MatmulDesc m2 = {.trans_a = 1, .m = O, .n = I, .k = N, .batch = 1, .alpha = 1, .beta = 1};
    op_matmul(be, &m2, dw, dy, x, NULL);
    op_bias_backward(be, db, dy);
    float *gx = tu_get(be, dx), *gw = tu_get(be, dw), *gb = tu_get(be, db);
    double *X = tu_f64(hx, (size_t)(N * I)), *W = tu_f64(hw, (size_t)(O * I)), *Bv = tu_f64(hb, (size_t)O),
           *DY = tu_f64(hdy, (size_t)(N * O));
    LinCtx c = {N, I, O, X, W, Bv, DY, 0};
    /* float64 loss, eps 1e-6: the loss is linear in each input, so central
       differences are exact up to rounding (~1e-10); float32 gradients carry
       ~1e-7 relative error. Tolerance 1e-5. */
    TuGradCheck gc = {.eps = 1e-6, .tol = 1e-5};
    double e;
    c.which = 0;
    CHECK(tu_gradcheck("linear dx", lin_loss, &c, X, (size_t)(N * I), gx, &gc, &e), "dx err %g", e);
    c.which = 1;
    CHECK(tu_gradcheck("linear dW", lin_loss, &c, W, (size_t)(O * I), gw, &gc, &e), "dW err %g", e);
    c.which = 2;
    CHECK(tu_gradcheck("linear db", lin_loss, &c, Bv, (size_t)O, gb, &gc, &e), "db err %g", e);

    /* Negative control: the checker must reject a gradient with one element
       off by 1e-2 (relative error ~1e-3 over this gradient, 100x the tolerance). */
    gw[5] += 1e-2f;
    c.which = 1;
    fprintf(stderr, "(expected failure follows)\n");
    int ok = tu_gradcheck("linear dW perturbed", lin_loss, &c, W, (size_t)(O * I), gw, &gc, &e);
    CHECK(!ok, "gradient checker accepted a perturbed gradient (err %g)", e);
    CHECK(e > 10 * gc.tol, "perturbed gradient error %g is not well above tol", e);
    free(hx); free(hw); free(hb); free(hdy); free(gx); free(gw); free(gb);
    free(X); free(W); free(Bv); free(DY);
    be_destroy(be);
}

static void report(void) { printf("matmul: max rel err vs float64 %.3g\n", max_err); }

TEST_MAIN({"single", test_single}, {"batched", test_batched},
          {"linear_backward_gradcheck", test_linear_backward_gradcheck},
          {"report", report})
