/* tests/kernels/test_ops_b_reduce.c — segment_sum (+ backward),
 * count_targets and sumsq on the CPU backend against float64 references
 * computed here; determinism across thread counts; bad segment ids. */
#include <math.h>
#include <omp.h>

#include "ops_b_testutil.h"

/* Segments interleave (not contiguous), include -1 and one empty segment.
 * Tolerance abs 1e-6: the op sums in double and rounds once to float (values
 * |x| < 1, sums |s| < 13: half an ulp is <= 5e-7). */
static void test_segment_sum(void) {
    Backend *be = tcpu();
    enum { N = 13, S = 5 };
    const int32_t seg[N] = {0, 0, 1, -1, 1, 2, 2, 2, 0, 4, 4, -1, 1};  /* segment 3 empty */
    float x[N];
    TRng r = {7};
    trng_fill(&r, x, N, 1.0f);
    int64_t ns[1] = {N}, ss[1] = {S}, one[1] = {1};
    Tensor *tx = tnew_f(be, 1, ns, x), *ts = tnew_i(be, 1, ns, seg), *out = tnew_f(be, 1, ss, NULL);
    float junk[S] = {9, 9, 9, 9, 9};
    be_upload(be, out, junk);  /* forward overwrites */
    op_segment_sum(be, out, tx, ts);
    double ref[S] = {0}, tot = 0;
    for (int i = 0; i < N; i++) {
        if (seg[i] >= 0) ref[seg[i]] += x[i];
        tot += x[i];
    }
    float *o = tget(be, out);
    CHECK(tmax_abs_fd(o, ref, S) < 1e-6, "segment sums err %.3g", tmax_abs_fd(o, ref, S));
    CHECK(o[3] == 0.0f, "empty segment gives 0, got %g", o[3]);
    free(o);

    Tensor *t1 = tnew_f(be, 1, one, NULL);
    op_segment_sum(be, t1, tx, NULL);
    float *o1 = tget(be, t1);
    CHECK(fabs(o1[0] - tot) < 1e-6, "total %g vs %g", o1[0], tot);
    free(o1);

    // backward: dvals[i] += dout[seg[i]]; -1 gets nothing; starts from init values
    float dout[S], init[N];
    trng_fill(&r, dout, S, 1.0f);
    trng_fill(&r, init, N, 1.0f);
    Tensor *tdo = tnew_f(be, 1, ss, dout), *tdx = tnew_f(be, 1, ns, init);
    op_segment_sum_backward(be, tdx, tdo, ts);
    float *dx = tget(be, tdx);
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= dx[i] == init[i] + (seg[i] >= 0 ? dout[seg[i]] : 0.0f);
    CHECK(ok, "segment_sum_backward");
    free(dx);
    Tensor *tdx2 = tnew_f(be, 1, ns, init), *tdo1 = tnew_f(be, 1, one, dout);
    op_segment_sum_backward(be, tdx2, tdo1, NULL);
    float *dx2 = tget(be, tdx2);
    ok = 1;
    for (int i = 0; i < N; i++) ok &= dx2[i] == init[i] + dout[0];
    CHECK(ok, "segment_sum_backward without seg");
    free(dx2);
    VStatus st = {0};
    CHECK(be_sync(be, &st) == 0, "%s", st.msg);
    be_destroy(be);
}

/* A segment id >= S (or < -1) is bad data: reported by be_sync, naming the index. */
static void test_segment_sum_bad_id(void) {
    Backend *be = tcpu();
    const int32_t seg[4] = {0, 1, 7, 0};
    float x[4] = {1, 2, 3, 4};
    int64_t ns[1] = {4}, ss[1] = {2};
    Tensor *tx = tnew_f(be, 1, ns, x), *ts = tnew_i(be, 1, ns, seg), *out = tnew_f(be, 1, ss, NULL);
    op_segment_sum(be, out, tx, ts);
    VStatus st = {0};
    int rc = be_sync(be, &st);
    CHECK(rc == VS_EINVAL && strstr(st.msg, "segment id 7") && strstr(st.msg, "at 2"), "rc %d '%s'", rc, st.msg);
    float *o = tget(be, out);
    CHECK(o[0] == 5.0f && o[1] == 2.0f, "valid entries still summed: %g %g", o[0], o[1]);
    free(o);
    Tensor *dx = tnew_f(be, 1, ns, NULL);
    op_segment_sum_backward(be, dx, out, ts);
    rc = be_sync(be, &st);
    CHECK(rc == VS_EINVAL && strstr(st.msg, "segment_sum_backward"), "rc %d '%s'", rc, st.msg);
    be_destroy(be);
}

static void test_count_targets(void) {
    Backend *be = tcpu();
    const int32_t tg[13] = {5, -1, 0, 3, -1, 7, 7, 2, -1, 1, 1, 0, 4};
    int64_t ns[1] = {13}, one[1] = {1};
    Tensor *t = tnew_i(be, 1, ns, tg), *out = tnew_f(be, 1, one, NULL);
    op_count_targets(be, out, t);
    float *o = tget(be, out);
    CHECK(o[0] == 10.0f, "count %g, expected 10", o[0]);
    free(o);
    be_destroy(be);
}

/* sumsq over tensors of 7, 40000 (3 blocks of 16384) and 2^24 + 5 elements
 * (crosses the 1024-block group) vs a float64 sum: rel 1e-6 (one rounding of
 * a double sum to float: 6e-8). And bitwise the same with 1 and 2 threads
 * (fixed blocks, partials added in order). */
static void test_sumsq(void) {
    Backend *be = tcpu();
    const int64_t n[3] = {7, 40000, (1 << 24) + 5};
    Tensor *ts[3];
    double ref = 0;
    TRng r = {11};
    for (int k = 0; k < 3; k++) {
        float *x = tmalloc_f((size_t)n[k]);
        trng_fill(&r, x, (size_t)n[k], k == 2 ? 0.01f : 1.0f);
        for (int64_t i = 0; i < n[k]; i++) ref += (double)x[i] * x[i];
        ts[k] = tnew_f(be, 1, &n[k], x);
        free(x);
    }
    int64_t one[1] = {1};
    Tensor *out = tnew_f(be, 1, one, NULL);
    int nth = omp_get_max_threads();
    float got[2];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t == 0 ? 1 : 2);
        op_sumsq(be, out, (const Tensor *const *)ts, 3);
        be_download(be, out, &got[t]);
    }
    omp_set_num_threads(nth);
    CHECK(fabs(got[0] - ref) / ref < 1e-6, "sumsq %.9g vs %.9g", got[0], ref);
    CHECK(memcmp(&got[0], &got[1], sizeof(float)) == 0, "1 vs 2 threads: %.9g %.9g", got[0], got[1]);
    op_sumsq(be, out, (const Tensor *const *)ts, 0);
    be_download(be, out, &got[0]);
    CHECK(got[0] == 0.0f, "empty list gives 0");
    be_destroy(be);
}

TEST_MAIN({"segment_sum", test_segment_sum}, {"segment_sum_bad_id", test_segment_sum_bad_id},
          {"count_targets", test_count_targets}, {"sumsq", test_sumsq})
