/* tests/gpu/gpu_parity.c — runs every op on the cpu and cuda backends and
 * compares them (see gpu_harness.h for tolerances and poisoning).
 *
 * usage: gpu_parity [--mode fp32|bf16|both] [--quick] [--only op1,op2] [--cpu-vs-cpu]
 * --cpu-vs-cpu puts a second cpu backend in cuda's place: a dry run of every
 * case's shapes and arguments on a machine without a GPU (errors must be 0).
 * Prints one line per case and a per-op table of the largest relative error;
 * exits 0 when every case passed, 1 otherwise, 77 when no GPU is present.
 */
#include "tests/gpu/gpu_harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 64
static struct { char op[48]; double worst[2]; int fails[2], runs[2]; } table[MAX_OPS];
static int ntable;
static int cur_mode;

static uint64_t next_u64(GH *h) {
    h->rng ^= h->rng << 13;
    h->rng ^= h->rng >> 7;
    h->rng ^= h->rng << 17;
    return h->rng;
}
double gh_uniform(GH *h) { return (double)(next_u64(h) >> 11) / 9007199254740992.0; }
static double normal(GH *h) {
    double u = gh_uniform(h), v = gh_uniform(h);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}
/* bf16 round-trip on the host (nearest even), so both sides see equal inputs */
static float round_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return f;
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

int gh_want(GH *h, const char *op) {
    if (!h->only) return 1;
    size_t n = strlen(op);
    for (const char *p = h->only; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, op, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

void gh_begin(GH *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->label, sizeof h->label, fmt, ap);
    va_end(ap);
    h->nt = 0;
    for (int c = 0; c < BUF__COUNT; c++) {
        h->mark_c[c] = be_mark(h->cpu, (BufClass)c);
        h->mark_g[c] = be_mark(h->gpu, (BufClass)c);
    }
}

void gh_save(GH *h, int k) {
    for (int i = 0; i < h->nt; i++) {
        size_t n = (size_t)h->t[i].n;
        free(h->snap[k][i]);
        h->snap[k][i] = malloc((n ? n : 1) * 4);
        be_download(h->gpu, h->t[i].g, h->snap[k][i]);
    }
}

void gh_load(GH *h, int k) {
    for (int i = 0; i < h->nt; i++) be_upload(h->gpu, h->t[i].g, h->snap[k][i]);
}

void gh_same_as_saved(GH *h, int k) {
    for (int i = 0; i < h->nt; i++) {
        size_t n = (size_t)h->t[i].n;
        void *now = malloc((n ? n : 1) * 4);
        be_download(h->gpu, h->t[i].g, now);
        if (memcmp(now, h->snap[k][i], n * 4) != 0) {
            printf("FAIL %-5s %-60s tensor %d differs between two identical cuda runs (not deterministic)\n",
                   h->bf16 ? "bf16" : "fp32", h->label, i);
            h->failures++;
            h->nondet++;
        }
        free(now);
    }
}

void gh_end(GH *h) {
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < GH_MAX_T; i++) {
            free(h->snap[k][i]);
            h->snap[k][i] = NULL;
        }
    for (int c = 0; c < BUF__COUNT; c++) {
        be_reset(h->cpu, (BufClass)c, h->mark_c[c]);
        be_reset(h->gpu, (BufClass)c, h->mark_g[c]);
    }
    h->nt = 0;
}

static Tensor *alloc_or_die(Backend *be, BufClass cls, DType dt, int ndim, const int64_t *dims) {
    VStatus st = {0};
    Tensor *t = be_alloc(be, cls, dt, ndim, dims, &st);
    if (!t) {
        fprintf(stderr, "gpu_parity: %s\n", st.msg);
        exit(2);
    }
    return t;
}

int gh_add(GH *h, BufClass cls, DType dt, GInit init, int ndim, const int64_t *dims, double lo, double hi,
           const void *host) {
    if (h->nt >= GH_MAX_T) {
        fprintf(stderr, "gpu_parity: too many tensors in case %s\n", h->label);
        exit(2);
    }
    GPair *p = &h->t[h->nt];
    p->c = alloc_or_die(h->cpu, cls, dt, ndim, dims);
    p->g = alloc_or_die(h->gpu, cls, dt, ndim, dims);
    p->n = t_numel(p->c);
    p->is_int = dt == DT_I32;
    size_t n = (size_t)p->n ? (size_t)p->n : 1;
    if (p->is_int) {
        int32_t *v = malloc(n * sizeof *v);
        for (size_t i = 0; i < (size_t)p->n; i++)
            v[i] = init == GI_HOST ? ((const int32_t *)host)[i]
                   : init == GI_INTS ? (int32_t)(lo + floor(gh_uniform(h) * (hi - lo + 1)))
                                     : 0;
        be_upload(h->cpu, p->c, v);
        be_upload(h->gpu, p->g, v);
        free(v);
    } else {
        float *v = malloc(n * sizeof *v);
        for (size_t i = 0; i < (size_t)p->n; i++) {
            float x = 0.f;
            switch (init) {
            case GI_RAND: x = (float)(normal(h) * (lo != 0 ? lo : 1.0)); break;
            case GI_POS: x = (float)(lo + (hi - lo) * gh_uniform(h)); break;
            case GI_POISON: x = NAN; break;
            case GI_HOST: x = ((const float *)host)[i]; break;
            case GI_INTS: x = (float)(lo + floor(gh_uniform(h) * (hi - lo + 1))); break;
            default: break;
            }
            v[i] = h->bf16 ? round_bf16(x) : x;
        }
        be_upload(h->cpu, p->c, v);
        be_upload(h->gpu, p->g, v);
        free(v);
    }
    return h->nt++;
}

