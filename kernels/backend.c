/* kernels/backend.c — backend-independent half of the op table: creation by
 * name, buffer-class arenas and tensor handles, views, and the op_* entry
 * points that dispatch into a backend's OpTable. */
#include "kernels/backend_impl.h"
#include "kernels/cpu/blas_core.h"
#include "kernels/op_profile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARENA_ALIGN 256   /* cuBLASLt and AVX-512 both like >= 64; 256 keeps views of slices aligned */

static const char *const compiled[] = {
    "cpu",
#ifdef VLMC_HAVE_CUDA
    "cuda",
#endif
    NULL};

const char *const *be_compiled(void) { return compiled; }

Backend *be_create(const BackendOptions *opt, VStatus *st) {
    const char *name = opt && opt->name ? opt->name : "cpu";
    if (strcmp(name, "cpu") == 0) return cpu_backend_create(opt, st);
    if (strcmp(name, "cuda") == 0) {
#ifdef VLMC_HAVE_CUDA
        return cuda_backend_create(opt, st);
#else
        vs_set(st, VS_EUNSUP, "backend 'cuda' was not compiled in (rebuild with -DVLMC_CUDA=ON)");
        return NULL;
#endif
    }
    vs_set(st, VS_EINVAL, "unknown backend '%s' (expected cpu or cuda)", name);
    return NULL;
}

void be_destroy(Backend *be) {
    if (!be) return;
    for (int c = 0; c < BUF__COUNT; c++) {
        Arena *a = &be->arena[c];
        for (size_t i = 0; i < a->nhandles; i++) free(a->handles[i]);
        free(a->handles);
        if (a->base) be->vt->raw_free(be, (BufClass)c, a->base, a->cap);
    }
    be->vt->destroy(be);
}

const char *be_name(const Backend *be) { return be->name; }
const OpTable *be_ops(const Backend *be) { return be->ops; }

const OpTable *be_table_for(const char *name) {
    if (strcmp(name, "cpu") == 0) return cpu_op_table();
#ifdef VLMC_HAVE_CUDA
    if (strcmp(name, "cuda") == 0) return cuda_op_table();
#endif
    return NULL;
}

void be_record_error(Backend *be, int code, const char *fmt, ...) {
    if (be->sticky.code) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->sticky.msg, sizeof be->sticky.msg, fmt, ap);
    va_end(ap);
    be->sticky.code = code;
}

int be_sync(Backend *be, VStatus *st) {
    int rc = be->vt->sync(be, st);
    if (rc) return rc;
    if (be->sticky.code) {
        rc = vs_set(st, be->sticky.code, "%s", be->sticky.msg);
        vs_clear(&be->sticky);
        return rc;
    }
    return 0;
}

size_t dt_size(DType dt) {
    static const size_t sz[DT__COUNT] = {4, 2, 2, 4, 8, 1};
    VLMC_ASSERT(dt >= 0 && dt < DT__COUNT, "dtype %d", (int)dt);
    return sz[dt];
}

const char *dt_name(DType dt) {
    static const char *const nm[DT__COUNT] = {"F32", "BF16", "F16", "I32", "I64", "U8"};
    return dt >= 0 && dt < DT__COUNT ? nm[dt] : "?";
}

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

int be_reserve(Backend *be, BufClass c, size_t bytes, VStatus *st) {
    Arena *a = &be->arena[c];
    if (a->used) VLMC_PANIC("be_reserve: class %d is not empty (%zu bytes in use)", (int)c, a->used);
    if (a->base) be->vt->raw_free(be, c, a->base, a->cap);
    a->base = NULL;
    a->cap = 0;
    a->peak = 0;
    bytes = align_up(bytes ? bytes : ARENA_ALIGN);
    a->base = be->vt->raw_alloc(be, c, bytes, st);
    if (!a->base) return st ? st->code : VS_ENOMEM;
    a->cap = bytes;
    return 0;
}

int be_must_reserve(const Backend *be, BufClass c) {
    return !be->vt->lazy_capacity || (be->opt.reserve_only && c != BUF_SCRATCH);
}

size_t be_capacity(const Backend *be, BufClass c) { return be->arena[c].cap; }
size_t be_used(const Backend *be, BufClass c) { return be->arena[c].used; }
size_t be_peak(const Backend *be, BufClass c) { return be->arena[c].peak; }
size_t be_mark(const Backend *be, BufClass c) { return be->arena[c].nhandles; }

static int64_t shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        VLMC_ASSERT(shape[i] >= 0, "negative dim %lld", (long long)shape[i]);
        n *= shape[i];
    }
    return n;
}

