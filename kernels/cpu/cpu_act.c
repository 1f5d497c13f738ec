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
#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"

#include <math.h>

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
/* gates up to this many values get their tanh precomputed on the stack */
#define GATE_MAX 4096

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

static inline float act_f(float x, ActKind k) {
    switch (k) {
    case ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_A * x * x * x)));
    case ACT_GELU_ERF: return 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    case ACT_QUICK_GELU: return x * sigmoidf(1.702f * x);
    case ACT_SILU: return x * sigmoidf(x);
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    default: return 0.0f;
    }
}

static inline float act_df(float x, ActKind k) {
    switch (k) {
    case ACT_GELU_TANH: {
        float t = tanhf(GELU_K * (x + GELU_A * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
    }
    case ACT_GELU_ERF: return 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
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

/* The switch is hoisted out of the loop: one loop per kind, so each inner loop
 * is branch-free (the compiler inlines act_f with a constant kind). */
#define ACT_LOOP(KIND, BODY)                                                   \
    case KIND: {                                                               \
        const ActKind kk = KIND;                                               \
        _Pragma("omp parallel for schedule(static) if (n >= CPU_PAR_MIN / 4)") \
        for (int64_t i = 0; i < n; i++) BODY;                                  \
        (void)kk;                                                              \
        break;                                                                 \
    }

// inp, out: any shape, same numel; out may be inp
void cpu_act(Backend *be, Tensor *out, const Tensor *inp, ActKind kind) {
    (void)be;
    check_kind("act", kind);
    be_check_numel("act", inp, out->numel, "inp");
    float *o = cpu_f32(out, "act");
    const float *x = cpu_f32(inp, "act");
    int64_t n = out->numel;
    switch (kind) {
        ACT_LOOP(ACT_GELU_TANH, o[i] = act_f(x[i], kk))
        ACT_LOOP(ACT_GELU_ERF, o[i] = act_f(x[i], kk))
        ACT_LOOP(ACT_QUICK_GELU, o[i] = act_f(x[i], kk))
        ACT_LOOP(ACT_SILU, o[i] = act_f(x[i], kk))
        ACT_LOOP(ACT_RELU, o[i] = act_f(x[i], kk))
    default: break;
    }
}

// dinp += dout * act'(inp)
void cpu_act_backward(Backend *be, Tensor *dinp, const Tensor *dout, const Tensor *inp, ActKind kind) {
    (void)be;
    check_kind("act_backward", kind);
    be_check_numel("act_backward", dout, dinp->numel, "dout");
    be_check_numel("act_backward", inp, dinp->numel, "inp");
    float *dx = cpu_f32(dinp, "act_backward");
    const float *g = cpu_f32(dout, "act_backward"), *x = cpu_f32(inp, "act_backward");
    int64_t n = dinp->numel;
    switch (kind) {
        ACT_LOOP(ACT_GELU_TANH, dx[i] += g[i] * act_df(x[i], kk))
        ACT_LOOP(ACT_GELU_ERF, dx[i] += g[i] * act_df(x[i], kk))
        ACT_LOOP(ACT_QUICK_GELU, dx[i] += g[i] * act_df(x[i], kk))
        ACT_LOOP(ACT_SILU, dx[i] += g[i] * act_df(x[i], kk))
        ACT_LOOP(ACT_RELU, dx[i] += g[i] * act_df(x[i], kk))
    default: break;
    }
}

// gate, up, out: (N, F); out = silu(gate) * up
void cpu_swiglu(Backend *be, Tensor *out, const Tensor *gate, const Tensor *up) {
    (void)be;
    be_check_numel("swiglu", gate, out->numel, "gate");
    be_check_numel("swiglu", up, out->numel, "up");
    float *o = cpu_f32(out, "swiglu");
    const float *a = cpu_f32(gate, "swiglu"), *b = cpu_f32(up, "swiglu");
    int64_t n = out->numel;
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) o[i] = a[i] * sigmoidf(a[i]) * b[i];
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
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        float s = sigmoidf(a[i]);
        float silu = a[i] * s;
        dg[i] += g[i] * b[i] * (s + silu * (1.0f - s));
        du[i] += g[i] * silu;
    }
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
    /* tanh of the gate once per call (the gate is small: 1 or C values) */
    float tg[GATE_MAX];
    int64_t nt = G <= GATE_MAX ? G : 0;
    for (int64_t c = 0; c < nt; c++) tg[c] = tanhf(gg[c]);
#pragma omp parallel for schedule(static) if (N * C >= CPU_PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        for (int64_t c = 0; c < C; c++) {
            int64_t gi = G == 1 ? 0 : c;
            float t = nt ? tg[gi] : tanhf(gg[gi]);
            float v = t * xx[r * C + c];
            o[r * C + c] = rr ? rr[r * C + c] + v : v;
        }
    }
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
        float tg[GATE_MAX];
        int64_t nt = G <= GATE_MAX ? G : 0;
        for (int64_t c = 0; c < nt; c++) tg[c] = tanhf(gg[c]);
#pragma omp parallel for schedule(static) if (n >= CPU_PAR_MIN)
        for (int64_t r = 0; r < N; r++)
            for (int64_t c = 0; c < C; c++) {
                int64_t i = r * C + c, gi = G == 1 ? 0 : c;
                if (pdx) pdx[i] += (nt ? tg[gi] : tanhf(gg[gi])) * g[i];
                if (pdr) pdr[i] += g[i];
            }
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
