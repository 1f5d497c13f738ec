/* tests/gpu/gpu_cases_a.c — parity cases: matmul, elementwise, data movement,
 * activations, gates. Shapes include sizes that are not multiples of 8 or 16
 * (tails of vectorised / tiled paths). Backward outputs start from random
 * values on both sides (they accumulate), forward outputs from NaN. */
#include "tests/gpu/gpu_harness.h"

#include <stdio.h>
#include <string.h>

#define A BUF_ACTS
#define P BUF_PARAMS
#define G BUF_GRADS

static void matmul_cases(GH *h) {
    if (!gh_want(h, "matmul")) return;
    static const int64_t mnk[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 17, 65}, {128, 96, 64}, {127, 250, 31}};
    int nshape = h->quick ? 2 : 5;
    for (int s = 0; s < nshape; s++)
        for (int tr = 0; tr < 4; tr++)
            for (int var = 0; var < 3; var++) {  /* 0: plain, 1: bias + beta 0, 2: accumulate (beta 1) */
                int64_t m = mnk[s][0], n = mnk[s][1], k = mnk[s][2];
                MatmulDesc d = {.trans_a = tr & 1, .trans_b = tr >> 1, .m = m, .n = n, .k = k, .batch = 1,
                                .alpha = var == 2 ? 0.5f : 1.f, .beta = var == 2 ? 1.f : 0.f};
                gh_begin(h, "matmul m=%lld n=%lld k=%lld ta=%d tb=%d var=%d", (long long)m, (long long)n, (long long)k,
                         d.trans_a, d.trans_b, var);
                int c = var == 2 ? gh_add(h, A, DT_F32, GI_RAND, ND(m, n), 0, 0, NULL)
                                 : gh_add(h, A, DT_F32, GI_POISON, ND(m, n), 0, 0, NULL);
                int a = gh_add(h, A, DT_F32, GI_RAND, 2, d.trans_a ? D(k, m) : D(m, k), 0, 0, NULL);
                int b = gh_add(h, P, DT_F32, GI_RAND, 2, d.trans_b ? D(n, k) : D(k, n), 0, 0, NULL);
                int bias = var == 1 ? gh_add(h, P, DT_F32, GI_RAND, ND(n), 0, 0, NULL) : -1;
                RUN(h, op_matmul(be, &d, T(h, c), T(h, a), T(h, b), bias >= 0 ? T(h, bias) : NULL));
                gh_check(h, c, "C");
                gh_end(h);
            }
    /* batched: strided A, broadcast B (stride 0), bias; the attention-like (B*H) form */
    for (int s = 0; s < (h->quick ? 1 : 3); s++) {
        int64_t bt = 3 + s, m = 9 + 8 * s, n = 11, k = 17 + s;
        MatmulDesc d = {.trans_b = s & 1, .m = m, .n = n, .k = k, .batch = bt, .stride_a = m * k + 3,
                        .stride_b = s == 2 ? 0 : n * k, .stride_c = m * n, .alpha = 1.f, .beta = 0.f};
        gh_begin(h, "matmul batched b=%lld m=%lld n=%lld k=%lld tb=%d sb=%lld", (long long)bt, (long long)m, (long long)n,
                 (long long)k, d.trans_b, (long long)d.stride_b);
        int c = gh_add(h, A, DT_F32, GI_POISON, ND(bt, m, n), 0, 0, NULL);
        int a = gh_add(h, A, DT_F32, GI_RAND, ND(bt * (m * k + 3)), 0, 0, NULL);
        int b = gh_add(h, A, DT_F32, GI_RAND, ND(bt * n * k), 0, 0, NULL);
        int bias = gh_add(h, P, DT_F32, GI_RAND, ND(n), 0, 0, NULL);
        RUN(h, op_matmul(be, &d, T(h, c), T(h, a), T(h, b), T(h, bias)));
        gh_check(h, c, "C");
        gh_end(h);
    }
    /* weight gradient into an f32 grads buffer: dW (n, k) += dout^T (n, m) @ x (m, k); and
     * a mixed bf16 x f32 product (cuda widens to f32) */
    for (int mixed = 0; mixed < 2; mixed++) {
        int64_t m = 45, n = 23, k = 37;
        MatmulDesc d = {.trans_a = 1, .m = n, .n = k, .k = m, .batch = 1, .alpha = 1.f, .beta = 1.f};
        gh_begin(h, "matmul dW m=%lld n=%lld k=%lld %s", (long long)m, (long long)n, (long long)k, mixed ? "mixed" : "grads");
        int c = gh_add(h, G, DT_F32, GI_RAND, ND(n, k), 0, 0, NULL);
        int a = gh_add(h, A, DT_F32, GI_RAND, ND(m, n), 0, 0, NULL);
        int b = gh_add(h, mixed ? G : A, DT_F32, GI_RAND, ND(m, k), 0, 0, NULL);
        RUN(h, op_matmul(be, &d, T(h, c), T(h, a), T(h, b), NULL));
        gh_check(h, c, "C");
        gh_end(h);
    }
}