size_t be_bytes_for(const Backend *be, BufClass c, DType dt, int ndim, const int64_t *shape) {
    DType sdt = be->vt->storage_dtype(be, c, dt);
    return align_up((size_t)shape_numel(ndim, shape) * dt_size(sdt));
}

static Tensor *push_handle(Arena *a) {
    if (a->nhandles == a->handles_cap) {
        size_t ncap = a->handles_cap ? a->handles_cap * 2 : 256;
        Tensor **h = realloc(a->handles, ncap * sizeof *h);
        if (!h) VLMC_PANIC("out of host memory for tensor handles");
        a->handles = h;
        a->handles_cap = ncap;
    }
    Tensor *t = calloc(1, sizeof *t);
    if (!t) VLMC_PANIC("out of host memory for tensor handles");
    a->handles[a->nhandles++] = t;
    return t;
}

/* sdt: the storage type */
static Tensor *alloc_as(Backend *be, BufClass c, DType sdt, int ndim, const int64_t *shape, VStatus *st) {
    VLMC_ASSERT(ndim >= 1 && ndim <= VLMC_MAX_DIMS, "ndim %d", ndim);
    Arena *a = &be->arena[c];
    if (!a->base && !be_must_reserve(be, c)) {
        a->base = be->vt->raw_alloc(be, c, 0, st);
        if (!a->base) return NULL;
        a->cap = be->vt->lazy_capacity;
    }
    size_t bytes = align_up((size_t)shape_numel(ndim, shape) * dt_size(sdt));
    if (!a->base || a->used + bytes > a->cap) {
        static const char *const cls[BUF__COUNT] = {"params", "master", "grads", "optim", "acts", "scratch"};
        vs_set(st, VS_ENOMEM, "%s buffer of the %s backend is full: %zu bytes in use, %zu more asked, capacity %zu",
               cls[c], be->name, a->used, bytes, a->cap);
        return NULL;
    }
    Tensor *t = push_handle(a);
    t->dt = sdt;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = shape_numel(ndim, shape);
    t->data = a->base + a->used;
    t->cls = c;
    t->created_at = a->used;
    a->used += bytes;
    if (a->used > a->peak) a->peak = a->used;
    return t;
}

Tensor *be_alloc(Backend *be, BufClass c, DType dt, int ndim, const int64_t *shape, VStatus *st) {
    return alloc_as(be, c, be->vt->storage_dtype(be, c, dt), ndim, shape, st);
}

Tensor *be_alloc_f32(Backend *be, BufClass c, int ndim, const int64_t *shape, VStatus *st) {
    return alloc_as(be, c, DT_F32, ndim, shape, st);
}

void be_reset(Backend *be, BufClass c, size_t mark) {
    /* a mark is the handle count: every allocation makes a handle, and the first
     * handle made after the mark records the byte offset the arena had then */
    Arena *a = &be->arena[c];
    VLMC_ASSERT(mark <= a->nhandles, "reset to mark %zu beyond %zu handles", mark, a->nhandles);
    if (mark < a->nhandles) a->used = a->handles[mark]->created_at;
    while (a->nhandles > mark) free(a->handles[--a->nhandles]);
}

Tensor *t_view(Backend *be, Tensor *t, int64_t offset, int ndim, const int64_t *shape) {
    VLMC_ASSERT(ndim >= 1 && ndim <= VLMC_MAX_DIMS, "ndim %d", ndim);
    int64_t n = shape_numel(ndim, shape);
    if (offset < 0 || offset + n > t->numel)
        VLMC_PANIC("t_view: [%lld, %lld) outside a tensor of %lld elements", (long long)offset,
                   (long long)(offset + n), (long long)t->numel);
    Arena *a = &be->arena[t->cls];
    Tensor *v = push_handle(a);
    *v = *t;
    v->ndim = ndim;
    memcpy(v->shape, shape, (size_t)ndim * sizeof *shape);
    v->numel = n;
    v->data = (char *)t->data + (size_t)offset * dt_size(t->dt);
    v->created_at = a->used;
    return v;
}

int t_ndim(const Tensor *t) { return t->ndim; }
int64_t t_dim(const Tensor *t, int i) {
    if (i < 0) i += t->ndim;
    VLMC_ASSERT(i >= 0 && i < t->ndim, "dim %d of a %d-d tensor", i, t->ndim);
    return t->shape[i];
}
int64_t t_numel(const Tensor *t) { return t->numel; }
DType t_dtype(const Tensor *t) { return t->dt; }

void be_upload(Backend *be, Tensor *dst, const void *host) { be->vt->upload(be, dst, host); }
void be_download(Backend *be, const Tensor *src, void *host) { be->vt->download(be, src, host); }

