/* kernels/cuda/cuda_norm.cu — LayerNorm and RMSNorm, each optionally fused
 * with the residual add, and their backward passes.
 *
 * One warp per row, f32 statistics, two-pass variance. Lane l owns columns
 * l, l+32, ... in every pass, so out / sum_out may alias inp or resid (each
 * element is read and written by the same lane, in order). Later passes read
 * the sum back from sum_out when it exists: the forward normalises exactly the
 * values the backward will see as its input. dw / db are deterministic column
 * reductions (cuda_colsum).
 */
#include "kernels/cuda/cuda_dev.cuh"

#define ROWS_PER_BLOCK 8  /* warps per 256-thread block */

__device__ __forceinline__ float row_val(CuF inp, CuF resid, CuF sum_out, int64_t j) {
    if (sum_out.p) return ldf(sum_out, j);
    return ldf(inp, j) + (resid.p ? ldf(resid, j) : 0.f);
}

/* rms = 0: LayerNorm (mean subtracted, optional bias); rms = 1: RMSNorm */
__global__ void k_norm_fwd(int rms, CuF out, CuF sum_out, CuF mean, CuF rstd, CuF inp, CuF resid, CuF w, CuF b,
                           float eps, int64_t N, int64_t C) {
    int64_t r = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= N) return;
    int64_t base = r * C;
    float s = 0.f;
    for (int64_t c = lane; c < C; c += 32) {
        float v = ldf(inp, base + c) + (resid.p ? ldf(resid, base + c) : 0.f);
        if (sum_out.p) {
            stf(sum_out, base + c, v);
            v = ldf(sum_out, base + c);  /* statistics of the stored (maybe bf16) sum */
        }
        s += v;
    }
    /* the sum pass above wrote sum_out with this lane's stores only: reading it
     * back below is ordered by program order within the lane */
    float mu = rms ? 0.f : warp_sum(s) / (float)C;
    float q = 0.f;
    for (int64_t c = lane; c < C; c += 32) {
        float v = row_val(inp, resid, sum_out, base + c) - mu;
        q += v * v;
    }
    float rs = 1.f / sqrtf(warp_sum(q) / (float)C + eps);
    for (int64_t c = lane; c < C; c += 32) {
        float v = (row_val(inp, resid, sum_out, base + c) - mu) * rs;
        if (w.p) v *= ldf(w, c);
        if (b.p) v += ldf(b, c);
        stf(out, base + c, v);
    }
    if (lane == 0) {
        if (mean.p) stf(mean, r, mu);
        if (rstd.p) stf(rstd, r, rs);
    }
}

/* The same for all-bf16 operands with C % 8 == 0: 16-byte loads, lane l owns
 * chunks l, l+32, ... of 8 columns (same ownership argument for aliasing). */
__global__ void k_norm_fwd_v8(int rms, CuF out, CuF sum_out, CuF mean, CuF rstd, CuF inp, CuF resid, CuF w, CuF b,
                              float eps, int64_t N, int64_t C) {
    int64_t r = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= N) return;
    int64_t c8 = C / 8, base8 = r * c8;
    float s = 0.f, v[8], t[8];
    for (int64_t j = lane; j < c8; j += 32) {
        ld8(inp.p, base8 + j, v);
        if (resid.p) {
            ld8(resid.p, base8 + j, t);
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] += t[k];
        }
        if (sum_out.p) {
            st8(sum_out.p, base8 + j, v);
            ld8(sum_out.p, base8 + j, v);  /* the rounded sum, as the scalar path and the backward see it */
        }
#pragma unroll
        for (int k = 0; k < 8; k++) s += v[k];
    }
    float mu = rms ? 0.f : warp_sum(s) / (float)C;
    float q = 0.f;
    for (int64_t j = lane; j < c8; j += 32) {
        ld8(sum_out.p ? sum_out.p : inp.p, base8 + j, v);
        if (!sum_out.p && resid.p) {
            ld8(resid.p, base8 + j, t);
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] += t[k];
        }
