/* tests/bench/bench_ops.c — times the CPU backend's ops at the sizes of a
 * 135M-parameter LLM (T=512, C=576, V=49152, 9 query heads / 3 kv heads of
 * 64, MLP 1536), plus causal attention over packed rows (documents of
 * 20-120 tokens, segment ids as the loader writes them), RoPE on q and k of
 * packed rows (documents of 128 tokens) and one AdamW step on 8M parameters. A benchmark program, not a
 * test: tests/bench/ops runs it beside bench_ops_torch.py and prints the
 * ratios.
 *
 * Usage: bench_ops [--batch B] [--reps R] [--only NAME] [--clock wall|cpu]
 * --clock cpu times process CPU time instead of wall time: steadier on a
 * shared machine, but only meaningful with one thread (idle OpenMP threads
 * spin and would be counted).
 * Threads come from OMP_NUM_THREADS (OpenBLAS here is the OpenMP build, so
 * BLAS and our loops share one pool). Output, one line per measurement:
 *   CONFIG key value...
 *   RESULT name median_ms min_ms
 *   MEMORY name bytes
 * Inputs are random (fixed seed); each measurement runs 2 warm-up
 * iterations, then R timed ones; the median is reported.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/ops.h"

enum { T = 512, C = 576, F = 1536, V = 49152, HQ = 9, HKV = 3, HD = 64 };
/* cross-entropy rows per chunk: N / 9 rounded up keeps the (chunk, V) buffer
 * at ~1/9 of the full logits, under the 1/8 target with room for the small
 * (chunk, C) buffers */
static int64_t g_xent_chunk;

static clockid_t g_clock = CLOCK_MONOTONIC;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*BenchFn)(void *ctx);

static const char *g_only;
static int g_reps = 10;

static void bench(const char *name, BenchFn fn, void *ctx, int reps) {
    if (g_only && !strstr(name, g_only)) return;
    double t[64];
    if (reps > 64) reps = 64;
    for (int i = 0; i < 2; i++) fn(ctx);
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        fn(ctx);
        t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_d);
    printf("RESULT %s %.3f %.3f\n", name, t[reps / 2], t[0]);
    fflush(stdout);
}

