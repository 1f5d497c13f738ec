/* kernels/cpu/cpu_attention.c — scaled dot-product attention, forward and
 * backward, on the CPU (fp32, OpenBLAS sgemm inside OpenMP loops).
 *
 * Shapes: q (B, Tq, Hq, D), k, v (B, Tk, Hkv, D), out (B, Tq, Hq, D),
 * lse (B, Hq, Tq); q_seg (B*Tq) and k_seg (B*Tk) i32 or NULL. Mask (AttnDesc):
 * query i sees key j iff q_seg[i] >= 0 && q_seg[i] == k_seg[j] && (!causal || j <= i).
 * GQA: query head h reads kv head h / (Hq / Hkv).
 *
 * Work is cut into tiles of at most ATT_QB query rows of one (batch, head).
 * A tile ends at ATT_QB rows, or where the query's segment changes once it
 * holds ATT_QB_MIN rows, so in packed rows a tile rarely straddles two
 * documents (attn_tiles). A tile only touches the key range [kmin, kmax)
 * spanned by its allowed keys, so causal and packed-document masks skip the
 * keys no query of the tile can see: a batch of 96-token rows packing
 * documents of ~45 tokens computes about a third of the scores that fixed
 * 64-row tiles did. The
 * head's strided rows are handed to sgemm through its leading dimension
 * (Hq*D, Hkv*D) instead of being copied. Softmax is two-pass on the tile's
 * full score rows (max, then exp and sum), with the vectorised exp of
 * cpu_vexp.h.
 *
 * Determinism: every output element is written by exactly one tile, so the
 * forward is the same for any schedule. The backward runs one (batch, query
 * head) per task and walks its tiles in order; with GQA (Hq > Hkv) each query
 * head writes dK/dV into its own partial buffer, and the heads of a group are
 * added into dk/dv afterwards in head order. Results depend on nothing but
 * the inputs (sgemm inside a parallel region runs single-threaded).
 */
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_scratch.h"
#include "kernels/cpu/cpu_vexp.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define ATT_QB 64      /* query rows per tile: a tile's scores (64 x Tk) stay in L2 for Tk ~ 1-2k */
#define ATT_QB_MIN 16  /* a segment change ends a tile once it has this many rows: shorter
                          documents share a tile rather than cost a tile each */

typedef struct AttnView {
    int64_t B, Tq, Tk, Hq, Hkv, D, G;  /* G = Hq / Hkv query heads per kv head */
    int causal;
    float scale;
    const int32_t *qs, *ks;            /* segment ids or NULL (segment 0) */
} AttnView;

static AttnView attn_view(const char *op, const AttnDesc *d, const Tensor *q, const Tensor *k,
                          const Tensor *v, const Tensor *q_seg, const Tensor *k_seg) {
    AttnView a = {d->B, d->Tq, d->Tk, d->Hq, d->Hkv, d->D, 0, d->causal, d->scale, NULL, NULL};
    if (a.B < 1 || a.Tq < 1 || a.Tk < 1 || a.Hq < 1 || a.Hkv < 1 || a.D < 1 || a.Hq % a.Hkv)
        VLMC_PANIC("%s: bad descriptor B=%lld Tq=%lld Tk=%lld Hq=%lld Hkv=%lld D=%lld (Hq %% Hkv must be 0)", op,
                   (long long)a.B, (long long)a.Tq, (long long)a.Tk, (long long)a.Hq, (long long)a.Hkv,
                   (long long)a.D);
    if (a.causal && a.Tq != a.Tk)
        VLMC_PANIC("%s: causal attention needs Tq == Tk (got %lld, %lld)", op, (long long)a.Tq, (long long)a.Tk);
    a.G = a.Hq / a.Hkv;
    int64_t qd[4] = {a.B, a.Tq, a.Hq, a.D}, kd[4] = {a.B, a.Tk, a.Hkv, a.D};
    be_check_dims(op, q, 4, qd, "q");
    be_check_dims(op, k, 4, kd, "k");
    be_check_dims(op, v, 4, kd, "v");
    if (q_seg) {
        be_check_numel(op, q_seg, a.B * a.Tq, "q_seg");
        a.qs = cpu_i32(q_seg, op);
    }
    if (k_seg) {
        be_check_numel(op, k_seg, a.B * a.Tk, "k_seg");
        a.ks = cpu_i32(k_seg, op);
    }
    return a;
}

