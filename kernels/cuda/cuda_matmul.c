/* kernels/cuda/cuda_matmul.c — matmul through cuBLASLt.
 *
 * Row-major C (m, n) = op(A) (m, k) @ op(B) (k, n) is computed as the
 * column-major C^T (n, m) = op(B)^T @ op(A)^T: cuBLASLt's "A" is our B and
 * its "B" is our A, with the same transpose flags, and no data moves.
 *
 * Types: bf16 x bf16 -> bf16 or f32, and f32 x f32 -> f32, all with
 * CUBLAS_COMPUTE_32F (fp32 accumulation; for f32 inputs this is true fp32,
 * TF32 off, which the parity tests rely on). Any other mix (e.g. a bf16
 * activation times an f32 gradient) is widened to f32 in temporaries first.
 *
 * Descriptors, layouts and the heuristic's algorithm are cached per shape
 * key (dims, transposes, batch strides, dtypes, epilogue, pointer alignment)
 * in a small open-addressing table, so steady-state calls do no queries.
 * The workspace is allocated once at backend creation.
 */
#include "kernels/cuda/cuda_internal.h"

#include <stdlib.h>
#include <string.h>

#define MM_SLOTS 512
#define MM_PROBE 8

typedef struct MmKey {
    int32_t ta, tb, dta, dtb, dtc, dtbias, epi;
    uint32_t align_a, align_b, align_c, align_bias;
    int64_t m, n, k, batch, sa, sb, sc;
} MmKey;

typedef struct MmPlan {
    int used;                 /* 0 free, 1 ready, 2 cuBLASLt has no algorithm for this key */
    MmKey key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    cublasStatus_t refusal;   /* used == 2: what the heuristic said */
} MmPlan;

struct CudaMmCache {
    MmPlan slot[MM_SLOTS];
};

CudaMmCache *cuda_mm_cache_new(void) { return calloc(1, sizeof(CudaMmCache)); }

static void plan_destroy(MmPlan *p) {
    if (p->op) (void)cublasLtMatmulDescDestroy(p->op);
    if (p->la) (void)cublasLtMatrixLayoutDestroy(p->la);
    if (p->lb) (void)cublasLtMatrixLayoutDestroy(p->lb);
    if (p->lc) (void)cublasLtMatrixLayoutDestroy(p->lc);
    memset(p, 0, sizeof *p);
}

void cuda_mm_cache_free(CudaMmCache *c) {
    if (!c) return;
    for (int i = 0; i < MM_SLOTS; i++)
        if (c->slot[i].used) plan_destroy(&c->slot[i]);
    free(c);
}

static uint64_t key_hash(const MmKey *k) {
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* largest power of two (<= 256) dividing the address: cuBLASLt picks kernels by it */
static uint32_t ptr_align(const void *p) {
    uintptr_t a = (uintptr_t)p;
    if (!a) return 256;
    uintptr_t low = a & (~a + 1);
    return low >= 256 ? 256 : (uint32_t)low;
}

static cudaDataType_t cuda_type(int dt) { return dt == DT_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

static int set_batch(Backend *be, cublasLtMatrixLayout_t l, int64_t batch, int64_t stride) {
    int32_t bc = (int32_t)batch;
    return CUBLAS_CHECK(be, NULL, cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc)) ||
           CUBLAS_CHECK(be, NULL, cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                                  sizeof stride));
}

/* Builds descriptors and asks the heuristic once for this key. Returns 0 and
 * marks the plan ready, or 0 with used = 2 when cuBLASLt offers no algorithm
 * (the caller then widens to f32), or VS_EDEVICE on a library error. The bias
 * pointer takes part: the heuristic reads its alignment. */
