/* model/llm.c — the Llama-family decoder: RMSNorm, RoPE, GQA attention,
 * SwiGLU MLP, optional q/k/v bias (Qwen2). Forward and backward per block.
 *
 * Residual stream: block l receives (inp, resid) and its first RMSNorm forms
 * x_l = inp + resid (fused; block 0 has resid = NULL, x_0 = embeddings):
 *   ln1 = rms(x_l); q,k,v = ln1 W^T (+b); rope(q, k); att = attn(q, k, v)
 *   xmid = x_l + att Wo^T        (fused into the second RMSNorm)
 *   ln2 = rms(xmid); down = (silu(ln2 Wg^T) * ln2 Wu^T) Wd^T
 *   the next block (or the final norm) receives (down, xmid).
 * Backward keeps one gradient buffer for the residual stream (dres): the
 * RMSNorm backward ACCUMULATES d/dsum into it, which is exactly the residual
 * branch meeting the normalised branch.
 */
#include <math.h>

#include "model/vlm_internal.h"

static void block_forward(Vlm *m, VlmActs *A, int l, Tensor *inp, Tensor *resid, Tensor *xmid, Tensor *down) {
    const LlmConfig *c = &m->cfg.llm;
    const LlmLayerIdx *L = &m->llm.L[l];
    LlmActs *S = &A->llm[l];
    Backend *be = m->be;
    int64_t N = A->N, C = c->hidden, F = c->intermediate, D = c->head_dim;
    int64_t HQ = (int64_t)c->heads * D, HK = (int64_t)c->kv_heads * D;
    int64_t n1[1] = {N};
    S->inp = inp;
    S->resid = resid;
    S->x = resid ? ly_new2(m, N, C) : inp;
    S->ln1 = ly_new2(m, N, C);
    S->rstd1 = ly_stat(m, 1, n1);
    op_rmsnorm(be, S->ln1, resid ? S->x : NULL, S->rstd1, inp, resid, ly_w(m, L->ln1), c->rms_eps);
    S->q = ly_new2(m, N, HQ);
    S->k = ly_new2(m, N, HK);
    S->v = ly_new2(m, N, HK);
    linear_forward(m, S->q, S->ln1, L->q_w, L->q_b, N, C, HQ);
    linear_forward(m, S->k, S->ln1, L->k_w, L->k_b, N, C, HK);
    linear_forward(m, S->v, S->ln1, L->v_w, L->v_b, N, C, HK);
    Tensor *q3 = ly_view(m, S->q, 3, (int64_t[]){N, c->heads, D});
    Tensor *k3 = ly_view(m, S->k, 3, (int64_t[]){N, c->kv_heads, D});
    op_rope(be, q3, q3, A->pos, &c->rope);   /* in place: backward needs only pos */
    op_rope(be, k3, k3, A->pos, &c->rope);
    AttnDesc ad = {.B = A->B, .Tq = A->T, .Tk = A->T, .Hq = c->heads, .Hkv = c->kv_heads, .D = D,
                   .causal = 1, .scale = (float)(1.0 / sqrt((double)D))};
    S->att = ly_new2(m, N, HQ);
    S->lse = ly_stat(m, 3, (int64_t[]){A->B, c->heads, A->T});
    op_attention(be, &ad, ly_view(m, S->att, 4, (int64_t[]){A->B, A->T, c->heads, D}), S->lse,
                 ly_view(m, S->q, 4, (int64_t[]){A->B, A->T, c->heads, D}),
                 ly_view(m, S->k, 4, (int64_t[]){A->B, A->T, c->kv_heads, D}),
                 ly_view(m, S->v, 4, (int64_t[]){A->B, A->T, c->kv_heads, D}), A->doc, A->doc);
    Tensor *o = ly_new2(m, N, C);
    linear_forward(m, o, S->att, L->o_w, -1, N, HQ, C);
    S->xmid = xmid;
    S->ln2 = ly_new2(m, N, C);
    S->rstd2 = ly_stat(m, 1, n1);
    op_rmsnorm(be, S->ln2, S->xmid, S->rstd2, o, S->x, ly_w(m, L->ln2), c->rms_eps);
    S->gate = ly_new2(m, N, F);
    S->up = ly_new2(m, N, F);
    S->h = ly_new2(m, N, F);
    linear_forward(m, S->gate, S->ln2, L->gate, -1, N, C, F);
    linear_forward(m, S->up, S->ln2, L->up, -1, N, C, F);
    op_swiglu(be, S->h, S->gate, S->up);
    linear_forward(m, down, S->h, L->down, -1, N, F, C);
}