/* Sets the scores of keys query i may not see to -inf in s (nk), keys
 * kmin.. kmin + nk; returns the number of leading entries that can be
 * allowed (the causal limit), or 0 when the query sees nothing. */
static int64_t attn_mask_row(const AttnView *a, int64_t b, int64_t i, int64_t kmin, int64_t nk, float *s) {
    int32_t qs = a->qs ? a->qs[b * a->Tq + i] : 0;
    int64_t lim = a->causal ? i + 1 - kmin : nk;  /* keys j >= i + 1 are in the future */
    if (lim > nk) lim = nk;
    if (qs < 0 || lim <= 0 || (!a->ks && qs != 0)) lim = 0;
    for (int64_t j = lim; j < nk; j++) s[j] = -INFINITY;
    if (a->ks) {
        const int32_t *ks = a->ks + b * a->Tk + kmin;
        for (int64_t j = 0; j < lim; j++)
            if (ks[j] != qs) s[j] = -INFINITY;
    }
    return lim;
}

/* The key range [*kmin, *kmax) holding every key some query in [i0, i1)
 * may see; returns 0 when the tile sees no key at all. */
static int attn_key_range(const AttnView *a, int64_t b, int64_t i0, int64_t i1, int64_t *kmin, int64_t *kmax) {
    int64_t lo = a->Tk, hi = 0;
    for (int64_t i = i0; i < i1; i++) {
        int32_t s = a->qs ? a->qs[b * a->Tq + i] : 0;
        if (s < 0) continue;
        int64_t jend = a->causal ? i + 1 : a->Tk;
        if (!a->ks) {  /* every key is segment 0 */
            if (s == 0 && jend > 0) {
                lo = 0;
                if (jend > hi) hi = jend;
            }
            continue;
        }
        const int32_t *ks = a->ks + b * a->Tk;
        for (int64_t j = 0; j < jend && j < lo; j++)
            if (ks[j] == s) { lo = j; break; }
        for (int64_t j = jend - 1; j >= hi; j--)
            if (ks[j] == s) { hi = j + 1; break; }
    }
    *kmin = lo;
    *kmax = hi;
    return hi > lo;
}

/* One tile: query rows [i0, i1) of batch row b. */
typedef struct AttTile { int32_t b, i0, i1; } AttTile;

/* Upper bound on the tiles of a (B, Tq) problem: in each batch row every tile
 * but the last has >= ATT_QB_MIN rows. */
static int64_t attn_max_tiles(const AttnView *a) { return a->B * (a->Tq / ATT_QB_MIN + 1); }

/* Cuts every batch row's queries into tiles (see the header); batch row b's
 * tiles are t[first[b] .. first[b + 1]). Depends only on the segment ids,
 * so the tiling and the results are the same for any thread count. */
static int64_t attn_tiles(const AttnView *a, AttTile *t, int64_t *first) {
    int64_t n = 0;
    for (int64_t b = 0; b < a->B; b++) {
        first[b] = n;
        const int32_t *qs = a->qs ? a->qs + b * a->Tq : NULL;
        int64_t i0 = 0;
        for (int64_t i = 1; i <= a->Tq; i++) {
            int64_t rows = i - i0;
            int end = i == a->Tq || rows == ATT_QB || (qs && rows >= ATT_QB_MIN && qs[i] != qs[i - 1]);
            if (!end) continue;
            t[n++] = (AttTile){(int32_t)b, (int32_t)i0, (int32_t)i};
            i0 = i;
        }
    }
    first[a->B] = n;
    return n;
}