static int plan_build(Backend *be, MmPlan *p, const MmKey *k, const void *bias) {
    CudaCtx *cx = cuda_ctx(be);
    memset(p, 0, sizeof *p);
    p->key = *k;
    cublasOperation_t opa = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;  /* Lt "A" = our B */
    cublasOperation_t opb = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N;  /* Lt "B" = our A */
    cublasLtEpilogue_t epi = k->dtbias >= 0 ? (k->epi ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                            : (k->epi ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
    if (CUBLAS_CHECK(be, NULL, cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F)) ||
        CUBLAS_CHECK(be, NULL, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa)) ||
        CUBLAS_CHECK(be, NULL, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb)) ||
        CUBLAS_CHECK(be, NULL, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi)))
        goto fail;
    if (k->dtbias >= 0) {
        cudaDataType_t bt = cuda_type(k->dtbias);
        if (CUBLAS_CHECK(be, NULL, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt)) ||
            CUBLAS_CHECK(be, NULL, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias)))
            goto fail;
    }
    /* column-major views of the row-major operands (see the file comment) */
    uint64_t ar = k->tb ? k->k : k->n, ac = k->tb ? k->n : k->k;
    uint64_t br = k->ta ? k->m : k->k, bc = k->ta ? k->k : k->m;
    if (CUBLAS_CHECK(be, NULL, cublasLtMatrixLayoutCreate(&p->la, cuda_type(k->dtb), ar, ac, (int64_t)ar)) ||
        CUBLAS_CHECK(be, NULL, cublasLtMatrixLayoutCreate(&p->lb, cuda_type(k->dta), br, bc, (int64_t)br)) ||
        CUBLAS_CHECK(be, NULL, cublasLtMatrixLayoutCreate(&p->lc, cuda_type(k->dtc), (uint64_t)k->n, (uint64_t)k->m, k->n)))
        goto fail;
    if (k->batch > 1 && (set_batch(be, p->la, k->batch, k->sb) || set_batch(be, p->lb, k->batch, k->sa) ||
                         set_batch(be, p->lc, k->batch, k->sc)))
        goto fail;

    cublasLtMatmulPreference_t pref = NULL;
    uint64_t ws = cx->workspace_bytes;
    uint32_t al_a = k->align_b, al_b = k->align_a, al_c = k->align_c;  /* Lt's A/B are our B/A */
    cublasLtMatmulHeuristicResult_t res;
    int nres = 0;
    int bad = CUBLAS_CHECK(be, NULL, cublasLtMatmulPreferenceCreate(&pref)) ||
              CUBLAS_CHECK(be, NULL, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws)) ||
              CUBLAS_CHECK(be, NULL, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a)) ||
              CUBLAS_CHECK(be, NULL, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b)) ||
              CUBLAS_CHECK(be, NULL, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c)) ||
              CUBLAS_CHECK(be, NULL, cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
    /* "not supported" / no result is an answer, not an error: the caller widens */
    cublasStatus_t hs = bad ? CUBLAS_STATUS_SUCCESS
                            : cublasLtMatmulAlgoGetHeuristic(cx->lt, p->op, p->la, p->lb, p->lc, p->lc, pref, 1, &res, &nres);
    if (pref) (void)cublasLtMatmulPreferenceDestroy(pref);
    if (bad) goto fail;
    if (hs != CUBLAS_STATUS_SUCCESS || nres < 1) {
        /* any refusal (not supported, invalid layout for this type) means "widen
         * to f32"; if f32 is refused too, matmul_widened reports this status */
        plan_destroy(p);
        p->key = *k;
        p->used = 2;
        p->refusal = hs;
        return 0;
    }
    p->algo = res.algo;
    p->used = 1;
    return 0;
fail:
    plan_destroy(p);
    return VS_EDEVICE;
}

static MmPlan *plan_get(Backend *be, const MmKey *k, const void *bias) {
    CudaMmCache *c = cuda_ctx(be)->mm;
    uint64_t h = key_hash(k);
    for (int i = 0; i < MM_PROBE; i++) {
        MmPlan *p = &c->slot[(h + (uint64_t)i) % MM_SLOTS];
        if (p->used && memcmp(&p->key, k, sizeof *k) == 0) return p;
        if (!p->used) return plan_build(be, p, k, bias) ? NULL : p;
    }
    /* neighbourhood full: evict the home slot (shapes are few in practice) */
    MmPlan *p = &c->slot[h % MM_SLOTS];
    plan_destroy(p);
    return plan_build(be, p, k, bias) ? NULL : p;
}

/* Runs one cuBLASLt matmul on supported types (see the file comment).
 * Returns 0 when queued (or an error was recorded), 1 when cuBLASLt has no
 * algorithm for this combination. */
