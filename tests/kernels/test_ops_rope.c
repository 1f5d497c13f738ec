/* Tests of the CPU rope / rope_backward: against a float64 reference (plain
 * and Llama-3 scaled frequencies, partial rotary dims, in place), the backward
 * by finite differences, R^T R = I, and against transformers' own
 * LlamaRotaryEmbedding + apply_rotary_pos_emb outputs (golden file made by
 * tests/golden/make_rope.py) at positions up to 8191; packed rows (positions
 * repeating, cos/sin from a per-position table) give the same bits as the
 * tokens roped one at a time. */
#include "op_testutil.h"

/* float64 inv_freq, including transformers' llama3 rescaling */
static void ref_inv_freq(const RopeDesc *d, double *inv) {
    int half = d->rot_dim / 2;
    for (int i = 0; i < half; i++) inv[i] = 1.0 / pow((double)d->theta, (2.0 * i) / d->rot_dim);
    if (d->scaling != ROPE_LLAMA3) return;
    double old = d->original_max_pos, low_wl = old / d->low_freq_factor, high_wl = old / d->high_freq_factor;
    for (int i = 0; i < half; i++) {
        double wl = 2 * M_PI / inv[i];
        if (wl < high_wl) continue;
        if (wl > low_wl) { inv[i] /= d->factor; continue; }
        double s = (old / wl - d->low_freq_factor) / (d->high_freq_factor - d->low_freq_factor);
        inv[i] = (1 - s) * inv[i] / d->factor + s * inv[i];
    }
}

typedef struct RopeP { int64_t N, H, D; const int32_t *pos; const RopeDesc *d; } RopeP;

static void ref_rope(const double *x, double *y, const void *vp) {
    const RopeP *p = vp;
    double inv[512];
    ref_inv_freq(p->d, inv);
    int half = p->d->rot_dim / 2;
    for (int64_t t = 0; t < p->N; t++)
        for (int64_t h = 0; h < p->H; h++) {
            const double *xr = x + (t * p->H + h) * p->D;
            double *yr = y + (t * p->H + h) * p->D;
            for (int64_t j = 0; j < p->D; j++) yr[j] = xr[j];
            for (int i = 0; i < half; i++) {
                double a = p->pos[t] * inv[i], c = cos(a), s = sin(a);
                yr[i] = xr[i] * c - xr[i + half] * s;
                yr[i + half] = xr[i + half] * c + xr[i] * s;
            }
        }
}

/* The op forms the angle pos * inv_freq in float32, as transformers does: its
   absolute error is <= |angle| * 2^-23 ~ 1.5e-5 rad for positions < 128, so
   outputs differ from the float64 reference by up to ~1.5e-5 relative on the
   fastest pairs (the norm-relative error is smaller). Tolerance 3e-5. */
static const double TOL = 3e-5;
static double worst_ref, worst_hf;