#pragma unroll
        for (int k = 0; k < 8; k++) q += (v[k] - mu) * (v[k] - mu);
    }
    float rs = 1.f / sqrtf(warp_sum(q) / (float)C + eps);
    for (int64_t j = lane; j < c8; j += 32) {
        ld8(sum_out.p ? sum_out.p : inp.p, base8 + j, v);
        if (!sum_out.p && resid.p) {
            ld8(resid.p, base8 + j, t);
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] += t[k];
        }
#pragma unroll
        for (int k = 0; k < 8; k++) v[k] = (v[k] - mu) * rs;
        if (w.p) {
            ld8(w.p, j, t);
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] *= t[k];
        }
        if (b.p) {
            ld8(b.p, j, t);
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] += t[k];
        }
        st8(out.p, base8 + j, v);
    }
    if (lane == 0) {
        if (mean.p) stf(mean, r, mu);
        if (rstd.p) stf(rstd, r, rs);
    }
}

/* launches the vector or the scalar forward */
static void norm_fwd(Backend *be, int rms, CuF out, CuF so, CuF mean, CuF rstd, CuF inp, CuF resid, CuF w, CuF b,
                     float eps, int64_t N, int64_t C) {
    unsigned blocks = (unsigned)((N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
    if (C % 8 == 0 && vec8_ok(out, so, inp, resid, w, b))
        k_norm_fwd_v8<<<blocks, ROWS_PER_BLOCK * 32, 0, cuda_ctx(be)->compute>>>(rms, out, so, mean, rstd, inp, resid, w,
                                                                                b, eps, N, C);
    else
        k_norm_fwd<<<blocks, ROWS_PER_BLOCK * 32, 0, cuda_ctx(be)->compute>>>(rms, out, so, mean, rstd, inp, resid, w, b,
                                                                             eps, N, C);
    (void)CU_LAUNCHED(be, "k_norm_fwd");
}

__global__ void k_norm_bwd(int rms, CuF dinp, CuF dout, CuF inp, CuF w, CuF mean, CuF rstd, int64_t N, int64_t C) {
    int64_t r = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= N) return;
    int64_t base = r * C;
    float mu = rms ? 0.f : ldf(mean, r), rs = ldf(rstd, r);
    float s1 = 0.f, s2 = 0.f;
    for (int64_t c = lane; c < C; c += 32) {
        float g = ldf(dout, base + c) * (w.p ? ldf(w, c) : 1.f);
        float xh = (ldf(inp, base + c) - mu) * rs;
        s1 += g;
        s2 += g * xh;
    }
    s1 = warp_sum(s1) / (float)C;
    s2 = warp_sum(s2) / (float)C;
    for (int64_t c = lane; c < C; c += 32) {
        float g = ldf(dout, base + c) * (w.p ? ldf(w, c) : 1.f);
        float xh = (ldf(inp, base + c) - mu) * rs;
        /* layernorm: rstd (g - mean g - xhat mean(g xhat)); rmsnorm: rstd (g - xhat mean(g xhat)) */
        accf(dinp, base + c, rs * (g - (rms ? 0.f : s1) - xh * s2));
    }
}

/* rows N and width C of (N, C): C is w's length (the CPU backend's rule), or
 * inp's last dim when w is NULL */
/* The backward for all-bf16 dinp / dout / inp / w with C % 8 == 0 */
__global__ void k_norm_bwd_v8(int rms, CuF dinp, CuF dout, CuF inp, CuF w, CuF mean, CuF rstd, int64_t N, int64_t C) {
    int64_t r = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= N) return;
    int64_t c8 = C / 8, base8 = r * c8;
    float mu = rms ? 0.f : ldf(mean, r), rs = ldf(rstd, r);
    float s1 = 0.f, s2 = 0.f, g[8], x[8], wv[8], d[8];
    for (int64_t j = lane; j < c8; j += 32) {
        ld8(dout.p, base8 + j, g);
        ld8(inp.p, base8 + j, x);
        if (w.p) ld8(w.p, j, wv);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float gg = g[k] * (w.p ? wv[k] : 1.f);
            s1 += gg;
            s2 += gg * (x[k] - mu) * rs;
        }
    }
    s1 = warp_sum(s1) / (float)C;
    s2 = warp_sum(s2) / (float)C;
    for (int64_t j = lane; j < c8; j += 32) {
        ld8(dout.p, base8 + j, g);
        ld8(inp.p, base8 + j, x);
        ld8(dinp.p, base8 + j, d);
        if (w.p) ld8(w.p, j, wv);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            float gg = g[k] * (w.p ? wv[k] : 1.f), xh = (x[k] - mu) * rs;
            d[k] += rs * (gg - (rms ? 0.f : s1) - xh * s2);
        }
        st8(dinp.p, base8 + j, d);
    }
}

