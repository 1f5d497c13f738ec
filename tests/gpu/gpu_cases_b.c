/* tests/gpu/gpu_cases_b.c — parity cases: norms, rope, attention (causal,
 * packed, padded, cross, GQA), chunked cross-entropy, reductions, AdamW.
 * Backward cases run each side's own forward first, so saved statistics
 * (mean, rstd, lse, out) are what that backend produced, as in training. */
#include "tests/gpu/gpu_harness.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define A BUF_ACTS
#define P BUF_PARAMS
#define G BUF_GRADS

static void norm_cases(GH *h) {
    static const int64_t nc[][2] = {{1, 8}, {37, 96}, {5, 1000}, {19, 129}};
    for (int s = 0; s < (h->quick ? 2 : 4); s++) {
        int64_t N = nc[s][0], C = nc[s][1];
        for (int res = 0; res < 2; res++) {
            if (gh_want(h, "layernorm") || gh_want(h, "layernorm_backward")) {
                gh_begin(h, "layernorm N=%lld C=%lld resid=%d", (long long)N, (long long)C, res);
                int o = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
                int so = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
                int mu = gh_add(h, A, DT_F32, GI_POISON, ND(N), 0, 0, NULL);
                int rs = gh_add(h, A, DT_F32, GI_POISON, ND(N), 0, 0, NULL);
                int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 2, 0, NULL);
                int r = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int w = gh_add(h, P, DT_F32, GI_RAND, ND(C), 0, 0, NULL);
                int b = gh_add(h, P, DT_F32, GI_RAND, ND(C), 0, 0, NULL);
                RUN(h, op_layernorm(be, T(h, o), res ? T(h, so) : NULL, T(h, mu), T(h, rs), T(h, x), res ? T(h, r) : NULL,
                                    T(h, w), res ? NULL : T(h, b), 1e-5f));
                if (gh_want(h, "layernorm")) {
                    gh_check(h, o, "out");
                    if (res) gh_check(h, so, "sum");
                    gh_check(h, mu, "mean");
                    gh_check(h, rs, "rstd");
                }
                if (gh_want(h, "layernorm_backward")) {
                    snprintf(h->label, sizeof h->label, "layernorm_backward N=%lld C=%lld resid=%d", (long long)N,
                             (long long)C, res);
                    int dx = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                    int dw = gh_add(h, G, DT_F32, GI_RAND, ND(C), 0, 0, NULL);
                    int db = gh_add(h, G, DT_F32, GI_RAND, ND(C), 0, 0, NULL);
                    int d = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                    RUN(h, op_layernorm_backward(be, T(h, dx), T(h, dw), T(h, db), T(h, d), res ? T(h, so) : T(h, x),
                                                 T(h, w), T(h, mu), T(h, rs)));
                    gh_check(h, dx, "dinp");
                    gh_check(h, dw, "dw");
                    gh_check(h, db, "db");
                }
                gh_end(h);
            }
            if (gh_want(h, "rmsnorm") || gh_want(h, "rmsnorm_backward")) {
                gh_begin(h, "rmsnorm N=%lld C=%lld resid=%d", (long long)N, (long long)C, res);
                int o = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
                int so = gh_add(h, A, DT_F32, GI_POISON, ND(N, C), 0, 0, NULL);
                int rs = gh_add(h, A, DT_F32, GI_POISON, ND(N), 0, 0, NULL);
                int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 2, 0, NULL);
                int r = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                int w = gh_add(h, P, DT_F32, GI_RAND, ND(C), 0, 0, NULL);
                RUN(h, op_rmsnorm(be, T(h, o), res ? T(h, so) : NULL, T(h, rs), T(h, x), res ? T(h, r) : NULL, T(h, w), 1e-6f));
                if (gh_want(h, "rmsnorm")) {
                    gh_check(h, o, "out");
                    if (res) gh_check(h, so, "sum");
                    gh_check(h, rs, "rstd");
                }
                if (gh_want(h, "rmsnorm_backward")) {
                    snprintf(h->label, sizeof h->label, "rmsnorm_backward N=%lld C=%lld resid=%d", (long long)N,
                             (long long)C, res);
                    int dx = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                    int dw = gh_add(h, G, DT_F32, GI_RAND, ND(C), 0, 0, NULL);
                    int d = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
                    RUN(h, op_rmsnorm_backward(be, T(h, dx), T(h, dw), T(h, d), res ? T(h, so) : T(h, x), T(h, w), T(h, rs)));
                    gh_check(h, dx, "dinp");
                    gh_check(h, dw, "dw");
                }
                gh_end(h);
            }
        }
    }
}

