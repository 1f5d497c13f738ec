/* tests/kernels/ops_b_testutil.h — helpers shared by the op group B tests
 * (attention, xent, reductions, adamw): a seeded RNG, CPU backend tensors
 * filled from host arrays, and a directional finite-difference checker.
 * Everything is static: each test binary includes it once. */
#ifndef VLMC_TESTS_OPS_B_TESTUTIL_H
#define VLMC_TESTS_OPS_B_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test.h"

/* splitmix64: reproducible across platforms */
typedef struct TRng { uint64_t s; } TRng;
static inline uint64_t trng_u64(TRng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* uniform in [-1, 1) */
static inline float trng_unif(TRng *r) { return (float)((double)(trng_u64(r) >> 11) * 0x1.0p-53 * 2.0 - 1.0); }
static inline void trng_fill(TRng *r, float *x, size_t n, float amp) {
    for (size_t i = 0; i < n; i++) x[i] = amp * trng_unif(r);
}

static inline float *tmalloc_f(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}
static inline double *tmalloc_d(size_t n) {
    double *p = calloc(n ? n : 1, sizeof *p);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}

static inline Backend *tcpu(void) {
    VStatus st = {0};
    BackendOptions o = {.name = "cpu"};
    Backend *be = be_create(&o, &st);
    if (!be) { fprintf(stderr, "cpu backend: %s\n", st.msg); exit(2); }
    return be;
}

/* A tensor of class BUF_ACTS with the given shape, filled from host (may be NULL: zeros). */
static inline Tensor *tnew(Backend *be, DType dt, int ndim, const int64_t *shape, const void *host) {
    VStatus st = {0};
    Tensor *t = be_alloc(be, BUF_ACTS, dt, ndim, shape, &st);
    if (!t) { fprintf(stderr, "be_alloc: %s\n", st.msg); exit(2); }
    if (host) be_upload(be, t, host);
    else {
        size_t n = (size_t)t_numel(t);
        void *z = calloc(n ? n : 1, 4);
        if (!z) exit(2);
        be_upload(be, t, z);
        free(z);
    }
    return t;
}
static inline Tensor *tnew_f(Backend *be, int ndim, const int64_t *shape, const float *host) {
    return tnew(be, DT_F32, ndim, shape, host);
}
static inline Tensor *tnew_i(Backend *be, int ndim, const int64_t *shape, const int32_t *host) {
    return tnew(be, DT_I32, ndim, shape, host);
}
static inline float *tget(Backend *be, const Tensor *t) {
    float *h = tmalloc_f((size_t)t_numel(t));
    be_download(be, t, h);
    return h;
}

/* max |a - b| over n */
static inline double tmax_abs_fd(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d != d) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

/* Directional finite-difference check: does the analytic gradient g of a
 * scalar function f agree with (f(x + h u) - f(x - h u)) / 2h along random
 * directions u? Returns the worst relative mismatch
 *   |fd - <g, u>| / max(|fd|, |<g, u>|, floor)
 * over `ndir` directions. f reads x (n floats, perturbed in place and
 * restored) and returns a double. */
typedef double (*TScalarFn)(void *ctx, const float *x);
static inline double tfd_check(TScalarFn f, void *ctx, float *x, const float *g, size_t n, double h, int ndir,
                               uint64_t seed, double floor) {
    TRng r = {seed};
    float *x0 = tmalloc_f(n), *u = tmalloc_f(n);
    memcpy(x0, x, n * sizeof *x);
    double worst = 0;
    for (int k = 0; k < ndir; k++) {
        trng_fill(&r, u, n, 1.0f);
        /* <g, u> along the step actually taken (x +- h u rounds to float) */
        double gu = 0;
        for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] + h * u[i]);
        for (size_t i = 0; i < n; i++) gu += (double)g[i] * x[i];
        double fp = f(ctx, x);
        for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] - h * u[i]);
        for (size_t i = 0; i < n; i++) gu -= (double)g[i] * x[i];
        gu /= 2 * h;
        double fm = f(ctx, x);
        memcpy(x, x0, n * sizeof *x);
        double fd = (fp - fm) / (2 * h);
        double den = fmax(fmax(fabs(fd), fabs(gu)), floor);
        double e = fabs(fd - gu) / den;
        if (e > worst) worst = e;
    }
    free(x0);
    free(u);
    return worst;
}

#endif