static void norm_bwd(Backend *be, int rms, CuF dinp, CuF dout, CuF inp, CuF w, CuF mean, CuF rstd, int64_t N, int64_t C) {
    unsigned blocks = (unsigned)((N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
    if (C % 8 == 0 && vec8_ok(dinp, dout, inp, w))
        k_norm_bwd_v8<<<blocks, ROWS_PER_BLOCK * 32, 0, cuda_ctx(be)->compute>>>(rms, dinp, dout, inp, w, mean, rstd, N, C);
    else
        k_norm_bwd<<<blocks, ROWS_PER_BLOCK * 32, 0, cuda_ctx(be)->compute>>>(rms, dinp, dout, inp, w, mean, rstd, N, C);
    (void)CU_LAUNCHED(be, "k_norm_bwd");
}

static void norm_shapes(const char *op, const Tensor *out, const Tensor *inp, const Tensor *w, int64_t *N, int64_t *C) {
    if (!inp || !out) VLMC_PANIC("%s: NULL input or output", op);
    *C = w ? w->numel : inp->shape[inp->ndim - 1];
    if (*C == 0) { *N = 0; return; }
    if (inp->numel % *C) VLMC_PANIC("%s: input has %lld elements, not rows of %lld", op, (long long)inp->numel, (long long)*C);
    *N = inp->numel / *C;
    be_check_numel(op, out, inp->numel, "output");
}


// inp, resid: (N, C); w, b: (C); out, sum_out: (N, C); mean, rstd: (N)
extern "C" void cuda_layernorm(Backend *be, Tensor *out, Tensor *sum_out, Tensor *mean, Tensor *rstd, const Tensor *inp,
                               const Tensor *resid, const Tensor *w, const Tensor *b, float eps) {
    int64_t N, C;
    norm_shapes("layernorm", out, inp, w, &N, &C);
    if (mean) be_check_numel("layernorm", mean, N, "mean");
    if (rstd) be_check_numel("layernorm", rstd, N, "rstd");
    if (resid) be_check_numel("layernorm", resid, inp->numel, "resid");
    if (sum_out) be_check_numel("layernorm", sum_out, inp->numel, "sum_out");
    if (b) be_check_numel("layernorm", b, C, "b");
    if (N == 0 || C == 0) return;
    CuF so = resid ? cuf(sum_out, "layernorm", "sum_out") : CuF{NULL, 0};
    norm_fwd(be, 0, cuf(out, "layernorm", "out"), so, cuf(mean, "layernorm", "mean"), cuf(rstd, "layernorm", "rstd"),
             cuf(inp, "layernorm", "inp"), cuf(resid, "layernorm", "resid"), cuf(w, "layernorm", "w"),
             cuf(b, "layernorm", "b"), eps, N, C);
    if (!resid && sum_out && sum_out != inp) cuda_copy(be, sum_out, inp);  /* sum = inp when there is no residual */
}

extern "C" void cuda_layernorm_backward(Backend *be, Tensor *dinp, Tensor *dw, Tensor *db, const Tensor *dout,
                                        const Tensor *inp, const Tensor *w, const Tensor *mean, const Tensor *rstd) {
    int64_t N, C;
    norm_shapes("layernorm_backward", dout, inp, w, &N, &C);
    be_check_numel("layernorm_backward", mean, N, "mean");
    be_check_numel("layernorm_backward", rstd, N, "rstd");
    if (dinp) be_check_numel("layernorm_backward", dinp, inp->numel, "dinp");
    if (dw) be_check_numel("layernorm_backward", dw, C, "dw");
    if (db) be_check_numel("layernorm_backward", db, C, "db");
    if (N == 0 || C == 0) return;
    CuF fdout = cuf(dout, "layernorm_backward", "dout"), finp = cuf(inp, "layernorm_backward", "inp");
    CuF fmean = cuf(mean, "layernorm_backward", "mean"), frstd = cuf(rstd, "layernorm_backward", "rstd");
    if (dinp) {
        norm_bwd(be, 0, cuf(dinp, "layernorm_backward", "dinp"), fdout, finp, cuf(w, "layernorm_backward", "w"), fmean,
                 frstd, N, C);
    }
    CuF none = {NULL, 0};
    if (dw) cuda_colsum(be, COL_LN_W, N, C, fdout, finp, fmean, frstd, cuf(dw, "layernorm_backward", "dw"), 0, none);
    if (db) cuda_colsum(be, COL_SUM, N, C, fdout, none, none, none, cuf(db, "layernorm_backward", "db"), 0, none);
}

extern "C" void cuda_rmsnorm(Backend *be, Tensor *out, Tensor *sum_out, Tensor *rstd, const Tensor *inp,
                             const Tensor *resid, const Tensor *w, float eps) {
    int64_t N, C;
    norm_shapes("rmsnorm", out, inp, w, &N, &C);
    if (rstd) be_check_numel("rmsnorm", rstd, N, "rstd");
    if (resid) be_check_numel("rmsnorm", resid, inp->numel, "resid");
    if (sum_out) be_check_numel("rmsnorm", sum_out, inp->numel, "sum_out");
    if (N == 0 || C == 0) return;
    CuF none = {NULL, 0};
    CuF so = resid ? cuf(sum_out, "rmsnorm", "sum_out") : none;
    norm_fwd(be, 1, cuf(out, "rmsnorm", "out"), so, none, cuf(rstd, "rmsnorm", "rstd"), cuf(inp, "rmsnorm", "inp"),
             cuf(resid, "rmsnorm", "resid"), cuf(w, "rmsnorm", "w"), none, eps, N, C);
    if (!resid && sum_out && sum_out != inp) cuda_copy(be, sum_out, inp);
}

extern "C" void cuda_rmsnorm_backward(Backend *be, Tensor *dinp, Tensor *dw, const Tensor *dout, const Tensor *inp,
                                      const Tensor *w, const Tensor *rstd) {
    int64_t N, C;
    norm_shapes("rmsnorm_backward", dout, inp, w, &N, &C);
    be_check_numel("rmsnorm_backward", rstd, N, "rstd");
    if (dinp) be_check_numel("rmsnorm_backward", dinp, inp->numel, "dinp");
    if (dw) be_check_numel("rmsnorm_backward", dw, C, "dw");
    if (N == 0 || C == 0) return;
    CuF none = {NULL, 0};
    CuF fdout = cuf(dout, "rmsnorm_backward", "dout"), finp = cuf(inp, "rmsnorm_backward", "inp");
    CuF frstd = cuf(rstd, "rmsnorm_backward", "rstd");
    if (dinp) {
        norm_bwd(be, 1, cuf(dinp, "rmsnorm_backward", "dinp"), fdout, finp, cuf(w, "rmsnorm_backward", "w"), none, frstd,
                 N, C);
    }
    if (dw) cuda_colsum(be, COL_RMS_W, N, C, fdout, finp, none, frstd, cuf(dw, "rmsnorm_backward", "dw"), 0, none);
}
