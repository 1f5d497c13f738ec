/* kernels/cpu/cpu_matmul.c — CPU matmul: C = alpha op(A) op(B) + beta C (+ bias)
 * through OpenBLAS cblas_sgemm (row-major).
 *
 * Shapes (row-major, per batch item): op(A) (m, k), op(B) (k, n), C (m, n);
 * A is stored (m, k) or, transposed, (k, m); B (k, n) or, transposed, (n, k).
 * Batches: item i of X starts at i * stride_x; stride 0 for A or B broadcasts
 * one matrix to every item. stride_c = 0 makes every item accumulate into the
 * same C (item 0 applies beta, later items add): handy for summing weight
 * gradients over a batch; such a batch runs sequentially, so the sum order is
 * fixed.
 * The bias (n) is added once per row of C, after beta scaling, before the
 * product is added (beta = 0 never reads C, so NaN garbage in C is ignored as
 * BLAS does).
 * Threads: one large item uses OpenBLAS's own OpenMP threads; a batch of many
 * small items (attention-like) runs items in parallel, each sgemm on one thread
 * (the OpenMP build of OpenBLAS runs single-threaded inside a parallel region).
 */
#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"

#include <cblas.h>
#include <omp.h>

/* Below this many flops per item, a batch is parallelised over items. */
#define MM_SMALL_FLOPS ((int64_t)1 << 22)

static int64_t span(int64_t batch, int64_t stride, int64_t item) {
    return batch > 1 && stride > 0 ? (batch - 1) * stride + item : item;
}

// C (m, n) = beta C + bias, or C = bias when beta == 0 (C not read)
static void bias_rows(float *c, const float *bias, int64_t m, int64_t n, float beta) {
    for (int64_t r = 0; r < m; r++) {
        float *row = c + r * n;
        if (beta == 0.0f) {
#pragma omp simd
            for (int64_t j = 0; j < n; j++) row[j] = bias[j];
        } else {
#pragma omp simd
            for (int64_t j = 0; j < n; j++) row[j] = beta * row[j] + bias[j];
        }
    }
}

static void gemm_item(const MatmulDesc *d, float *c, const float *a, const float *b, const float *bias,
                      float beta) {
    const int64_t m = d->m, n = d->n, k = d->k;
    if (bias) {
        bias_rows(c, bias, m, n, beta);
        beta = 1.0f;
    }
    if (k == 0) {
        /* BLAS would only scale C by beta; do it here to avoid lda = 0 */
        if (beta != 1.0f)
            for (int64_t i = 0; i < m * n; i++) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
        return;
    }
    const int64_t lda = d->trans_a ? m : k, ldb = d->trans_b ? k : n;
    cblas_sgemm(CblasRowMajor, d->trans_a ? CblasTrans : CblasNoTrans, d->trans_b ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, d->alpha, a, (blasint)(lda > 0 ? lda : 1), b,
                (blasint)(ldb > 0 ? ldb : 1), beta, c, (blasint)(n > 0 ? n : 1));
}

void cpu_matmul(Backend *be, const MatmulDesc *d, Tensor *c, const Tensor *a, const Tensor *b,
                const Tensor *bias) {
    (void)be;
    const char *op = "matmul";
    if (d->m < 0 || d->n < 0 || d->k < 0 || d->batch < 1 || d->stride_a < 0 || d->stride_b < 0 ||
        d->stride_c < 0)
        VLMC_PANIC("matmul: bad descriptor m=%lld n=%lld k=%lld batch=%lld strides %lld/%lld/%lld",
                   (long long)d->m, (long long)d->n, (long long)d->k, (long long)d->batch,
                   (long long)d->stride_a, (long long)d->stride_b, (long long)d->stride_c);
    const int64_t m = d->m, n = d->n, k = d->k, batch = d->batch;
    if ((int64_t)(blasint)m != m || (int64_t)(blasint)n != n || (int64_t)(blasint)k != k)
        VLMC_PANIC("matmul: m=%lld n=%lld k=%lld exceed the BLAS integer", (long long)m, (long long)n,
                   (long long)k);
    if (batch == 1) {
        be_check_numel(op, a, m * k, "A");
        be_check_numel(op, b, k * n, "B");
        be_check_numel(op, c, m * n, "C");
    } else {
        /* strided batches may be views into larger tensors: check the extent */
        int64_t need[3] = {span(batch, d->stride_a, m * k), span(batch, d->stride_b, k * n),
                           span(batch, d->stride_c, m * n)};
        const Tensor *ts[3] = {a, b, c};
        static const char *const nm[3] = {"A", "B", "C"};
        for (int i = 0; i < 3; i++) {
            if (!ts[i]) VLMC_PANIC("matmul: %s is NULL", nm[i]);
            if (ts[i]->numel < need[i])
                VLMC_PANIC("matmul: %s has %lld elements, batch %lld with stride %lld needs %lld", nm[i],
                           (long long)ts[i]->numel, (long long)batch,
                           (long long)(i == 0 ? d->stride_a : i == 1 ? d->stride_b : d->stride_c),
                           (long long)need[i]);
        }
    }
    if (bias) be_check_numel(op, bias, n, "bias");
    float *C = cpu_f32(c, op);
    const float *A = cpu_f32(a, op), *B = cpu_f32(b, op), *bb = bias ? cpu_f32(bias, op) : NULL;
    if (batch == 1) {
        gemm_item(d, C, A, B, bb, d->beta);
        return;
    }
    if (d->stride_c == 0) {
        /* all items accumulate into one C, in item order */
        for (int64_t i = 0; i < batch; i++)
            gemm_item(d, C, A + i * d->stride_a, B + i * d->stride_b, i == 0 ? bb : NULL, i == 0 ? d->beta : 1.0f);
        return;
    }
    int64_t flops = 2 * m * n * k;
    if (flops < MM_SMALL_FLOPS && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < batch; i++)
            gemm_item(d, C + i * d->stride_c, A + i * d->stride_a, B + i * d->stride_b, bb, d->beta);
    } else {
        for (int64_t i = 0; i < batch; i++)
            gemm_item(d, C + i * d->stride_c, A + i * d->stride_a, B + i * d->stride_b, bb, d->beta);
    }
}
