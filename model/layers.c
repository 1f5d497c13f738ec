/* model/layers.c — helpers shared by the model's layer files: activation
 * allocation, views, and the Linear layer pair (forward / backward). */
#include <string.h>

#include "model/vlm_internal.h"

Tensor *ly_new(Vlm *m, DType dt, int ndim, const int64_t *shape) {
    VStatus st = {0};
    Tensor *t = be_alloc(m->be, BUF_ACTS, dt, ndim, shape, &st);
    if (!t) VLMC_PANIC("activations do not fit in BUF_ACTS: %s", st.msg);
    return t;
}

Tensor *ly_stat(Vlm *m, int ndim, const int64_t *shape) {
    VStatus st = {0};
    Tensor *t = be_alloc_f32(m->be, BUF_ACTS, ndim, shape, &st);
    if (!t) VLMC_PANIC("activations do not fit in BUF_ACTS: %s", st.msg);
    return t;
}

Tensor *ly_new2(Vlm *m, int64_t r, int64_t c) {
    int64_t s[2] = {r, c};
    return ly_new(m, DT_F32, 2, s);
}

Tensor *ly_zeros2(Vlm *m, int64_t r, int64_t c) {
    Tensor *t = ly_new2(m, r, c);
    op_fill(m->be, t, 0.0f);
    return t;
}

Tensor *ly_view(Vlm *m, Tensor *t, int ndim, const int64_t *shape) { return t_view(m->be, t, 0, ndim, shape); }

Tensor *ly_w(Vlm *m, int idx) { return idx < 0 ? NULL : m->pt.p[idx].w; }
Tensor *ly_g(Vlm *m, int idx) { return idx < 0 ? NULL : m->pt.p[idx].g; }

// x: (N, IC), W: (OC, IC) -> out: (N, OC)
void linear_forward(Vlm *m, Tensor *out, const Tensor *x, int w, int b, int64_t N, int64_t IC, int64_t OC) {
    MatmulDesc d = {.trans_a = 0, .trans_b = 1, .m = N, .n = OC, .k = IC, .batch = 1, .alpha = 1.0f, .beta = 0.0f};
    op_matmul(m->be, &d, out, x, ly_w(m, w), ly_w(m, b));
}

// dout: (N, OC), x: (N, IC), W: (OC, IC) -> dx: (N, IC), dW: (OC, IC), db: (OC)
void linear_backward(Vlm *m, Tensor *dx, float beta, const Tensor *dout, const Tensor *x, int w, int b,
                     int64_t N, int64_t IC, int64_t OC) {
    if (dx) {
        MatmulDesc d = {.m = N, .n = IC, .k = OC, .batch = 1, .alpha = 1.0f, .beta = beta};
        op_matmul(m->be, &d, dx, dout, ly_w(m, w), NULL);
    }
    Tensor *gw = ly_g(m, w);
    if (gw) {
        /* beta = 1: weight gradients accumulate over micro-batches (and tied uses) */
        MatmulDesc d = {.trans_a = 1, .m = OC, .n = IC, .k = N, .batch = 1, .alpha = 1.0f, .beta = 1.0f};
        op_matmul(m->be, &d, gw, dout, x, NULL);
    }
    Tensor *gb = ly_g(m, b);
    if (gb) op_bias_backward(m->be, gb, dout);
}
