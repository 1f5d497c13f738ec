/* kernels/cpu/cpu_act.c — CPU activations and gates: act / act_backward (gelu
 * tanh, gelu erf, quick_gelu, silu, relu), swiglu and tanh-gated residuals.
 *
 * Definitions (match PyTorch / transformers):
 *   gelu_tanh(x)  = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  ("gelu_pytorch_tanh")
 *   gelu_erf(x)   = 0.5 x (1 + erf(x / sqrt(2)))
 *   quick_gelu(x) = x sigmoid(1.702 x)                                  (CLIP)
 *   silu(x)       = x sigmoid(x)
 * Backward ops accumulate (+=). The dgate reduction of tanh_gate_backward is
 * deterministic: per-column sums over rows in order (gate (C)), or a fixed
 * number of fixed element blocks added in block order (gate (1)). */
/* GCC refuses to if-convert (and so to vectorise) float compares under the
 * default -ftrapping-math; nothing here relies on FP exception flags. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
/* gates up to this many values get their tanh precomputed on the stack */
#define GATE_MAX 4096

/* expf that the compiler can vectorise inside `omp simd` loops (libm's expf
 * is a scalar call): Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2,
 * a degree-6 polynomial for e^r (max rel. error ~2 ulp on the reduced range)
 * and 2^n built in the exponent bits. n is rounded with the 1.5 * 2^23
 * "magic number" and read back from the float's bits with unsigned
 * arithmetic, so there is no float-to-int conversion (no UB for NaN). Inputs
 * are clamped to [-87, 88] so the exponent never overflows (e^-87 ~ 1.6e-38
 * stands for 0 wherever it is used here: sigmoid and tanh saturate); the
 * clamps keep NaN, so NaN propagates. */
CPU_INLINE float vexpf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;   /* ln2 high part (exact in float) */
    r = r - n * -2.12194440e-4f;      /* ln2 low part */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    uint32_t sb = (tb - 0x4B400000u + 127u) << 23; /* (n + 127) << 23 */
    float sc;
    memcpy(&sc, &sb, sizeof sc);
    return p * sc;
}

CPU_INLINE float sigmoidf(float x) { return 1.0f / (1.0f + vexpf(-x)); }

/* tanh(u) = 1 - 2 / (1 + e^{2u}); absolute error ~1e-7, which is what gelu's
 * 0.5 x (1 + tanh) needs (the relative error near u = 0 does not matter there) */
CPU_INLINE float vtanh_abs(float u) { return 1.0f - 2.0f / (1.0f + vexpf(2.0f * u)); }

CPU_INLINE float act_f(float x, ActKind k) {
    switch (k) {
    case ACT_GELU_TANH: return 0.5f * x * (1.0f + vtanh_abs(GELU_K * (x + GELU_A * x * x * x)));
    case ACT_GELU_ERF: return 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    case ACT_QUICK_GELU: return x * sigmoidf(1.702f * x);
    case ACT_SILU: return x * sigmoidf(x);
    case ACT_RELU: return x < 0.0f ? 0.0f : x; /* keeps NaN, as torch.relu */
    default: return 0.0f;
    }
}

