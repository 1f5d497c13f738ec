/* tests/gpu/gpu_harness.h — the CPU-vs-CUDA parity harness (not a CTest
 * test: CI has no GPU; tests/gpu/run.sh runs it on a GPU machine).
 *
 * A case creates paired tensors (one on the cpu backend, one on cuda) from
 * the same host data, runs an op on both through RUN(...), and compares the
 * chosen outputs: ||cuda - cpu|| <= tol * ||cpu||, tol = 1e-5 with the
 * fp32_matmul backend (everything f32, TF32 off: only summation order
 * differs) and 1e-2 with bf16 storage (inputs are pre-rounded to bf16 on the
 * host so both sides see identical values; what remains is bf16 rounding of
 * outputs and intermediates, ~2^-9 relative each). Outputs of forward ops
 * are poisoned with NaN on both sides before the run, so an element the
 * kernel forgot to write stays NaN and fails; a NaN never passes. Every
 * cuda run is repeated from a restored snapshot and must give bit-identical
 * results (the backend promises deterministic reductions: no float atomics).
 */
#ifndef VLMC_TESTS_GPU_HARNESS_H
#define VLMC_TESTS_GPU_HARNESS_H

#include <stdint.h>

#include "kernels/ops.h"

#define GH_MAX_T 24

typedef enum { GI_RAND = 0, GI_POISON, GI_ZERO, GI_INTS, GI_HOST, GI_POS } GInit;

typedef struct GPair {
    Tensor *c, *g;      /* cpu, cuda */
    int64_t n;
    int is_int;
} GPair;

typedef struct GH {
    Backend *cpu, *gpu;
    int bf16;           /* the cuda side stores acts/params as bf16 */
    double tol;
    uint64_t rng;
    int quick;          /* first shape of each op only */
    const char *only;   /* comma-separated op filter or NULL */
    /* case in progress */
    char label[160];
    GPair t[GH_MAX_T];
    int nt;
    size_t mark_c[BUF__COUNT], mark_g[BUF__COUNT];
    void *snap[2][GH_MAX_T];  /* host copies of the cuda tensors (gh_save) */
    /* results */
    int failures, cases, nondet;
} GH;

/* selected op? (also prints nothing; cases return early when not) */
int gh_want(GH *h, const char *op);
/* starts a case: label like "rmsnorm N=37 C=96" */
void gh_begin(GH *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* adds a pair; dims as an array; returns its index. GI_INTS: uniform ints in
 * [lo, hi]; GI_HOST: from host (f32 or i32 by dt); GI_RAND: N(0,1) * lo scale
 * when lo != 0. */
int gh_add(GH *h, BufClass cls, DType dt, GInit init, int ndim, const int64_t *dims, double lo, double hi,
           const void *host);
/* compares output pair i, records the error under the current label */
void gh_check(GH *h, int i, const char *what);
/* the same with a stated tolerance (when a library's own approximation differs) */
void gh_check_tol(GH *h, int i, const char *what, double tol);
/* snapshot slot k of every cuda tensor of the case / restore it / check the
 * cuda tensors are bit-identical to slot k (a failure is counted) */
void gh_save(GH *h, int k);
void gh_load(GH *h, int k);
void gh_same_as_saved(GH *h, int k);
/* frees the case's tensors */
void gh_end(GH *h);
/* The runs: cpu (side 0), cuda (side 1), and cuda again (side 2) from the
 * same starting state, restored from a snapshot, whose results must be
 * bit-identical to side 1's (determinism). `be` and T(i) resolve per side. */
#define RUN(h, ...)                                             \
    do {                                                        \
        for (int side_ = 0; side_ < 3; side_++) {               \
            Backend *be = side_ ? (h)->gpu : (h)->cpu;          \
            (void)be;                                           \
            if (side_ == 1) gh_save(h, 0);                      \
            if (side_ == 2) { gh_save(h, 1); gh_load(h, 0); }   \
            __VA_ARGS__;                                        \
            if (side_ == 2) gh_same_as_saved(h, 1);             \
        }                                                       \
    } while (0)
#define T(h, i) (side_ ? (h)->t[i].g : (h)->t[i].c)
#define D(...) ((const int64_t[]){__VA_ARGS__})
#define ND(...) (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), D(__VA_ARGS__)

double gh_uniform(GH *h);

/* groups of cases (gpu_cases_a.c, gpu_cases_b.c) */
void gh_cases_a(GH *h);
void gh_cases_b(GH *h);
void gh_cases_internal(GH *h);  /* cuda-only helpers (gpu_cases_internal.c) */

#endif