static void rope_cases(GH *h) {
    static const int64_t cfg[][4] = {{13, 3, 16, 16}, {29, 2, 24, 16}, {7, 5, 64, 64}};  /* N, H, D, rot */
    for (int s = 0; s < (h->quick ? 1 : 3); s++)
        for (int sc = 0; sc < 2; sc++) {
            int64_t N = cfg[s][0], H = cfg[s][1], Dd = cfg[s][2];
            RopeDesc rd = {.theta = sc ? 500000.f : 10000.f, .rot_dim = (int)cfg[s][3],
                           .scaling = sc ? ROPE_LLAMA3 : ROPE_NONE, .factor = 8.f, .low_freq_factor = 1.f,
                           .high_freq_factor = 4.f, .original_max_pos = 8192};
            if (gh_want(h, "rope")) {
                gh_begin(h, "rope N=%lld H=%lld D=%lld rot=%d llama3=%d", (long long)N, (long long)H, (long long)Dd,
                         rd.rot_dim, sc);
                int o = gh_add(h, A, DT_F32, GI_POISON, ND(N, H, Dd), 0, 0, NULL);
                int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, H, Dd), 0, 0, NULL);
                int pos = gh_add(h, A, DT_I32, GI_INTS, ND(N), 0, 2047, NULL);
                RUN(h, op_rope(be, T(h, o), T(h, x), T(h, pos), &rd));
                gh_check(h, o, "out");
                gh_end(h);
            }
            if (gh_want(h, "rope_backward")) {
                gh_begin(h, "rope_backward N=%lld H=%lld D=%lld rot=%d llama3=%d", (long long)N, (long long)H,
                         (long long)Dd, rd.rot_dim, sc);
                int dx = gh_add(h, A, DT_F32, GI_RAND, ND(N, H, Dd), 0, 0, NULL);
                int d = gh_add(h, A, DT_F32, GI_RAND, ND(N, H, Dd), 0, 0, NULL);
                int pos = gh_add(h, A, DT_I32, GI_INTS, ND(N), 0, 2047, NULL);
                RUN(h, op_rope_backward(be, T(h, dx), T(h, d), T(h, pos), &rd));
                gh_check(h, dx, "dinp");
                gh_end(h);
            }
        }
}

static void attention_cases(GH *h) {
    if (!gh_want(h, "attention") && !gh_want(h, "attention_backward")) return;
    /* kind: 0 causal, 1 packed documents (causal), 2 key padding, 3 cross-attention */
    static const int64_t cfg[][7] = {
        /* kind, B, Tq, Tk, Hq, Hkv, D */
        {0, 2, 13, 13, 4, 2, 16},
        {1, 2, 21, 21, 3, 3, 72},
        {2, 3, 9, 9, 2, 1, 40},
        {3, 2, 11, 17, 4, 1, 64},
    };
    for (int s = 0; s < (h->quick ? 1 : 4); s++) {
        int kind = (int)cfg[s][0];
        AttnDesc ad = {.B = cfg[s][1], .Tq = cfg[s][2], .Tk = cfg[s][3], .Hq = cfg[s][4], .Hkv = cfg[s][5], .D = cfg[s][6],
                       .causal = kind <= 1, .scale = 1.f / sqrtf((float)cfg[s][6])};
        int32_t qs[64], ks[64];
        for (int64_t b = 0; b < ad.B; b++) {
            for (int64_t i = 0; i < ad.Tq; i++) {
                int32_t v = 0;
                if (kind == 1) v = (int32_t)(i < 5 ? 0 : i < 12 ? 1 : 2);       /* documents of 5, 7, 9 tokens */
                if (kind == 2) v = i >= ad.Tq - b ? -1 : 0;                     /* padded queries */
                if (kind == 3) v = (int32_t)((i + b) % 3) - 1;                  /* -1: no image yet */
                qs[b * ad.Tq + i] = v;
            }
            for (int64_t j = 0; j < ad.Tk; j++) {
                int32_t v = 0;
                if (kind == 1) v = (int32_t)(j < 5 ? 0 : j < 12 ? 1 : 2);
                if (kind == 2) v = j >= ad.Tk - 1 - b ? -1 : 0;                 /* padded keys */
                if (kind == 3) v = j < 8 ? 0 : 1;                               /* two images */
                ks[b * ad.Tk + j] = v;
            }
        }
        int segs = kind != 0;
        gh_begin(h, "attention kind=%d B=%lld Tq=%lld Tk=%lld Hq=%lld Hkv=%lld D=%lld", kind, (long long)ad.B,
                 (long long)ad.Tq, (long long)ad.Tk, (long long)ad.Hq, (long long)ad.Hkv, (long long)ad.D);
        int o = gh_add(h, A, DT_F32, GI_POISON, ND(ad.B, ad.Tq, ad.Hq, ad.D), 0, 0, NULL);
        int lse = gh_add(h, A, DT_F32, GI_POISON, ND(ad.B, ad.Hq, ad.Tq), 0, 0, NULL);
        int q = gh_add(h, A, DT_F32, GI_RAND, ND(ad.B, ad.Tq, ad.Hq, ad.D), 0, 0, NULL);
        int k = gh_add(h, A, DT_F32, GI_RAND, ND(ad.B, ad.Tk, ad.Hkv, ad.D), 0, 0, NULL);
        int v = gh_add(h, A, DT_F32, GI_RAND, ND(ad.B, ad.Tk, ad.Hkv, ad.D), 0, 0, NULL);
        int qsg = gh_add(h, A, DT_I32, GI_HOST, ND(ad.B, ad.Tq), 0, 0, qs);
        int ksg = gh_add(h, A, DT_I32, GI_HOST, ND(ad.B, ad.Tk), 0, 0, ks);
        RUN(h, op_attention(be, &ad, T(h, o), T(h, lse), T(h, q), T(h, k), T(h, v), segs ? T(h, qsg) : NULL,
                            segs ? T(h, ksg) : NULL));
        if (gh_want(h, "attention")) {
            gh_check(h, o, "out");
            /* lse is -inf for queries with no key: compare only in the cases without such queries */
            if (kind <= 1) gh_check(h, lse, "lse");
        }
        if (gh_want(h, "attention_backward")) {
            snprintf(h->label, sizeof h->label, "attention_backward kind=%d B=%lld Tq=%lld Tk=%lld Hq=%lld Hkv=%lld D=%lld",
                     kind, (long long)ad.B, (long long)ad.Tq, (long long)ad.Tk, (long long)ad.Hq, (long long)ad.Hkv,
                     (long long)ad.D);
            int dq = gh_add(h, A, DT_F32, GI_RAND, ND(ad.B, ad.Tq, ad.Hq, ad.D), 0, 0, NULL);
            int dk = gh_add(h, A, DT_F32, GI_RAND, ND(ad.B, ad.Tk, ad.Hkv, ad.D), 0, 0, NULL);
            int dv = gh_add(h, A, DT_F32, GI_RAND, ND(ad.B, ad.Tk, ad.Hkv, ad.D), 0, 0, NULL);
            int d = gh_add(h, A, DT_F32, GI_RAND, ND(ad.B, ad.Tq, ad.Hq, ad.D), 0, 0, NULL);
            RUN(h, op_attention_backward(be, &ad, T(h, dq), T(h, dk), T(h, dv), T(h, d), T(h, o), T(h, lse), T(h, q),
                                         T(h, k), T(h, v), segs ? T(h, qsg) : NULL, segs ? T(h, ksg) : NULL));
            gh_check(h, dq, "dq");
            gh_check(h, dk, "dk");
            gh_check(h, dv, "dv");
        }
        gh_end(h);
    }
}

