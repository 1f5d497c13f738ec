/* kernels/cuda/cuda_attn.cu — reference attention, forward and backward.
 *
 * Simple and exact rather than fast (part 2 adds cuDNN's fused attention):
 * one warp per (batch, head, query) streams over the keys with an online
 * softmax; the mask is the one formula of ops.h (AttnDesc):
 *   allowed(i, j) = q_seg[i] >= 0 && q_seg[i] == k_seg[j] && (!causal || j <= i)
 * covering causal, packed documents, key padding and cross-attention. GQA:
 * query head h reads key/value head h / (Hq / Hkv).
 *
 * Backward, deterministic: dq from a warp per query (loop over keys), dk/dv
 * from a warp per key (loop over the queries of every head in its group), so
 * every gradient element is summed by one warp in a fixed order; no atomics.
 * lse and out are used as given when f32; when stored as bf16 (activation
 * buffers) the backward recomputes lse and delta = dout . out in f32 first,
 * since exp(s - lse) and dp - delta amplify bf16 rounding.
 *
 * Shapes: q (B, Tq, Hq, D), k/v (B, Tk, Hkv, D), out like q, lse (B, Hq, Tq),
 * q_seg (B, Tq), k_seg (B, Tk) i32 or NULL (segment 0). D <= 256.
 */
#include "kernels/cuda/cuda_dev.cuh"

#define MAXD_PER_LANE 8  /* D <= 256 */
#define WARPS 4

struct AttnK {
    int64_t B, Tq, Tk, Hq, Hkv, D;
    int causal;
    float scale;
};

__device__ __forceinline__ int q_segment(const int32_t *qs, const AttnK &a, int64_t b, int64_t i) {
    return qs ? qs[b * a.Tq + i] : 0;
}
__device__ __forceinline__ int k_segment(const int32_t *ks, const AttnK &a, int64_t b, int64_t j) {
    return ks ? ks[b * a.Tk + j] : 0;
}
__device__ __forceinline__ int64_t q_off(const AttnK &a, int64_t b, int64_t i, int64_t h) {
    return ((b * a.Tq + i) * a.Hq + h) * a.D;
}
__device__ __forceinline__ int64_t k_off(const AttnK &a, int64_t b, int64_t j, int64_t hk) {
    return ((b * a.Tk + j) * a.Hkv + hk) * a.D;
}
/* lane's share of a row into registers (zeros past D) */
__device__ __forceinline__ void load_row(float *r, CuF t, int64_t off, int64_t D, int lane) {
#pragma unroll
    for (int u = 0; u < MAXD_PER_LANE; u++) {
        int64_t d = lane + 32 * u;
        r[u] = d < D ? ldf(t, off + d) : 0.f;
    }
}
__device__ __forceinline__ float dot_row(const float *r, CuF t, int64_t off, int64_t D, int lane) {
    float s = 0.f;
#pragma unroll
    for (int u = 0; u < MAXD_PER_LANE; u++) {
        int64_t d = lane + 32 * u;
        if (d < D) s += r[u] * ldf(t, off + d);
    }
    return warp_sum(s);
}

/* forward (want_out = 1), or the backward's f32 statistics (want_out = 0):
 * lse_f32 and, with delta != NULL, delta = dout . out with out in f32 */
