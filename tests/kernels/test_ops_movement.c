/* Tests of the CPU data-movement ops: permute, concat, gather_rows,
 * scatter_rows, pixel_shuffle, patch_unfold and their backwards. Forwards are
 * exact copies, so they must match float64 references bit for bit (tolerance
 * 0). Backwards are checked by finite differences of the float64 reference
 * forward (linear maps: differences are exact up to ~1e-10 rounding; the
 * float32 accumulation adds ~1e-7, tolerance 1e-6). References are written
 * independently of the kernels (e.g. pixel shuffle follows the PyTorch
 * view/permute chain of Idefics3Connector step by step). Also: repeated
 * indices, row masks, thread-count determinism, and panics on bad shapes. */
#include <omp.h>

#include "op_testutil.h"

static const TuGradCheck GC = {.eps = 1e-3, .tol = 1e-6, .max_coords = 80};

/* ---- permute -------------------------------------------------------------- */
typedef struct PermP { int nd; int64_t d[6]; int perm[6]; } PermP;

/* reference: walk the INPUT in order and place each element (the kernel walks the output) */
static void ref_permute(const double *x, double *y, const void *vp) {
    const PermP *p = vp;
    int64_t n = 1, od[6], ost[6];
    for (int i = 0; i < p->nd; i++) n *= p->d[i];
    for (int i = 0; i < p->nd; i++) od[i] = p->d[p->perm[i]];
    for (int i = p->nd - 1, s = 1; i >= 0; s *= (int)od[i], i--) ost[i] = s;
    for (int64_t e = 0; e < n; e++) {
        int64_t idx[6], rem = e;
        for (int i = p->nd - 1; i >= 0; i--) { idx[i] = rem % p->d[i]; rem /= p->d[i]; }
        int64_t o = 0;
        for (int i = 0; i < p->nd; i++) o += idx[p->perm[i]] * ost[i];
        y[o] = x[e];
    }
}

