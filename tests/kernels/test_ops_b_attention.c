/* tests/kernels/test_ops_b_attention.c — op_attention / op_attention_backward
 * on the CPU backend against a float64 reference written here (naive loops
 * over the mask formula of AttnDesc), plus finite-difference checks.
 *
 * Cases cover: sizes that are not multiples of 8 (T=13, D=7), GQA (Hq=4,
 * Hkv=2 and Hq=3, Hkv=1), causal, packed documents, key padding, cross-
 * attention with Tq != Tk, queries with no allowed key (q_seg = -1 and a
 * q_seg no key carries), T > 64 so tiles of 64 queries split, and packed rows
 * whose short documents share a tile while a long one spans two. */
#include <math.h>
#include <omp.h>

#include "ops_b_testutil.h"

typedef struct ACase {
    const char *name;
    AttnDesc d;
    int seg_kind;  /* 0 none, 1 packed docs + padding, 2 cross-attention images, 3 key padding only,
                      4 packed docs of 5-90 tokens, a different packing per batch row */
} ACase;

static const ACase cases[] = {
    {"causal_T13_D7_gqa4x2", {2, 13, 13, 4, 2, 7, 1, 0}, 0},
    {"causal_packed_pad_T70_gqa3x1", {1, 70, 70, 3, 1, 16, 1, 0}, 1},
    {"cross_Tq11_Tk9", {2, 11, 9, 2, 2, 5, 0, 0}, 2},
    {"keypad_T13_D8", {2, 13, 13, 4, 4, 8, 0, 0}, 3},
    {"causal_T130_D9_gqa2x1", {1, 130, 130, 2, 1, 9, 1, 0}, 0},
    {"causal_packed_short_long_T120_gqa5x1", {2, 120, 120, 5, 1, 8, 1, 0}, 4},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* Segment ids for a case: qs (B*Tq), ks (B*Tk); returns 0 when the case has none. */
static int make_segs(const ACase *c, int32_t *qs, int32_t *ks) {
    const AttnDesc *d = &c->d;
    switch (c->seg_kind) {
    case 1:  // docs of lengths 20, 35, then 10 more tokens of doc 2, last 5 tokens are padding
        for (int64_t b = 0; b < d->B; b++)
            for (int64_t t = 0; t < d->Tq; t++) {
                int32_t s = t < 20 ? 0 : t < 55 ? 1 : t < 65 ? 2 : -1;
                qs[b * d->Tq + t] = s;
                ks[b * d->Tk + t] = s;
            }
        return 1;
    case 2:  // keys: image 0 then image 1 (5 + 4 keys); queries: -1 (no image yet), 0, 1, and 3 (no such image)
        for (int64_t b = 0; b < d->B; b++) {
            for (int64_t j = 0; j < d->Tk; j++) ks[b * d->Tk + j] = j < 5 ? 0 : 1;
            for (int64_t i = 0; i < d->Tq; i++)
                qs[b * d->Tq + i] = i < 2 ? -1 : i < 6 ? 0 : i == 9 ? 3 : (int32_t)((i + b) % 2);
        }
        return 1;
    case 3:  // key padding: batch b has 13 - 3b real keys; queries all segment 0
        for (int64_t b = 0; b < d->B; b++) {
            for (int64_t j = 0; j < d->Tk; j++) ks[b * d->Tk + j] = j < d->Tk - 3 * b ? 0 : -1;
            for (int64_t i = 0; i < d->Tq; i++) qs[b * d->Tq + i] = 0;
        }
        return 1;
    case 4: {  // row 0: docs of 5, 7, 3, 90 tokens, then padding; row 1: 70, 12, 18, 6, then padding
        static const int lens[2][5] = {{5, 7, 3, 90, 0}, {70, 12, 18, 6, 0}};
        for (int64_t b = 0; b < d->B; b++) {
            int64_t t = 0;
            for (int di = 0; lens[b % 2][di]; di++)
                for (int k = 0; k < lens[b % 2][di] && t < d->Tq; k++, t++) qs[b * d->Tq + t] = ks[b * d->Tk + t] = di;
            for (; t < d->Tq; t++) qs[b * d->Tq + t] = ks[b * d->Tk + t] = -1;
        }
        return 1;
    }
    default:
        return 0;
    }
}

static int ref_allowed(const AttnDesc *d, const int32_t *qs, const int32_t *ks, int64_t b, int64_t i, int64_t j) {
    int32_t s = qs ? qs[b * d->Tq + i] : 0, t = ks ? ks[b * d->Tk + j] : 0;
    return s >= 0 && s == t && (!d->causal || j <= i);
}

/* float64 reference: out, lse and (if dout) dq, dk, dv (overwritten). */
static void ref_attention(const AttnDesc *d, const float *q, const float *k, const float *v, const int32_t *qs,
                          const int32_t *ks, double *out, double *lse, const float *dout, double *dq, double *dk,
                          double *dv) {
    const int64_t B = d->B, Tq = d->Tq, Tk = d->Tk, Hq = d->Hq, Hkv = d->Hkv, D = d->D, G = Hq / Hkv;
    double *p = tmalloc_d((size_t)Tk), *dp = tmalloc_d((size_t)Tk);
    if (dout) {
        memset(dq, 0, sizeof(double) * (size_t)(B * Tq * Hq * D));
        memset(dk, 0, sizeof(double) * (size_t)(B * Tk * Hkv * D));
        memset(dv, 0, sizeof(double) * (size_t)(B * Tk * Hkv * D));
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const int64_t hk = h / G;
                const float *qi = q + ((b * Tq + i) * Hq + h) * D;
                double mx = -INFINITY;
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] = -INFINITY;
                    if (!ref_allowed(d, qs, ks, b, i, j)) continue;
                    const float *kj = k + ((b * Tk + j) * Hkv + hk) * D;
                    double s = 0;
                    for (int64_t c = 0; c < D; c++) s += (double)qi[c] * kj[c];
                    p[j] = s * d->scale;
                    if (p[j] > mx) mx = p[j];
                }
                double *oi = out + ((b * Tq + i) * Hq + h) * D;
                for (int64_t c = 0; c < D; c++) oi[c] = 0;
                if (mx == -INFINITY) {
                    lse[(b * Hq + h) * Tq + i] = -INFINITY;
                    continue;
                }
                double sum = 0;
                for (int64_t j = 0; j < Tk; j++) sum += p[j] == -INFINITY ? 0 : exp(p[j] - mx);
                lse[(b * Hq + h) * Tq + i] = mx + log(sum);
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx) / sum;
                    const float *vj = v + ((b * Tk + j) * Hkv + hk) * D;
                    for (int64_t c = 0; c < D; c++) oi[c] += p[j] * vj[c];
                }
                if (!dout) continue;
                // dP_ij = dout_i . v_j;  D_i = sum_j P_ij dP_ij;  dS = P (dP - D_i)
                const float *gi = dout + ((b * Tq + i) * Hq + h) * D;
                double di = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    const float *vj = v + ((b * Tk + j) * Hkv + hk) * D;
                    dp[j] = 0;
                    for (int64_t c = 0; c < D; c++) dp[j] += (double)gi[c] * vj[c];
                    di += p[j] * dp[j];
                }
                for (int64_t j = 0; j < Tk; j++) {
                    if (p[j] == 0) continue;
                    double ds = p[j] * (dp[j] - di) * d->scale;
                    const float *kj = k + ((b * Tk + j) * Hkv + hk) * D;
                    double *dqi = dq + ((b * Tq + i) * Hq + h) * D;
                    double *dkj = dk + ((b * Tk + j) * Hkv + hk) * D, *dvj = dv + ((b * Tk + j) * Hkv + hk) * D;
                    for (int64_t c = 0; c < D; c++) {
                        dqi[c] += ds * kj[c];
                        dkj[c] += ds * qi[c];
                        dvj[c] += p[j] * gi[c];
                    }
                }
            }
    free(p);
    free(dp);
}