__global__ void k_attn_fwd(AttnK a, CuF out, CuF lse, float *lse_f32, CuF q, CuF k, CuF v, const int32_t *qseg,
                           const int32_t *kseg, int want_out, CuF dout, float *delta) {
    int64_t item = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (item >= a.B * a.Hq * a.Tq) return;
    /* item = (b * Hq + h) * Tq + i: the lse layout */
    int64_t i = item % a.Tq, h = (item / a.Tq) % a.Hq, b = item / (a.Tq * a.Hq);
    int64_t hk = h / (a.Hq / a.Hkv);
    int qs = q_segment(qseg, a, b, i);
    float qr[MAXD_PER_LANE], acc[MAXD_PER_LANE];
    load_row(qr, q, q_off(a, b, i, h), a.D, lane);
#pragma unroll
    for (int u = 0; u < MAXD_PER_LANE; u++) acc[u] = 0.f;
    float m = -INFINITY, l = 0.f;
    if (qs >= 0) {
        int64_t jend = a.causal ? i + 1 : a.Tk;
        for (int64_t j = 0; j < jend; j++) {
            if (k_segment(kseg, a, b, j) != qs) continue;  /* uniform across the warp */
            int64_t ko = k_off(a, b, j, hk);
            float s = a.scale * dot_row(qr, k, ko, a.D, lane);
            float mn = fmaxf(m, s);
            float corr = expf(m - mn);  /* m = -inf on the first key: 0 */
            float p = expf(s - mn);
            l = l * corr + p;
            if (want_out || delta) {
#pragma unroll
                for (int u = 0; u < MAXD_PER_LANE; u++) {
                    int64_t d = lane + 32 * u;
                    acc[u] = acc[u] * corr + (d < a.D ? p * ldf(v, ko + d) : 0.f);
                }
            }
            m = mn;
        }
    }
    float L = l > 0.f ? m + logf(l) : -INFINITY;
    if (lane == 0) {
        if (lse.p) stf(lse, item, L);
        if (lse_f32) lse_f32[item] = L;
    }
    if (delta) {
        float inv = l > 0.f ? 1.f / l : 0.f, dd = 0.f;
        int64_t oo = q_off(a, b, i, h);
#pragma unroll
        for (int u = 0; u < MAXD_PER_LANE; u++) {
            int64_t dix = lane + 32 * u;
            if (dix < a.D) dd += acc[u] * inv * ldf(dout, oo + dix);
        }
        dd = warp_sum(dd);
        if (lane == 0) delta[item] = dd;
    }
    if (want_out) {
        float inv = l > 0.f ? 1.f / l : 0.f;  /* a query with no allowed key outputs 0 */
        int64_t oo = q_off(a, b, i, h);
#pragma unroll
        for (int u = 0; u < MAXD_PER_LANE; u++) {
            int64_t d = lane + 32 * u;
            if (d < a.D) stf(out, oo + d, acc[u] * inv);
        }
    }
}

/* delta[item] = dout_i . out_i (the softmax backward's row term) */
__global__ void k_attn_delta(AttnK a, float *delta, CuF dout, CuF out) {
    int64_t item = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (item >= a.B * a.Hq * a.Tq) return;
    int64_t i = item % a.Tq, h = (item / a.Tq) % a.Hq, b = item / (a.Tq * a.Hq);
    int64_t o = q_off(a, b, i, h);
    float s = 0.f;
    for (int64_t d = lane; d < a.D; d += 32) s += ldf(dout, o + d) * ldf(out, o + d);
    s = warp_sum(s);
    if (lane == 0) delta[item] = s;
}

/* dq_i += scale * sum_j p_ij (dout_i . v_j - delta_i) k_j */
__global__ void k_attn_dq(AttnK a, CuF dq, CuF dout, CuF q, CuF k, CuF v, const float *lse, const float *delta,
                          const int32_t *qseg, const int32_t *kseg) {
    int64_t item = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (item >= a.B * a.Hq * a.Tq) return;
    int64_t i = item % a.Tq, h = (item / a.Tq) % a.Hq, b = item / (a.Tq * a.Hq);
    int64_t hk = h / (a.Hq / a.Hkv);
    int qs = q_segment(qseg, a, b, i);
    if (qs < 0) return;
    float qr[MAXD_PER_LANE], dor[MAXD_PER_LANE], acc[MAXD_PER_LANE];
    int64_t qo = q_off(a, b, i, h);
    load_row(qr, q, qo, a.D, lane);
    load_row(dor, dout, qo, a.D, lane);
#pragma unroll
    for (int u = 0; u < MAXD_PER_LANE; u++) acc[u] = 0.f;
    float L = lse[item], dl = delta[item];
    int64_t jend = a.causal ? i + 1 : a.Tk;
    for (int64_t j = 0; j < jend; j++) {
        if (k_segment(kseg, a, b, j) != qs) continue;
        int64_t ko = k_off(a, b, j, hk);
        float p = expf(a.scale * dot_row(qr, k, ko, a.D, lane) - L);
        float ds = p * (dot_row(dor, v, ko, a.D, lane) - dl);
#pragma unroll
        for (int u = 0; u < MAXD_PER_LANE; u++) {
            int64_t d = lane + 32 * u;
            if (d < a.D) acc[u] += ds * ldf(k, ko + d);
        }
    }
#pragma unroll
    for (int u = 0; u < MAXD_PER_LANE; u++) {
        int64_t d = lane + 32 * u;
        if (d < a.D) accf(dq, qo + d, a.scale * acc[u]);
    }
}