static void test_rope_vs_f64(void) {
    Backend *be = tu_backend();
    TuRng rng = {51};
    RopeDesc plain = {.theta = 10000, .rot_dim = 0};
    RopeDesc l3 = {.theta = 500000, .scaling = ROPE_LLAMA3, .factor = 8, .low_freq_factor = 1,
                   .high_freq_factor = 4, .original_max_pos = 64};  /* small so all 3 bands occur at D = 64 */
    static const int64_t shapes[][4] = {{1, 1, 8, 8}, {7, 3, 64, 64}, {33, 2, 18, 10}, {130, 3, 96, 96}}; /* N H D rot */
    for (int sc = 0; sc < 2; sc++)
        for (size_t k = 0; k < 4; k++) {
            RopeDesc d = sc ? l3 : plain;
            int64_t N = shapes[k][0], H = shapes[k][1], D = shapes[k][2];
            d.rot_dim = (int)shapes[k][3];
            int64_t xs[3] = {N, H, D}, ps[1] = {N};
            size_t n = (size_t)(N * H * D);
            int32_t *pos = tu_xmalloc((size_t)N * sizeof *pos);
            for (int64_t t = 0; t < N; t++) pos[t] = tu_randint(&rng, 0, 128);
            float *hx, *hd, *hg0;
            Tensor *x = tu_tensor(be, &rng, 3, xs, -1, 1, &hx), *y = tu_alloc(be, DT_F32, 3, xs);
            Tensor *dy = tu_tensor(be, &rng, 3, xs, -1, 1, &hd), *dx = tu_tensor(be, &rng, 3, xs, -1, 1, &hg0);
            Tensor *p = tu_from_i32(be, 1, ps, pos);
            double *X = tu_f64(hx, n), *D64 = tu_f64(hd, n), *ref = tu_xmalloc(n * sizeof *ref);
            RopeP rp = {N, H, D, pos, &d};
            ref_rope(X, ref, &rp);
            op_rope(be, y, x, p, &d);
            double e = tu_err(be, y, ref);
            if (e > worst_ref) worst_ref = e;
            CHECK(e < TOL, "rope scaling=%d N=%lld H=%lld D=%lld rot=%d: %g", sc, (long long)N, (long long)H,
                  (long long)D, d.rot_dim, e);
            /* backward: a linear map, gradcheck against the float64 forward
               (same float32-angle argument: tolerance 3e-5) */
            op_rope_backward(be, dx, dy, p, &d);
            float *g = tu_grad_acc(be, dx, hg0);
            TuFwdLoss L = {ref_rope, &rp, D64, ref, n};
            TuGradCheck gc = {.eps = 1e-3, .tol = TOL, .max_coords = 80};
            CHECK(tu_gradcheck("rope_backward", tu_fwd_loss, &L, X, n, g, &gc, &e), "scaling=%d case %zu: %g", sc, k, e);
            free(g);
            /* R^T R = I: backward of the forward output returns the input
               (a few float32 roundings: 1e-6) */
            op_fill(be, dx, 0);
            op_rope_backward(be, dx, y, p, &d);
            for (size_t i = 0; i < n; i++) ref[i] = hx[i];
            e = tu_err(be, dx, ref);
            CHECK(e < 1e-6, "rope roundtrip: %g", e);
            /* in place equals out of place exactly */
            float *a = tu_get(be, y);
            op_rope(be, x, x, p, &d);
            float *b = tu_get(be, x);
            CHECK(memcmp(a, b, n * sizeof *a) == 0, "in-place rope differs");
            free(a); free(b); free(pos); free(hx); free(hd); free(hg0); free(X); free(D64); free(ref);
            be_reset(be, BUF_SCRATCH, 0);
        }
    be_destroy(be);
}

static void test_rope_vs_transformers(void) {
    enum { T = 6, H = 2, D = 64, NE = T * H * D };
    const char *dir = getenv("VLMC_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/rope/rope_hf.f32", dir && *dir ? dir : ".");
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    static float gold[2 * NE];
    size_t got = fread(gold, sizeof(float), 2 * NE, f);
    fclose(f);
    CHECK(got == 2 * NE, "%s: %zu floats, expected %d", path, got, 2 * NE);
    if (got != 2 * NE) return;
    Backend *be = tu_backend();
    static float hx[NE];
    for (int k = 0; k < NE; k++) hx[k] = (float)((double)((k * 7919) % 1000) / 500.0 - 1.0);
    int32_t pos[T] = {0, 1, 5, 100, 4095, 8191};
    int64_t xs[3] = {T, H, D}, ps[1] = {T};
    Tensor *x = tu_from(be, 3, xs, hx), *y = tu_alloc(be, DT_F32, 3, xs), *p = tu_from_i32(be, 1, ps, pos);
    RopeDesc cases[2] = {
        {.theta = 10000, .rot_dim = D},
        {.theta = 500000, .rot_dim = D, .scaling = ROPE_LLAMA3, .factor = 8, .low_freq_factor = 1,
         .high_freq_factor = 4, .original_max_pos = 8192},
    };
    for (int c = 0; c < 2; c++) {
        op_rope(be, y, x, p, &cases[c]);
        float *h = tu_get(be, y);
        /* Both sides compute inv_freq, the angle and cos/sin in float32 in
           the same order, so they agree to a few float32 ulps even at
           position 8191 (where a float64 angle would differ by ~5e-4 rad).
           Tolerance 1e-6. */
        double e = test_rel_err_f(h, gold + c * NE, NE);
        if (e > worst_hf) worst_hf = e;
        CHECK(e < 1e-6, "rope vs transformers case %d: rel err %g", c, e);
        free(h);
    }
    be_destroy(be);
}