typedef struct AData {
    AttnDesc d;
    size_t nq, nk, nl;
    float *q, *k, *v, *dout;
    int32_t *qs, *ks;
    int has_seg;
} AData;

static AData adata(const ACase *c, uint64_t seed) {
    AData a = {.d = c->d};
    a.d.scale = 1.0f / sqrtf((float)c->d.D);
    a.nq = (size_t)(c->d.B * c->d.Tq * c->d.Hq * c->d.D);
    a.nk = (size_t)(c->d.B * c->d.Tk * c->d.Hkv * c->d.D);
    a.nl = (size_t)(c->d.B * c->d.Hq * c->d.Tq);
    TRng r = {seed};
    a.q = tmalloc_f(a.nq);
    a.k = tmalloc_f(a.nk);
    a.v = tmalloc_f(a.nk);
    a.dout = tmalloc_f(a.nq);
    // amplitude 1.5 on q and k gives scores of O(1-3): softmax neither uniform nor one-hot
    trng_fill(&r, a.q, a.nq, 1.5f);
    trng_fill(&r, a.k, a.nk, 1.5f);
    trng_fill(&r, a.v, a.nk, 1.0f);
    trng_fill(&r, a.dout, a.nq, 1.0f);
    a.qs = calloc((size_t)(c->d.B * c->d.Tq), sizeof(int32_t));
    a.ks = calloc((size_t)(c->d.B * c->d.Tk), sizeof(int32_t));
    a.has_seg = make_segs(c, a.qs, a.ks);
    return a;
}