static void xent_cases(GH *h) {
    if (!gh_want(h, "xent")) return;
    static const int64_t cfg[][4] = {{37, 24, 101, 8}, {64, 96, 1000, 64}, {5, 13, 33, 16}};  /* N, C, V, chunk */
    for (int s = 0; s < (h->quick ? 1 : 3); s++)
        for (int bwd = 0; bwd < 2; bwd++) {
            int64_t N = cfg[s][0], C = cfg[s][1], V = cfg[s][2], ch = cfg[s][3];
            gh_begin(h, "xent N=%lld C=%lld V=%lld chunk=%lld bwd=%d", (long long)N, (long long)C, (long long)V,
                     (long long)ch, bwd);
            int lp = gh_add(h, A, DT_F32, GI_POISON, ND(N), 0, 0, NULL);
            int dx = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            int dw = gh_add(h, G, DT_F32, GI_RAND, ND(V, C), 0, 0, NULL);
            int x = gh_add(h, A, DT_F32, GI_RAND, ND(N, C), 0, 0, NULL);
            int w = gh_add(h, P, DT_F32, GI_RAND, ND(V, C), 0.3, 0, NULL);
            int tg = gh_add(h, A, DT_I32, GI_INTS, ND(N), -1, (double)(V - 1), NULL);
            int wt = gh_add(h, A, DT_F32, GI_POS, ND(N), 0.1, 1.0, NULL);
            RUN(h, op_xent(be, T(h, lp), bwd ? T(h, dx) : NULL, bwd ? T(h, dw) : NULL, T(h, x), T(h, w), T(h, tg),
                           bwd ? T(h, wt) : NULL, ch));
            gh_check(h, lp, "logp");
            if (bwd) {
                gh_check(h, dx, "dx");
                gh_check(h, dw, "dw");
            }
            gh_end(h);
        }
}