// dres: (N, C) holds d/d(x_{l+1}) on entry and d/d(x_l) on return
static void block_backward(Vlm *m, VlmActs *A, int l, Tensor *dres) {
    const LlmConfig *c = &m->cfg.llm;
    const LlmLayerIdx *L = &m->llm.L[l];
    LlmActs *S = &A->llm[l];
    Backend *be = m->be;
    int64_t N = A->N, C = c->hidden, F = c->intermediate, D = c->head_dim;
    int64_t HQ = (int64_t)c->heads * D, HK = (int64_t)c->kv_heads * D;
    /* MLP: down = h Wd^T, dres is d/d(down) */
    Tensor *dh = ly_new2(m, N, F);
    linear_backward(m, dh, 0.0f, dres, S->h, L->down, -1, N, F, C);
    Tensor *dgate = ly_zeros2(m, N, F), *dup = ly_zeros2(m, N, F);
    op_swiglu_backward(be, dgate, dup, dh, S->gate, S->up);
    Tensor *dln2 = ly_new2(m, N, C);
    linear_backward(m, dln2, 0.0f, dgate, S->ln2, L->gate, -1, N, C, F);
    linear_backward(m, dln2, 1.0f, dup, S->ln2, L->up, -1, N, C, F);
    /* += : dres already carries the residual path into xmid */
    op_rmsnorm_backward(be, dres, ly_g(m, L->ln2), dln2, S->xmid, ly_w(m, L->ln2), S->rstd2);
    /* attention: xmid = x + att Wo^T, so d/d(att Wo^T) = dres */
    Tensor *datt = ly_new2(m, N, HQ);
    linear_backward(m, datt, 0.0f, dres, S->att, L->o_w, -1, N, HQ, C);
    Tensor *dq = ly_zeros2(m, N, HQ), *dk = ly_zeros2(m, N, HK), *dv = ly_zeros2(m, N, HK);
    AttnDesc ad = {.B = A->B, .Tq = A->T, .Tk = A->T, .Hq = c->heads, .Hkv = c->kv_heads, .D = D,
                   .causal = 1, .scale = (float)(1.0 / sqrt((double)D))};
    int64_t sq[4] = {A->B, A->T, c->heads, D}, sk[4] = {A->B, A->T, c->kv_heads, D};
    op_attention_backward(be, &ad, ly_view(m, dq, 4, sq), ly_view(m, dk, 4, sk), ly_view(m, dv, 4, sk),
                          ly_view(m, datt, 4, sq), ly_view(m, S->att, 4, sq), S->lse, ly_view(m, S->q, 4, sq),
                          ly_view(m, S->k, 4, sk), ly_view(m, S->v, 4, sk), A->doc, A->doc);
    Tensor *dq0 = ly_zeros2(m, N, HQ), *dk0 = ly_zeros2(m, N, HK);
    op_rope_backward(be, ly_view(m, dq0, 3, (int64_t[]){N, c->heads, D}), ly_view(m, dq, 3, (int64_t[]){N, c->heads, D}),
                     A->pos, &c->rope);
    op_rope_backward(be, ly_view(m, dk0, 3, (int64_t[]){N, c->kv_heads, D}), ly_view(m, dk, 3, (int64_t[]){N, c->kv_heads, D}),
                     A->pos, &c->rope);
    Tensor *dln1 = ly_new2(m, N, C);
    linear_backward(m, dln1, 0.0f, dq0, S->ln1, L->q_w, L->q_b, N, C, HQ);
    linear_backward(m, dln1, 1.0f, dk0, S->ln1, L->k_w, L->k_b, N, C, HK);
    linear_backward(m, dln1, 1.0f, dv, S->ln1, L->v_w, L->v_b, N, C, HK);
    op_rmsnorm_backward(be, dres, ly_g(m, L->ln1), dln1, S->x, ly_w(m, L->ln1), S->rstd1);
}

void llm_forward(Vlm *m, VlmActs *A, int keep) {
    const LlmConfig *c = &m->cfg.llm;
    int64_t N = A->N, C = c->hidden;
    Tensor *inp = A->x0, *resid = NULL;
    for (int l = 0; l < c->layers; l++) {
        Tensor *xmid = ly_new2(m, N, C), *down = ly_new2(m, N, C);
        /* without backward (or with recompute) a block keeps only its outputs */
        size_t mk = be_mark(m->be, BUF_ACTS);
        block_forward(m, A, l, inp, resid, xmid, down);
        if (!keep || m->recompute || l < A->llm_stop) be_reset(m->be, BUF_ACTS, mk);
        A->llm[l].inp = inp;
        A->llm[l].resid = resid;
        inp = down;
        resid = xmid;
    }
    A->last_inp = inp;
    A->last_resid = resid;
    A->xf = ly_new2(m, N, C);
    A->hf = ly_new2(m, N, C);
    A->rstdf = ly_stat(m, 1, (int64_t[]){N});
    op_rmsnorm(m->be, A->hf, A->xf, A->rstdf, inp, resid, ly_w(m, m->llm.norm), c->rms_eps);
}

Tensor *llm_backward(Vlm *m, VlmActs *A, Tensor *dh) {
    const LlmConfig *c = &m->cfg.llm;
    int64_t N = A->N, C = c->hidden;
    Tensor *dres = ly_zeros2(m, N, C);
    op_rmsnorm_backward(m->be, dres, ly_g(m, m->llm.norm), dh, A->xf, ly_w(m, m->llm.norm), A->rstdf);
    for (int l = c->layers - 1; l >= A->llm_stop; l--) {
        size_t mk = be_mark(m->be, BUF_ACTS);
        if (m->recompute) {
            /* recompute into scratch outputs: the saved xmid/down of this block are the
               next block's inputs and must not be rewritten */
            Tensor *xmid = ly_new2(m, N, C), *down = ly_new2(m, N, C);
            block_forward(m, A, l, A->llm[l].inp, A->llm[l].resid, xmid, down);
        }
        block_backward(m, A, l, dres);
        be_reset(m->be, BUF_ACTS, mk);
    }
    return dres;
}