static void adata_free(AData *a) {
    free(a->q); free(a->k); free(a->v); free(a->dout); free(a->qs); free(a->ks);
}

/* Backend tensors of one case. */
typedef struct ATens {
    Tensor *q, *k, *v, *out, *lse, *dout, *dq, *dk, *dv, *qs, *ks;
} ATens;

static ATens atens(Backend *be, const AData *a) {
    const AttnDesc *d = &a->d;
    int64_t qd[4] = {d->B, d->Tq, d->Hq, d->D}, kd[4] = {d->B, d->Tk, d->Hkv, d->D}, ld[3] = {d->B, d->Hq, d->Tq};
    int64_t qsd[2] = {d->B, d->Tq}, ksd[2] = {d->B, d->Tk};
    ATens t;
    t.q = tnew_f(be, 4, qd, a->q);
    t.k = tnew_f(be, 4, kd, a->k);
    t.v = tnew_f(be, 4, kd, a->v);
    t.out = tnew_f(be, 4, qd, NULL);
    t.lse = tnew_f(be, 3, ld, NULL);
    t.dout = tnew_f(be, 4, qd, a->dout);
    t.dq = tnew_f(be, 4, qd, NULL);
    t.dk = tnew_f(be, 4, kd, NULL);
    t.dv = tnew_f(be, 4, kd, NULL);
    t.qs = a->has_seg ? tnew_i(be, 2, qsd, a->qs) : NULL;
    t.ks = a->has_seg ? tnew_i(be, 2, ksd, a->ks) : NULL;
    return t;
}

/* Forward and backward of every case against the float64 reference.
 * Tolerances: forward rel 2e-6 — fp32 sgemm sums of <= 130 terms and a float
 * softmax, each step ~6e-8 relative (measured ~1e-7); backward rel 5e-6 — two
 * more fp32 products and the P (dP - D_i) cancellation (measured ~1.3e-7). */
