/* tests/kernels/test_ops_b_vexp.c — the vectorised softmax helpers of
 * kernels/cpu/cpu_vexp.h (used by attention and cross-entropy), each variant
 * the CPU supports (AVX-512, AVX2+FMA, baseline), against float64 libm. */
#include <math.h>

#include "kernels/cpu/cpu_vexp.h"
#include "ops_b_testutil.h"

static int level_ok(int level) {
    if (level == 2)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    if (level == 1) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return 1;
}

/* exp over [-87, 88] (a 1e6-point grid plus lengths 0..37 for the loop
 * tails): rel err <= 2e-7 (Cephes' bound ~1e-7 plus the float rounding of
 * x - sub); below -87 and -inf exactly 0. sum / max: the same bits in every
 * variant (fixed summation order, max is exact). */
static void test_variants(void) {
    const int64_t n = 1000003;
    float *x = tmalloc_f((size_t)n), *y = tmalloc_f((size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = -87.0f + 175.0f * (float)i / (float)(n - 1);
    double sums[3] = {0};
    float maxes[3] = {0};
    int tested = 0;
    for (int level = 0; level <= 2; level++) {
        if (!level_ok(level)) continue;
        tested++;
        int prev = cpu_vexp_force_level(level);
        memcpy(y, x, (size_t)n * sizeof(float));
        cpu_vexp_sub(y, n, 0.5f);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double t = (double)(x[i] - 0.5f);  /* the op rounds x - sub to float first */
            if (t < -87.0 || t > 88.0) continue;
            double e = exp(t), r = fabs(y[i] - e) / e;
            if (r > worst) worst = r;
        }
        CHECK(worst < 2e-7, "level %d: exp worst rel err %.3g", level, worst);
        printf("  level %d: exp worst rel err %.2e\n", level, worst);
        float spec[5] = {-INFINITY, -1000.0f, -87.5f, 0.0f, 1.0f};
        cpu_vexp_sub(spec, 5, 0.0f);
        CHECK(spec[0] == 0.0f && spec[1] == 0.0f && spec[2] == 0.0f, "level %d: underflow must be exactly 0", level);
        CHECK(spec[3] == 1.0f && fabsf(spec[4] - 2.7182817f) < 1e-6f, "level %d: exp(0) %g exp(1) %g", level, spec[3],
              spec[4]);
        for (int64_t len = 0; len < 38; len++) {  /* every tail length */
            float a[38], b[38];
            for (int64_t i = 0; i < len; i++) a[i] = b[i] = 0.1f * (float)i - 2.0f;
            cpu_vexp_sub(a, len, 0.0f);
            int ok = 1;
            for (int64_t i = 0; i < len; i++) ok &= fabs(a[i] - exp((double)b[i])) <= 2e-7 * exp((double)b[i]);
            CHECK(ok, "level %d: tail length %lld", level, (long long)len);
            float m = cpu_vmax(b, len);
            CHECK(len == 0 ? m == -INFINITY : m == b[len - 1], "level %d: max of %lld", level, (long long)len);
        }
        sums[level] = cpu_vsum(x, n);
        maxes[level] = cpu_vmax(x, n);
        memcpy(y, x, 37 * sizeof(float));
        cpu_vscale(y, 37, 0.5f);
        int ok = 1;
        for (int i = 0; i < 37; i++) ok &= y[i] == 0.5f * x[i];
        CHECK(ok, "level %d: scale", level);
        cpu_vexp_force_level(prev);
    }
    double ref = 0;
    for (int64_t i = 0; i < n; i++) ref += x[i];
    for (int level = 0; level <= 2; level++) {
        if (!level_ok(level)) continue;
        CHECK(fabs(sums[level] - ref) <= 1e-9 * fabs(ref) + 1e-6, "level %d: sum %.17g vs %.17g", level, sums[level],
              ref);
        CHECK(memcmp(&sums[level], &sums[0], sizeof(double)) == 0, "level %d: sum differs from baseline", level);
        CHECK(maxes[level] == 88.0f, "level %d: max %g", level, maxes[level]);
    }
    CHECK(tested >= 1, "no variant ran");
    free(x);
    free(y);
}

TEST_MAIN({"variants", test_variants})
