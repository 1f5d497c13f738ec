/* kernels/cpu/cpu_rope.c — CPU rotary position embedding (transformers' Llama
 * convention) and its backward.
 *
 * inp, out: (N, H, D) (any leading shape whose rows number N*H), pos: (N) i32.
 * For i < rot/2, the pair (x[i], x[i + rot/2]) of every head is rotated by
 * angle pos * inv_freq[i]; dims >= rot_dim pass through unchanged:
 *   out[i]         = x[i] cos - x[i + rot/2] sin
 *   out[i + rot/2] = x[i + rot/2] cos + x[i] sin
 * inv_freq[i] = 1 / theta^(2i / rot), optionally rescaled as transformers'
 * _compute_llama3_parameters does. To reproduce transformers' float32
 * numerics (and so match its outputs at long positions), inv_freq, the Llama 3
 * rescaling and the angle pos * inv_freq are computed in float32 in the same
 * operation order; cos / sin of that float angle are evaluated in double and
 * rounded once. The backward rotates by the negative angle (R^T = R^-1) and
 * accumulates. */
#include "kernels/cpu/cpu_loops.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_scratch.h"

#include <math.h>

#define ROPE_MAX_HALF 512 /* rot_dim up to 1024 */

/* inv_freq (rot/2) for d, float32 as transformers computes it */
static void rope_inv_freq(const char *op, const RopeDesc *d, float *inv) {
    const int half = d->rot_dim / 2;
    for (int i = 0; i < half; i++) {
        /* 1.0 / (base ** (arange(0, dim, 2).float() / dim)) */
        float e = (float)(2 * i) / (float)d->rot_dim;
        inv[i] = 1.0f / powf(d->theta, e);
    }
    if (d->scaling == ROPE_NONE) return;
    if (d->scaling != ROPE_LLAMA3) VLMC_PANIC("%s: unknown rope scaling %d", op, (int)d->scaling);
    if (!(d->factor > 0) || !(d->high_freq_factor > d->low_freq_factor) || !(d->low_freq_factor > 0) ||
        d->original_max_pos <= 0)
        VLMC_PANIC("%s: bad llama3 rope_scaling (factor %g, low %g, high %g, original_max_pos %d)", op,
                   (double)d->factor, (double)d->low_freq_factor, (double)d->high_freq_factor, d->original_max_pos);
    const double old = d->original_max_pos;
    const float low_wl = (float)(old / d->low_freq_factor), high_wl = (float)(old / d->high_freq_factor);
    const float two_pi = (float)(2 * M_PI), fac = d->factor, oldf = (float)old, lowf = d->low_freq_factor;
    const float span = (float)((double)d->high_freq_factor - (double)d->low_freq_factor);
    for (int i = 0; i < half; i++) {
        float f = inv[i];
        float wl = (1.0f / f) * two_pi; /* 2 * math.pi / inv_freq (torch: reciprocal * scalar) */
        float llama = wl > low_wl ? f / fac : f;
        if (!(wl < high_wl) && !(wl > low_wl)) {
            float smooth = ((1.0f / wl) * oldf - lowf) / span;
            llama = (1.0f - smooth) * llama / fac + smooth * llama;
        }
        inv[i] = llama;
    }
}

/* cos and sign * sin of pos * inv[i] for i < half into cs, sn */
static void rope_angles(float p, const float *inv, int half, float sgn, float *cs, float *sn) {
    for (int i = 0; i < half; i++) {
        float ang = p * inv[i]; /* float32 product, as position_ids.float() * inv_freq */
        cs[i] = (float)cos((double)ang);
        sn[i] = sgn * (float)sin((double)ang);
    }
}