static int lt_matmul(Backend *be, const MatmulDesc *d, void *c, int dtc, const void *a, int dta, const void *b,
                     int dtb, const void *bias, int dtbias, int gelu, cublasStatus_t *refusal) {
    CudaCtx *cx = cuda_ctx(be);
    MmKey k;
    memset(&k, 0, sizeof k);  /* padding takes part in hashing and memcmp */
    k.ta = d->trans_a != 0;
    k.tb = d->trans_b != 0;
    k.dta = dta;
    k.dtb = dtb;
    k.dtc = dtc;
    k.dtbias = bias ? dtbias : -1;
    k.epi = gelu != 0;
    /* every batch item's start counts: the alignment of base | stride bytes */
    int64_t items = d->batch > 1 ? d->batch : 1;
    size_t sa = items > 1 ? (size_t)d->stride_a * dt_size((DType)dta) : 0;
    size_t sb = items > 1 ? (size_t)d->stride_b * dt_size((DType)dtb) : 0;
    size_t sc = items > 1 ? (size_t)d->stride_c * dt_size((DType)dtc) : 0;
    k.align_a = ptr_align((const void *)((uintptr_t)a | sa));
    k.align_b = ptr_align((const void *)((uintptr_t)b | sb));
    k.align_c = ptr_align((const void *)((uintptr_t)c | sc));
    k.align_bias = bias ? ptr_align(bias) : 0;
    k.m = d->m;
    k.n = d->n;
    k.k = d->k;
    k.batch = d->batch > 1 ? d->batch : 1;
    if (k.batch > 1) {
        k.sa = d->stride_a;
        k.sb = d->stride_b;
        k.sc = d->stride_c;
    }
    MmPlan *p = plan_get(be, &k, bias);
    if (!p) return 0;
    if (p->used == 2) {
        if (refusal) *refusal = p->refusal;
        return 1;
    }
    if (bias && CUBLAS_CHECK(be, NULL, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                                      sizeof bias)))
        return 0;
    CUBLAS_CHECK(be, NULL, cublasLtMatmul(cx->lt, p->op, &d->alpha, b, p->la, a, p->lb, &d->beta, c, p->lc, c, p->lc,
                                          &p->algo, cx->workspace, cx->workspace_bytes, cx->compute));
    return 0;
}

static void check_operand(const char *what, const Tensor *t, int64_t batch, int64_t stride, int64_t item) {
    if (!t) VLMC_PANIC("matmul: %s is NULL", what);
    if (t->dt != DT_F32 && t->dt != DT_BF16) VLMC_PANIC("matmul: %s has dtype %s", what, dt_name(t->dt));
    int64_t need = (batch > 1 ? (batch - 1) * stride : 0) + item;
    if (stride < 0 || t->numel < need)
        VLMC_PANIC("matmul: %s has %lld elements, the descriptor needs %lld (batch %lld, stride %lld, item %lld)", what,
                   (long long)t->numel, (long long)need, (long long)batch, (long long)stride, (long long)item);
}

/* bias (and GELU) that could not fuse: added per batch item after the product */
static void bias_after(Backend *be, const MatmulDesc *d, int64_t batch, Tensor *c, const Tensor *bias, int gelu) {
    for (int64_t i = 0; bias && i < batch; i++) {
        Tensor item = *c;
        item.ndim = 2;
        item.shape[0] = d->m;
        item.shape[1] = d->n;
        item.numel = d->m * d->n;
        item.data = (char *)c->data + (size_t)(batch > 1 ? i * d->stride_c : 0) * dt_size(c->dt);
        cuda_bias_add(be, &item, &item, bias);
    }
    if (gelu) {
        Tensor whole = *c;
        cuda_act(be, &whole, &whole, ACT_GELU_TANH);
    }
}