/* per key j of kv head hk: dv_j += sum p_ij dout_i; dk_j += scale sum ds_ij q_i,
 * over the queries i of every query head sharing hk, in (head, i) order */
__global__ void k_attn_dkv(AttnK a, CuF dk, CuF dv, CuF dout, CuF q, CuF k, CuF v, const float *lse,
                           const float *delta, const int32_t *qseg, const int32_t *kseg) {
    int64_t item = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (item >= a.B * a.Tk * a.Hkv) return;
    int64_t hk = item % a.Hkv, j = (item / a.Hkv) % a.Tk, b = item / (a.Hkv * a.Tk);
    int ks = k_segment(kseg, a, b, j);
    if (ks < 0) return;  /* no query may attend a padded key */
    int64_t ko = k_off(a, b, j, hk);
    float kr[MAXD_PER_LANE], vr[MAXD_PER_LANE], gk[MAXD_PER_LANE], gv[MAXD_PER_LANE];
    load_row(kr, k, ko, a.D, lane);
    load_row(vr, v, ko, a.D, lane);
#pragma unroll
    for (int u = 0; u < MAXD_PER_LANE; u++) gk[u] = gv[u] = 0.f;
    int64_t G = a.Hq / a.Hkv;
    for (int64_t h = hk * G; h < (hk + 1) * G; h++) {
        for (int64_t i = a.causal ? j : 0; i < a.Tq; i++) {
            if (q_segment(qseg, a, b, i) != ks) continue;
            int64_t qo = q_off(a, b, i, h), li = (b * a.Hq + h) * a.Tq + i;
            float p = expf(a.scale * dot_row(kr, q, qo, a.D, lane) - lse[li]);
            float ds = p * (dot_row(vr, dout, qo, a.D, lane) - delta[li]);
#pragma unroll
            for (int u = 0; u < MAXD_PER_LANE; u++) {
                int64_t d = lane + 32 * u;
                if (d < a.D) {
                    gv[u] += p * ldf(dout, qo + d);
                    gk[u] += ds * ldf(q, qo + d);
                }
            }
        }
    }
#pragma unroll
    for (int u = 0; u < MAXD_PER_LANE; u++) {
        int64_t d = lane + 32 * u;
        if (d < a.D) {
            if (dk.p) accf(dk, ko + d, a.scale * gk[u]);
            if (dv.p) accf(dv, ko + d, gv[u]);
        }
    }
}

static AttnK attn_check(const char *op, const AttnDesc *d, const Tensor *q, const Tensor *k, const Tensor *v,
                        const Tensor *qseg, const Tensor *kseg) {
    if (!d) VLMC_PANIC("%s: NULL AttnDesc", op);
    if (d->Hkv <= 0 || d->Hq % d->Hkv) VLMC_PANIC("%s: Hq %lld is not a multiple of Hkv %lld", op, (long long)d->Hq, (long long)d->Hkv);
    if (d->D <= 0 || d->D > 32 * MAXD_PER_LANE) VLMC_PANIC("%s: head dim %lld outside (0, %d]", op, (long long)d->D, 32 * MAXD_PER_LANE);
    if (d->causal && d->Tq != d->Tk) VLMC_PANIC("%s: causal attention needs Tq == Tk (%lld, %lld)", op, (long long)d->Tq, (long long)d->Tk);
    be_check_numel(op, q, d->B * d->Tq * d->Hq * d->D, "q (B, Tq, Hq, D)");
    be_check_numel(op, k, d->B * d->Tk * d->Hkv * d->D, "k (B, Tk, Hkv, D)");
    be_check_numel(op, v, d->B * d->Tk * d->Hkv * d->D, "v (B, Tk, Hkv, D)");
    if (qseg) be_check_numel(op, qseg, d->B * d->Tq, "q_seg (B, Tq)");
    if (kseg) be_check_numel(op, kseg, d->B * d->Tk, "k_seg (B, Tk)");
    AttnK a;
    a.B = d->B;
    a.Tq = d->Tq;
    a.Tk = d->Tk;
    a.Hq = d->Hq;
    a.Hkv = d->Hkv;
    a.D = d->D;
    a.causal = d->causal;
    a.scale = d->scale;
    return a;
}

static unsigned warp_blocks(int64_t items) { return (unsigned)((items + WARPS - 1) / WARPS); }

