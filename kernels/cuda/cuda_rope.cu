/* kernels/cuda/cuda_rope.cu — rotary position embedding (transformers'
 * Llama convention: pairs (i, i + rot/2), frequency i for both halves) with
 * optional Llama 3 frequency scaling, forward and backward.
 *
 * Numerics follow the CPU backend (see RopeK). One thread per (token, head,
 * pair); dims past rot_dim pass through. out may be inp (each thread reads its
 * pair before writing it).
 */
#include <math.h>

#include "kernels/cuda/cuda_dev.cuh"

#define ROPE_MAX_HALF 512  /* rot_dim up to 1024, as the CPU backend */

/* inv_freq is computed on the host, in float32 and in transformers' operation
 * order (exactly as kernels/cpu/cpu_rope.c does), and passed by value (2 KiB,
 * within the kernel-parameter limit); the angle pos * inv_freq is a float32
 * product and its cos / sin are evaluated in double and rounded once, again
 * as on the CPU, so both backends agree to rounding at long positions. */
struct RopeK {
    int rot;
    float inv[ROPE_MAX_HALF];
};

/* back = 0: out = rope(inp); back = 1: inp += rope^-1(out) (inp is dinp, out is dout).
 * Rows are (token, head) pairs: row = n * H + h. */
__global__ void k_rope(CuF out, CuF inp, const int32_t *pos, RopeK k, int64_t rows, int64_t H, int64_t D, int back) {
    int half = k.rot / 2;
    int64_t per = half + (D - k.rot);
    GRID_STRIDE(e, rows * per) {
        int64_t row = e / per, i = e - row * per;
        int64_t base = row * D;
        if (i >= half) {  /* pass-through dims */
            int64_t j = base + k.rot + (i - half);
            if (back)
                accf(inp, j, ldf(out, j));
            else
                stf(out, j, ldf(inp, j));
            continue;
        }
        float ang = (float)pos[row / H] * k.inv[i];  /* float32 product, as position_ids.float() * inv_freq */
        double sd, cd;
        sincos((double)ang, &sd, &cd);
        float c = (float)cd, s = (float)sd;
        int64_t j1 = base + i, j2 = base + i + half;
        if (back) {
            /* rotation by -angle: the transpose of the forward rotation */
            float d1 = ldf(out, j1), d2 = ldf(out, j2);
            accf(inp, j1, d1 * c + d2 * s);
            accf(inp, j2, d2 * c - d1 * s);
        } else {
            float x1 = ldf(inp, j1), x2 = ldf(inp, j2);
            stf(out, j1, x1 * c - x2 * s);
            stf(out, j2, x2 * c + x1 * s);
        }
    }
}

static RopeK rope_params(const char *op, const RopeDesc *d, int64_t D) {
    if (!d) VLMC_PANIC("%s: NULL RopeDesc", op);
    int rot = d->rot_dim, half = rot / 2;
    if (rot <= 0 || rot % 2 || rot > D || half > ROPE_MAX_HALF)
        VLMC_PANIC("%s: rot_dim %d must be even, positive, <= head dim %lld and <= %d", op, rot, (long long)D,
                   2 * ROPE_MAX_HALF);
    RopeK k;
    k.rot = rot;
    for (int i = 0; i < half; i++) {
        /* 1.0 / (base ** (arange(0, dim, 2).float() / dim)) */
        float e = (float)(2 * i) / (float)rot;
        k.inv[i] = 1.0f / powf(d->theta, e);
    }
    if (d->scaling == ROPE_NONE) return k;
    if (d->scaling != ROPE_LLAMA3) VLMC_PANIC("%s: unknown rope scaling %d", op, (int)d->scaling);
    if (!(d->factor > 0) || !(d->high_freq_factor > d->low_freq_factor) || !(d->low_freq_factor > 0) ||
        d->original_max_pos <= 0)
        VLMC_PANIC("%s: bad llama3 rope_scaling (factor %g, low %g, high %g, original_max_pos %d)", op,
                   (double)d->factor, (double)d->low_freq_factor, (double)d->high_freq_factor, d->original_max_pos);
    /* transformers' _compute_llama3_parameters, float32 */
    const double old = d->original_max_pos;
    const float low_wl = (float)(old / d->low_freq_factor), high_wl = (float)(old / d->high_freq_factor);
    const float two_pi = (float)(2 * M_PI), fac = d->factor, oldf = (float)old, lowf = d->low_freq_factor;
    const float span = (float)((double)d->high_freq_factor - (double)d->low_freq_factor);
    for (int i = 0; i < half; i++) {
        float f = k.inv[i];
        float wl = (1.0f / f) * two_pi;
        float llama = wl > low_wl ? f / fac : f;
        if (!(wl < high_wl) && !(wl > low_wl)) {
            float smooth = ((1.0f / wl) * oldf - lowf) / span;
            llama = (1.0f - smooth) * llama / fac + smooth * llama;
        }
        k.inv[i] = llama;
    }
    return k;
}

/* x: (N, H, D) or any leading shape whose rows number N * H; pos: (N) */
static void rope_shape(const char *op, const Tensor *x, const Tensor *pos, int64_t *rows, int64_t *H, int64_t *D) {
    if (!x || x->ndim < 2) VLMC_PANIC("%s: input must be (N, H, D)", op);
    if (!pos) VLMC_PANIC("%s: pos is NULL", op);
    *D = x->shape[x->ndim - 1];
    int64_t N = pos->numel;
    *rows = *D ? x->numel / *D : 0;
    if (N == 0 || *rows % N)
        VLMC_PANIC("%s: %lld rows is not a multiple of %lld positions", op, (long long)*rows, (long long)N);
    *H = *rows / N;
}

// inp, out: (N, H, D); pos: (N) i32
extern "C" void cuda_rope(Backend *be, Tensor *out, const Tensor *inp, const Tensor *pos, const RopeDesc *d) {
    int64_t rows, H, D;
    rope_shape("rope", inp, pos, &rows, &H, &D);
    be_check_numel("rope", out, inp->numel, "out");
    RopeK k = rope_params("rope", d, D);
    int64_t n = rows * (k.rot / 2 + (D - k.rot));
    if (n == 0) return;
    k_rope<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, cuda_ctx(be)->compute>>>(
        cuf(out, "rope", "out"), cuf(inp, "rope", "inp"), cui(pos, "rope", "pos"), k, rows, H, D, 0);
    (void)CU_LAUNCHED(be, "k_rope");
}

extern "C" void cuda_rope_backward(Backend *be, Tensor *dinp, const Tensor *dout, const Tensor *pos, const RopeDesc *d) {
    int64_t rows, H, D;
    rope_shape("rope_backward", dout, pos, &rows, &H, &D);
    be_check_numel("rope_backward", dinp, dout->numel, "dinp");
    RopeK k = rope_params("rope_backward", d, D);
    int64_t n = rows * (k.rot / 2 + (D - k.rot));
    if (n == 0) return;
    k_rope<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, cuda_ctx(be)->compute>>>(
        cuf(dout, "rope_backward", "dout"), cuf(dinp, "rope_backward", "dinp"), cui(pos, "rope_backward", "pos"), k, rows,
        H, D, 1);
    (void)CU_LAUNCHED(be, "k_rope_backward");
}
