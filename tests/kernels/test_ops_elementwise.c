/* Tests of the CPU elementwise ops (fill, copy, add, scale, bias_add,
 * bias_backward, mask_rows) against float64 references on random inputs whose
 * sizes are not multiples of 8, plus the "+=" contract of backward ops. */
#include <omp.h>

#include "op_testutil.h"

static const int64_t SIZES[][2] = {{1, 1}, {7, 13}, {33, 5}, {130, 257}};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

static void test_fill_copy_scale_add(void) {
    Backend *be = tu_backend();
    TuRng rng = {1};
    for (size_t s = 0; s < NSIZES; s++) {
        int64_t shape[2] = {SIZES[s][0], SIZES[s][1]};
        size_t n = (size_t)(shape[0] * shape[1]);
        float *ha, *hb;
        Tensor *a = tu_tensor(be, &rng, 2, shape, -1, 1, &ha);
        Tensor *b = tu_tensor(be, &rng, 2, shape, -1, 1, &hb);
        Tensor *o = tu_alloc(be, DT_F32, 2, shape);
        double *ref = tu_xmalloc(n * sizeof *ref);

        /* fill and copy are exact: tolerance 0 */
        op_fill(be, o, 0.37f);
        for (size_t i = 0; i < n; i++) ref[i] = 0.37f;
        CHECK(tu_err(be, o, ref) == 0, "fill %zu", n);
        op_copy(be, o, a);
        for (size_t i = 0; i < n; i++) ref[i] = ha[i];
        CHECK(tu_err(be, o, ref) == 0, "copy %zu", n);

        /* add: two roundings per element (products, sum) => rel err <= ~2^-23;
           1e-6 leaves headroom over float32 epsilon (1.2e-7). */
        op_add(be, o, a, b, 0.5f, -1.25f);
        for (size_t i = 0; i < n; i++) ref[i] = 0.5 * ha[i] - 1.25 * hb[i];
        double e = tu_err(be, o, ref);
        CHECK(e < 1e-6, "add %zu: rel err %g", n, e);
        /* aliasing: out = a */
        op_add(be, a, a, b, 2.0f, 1.0f);
        for (size_t i = 0; i < n; i++) ref[i] = 2.0 * ha[i] + hb[i];
        e = tu_err(be, a, ref);
        CHECK(e < 1e-6, "add aliased %zu: rel err %g", n, e);

        /* scale: one rounding per element, 1e-6 as above */
        op_scale(be, b, -3.3f);
        for (size_t i = 0; i < n; i++) ref[i] = -3.3 * hb[i];
        e = tu_err(be, b, ref);
        CHECK(e < 1e-6, "scale %zu: rel err %g", n, e);
        free(ha); free(hb); free(ref);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

static void test_bias_add_backward(void) {
    Backend *be = tu_backend();
    TuRng rng = {2};
    for (size_t s = 0; s < NSIZES; s++) {
        int64_t N = SIZES[s][0], K = SIZES[s][1];
        int64_t shape[2] = {N, K}, bshape[1] = {K};
        float *hx, *hb, *hdb;
        Tensor *x = tu_tensor(be, &rng, 2, shape, -1, 1, &hx);
        Tensor *bias = tu_tensor(be, &rng, 1, bshape, -1, 1, &hb);
        Tensor *db = tu_tensor(be, &rng, 1, bshape, -1, 1, &hdb);
        Tensor *o = tu_alloc(be, DT_F32, 2, shape);
        double *ref = tu_xmalloc((size_t)(N * K) * sizeof *ref);
        op_bias_add(be, o, x, bias);
        for (int64_t r = 0; r < N; r++)
            for (int64_t c = 0; c < K; c++) ref[r * K + c] = (double)hx[r * K + c] + hb[c];
        /* one rounding per element: 1e-6 */
        double e = tu_err(be, o, ref);
        CHECK(e < 1e-6, "bias_add %lldx%lld: %g", (long long)N, (long long)K, e);
        op_bias_add(be, x, x, bias); /* in place */
        e = tu_err(be, x, ref);
        CHECK(e < 1e-6, "bias_add in place: %g", e);

        /* bias_backward: dbias += column sums of dout. The gradient of
           L = sum dout * (x + b) w.r.t. b is exactly the column sum; the sum is
           accumulated in double and rounded once, then added to the old
           value: rel err ~1e-7, tolerance 1e-6. */
        float *hg;
        Tensor *g = tu_tensor(be, &rng, 2, shape, -1, 1, &hg);
        double *cs = tu_xmalloc((size_t)K * sizeof *cs);
        for (int64_t c = 0; c < K; c++) {
            cs[c] = 0;
            for (int64_t r = 0; r < N; r++) cs[c] += hg[r * K + c];
        }
        op_bias_backward(be, db, g);
        e = tu_err_acc(be, db, hdb, cs);
        CHECK(e < 1e-6, "bias_backward %lldx%lld: %g", (long long)N, (long long)K, e);
        free(hx); free(hb); free(hdb); free(hg); free(cs); free(ref);
        be_reset(be, BUF_SCRATCH, 0);
    }
    be_destroy(be);
}

static void test_mask_rows(void) {
    Backend *be = tu_backend();
    TuRng rng = {3};
    int64_t shape[2] = {13, 33}, mshape[1] = {13};
    float *ht;
    Tensor *t = tu_tensor(be, &rng, 2, shape, -1, 1, &ht);
    float hm[13];
    for (int r = 0; r < 13; r++) hm[r] = r % 3 == 0 ? 0.0f : (float)tu_uniform(&rng, 0, 2);
    Tensor *m = tu_from(be, 1, mshape, hm);
    op_mask_rows(be, t, m);
    double ref[13 * 33];
    for (int r = 0; r < 13; r++)
        for (int c = 0; c < 33; c++) ref[r * 33 + c] = (double)ht[r * 33 + c] * hm[r];
    double e = tu_err(be, t, ref);
    CHECK(e < 1e-6, "mask_rows: %g", e); /* one rounding per element */
    free(ht);
    be_destroy(be);
}

/* bias_backward is bit-identical for 1 and 2 threads (rows summed in order) */
static void test_bias_backward_deterministic(void) {
    Backend *be = tu_backend();
    TuRng rng = {4};
    int64_t shape[2] = {1000, 77}, bs[1] = {77};
    Tensor *g = tu_tensor(be, &rng, 2, shape, -1e3, 1e3, NULL), *db = tu_alloc(be, DT_F32, 1, bs);
    float *res[2];
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        op_fill(be, db, 0);
        op_bias_backward(be, db, g);
        res[t] = tu_get(be, db);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(res[0], res[1], sizeof(float) * 77) == 0, "bias_backward differs 1 vs 2 threads");
    free(res[0]);
    free(res[1]);
    be_destroy(be);
}

TEST_MAIN({"fill_copy_scale_add", test_fill_copy_scale_add}, {"bias_add_backward", test_bias_add_backward},
          {"mask_rows", test_mask_rows}, {"bias_backward_deterministic", test_bias_backward_deterministic})