static void test_vs_reference(void) {
    for (int ci = 0; ci < NCASES; ci++) {
        Backend *be = tcpu();
        AData a = adata(&cases[ci], 1000 + (uint64_t)ci);
        ATens t = atens(be, &a);
        double *out = tmalloc_d(a.nq), *lse = tmalloc_d(a.nl), *dq = tmalloc_d(a.nq), *dk = tmalloc_d(a.nk),
               *dv = tmalloc_d(a.nk);
        ref_attention(&a.d, a.q, a.k, a.v, a.has_seg ? a.qs : NULL, a.has_seg ? a.ks : NULL, out, lse, a.dout, dq, dk,
                      dv);
        // backward accumulates: start the gradients from known values
        float *g0q = tmalloc_f(a.nq), *g0k = tmalloc_f(a.nk), *g0v = tmalloc_f(a.nk);
        TRng r = {77};
        trng_fill(&r, g0q, a.nq, 0.5f);
        trng_fill(&r, g0k, a.nk, 0.5f);
        trng_fill(&r, g0v, a.nk, 0.5f);
        be_upload(be, t.dq, g0q);
        be_upload(be, t.dk, g0k);
        be_upload(be, t.dv, g0v);
        op_attention(be, &a.d, t.out, t.lse, t.q, t.k, t.v, t.qs, t.ks);
        op_attention_backward(be, &a.d, t.dq, t.dk, t.dv, t.dout, t.out, t.lse, t.q, t.k, t.v, t.qs, t.ks);
        VStatus st = {0};
        CHECK(be_sync(be, &st) == 0, "%s", st.msg);
        float *o = tget(be, t.out), *l = tget(be, t.lse), *gq = tget(be, t.dq), *gk = tget(be, t.dk),
              *gv = tget(be, t.dv);
        double eo = test_rel_err_fd(o, out, a.nq);
        CHECK(eo < 2e-6, "%s: out rel err %.3g", cases[ci].name, eo);
        // lse: exactly -inf where no key is allowed, else abs err < 2e-6 (|lse| <~ 5: float ulp ~5e-7)
        int ninf = 0, lse_ok = 1;
        double el = 0;
        for (size_t i = 0; i < a.nl; i++) {
            if (lse[i] == -INFINITY) {
                ninf++;
                lse_ok &= l[i] == -INFINITY;
            } else {
                lse_ok &= isfinite(l[i]);
                el = fmax(el, fabs(l[i] - lse[i]));
            }
        }
        CHECK(lse_ok && el < 2e-6, "%s: lse max abs err %.3g (inf pattern ok: %d)", cases[ci].name, el, lse_ok);
        if (cases[ci].seg_kind == 1 || cases[ci].seg_kind == 2 || cases[ci].seg_kind == 4)
            CHECK(ninf > 0, "%s: case meant to have queries with no allowed key", cases[ci].name);
        for (size_t i = 0; i < a.nq; i++) dq[i] += g0q[i];
        for (size_t i = 0; i < a.nk; i++) { dk[i] += g0k[i]; dv[i] += g0v[i]; }
        double eq = test_rel_err_fd(gq, dq, a.nq), ek = test_rel_err_fd(gk, dk, a.nk), ev = test_rel_err_fd(gv, dv, a.nk);
        CHECK(eq < 5e-6 && ek < 5e-6 && ev < 5e-6, "%s: grad rel err dq %.3g dk %.3g dv %.3g", cases[ci].name, eq, ek, ev);
        printf("  %-30s out %.2e  lse %.2e  dq %.2e  dk %.2e  dv %.2e\n", cases[ci].name, eo, el, eq, ek, ev);
        free(o); free(l); free(gq); free(gk); free(gv); free(g0q); free(g0k); free(g0v);
        free(out); free(lse); free(dq); free(dk); free(dv);
        adata_free(&a);
        be_destroy(be);
    }
}

/* The float64 reference's own backward, checked by finite differences of
 * its forward in double (h = 1e-4 on float inputs: the step is exact, the
 * central-difference error is O(h^2) ~ 1e-8): rel tol 1e-6. This makes the
 * reference independent of the op it judges. */
