/* kernels/cuda/cuda_elem.cu — elementwise ops and column reductions:
 * fill, copy, add, scale, bias add / backward, row masks, activations,
 * swiglu, tanh gates, dtype conversion. Forward ops overwrite, backward ops
 * accumulate (ops.h). All arithmetic in f32. */
#include "kernels/cuda/cuda_dev.cuh"

#define LAUNCHED(be, name) (void)CU_LAUNCHED(be, name)
#define STREAM(be) (cuda_ctx(be)->compute)

/* ---- conversion, fill, copy, add, scale ------------------------------------ */

__global__ void k_convert(CuF dst, CuF src, int64_t n) {
    GRID_STRIDE(i, n) stf(dst, i, ldf(src, i));
}
extern "C" void cuda_convert(Backend *be, void *dst, int dst_bf16, const void *src, int src_bf16, int64_t n) {
    if (n <= 0) return;
    CuF d = {dst, dst_bf16}, s = {(void *)src, src_bf16};
    k_convert<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(d, s, n);
    LAUNCHED(be, "k_convert");
}

__global__ void k_fill(CuF t, float v, int64_t n) {
    GRID_STRIDE(i, n) stf(t, i, v);
}
__global__ void k_fill_i32(int32_t *t, int32_t v, int64_t n) {
    GRID_STRIDE(i, n) t[i] = v;
}
extern "C" void cuda_fill(Backend *be, Tensor *t, float value) {
    if (!t) VLMC_PANIC("fill: NULL tensor");
    if (t->numel == 0) return;
    if (t->dt == DT_I32) {
        k_fill_i32<<<cu_blocks(t->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>((int32_t *)t->data, (int32_t)value,
                                                                                  t->numel);
    } else {
        k_fill<<<cu_blocks(t->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(cuf(t, "fill", "t"), value, t->numel);
    }
    LAUNCHED(be, "k_fill");
}

extern "C" void cuda_copy(Backend *be, Tensor *dst, const Tensor *src) {
    be_check_numel("copy", dst, src->numel, "dst");
    if (dst->numel == 0) return;
    if (dst->dt == src->dt) {
        (void)CU_CHECK(be, NULL, cudaMemcpyAsync(dst->data, src->data, (size_t)src->numel * dt_size(src->dt),
                                                 cudaMemcpyDeviceToDevice, STREAM(be)));
        return;
    }
    CuF d = cuf(dst, "copy", "dst"), s = cuf(src, "copy", "src");
    k_convert<<<cu_blocks(dst->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(d, s, dst->numel);
    LAUNCHED(be, "k_convert");
}

__global__ void k_add(CuF out, CuF a, CuF b, float alpha, float beta, int64_t n) {
    GRID_STRIDE(i, n) stf(out, i, alpha * ldf(a, i) + beta * ldf(b, i));
}
/* bf16 fast path: 8 elements per thread per step; the n % 8 tail by block 0 */
__global__ void k_add_v8(CuF out, CuF a, CuF b, float alpha, float beta, int64_t n) {
    GRID_STRIDE(j, n / 8) {
        float x[8], y[8];
        ld8(a.p, j, x);
        ld8(b.p, j, y);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] = alpha * x[k] + beta * y[k];
        st8(out.p, j, x);
    }
    int64_t t = n / 8 * 8 + threadIdx.x;
    if (blockIdx.x == 0 && t < n) stf(out, t, alpha * ldf(a, t) + beta * ldf(b, t));
}

extern "C" void cuda_add(Backend *be, Tensor *out, const Tensor *a, const Tensor *b, float alpha, float beta) {
    be_check_numel("add", a, out->numel, "a");
    be_check_numel("add", b, out->numel, "b");
    if (out->numel == 0) return;
    CuF o = cuf(out, "add", "out"), fa = cuf(a, "add", "a"), fb = cuf(b, "add", "b");
    if (vec8_ok(o, fa, fb))
        k_add_v8<<<cu_blocks(out->numel / 8 + 1, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, fa, fb, alpha, beta, out->numel);
    else
        k_add<<<cu_blocks(out->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, fa, fb, alpha, beta, out->numel);
    LAUNCHED(be, "k_add");
}

__global__ void k_scale(CuF t, float s, int64_t n) {
    GRID_STRIDE(i, n) stf(t, i, s * ldf(t, i));
}
extern "C" void cuda_scale(Backend *be, Tensor *t, float s) {
    if (!t) VLMC_PANIC("scale: NULL tensor");
    if (t->numel == 0) return;
    k_scale<<<cu_blocks(t->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(cuf(t, "scale", "t"), s, t->numel);
    LAUNCHED(be, "k_scale");
}

/* ---- bias ---------------------------------------------------------------------- */

__global__ void k_bias_add(CuF out, CuF inp, CuF bias, int64_t n, int64_t K) {
    GRID_STRIDE(i, n) stf(out, i, ldf(inp, i) + ldf(bias, i % K));
}
/* all bf16, K % 8 == 0: a chunk of 8 never crosses a row */
__global__ void k_bias_add_v8(CuF out, CuF inp, CuF bias, int64_t n, int64_t K) {
    GRID_STRIDE(j, n / 8) {
        float x[8], b[8];
        ld8(inp.p, j, x);
        ld8(bias.p, (j * 8 % K) / 8, b);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] += b[k];
        st8(out.p, j, x);
    }
}

// out: (N, K) = inp (N, K) + bias (K)
extern "C" void cuda_bias_add(Backend *be, Tensor *out, const Tensor *inp, const Tensor *bias) {
    if (!bias || bias->numel == 0) VLMC_PANIC("bias_add: empty bias");
    int64_t K = bias->numel;
    be_check_numel("bias_add", inp, out->numel, "inp");
    if (out->numel % K) VLMC_PANIC("bias_add: out has %lld elements, not a multiple of bias (%lld)", (long long)out->numel, (long long)K);
    if (out->numel == 0) return;
    CuF o = cuf(out, "bias_add", "out"), x = cuf(inp, "bias_add", "inp"), b = cuf(bias, "bias_add", "bias");
    if (K % 8 == 0 && vec8_ok(o, x, b))
        k_bias_add_v8<<<cu_blocks(out->numel / 8, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, x, b, out->numel, K);
    else
        k_bias_add<<<cu_blocks(out->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, x, b, out->numel, K);
    LAUNCHED(be, "k_bias_add");
}

// dbias (K) += sum over rows of dout (N, K)
extern "C" void cuda_bias_backward(Backend *be, Tensor *dbias, const Tensor *dout) {
    if (!dbias || dbias->numel == 0) VLMC_PANIC("bias_backward: empty dbias");
    int64_t K = dbias->numel;
    if (dout->numel % K) VLMC_PANIC("bias_backward: dout has %lld elements, not a multiple of %lld", (long long)dout->numel, (long long)K);
    CuF none = {NULL, 0};
    cuda_colsum(be, COL_SUM, dout->numel / K, K, cuf(dout, "bias_backward", "dout"), none, none, none,
                cuf(dbias, "bias_backward", "dbias"), 0, none);
}

__global__ void k_mask_rows(CuF t, CuF mask, int64_t n, int64_t C) {
    GRID_STRIDE(i, n) stf(t, i, ldf(t, i) * ldf(mask, i / C));
}
// t (R, C) row r *= row_mask[r]
extern "C" void cuda_mask_rows(Backend *be, Tensor *t, const Tensor *row_mask) {
    if (!row_mask || row_mask->numel == 0) VLMC_PANIC("mask_rows: empty row_mask");
    int64_t R = row_mask->numel;
    if (t->numel % R) VLMC_PANIC("mask_rows: t has %lld elements, not a multiple of %lld rows", (long long)t->numel, (long long)R);
    if (t->numel == 0) return;
    k_mask_rows<<<cu_blocks(t->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(t, "mask_rows", "t"), cuf(row_mask, "mask_rows", "row_mask"), t->numel, t->numel / R);
    LAUNCHED(be, "k_mask_rows");
}

/* ---- column reductions ----------------------------------------------------------- */

#define COL_ROWS 32  /* rows per partial: partial sums are combined in chunk order */

__global__ void k_col_partial(int mode, int64_t N, int64_t C, CuF dout, CuF x, CuF mean, CuF rstd, float *part) {
    int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t chunk = blockIdx.y;
    if (c >= C) return;
    int64_t r0 = chunk * COL_ROWS, r1 = r0 + COL_ROWS < N ? r0 + COL_ROWS : N;
    float s = 0.f;
    for (int64_t r = r0; r < r1; r++) {
        float g = ldf(dout, r * C + c);
        switch (mode) {
        case COL_SUM: s += g; break;
        case COL_MUL: s += g * ldf(x, r * C + c); break;
        case COL_LN_W: s += g * (ldf(x, r * C + c) - ldf(mean, r)) * ldf(rstd, r); break;
        default: s += g * ldf(x, r * C + c) * ldf(rstd, r); break;
        }
    }
    part[chunk * C + c] = s;
}

__device__ __forceinline__ float gate_factor(CuF g, int64_t c) {
    if (!g.p) return 1.f;
    float t = tanhf(ldf(g, c));
    return 1.f - t * t;
}

__global__ void k_col_finish(const float *part, int64_t nchunks, int64_t C, CuF out, CuF gate) {
    int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.f;
    for (int64_t k = 0; k < nchunks; k++) s += part[k * C + c];
    accf(out, c, s * gate_factor(gate, c));
}

__global__ void k_col_finish_all(const float *part, int64_t nchunks, int64_t C, CuF out, CuF gate) {
    __shared__ float shm[32];
    float s = 0.f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
        for (int64_t k = 0; k < nchunks; k++) s += part[k * C + c];
    s = block_sum(s, shm);
    if (threadIdx.x == 0) accf(out, 0, s * gate_factor(gate, 0));
}

void cuda_colsum(Backend *be, int mode, int64_t N, int64_t C, CuF dout, CuF x, CuF mean, CuF rstd, CuF out, int all,
                 CuF gate) {
    if (N == 0 || C == 0) return;
    int64_t nchunks = (N + COL_ROWS - 1) / COL_ROWS;
    if (nchunks > 65535) VLMC_PANIC("column reduction over %lld rows: too many for one launch", (long long)N);
    float *part = (float *)cuda_temp(be, CUDA_TEMP_RED, (size_t)(nchunks * C) * sizeof(float));
    if (!part) return;
    dim3 grid((unsigned)((C + CU_THREADS - 1) / CU_THREADS), (unsigned)nchunks);
    k_col_partial<<<grid, CU_THREADS, 0, STREAM(be)>>>(mode, N, C, dout, x, mean, rstd, part);
    LAUNCHED(be, "k_col_partial");
    if (all) {
        k_col_finish_all<<<1, 1024, 0, STREAM(be)>>>(part, nchunks, C, out, gate);
    } else {
        k_col_finish<<<(unsigned)((C + CU_THREADS - 1) / CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(part, nchunks, C,
                                                                                                    out, gate);
    }
    LAUNCHED(be, "k_col_finish");
}

/* ---- activations ------------------------------------------------------------------ */

#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + expf(-x)); }

__device__ __forceinline__ float act_f(float x, int kind) {
    switch (kind) {
    case ACT_GELU_TANH: return 0.5f * x * (1.f + tanhf(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
    case ACT_GELU_ERF: return 0.5f * x * (1.f + erff(x * INV_SQRT_2));
    case ACT_QUICK_GELU: return x * sigmoidf_(1.702f * x);
    case ACT_SILU: return x * sigmoidf_(x);
    default: return x > 0.f || x != x ? x : 0.f;  /* relu keeps NaN visible, as the CPU backend */
    }
}
__device__ __forceinline__ float act_df(float x, int kind) {
    switch (kind) {
    case ACT_GELU_TANH: {
        float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        float t = tanhf(u);
        return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * SQRT_2_OVER_PI * (1.f + 3.f * 0.044715f * x * x);
    }
    case ACT_GELU_ERF: return 0.5f * (1.f + erff(x * INV_SQRT_2)) + x * expf(-0.5f * x * x) * INV_SQRT_2PI;
    case ACT_QUICK_GELU: {
        float s = sigmoidf_(1.702f * x);
        return s + 1.702f * x * s * (1.f - s);
    }
    case ACT_SILU: {
        float s = sigmoidf_(x);
        return s * (1.f + x * (1.f - s));
    }
    default: return x > 0.f ? 1.f : 0.f;
    }
}

__global__ void k_act(CuF out, CuF inp, int kind, int64_t n) {
    GRID_STRIDE(i, n) stf(out, i, act_f(ldf(inp, i), kind));
}
__global__ void k_act_backward(CuF dinp, CuF dout, CuF inp, int kind, int64_t n) {
    GRID_STRIDE(i, n) accf(dinp, i, ldf(dout, i) * act_df(ldf(inp, i), kind));
}

__global__ void k_act_v8(CuF out, CuF inp, int kind, int64_t n) {
    GRID_STRIDE(j, n / 8) {
        float x[8];
        ld8(inp.p, j, x);
#pragma unroll
        for (int k = 0; k < 8; k++) x[k] = act_f(x[k], kind);
        st8(out.p, j, x);
    }
    int64_t t = n / 8 * 8 + threadIdx.x;
    if (blockIdx.x == 0 && t < n) stf(out, t, act_f(ldf(inp, t), kind));
}
__global__ void k_act_backward_v8(CuF dinp, CuF dout, CuF inp, int kind, int64_t n) {
    GRID_STRIDE(j, n / 8) {
        float d[8], g[8], x[8];
        ld8(dinp.p, j, d);
        ld8(dout.p, j, g);
        ld8(inp.p, j, x);
#pragma unroll
        for (int k = 0; k < 8; k++) d[k] += g[k] * act_df(x[k], kind);
        st8(dinp.p, j, d);
    }
    int64_t t = n / 8 * 8 + threadIdx.x;
    if (blockIdx.x == 0 && t < n) accf(dinp, t, ldf(dout, t) * act_df(ldf(inp, t), kind));
}

extern "C" void cuda_act(Backend *be, Tensor *out, const Tensor *inp, ActKind kind) {
    be_check_numel("act", inp, out->numel, "inp");
    if ((int)kind < 0 || kind >= ACT__COUNT) VLMC_PANIC("act: unknown kind %d", (int)kind);
    if (out->numel == 0) return;
    CuF o = cuf(out, "act", "out"), x = cuf(inp, "act", "inp");
    if (vec8_ok(o, x))
        k_act_v8<<<cu_blocks(out->numel / 8 + 1, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, x, (int)kind, out->numel);
    else
        k_act<<<cu_blocks(out->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, x, (int)kind, out->numel);
    LAUNCHED(be, "k_act");
}

extern "C" void cuda_act_backward(Backend *be, Tensor *dinp, const Tensor *dout, const Tensor *inp, ActKind kind) {
    be_check_numel("act_backward", dout, dinp->numel, "dout");
    be_check_numel("act_backward", inp, dinp->numel, "inp");
    if ((int)kind < 0 || kind >= ACT__COUNT) VLMC_PANIC("act_backward: unknown kind %d", (int)kind);
    if (dinp->numel == 0) return;
    CuF di = cuf(dinp, "act_backward", "dinp"), g = cuf(dout, "act_backward", "dout"), x = cuf(inp, "act_backward", "inp");
    if (vec8_ok(di, g, x))
        k_act_backward_v8<<<cu_blocks(dinp->numel / 8 + 1, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(di, g, x, (int)kind,
                                                                                                     dinp->numel);
    else
        k_act_backward<<<cu_blocks(dinp->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(di, g, x, (int)kind, dinp->numel);
    LAUNCHED(be, "k_act_backward");
}

/* ---- swiglu ----------------------------------------------------------------------- */

__global__ void k_swiglu(CuF out, CuF gate, CuF up, int64_t n) {
    GRID_STRIDE(i, n) {
        float g = ldf(gate, i);
        stf(out, i, g * sigmoidf_(g) * ldf(up, i));
    }
}
__global__ void k_swiglu_backward(CuF dgate, CuF dup, CuF dout, CuF gate, CuF up, int64_t n) {
    GRID_STRIDE(i, n) {
        float g = ldf(gate, i), u = ldf(up, i), d = ldf(dout, i), s = sigmoidf_(g);
        if (dgate.p) accf(dgate, i, d * u * s * (1.f + g * (1.f - s)));
        if (dup.p) accf(dup, i, d * g * s);
    }
}

__global__ void k_swiglu_v8(CuF out, CuF gate, CuF up, int64_t n) {
    GRID_STRIDE(j, n / 8) {
        float g[8], u[8];
        ld8(gate.p, j, g);
        ld8(up.p, j, u);
#pragma unroll
        for (int k = 0; k < 8; k++) g[k] = g[k] * sigmoidf_(g[k]) * u[k];
        st8(out.p, j, g);
    }
    int64_t t = n / 8 * 8 + threadIdx.x;
    if (blockIdx.x == 0 && t < n) {
        float g = ldf(gate, t);
        stf(out, t, g * sigmoidf_(g) * ldf(up, t));
    }
}

// out (N, F) = silu(gate) * up
extern "C" void cuda_swiglu(Backend *be, Tensor *out, const Tensor *gate, const Tensor *up) {
    be_check_numel("swiglu", gate, out->numel, "gate");
    be_check_numel("swiglu", up, out->numel, "up");
    if (out->numel == 0) return;
    CuF o = cuf(out, "swiglu", "out"), g = cuf(gate, "swiglu", "gate"), u = cuf(up, "swiglu", "up");
    if (vec8_ok(o, g, u))
        k_swiglu_v8<<<cu_blocks(out->numel / 8 + 1, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, g, u, out->numel);
    else
        k_swiglu<<<cu_blocks(out->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, g, u, out->numel);
    LAUNCHED(be, "k_swiglu");
}

extern "C" void cuda_swiglu_backward(Backend *be, Tensor *dgate, Tensor *dup, const Tensor *dout, const Tensor *gate,
                                     const Tensor *up) {
    int64_t n = dout->numel;
    be_check_numel("swiglu_backward", gate, n, "gate");
    be_check_numel("swiglu_backward", up, n, "up");
    if (dgate) be_check_numel("swiglu_backward", dgate, n, "dgate");
    if (dup) be_check_numel("swiglu_backward", dup, n, "dup");
    if (n == 0 || (!dgate && !dup)) return;
    k_swiglu_backward<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(dgate, "swiglu_backward", "dgate"), cuf(dup, "swiglu_backward", "dup"), cuf(dout, "swiglu_backward", "dout"),
        cuf(gate, "swiglu_backward", "gate"), cuf(up, "swiglu_backward", "up"), n);
    LAUNCHED(be, "k_swiglu_backward");
}

/* ---- tanh gate ------------------------------------------------------------------- */

__global__ void k_tanh_gate(CuF out, CuF x, CuF gate, CuF resid, int64_t n, int64_t G) {
    GRID_STRIDE(i, n) {
        float t = tanhf(ldf(gate, G == 1 ? 0 : i % G));
        stf(out, i, (resid.p ? ldf(resid, i) : 0.f) + t * ldf(x, i));
    }
}
__global__ void k_tanh_gate_backward(CuF dx, CuF dresid, CuF dout, CuF gate, int64_t n, int64_t G) {
    GRID_STRIDE(i, n) {
        float d = ldf(dout, i);
        if (dx.p) accf(dx, i, tanhf(ldf(gate, G == 1 ? 0 : i % G)) * d);
        if (dresid.p) accf(dresid, i, d);
    }
}

/* all bf16, G == 1 or G % 8 == 0 */
__global__ void k_tanh_gate_v8(CuF out, CuF x, CuF gate, CuF resid, int64_t n, int64_t G) {
    GRID_STRIDE(j, n / 8) {
        float v[8], g[8], r[8];
        ld8(x.p, j, v);
        if (G == 1) {
#pragma unroll
            for (int k = 0; k < 8; k++) g[k] = ldf(gate, 0);
        } else {
            ld8(gate.p, (j * 8 % G) / 8, g);
        }
        if (resid.p) {
            ld8(resid.p, j, r);
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) r[k] = 0.f;
        }
#pragma unroll
        for (int k = 0; k < 8; k++) v[k] = r[k] + tanhf(g[k]) * v[k];
        st8(out.p, j, v);
    }
    int64_t t = n / 8 * 8 + threadIdx.x;
    if (blockIdx.x == 0 && t < n)
        stf(out, t, (resid.p ? ldf(resid, t) : 0.f) + tanhf(ldf(gate, G == 1 ? 0 : t % G)) * ldf(x, t));
}

static int64_t gate_width(const char *op, const Tensor *gate, int64_t n) {
    if (!gate) VLMC_PANIC("%s: gate is NULL", op);
    int64_t G = gate->numel;
    if (G < 1 || n % G) VLMC_PANIC("%s: gate has %lld elements; expected 1 or the row width of %lld elements", op,
                                   (long long)G, (long long)n);
    return G;
}

// out (N, C) = resid + tanh(gate) * x, gate (1) or (C)
extern "C" void cuda_tanh_gate(Backend *be, Tensor *out, const Tensor *x, const Tensor *gate, const Tensor *resid) {
    int64_t n = out->numel, G = gate_width("tanh_gate", gate, n);
    be_check_numel("tanh_gate", x, n, "x");
    if (resid) be_check_numel("tanh_gate", resid, n, "resid");
    if (n == 0) return;
    CuF o = cuf(out, "tanh_gate", "out"), fx = cuf(x, "tanh_gate", "x"), g = cuf(gate, "tanh_gate", "gate"),
        r = cuf(resid, "tanh_gate", "resid");
    /* the gate is read with ld8 only when G % 8 == 0 (then it must be aligned too) */
    if ((G == 1 || G % 8 == 0) && vec8_ok(o, fx, r, G == 1 ? CuF{NULL, 0} : g) && g.bf)
        k_tanh_gate_v8<<<cu_blocks(n / 8 + 1, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, fx, g, r, n, G);
    else
        k_tanh_gate<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, fx, g, r, n, G);
    LAUNCHED(be, "k_tanh_gate");
}

extern "C" void cuda_tanh_gate_backward(Backend *be, Tensor *dx, Tensor *dgate, Tensor *dresid, const Tensor *dout,
                                        const Tensor *x, const Tensor *gate) {
    int64_t n = dout->numel, G = gate_width("tanh_gate_backward", gate, n);
    be_check_numel("tanh_gate_backward", x, n, "x");
    if (dx) be_check_numel("tanh_gate_backward", dx, n, "dx");
    if (dresid) be_check_numel("tanh_gate_backward", dresid, n, "dresid");
    if (dgate) be_check_numel("tanh_gate_backward", dgate, G, "dgate");
    if (n == 0) return;
    CuF g = cuf(gate, "tanh_gate_backward", "gate");
    if (dx || dresid) {
        k_tanh_gate_backward<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
            cuf(dx, "tanh_gate_backward", "dx"), cuf(dresid, "tanh_gate_backward", "dresid"),
            cuf(dout, "tanh_gate_backward", "dout"), g, n, G);
        LAUNCHED(be, "k_tanh_gate_backward");
    }
    if (dgate) {
        /* gate (C): per-column sums over rows; gate (1): one sum over everything,
         * taken as rows of C = n / rows... any split works, use the full row width */
        int64_t C = G == 1 ? (x->ndim > 1 ? x->shape[x->ndim - 1] : n) : G;
        CuF none = {NULL, 0};
        cuda_colsum(be, COL_MUL, n / C, C, cuf(dout, "tanh_gate_backward", "dout"), cuf(x, "tanh_gate_backward", "x"),
                    none, none, cuf(dgate, "tanh_gate_backward", "dgate"), G == 1, g);
    }
}
