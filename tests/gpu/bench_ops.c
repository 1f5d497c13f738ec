/* tests/gpu/bench_ops.c — CUDA op benchmark at a SmolLM2-360M-like shape:
 * B*T = 16384 tokens, C = 960, V = 49152, 15 heads of 64 (5 kv heads), F = 2560.
 *
 * Prints each op's time and its achieved rate, as GB/s for memory-bound ops
 * (bytes each op must move at least, bf16 activations) against the device's
 * copy bandwidth, and as TFLOP/s for products against the cuBLASLt bf16 rate
 * of a large square matmul, both measured in the same run. Lines starting
 * "RESULT op ms" are joined by run.sh with bench_ops.py's for the PyTorch
 * ratio. Timing: be_sync, then ITERS calls, then be_sync, wall clock.
 * Not a test; exits 77 without a GPU.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/ops.h"

#define NTOK 16384
#define C 960
#define V 49152
#define F 2560
#define H 15
#define HKV 5
#define HD 64

static Backend *be;
static double copy_gbs, mm_tflops;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sync_or_die(void) {
    VStatus st = {0};
    if (be_sync(be, &st)) {
        fprintf(stderr, "bench_ops: %s\n", st.msg);
        exit(1);
    }
}

static Tensor *mk(BufClass c, DType dt, int nd, const int64_t *d) {
    VStatus st = {0};
    Tensor *t = be_alloc(be, c, dt, nd, d, &st);
    if (!t) {
        fprintf(stderr, "bench_ops: %s\n", st.msg);
        exit(1);
    }
    return t;
}
#define MK(c, dt, ...) mk(c, dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static void rand_fill(Tensor *t, float scale) {
    int64_t n = t_numel(t);
    float *h = malloc((size_t)n * 4);
    uint32_t s = 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        h[i] = scale * ((float)(s >> 8) / 16777216.f - 0.5f);
    }
    be_upload(be, t, h);
    free(h);
}

/* times `body` (a statement) over iters runs after one warm-up */
#define TIME(iters, body)                                     \
    ({                                                        \
        body;                                                 \
        sync_or_die();                                        \
        double t0_ = now();                                   \
        for (int it_ = 0; it_ < (iters); it_++) { body; }     \
        sync_or_die();                                        \
        (now() - t0_) / (iters) * 1e3;                        \
    })

static void report_bw(const char *op, double ms, double bytes) {
    double gbs = bytes / (ms * 1e-3) / 1e9;
    printf("%-22s %9.3f ms %9.1f GB/s  %5.1f%% of copy\n", op, ms, gbs, 100 * gbs / copy_gbs);
    printf("RESULT %s %.4f\n", op, ms);
}
static void report_fl(const char *op, double ms, double flops) {
    double tf = flops / (ms * 1e-3) / 1e12;
    printf("%-22s %9.3f ms %9.1f TFLOP/s %5.1f%% of cuBLASLt bf16\n", op, ms, tf, 100 * tf / mm_tflops);
    printf("RESULT %s %.4f\n", op, ms);
}

