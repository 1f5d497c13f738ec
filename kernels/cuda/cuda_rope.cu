/* kernels/cuda/cuda_rope.cu — rotary position embedding (transformers'
 * Llama convention: pairs (i, i + rot/2), frequency i for both halves) with
 * optional Llama 3 frequency scaling, forward and backward.
 *
 * Frequencies and angles are computed in double on the device (cheap next to
 * the memory traffic) so positions in the hundreds of thousands keep their
 * precision. One thread per (token, head, pair); dims past rot_dim pass
 * through. out may be inp (each thread reads its pair before writing it).
 */
#include "kernels/cuda/cuda_dev.cuh"

struct RopeK {
    double theta;
    int rot, scaling;
    double factor, low, high, orig;
};

__device__ double rope_inv_freq(const RopeK &k, int i) {
    double inv = pow(k.theta, -(double)(2 * i) / (double)k.rot);
    if (k.scaling == ROPE_LLAMA3) {
        const double two_pi = 6.283185307179586;
        double wavelen = two_pi / inv;
        double low_wl = k.orig / k.low, high_wl = k.orig / k.high;
        if (wavelen > low_wl) {
            inv = inv / k.factor;
        } else if (!(wavelen < high_wl)) {
            double smooth = (k.orig / wavelen - k.low) / (k.high - k.low);
            inv = (1.0 - smooth) * inv / k.factor + smooth * inv;
        }
    }
    return inv;
}

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
        double ang = (double)pos[row / H] * rope_inv_freq(k, (int)i);
        double sd, cd;
        sincos(ang, &sd, &cd);
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
    if (d->rot_dim <= 0 || d->rot_dim % 2 || d->rot_dim > D)
        VLMC_PANIC("%s: rot_dim %d must be even and in (0, head_dim %lld]", op, d->rot_dim, (long long)D);
    if (d->scaling == ROPE_LLAMA3 && (d->factor <= 0 || d->high_freq_factor <= d->low_freq_factor || d->original_max_pos <= 0))
        VLMC_PANIC("%s: llama3 scaling needs factor > 0, high_freq_factor > low_freq_factor, original_max_pos > 0", op);
    RopeK k;
    k.theta = d->theta;
    k.rot = d->rot_dim;
    k.scaling = d->scaling;
    k.factor = d->factor;
    k.low = d->low_freq_factor;
    k.high = d->high_freq_factor;
    k.orig = d->original_max_pos;
    return k;
}

static void rope_shape(const char *op, const Tensor *x, const Tensor *pos, int64_t *H, int64_t *D) {
    if (x->ndim != 3) VLMC_PANIC("%s: expected (N, H, D), got a %d-d tensor", op, x->ndim);
    be_check_numel(op, pos, x->shape[0], "pos (N)");
    *H = x->shape[1];
    *D = x->shape[2];
}

// inp, out: (N, H, D); pos: (N) i32
extern "C" void cuda_rope(Backend *be, Tensor *out, const Tensor *inp, const Tensor *pos, const RopeDesc *d) {
    int64_t H, D;
    rope_shape("rope", inp, pos, &H, &D);
    be_check_numel("rope", out, inp->numel, "out");
    RopeK k = rope_params("rope", d, D);
    int64_t rows = inp->shape[0] * H, n = rows * (k.rot / 2 + (D - k.rot));
    if (n == 0) return;
    k_rope<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, cuda_ctx(be)->compute>>>(
        cuf(out, "rope", "out"), cuf(inp, "rope", "inp"), cui(pos, "rope", "pos"), k, rows, H, D, 0);
    (void)CU_LAUNCHED(be, "k_rope");
}

extern "C" void cuda_rope_backward(Backend *be, Tensor *dinp, const Tensor *dout, const Tensor *pos, const RopeDesc *d) {
    int64_t H, D;
    rope_shape("rope_backward", dout, pos, &H, &D);
    be_check_numel("rope_backward", dinp, dout->numel, "dinp");
    RopeK k = rope_params("rope_backward", d, D);
    int64_t rows = dout->shape[0] * H, n = rows * (k.rot / 2 + (D - k.rot));
    if (n == 0) return;
    k_rope<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, cuda_ctx(be)->compute>>>(
        cuf(dout, "rope_backward", "dout"), cuf(dinp, "rope_backward", "dinp"), cui(pos, "rope_backward", "pos"), k, rows,
        H, D, 1);
    (void)CU_LAUNCHED(be, "k_rope_backward");
}