static void rope_impl(Backend *be, const char *op, Tensor *out_t, const Tensor *in_t, const Tensor *pos,
                      const RopeDesc *d, int backward) {
    if (!d) VLMC_PANIC("%s: RopeDesc is NULL", op);
    if (!in_t || !out_t || in_t->ndim < 2) VLMC_PANIC("%s: input must be (N, H, D)", op);
    be_check_numel(op, out_t, in_t->numel, backward ? "dinp" : "out");
    if (!pos) VLMC_PANIC("%s: pos is NULL", op);
    const int64_t D = in_t->shape[in_t->ndim - 1], N = pos->numel;
    const int64_t rows = cpu_rows_of(op, in_t->numel, D, "inp");
    if (rows == 0 && N == 0) return; /* no tokens */
    if (N == 0 || rows % N != 0)
        VLMC_PANIC("%s: %lld rows of %lld is not a multiple of %lld positions", op, (long long)rows, (long long)D,
                   (long long)N);
    const int64_t H = rows / N;
    const int rot = d->rot_dim;
    if (rot <= 0 || rot % 2 || rot > D || rot / 2 > ROPE_MAX_HALF)
        VLMC_PANIC("%s: rot_dim %d must be even, positive, <= head dim %lld and <= %d", op, rot, (long long)D,
                   2 * ROPE_MAX_HALF);
    const int half = rot / 2;
    float inv[ROPE_MAX_HALF];
    rope_inv_freq(op, d, inv);
    const int32_t *pp = cpu_i32(pos, op);
    const float *x = cpu_f32(in_t, op);
    float *o = cpu_f32(out_t, op);
    const float sgn = backward ? -1.0f : 1.0f;
    /* Packed rows repeat small positions (a batch of 8 x 96 tokens has 96
     * distinct ones), and cos/sin in double cost more than the rotation: when
     * the positions are 0..P-1 with P < N, they are computed once per position
     * into a (P, half) table in scratch. Same formula, so the same bits. */
    int32_t pmin = 0, pmax = -1;
    for (int64_t t = 0; t < N; t++) {
        if (pp[t] < pmin) pmin = pp[t];
        if (pp[t] > pmax) pmax = pp[t];
    }
    const int64_t P = (int64_t)pmax + 1;
    const int table = pmin >= 0 && P < N;
    size_t mark = be_mark(be, BUF_SCRATCH);
    float *tab = NULL;
    if (table) {
        tab = cpu_scratch_f32(be, 2 * P * half, op); /* cos (P, half), then sin (P, half) */
        if (!tab) return;
#pragma omp parallel for schedule(static) if (P * half >= 4096)
        for (int64_t q = 0; q < P; q++) rope_angles((float)q, inv, half, sgn, tab + q * half, tab + (P + q) * half);
    }
#pragma omp parallel for schedule(static) if (in_t->numel >= CPU_PAR_MIN)
    for (int64_t t = 0; t < N; t++) {
        float cbuf[ROPE_MAX_HALF], sbuf[ROPE_MAX_HALF];
        const float *cs = cbuf, *sn = sbuf;
        if (table) {
            cs = tab + (int64_t)pp[t] * half;
            sn = tab + (P + pp[t]) * half;
        } else {
            rope_angles((float)pp[t], inv, half, sgn, cbuf, sbuf);
        }
        for (int64_t h = 0; h < H; h++) {
            const float *xr = x + (t * H + h) * D;
            float *orow = o + (t * H + h) * D;
            if (!backward) {
                /* out may be inp: read both halves before writing */
                for (int i = 0; i < half; i++) {
                    float x1 = xr[i], x2 = xr[i + half];
                    orow[i] = x1 * cs[i] - x2 * sn[i];
                    orow[i + half] = x2 * cs[i] + x1 * sn[i];
                }
                if (orow != xr)
                    for (int64_t j = rot; j < D; j++) orow[j] = xr[j];
            } else {
                for (int i = 0; i < half; i++) {
                    float x1 = xr[i], x2 = xr[i + half];
                    orow[i] += x1 * cs[i] - x2 * sn[i];
                    orow[i + half] += x2 * cs[i] + x1 * sn[i];
                }
                for (int64_t j = rot; j < D; j++) orow[j] += xr[j];
            }
        }
    }
    be_reset(be, BUF_SCRATCH, mark);
}

// inp, out: (N, H, D); pos: (N)
void cpu_rope(Backend *be, Tensor *out, const Tensor *inp, const Tensor *pos, const RopeDesc *d) {
    rope_impl(be, "rope", out, inp, pos, d, 0);
}

// dinp += R(-angle) dout
void cpu_rope_backward(Backend *be, Tensor *dinp, const Tensor *dout, const Tensor *pos, const RopeDesc *d) {
    rope_impl(be, "rope_backward", dinp, dout, pos, d, 1);
}