/* Every operand widened to f32 in temporaries, f32 product, C narrowed back. */
static void matmul_widened(Backend *be, const MatmulDesc *d, int64_t batch, Tensor *c, const Tensor *a,
                           const Tensor *b, const Tensor *bias, int gelu) {
    const void *pa = a->data, *pb = b->data;
    void *pc = c->data;
    if (a->dt == DT_BF16) {
        void *t = cuda_temp(be, CUDA_TEMP_MM_A, (size_t)a->numel * 4);
        if (!t) return;
        cuda_convert(be, t, 0, a->data, 1, a->numel);
        pa = t;
    }
    if (b->dt == DT_BF16) {
        void *t = cuda_temp(be, CUDA_TEMP_MM_B, (size_t)b->numel * 4);
        if (!t) return;
        cuda_convert(be, t, 0, b->data, 1, b->numel);
        pb = t;
    }
    if (c->dt == DT_BF16) {
        void *t = cuda_temp(be, CUDA_TEMP_MM_C, (size_t)c->numel * 4);
        if (!t) return;
        if (d->beta != 0.f)
            cuda_convert(be, t, 0, c->data, 1, c->numel);
        else if (CU_CHECK(be, NULL, cudaMemsetAsync(t, 0, (size_t)c->numel * 4, cuda_ctx(be)->compute)))
            return;
        pc = t;
    }
    int fuse = bias && bias->dt == DT_F32;
    cublasStatus_t why = CUBLAS_STATUS_SUCCESS;
    int r = lt_matmul(be, d, pc, DT_F32, pa, DT_F32, pb, DT_F32, fuse ? bias->data : NULL, DT_F32, gelu && (fuse || !bias),
                      &why);
    if (r == 1) {
        be_record_error(be, VS_EDEVICE,
                        "cuBLASLt: no f32 algorithm for matmul m=%lld n=%lld k=%lld batch=%lld ta=%d tb=%d "
                        "(cublasLtMatmulAlgoGetHeuristic: %s)",
                        (long long)d->m, (long long)d->n, (long long)d->k, (long long)batch, d->trans_a, d->trans_b,
                        why == CUBLAS_STATUS_SUCCESS ? "no result" : cublasLtGetStatusString(why));
        return;
    }
    if (c->dt == DT_BF16) cuda_convert(be, c->data, 1, pc, 0, c->numel);
    if (bias && !fuse) bias_after(be, d, batch, c, bias, gelu);
}

void cuda_matmul_ex(Backend *be, const MatmulDesc *d, Tensor *c, const Tensor *a, const Tensor *b, const Tensor *bias,
                    int gelu) {
    int64_t batch = d->batch > 1 ? d->batch : 1;
    if (d->m < 0 || d->n < 0 || d->k < 0)
        VLMC_PANIC("matmul: negative dims m=%lld n=%lld k=%lld", (long long)d->m, (long long)d->n, (long long)d->k);
    check_operand("A", a, batch, d->stride_a, d->m * d->k);
    check_operand("B", b, batch, d->stride_b, d->n * d->k);
    check_operand("C", c, batch, d->stride_c, d->m * d->n);
    if (bias) be_check_numel("matmul", bias, d->n, "bias (n)");
    if (batch > 1 && d->stride_c < d->m * d->n)
        VLMC_PANIC("matmul: stride_c %lld overlaps items of %lld", (long long)d->stride_c, (long long)(d->m * d->n));
    if (d->m == 0 || d->n == 0) return;
    if (d->k == 0) {
        /* nothing to multiply (cuBLASLt rejects k = 0): C = beta C (+ bias) */
        Tensor whole = *c;
        if (batch == 1) {
            whole.numel = d->m * d->n;
            whole.ndim = 1;
            whole.shape[0] = whole.numel;
        }
        cuda_scale(be, &whole, d->beta);
        bias_after(be, d, batch, c, bias, gelu);
        return;
    }
    /* cuBLASLt's combinations with fp32 accumulation: bf16 x bf16 -> bf16 | f32, f32 x f32 -> f32 */
    int direct = a->dt == b->dt && (a->dt == DT_BF16 || c->dt == DT_F32);
    if (direct) {
        /* bias fuses when its type is C's (cuBLASLt's bias type is the output's) */
        int fuse = bias && bias->dt == c->dt;
        int r = lt_matmul(be, d, c->data, c->dt, a->data, a->dt, b->data, b->dt, fuse ? bias->data : NULL,
                          bias ? (int)bias->dt : -1, gelu && (fuse || !bias), NULL);
        if (r == 0) {
            if (bias && !fuse) bias_after(be, d, batch, c, bias, gelu);
            return;
        }
        /* no bf16 kernel for this shape / alignment: fall through to f32 */
    }
    matmul_widened(be, d, batch, c, a, b, bias, gelu);
}

void cuda_matmul(Backend *be, const MatmulDesc *d, Tensor *c, const Tensor *a, const Tensor *b, const Tensor *bias) {
    cuda_matmul_ex(be, d, c, a, b, bias, 0);
}
