/* kernels/cuda/cuda_dev.cuh — device helpers shared by the .cu files:
 * dtype-generic float access, launch sizing, deterministic reductions.
 *
 * Every float operand reaches a kernel as a CuF {pointer, is_bf16}: loads
 * widen to f32, stores round to nearest even, so a kernel serves every mix of
 * buffer classes. The branch on `bf` is uniform across a launch.
 * Reductions (warp_sum, block_sum) combine in a fixed tree for a fixed block
 * size, so results do not depend on scheduling.
 */
#ifndef VLMC_KERNELS_CUDA_DEV_CUH
#define VLMC_KERNELS_CUDA_DEV_CUH

#include <cuda_bf16.h>
#include <stdint.h>

#include "kernels/cuda/cuda_internal.h"

struct CuF {
    void *p;
    int bf;
};

__device__ __forceinline__ float ldf(CuF a, int64_t i) {
    return a.bf ? __bfloat162float(((const __nv_bfloat16 *)a.p)[i]) : ((const float *)a.p)[i];
}
__device__ __forceinline__ void stf(CuF a, int64_t i, float v) {
    if (a.bf)
        ((__nv_bfloat16 *)a.p)[i] = __float2bfloat16_rn(v);
    else
        ((float *)a.p)[i] = v;
}
/* read-modify-write by the one thread that owns element i (never concurrent) */
__device__ __forceinline__ void accf(CuF a, int64_t i, float v) { stf(a, i, ldf(a, i) + v); }

/* Float view of a tensor for a kernel; NULL stays NULL (optional operands). */
static inline CuF cuf(const Tensor *t, const char *op, const char *what) {
    CuF r = {NULL, 0};
    if (!t) return r;
    if (t->dt != DT_F32 && t->dt != DT_BF16) VLMC_PANIC("%s: %s must be a float tensor, got %s", op, what, dt_name(t->dt));
    r.p = t->data;
    r.bf = t->dt == DT_BF16;
    return r;
}
static inline const int32_t *cui(const Tensor *t, const char *op, const char *what) {
    if (!t) return NULL;
    if (t->dt != DT_I32) VLMC_PANIC("%s: %s must be an I32 tensor, got %s", op, what, dt_name(t->dt));
    return (const int32_t *)t->data;
}

/* ---- 16-byte vector access for the all-bf16 fast paths --------------------------
 * 8 bf16 per load/store; used only when every operand of a kernel is bf16 and
 * 16-byte aligned (vec8_ok), the element count's remainder done scalar. */
__device__ __forceinline__ void ld8(const void *p, int64_t i8, float *v) {
    uint4 u = ((const uint4 *)p)[i8];
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        float2 f = __bfloat1622float2(h[k]);
        v[2 * k] = f.x;
        v[2 * k + 1] = f.y;
    }
}
__device__ __forceinline__ void st8(void *p, int64_t i8, const float *v) {
    uint4 u;
    __nv_bfloat162 *h = (__nv_bfloat162 *)&u;
#pragma unroll
    for (int k = 0; k < 4; k++) h[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    ((uint4 *)p)[i8] = u;
}
/* every non-NULL operand bf16 and 16-byte aligned */
static inline int vec8_ok(CuF a, CuF b = CuF{NULL, 0}, CuF c = CuF{NULL, 0}, CuF d = CuF{NULL, 0},
                          CuF e = CuF{NULL, 0}, CuF f = CuF{NULL, 0}) {
    CuF all[6] = {a, b, c, d, e, f};
    for (int i = 0; i < 6; i++)
        if (all[i].p && (!all[i].bf || ((uintptr_t)all[i].p & 15))) return 0;
    return 1;
}

#define CU_THREADS 256
/* blocks for a grid-stride loop over n items; capped, loops cover the rest */
static inline unsigned cu_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > (1 << 20)) b = 1 << 20;
    return (unsigned)b;
}
#define GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets
 * the total. shm: 32 floats. Fixed order for a fixed blockDim. */
__device__ __forceinline__ float block_sum(float v, float *shm) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  /* shm may still be read by a previous call */
    if (lane == 0) shm[w] = v;
    __syncthreads();
    float t = lane < nw ? shm[lane] : 0.f;
    return warp_sum(t);
}
__device__ __forceinline__ float block_max(float v, float *shm) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shm[w] = v;
    __syncthreads();
    float t = lane < nw ? shm[lane] : -INFINITY;
    return warp_max(t);
}

/* Column reductions over rows of (N, C), deterministic (cuda_elem.cu):
 * out[c] += factor(c) * sum_r f(r, c), f by mode; all = 1 sums columns too
 * into out[0]. mean/rstd: per-row (N); gate: tanh factor (see tanh_gate). */
enum { COL_SUM = 0, COL_MUL, COL_LN_W, COL_RMS_W };
void cuda_colsum(Backend *be, int mode, int64_t N, int64_t C, CuF dout, CuF x, CuF mean, CuF rstd, CuF out,
                 int all, CuF tanh_gate);

#endif