int main(void) {
    VStatus st = {0};
    BackendOptions bo = {.name = "cuda", .device = 0};
    be = be_create(&bo, &st);
    if (!be) {
        fprintf(stderr, "bench_ops: %s\n", st.msg);
        return 77;
    }
    size_t GiB = (size_t)1 << 30;
    size_t res[BUF__COUNT] = {[BUF_PARAMS] = GiB, [BUF_MASTER] = GiB / 2, [BUF_GRADS] = GiB,
                              [BUF_OPTIM] = GiB, [BUF_ACTS] = 3 * GiB, [BUF_SCRATCH] = GiB / 4};
    for (int c = 0; c < BUF__COUNT; c++)
        if (be_reserve(be, (BufClass)c, res[c], &st)) {
            fprintf(stderr, "bench_ops: %s\n", st.msg);
            return 1;
        }
    be_print_build_info(stdout);

    /* device copy bandwidth: read + write of 1 GiB */
    {
        void *a, *b;
        if (cudaMalloc(&a, GiB) != cudaSuccess || cudaMalloc(&b, GiB) != cudaSuccess) {
            fprintf(stderr, "bench_ops: cudaMalloc for the copy test failed\n");
            return 1;
        }
        cudaMemcpy(b, a, GiB, cudaMemcpyDeviceToDevice);
        cudaDeviceSynchronize();
        double t0 = now();
        for (int i = 0; i < 10; i++) cudaMemcpy(b, a, GiB, cudaMemcpyDeviceToDevice);
        cudaDeviceSynchronize();
        copy_gbs = 2.0 * GiB * 10 / (now() - t0) / 1e9;
        cudaFree(a);
        cudaFree(b);
    }
    /* cuBLASLt bf16 rate: 8192^3 */
    {
        size_t m = be_mark(be, BUF_ACTS);
        Tensor *a = MK(BUF_ACTS, DT_F32, 8192, 8192), *b = MK(BUF_ACTS, DT_F32, 8192, 8192), *c = MK(BUF_ACTS, DT_F32, 8192, 8192);
        rand_fill(a, 1);
        rand_fill(b, 1);
        MatmulDesc d = {.trans_b = 1, .m = 8192, .n = 8192, .k = 8192, .batch = 1, .alpha = 1, .beta = 0};
        double ms = TIME(10, op_matmul(be, &d, c, a, b, NULL));
        mm_tflops = 2.0 * 8192 * 8192 * 8192 / (ms * 1e-3) / 1e12;
        be_reset(be, BUF_ACTS, m);
    }
    printf("device copy bandwidth %.1f GB/s, cuBLASLt bf16 8192^3 %.1f TFLOP/s\n", copy_gbs, mm_tflops);

    const double act = (double)NTOK * C * 2;  /* bytes of one bf16 (N, C) tensor */
    Tensor *x = MK(BUF_ACTS, DT_F32, NTOK, C), *r = MK(BUF_ACTS, DT_F32, NTOK, C), *y = MK(BUF_ACTS, DT_F32, NTOK, C);
    Tensor *s = MK(BUF_ACTS, DT_F32, NTOK, C), *dx = MK(BUF_ACTS, DT_F32, NTOK, C);
    Tensor *mean = MK(BUF_GRADS, DT_F32, NTOK), *rstd = MK(BUF_GRADS, DT_F32, NTOK);
    Tensor *w = MK(BUF_PARAMS, DT_F32, C), *b = MK(BUF_PARAMS, DT_F32, C), *dw = MK(BUF_GRADS, DT_F32, C);
    Tensor *g = MK(BUF_ACTS, DT_F32, NTOK, F), *u = MK(BUF_ACTS, DT_F32, NTOK, F), *o = MK(BUF_ACTS, DT_F32, NTOK, F);
    Tensor *wqkv = MK(BUF_PARAMS, DT_F32, C, C), *lm = MK(BUF_PARAMS, DT_F32, V, C), *dlm = MK(BUF_GRADS, DT_F32, V, C);
    Tensor *pos = MK(BUF_ACTS, DT_I32, NTOK), *tg = MK(BUF_ACTS, DT_I32, NTOK), *lp = MK(BUF_GRADS, DT_F32, NTOK);
    Tensor *wt = MK(BUF_GRADS, DT_F32, NTOK);
    Tensor *tensors[] = {x, r, y, s, dx, w, b, g, u, wqkv, lm};
    for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) rand_fill(tensors[i], 2);
    {
        int32_t *hp = malloc(NTOK * 4), *ht = malloc(NTOK * 4);
        float *hw = malloc(NTOK * 4);
        for (int i = 0; i < NTOK; i++) {
            hp[i] = i % 2048;
            ht[i] = (int32_t)((i * 7919u) % V);
            hw[i] = 1.f / NTOK;
        }
        be_upload(be, pos, hp);
        be_upload(be, tg, ht);
        be_upload(be, wt, hw);
        free(hp);
        free(ht);
        free(hw);
    }
    op_fill(be, dlm, 0);
    op_fill(be, dw, 0);

    report_bw("copy", TIME(20, op_copy(be, y, x)), 2 * act);
    report_bw("add", TIME(20, op_add(be, y, x, r, 1, 1)), 3 * act);
    report_bw("act_gelu_tanh", TIME(20, op_act(be, y, x, ACT_GELU_TANH)), 2 * act);
    report_bw("act_silu", TIME(20, op_act(be, y, x, ACT_SILU)), 2 * act);
    report_bw("act_backward_gelu", TIME(20, op_act_backward(be, dx, y, x, ACT_GELU_TANH)), 4 * act);
    report_bw("swiglu", TIME(20, op_swiglu(be, o, g, u)), 3.0 * NTOK * F * 2);
    report_bw("swiglu_backward", TIME(20, op_swiglu_backward(be, g, u, o, g, u)), 7.0 * NTOK * F * 2);
    report_bw("rmsnorm_resid", TIME(20, op_rmsnorm(be, y, s, rstd, x, r, w, 1e-5f)), 4 * act);
    report_bw("layernorm_resid", TIME(20, op_layernorm(be, y, s, mean, rstd, x, r, w, b, 1e-5f)), 4 * act);
    report_bw("rmsnorm_backward", TIME(20, op_rmsnorm_backward(be, dx, dw, y, s, w, rstd)), 4 * act);
    {
        RopeDesc rd = {.theta = 100000.f, .rot_dim = HD, .scaling = ROPE_NONE};
        Tensor *xv = t_view(be, x, 0, 3, (int64_t[]){NTOK, H, HD}), *yv = t_view(be, y, 0, 3, (int64_t[]){NTOK, H, HD});
        report_bw("rope", TIME(20, op_rope(be, yv, xv, pos, &rd)), 2 * act);
    }
    report_bw("fill", TIME(20, op_fill(be, y, 0.5f)), act);
    report_bw("scale", TIME(20, op_scale(be, y, 0.5f)), 2 * act);
    report_bw("bias_add", TIME(20, op_bias_add(be, y, x, b)), 2 * act);
    report_bw("bias_backward", TIME(20, op_bias_backward(be, dw, x)), act);
    report_bw("mask_rows", TIME(20, op_mask_rows(be, y, wt)), 2 * act);
    report_bw("tanh_gate", TIME(20, op_tanh_gate(be, y, x, w, r)), 3 * act);
    report_bw("tanh_gate_backward", TIME(20, op_tanh_gate_backward(be, dx, dw, s, y, x, w)), 6 * act);
    report_bw("layernorm_backward", TIME(20, op_layernorm_backward(be, dx, dw, dw, y, s, w, mean, rstd)), 4 * act);
    {
        RopeDesc rd = {.theta = 100000.f, .rot_dim = HD, .scaling = ROPE_NONE};
        Tensor *yv = t_view(be, y, 0, 3, (int64_t[]){NTOK, H, HD}), *dv = t_view(be, dx, 0, 3, (int64_t[]){NTOK, H, HD});
        report_bw("rope_backward", TIME(20, op_rope_backward(be, dv, yv, pos, &rd)), 3 * act);
        /* (N, H, D) -> (H, N, D): the head-major layout */
        static const int perm[3] = {1, 0, 2};
        Tensor *pv = t_view(be, s, 0, 3, (int64_t[]){H, NTOK, HD});
        report_bw("permute", TIME(20, op_permute(be, pv, yv, perm)), 2 * act);
        report_bw("permute_backward", TIME(20, op_permute_backward(be, dv, pv, perm)), 3 * act);
        const Tensor *halves[2] = {t_view(be, x, 0, 2, (int64_t[]){NTOK / 2, C}), t_view(be, r, 0, 2, (int64_t[]){NTOK / 2, C})};
        report_bw("concat", TIME(20, op_concat(be, y, halves, 2, 0)), 2 * act);
    }
    {
        /* 64 images of 32x32 patches of 960 features -> 16x16 with 4x the features (r = 2) */
        Tensor *pin = t_view(be, x, 0, 3, (int64_t[]){16, 1024, C}), *pout = t_view(be, y, 0, 3, (int64_t[]){16, 256, 4 * C});
        report_bw("pixel_shuffle", TIME(20, op_pixel_shuffle(be, pout, pin, 2)), 2 * act);
        /* 8 images 3x512x512, 16-pixel patches */
        Tensor *pix = t_view(be, g, 0, 4, (int64_t[]){8, 3, 512, 512});
        Tensor *pat = t_view(be, u, 0, 2, (int64_t[]){8 * 32 * 32, 3 * 16 * 16});
        report_bw("patch_unfold", TIME(20, op_patch_unfold(be, pat, pix, 16)), 2.0 * 8 * 3 * 512 * 512 * 2);
    }
    {
        Tensor *seg = MK(BUF_ACTS, DT_I32, NTOK), *sums = MK(BUF_GRADS, DT_F32, 64), *cnt = MK(BUF_GRADS, DT_F32, 1);
        int32_t *hs = malloc(NTOK * 4);
        for (int i = 0; i < NTOK; i++) hs[i] = i / (NTOK / 64);
        be_upload(be, seg, hs);
        free(hs);
        report_bw("segment_sum", TIME(20, op_segment_sum(be, sums, lp, seg)), NTOK * 8.0);
        report_bw("count_targets", TIME(20, op_count_targets(be, cnt, tg)), NTOK * 4.0);
    }
    report_bw("gather_rows", TIME(20, op_gather_rows(be, y, lm, tg)), 2 * act);
    report_bw("gather_rows_backward", TIME(5, op_gather_rows_backward(be, dlm, x, tg, NULL)), 3 * act);
    {
        const Tensor *ts[] = {dlm};
        Tensor *out = MK(BUF_GRADS, DT_F32, 1);
        report_bw("sumsq", TIME(20, op_sumsq(be, out, ts, 1)), (double)V * C * 4);
    }
    {
        Tensor *ms = MK(BUF_MASTER, DT_F32, V, C), *m1 = MK(BUF_OPTIM, DT_F32, V, C), *m2 = MK(BUF_OPTIM, DT_F32, V, C);
        op_fill(be, ms, 0.01f);
        op_fill(be, m1, 0);
        op_fill(be, m2, 0);
        AdamWDesc ad = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .step = 1, .grad_scale = 1};
        /* reads master, grad, m, v (f32); writes master, m, v (f32) and param (bf16) */
        report_bw("adamw", TIME(10, op_adamw(be, &ad, ms, lm, dlm, m1, m2, NULL)), (double)V * C * (4 * 4 + 3 * 4 + 2));
    }
    {
        MatmulDesc d = {.trans_b = 1, .m = NTOK, .n = C, .k = C, .batch = 1, .alpha = 1, .beta = 0};
        report_fl("matmul_960x960", TIME(20, op_matmul(be, &d, y, x, wqkv, b)), 2.0 * NTOK * C * C);
    }
    /* classifier + cross-entropy forward and backward: three products of N x C x V */
    report_fl("xent_fwd", TIME(3, op_xent(be, lp, NULL, NULL, x, lm, tg, NULL, 4096)), 2.0 * NTOK * C * V);
    report_fl("xent_fwd_bwd", TIME(3, op_xent(be, lp, dx, dlm, x, lm, tg, wt, 4096)), 3 * 2.0 * NTOK * C * V);
    {
        /* reference attention: 16 sequences of 1024, causal */
        AttnDesc ad = {.B = 16, .Tq = 1024, .Tk = 1024, .Hq = H, .Hkv = HKV, .D = HD, .causal = 1, .scale = 0.125f};
        Tensor *q = t_view(be, x, 0, 4, (int64_t[]){16, 1024, H, HD});
        Tensor *kv = t_view(be, r, 0, 4, (int64_t[]){16, 1024, HKV, HD});
        Tensor *out = t_view(be, y, 0, 4, (int64_t[]){16, 1024, H, HD});
        Tensor *lse = MK(BUF_GRADS, DT_F32, 16, H, 1024);
        report_fl("attention_ref", TIME(2, op_attention(be, &ad, out, lse, q, kv, kv, NULL, NULL)),
                  2.0 * 2 * 16 * H * 1024.0 * 1024 * HD / 2);
        Tensor *dq = t_view(be, dx, 0, 4, (int64_t[]){16, 1024, H, HD});
        Tensor *dkv = t_view(be, s, 0, 4, (int64_t[]){16, 1024, HKV, HD});
        report_fl("attention_ref_backward",
                  TIME(1, op_attention_backward(be, &ad, dq, dkv, dkv, out, out, lse, q, kv, kv, NULL, NULL)),
                  2.5 * 2 * 2 * 16 * H * 1024.0 * 1024 * HD / 2);
    }
    be_destroy(be);
    return 0;
}