typedef struct RefCtx { AData *a; float *R; int which; } RefCtx;
static double ref_loss(void *vctx, const float *x) {
    RefCtx *c = vctx;
    AData *a = c->a;
    const float *q = c->which == 0 ? x : a->q, *k = c->which == 1 ? x : a->k, *v = c->which == 2 ? x : a->v;
    double *out = tmalloc_d(a->nq), *lse = tmalloc_d(a->nl);
    ref_attention(&a->d, q, k, v, a->has_seg ? a->qs : NULL, a->has_seg ? a->ks : NULL, out, lse, NULL, NULL, NULL,
                  NULL);
    double L = 0;
    for (size_t i = 0; i < a->nq; i++) L += out[i] * c->R[i];
    free(out);
    free(lse);
    return L;
}

static void test_reference_gradient_fd(void) {
    for (int ci = 0; ci < 3; ci++) {
        AData a = adata(&cases[ci], 2000 + (uint64_t)ci);
        double *out = tmalloc_d(a.nq), *lse = tmalloc_d(a.nl), *dq = tmalloc_d(a.nq), *dk = tmalloc_d(a.nk),
               *dv = tmalloc_d(a.nk);
        ref_attention(&a.d, a.q, a.k, a.v, a.has_seg ? a.qs : NULL, a.has_seg ? a.ks : NULL, out, lse, a.dout, dq, dk,
                      dv);
        float *g[3] = {tmalloc_f(a.nq), tmalloc_f(a.nk), tmalloc_f(a.nk)};
        for (size_t i = 0; i < a.nq; i++) g[0][i] = (float)dq[i];
        for (size_t i = 0; i < a.nk; i++) { g[1][i] = (float)dk[i]; g[2][i] = (float)dv[i]; }
        float *x[3] = {a.q, a.k, a.v};
        size_t n[3] = {a.nq, a.nk, a.nk};
        for (int w = 0; w < 3; w++) {
            RefCtx c = {&a, a.dout, w};
            double e = tfd_check(ref_loss, &c, x[w], g[w], n[w], 1e-4, 3, 31 + (uint64_t)w, 1e-3);
            CHECK(e < 1e-6, "%s: reference d%c fd rel err %.3g", cases[ci].name, "qkv"[w], e);
        }
        for (int w = 0; w < 3; w++) free(g[w]);
        free(out); free(lse); free(dq); free(dk); free(dv);
        adata_free(&a);
    }
}

/* Finite differences on the op itself (fp32 forward): L = sum(out * R),
 * gradient from op_attention_backward with dout = R. h = 1e-2 against inputs
 * of O(1): the O(h^2) truncation is ~1e-4 relative and fp32 rounding of L
 * (~1e-6 abs) / h adds ~1e-4; tolerance 1e-3 (measured ~4e-5). The same check must reject a
 * gradient scaled by 1.05 or with one element shifted (it does, shown below). */
typedef struct OpCtx { Backend *be; AData *a; ATens *t; int which; } OpCtx;
static double op_loss(void *vctx, const float *x) {
    OpCtx *c = vctx;
    // upload all three: the previous call left its own input perturbed
    be_upload(c->be, c->t->q, c->which == 0 ? x : c->a->q);
    be_upload(c->be, c->t->k, c->which == 1 ? x : c->a->k);
    be_upload(c->be, c->t->v, c->which == 2 ? x : c->a->v);
    op_attention(c->be, &c->a->d, c->t->out, c->t->lse, c->t->q, c->t->k, c->t->v, c->t->qs, c->t->ks);
    float *o = tget(c->be, c->t->out);
    double L = 0;
    for (size_t i = 0; i < c->a->nq; i++) L += (double)o[i] * c->a->dout[i];
    free(o);
    return L;
}

