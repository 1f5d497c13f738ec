/* kernels/cpu/cpu_backend.c — the CPU backend: host memory, the op table.
 *
 * Buffer classes reserve address space lazily (mmap MAP_NORESERVE): one
 * mapping per class, pages committed as they are touched, so a run needs no
 * size planning on the CPU while keeping "one allocation per buffer class". */
#include "kernels/cpu/cpu_ops.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CPU_LAZY_BYTES ((size_t)1 << 38) /* 256 GiB of address space per class */

static void *cpu_raw_alloc(Backend *be, BufClass c, size_t bytes, VStatus *st) {
    (void)be;
    size_t n = bytes ? bytes : CPU_LAZY_BYTES;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        vs_set(st, VS_ENOMEM, "cpu backend: cannot map %zu bytes for buffer class %d", n, (int)c);
        return NULL;
    }
    return p;
}

static void cpu_raw_free(Backend *be, BufClass c, void *p, size_t bytes) {
    (void)be; (void)c;
    munmap(p, bytes ? bytes : CPU_LAZY_BYTES);
}

static void cpu_upload(Backend *be, Tensor *dst, const void *host) {
    (void)be;
    memcpy(dst->data, host, (size_t)dst->numel * dt_size(dst->dt));
}

static void cpu_download(Backend *be, const Tensor *src, void *host) {
    (void)be;
    memcpy(host, src->data, (size_t)src->numel * dt_size(src->dt));
}

static int cpu_sync(Backend *be, VStatus *st) { (void)be; (void)st; return 0; }
static void cpu_destroy(Backend *be) { free(be); }
static DType cpu_storage_dtype(const Backend *be, BufClass c, DType dt) { (void)be; (void)c; return dt; }

static const BackendVtbl cpu_vtbl = {
    .raw_alloc = cpu_raw_alloc,
    .raw_free = cpu_raw_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .sync = cpu_sync,
    .destroy = cpu_destroy,
    .storage_dtype = cpu_storage_dtype,
    .lazy_capacity = CPU_LAZY_BYTES,
};

static OpTable cpu_table;

static void cpu_table_init(void) {
    cpu_register_group_a(&cpu_table);
    cpu_register_group_b(&cpu_table);
}

const OpTable *cpu_op_table(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cpu_table_init);
    return &cpu_table;
}

Backend *cpu_backend_create(const BackendOptions *opt, VStatus *st) {
    (void)st;
    Backend *be = calloc(1, sizeof *be);
    if (!be) { vs_set(st, VS_ENOMEM, "cpu backend: out of memory"); return NULL; }
    be->name = "cpu";
    be->ops = cpu_op_table();
    be->vt = &cpu_vtbl;
    if (opt) be->opt = *opt;
    if (opt && opt->threads > 0) omp_set_num_threads(opt->threads);
    return be;
}

float *cpu_f32(const Tensor *t, const char *op) {
    if (!t) VLMC_PANIC("%s: NULL tensor", op);
    if (t->dt != DT_F32) VLMC_PANIC("%s: expected an F32 tensor, got %s", op, dt_name(t->dt));
    return (float *)t->data;
}

int32_t *cpu_i32(const Tensor *t, const char *op) {
    if (!t) VLMC_PANIC("%s: NULL tensor", op);
    if (t->dt != DT_I32) VLMC_PANIC("%s: expected an I32 tensor, got %s", op, dt_name(t->dt));
    return (int32_t *)t->data;
}