static void reduction_cases(GH *h) {
    static const int64_t ns[] = {1, 100, 4099};
    for (int s = 0; s < (h->quick ? 2 : 3); s++) {
        int64_t N = ns[s], S = 7;
        for (int useg = 0; useg < 2; useg++) {
            if (gh_want(h, "segment_sum")) {
                gh_begin(h, "segment_sum N=%lld S=%lld seg=%d", (long long)N, (long long)(useg ? S : 1), useg);
                int o = gh_add(h, A, DT_F32, GI_POISON, ND(useg ? S : 1), 0, 0, NULL);
                int v = gh_add(h, A, DT_F32, GI_RAND, ND(N), 0, 0, NULL);
                int sg = gh_add(h, A, DT_I32, GI_INTS, ND(N), -1, (double)(S - 1), NULL);
                RUN(h, op_segment_sum(be, T(h, o), T(h, v), useg ? T(h, sg) : NULL));
                gh_check(h, o, "out");
                gh_end(h);
            }
            if (gh_want(h, "segment_sum_backward")) {
                gh_begin(h, "segment_sum_backward N=%lld S=%lld seg=%d", (long long)N, (long long)(useg ? S : 1), useg);
                int dv = gh_add(h, A, DT_F32, GI_RAND, ND(N), 0, 0, NULL);
                int d = gh_add(h, A, DT_F32, GI_RAND, ND(useg ? S : 1), 0, 0, NULL);
                int sg = gh_add(h, A, DT_I32, GI_INTS, ND(N), -1, (double)(S - 1), NULL);
                RUN(h, op_segment_sum_backward(be, T(h, dv), T(h, d), useg ? T(h, sg) : NULL));
                gh_check(h, dv, "dvals");
                gh_end(h);
            }
        }
        if (gh_want(h, "count_targets")) {
            gh_begin(h, "count_targets N=%lld", (long long)N);
            int o = gh_add(h, G, DT_F32, GI_POISON, ND(1), 0, 0, NULL);
            int t = gh_add(h, A, DT_I32, GI_INTS, ND(N), -1, 3, NULL);
            RUN(h, op_count_targets(be, T(h, o), T(h, t)));
            gh_check(h, o, "out");
            gh_end(h);
        }
        if (gh_want(h, "sumsq")) {
            gh_begin(h, "sumsq 3 tensors N=%lld", (long long)N);
            int o = gh_add(h, G, DT_F32, GI_POISON, ND(1), 0, 0, NULL);
            int t0 = gh_add(h, G, DT_F32, GI_RAND, ND(N), 0, 0, NULL);
            int t1 = gh_add(h, G, DT_F32, GI_RAND, ND(N, 3), 0, 0, NULL);
            int t2 = gh_add(h, A, DT_F32, GI_RAND, ND(17), 0, 0, NULL);
            RUN(h, do {
                const Tensor *ts[3] = {T(h, t0), T(h, t1), T(h, t2)};
                op_sumsq(be, T(h, o), ts, 3);
            } while (0));
            gh_check(h, o, "out");
            gh_end(h);
        }
    }
    if (!gh_want(h, "adamw")) return;
    for (int masked = 0; masked < 2; masked++) {
        int64_t R = 19, C = 37;
        AdamWDesc ad = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .step = 3,
                        .grad_scale = 0.5f};
        gh_begin(h, "adamw R=%lld C=%lld mask=%d", (long long)R, (long long)C, masked);
        int ms = gh_add(h, BUF_MASTER, DT_F32, GI_RAND, ND(R, C), 0, 0, NULL);
        int pr = gh_add(h, P, DT_F32, GI_POISON, ND(R, C), 0, 0, NULL);
        int g = gh_add(h, G, DT_F32, GI_RAND, ND(R, C), 0, 0, NULL);
        int m = gh_add(h, BUF_OPTIM, DT_F32, GI_RAND, ND(R, C), 0.1, 0, NULL);
        int v = gh_add(h, BUF_OPTIM, DT_F32, GI_POS, ND(R, C), 0.0, 0.1, NULL);
        int rm = gh_add(h, G, DT_F32, GI_INTS, ND(R), 0, 1, NULL);
        if (masked) {
            /* masked rows keep their (poisoned) compute copy on cuda: start it from master there */
            RUN(h, if (side_) op_copy(be, T(h, pr), T(h, ms)));
        }
        RUN(h, op_adamw(be, &ad, T(h, ms), side_ ? T(h, pr) : NULL, T(h, g), T(h, m), T(h, v), masked ? T(h, rm) : NULL));
        op_copy(h->cpu, h->t[pr].c, h->t[ms].c);  /* the cpu's compute copy is its master */
        gh_check(h, ms, "master");
        gh_check(h, pr, "param");
        gh_check(h, m, "m");
        gh_check(h, v, "v");
        gh_end(h);
    }
}

void gh_cases_b(GH *h) {
    norm_cases(h);
    rope_cases(h);
    attention_cases(h);
    xent_cases(h);
    reduction_cases(h);
}