static void test_op_gradient_fd(void) {
    for (int ci = 0; ci < NCASES; ci++) {
        if (cases[ci].d.Tq > 100) continue;  /* keep the test fast */
        Backend *be = tcpu();
        AData a = adata(&cases[ci], 3000 + (uint64_t)ci);
        ATens t = atens(be, &a);
        op_attention(be, &a.d, t.out, t.lse, t.q, t.k, t.v, t.qs, t.ks);
        op_attention_backward(be, &a.d, t.dq, t.dk, t.dv, t.dout, t.out, t.lse, t.q, t.k, t.v, t.qs, t.ks);
        float *g[3] = {tget(be, t.dq), tget(be, t.dk), tget(be, t.dv)};
        float *x[3] = {a.q, a.k, a.v};
        size_t n[3] = {a.nq, a.nk, a.nk};
        for (int w = 0; w < 3; w++) {
            OpCtx c = {be, &a, &t, w};
            double e = tfd_check(op_loss, &c, x[w], g[w], n[w], 1e-2, 3, 41 + (uint64_t)w, 1e-2);
            CHECK(e < 1e-3, "%s: op d%c fd rel err %.3g", cases[ci].name, "qkv"[w], e);
            if (ci == 0) {
                printf("  %-30s d%c fd rel err %.2e\n", cases[ci].name, "qkv"[w], e);
                // sensitivity: the same check fails on a wrong gradient
                float *bad = tmalloc_f(n[w]);
                for (size_t i = 0; i < n[w]; i++) bad[i] = 1.05f * g[w][i];
                double eb = tfd_check(op_loss, &c, x[w], bad, n[w], 1e-2, 3, 41 + (uint64_t)w, 1e-2);
                CHECK(eb > 1e-3, "fd check accepted a gradient scaled by 1.05 (err %.3g)", eb);
                printf("  %-30s d%c scaled by 1.05: fd rel err %.2e (rejected)\n", cases[ci].name, "qkv"[w], eb);
                memcpy(bad, g[w], n[w] * sizeof(float));
                double gn = 0;
                for (size_t i = 0; i < n[w]; i++) gn += (double)g[w][i] * g[w][i];
                bad[n[w] / 2] += (float)(0.3 * sqrt(gn));
                eb = tfd_check(op_loss, &c, x[w], bad, n[w], 1e-2, 3, 41 + (uint64_t)w, 1e-2);
                CHECK(eb > 1e-3, "fd check accepted a gradient with one element shifted (err %.3g)", eb);
                printf("  %-30s d%c with one element shifted: fd rel err %.2e (rejected)\n", cases[ci].name, "qkv"[w], eb);
                free(bad);
            }
        }
        for (int w = 0; w < 3; w++) free(g[w]);
        adata_free(&a);
        be_destroy(be);
    }
}

/* Same inputs, same thread count: bitwise the same outputs and gradients. */
static void test_deterministic(void) {
    const ACase *c = &cases[4];
    float *res[2][4];
    size_t n[4];
    for (int run = 0; run < 2; run++) {
        Backend *be = tcpu();
        AData a = adata(c, 5);
        ATens t = atens(be, &a);
        op_attention(be, &a.d, t.out, t.lse, t.q, t.k, t.v, t.qs, t.ks);
        op_attention_backward(be, &a.d, t.dq, t.dk, t.dv, t.dout, t.out, t.lse, t.q, t.k, t.v, t.qs, t.ks);
        res[run][0] = tget(be, t.out);
        res[run][1] = tget(be, t.dq);
        res[run][2] = tget(be, t.dk);
        res[run][3] = tget(be, t.dv);
        n[0] = n[1] = a.nq;
        n[2] = n[3] = a.nk;
        adata_free(&a);
        be_destroy(be);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(memcmp(res[0][i], res[1][i], n[i] * sizeof(float)) == 0, "run-to-run difference in output %d", i);
        free(res[0][i]);
        free(res[1][i]);
    }
}

TEST_MAIN({"vs_reference", test_vs_reference}, {"reference_gradient_fd", test_reference_gradient_fd},
          {"op_gradient_fd", test_op_gradient_fd}, {"deterministic", test_deterministic})