static int table_row(const char *label) {
    char op[48];
    size_t n = strcspn(label, " ");
    if (n >= sizeof op) n = sizeof op - 1;
    memcpy(op, label, n);
    op[n] = 0;
    for (int i = 0; i < ntable; i++)
        if (strcmp(table[i].op, op) == 0) return i;
    if (ntable == MAX_OPS) return MAX_OPS - 1;
    snprintf(table[ntable].op, sizeof table[ntable].op, "%s", op);
    return ntable++;
}

void gh_check(GH *h, int i, const char *what) { gh_check_tol(h, i, what, h->tol); }

void gh_check_tol(GH *h, int i, const char *what, double tol) {
    GPair *p = &h->t[i];
    VStatus st = {0};
    size_t n = (size_t)p->n;
    double err;
    const char *why = "";
    if (p->is_int) {
        int32_t *a = malloc((n ? n : 1) * 4), *b = malloc((n ? n : 1) * 4);
        be_download(h->gpu, p->g, a);
        be_download(h->cpu, p->c, b);
        size_t bad = 0;
        for (size_t k = 0; k < n; k++) bad += a[k] != b[k];
        err = bad ? 1.0 : 0.0;
        free(a);
        free(b);
    } else {
        float *a = malloc((n ? n : 1) * 4), *b = malloc((n ? n : 1) * 4);
        be_download(h->gpu, p->g, a);
        be_download(h->cpu, p->c, b);
        double num = 0, den = 0;
        int nan_a = 0, nan_b = 0;
        for (size_t k = 0; k < n; k++) {
            if (isnan(a[k]) || isinf(a[k])) nan_a = 1;
            if (isnan(b[k]) || isinf(b[k])) nan_b = 1;
            double d = (double)a[k] - (double)b[k];
            num += d * d;
            den += (double)b[k] * b[k];
        }
        err = den > 0 ? sqrt(num / den) : sqrt(num);
        if (nan_b) { err = INFINITY; why = " (cpu reference has NaN/inf: unwritten output?)"; }
        if (nan_a) { err = INFINITY; why = " (cuda has NaN/inf: unwritten or broken output)"; }
        free(a);
        free(b);
    }
    if (be_sync(h->gpu, &st)) {
        err = INFINITY;
        fprintf(stdout, "  cuda error: %s\n", st.msg);
    }
    int ok = err <= tol;  /* NaN compares false: never passes */
    int r = table_row(h->label);
    if (!(err <= table[r].worst[cur_mode]) && !isnan(table[r].worst[cur_mode])) table[r].worst[cur_mode] = err;
    table[r].runs[cur_mode]++;
    h->cases++;
    if (!ok) {
        table[r].fails[cur_mode]++;
        h->failures++;
    }
    printf("%-4s %-5s %-60s %-8s rel %.3e%s\n", ok ? "ok" : "FAIL", h->bf16 ? "bf16" : "fp32", h->label, what, err, why);
    fflush(stdout);
}

static Backend *make(const char *name, int fp32, VStatus *st) {
    BackendOptions o = {.name = name, .device = 0, .threads = 0, .fp32_matmul = fp32};
    return be_create(&o, st);
}

int main(int argc, char **argv) {
    GH h;
    memset(&h, 0, sizeof h);
    const char *mode = "both";
    int self = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) h.quick = 1;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) h.only = argv[++i];
        else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) mode = argv[++i];
        else if (strcmp(argv[i], "--cpu-vs-cpu") == 0) self = 1;
        else {
            fprintf(stderr, "usage: gpu_parity [--mode fp32|bf16|both] [--quick] [--only op1,op2] [--cpu-vs-cpu]\n");
            return 2;
        }
    }
    VStatus st = {0};
    h.cpu = make("cpu", 0, &st);
    if (!h.cpu) { fprintf(stderr, "gpu_parity: %s\n", st.msg); return 2; }
    for (int m = 0; m < 2; m++) {
        if ((m == 0 && strcmp(mode, "bf16") == 0) || (m == 1 && strcmp(mode, "fp32") == 0)) continue;
        cur_mode = m;
        h.bf16 = m == 1;
        h.tol = h.bf16 ? 1e-2 : 1e-5;
        h.rng = 0x9e3779b97f4a7c15ull;
        h.gpu = make(self ? "cpu" : "cuda", !h.bf16, &st);
        if (!h.gpu) {
            fprintf(stderr, "gpu_parity: %s\n", st.msg);
            return 77;
        }
        for (int c = 0; c < BUF__COUNT; c++)
            if (be_reserve(h.gpu, (BufClass)c, (size_t)256 << 20, &st)) {
                fprintf(stderr, "gpu_parity: %s\n", st.msg);
                return 2;
            }
        gh_cases_a(&h);
        gh_cases_b(&h);
        gh_cases_internal(&h);
        be_destroy(h.gpu);
        h.gpu = NULL;
    }
    be_destroy(h.cpu);
    printf("\n%-24s %12s %6s %12s %6s\n", "op", "fp32 worst", "fails", "bf16 worst", "fails");
    for (int i = 0; i < ntable; i++)
        printf("%-24s %12.3e %3d/%-3d %12.3e %3d/%-3d\n", table[i].op, table[i].worst[0], table[i].fails[0],
               table[i].runs[0], table[i].worst[1], table[i].fails[1], table[i].runs[1]);
    printf("\n%d checks, %d failed (tolerance: fp32 1e-5, bf16 1e-2 relative L2); %d outputs not bit-identical across "
           "two cuda runs\n", h.cases, h.failures, h.nondet);
    return h.failures ? 1 : 0;
}
