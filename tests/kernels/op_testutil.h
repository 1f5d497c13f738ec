/* tests/kernels/op_testutil.h — shared helpers for op tests (header-only).
 *
 * - tu_backend(): a Backend ("cpu" unless VLMC_TEST_BACKEND names another).
 * - TuRng: a fixed-seed splitmix64 generator; tests are reproducible.
 * - tu_rand / tu_tensor / tu_tensor_i32: device tensors (BUF_SCRATCH) filled
 *   with uniform random values, returning the host copy the test keeps.
 * - tu_get: download a float tensor into a fresh host array.
 * - tu_gradcheck: central finite differences of a float64 scalar loss against
 *   an analytic gradient (the gradient a backward op accumulated), reported as
 *   a relative error ||g - g_fd|| / ||g_fd|| over the checked coordinates.
 *
 * The intended pattern for a backward op f_backward(dinp += J^T dout):
 *   loss(x) = sum_j dout_j * f64_reference_forward(x)_j  (all in double),
 *   so dloss/dx is exactly what f_backward must add to dinp. Because the loss is
 *   evaluated in float64 with eps ~1e-6, truncation (O(eps^2)) and rounding
 *   (O(1e-16/eps)) errors are ~1e-10, far below float32 noise (~1e-7), so a
 *   tolerance around 1e-5 .. 1e-4 separates float32 rounding from a wrong
 *   gradient. A loss built from the float op itself works too (eps ~1e-2,
 *   tolerance ~1e-2), e.g. for ops without a float64 reference.
 *
 * - TuFwdLoss / tu_fwd_loss: the loss sum_j dout_j * f(x)_j for a float64
 *   reference forward f, ready to hand to tu_gradcheck.
 * - tu_expect_panic: runs a function in a forked child and checks it aborts
 *   with a message containing a given text (shape errors are panics).
 *
 * All helpers are static inline so each test translation unit may include this
 * header without unused-function warnings. Every helper frees what it allocates
 * (device tensors live in BUF_SCRATCH; reset it with be_reset between cases).
 */
#ifndef VLMC_TESTS_OP_TESTUTIL_H
#define VLMC_TESTS_OP_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include "kernels/ops.h"
#include "test.h"

/* ---- backend -------------------------------------------------------------- */

static inline Backend *tu_backend(void) {
    const char *name = getenv("VLMC_TEST_BACKEND");
    BackendOptions o = {.name = name && *name ? name : "cpu"};
    VStatus st = {0};
    Backend *be = be_create(&o, &st);
    if (!be) {
        fprintf(stderr, "cannot create backend %s: %s\n", o.name, st.msg);
        exit(1);
    }
    return be;
}

/* ---- random numbers ------------------------------------------------------- */

typedef struct TuRng { uint64_t s; } TuRng;