static void shape_str(const Tensor *t, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (o < n) snprintf(buf + o, n - o, ")");
}

void be_check_numel(const char *op, const Tensor *t, int64_t numel, const char *what) {
    if (!t) VLMC_PANIC("%s: %s is NULL", op, what);
    if (t->numel != numel) {
        char s[128];
        shape_str(t, s, sizeof s);
        VLMC_PANIC("%s: %s has shape %s (%lld elements), expected %lld elements", op, what, s,
                   (long long)t->numel, (long long)numel);
    }
}

void be_check_dims(const char *op, const Tensor *t, int ndim, const int64_t *dims, const char *what) {
    if (!t) VLMC_PANIC("%s: %s is NULL", op, what);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = dims[i] < 0 || t->shape[i] == dims[i];
    if (!ok) {
        char s[128], e[128];
        size_t o = (size_t)snprintf(e, sizeof e, "(");
        for (int i = 0; i < ndim && o < sizeof e; i++)
            o += (size_t)snprintf(e + o, sizeof e - o, i ? ", %lld" : "%lld", (long long)dims[i]);
        if (o < sizeof e) snprintf(e + o, sizeof e - o, ")");
        shape_str(t, s, sizeof s);
        VLMC_PANIC("%s: %s has shape %s, expected %s (-1 = any)", op, what, s, e);
    }
}

/* ---- op dispatch --------------------------------------------------------- */

#define VLMC_OP_NAME(name, params, args) #name,
const char *const op_names[] = {VLMC_OPS(VLMC_OP_NAME)};
#undef VLMC_OP_NAME
const size_t op_count = sizeof op_names / sizeof op_names[0];

#define VLMC_OP_OFF(name, params, args) offsetof(OpTable, name),
static const size_t op_offsets[] = {VLMC_OPS(VLMC_OP_OFF)};
#undef VLMC_OP_OFF

void (*op_table_entry(const OpTable *t, size_t i))(void) {
    VLMC_ASSERT(i < op_count, "op index %zu", i);
    void (*fp)(void);
    memcpy(&fp, (const char *)t + op_offsets[i], sizeof fp);
    return fp;
}

/* ---- op profile (kernels/op_profile.h) ----------------------------------- */

#define VLMC_OP_ENUM(name, params, args) OPP_I_##name,
enum { VLMC_OPS(VLMC_OP_ENUM) OPP_NOPS };
#undef VLMC_OP_ENUM

typedef struct OppShape {
    int ta, tb;
    int64_t m, n, k, batch;
    long calls;
    double s;
} OppShape;

static struct {
    int on;              /* -1 undecided, 0 off, 1 on */
    long calls[OPP_NOPS];
    double s[OPP_NOPS];
    OppShape shape[OPP_MAX_SHAPES];
    int nshape;
    long shapes_dropped;
} opp = {.on = -1};

static double opp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void opp_atexit(void) {
    long calls = 0;
    for (size_t i = 0; i < op_count; i++) calls += opp.calls[i];
    if (calls) opp_report(stderr);
}

int opp_enabled(void) {
    if (opp.on < 0) {
        const char *e = getenv("VLMC_PROFILE_OPS");
        opp.on = e && *e && strcmp(e, "0") != 0;
        if (opp.on) atexit(opp_atexit);
    }
    return opp.on;
}

void opp_reset(void) {
    int on = opp.on;
    memset(&opp, 0, sizeof opp);
    opp.on = on;
}

static size_t opp_index(const char *op) {
    for (size_t i = 0; i < op_count; i++)
        if (!strcmp(op_names[i], op)) return i;
    VLMC_PANIC("op profile: unknown op '%s'", op);
}

long opp_calls(const char *op, double *seconds) {
    size_t i = opp_index(op);
    if (seconds) *seconds = opp.s[i];
    return opp.calls[i];
}

static void opp_matmul(const MatmulDesc *d, double s) {
    for (int i = 0; i < opp.nshape; i++) {
        OppShape *x = &opp.shape[i];
        if (x->ta == d->trans_a && x->tb == d->trans_b && x->m == d->m && x->n == d->n && x->k == d->k &&
            x->batch == d->batch) {
            x->calls++;
            x->s += s;
            return;
        }
    }
    if (opp.nshape == OPP_MAX_SHAPES) {
        opp.shapes_dropped++;
        return;
    }
    opp.shape[opp.nshape++] = (OppShape){d->trans_a, d->trans_b, d->m, d->n, d->k, d->batch, 1, s};
}