CPU_INLINE float act_df(float x, ActKind k) {
    switch (k) {
    case ACT_GELU_TANH: {
        float t = vtanh_abs(GELU_K * (x + GELU_A * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
    }
    case ACT_GELU_ERF: return 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * INV_SQRT_2PI * vexpf(-0.5f * x * x);
    case ACT_QUICK_GELU: {
        float s = sigmoidf(1.702f * x);
        return s + 1.702f * x * s * (1.0f - s);
    }
    case ACT_SILU: {
        float s = sigmoidf(x);
        return s + x * s * (1.0f - s);
    }
    case ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    default: return 0.0f;
    }
}

static void check_kind(const char *op, ActKind k) {
    if ((int)k < 0 || k >= ACT__COUNT) VLMC_PANIC("%s: unknown activation kind %d", op, (int)k);
}

/* Chunk kernels, compiled for the base ISA and AVX2 (CPU_DUAL). The switch is
 * hoisted out of the loop, so each inner loop is branch-free (act_f is inlined
 * with a constant kind). Kinds built on vexpf get `simd`; gelu_erf calls
 * libm's erff, which does not vectorise (clang rejects a simd request it
 * cannot honour). */
#define ACT_CASE(KIND, BODY)                     \
    case KIND:                                   \
        _Pragma("omp simd")                      \
        for (int64_t i = 0; i < n; i++) BODY;    \
        break;

CPU_INLINE void act_fwd_chunk_body(float *o, const float *x, int64_t n, ActKind k) {
    switch (k) {
        ACT_CASE(ACT_GELU_TANH, o[i] = act_f(x[i], ACT_GELU_TANH))
        ACT_CASE(ACT_QUICK_GELU, o[i] = act_f(x[i], ACT_QUICK_GELU))
        ACT_CASE(ACT_SILU, o[i] = act_f(x[i], ACT_SILU))
        ACT_CASE(ACT_RELU, o[i] = act_f(x[i], ACT_RELU))
    case ACT_GELU_ERF:
        for (int64_t i = 0; i < n; i++) o[i] = act_f(x[i], ACT_GELU_ERF);
        break;
    default: break;
    }
}
CPU_DUAL(act_fwd_chunk, (float *o, const float *x, int64_t n, ActKind k), (o, x, n, k))

CPU_INLINE void act_bwd_chunk_body(float *dx, const float *g, const float *x, int64_t n, ActKind k) {
    switch (k) {
        ACT_CASE(ACT_GELU_TANH, dx[i] += g[i] * act_df(x[i], ACT_GELU_TANH))
        ACT_CASE(ACT_QUICK_GELU, dx[i] += g[i] * act_df(x[i], ACT_QUICK_GELU))
        ACT_CASE(ACT_SILU, dx[i] += g[i] * act_df(x[i], ACT_SILU))
        ACT_CASE(ACT_RELU, dx[i] += g[i] * act_df(x[i], ACT_RELU))
    case ACT_GELU_ERF:
        for (int64_t i = 0; i < n; i++) dx[i] += g[i] * act_df(x[i], ACT_GELU_ERF);
        break;
    default: break;
    }
}
CPU_DUAL(act_bwd_chunk, (float *dx, const float *g, const float *x, int64_t n, ActKind k), (dx, g, x, n, k))

CPU_INLINE void swiglu_fwd_chunk_body(float *o, const float *a, const float *b, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] = a[i] * sigmoidf(a[i]) * b[i];
}
CPU_DUAL(swiglu_fwd_chunk, (float *o, const float *a, const float *b, int64_t n), (o, a, b, n))

CPU_INLINE void swiglu_bwd_chunk_body(float *dg, float *du, const float *g, const float *a, const float *b,
                                      int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float s = sigmoidf(a[i]);
        float silu = a[i] * s;
        dg[i] += g[i] * b[i] * (s + silu * (1.0f - s));
        du[i] += g[i] * silu;
    }
}
CPU_DUAL(swiglu_bwd_chunk, (float *dg, float *du, const float *g, const float *a, const float *b, int64_t n),
         (dg, du, g, a, b, n))

/* elementwise work is split into chunks of this many elements */
#define ACT_CHUNK 4096
#define FOR_CHUNKS(n, STMT)                                                              \
    do {                                                                                 \
        const int64_t nch_ = ((n) + ACT_CHUNK - 1) / ACT_CHUNK;                          \
        _Pragma("omp parallel for schedule(static) if (nch_ > 2)")                       \
        for (int64_t ch_ = 0; ch_ < nch_; ch_++) {                                       \
            const int64_t lo = ch_ * ACT_CHUNK, len = cpu_min64((n) - lo, ACT_CHUNK);    \
            STMT;                                                                        \
        }                                                                                \
    } while (0)

// inp, out: any shape, same numel; out may be inp
void cpu_act(Backend *be, Tensor *out, const Tensor *inp, ActKind kind) {
    (void)be;
    check_kind("act", kind);
    be_check_numel("act", inp, out->numel, "inp");
    float *o = cpu_f32(out, "act");
    const float *x = cpu_f32(inp, "act");
    FOR_CHUNKS(out->numel, act_fwd_chunk(o + lo, x + lo, len, kind));
}