/* q (B, Tq, Hq, D), k, v (B, Tk, Hkv, D) -> out (B, Tq, Hq, D), lse (B, Hq, Tq) */
void cpu_attention(Backend *be, const AttnDesc *d, Tensor *out, Tensor *lse, const Tensor *q, const Tensor *k,
                   const Tensor *v, const Tensor *q_seg, const Tensor *k_seg) {
    static const char op[] = "attention";
    AttnView a = attn_view(op, d, q, k, v, q_seg, k_seg);
    int64_t od[4] = {a.B, a.Tq, a.Hq, a.D}, ld[3] = {a.B, a.Hq, a.Tq};
    be_check_dims(op, out, 4, od, "out");
    be_check_dims(op, lse, 3, ld, "lse");
    const float *Q = cpu_f32(q, op), *K = cpu_f32(k, op), *V = cpu_f32(v, op);
    float *O = cpu_f32(out, op), *L = cpu_f32(lse, op);

    int nth = omp_get_max_threads();
    size_t mark = be_mark(be, BUF_SCRATCH);
    float *scratch = cpu_scratch_f32(be, (int64_t)nth * ATT_QB * a.Tk, op);
    const int64_t maxt = attn_max_tiles(&a);
    AttTile *tiles = (AttTile *)(void *)cpu_scratch_f32(be, 3 * maxt, op);
    int64_t *first = (int64_t *)(void *)cpu_scratch_f32(be, 2 * (a.B + 1), op);
    if (!scratch || !tiles || !first) {
        be_reset(be, BUF_SCRATCH, mark);
        return;
    }
    const int64_t ntiles = attn_tiles(&a, tiles, first), ntask = ntiles * a.Hq;
    const int64_t qld = a.Hq * a.D, kld = a.Hkv * a.D;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t task = 0; task < ntask; task++) {
        const AttTile *tl = &tiles[task / a.Hq];
        int64_t h = task % a.Hq, b = tl->b;
        int64_t i0 = tl->i0, i1 = tl->i1, nq = i1 - i0;
        int64_t hk = h / a.G;
        float *Ot = O + ((b * a.Tq + i0) * a.Hq + h) * a.D;   /* row stride qld */
        float *Lt = L + (b * a.Hq + h) * a.Tq + i0;
        int64_t kmin, kmax;
        if (!attn_key_range(&a, b, i0, i1, &kmin, &kmax)) {
            for (int64_t r = 0; r < nq; r++) {
                memset(Ot + r * qld, 0, (size_t)a.D * sizeof(float));
                Lt[r] = -INFINITY;
            }
            continue;
        }
        int64_t nk = kmax - kmin;
        float *S = scratch + (int64_t)omp_get_thread_num() * ATT_QB * a.Tk;  /* (nq, nk) */
        const float *Qt = Q + ((b * a.Tq + i0) * a.Hq + h) * a.D;
        const float *Kt = K + ((b * a.Tk + kmin) * a.Hkv + hk) * a.D;
        const float *Vt = V + ((b * a.Tk + kmin) * a.Hkv + hk) * a.D;
        // S = scale * Q_tile K_range^T: (nq, D) x (D, nk)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)a.D, a.scale, Qt, (int)qld, Kt,
                    (int)kld, 0.0f, S, (int)nk);
        for (int64_t r = 0; r < nq; r++) {
            float *s = S + r * nk;
            const int64_t lim = attn_mask_row(&a, b, i0 + r, kmin, nk, s);
            const float mx = cpu_vmax(s, lim);
            if (mx == -INFINITY) {  /* no allowed key: a zero row of P gives out = 0 */
                memset(s, 0, (size_t)nk * sizeof(float));
                Lt[r] = -INFINITY;
                continue;
            }
            cpu_vexp_sub(s, nk, mx);  /* masked -inf entries become exactly 0 */
            const double sum = cpu_vsum(s, lim);
            cpu_vscale(s, lim, (float)(1.0 / sum));
            Lt[r] = mx + (float)log(sum);
        }
        // out_tile = P V_range: (nq, nk) x (nk, D), written straight into the strided head
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)a.D, (int)nk, 1.0f, S, (int)nk, Vt,
                    (int)kld, 0.0f, Ot, (int)qld);
    }
    be_reset(be, BUF_SCRATCH, mark);
}