static int opp_cmp_op(const void *a, const void *b) {
    double x = opp.s[*(const size_t *)a], y = opp.s[*(const size_t *)b];
    return (x < y) - (x > y);
}
static int opp_cmp_shape(const void *a, const void *b) {
    double x = ((const OppShape *)a)->s, y = ((const OppShape *)b)->s;
    return (x < y) - (x > y);
}

void opp_report(FILE *f) {
    size_t order[OPP_NOPS];
    double total = 0;
    for (size_t i = 0; i < op_count; i++) {
        order[i] = i;
        total += opp.s[i];
    }
    qsort(order, op_count, sizeof order[0], opp_cmp_op);
    fprintf(f, "op profile (VLMC_PROFILE_OPS): %.3f s in ops\n", total);
    fprintf(f, "  %-24s %10s %6s %10s %10s\n", "op", "seconds", "%", "calls", "us/call");
    for (size_t j = 0; j < op_count; j++) {
        size_t i = order[j];
        if (!opp.calls[i]) continue;
        fprintf(f, "  %-24s %10.3f %6.1f %10ld %10.1f\n", op_names[i], opp.s[i], total > 0 ? 100 * opp.s[i] / total : 0,
                opp.calls[i], 1e6 * opp.s[i] / (double)opp.calls[i]);
    }
    OppShape sh[OPP_MAX_SHAPES];
    memcpy(sh, opp.shape, (size_t)opp.nshape * sizeof sh[0]);
    qsort(sh, (size_t)opp.nshape, sizeof sh[0], opp_cmp_shape);
    if (opp.nshape) fprintf(f, "  matmul shapes (op(A) m x k, op(B) k x n; T = transposed):\n");
    for (int i = 0; i < opp.nshape; i++) {
        double flop = 2.0 * (double)sh[i].m * (double)sh[i].n * (double)sh[i].k * (double)sh[i].batch * (double)sh[i].calls;
        fprintf(f, "    %c%c m %6lld n %6lld k %6lld batch %4lld %10.3f s %8ld calls %8.1f GFLOP/s\n",
                sh[i].ta ? 'T' : 'N', sh[i].tb ? 'T' : 'N', (long long)sh[i].m, (long long)sh[i].n,
                (long long)sh[i].k, (long long)sh[i].batch, sh[i].s, sh[i].calls,
                sh[i].s > 0 ? 1e-9 * flop / sh[i].s : 0);
    }
    if (opp.shapes_dropped) fprintf(f, "    (%ld matmuls of further shapes not listed)\n", opp.shapes_dropped);
}

/* Records op i's time; every op's arguments follow (be first), so matmul's
 * descriptor is the second and gives the shape. */
static void opp_after(size_t i, double dt, Backend *be, ...) {
    (void)be;
    opp.calls[i]++;
    opp.s[i] += dt;
    if (i != OPP_I_matmul) return;
    va_list ap;
    va_start(ap, be);
    const MatmulDesc *d = va_arg(ap, const MatmulDesc *);
    va_end(ap);
    opp_matmul(d, dt);
}
#define OPP_AFTER(...) opp_after(i_, dt, __VA_ARGS__)

#define VLMC_OP_DEF(opname, params, args)                                                  \
    void op_##opname params {                                                             \
        if (!be->ops->opname)                                                             \
            VLMC_PANIC("op " #opname " is not implemented by the %s backend", be->name);  \
        if (__builtin_expect(opp.on == 0, 1)) {                                           \
            be->ops->opname args;                                                         \
            return;                                                                       \
        }                                                                                 \
        if (!opp_enabled()) {                                                             \
            be->ops->opname args;                                                         \
            return;                                                                       \
        }                                                                                 \
        double t0 = opp_now();                                                            \
        be->ops->opname args;                                                             \
        VStatus st_ = {0}; /* async backends: wait, so the time is the op's own */       \
        if (be->vt->sync(be, &st_)) be_record_error(be, st_.code, "%s", st_.msg);         \
        double dt = opp_now() - t0;                                                       \
        const size_t i_ = OPP_I_##opname;                                                 \
        OPP_AFTER args;                                                                   \
    }
VLMC_OPS(VLMC_OP_DEF)
#undef VLMC_OP_DEF

void be_print_build_info(FILE *f) {
    fprintf(f, "backends: cpu");
#ifdef VLMC_HAVE_CUDA
    fprintf(f, ", cuda");
#endif
#ifdef VLMC_HAVE_MPI
    fprintf(f, ", mpi");
#endif
#ifdef VLMC_HAVE_CUDA
    fprintf(f, ", nccl");
#endif
    fprintf(f, "\n");
    blas_core_describe(f);
#ifdef VLMC_HAVE_CUDA
    cuda_print_build_info(f);
#endif
}