static inline uint64_t tu_next(TuRng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static inline double tu_uniform(TuRng *r, double lo, double hi) {
    return lo + (hi - lo) * (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform integer in [lo, hi) */
static inline int32_t tu_randint(TuRng *r, int32_t lo, int32_t hi) {
    return lo + (int32_t)(tu_next(r) % (uint64_t)(hi - lo));
}

static inline void *tu_xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) { fprintf(stderr, "test: out of memory (%zu bytes)\n", bytes); exit(1); }
    return p;
}

/* n floats uniform in [lo, hi), malloc'd */
static inline float *tu_rand(TuRng *r, size_t n, double lo, double hi) {
    float *h = tu_xmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = (float)tu_uniform(r, lo, hi);
    return h;
}

/* float -> double copy, malloc'd */
static inline double *tu_f64(const float *x, size_t n) {
    double *d = tu_xmalloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ---- tensors -------------------------------------------------------------- */

static inline Tensor *tu_alloc(Backend *be, DType dt, int ndim, const int64_t *shape) {
    VStatus st = {0};
    Tensor *t = be_alloc(be, BUF_SCRATCH, dt, ndim, shape, &st);
    if (!t) { fprintf(stderr, "test: be_alloc failed: %s\n", st.msg); exit(1); }
    return t;
}

/* A float tensor of the given shape with uniform [lo, hi) values; *host (if
 * non-NULL) receives the malloc'd host copy (caller frees). */
static inline Tensor *tu_tensor(Backend *be, TuRng *r, int ndim, const int64_t *shape, double lo,
                                double hi, float **host) {
    Tensor *t = tu_alloc(be, DT_F32, ndim, shape);
    size_t n = (size_t)t_numel(t);
    float *h = tu_rand(r, n, lo, hi);
    be_upload(be, t, h);
    if (host) *host = h; else free(h);
    return t;
}

/* A float tensor holding a copy of host data. */
static inline Tensor *tu_from(Backend *be, int ndim, const int64_t *shape, const float *host) {
    Tensor *t = tu_alloc(be, DT_F32, ndim, shape);
    be_upload(be, t, host);
    return t;
}

/* An i32 tensor holding a copy of host data. */
static inline Tensor *tu_from_i32(Backend *be, int ndim, const int64_t *shape, const int32_t *host) {
    Tensor *t = tu_alloc(be, DT_I32, ndim, shape);
    be_upload(be, t, host);
    return t;
}

/* Downloads a float tensor into a fresh host array (caller frees). */
static inline float *tu_get(Backend *be, const Tensor *t) {
    float *h = tu_xmalloc((size_t)t_numel(t) * sizeof *h);
    be_download(be, t, h);
    return h;
}

/* Downloads t and returns ||t - ref|| / ||ref|| (ref in float64). */
static inline double tu_err(Backend *be, const Tensor *t, const double *ref) {
    float *h = tu_get(be, t);
    double e = test_rel_err_fd(h, ref, (size_t)t_numel(t));
    free(h);
    return e;
}

/* Downloads an accumulated gradient and returns the relative error of
 * (t - before) against ref: checks "+=" semantics and the value at once. */
static inline double tu_err_acc(Backend *be, const Tensor *t, const float *before, const double *ref) {
    size_t n = (size_t)t_numel(t);
    float *h = tu_get(be, t);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = ((double)h[i] - (double)before[i]) - ref[i];
        if (d != d) { free(h); return INFINITY; }
        num += d * d;
        den += ref[i] * ref[i];
    }
    free(h);
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Downloads an accumulated gradient and returns (t - before) as fresh floats:
 * the amount a backward op added (caller frees). */
static inline float *tu_grad_acc(Backend *be, const Tensor *t, const float *before) {
    float *h = tu_get(be, t);
    for (int64_t i = 0; i < t_numel(t); i++) h[i] -= before[i];
    return h;
}

/* ---- finite-difference gradient checker ---------------------------------- */

/* Scalar loss of a float64 input vector; ctx carries everything else. */
typedef double (*TuLossFn)(const double *x, void *ctx);

typedef struct TuGradCheck {
    double eps;         /* central-difference step (float64 loss: ~1e-6) */
    double tol;         /* pass when rel. error <= tol */
    size_t max_coords;  /* check at most this many coordinates, evenly spread (0 = all) */
} TuGradCheck;

/* Compares the analytic gradient g (n floats, g[i] = dloss/dx[i]) with central
 * differences (loss(x + eps e_i) - loss(x - eps e_i)) / (2 eps). x is perturbed
 * in place and restored. Returns the relative error ||g - fd|| / ||fd|| over the
 * checked coordinates (stored in *err_out when non-NULL) and whether it is
 * within tol (1 = pass). Prints the worst coordinate on failure, naming `what`;
 * the caller decides whether a failure is expected (see the negative test). */
static inline int tu_gradcheck(const char *what, TuLossFn loss, void *ctx, double *x, size_t n,
                               const float *g, const TuGradCheck *gc, double *err_out) {
    size_t step = 1;
    if (gc->max_coords && n > gc->max_coords) step = (n + gc->max_coords - 1) / gc->max_coords;
    double num = 0, den = 0, worst = -1;
    size_t worst_i = 0;
    double worst_fd = 0;
    for (size_t i = 0; i < n; i += step) {
        double x0 = x[i];
        x[i] = x0 + gc->eps;
        double lp = loss(x, ctx);
        x[i] = x0 - gc->eps;
        double lm = loss(x, ctx);
        x[i] = x0;
        double fd = (lp - lm) / (2 * gc->eps);
        double d = (double)g[i] - fd;
        if (d != d) d = INFINITY;
        num += d * d;
        den += fd * fd;
        if (fabs(d) > worst) { worst = fabs(d); worst_i = i; worst_fd = fd; }
    }
    double err = den > 0 ? sqrt(num / den) : sqrt(num);
    if (err_out) *err_out = err;
    int ok = err <= gc->tol;
    if (!ok)
        fprintf(stderr, "gradcheck %s: rel err %.3g > tol %.3g (worst coord %zu: analytic %.8g, fd %.8g)\n",
                what, err, gc->tol, worst_i, (double)g[worst_i], worst_fd);
    return ok;
}

/* sum_j w_j y_j in double: the loss whose gradient w.r.t. y is w */
static inline double tu_dot(const double *w, const double *y, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += w[i] * y[i];
    return s;
}

/* ---- loss from a float64 reference forward -------------------------------- */

/* y (ny) = f(x) in float64; p carries shapes and the other operands */
typedef void (*TuFwdFn)(const double *x, double *y, const void *p);

typedef struct TuFwdLoss {
    TuFwdFn f;
    const void *p;
    const double *dout;  /* (ny) upstream gradient */
    double *y;           /* (ny) scratch */
    size_t ny;
} TuFwdLoss;

/* TuLossFn: sum_j dout_j f(x)_j (ctx is a TuFwdLoss *) */
static inline double tu_fwd_loss(const double *x, void *ctx) {
    TuFwdLoss *l = ctx;
    l->f(x, l->y, l->p);
    return tu_dot(l->dout, l->y, l->ny);
}

/* ---- expected panics ---------------------------------------------------------- */

/* Runs fn(ctx) in a child process; returns 1 when the child died abnormally
 * (abort from vlmc_panic) and its stderr contains `expect`. */
static inline int tu_expect_panic(void (*fn)(void *), void *ctx, const char *expect) {
    int fds[2];
    if (pipe(fds) != 0) return 0;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(ctx);
        _exit(0); /* returned: no panic */
    }
    close(fds[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t k;
    while ((k = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)k;
    buf[len] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int died = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int found = strstr(buf, expect) != NULL;
    if (!died || !found) fprintf(stderr, "expected a panic with \"%s\", child said: %s\n", expect, buf);
    return died && found;
}

#endif