// dinp += dout * act'(inp)
void cpu_act_backward(Backend *be, Tensor *dinp, const Tensor *dout, const Tensor *inp, ActKind kind) {
    (void)be;
    check_kind("act_backward", kind);
    be_check_numel("act_backward", dout, dinp->numel, "dout");
    be_check_numel("act_backward", inp, dinp->numel, "inp");
    float *dx = cpu_f32(dinp, "act_backward");
    const float *g = cpu_f32(dout, "act_backward"), *x = cpu_f32(inp, "act_backward");
    FOR_CHUNKS(dinp->numel, act_bwd_chunk(dx + lo, g + lo, x + lo, len, kind));
}

// gate, up, out: (N, F); out = silu(gate) * up
void cpu_swiglu(Backend *be, Tensor *out, const Tensor *gate, const Tensor *up) {
    (void)be;
    be_check_numel("swiglu", gate, out->numel, "gate");
    be_check_numel("swiglu", up, out->numel, "up");
    float *o = cpu_f32(out, "swiglu");
    const float *a = cpu_f32(gate, "swiglu"), *b = cpu_f32(up, "swiglu");
    FOR_CHUNKS(out->numel, swiglu_fwd_chunk(o + lo, a + lo, b + lo, len));
}

// dgate += dout * up * silu'(gate); dup += dout * silu(gate)
void cpu_swiglu_backward(Backend *be, Tensor *dgate, Tensor *dup, const Tensor *dout, const Tensor *gate,
                         const Tensor *up) {
    (void)be;
    const int64_t n = dout->numel;
    be_check_numel("swiglu_backward", dgate, n, "dgate");
    be_check_numel("swiglu_backward", dup, n, "dup");
    be_check_numel("swiglu_backward", gate, n, "gate");
    be_check_numel("swiglu_backward", up, n, "up");
    float *dg = cpu_f32(dgate, "swiglu_backward"), *du = cpu_f32(dup, "swiglu_backward");
    const float *g = cpu_f32(dout, "swiglu_backward"), *a = cpu_f32(gate, "swiglu_backward"),
                *b = cpu_f32(up, "swiglu_backward");
    FOR_CHUNKS(n, swiglu_bwd_chunk(dg + lo, du + lo, g + lo, a + lo, b + lo, len));
}

/* row length C of x for a gate of G elements: G == 1 or G == C (last dim) */
static int64_t gate_cols(const char *op, const Tensor *x, const Tensor *gate) {
    if (!gate) VLMC_PANIC("%s: gate is NULL", op);
    int64_t C = x->shape[x->ndim - 1];
    if (gate->numel != 1 && gate->numel != C)
        VLMC_PANIC("%s: gate has %lld elements, expected 1 or the last dim of x (%lld)", op,
                   (long long)gate->numel, (long long)C);
    return C;
}

/* tanh of the gate broadcast to C values (computed once per call): in buf
 * when C <= GATE_MAX, else in *heap (malloc'd here, freed by the caller). */
static const float *gate_tanh(const char *op, const float *gg, int64_t G, int64_t C, float *buf, float **heap) {
    float *t = buf;
    if (C > GATE_MAX) {
        t = *heap = malloc((size_t)C * sizeof *t);
        if (!t) VLMC_PANIC("%s: out of memory for %lld gate values", op, (long long)C);
    }
    const float t0 = tanhf(gg[0]);
    for (int64_t c = 0; c < C; c++) t[c] = G == 1 ? t0 : tanhf(gg[c]);
    return t;
}

