/* tests/kernels/test_ops_b_panics.c — programming errors in calls to the
 * group B ops (attention, xent, sumsq, adamw) panic with a message naming
 * the op and the problem; each call runs in a forked child
 * (tu_expect_panic from op_testutil.h). Data errors (bad targets, bad segment
 * ids) are not panics: they are tested in test_ops_b_xent / _reduce. */
#include "op_testutil.h"
#include "ops_b_testutil.h"

typedef struct PCtx { Backend *be; int which; } PCtx;

static Tensor *z(Backend *be, int nd, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t s[4] = {a, b, c, d};
    return tnew_f(be, nd, s, NULL);
}

static void bad_call(void *vctx) {
    PCtx *c = vctx;
    Backend *be = c->be;
    switch (c->which) {
    case 0: {  // Hq not a multiple of Hkv
        AttnDesc d = {1, 4, 4, 3, 2, 8, 0, 0.3f};
        Tensor *q = z(be, 4, 1, 4, 3, 8), *k = z(be, 4, 1, 4, 2, 8), *o = z(be, 4, 1, 4, 3, 8), *l = z(be, 3, 1, 3, 4, 0);
        op_attention(be, &d, o, l, q, k, k, NULL, NULL);
        break;
    }
    case 1: {  // causal cross-attention
        AttnDesc d = {1, 4, 5, 2, 2, 8, 1, 0.3f};
        Tensor *q = z(be, 4, 1, 4, 2, 8), *k = z(be, 4, 1, 5, 2, 8), *o = z(be, 4, 1, 4, 2, 8), *l = z(be, 3, 1, 2, 4, 0);
        op_attention(be, &d, o, l, q, k, k, NULL, NULL);
        break;
    }
    case 2: {  // k with the wrong head dim
        AttnDesc d = {1, 4, 4, 2, 2, 8, 0, 0.3f};
        Tensor *q = z(be, 4, 1, 4, 2, 8), *k = z(be, 4, 1, 4, 2, 7), *o = z(be, 4, 1, 4, 2, 8), *l = z(be, 3, 1, 2, 4, 0);
        op_attention(be, &d, o, l, q, k, k, NULL, NULL);
        break;
    }
    case 3: {  // xent gradient without per-token weights
        Tensor *x = z(be, 2, 4, 3, 0, 0), *w = z(be, 2, 5, 3, 0, 0), *dx = z(be, 2, 4, 3, 0, 0);
        int64_t n[1] = {4};
        int32_t t[4] = {0, 1, 2, 3};
        Tensor *tg = tnew_i(be, 1, n, t);
        op_xent(be, NULL, dx, NULL, x, w, tg, NULL, 2);
        break;
    }
    case 4: {  // xent chunk 0
        Tensor *x = z(be, 2, 4, 3, 0, 0), *w = z(be, 2, 5, 3, 0, 0), *lp = z(be, 1, 4, 0, 0, 0);
        int64_t n[1] = {4};
        int32_t t[4] = {0, 1, 2, 3};
        Tensor *tg = tnew_i(be, 1, n, t);
        op_xent(be, lp, NULL, NULL, x, w, tg, NULL, 0);
        break;
    }
    case 5: {  // adamw step 0 (bias correction divides by 1 - beta^0 = 0)
        Tensor *p = z(be, 1, 6, 0, 0, 0);
        AdamWDesc d = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0, 1.0f};
        op_adamw(be, &d, p, p, p, p, p, NULL);
        break;
    }
    case 6: {  // row mask that does not divide the parameter
        Tensor *p = z(be, 1, 6, 0, 0, 0), *m = z(be, 1, 4, 0, 0, 0);
        AdamWDesc d = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1, 1.0f};
        op_adamw(be, &d, p, p, p, p, p, m);
        break;
    }
    case 7: {  // an index tensor where floats are expected
        AttnDesc d = {1, 4, 4, 2, 2, 8, 0, 0.3f};
        int64_t s[4] = {1, 4, 2, 8};
        Tensor *qi = tnew(be, DT_I32, 4, s, NULL);
        Tensor *k = z(be, 4, 1, 4, 2, 8), *o = z(be, 4, 1, 4, 2, 8), *l = z(be, 3, 1, 2, 4, 0);
        op_attention(be, &d, o, l, qi, k, k, NULL, NULL);
        break;
    }
    }
}

static void test_panics(void) {
    static const char *const expect[] = {
        "attention: bad descriptor",     "causal attention needs Tq == Tk", "attention: k has shape",
        "xent: weight (N) is required",  "xent: chunk must be >= 1",        "adamw: step is 1-based",
        "do not divide",                 "expected an F32 tensor",
    };
    Backend *be = tu_backend();
    for (int i = 0; i < (int)(sizeof expect / sizeof expect[0]); i++) {
        PCtx c = {be, i};
        CHECK(tu_expect_panic(bad_call, &c, expect[i]), "case %d: expected a panic with \"%s\"", i, expect[i]);
    }
    be_destroy(be);
}

TEST_MAIN({"panics", test_panics})