static void elementwise_cases(GH *h) {
    static const int64_t nc[][2] = {{1, 1}, {37, 96}, {5, 1000}, {63, 129}};  /* 63*129 % 8 = 7: vector body + tail */
    int ns = h->quick ? 2 : 4;
    for (int s = 0; s < ns; s++) {
        int64_t N = nc[s][0], C = nc[s][1];
        if (gh_want(h, "bias_add")) {
            gh_begin(h, "bias_add N=%lld K=%lld", (long long)N, (long long)C);
            int o = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
            int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            int b = gh_add(h, P, DT_F32, GI_RAND, ND(C), 0, 0, NULL);
            RUN(h, op_bias_add(be, T(h, o), T(h, x), T(h, b)));
            gh_check(h, o, "out");
            gh_end(h);
        }
        if (gh_want(h, "bias_backward")) {
            gh_begin(h, "bias_backward N=%lld K=%lld", (long long)N, (long long)C);
            int db = gh_add(h, G, DT_F32, GI_RAND, ND(C), 0, 0, NULL);
            int g = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            RUN(h, op_bias_backward(be, T(h, db), T(h, g)));
            gh_check(h, db, "dbias");
            gh_end(h);
        }
        if (gh_want(h, "fill")) {
            gh_begin(h, "fill n=%lld", (long long)(N * C));
            int t = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
            RUN(h, op_fill(be, T(h, t), 0.375f));
            gh_check(h, t, "t");
            gh_end(h);
        }
        if (gh_want(h, "copy")) {
            gh_begin(h, "copy n=%lld acts->grads", (long long)(N * C));
            int dst = gh_add(h, G, DT_F32, GI_POISON, ND(N * C), 0, 0, NULL);
            int src = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            RUN(h, op_copy(be, T(h, dst), T(h, src)));
            gh_check(h, dst, "dst");
            gh_end(h);
        }
        if (gh_want(h, "add")) {
            gh_begin(h, "add n=%lld aliased", (long long)(N * C));
            int a = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            int b = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            RUN(h, op_add(be, T(h, a), T(h, a), T(h, b), 0.5f, -2.f));
            gh_check(h, a, "out=a");
            gh_end(h);
        }
        if (gh_want(h, "scale")) {
            gh_begin(h, "scale n=%lld", (long long)(N * C));
            int a = gh_add(h, G, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            RUN(h, op_scale(be, T(h, a), -1.25f));
            gh_check(h, a, "t");
            gh_end(h);
        }
        if (gh_want(h, "mask_rows")) {
            gh_begin(h, "mask_rows R=%lld C=%lld", (long long)N, (long long)C);
            int t = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            int m = gh_add(h, A, DT_F32, GI_INTS, ND(N), 0, 1, NULL);
            RUN(h, op_mask_rows(be, T(h, t), T(h, m)));
            gh_check(h, t, "t");
            gh_end(h);
        }
        for (int kind = 0; kind < ACT__COUNT; kind++) {
            if (gh_want(h, "act")) {
                gh_begin(h, "act kind=%d n=%lld", kind, (long long)(N * C));
                int o = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
                int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 3, 0, NULL);
                RUN(h, op_act(be, T(h, o), T(h, x), (ActKind)kind));
                gh_check(h, o, "out");
                gh_end(h);
            }
            if (gh_want(h, "act_backward")) {
                gh_begin(h, "act_backward kind=%d n=%lld", kind, (long long)(N * C));
                int dx = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int g = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 3, 0, NULL);
                RUN(h, op_act_backward(be, T(h, dx), T(h, g), T(h, x), (ActKind)kind));
                gh_check(h, dx, "dinp");
                gh_end(h);
            }
        }
        if (gh_want(h, "swiglu")) {
            gh_begin(h, "swiglu N=%lld F=%lld", (long long)N, (long long)C);
            int o = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
            int g = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 2, 0, NULL);
            int u = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            RUN(h, op_swiglu(be, T(h, o), T(h, g), T(h, u)));
            gh_check(h, o, "out");
            gh_end(h);
        }
        if (gh_want(h, "swiglu_backward")) {
            gh_begin(h, "swiglu_backward N=%lld F=%lld", (long long)N, (long long)C);
            int dg = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            int du = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            int d = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            int g = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 2, 0, NULL);
            int u = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            RUN(h, op_swiglu_backward(be, T(h, dg), T(h, du), T(h, d), T(h, g), T(h, u)));
            gh_check(h, dg, "dgate");
            gh_check(h, du, "dup");
            gh_end(h);
        }
        for (int gw = 0; gw < 2; gw++) {
            int64_t gn = gw ? C : 1;
            if (gh_want(h, "tanh_gate")) {
                gh_begin(h, "tanh_gate N=%lld C=%lld gate=%lld", (long long)N, (long long)C, (long long)gn);
                int o = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
                int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int g = gh_add(h, P, DT_F32, GI_RAND, ND(gn), 0, 0, NULL);
                int r = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                RUN(h, op_tanh_gate(be, T(h, o), T(h, x), T(h, g), gw ? T(h, r) : NULL));
                gh_check(h, o, "out");
                gh_end(h);
            }
            if (gh_want(h, "tanh_gate_backward")) {
                gh_begin(h, "tanh_gate_backward N=%lld C=%lld gate=%lld", (long long)N, (long long)C, (long long)gn);
                int dx = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int dg = gh_add(h, G, DT_F32, GI_RAND, ND(gn), 0, 0, NULL);
                int dr = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int d = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int g = gh_add(h, P, DT_F32, GI_RAND, ND(gn), 0, 0, NULL);
                RUN(h, op_tanh_gate_backward(be, T(h, dx), T(h, dg), gw ? T(h, dr) : NULL, T(h, d), T(h, x), T(h, g)));
                gh_check(h, dx, "dx");
                gh_check(h, dg, "dgate");
                if (gw) gh_check(h, dr, "dresid");
                gh_end(h);
            }
        }
    }
}