// x, out, resid: (N, C); gate (1) or (C); out = resid + tanh(gate) * x (resid NULL = 0)
void cpu_tanh_gate(Backend *be, Tensor *out, const Tensor *x, const Tensor *gate, const Tensor *resid) {
    (void)be;
    be_check_numel("tanh_gate", x, out->numel, "x");
    if (resid) be_check_numel("tanh_gate", resid, out->numel, "resid");
    int64_t C = gate_cols("tanh_gate", x, gate), N = cpu_rows_of("tanh_gate", out->numel, C, "out");
    int64_t G = gate->numel;
    float *o = cpu_f32(out, "tanh_gate");
    const float *xx = cpu_f32(x, "tanh_gate"), *gg = cpu_f32(gate, "tanh_gate");
    const float *rr = resid ? cpu_f32(resid, "tanh_gate") : NULL;
    float buf[GATE_MAX], *heap = NULL;
    const float *tg = gate_tanh("tanh_gate", gg, G, C, buf, &heap);
#pragma omp parallel for schedule(static) if (N * C >= CPU_PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        float *orow = o + r * C;
        const float *xr = xx + r * C;
        if (rr) {
            const float *rrow = rr + r * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++) orow[c] = rrow[c] + tg[c] * xr[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) orow[c] = tg[c] * xr[c];
        }
    }
    free(heap);
}

// dx += tanh(g) dout; dgate += sum_rows dout * x * (1 - tanh(g)^2); dresid += dout
void cpu_tanh_gate_backward(Backend *be, Tensor *dx, Tensor *dgate, Tensor *dresid, const Tensor *dout,
                            const Tensor *x, const Tensor *gate) {
    (void)be;
    const char *op = "tanh_gate_backward";
    const int64_t n = dout->numel;
    be_check_numel(op, x, n, "x");
    if (dx) be_check_numel(op, dx, n, "dx");
    if (dresid) be_check_numel(op, dresid, n, "dresid");
    int64_t C = gate_cols(op, x, gate), N = cpu_rows_of(op, n, C, "dout"), G = gate->numel;
    if (dgate) be_check_numel(op, dgate, G, "dgate");
    const float *g = cpu_f32(dout, op), *xx = cpu_f32(x, op), *gg = cpu_f32(gate, op);
    if (dx || dresid) {
        float *pdx = dx ? cpu_f32(dx, op) : NULL, *pdr = dresid ? cpu_f32(dresid, op) : NULL;
        float buf[GATE_MAX], *heap = NULL;
        const float *tg = gate_tanh(op, gg, G, C, buf, &heap);
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
        for (int64_t r = 0; r < N; r++)
            for (int64_t c = 0; c < C; c++) {
                int64_t i = r * C + c;
                if (pdx) pdx[i] += tg[c] * g[i];
                if (pdr) pdr[i] += g[i];
            }
        free(heap);
    }
    if (!dgate) return;
    float *pdg = cpu_f32(dgate, op);
    if (G == 1) {
        /* fixed element blocks, partial sums added in block order */
        double part[CPU_ROW_BLOCKS];
        int64_t bs = (n + CPU_ROW_BLOCKS - 1) / CPU_ROW_BLOCKS;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
        for (int blk = 0; blk < CPU_ROW_BLOCKS; blk++) {
            int64_t lo = blk * bs, hi = cpu_min64(n, lo + bs);
            double s = 0;
            for (int64_t i = lo; i < hi; i++) s += (double)g[i] * xx[i];
            part[blk] = s;
        }
        double s = 0;
        for (int blk = 0; blk < CPU_ROW_BLOCKS; blk++) s += part[blk];
        double t = tanh((double)gg[0]);
        pdg[0] += (float)(s * (1.0 - t * t));
        return;
    }
    /* gate (C): column blocks, rows summed in order */
    int64_t nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * CPU_COL_BLOCK, w = cpu_min64(C - c0, CPU_COL_BLOCK);
        double acc[CPU_COL_BLOCK] = {0};
        for (int64_t r = 0; r < N; r++) {
            const float *gr = g + r * C + c0, *xr = xx + r * C + c0;
            for (int64_t c = 0; c < w; c++) acc[c] += (double)gr[c] * xr[c];
        }
        for (int64_t c = 0; c < w; c++) {
            double t = tanh((double)gg[c0 + c]);
            pdg[c0 + c] += (float)(acc[c] * (1.0 - t * t));
        }
    }
}
