/* kernels/cuda/cuda_reduce.cu — reductions and the optimizer: segment sums,
 * count of loss tokens, the global sum of squares, AdamW.
 *
 * Determinism: every reduction has a fixed shape (fixed blocks, fixed block
 * size, partials combined in index order), never float atomics, so the same
 * inputs give bit-identical results on every run.
 */
#include "kernels/cuda/cuda_dev.cuh"

#include <math.h>

#define RED_THREADS 256
#define SUMSQ_BLOCKS 256  /* fixed: the partial layout must not depend on the device */

__device__ __forceinline__ double block_sum_d(double v, double *shm) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) shm[w] = v;
    __syncthreads();
    double t = lane < nw ? shm[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
    return t;
}

/* ---- segment sums ---------------------------------------------------------------- */

/* block per segment s: out[s] = sum of vals[i] with seg[i] == s (seg NULL: all) */
__global__ void k_segment_sum(CuF out, CuF vals, const int32_t *seg, int64_t N) {
    __shared__ double shm[32];
    int64_t s = blockIdx.x;
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x)
        if (!seg || seg[i] == s) acc += ldf(vals, i);
    acc = block_sum_d(acc, shm);
    if (threadIdx.x == 0) stf(out, s, (float)acc);
}

// out (S) = per-segment sums of vals (N) by seg (N) in [0, S) or -1; seg NULL: out (1) = total
extern "C" void cuda_segment_sum(Backend *be, Tensor *out, const Tensor *vals, const Tensor *seg) {
    int64_t N = vals->numel, S = out->numel;
    if (seg) be_check_numel("segment_sum", seg, N, "seg (N)");
    else be_check_numel("segment_sum", out, 1, "out (1) without seg");
    if (S == 0) return;
    if (S > INT32_MAX) VLMC_PANIC("segment_sum: %lld segments", (long long)S);
    k_segment_sum<<<(unsigned)S, RED_THREADS, 0, cuda_ctx(be)->compute>>>(
        cuf(out, "segment_sum", "out"), cuf(vals, "segment_sum", "vals"), cui(seg, "segment_sum", "seg"), N);
    (void)CU_LAUNCHED(be, "k_segment_sum");
}

__global__ void k_segment_sum_bwd(CuF dvals, CuF dout, const int32_t *seg, int64_t N, int64_t S) {
    GRID_STRIDE(i, N) {
        int64_t s = seg ? seg[i] : 0;
        if (s >= 0 && s < S) accf(dvals, i, ldf(dout, s));
    }
}

// dvals[i] += dout[seg[i]]
extern "C" void cuda_segment_sum_backward(Backend *be, Tensor *dvals, const Tensor *dout, const Tensor *seg) {
    int64_t N = dvals->numel;
    if (seg) be_check_numel("segment_sum_backward", seg, N, "seg (N)");
    if (N == 0) return;
    k_segment_sum_bwd<<<cu_blocks(N, CU_THREADS), CU_THREADS, 0, cuda_ctx(be)->compute>>>(
        cuf(dvals, "segment_sum_backward", "dvals"), cuf(dout, "segment_sum_backward", "dout"),
        cui(seg, "segment_sum_backward", "seg"), N, dout->numel);
    (void)CU_LAUNCHED(be, "k_segment_sum_bwd");
}

/* ---- count of loss tokens ------------------------------------------------------------ */

__global__ void k_count_targets(CuF out, const int32_t *t, int64_t N) {
    __shared__ double shm[32];
    double c = 0.0;
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x) c += t[i] != -1 ? 1.0 : 0.0;
    c = block_sum_d(c, shm);
    if (threadIdx.x == 0) stf(out, 0, (float)c);
}

// out (1) = number of targets != -1
extern "C" void cuda_count_targets(Backend *be, Tensor *out, const Tensor *targets) {
    be_check_numel("count_targets", out, 1, "out");
    k_count_targets<<<1, 1024, 0, cuda_ctx(be)->compute>>>(cuf(out, "count_targets", "out"),
                                                          cui(targets, "count_targets", "targets"), targets->numel);
    (void)CU_LAUNCHED(be, "k_count_targets");
}

/* ---- global sum of squares --------------------------------------------------------------- */

/* partial[blockIdx.x] = sum of squares of this block's grid-stride share */
__global__ void k_sumsq_partial(CuF t, int64_t n, double *partial) {
    __shared__ double shm[32];
    double acc = 0.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        double v = ldf(t, i);
        acc += v * v;
    }
    acc = block_sum_d(acc, shm);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void k_sumsq_final(const double *partial, int64_t np, CuF out) {
    __shared__ double shm[32];
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < np; i += blockDim.x) acc += partial[i];
    acc = block_sum_d(acc, shm);
    if (threadIdx.x == 0) stf(out, 0, (float)acc);
}