/* dq, dk, dv += gradients of attention; out and lse from the forward. */
void cpu_attention_backward(Backend *be, const AttnDesc *d, Tensor *dq, Tensor *dk, Tensor *dv, const Tensor *dout,
                            const Tensor *out, const Tensor *lse, const Tensor *q, const Tensor *k, const Tensor *v,
                            const Tensor *q_seg, const Tensor *k_seg) {
    static const char op[] = "attention_backward";
    AttnView a = attn_view(op, d, q, k, v, q_seg, k_seg);
    int64_t qd[4] = {a.B, a.Tq, a.Hq, a.D}, kd[4] = {a.B, a.Tk, a.Hkv, a.D}, ld[3] = {a.B, a.Hq, a.Tq};
    be_check_dims(op, dq, 4, qd, "dq");
    be_check_dims(op, dk, 4, kd, "dk");
    be_check_dims(op, dv, 4, kd, "dv");
    be_check_dims(op, dout, 4, qd, "dout");
    be_check_dims(op, out, 4, qd, "out");
    be_check_dims(op, lse, 3, ld, "lse");
    const float *Q = cpu_f32(q, op), *K = cpu_f32(k, op), *V = cpu_f32(v, op);
    const float *dO = cpu_f32(dout, op), *O = cpu_f32(out, op), *L = cpu_f32(lse, op);
    float *dQ = cpu_f32(dq, op), *dK = cpu_f32(dk, op), *dV = cpu_f32(dv, op);

    int nth = omp_get_max_threads();
    const int64_t qld = a.Hq * a.D, kld = a.Hkv * a.D, headkv = a.Tk * a.D;
    /* with GQA each query head accumulates into a private (Tk, D) dK and dV,
     * summed per group in head order below; without GQA it owns its kv head */
    const int gqa = a.G > 1;
    size_t mark = be_mark(be, BUF_SCRATCH);
    float *scratch = cpu_scratch_f32(be, (int64_t)nth * 2 * ATT_QB * a.Tk, op);
    float *part = gqa ? cpu_scratch_f32(be, 2 * a.B * a.Hq * headkv, op) : NULL;
    const int64_t maxt = attn_max_tiles(&a);
    AttTile *tiles = (AttTile *)(void *)cpu_scratch_f32(be, 3 * maxt, op);
    int64_t *first = (int64_t *)(void *)cpu_scratch_f32(be, 2 * (a.B + 1), op);
    if (!scratch || (gqa && !part) || !tiles || !first) {
        be_reset(be, BUF_SCRATCH, mark);
        return;
    }
    attn_tiles(&a, tiles, first);

    const int64_t ntask = a.B * a.Hq;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t task = 0; task < ntask; task++) {
        int64_t h = task % a.Hq, b = task / a.Hq, hk = h / a.G;
        float *P = scratch + (int64_t)omp_get_thread_num() * 2 * ATT_QB * a.Tk;  /* (nq, nk) */
        float *dS = P + ATT_QB * a.Tk;                                            /* (nq, nk) */
        float *dKh, *dVh;  /* this head's dK / dV target, row stride tld */
        int64_t tld;
        if (gqa) {
            dKh = part + task * 2 * headkv;
            dVh = dKh + headkv;
            memset(dKh, 0, (size_t)(2 * headkv) * sizeof(float));
            tld = a.D;
        } else {
            dKh = dK + (b * a.Tk * a.Hkv + hk) * a.D;
            dVh = dV + (b * a.Tk * a.Hkv + hk) * a.D;
            tld = kld;
        }
        for (int64_t ti = first[b]; ti < first[b + 1]; ti++) {
            int64_t i0 = tiles[ti].i0, i1 = tiles[ti].i1, nq = i1 - i0;
            int64_t kmin, kmax;
            if (!attn_key_range(&a, b, i0, i1, &kmin, &kmax)) continue;  /* no key seen: no gradient */
            int64_t nk = kmax - kmin;
            int64_t qoff = ((b * a.Tq + i0) * a.Hq + h) * a.D, koff = ((b * a.Tk + kmin) * a.Hkv + hk) * a.D;
            const float *Lt = L + (b * a.Hq + h) * a.Tq + i0;
            // recompute P = exp(scale Q K^T - lse) on allowed keys, 0 elsewhere
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)a.D, a.scale, Q + qoff,
                        (int)qld, K + koff, (int)kld, 0.0f, P, (int)nk);
            // dP = dO V^T: (nq, D) x (D, nk), into dS
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)a.D, 1.0f, dO + qoff,
                        (int)qld, V + koff, (int)kld, 0.0f, dS, (int)nk);
            for (int64_t r = 0; r < nq; r++) {
                float *p = P + r * nk, *ds = dS + r * nk;
                int64_t i = i0 + r;
                float l = Lt[r];
                if (l == -INFINITY) {  /* no allowed key: contributes nothing */
                    memset(p, 0, (size_t)nk * sizeof(float));
                    memset(ds, 0, (size_t)nk * sizeof(float));
                    continue;
                }
                const float *dor = dO + qoff + r * qld, *orow = O + qoff + r * qld;
                double di = 0;  /* D_i = rowsum(dO * O) = sum_j P_ij dP_ij */
                for (int64_t c = 0; c < a.D; c++) di += (double)dor[c] * orow[c];
                const float dif = (float)di;
                attn_mask_row(&a, b, i, kmin, nk, p);
                cpu_vexp_sub(p, nk, l);  /* P = exp(S - lse), exactly 0 where masked */
                for (int64_t j = 0; j < nk; j++) ds[j] = p[j] * (ds[j] - dif);  /* dS = P * (dP - D_i) */
            }
            // dV_range += P^T dO: (nk, nq) x (nq, D)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nk, (int)a.D, (int)nq, 1.0f, P, (int)nk,
                        dO + qoff, (int)qld, 1.0f, dVh + kmin * tld, (int)tld);
            // dQ_tile += scale dS K_range: (nq, nk) x (nk, D); this task owns head h's dq rows
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)a.D, (int)nk, a.scale, dS, (int)nk,
                        K + koff, (int)kld, 1.0f, dQ + qoff, (int)qld);
            // dK_range += scale dS^T Q_tile: (nk, nq) x (nq, D)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nk, (int)a.D, (int)nq, a.scale, dS, (int)nk,
                        Q + qoff, (int)qld, 1.0f, dKh + kmin * tld, (int)tld);
        }
    }

    if (gqa) {
        // dk, dv (B, Tk, Hkv, D) += the group's partials, query heads in order
#pragma omp parallel for schedule(static)
        for (int64_t row = 0; row < a.B * a.Tk; row++) {
            int64_t b = row / a.Tk, j = row % a.Tk;
            for (int64_t hk = 0; hk < a.Hkv; hk++) {
                float *dkr = dK + (row * a.Hkv + hk) * a.D, *dvr = dV + (row * a.Hkv + hk) * a.D;
                for (int64_t g = 0; g < a.G; g++) {
                    const float *pk = part + (b * a.Hq + hk * a.G + g) * 2 * headkv + j * a.D;
                    const float *pv = pk + headkv;
                    for (int64_t c = 0; c < a.D; c++) {
                        dkr[c] += pk[c];
                        dvr[c] += pv[c];
                    }
                }
            }
        }
    }
    be_reset(be, BUF_SCRATCH, mark);
}