static void test_permute(void) {
    Backend *be = tu_backend();
    TuRng rng = {41};
    static const PermP cases[] = {
        {2, {13, 33}, {1, 0}},
        {4, {2, 7, 3, 5}, {0, 2, 1, 3}},
        {4, {3, 5, 7, 2}, {3, 1, 0, 2}},
        {5, {2, 3, 1, 5, 4}, {4, 0, 3, 2, 1}},
        {4, {4, 33, 9, 32}, {0, 2, 1, 3}}, /* (B, T, H, D) -> (B, H, T, D), parallel path */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const PermP *p = &cases[k];
        int64_t od[6];
        size_t n = 1;
        for (int i = 0; i < p->nd; i++) { od[i] = p->d[p->perm[i]]; n *= (size_t)p->d[i]; }
        float *hx, *hd, *hg0;
        Tensor *x = tu_tensor(be, &rng, p->nd, p->d, -1, 1, &hx);
        Tensor *y = tu_alloc(be, DT_F32, p->nd, od);
        Tensor *dy = tu_tensor(be, &rng, p->nd, od, -1, 1, &hd);
        Tensor *dx = tu_tensor(be, &rng, p->nd, p->d, -1, 1, &hg0);
        double *X = tu_f64(hx, n), *ref = tu_xmalloc(n * sizeof *ref), *D = tu_f64(hd, n), *yb = tu_xmalloc(n * sizeof *yb);
        ref_permute(X, ref, p);
        op_permute(be, y, x, p->perm);
        double e = tu_err(be, y, ref);
        CHECK(e == 0, "permute case %zu: rel err %g (a copy must be exact)", k, e);
        op_permute_backward(be, dx, dy, p->perm);
        float *g = tu_grad_acc(be, dx, hg0);
        TuFwdLoss L = {ref_permute, p, D, yb, n};
        CHECK(tu_gradcheck("permute_backward", tu_fwd_loss, &L, X, n, g, &GC, &e), "case %zu err %g", k, e);
        free(hx); free(hd); free(hg0); free(X); free(ref); free(D); free(yb); free(g);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

/* ---- concat ------------------------------------------------------------------ */
typedef struct CatP {
    int nd, n, axis, which;   /* which: the part perturbed by the gradcheck */
    int64_t d[3][4];          /* shapes of up to 3 parts */
    const double *parts[3];
} CatP;

static void ref_concat(const double *x, double *y, const void *vp) {
    const CatP *p = vp;
    /* y index = (outer, concat position, inner) */
    int64_t outer = 1, inner = 1, tot = 0;
    for (int i = 0; i < p->axis; i++) outer *= p->d[0][i];
    for (int i = p->axis + 1; i < p->nd; i++) inner *= p->d[0][i];
    for (int k = 0; k < p->n; k++) tot += p->d[k][p->axis];
    int64_t start = 0;
    for (int k = 0; k < p->n; k++) {
        const double *src = k == p->which ? x : p->parts[k];
        int64_t a = p->d[k][p->axis];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < a; j++)
                for (int64_t i = 0; i < inner; i++)
                    y[(o * tot + start + j) * inner + i] = src[(o * a + j) * inner + i];
        start += a;
    }
}

static void test_concat(void) {
    Backend *be = tu_backend();
    TuRng rng = {42};
    /* parts (3, a, 5) along axis 1; (a, 7) along 0; (2, 3, a) along -1 */
    CatP cases[] = {
        {3, 3, 1, 0, {{3, 2, 5}, {3, 7, 5}, {3, 1, 5}}, {0}},
        {2, 2, 0, 0, {{5, 7}, {13, 7}}, {0}},
        {3, 3, 2, 0, {{2, 3, 4}, {2, 3, 1}, {2, 3, 9}}, {0}},
        {2, 2, 1, 0, {{300, 65}, {300, 63}}, {0}}, /* parallel path */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CatP *p = &cases[k];
        Tensor *parts[3], *dparts[3];
        float *hp[3], *hg0[3];
        double *P[3];
        size_t np[3], n = 0;
        for (int i = 0; i < p->n; i++) {
            parts[i] = tu_tensor(be, &rng, p->nd, p->d[i], -1, 1, &hp[i]);
            dparts[i] = tu_tensor(be, &rng, p->nd, p->d[i], -1, 1, &hg0[i]);
            np[i] = (size_t)t_numel(parts[i]);
            n += np[i];
            P[i] = tu_f64(hp[i], np[i]);
            p->parts[i] = P[i];
        }
        int64_t od[4];
        memcpy(od, p->d[0], sizeof od);
        od[p->axis] = 0;
        for (int i = 0; i < p->n; i++) od[p->axis] += p->d[i][p->axis];
        Tensor *y = tu_alloc(be, DT_F32, p->nd, od);
        float *hd;
        Tensor *dy = tu_tensor(be, &rng, p->nd, od, -1, 1, &hd);
        double *ref = tu_xmalloc(n * sizeof *ref), *D = tu_f64(hd, n);
        p->which = 0;
        ref_concat(P[0], ref, p);
        /* axis given as negative for the 3-d last-axis case */
        int axis = k == 2 ? -1 : p->axis;
        op_concat(be, y, (const Tensor *const *)parts, p->n, axis);
        double e = tu_err(be, y, ref);
        CHECK(e == 0, "concat case %zu: %g", k, e);
        op_concat_backward(be, dparts, p->n, dy, axis);
        for (int i = 0; i < p->n; i++) {
            float *g = tu_grad_acc(be, dparts[i], hg0[i]);
            p->which = i;
            TuFwdLoss L = {ref_concat, p, D, ref, n};
            CHECK(tu_gradcheck("concat_backward", tu_fwd_loss, &L, P[i], np[i], g, &GC, &e), "case %zu part %d err %g",
                  k, i, e);
            free(g);
        }
        for (int i = 0; i < p->n; i++) { free(hp[i]); free(hg0[i]); free(P[i]); }
        free(hd); free(ref); free(D);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

/* ---- gather / scatter rows ------------------------------------------------------ */
typedef struct RowsP { int64_t R, C, n; const int32_t *idx; const double *base; } RowsP;

static void ref_gather(const double *x, double *y, const void *vp) {
    const RowsP *p = vp;
    for (int64_t i = 0; i < p->n; i++)
        for (int64_t c = 0; c < p->C; c++) y[i * p->C + c] = x[p->idx[i] * p->C + c];
}

/* y = base with rows idx[i] replaced by x[i] in i order (last wins) */
static void ref_scatter(const double *x, double *y, const void *vp) {
    const RowsP *p = vp;
    memcpy(y, p->base, (size_t)(p->R * p->C) * sizeof *y);
    for (int64_t i = 0; i < p->n; i++)
        for (int64_t c = 0; c < p->C; c++) y[p->idx[i] * p->C + c] = x[i * p->C + c];
}

static void test_gather_scatter(void) {
    Backend *be = tu_backend();
    TuRng rng = {43};
    static const int64_t shapes[][3] = {{13, 33, 20}, {7, 1, 9}, {50, 577, 120}}; /* R, C, n */
    for (size_t k = 0; k < 3; k++) {
        int64_t R = shapes[k][0], C = shapes[k][1], n = shapes[k][2];
        int64_t ss[2] = {R, C}, os[2] = {n, C}, is[1] = {n}, ms[1] = {R};
        int32_t *idx = tu_xmalloc((size_t)n * sizeof *idx);
        for (int64_t i = 0; i < n; i++) idx[i] = tu_randint(&rng, 0, (int32_t)R); /* n > R: repeats */
        float *hs, *hd, *hg0, *hm = tu_xmalloc((size_t)R * sizeof *hm);
        for (int64_t r = 0; r < R; r++) hm[r] = r % 4 == 1 ? 0.0f : (float)tu_uniform(&rng, 0.5, 1.5);
        Tensor *src = tu_tensor(be, &rng, 2, ss, -1, 1, &hs);
        Tensor *id = tu_from_i32(be, 1, is, idx);
        Tensor *out = tu_alloc(be, DT_F32, 2, os);
        Tensor *dout = tu_tensor(be, &rng, 2, os, -1, 1, &hd);
        Tensor *dsrc = tu_tensor(be, &rng, 2, ss, -1, 1, &hg0);
        Tensor *mask = tu_from(be, 1, ms, hm);
        size_t ns = (size_t)(R * C), no = (size_t)(n * C);
        double *S = tu_f64(hs, ns), *D = tu_f64(hd, no), *ref = tu_xmalloc((ns > no ? ns : no) * sizeof *ref);
        RowsP p = {R, C, n, idx, NULL};
        ref_gather(S, ref, &p);
        op_gather_rows(be, out, src, id);
        double e = tu_err(be, out, ref);
        CHECK(e == 0, "gather_rows case %zu: %g", k, e);
        /* backward without mask: gradcheck of the gather (repeated rows sum) */
        op_gather_rows_backward(be, dsrc, dout, id, NULL);
        float *g = tu_grad_acc(be, dsrc, hg0);
        TuFwdLoss L = {ref_gather, &p, D, ref, no};
        CHECK(tu_gradcheck("gather_rows_backward", tu_fwd_loss, &L, S, ns, g, &GC, &e), "case %zu err %g", k, e);
        free(g);
        /* with a row mask: expected = mask[r] * sum of the rows' gradients, in
           double; summing k float terms gives ~1e-7 relative, tolerance 1e-6 */
        be_upload(be, dsrc, hg0);
        op_gather_rows_backward(be, dsrc, dout, id, mask);
        double *exp_ = calloc(ns, sizeof *exp_);
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < C; c++) exp_[idx[i] * C + c] += (double)hm[idx[i]] * hd[i * C + c];
        e = tu_err_acc(be, dsrc, hg0, exp_);
        CHECK(e < 1e-6, "gather_rows_backward masked case %zu: %g", k, e);
        float *after = tu_get(be, dsrc);
        int frozen_ok = 1;
        for (int64_t r = 0; r < R; r++)
            if (hm[r] == 0.0f)
                for (int64_t c = 0; c < C; c++) frozen_ok &= after[r * C + c] == hg0[r * C + c];
        CHECK(frozen_ok, "masked rows changed");
        free(after); free(exp_);

        /* scatter: dst (R, C) rows idx[i] = src2 (n, C)[i]; repeated targets, last wins */
        float *hbase, *hs2, *hgs0, *hdd;
        Tensor *dst = tu_tensor(be, &rng, 2, ss, -1, 1, &hbase);
        Tensor *src2 = tu_tensor(be, &rng, 2, os, -1, 1, &hs2);
        Tensor *dsrc2 = tu_tensor(be, &rng, 2, os, -1, 1, &hgs0);
        Tensor *ddst = tu_tensor(be, &rng, 2, ss, -1, 1, &hdd);
        double *Bs = tu_f64(hbase, ns), *S2 = tu_f64(hs2, no), *DD = tu_f64(hdd, ns);
        RowsP q = {R, C, n, idx, Bs};
        ref_scatter(S2, ref, &q);
        op_scatter_rows(be, dst, src2, id);
        e = tu_err(be, dst, ref);
        CHECK(e == 0, "scatter_rows case %zu: %g", k, e);
        op_scatter_rows_backward(be, dsrc2, ddst, id);
        g = tu_grad_acc(be, dsrc2, hgs0);
        TuFwdLoss L2 = {ref_scatter, &q, DD, ref, ns};
        CHECK(tu_gradcheck("scatter_rows_backward", tu_fwd_loss, &L2, S2, no, g, &GC, &e), "case %zu err %g", k, e);
        /* ddst afterwards = gradient w.r.t. the dst input: zero on overwritten rows */
        for (size_t i = 0; i < ns; i++) DD[i] = hdd[i];
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < C; c++) DD[idx[i] * C + c] = 0;
        e = tu_err(be, ddst, DD);
        CHECK(e == 0, "scatter_rows_backward ddst case %zu: %g", k, e);
        free(g); free(hbase); free(hs2); free(hgs0); free(hdd); free(Bs); free(S2); free(DD);
        free(idx); free(hs); free(hd); free(hg0); free(hm); free(S); free(D); free(ref);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

/* Embedding backward with many repeated ids is bit-identical on 1 and 2 threads. */
static void test_gather_backward_deterministic(void) {
    Backend *be = tu_backend();
    TuRng rng = {44};
    int64_t R = 5, C = 577, n = 400, ss[2] = {R, C}, os[2] = {n, C}, is[1] = {n};
    int32_t idx[400];
    for (int i = 0; i < n; i++) idx[i] = tu_randint(&rng, 0, (int32_t)R);
    Tensor *id = tu_from_i32(be, 1, is, idx);
    Tensor *dout = tu_tensor(be, &rng, 2, os, -1e3, 1e3, NULL);
    Tensor *dsrc = tu_alloc(be, DT_F32, 2, ss);
    float *res[2];
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        op_fill(be, dsrc, 0);
        op_gather_rows_backward(be, dsrc, dout, id, NULL);
        res[t] = tu_get(be, dsrc);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(res[0], res[1], (size_t)(R * C) * sizeof(float)) == 0, "1 vs 2 threads differ");
    free(res[0]);
    free(res[1]);
    be_destroy(be);
}

/* ---- pixel shuffle ---------------------------------------------------------------- */
typedef struct PsP { int64_t B, s, D; int r; } PsP;

/* (a, b, c, d) -> (a, c, b, d), row-major double arrays */
static void swap12(const double *x, double *y, int64_t A, int64_t Bd, int64_t Cd, int64_t Dd) {
    for (int64_t a = 0; a < A; a++)
        for (int64_t b = 0; b < Bd; b++)
            for (int64_t c = 0; c < Cd; c++)
                for (int64_t d = 0; d < Dd; d++)
                    y[((a * Cd + c) * Bd + b) * Dd + d] = x[((a * Bd + b) * Cd + c) * Dd + d];
}

/* Idefics3Connector.pixel_shuffle, step by step:
 *   x.view(B, s, s, D).view(B, s, s/r, D r).permute(0, 2, 1, 3)
 *    .reshape(B, s/r, s/r, D r r).permute(0, 2, 1, 3).reshape(B, s*s/r^2, D r r) */
static void ref_pixel_shuffle(const double *x, double *y, const void *vp) {
    const PsP *p = vp;
    int64_t n = p->B * p->s * p->s * p->D, s2 = p->s / p->r;
    double *t = tu_xmalloc((size_t)n * sizeof *t);
    swap12(x, t, p->B, p->s, s2, p->D * p->r);          /* -> (B, s/r, s, D r) */
    swap12(t, y, p->B, s2, s2, p->D * p->r * p->r);     /* view (B, s/r, s/r, D r r) -> permute */
    free(t);
}

static void test_pixel_shuffle(void) {
    Backend *be = tu_backend();
    TuRng rng = {45};
    static const PsP cases[] = {{2, 6, 7, 2}, {1, 9, 5, 3}, {2, 16, 67, 2}, {1, 4, 3, 4}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const PsP *p = &cases[k];
        int64_t s2 = p->s / p->r;
        int64_t is[3] = {p->B, p->s * p->s, p->D}, os[3] = {p->B, s2 * s2, p->D * p->r * p->r};
        size_t n = (size_t)(p->B * p->s * p->s * p->D);
        float *hx, *hd, *hg0;
        Tensor *x = tu_tensor(be, &rng, 3, is, -1, 1, &hx), *y = tu_alloc(be, DT_F32, 3, os);
        Tensor *dy = tu_tensor(be, &rng, 3, os, -1, 1, &hd), *dx = tu_tensor(be, &rng, 3, is, -1, 1, &hg0);
        double *X = tu_f64(hx, n), *D = tu_f64(hd, n), *ref = tu_xmalloc(n * sizeof *ref);
        ref_pixel_shuffle(X, ref, p);
        op_pixel_shuffle(be, y, x, p->r);
        double e = tu_err(be, y, ref);
        CHECK(e == 0, "pixel_shuffle case %zu: %g", k, e);
        op_pixel_shuffle_backward(be, dx, dy, p->r);
        float *g = tu_grad_acc(be, dx, hg0);
        TuFwdLoss L = {ref_pixel_shuffle, p, D, ref, n};
        CHECK(tu_gradcheck("pixel_shuffle_backward", tu_fwd_loss, &L, X, n, g, &GC, &e), "case %zu err %g", k, e);
        free(hx); free(hd); free(hg0); free(X); free(D); free(ref); free(g);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

/* ---- patch unfold ------------------------------------------------------------------ */
static void test_patch_unfold(void) {
    Backend *be = tu_backend();
    TuRng rng = {46};
    static const int64_t cases[][5] = {{2, 3, 14, 21, 7}, {1, 3, 32, 48, 16}, {3, 1, 5, 5, 1}}; /* B C H W p */
    for (size_t k = 0; k < 3; k++) {
        int64_t B = cases[k][0], Cc = cases[k][1], H = cases[k][2], W = cases[k][3], p = cases[k][4];
        int64_t HP = H / p, WP = W / p, F = Cc * p * p;
        int64_t is[4] = {B, Cc, H, W}, os[2] = {B * HP * WP, F};
        size_t n = (size_t)(B * Cc * H * W);
        float *hx;
        Tensor *x = tu_tensor(be, &rng, 4, is, 0, 1, &hx), *y = tu_alloc(be, DT_F32, 2, os);
        double *ref = tu_xmalloc(n * sizeof *ref);
        /* walk the pixels; patch (py, px) of image b is row (b HP + py) WP + px,
           feature (c, ky, kx) is the Conv2d weight order (OC, C, p, p) */
        for (int64_t b = 0; b < B; b++)
            for (int64_t c = 0; c < Cc; c++)
                for (int64_t yy = 0; yy < H; yy++)
                    for (int64_t xx = 0; xx < W; xx++) {
                        int64_t row = (b * HP + yy / p) * WP + xx / p, f = (c * p + yy % p) * p + xx % p;
                        ref[row * F + f] = hx[((b * Cc + c) * H + yy) * W + xx];
                    }
        op_patch_unfold(be, y, x, (int)p);
        double e = tu_err(be, y, ref);
        CHECK(e == 0, "patch_unfold case %zu: %g", k, e);
        free(hx); free(ref);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

/* ---- bad shapes panic, naming the op ------------------------------------------------ */
typedef struct BadCtx { Backend *be; int which; } BadCtx;

static void bad_call(void *vc) {
    BadCtx *c = vc;
    Backend *be = c->be;
    int64_t a[2] = {4, 6}, b[2] = {5, 6}, i1[1] = {3}, s3[3] = {1, 10, 4};
    Tensor *x = tu_alloc(be, DT_F32, 2, a), *y = tu_alloc(be, DT_F32, 2, b);
    switch (c->which) {
    case 0: { int perm[2] = {0, 0}; op_permute(be, y, x, perm); break; }
    case 1: { int32_t ids[3] = {0, 4, 1}; Tensor *id = tu_from_i32(be, 1, i1, ids);
              Tensor *o = tu_alloc(be, DT_F32, 2, (int64_t[]){3, 6}); op_gather_rows(be, o, x, id); break; }
    case 2: { Tensor *p = tu_alloc(be, DT_F32, 3, s3); op_pixel_shuffle(be, y, p, 2); break; }
    case 3: { const Tensor *parts[2] = {x, y}; op_concat(be, x, parts, 2, 0); break; }
    case 4: { MatmulDesc d = {.m = 4, .n = 5, .k = 7, .batch = 1, .alpha = 1};
              op_matmul(be, &d, x, x, y, NULL); break; }
    default: break;
    }
}

static void test_bad_shapes_panic(void) {
    Backend *be = tu_backend();
    static const char *const expect[] = {"permute: perm[1] = 0 is not a permutation", "gather_rows: idx[1] = 4 outside",
                                         "pixel_shuffle: sequence 10 is not a square", "concat: parts add up to 9",
                                         "matmul: A has shape (4, 6)"};
    for (int w = 0; w < 5; w++) {
        BadCtx c = {be, w};
        CHECK(tu_expect_panic(bad_call, &c, expect[w]), "case %d did not panic with \"%s\"", w, expect[w]);
    }
    be_destroy(be);
}

TEST_MAIN({"permute", test_permute}, {"concat", test_concat}, {"gather_scatter", test_gather_scatter},
          {"gather_backward_deterministic", test_gather_backward_deterministic},
          {"pixel_shuffle", test_pixel_shuffle}, {"patch_unfold", test_patch_unfold},
          {"bad_shapes_panic", test_bad_shapes_panic})