// out (1) = sum over the n tensors of the sum of their squares (f64 partials, fixed order)
extern "C" void cuda_sumsq(Backend *be, Tensor *out, const Tensor *const *ts, int n) {
    be_check_numel("sumsq", out, 1, "out");
    cudaStream_t s = cuda_ctx(be)->compute;
    int64_t np = (int64_t)(n > 0 ? n : 1) * SUMSQ_BLOCKS;
    double *part = (double *)cuda_temp(be, CUDA_TEMP_RED, (size_t)np * sizeof(double));
    if (!part) return;
    if (CU_CHECK(be, NULL, cudaMemsetAsync(part, 0, (size_t)np * sizeof(double), s))) return;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) VLMC_PANIC("sumsq: tensor %d is NULL", i);
        if (ts[i]->numel == 0) continue;
        k_sumsq_partial<<<SUMSQ_BLOCKS, RED_THREADS, 0, s>>>(cuf(ts[i], "sumsq", "tensor"), ts[i]->numel,
                                                           part + (int64_t)i * SUMSQ_BLOCKS);
        if (CU_LAUNCHED(be, "k_sumsq_partial")) return;
    }
    k_sumsq_final<<<1, 1024, 0, s>>>(part, np, cuf(out, "sumsq", "out"));
    (void)CU_LAUNCHED(be, "k_sumsq_final");
}

/* ---- AdamW ------------------------------------------------------------------------------- */

struct AdamK {
    float b1, b2, eps, gs;
    float step_size, bc2_sqrt, decay;  /* lr / (1 - b1^t), sqrt(1 - b2^t), 1 - lr wd */
};

__global__ void k_adamw(AdamK a, CuF master, CuF param, CuF grad, CuF m, CuF v, CuF mask, int64_t n, int64_t cols) {
    GRID_STRIDE(i, n) {
        if (mask.p && ldf(mask, i / cols) == 0.f) continue;  /* frozen row: no update, no decay */
        float g = ldf(grad, i) * a.gs;
        float mi = a.b1 * ldf(m, i) + (1.f - a.b1) * g;
        float vi = a.b2 * ldf(v, i) + (1.f - a.b2) * g * g;
        stf(m, i, mi);
        stf(v, i, vi);
        /* torch's order (as the CPU backend): decay first, then the Adam step */
        float p = ldf(master, i) * a.decay - a.step_size * mi / (sqrtf(vi) / a.bc2_sqrt + a.eps);
        stf(master, i, p);
        if (param.p) stf(param, i, p);  /* the compute copy (bf16) rounds the f32 master */
    }
}

extern "C" void cuda_adamw(Backend *be, const AdamWDesc *d, Tensor *master, Tensor *param, const Tensor *grad, Tensor *m,
                           Tensor *v, const Tensor *row_mask) {
    const char *op = "adamw";
    if (!d || d->step < 1) VLMC_PANIC("adamw: step must be >= 1");
    int64_t n = master->numel;
    be_check_numel(op, grad, n, "grad");
    be_check_numel(op, m, n, "m");
    be_check_numel(op, v, n, "v");
    if (param && param != master) be_check_numel(op, param, n, "param");
    int64_t cols = 1;
    if (row_mask) {
        if (row_mask->numel == 0 || n % row_mask->numel) VLMC_PANIC("adamw: row_mask (%lld) does not divide %lld elements", (long long)row_mask->numel, (long long)n);
        cols = n / row_mask->numel;
    }
    if (n == 0) return;
    AdamK a;
    a.b1 = d->beta1;
    a.b2 = d->beta2;
    a.eps = d->eps;
    a.gs = d->grad_scale;
    /* bias corrections in double (b^step underflows gracefully), then f32 as the CPU backend */
    a.step_size = d->lr / (float)(1.0 - pow((double)d->beta1, (double)d->step));
    a.bc2_sqrt = (float)sqrt(1.0 - pow((double)d->beta2, (double)d->step));
    a.decay = 1.0f - d->lr * d->weight_decay;
    CuF none = {NULL, 0};
    k_adamw<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, cuda_ctx(be)->compute>>>(
        a, cuf(master, op, "master"), param && param != master ? cuf(param, op, "param") : none, cuf(grad, op, "grad"),
        cuf(m, op, "m"), cuf(v, op, "v"), cuf(row_mask, op, "row_mask"), n, cols);
    (void)CU_LAUNCHED(be, "k_adamw");
}
