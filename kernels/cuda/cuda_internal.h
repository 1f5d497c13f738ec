/* kernels/cuda/cuda_internal.h — state and helpers shared by the CUDA
 * backend's files. Private to kernels/cuda/.
 *
 * Invariants:
 * - Every op is queued on ctx->compute (one stream): ops are ordered among
 *   themselves without events. Uploads use ctx->upload and are fenced against
 *   compute with events both ways (see cuda_backend.c).
 * - Float tensors are F32 or BF16 depending on their buffer class (and on the
 *   fp32_matmul option); every kernel takes each float operand as a CuF
 *   (pointer + "is bf16" flag) and does its arithmetic in f32, so any mix of
 *   classes works (e.g. bf16 activations with f32 gradients).
 * - Temporary device memory comes from a few backend-owned slots that grow
 *   only when a larger size is first needed (cuda_temp), never per call.
 */
#ifndef VLMC_KERNELS_CUDA_INTERNAL_H
#define VLMC_KERNELS_CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kernels/cuda/cuda_check.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CUDA_TEMP_XENT_LOGITS = 0,  /* xent: f32 logits of one row chunk */
    CUDA_TEMP_XENT_DLOGITS,     /* xent: dlogits in the operand dtype */
    CUDA_TEMP_MM_A,             /* matmul fallback: f32 copies of operands */
    CUDA_TEMP_MM_B,
    CUDA_TEMP_MM_C,
    CUDA_TEMP_RED,              /* reductions: partial sums */
    CUDA_TEMP_ATTN,             /* attention backward: per-query lse, delta */
    CUDA_TEMP_SORT,             /* gather backward: sorted pairs + cub scratch */
    CUDA_TEMP__COUNT
};

typedef struct CudaMmCache CudaMmCache;

typedef struct CudaCtx {
    int device;
    int fp32;                     /* fp32_matmul: every float tensor f32, TF32 off */
    cudaStream_t compute, upload;
    cudaEvent_t ev_compute, ev_upload;
    void *staging;                /* pinned host buffer for transfers */
    size_t staging_bytes;
    cublasLtHandle_t lt;
    void *workspace;              /* cuBLASLt workspace, sized once */
    size_t workspace_bytes;
    CudaMmCache *mm;              /* matmul descriptors + algorithms per shape */
    void *temp[CUDA_TEMP__COUNT];
    size_t temp_bytes[CUDA_TEMP__COUNT];
    char name[256];
} CudaCtx;

static inline CudaCtx *cuda_ctx(const Backend *be) { return (CudaCtx *)be->impl; }

/* A device buffer of at least `bytes` in slot `slot`, grown (synchronously)
 * when too small; NULL with the error recorded in be on failure. */
void *cuda_temp(Backend *be, int slot, size_t bytes);

/* Matmul with an optional epilogue (cuda_matmul.c): gelu = 1 applies the
 * tanh-GELU after the bias (cuBLASLt GELU_BIAS / GELU epilogue). */
void cuda_matmul_ex(Backend *be, const MatmulDesc *d, Tensor *c, const Tensor *a, const Tensor *b,
                    const Tensor *bias, int gelu);
CudaMmCache *cuda_mm_cache_new(void);
void cuda_mm_cache_free(CudaMmCache *c);

/* Host bf16 <-> f32 (round to nearest even, NaN kept quiet). */
uint16_t cuda_f32_to_bf16(float f);
float cuda_bf16_to_f32(uint16_t h);

/* Device conversion kernels (cuda_elem.cu), queued on the compute stream. */
void cuda_convert(Backend *be, void *dst, int dst_bf16, const void *src, int src_bf16, int64_t n);

/* `vlmc --version` line for CUDA; never fails, works without a driver. */
void cuda_print_build_info(FILE *f);

/* The op implementations, one per VLMC_OPS entry (signatures from ops.h). */
#define VLMC_CUDA_DECL(name, params, args) void cuda_##name params;
VLMC_OPS(VLMC_CUDA_DECL)
#undef VLMC_CUDA_DECL

#ifdef __cplusplus
}
#endif

#endif