/* Packed rows repeat positions 0..P-1 with P < N, which the op serves from
   a per-position cos/sin table: forward and backward must equal, bit for
   bit, the same tokens roped one call per token (P = pos + 1 > N = 1, the
   per-token path). */
static void test_rope_table_bits(void) {
    enum { ROWS = 4, TL = 50, N = ROWS * TL, H = 3, D = 32, RE = H * D };
    Backend *be = tu_backend();
    TuRng rng = {77};
    int32_t pos[N];
    for (int t = 0; t < N; t++) pos[t] = t % TL;
    RopeDesc cases[2] = {{.theta = 10000, .rot_dim = 24},
                         {.theta = 500000, .rot_dim = D, .scaling = ROPE_LLAMA3, .factor = 8, .low_freq_factor = 1,
                          .high_freq_factor = 4, .original_max_pos = 16}};
    int64_t xs[3] = {N, H, D}, ps[1] = {N}, x1s[3] = {1, H, D}, p1s[1] = {1};
    for (int c = 0; c < 2; c++) {
        float *hx, *hg0;
        Tensor *x = tu_tensor(be, &rng, 3, xs, -1, 1, &hx), *y = tu_alloc(be, DT_F32, 3, xs);
        Tensor *dx = tu_tensor(be, &rng, 3, xs, -1, 1, &hg0), *p = tu_from_i32(be, 1, ps, pos);
        op_rope(be, y, x, p, &cases[c]);
        op_rope_backward(be, dx, x, p, &cases[c]); /* dx0 + R^-1 x */
        float *yf = tu_get(be, y), *df = tu_get(be, dx);
        Tensor *x1 = tu_alloc(be, DT_F32, 3, x1s), *y1 = tu_alloc(be, DT_F32, 3, x1s), *d1 = tu_alloc(be, DT_F32, 3, x1s);
        int same = 1;
        for (int t = 0; t < N; t++) {
            Tensor *p1 = tu_from_i32(be, 1, p1s, &pos[t]);
            be_upload(be, x1, hx + t * RE);
            be_upload(be, d1, hg0 + t * RE);
            op_rope(be, y1, x1, p1, &cases[c]);
            op_rope_backward(be, d1, x1, p1, &cases[c]);
            float *a = tu_get(be, y1), *b = tu_get(be, d1);
            same &= memcmp(a, yf + t * RE, RE * sizeof *a) == 0 && memcmp(b, df + t * RE, RE * sizeof *b) == 0;
            free(a);
            free(b);
        }
        CHECK(same, "case %d: packed rope differs from per-token rope", c);
        free(yf); free(df); free(hx); free(hg0);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

/* bad descriptors and shapes panic with a message naming the op */
typedef struct BadRope { Backend *be; int which; } BadRope;

static void bad_rope(void *vc) {
    BadRope *c = vc;
    int64_t xs[3] = {4, 2, 8}, ps[1] = {3};
    Tensor *x = tu_alloc(c->be, DT_F32, 3, xs);
    int32_t pos[4] = {0, 1, 2, 3};
    RopeDesc d = {.theta = 10000, .rot_dim = 8};
    if (c->which == 0) d.rot_dim = 7;
    if (c->which == 1) { d.scaling = ROPE_LLAMA3; d.factor = 0; }
    Tensor *p = tu_from_i32(c->be, 1, c->which == 2 ? ps : (int64_t[]){4}, pos);
    op_rope(c->be, x, x, p, &d);
}

static void test_rope_bad_input(void) {
    Backend *be = tu_backend();
    static const char *const expect[] = {"rope: rot_dim 7 must be even", "rope: bad llama3 rope_scaling",
                                         "rope: 8 rows of 8 is not a multiple of 3 positions"};
    for (int w = 0; w < 3; w++) {
        BadRope c = {be, w};
        CHECK(tu_expect_panic(bad_rope, &c, expect[w]), "case %d", w);
    }
    be_destroy(be);
}

static void report(void) {
    printf("rope: max rel err vs float64 %.3g, vs transformers %.3g\n", worst_ref, worst_hf);
}

TEST_MAIN({"rope_vs_f64", test_rope_vs_f64}, {"rope_vs_transformers", test_rope_vs_transformers},
          {"rope_table_bits", test_rope_table_bits}, {"rope_bad_input", test_rope_bad_input},
          {"report", report})