static void movement_cases(GH *h) {
    /* permute: (2, 5, 3, 7) with two permutations; 3-d transpose */
    static const int perms[][4] = {{0, 2, 1, 3}, {3, 1, 0, 2}};
    for (int p = 0; p < 2; p++) {
        const int *pm = perms[p];
        int64_t dims[4] = {2, 5, 3, 7}, od[4];
        for (int i = 0; i < 4; i++) od[i] = dims[pm[i]];
        if (gh_want(h, "permute")) {
            gh_begin(h, "permute (2,5,3,7) perm=%d%d%d%d", pm[0], pm[1], pm[2], pm[3]);
            int o = gh_add(h, A, DT_F32, GI_POISON, 4, od, 0, 0, NULL);
            int x = gh_add(h, A, DT_F32, GI_RAND, 4, dims, 0, 0, NULL);
            RUN(h, op_permute(be, T(h, o), T(h, x), pm));
            gh_check(h, o, "out");
            gh_end(h);
        }
        if (gh_want(h, "permute_backward")) {
            gh_begin(h, "permute_backward (2,5,3,7) perm=%d%d%d%d", pm[0], pm[1], pm[2], pm[3]);
            int dx = gh_add(h, A, DT_F32, GI_RAND, 4, dims, 0, 0, NULL);
            int d = gh_add(h, A, DT_F32, GI_RAND, 4, od, 0, 0, NULL);
            RUN(h, op_permute_backward(be, T(h, dx), T(h, d), pm));
            gh_check(h, dx, "dinp");
            gh_end(h);
        }
    }
    for (int axis = 0; axis < 3; axis++) {
        int64_t base[3] = {3, 4, 5}, w[3] = {2, 7, 1};
        int64_t od[3] = {3, 4, 5};
        od[axis] = 10;
        if (gh_want(h, "concat")) {
            gh_begin(h, "concat 3 parts axis=%d", axis);
            int o = gh_add(h, A, DT_F32, GI_POISON, 3, od, 0, 0, NULL);
            int ps[3];
            for (int i = 0; i < 3; i++) {
                int64_t d[3] = {base[0], base[1], base[2]};
                d[axis] = w[i];
                ps[i] = gh_add(h, A, DT_F32, GI_RAND, 3, d, 0, 0, NULL);
            }
            RUN(h, do {
                const Tensor *parts[3] = {T(h, ps[0]), T(h, ps[1]), T(h, ps[2])};
                op_concat(be, T(h, o), parts, 3, axis);
            } while (0));
            gh_check(h, o, "out");
            gh_end(h);
        }
        if (gh_want(h, "concat_backward")) {
            gh_begin(h, "concat_backward 3 parts axis=%d", axis);
            int d = gh_add(h, A, DT_F32, GI_RAND, 3, od, 0, 0, NULL);
            int ps[3];
            for (int i = 0; i < 3; i++) {
                int64_t dd[3] = {base[0], base[1], base[2]};
                dd[axis] = w[i];
                ps[i] = gh_add(h, A, DT_F32, GI_RAND, 3, dd, 0, 0, NULL);
            }
            RUN(h, do {
                Tensor *parts[3] = {T(h, ps[0]), T(h, ps[1]), T(h, ps[2])};
                op_concat_backward(be, parts, 3, T(h, d), axis);
            } while (0));
            for (int i = 0; i < 3; i++) gh_check(h, ps[i], "dpart");
            gh_end(h);
        }
    }
    /* rows: R=50 source rows of C=24 / 131, n=77 indices with repeats */
    for (int s = 0; s < 2; s++) {
        int64_t R = 50, C = s ? 131 : 24, n = 77;
        if (gh_want(h, "gather_rows")) {
            gh_begin(h, "gather_rows R=%lld C=%lld n=%lld", (long long)R, (long long)C, (long long)n);
            int o = gh_add(h, A, DT_F32, GI_POISON, ND(n, C), 0, 0, NULL);
            int src = gh_add(h, P, DT_F32, GI_RAND, ND(R, C), 0, 0, NULL);
            int ix = gh_add(h, A, DT_I32, GI_INTS, ND(n), 0, (double)(R - 1), NULL);
            RUN(h, op_gather_rows(be, T(h, o), T(h, src), T(h, ix)));
            gh_check(h, o, "out");
            gh_end(h);
        }
        for (int masked = 0; masked < 2; masked++) {
            if (!gh_want(h, "gather_rows_backward")) break;
            gh_begin(h, "gather_rows_backward R=%lld C=%lld n=%lld mask=%d", (long long)R, (long long)C, (long long)n, masked);
            int ds = gh_add(h, G, DT_F32, GI_RAND, ND(R, C), 0, 0, NULL);
            int d = gh_add(h, A, DT_F32, GI_RAND, ND(n, C), 0, 0, NULL);
            int ix = gh_add(h, A, DT_I32, GI_INTS, ND(n), 0, (double)(R / 3), NULL);  /* many repeats */
            int m = gh_add(h, G, DT_F32, GI_INTS, ND(R), 0, 1, NULL);
            RUN(h, op_gather_rows_backward(be, T(h, ds), T(h, d), T(h, ix), masked ? T(h, m) : NULL));
            gh_check(h, ds, "dsrc");
            gh_end(h);
        }
        /* scatter: s = 0 unique destination rows (a permutation prefix); s = 1
         * repeated rows (the last writer wins and alone gets the gradient) */
        int32_t uix[50];
        for (int i = 0; i < 50; i++) uix[i] = s ? (int32_t)((i * 7) % 11) : (int32_t)((i * 17 + 3) % 50);
        int64_t ns = 31;
        if (gh_want(h, "scatter_rows")) {
            gh_begin(h, "scatter_rows R=%lld C=%lld n=%lld repeats=%d", (long long)R, (long long)C, (long long)ns, s);
            int dst = gh_add(h, A, DT_F32, GI_RAND, ND(R, C), 0, 0, NULL);
            int src = gh_add(h, A, DT_F32, GI_RAND, ND(ns, C), 0, 0, NULL);
            int ix = gh_add(h, A, DT_I32, GI_HOST, ND(ns), 0, 0, uix);
            RUN(h, op_scatter_rows(be, T(h, dst), T(h, src), T(h, ix)));
            gh_check(h, dst, "dst");
            gh_end(h);
        }
        if (gh_want(h, "scatter_rows_backward")) {
            gh_begin(h, "scatter_rows_backward R=%lld C=%lld n=%lld repeats=%d", (long long)R, (long long)C, (long long)ns, s);
            int dsrc = gh_add(h, A, DT_F32, GI_RAND, ND(ns, C), 0, 0, NULL);
            int ddst = gh_add(h, A, DT_F32, GI_RAND, ND(R, C), 0, 0, NULL);
            int ix = gh_add(h, A, DT_I32, GI_HOST, ND(ns), 0, 0, uix);
            RUN(h, op_scatter_rows_backward(be, T(h, dsrc), T(h, ddst), T(h, ix)));
            gh_check(h, dsrc, "dsrc");
            gh_check(h, ddst, "ddst");
            gh_end(h);
        }
    }
    static const int64_t shuf[][4] = {{2, 6, 5, 2}, {1, 4, 16, 2}, {3, 9, 7, 3}};  /* B, s, D, r */
    for (int s = 0; s < (h->quick ? 1 : 3); s++) {
        int64_t B = shuf[s][0], S = shuf[s][1], Dd = shuf[s][2];
        int r = (int)shuf[s][3];
        int64_t q = (S / r) * (S / r), F = Dd * r * r;
        if (gh_want(h, "pixel_shuffle")) {
            gh_begin(h, "pixel_shuffle B=%lld s=%lld D=%lld r=%d", (long long)B, (long long)S, (long long)Dd, r);
            int o = gh_add(h, A, DT_F32, GI_POISON, ND(B, q, F), 0, 0, NULL);
            int x = gh_add(h, A, DT_F32, GI_RAND, ND(B, S * S, Dd), 0, 0, NULL);
            RUN(h, op_pixel_shuffle(be, T(h, o), T(h, x), r));
            gh_check(h, o, "out");
            gh_end(h);
        }
        if (gh_want(h, "pixel_shuffle_backward")) {
            gh_begin(h, "pixel_shuffle_backward B=%lld s=%lld D=%lld r=%d", (long long)B, (long long)S, (long long)Dd, r);
            int dx = gh_add(h, A, DT_F32, GI_RAND, ND(B, S * S, Dd), 0, 0, NULL);
            int d = gh_add(h, A, DT_F32, GI_RAND, ND(B, q, F), 0, 0, NULL);
            RUN(h, op_pixel_shuffle_backward(be, T(h, dx), T(h, d), r));
            gh_check(h, dx, "dinp");
            gh_end(h);
        }
    }
    static const int64_t pu[][4] = {{2, 14, 14, 7}, {1, 8, 12, 4}, {3, 15, 10, 5}};  /* B, H, W, p */
    for (int s = 0; s < (h->quick ? 1 : 3); s++) {
        if (!gh_want(h, "patch_unfold")) break;
        int64_t B = pu[s][0], H = pu[s][1], W = pu[s][2];
        int p = (int)pu[s][3];
        gh_begin(h, "patch_unfold B=%lld H=%lld W=%lld p=%d", (long long)B, (long long)H, (long long)W, p);
        int o = gh_add(h, A, DT_F32, GI_POISON, ND(B * (H / p) * (W / p), 3 * p * p), 0, 0, NULL);
        int x = gh_add(h, A, DT_F32, GI_RAND, ND(B, 3, H, W), 0, 0, NULL);
        RUN(h, op_patch_unfold(be, T(h, o), T(h, x), p));
        gh_check(h, o, "out");
        gh_end(h);
    }
}

void gh_cases_a(GH *h) {
    matmul_cases(h);
    elementwise_cases(h);
    movement_cases(h);
}
