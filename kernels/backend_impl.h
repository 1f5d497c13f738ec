/* kernels/backend_impl.h — what every backend shares, private to kernels/.
 *
 * struct Tensor and struct Backend are defined here and nowhere above
 * kernels/. A backend supplies a BackendVtbl (raw memory and transfers) and an
 * OpTable; backend.c does the arenas, handles, views and op dispatch once.
 */
#ifndef VLMC_KERNELS_BACKEND_IMPL_H
#define VLMC_KERNELS_BACKEND_IMPL_H

#include "kernels/ops.h"

struct Tensor {
    DType dt;            /* storage type (cuda float acts: DT_BF16) */
    int ndim;
    int64_t shape[VLMC_MAX_DIMS];
    int64_t numel;
    void *data;          /* host pointer (cpu) or device pointer (cuda) */
    BufClass cls;
    size_t created_at;   /* arena offset when the handle was made (for be_reset) */
};

typedef struct BackendVtbl {
    /* raw storage for a buffer class; cpu may be called with bytes = 0 meaning
     * "reserve address space lazily" */
    void *(*raw_alloc)(Backend *be, BufClass c, size_t bytes, VStatus *st);
    void (*raw_free)(Backend *be, BufClass c, void *p, size_t bytes);
    void (*upload)(Backend *be, Tensor *dst, const void *host);
    void (*download)(Backend *be, const Tensor *src, void *host);
    int (*sync)(Backend *be, VStatus *st);
    void (*destroy)(Backend *be);
    /* storage dtype for a requested dtype in a class (cuda: F32 acts -> BF16) */
    DType (*storage_dtype)(const Backend *be, BufClass c, DType requested);
    size_t lazy_capacity;   /* bytes of address space a class gets without be_reserve; 0 = must reserve */
} BackendVtbl;

typedef struct Arena {
    char *base;
    size_t cap, used, peak;
    Tensor **handles;    /* stack of handles made in this class */
    size_t nhandles, handles_cap;
} Arena;

struct Backend {
    const char *name;
    const OpTable *ops;
    const BackendVtbl *vt;
    Arena arena[BUF__COUNT];
    VStatus sticky;      /* first runtime error since the last be_sync */
    BackendOptions opt;
    void *impl;          /* backend-private state */
};

/* Records a runtime error (first one wins), for be_sync to return. */
void be_record_error(Backend *be, int code, const char *fmt, ...) VLMC_PRINTF(3, 4);

/* Shape checks for op implementations: panic naming the op. */
void be_check_numel(const char *op, const Tensor *t, int64_t numel, const char *what);
void be_check_dims(const char *op, const Tensor *t, int ndim, const int64_t *dims, const char *what);

/* Per-backend constructors (NULL + st when not compiled in / no device). */
Backend *cpu_backend_create(const BackendOptions *opt, VStatus *st);
const OpTable *cpu_op_table(void);
#ifdef VLMC_HAVE_CUDA
Backend *cuda_backend_create(const BackendOptions *opt, VStatus *st);
const OpTable *cuda_op_table(void);
/* one `--version` line: CUDA / cuDNN / NCCL versions and the devices present */
void cuda_print_build_info(FILE *f);
#endif

#endif