static Backend *g_be;
static unsigned long long g_seed = 88172645463325252ull;
static float frand(void) {  /* xorshift64, uniform in [-1, 1) */
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 7;
    g_seed ^= g_seed << 17;
    return (float)((g_seed >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static Tensor *rand_tensor(int ndim, const int64_t *shape, float amp) {
    VStatus st = {0};
    Tensor *t = be_alloc(g_be, BUF_ACTS, DT_F32, ndim, shape, &st);
    if (!t) {
        fprintf(stderr, "bench_ops: %s\n", st.msg);
        exit(1);
    }
    size_t n = (size_t)t_numel(t);
    float *h = malloc(n * sizeof *h);
    if (!h) exit(1);
    for (size_t i = 0; i < n; i++) h[i] = amp * frand();
    be_upload(g_be, t, h);
    free(h);
    return t;
}

/* ---- matmul: a Linear (N, C) -> (N, F), weight (F, C), like the MLP up-projection */
typedef struct MM { Tensor *x, *w, *y, *dy, *dx, *dw; int64_t N; } MM;
static void mm_fwd(void *p) {
    MM *m = p;
    MatmulDesc d = {.trans_b = 1, .m = m->N, .n = F, .k = C, .batch = 1, .alpha = 1, .beta = 0};
    op_matmul(g_be, &d, m->y, m->x, m->w, NULL);
}
static void mm_fwd_bwd(void *p) {
    MM *m = p;
    mm_fwd(p);
    MatmulDesc dx = {.m = m->N, .n = C, .k = F, .batch = 1, .alpha = 1, .beta = 1};           /* dx += dy w */
    op_matmul(g_be, &dx, m->dx, m->dy, m->w, NULL);
    MatmulDesc dw = {.trans_a = 1, .m = F, .n = C, .k = m->N, .batch = 1, .alpha = 1, .beta = 1}; /* dw += dy^T x */
    op_matmul(g_be, &dw, m->dw, m->dy, m->x, NULL);
}

/* ---- attention: causal self-attention, GQA 9 / 3 heads of 64 */
typedef struct AT { AttnDesc d; Tensor *q, *k, *v, *o, *lse, *dout, *dq, *dk, *dv; } AT;
static void at_fwd(void *p) {
    AT *a = p;
    op_attention(g_be, &a->d, a->o, a->lse, a->q, a->k, a->v, NULL, NULL);
}
static void at_fwd_bwd(void *p) {
    AT *a = p;
    at_fwd(p);
    op_attention_backward(g_be, &a->d, a->dq, a->dk, a->dv, a->dout, a->o, a->lse, a->q, a->k, a->v, NULL, NULL);
}

/* ---- the same attention over packed documents (q_seg = k_seg) */
typedef struct ATP { AT at; Tensor *seg; } ATP;
static void atp_fwd_bwd(void *p) {
    ATP *a = p;
    op_attention(g_be, &a->at.d, a->at.o, a->at.lse, a->at.q, a->at.k, a->at.v, a->seg, a->seg);
    op_attention_backward(g_be, &a->at.d, a->at.dq, a->at.dk, a->at.dv, a->at.dout, a->at.o, a->at.lse, a->at.q,
                          a->at.k, a->at.v, a->seg, a->seg);
}

/* Document lengths of the packed-attention case: 20-120 tokens from a fixed
 * sequence, the last one cut at the row end (bench_ops_torch.py uses the same). */
static void packed_segments(int32_t *seg, int64_t B) {
    unsigned x = 12345;
    for (int64_t b = 0; b < B; b++) {
        int32_t s = 0;
        for (int64_t t = 0; t < T; s++) {
            x = x * 1103515245u + 12345u;
            int64_t len = 20 + (x >> 16) % 101;
            for (int64_t k = 0; k < len && t < T; k++, t++) seg[b * T + t] = s;
        }
    }
}

/* ---- rmsnorm over C */
typedef struct RN { Tensor *x, *w, *y, *rstd, *dy, *dx, *dw; } RN;
static void rn_fwd(void *p) {
    RN *r = p;
    op_rmsnorm(g_be, r->y, NULL, r->rstd, r->x, NULL, r->w, 1e-5f);
}
static void rn_fwd_bwd(void *p) {
    RN *r = p;
    rn_fwd(p);
    op_rmsnorm_backward(g_be, r->dx, r->dw, r->dy, r->x, r->w, r->rstd);
}

/* ---- classifier + cross-entropy, chunked over rows */
typedef struct XE { Tensor *x, *w, *tg, *wt, *logp, *dx, *dw; } XE;
static void xe_fwd(void *p) {
    XE *e = p;
    op_xent(g_be, e->logp, NULL, NULL, e->x, e->w, e->tg, NULL, g_xent_chunk);
}
static void xe_fwd_bwd(void *p) {
    XE *e = p;
    op_xent(g_be, e->logp, e->dx, e->dw, e->x, e->w, e->tg, e->wt, g_xent_chunk);
}

/* ---- rope on q and k, forward and backward, positions restarting every 128 tokens */
typedef struct RP { RopeDesc d; Tensor *q, *k, *pos, *dq, *dk; } RP;
static void rp_fwd_bwd(void *p) {
    RP *r = p;
    op_rope(g_be, r->q, r->q, r->pos, &r->d);
    op_rope(g_be, r->k, r->k, r->pos, &r->d);
    op_rope_backward(g_be, r->dq, r->q, r->pos, &r->d);
    op_rope_backward(g_be, r->dk, r->k, r->pos, &r->d);
}

/* ---- one AdamW step on a flat parameter */
enum { ADAMW_N = 8 << 20 };
typedef struct AW { Tensor *p, *g, *m, *v; int64_t step; } AW;
static void aw_step(void *p) {
    AW *a = p;
    AdamWDesc d = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, ++a->step, 1.0f};
    op_adamw(g_be, &d, a->p, NULL, a->g, a->m, a->v, NULL);
}

int main(int argc, char **argv) {
    int64_t B = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) g_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) g_only = argv[++i];
        else if (!strcmp(argv[i], "--clock") && i + 1 < argc && !strcmp(argv[i + 1], "cpu")) {
            g_clock = CLOCK_PROCESS_CPUTIME_ID;
            i++;
        } else if (!strcmp(argv[i], "--clock") && i + 1 < argc && !strcmp(argv[i + 1], "wall"))
            i++;
        else {
            fprintf(stderr, "usage: bench_ops [--batch B] [--reps R] [--only NAME] [--clock wall|cpu]\n");
            return 2;
        }
    }
    if (B < 1 || B > 64 || g_reps < 1) {
        fprintf(stderr, "bench_ops: --batch must be in [1, 64] and --reps >= 1\n");
        return 2;
    }
    VStatus st = {0};
    BackendOptions bo = {.name = "cpu"};
    g_be = be_create(&bo, &st);
    if (!g_be) {
        fprintf(stderr, "bench_ops: %s\n", st.msg);
        return 1;
    }
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("CONFIG blas OpenBLAS %s\n", openblas_get_config());
    printf("CONFIG blas_core %s (OPENBLAS_CORETYPE=%s)\n", openblas_get_corename(), ct ? ct : "unset");
    printf("CONFIG clock %s\n", g_clock == CLOCK_MONOTONIC ? "wall" : "process-cpu");
    printf("CONFIG threads omp_get_max_threads=%d openblas_get_num_threads=%d\n", omp_get_max_threads(),
           openblas_get_num_threads());
    const int64_t N = B * T;
    g_xent_chunk = (N + 8) / 9;
    printf("CONFIG sizes B=%lld T=%d C=%d F=%d V=%d heads=%d kv_heads=%d head_dim=%d xent_chunk=%lld\n",
           (long long)B, T, C, F, V, HQ, HKV, HD, (long long)g_xent_chunk);

    MM mm = {.N = N};
    int64_t xs[2] = {N, C}, ws[2] = {F, C}, ys[2] = {N, F};
    mm.x = rand_tensor(2, xs, 1);
    mm.w = rand_tensor(2, ws, 0.04f);
    mm.y = rand_tensor(2, ys, 0);
    mm.dy = rand_tensor(2, ys, 1);
    mm.dx = rand_tensor(2, xs, 0);
    mm.dw = rand_tensor(2, ws, 0);
    bench("matmul_fwd", mm_fwd, &mm, g_reps);
    bench("matmul_fwd_bwd", mm_fwd_bwd, &mm, g_reps);

    AT at = {.d = {B, T, T, HQ, HKV, HD, 1, 1.0f / 8.0f}};
    int64_t qs[4] = {B, T, HQ, HD}, ks[4] = {B, T, HKV, HD}, ls[3] = {B, HQ, T};
    at.q = rand_tensor(4, qs, 1);
    at.k = rand_tensor(4, ks, 1);
    at.v = rand_tensor(4, ks, 1);
    at.o = rand_tensor(4, qs, 0);
    at.lse = rand_tensor(3, ls, 0);
    at.dout = rand_tensor(4, qs, 1);
    at.dq = rand_tensor(4, qs, 0);
    at.dk = rand_tensor(4, ks, 0);
    at.dv = rand_tensor(4, ks, 0);
    bench("attention_fwd", at_fwd, &at, g_reps);
    bench("attention_fwd_bwd", at_fwd_bwd, &at, g_reps);
    ATP atp = {.at = at};
    {
        int64_t ss[1] = {B * T};
        int32_t *seg = malloc((size_t)(B * T) * sizeof *seg);
        if (!seg) return 1;
        packed_segments(seg, B);
        atp.seg = be_alloc(g_be, BUF_ACTS, DT_I32, 1, ss, &st);
        if (!atp.seg) return 1;
        be_upload(g_be, atp.seg, seg);
        free(seg);
    }
    bench("attention_packed_fwd_bwd", atp_fwd_bwd, &atp, g_reps);

    RN rn;
    int64_t cs[1] = {C}, ns[1] = {N};
    rn.x = rand_tensor(2, xs, 1);
    rn.w = rand_tensor(1, cs, 1);
    rn.y = rand_tensor(2, xs, 0);
    rn.rstd = rand_tensor(1, ns, 0);
    rn.dy = rand_tensor(2, xs, 1);
    rn.dx = rand_tensor(2, xs, 0);
    rn.dw = rand_tensor(1, cs, 0);
    bench("rmsnorm_fwd", rn_fwd, &rn, g_reps * 5);
    bench("rmsnorm_fwd_bwd", rn_fwd_bwd, &rn, g_reps * 5);

    RP rp = {.d = {.theta = 10000.0f, .rot_dim = HD}};
    int64_t rqs[3] = {N, HQ, HD}, rks[3] = {N, HKV, HD};
    rp.q = rand_tensor(3, rqs, 1);
    rp.k = rand_tensor(3, rks, 1);
    rp.dq = rand_tensor(3, rqs, 0);
    rp.dk = rand_tensor(3, rks, 0);
    {
        int32_t *pos = malloc((size_t)N * sizeof *pos);
        if (!pos) return 1;
        for (int64_t i = 0; i < N; i++) pos[i] = (int32_t)(i % 128);
        rp.pos = be_alloc(g_be, BUF_ACTS, DT_I32, 1, ns, &st);
        if (!rp.pos) return 1;
        be_upload(g_be, rp.pos, pos);
        free(pos);
    }
    bench("rope_fwd_bwd", rp_fwd_bwd, &rp, g_reps * 5);

    AW aw = {0};
    int64_t as[1] = {ADAMW_N};
    aw.p = rand_tensor(1, as, 0.05f);
    aw.g = rand_tensor(1, as, 0.01f);
    aw.m = rand_tensor(1, as, 0);
    aw.v = rand_tensor(1, as, 0);
    bench("adamw_8M", aw_step, &aw, g_reps);

    XE xe;
    int64_t vs[2] = {V, C};
    xe.x = rand_tensor(2, xs, 1);
    xe.w = rand_tensor(2, vs, 0.04f);
    xe.wt = rand_tensor(1, ns, 0);
    xe.logp = rand_tensor(1, ns, 0);
    xe.dx = rand_tensor(2, xs, 0);
    xe.dw = rand_tensor(2, vs, 0);
    {
        float *wt = malloc((size_t)N * sizeof *wt);
        int32_t *tg = malloc((size_t)N * sizeof *tg);
        if (!wt || !tg) return 1;
        for (int64_t i = 0; i < N; i++) {
            tg[i] = (int32_t)(((unsigned)(i * 2654435761u)) % V);
            wt[i] = 1.0f;
        }
        xe.tg = be_alloc(g_be, BUF_ACTS, DT_I32, 1, ns, &st);
        if (!xe.tg) return 1;
        be_upload(g_be, xe.tg, tg);
        be_upload(g_be, xe.wt, wt);
        free(wt);
        free(tg);
    }
    int xreps = g_reps / 2 > 3 ? g_reps / 2 : 3;
    /* the scratch class is empty between ops: re-reserving it (address space
     * only on the CPU) zeroes its high-water mark, so the peak below is the
     * cross-entropy's own workspace */
    if (be_reserve(g_be, BUF_SCRATCH, (size_t)1 << 32, &st)) {
        fprintf(stderr, "bench_ops: %s\n", st.msg);
        return 1;
    }
    bench("xent_fwd", xe_fwd, &xe, xreps);
    bench("xent_fwd_bwd", xe_fwd_bwd, &xe, xreps);
    if (!g_only || strstr("xent", g_only) || strstr(g_only, "xent")) {
        printf("MEMORY xent_workspace %zu\n", be_peak(g_be, BUF_SCRATCH));
        printf("MEMORY full_logits %zu\n", (size_t)N * V * sizeof(float));
    }
    if (be_sync(g_be, &st)) {
        fprintf(stderr, "bench_ops: %s\n", st.msg);
        return 1;
    }
    be_destroy(g_be);
    return 0;
}