extern "C" void cuda_attention(Backend *be, const AttnDesc *d, Tensor *out, Tensor *lse, const Tensor *q,
                               const Tensor *k, const Tensor *v, const Tensor *q_seg, const Tensor *k_seg) {
    AttnK a = attn_check("attention", d, q, k, v, q_seg, k_seg);
    be_check_numel("attention", out, q->numel, "out");
    if (lse) be_check_numel("attention", lse, a.B * a.Hq * a.Tq, "lse (B, Hq, Tq)");
    int64_t items = a.B * a.Hq * a.Tq;
    if (items == 0) return;
    CuF none = {NULL, 0};
    k_attn_fwd<<<warp_blocks(items), WARPS * 32, 0, cuda_ctx(be)->compute>>>(
        a, cuf(out, "attention", "out"), cuf(lse, "attention", "lse"), NULL, cuf(q, "attention", "q"),
        cuf(k, "attention", "k"), cuf(v, "attention", "v"), cui(q_seg, "attention", "q_seg"),
        cui(k_seg, "attention", "k_seg"), 1, none, NULL);
    (void)CU_LAUNCHED(be, "k_attn_fwd");
}

extern "C" void cuda_attention_backward(Backend *be, const AttnDesc *d, Tensor *dq, Tensor *dk, Tensor *dv,
                                        const Tensor *dout, const Tensor *out, const Tensor *lse, const Tensor *q,
                                        const Tensor *k, const Tensor *v, const Tensor *q_seg, const Tensor *k_seg) {
    const char *op = "attention_backward";
    AttnK a = attn_check(op, d, q, k, v, q_seg, k_seg);
    be_check_numel(op, dout, q->numel, "dout");
    be_check_numel(op, out, q->numel, "out");
    be_check_numel(op, lse, a.B * a.Hq * a.Tq, "lse (B, Hq, Tq)");
    if (dq) be_check_numel(op, dq, q->numel, "dq");
    if (dk) be_check_numel(op, dk, k->numel, "dk");
    if (dv) be_check_numel(op, dv, v->numel, "dv");
    int64_t items = a.B * a.Hq * a.Tq;
    if (items == 0 || (!dq && !dk && !dv)) return;
    cudaStream_t s = cuda_ctx(be)->compute;
    float *tmp = (float *)cuda_temp(be, CUDA_TEMP_ATTN, (size_t)(2 * items) * sizeof(float));
    if (!tmp) return;
    float *delta = tmp, *lse_f = tmp + items;
    CuF fq = cuf(q, op, "q"), fk = cuf(k, op, "k"), fv = cuf(v, op, "v"), fdout = cuf(dout, op, "dout");
    const int32_t *qs = cui(q_seg, op, "q_seg"), *ks = cui(k_seg, op, "k_seg");
    const float *L;
    if (lse->dt == DT_F32 && out->dt == DT_F32) {
        /* the forward's own statistics are exact */
        L = (const float *)lse->data;
        k_attn_delta<<<warp_blocks(items), WARPS * 32, 0, s>>>(a, delta, fdout, cuf(out, op, "out"));
        if (CU_LAUNCHED(be, "k_attn_delta")) return;
    } else {
        /* stored in bf16: recompute lse and delta = dout . out in f32 (exp(s - lse) and
         * dp - delta would amplify the rounding) */
        CuF none = {NULL, 0};
        k_attn_fwd<<<warp_blocks(items), WARPS * 32, 0, s>>>(a, none, none, lse_f, fq, fk, fv, qs, ks, 0, fdout, delta);
        if (CU_LAUNCHED(be, "k_attn_fwd (statistics)")) return;
        L = lse_f;
    }
    if (dq) {
        k_attn_dq<<<warp_blocks(items), WARPS * 32, 0, s>>>(a, cuf(dq, op, "dq"), fdout, fq, fk, fv, L, delta, qs, ks);
        if (CU_LAUNCHED(be, "k_attn_dq")) return;
    }
    if (dk || dv) {
        int64_t kitems = a.B * a.Tk * a.Hkv;
        if (kitems == 0) return;
        k_attn_dkv<<<warp_blocks(kitems), WARPS * 32, 0, s>>>(a, cuf(dk, op, "dk"), cuf(dv, op, "dv"), fdout, fq, fk, fv,
                                                             L, delta, qs, ks);
        (void)CU_LAUNCHED(be, "k_attn_dkv");
    }
}
