/* model/vit.c — the ViT image encoder (CLIP and SigLIP families).
 *
 * pixels (n, 3, H, W) -> patches (n*P, 3*p*p) -> patch embedding (matmul with
 * the Conv2d weight viewed (D, 3*p*p), + bias for SigLIP) -> CLIP: a class
 * token is concatenated first -> + learned position embeddings -> CLIP:
 * pre_layrnorm -> pre-LN blocks (non-causal attention, fc1-act-fc2), only
 * up to the selected feature layer (HF hidden_states[k] semantics: index 0 is
 * the embeddings, k the output of block k; post_layernorm is not part of
 * hidden_states and is applied only when cfg.post_norm, as Idefics3 does) ->
 * rows selected (CLS dropped for LLaVA's "default" strategy).
 * Blocks use the same (inp, resid) fused-residual scheme as model/llm.c.
 */
#include <math.h>
#include <stdlib.h>

#include "model/vlm_internal.h"

static void block_forward(Vlm *m, VlmActs *A, int l, Tensor *inp, Tensor *resid, Tensor *xmid, Tensor *f2) {
    const VisionConfig *v = &m->cfg.vis;
    const VitLayerIdx *L = &m->vis.L[l];
    VitActs *S = &A->vit[l];
    Backend *be = m->be;
    int64_t S_ = mcfg_vision_seq(v), N = A->n_img * S_, D = v->hidden, I = v->intermediate, H = v->heads;
    int64_t hd = D / H, n1[1] = {N};
    S->inp = inp;
    S->resid = resid;
    S->x = resid ? ly_new2(m, N, D) : inp;
    S->ln1 = ly_new2(m, N, D);
    S->mean1 = ly_stat(m, 1, n1);
    S->rstd1 = ly_stat(m, 1, n1);
    op_layernorm(be, S->ln1, resid ? S->x : NULL, S->mean1, S->rstd1, inp, resid, ly_w(m, L->ln1_w), ly_w(m, L->ln1_b), v->ln_eps);
    S->q = ly_new2(m, N, D);
    S->k = ly_new2(m, N, D);
    S->v = ly_new2(m, N, D);
    linear_forward(m, S->q, S->ln1, L->q_w, L->q_b, N, D, D);
    linear_forward(m, S->k, S->ln1, L->k_w, L->k_b, N, D, D);
    linear_forward(m, S->v, S->ln1, L->v_w, L->v_b, N, D, D);
    AttnDesc ad = {.B = A->n_img, .Tq = S_, .Tk = S_, .Hq = H, .Hkv = H, .D = hd, .causal = 0,
                   .scale = (float)(1.0 / sqrt((double)hd))};
    int64_t s4[4] = {A->n_img, S_, H, hd};
    S->att = ly_new2(m, N, D);
    S->lse = ly_stat(m, 3, (int64_t[]){A->n_img, H, S_});
    op_attention(be, &ad, ly_view(m, S->att, 4, s4), S->lse, ly_view(m, S->q, 4, s4), ly_view(m, S->k, 4, s4),
                 ly_view(m, S->v, 4, s4), NULL, NULL);
    Tensor *o = ly_new2(m, N, D);
    linear_forward(m, o, S->att, L->o_w, L->o_b, N, D, D);
    S->xmid = xmid;
    S->ln2 = ly_new2(m, N, D);
    S->mean2 = ly_stat(m, 1, n1);
    S->rstd2 = ly_stat(m, 1, n1);
    op_layernorm(be, S->ln2, S->xmid, S->mean2, S->rstd2, o, S->x, ly_w(m, L->ln2_w), ly_w(m, L->ln2_b), v->ln_eps);
    S->f1 = ly_new2(m, N, I);
    S->h = ly_new2(m, N, I);
    linear_forward(m, S->f1, S->ln2, L->fc1_w, L->fc1_b, N, D, I);
    op_act(be, S->h, S->f1, v->act);
    linear_forward(m, f2, S->h, L->fc2_w, L->fc2_b, N, I, D);
}

static void block_backward(Vlm *m, VlmActs *A, int l, Tensor *dres) {
    const VisionConfig *v = &m->cfg.vis;
    const VitLayerIdx *L = &m->vis.L[l];
    VitActs *S = &A->vit[l];
    Backend *be = m->be;
    int64_t S_ = mcfg_vision_seq(v), N = A->n_img * S_, D = v->hidden, I = v->intermediate, H = v->heads, hd = D / H;
    Tensor *dh = ly_new2(m, N, I);
    linear_backward(m, dh, 0.0f, dres, S->h, L->fc2_w, L->fc2_b, N, I, D);
    Tensor *df1 = ly_zeros2(m, N, I);
    op_act_backward(be, df1, dh, S->f1, v->act);
    Tensor *dln2 = ly_new2(m, N, D);
    linear_backward(m, dln2, 0.0f, df1, S->ln2, L->fc1_w, L->fc1_b, N, D, I);
    op_layernorm_backward(be, dres, ly_g(m, L->ln2_w), ly_g(m, L->ln2_b), dln2, S->xmid, ly_w(m, L->ln2_w), S->mean2, S->rstd2);
    Tensor *datt = ly_new2(m, N, D);
    linear_backward(m, datt, 0.0f, dres, S->att, L->o_w, L->o_b, N, D, D);
    Tensor *dq = ly_zeros2(m, N, D), *dk = ly_zeros2(m, N, D), *dv = ly_zeros2(m, N, D);
    AttnDesc ad = {.B = A->n_img, .Tq = S_, .Tk = S_, .Hq = H, .Hkv = H, .D = hd, .causal = 0,
                   .scale = (float)(1.0 / sqrt((double)hd))};
    int64_t s4[4] = {A->n_img, S_, H, hd};
    op_attention_backward(be, &ad, ly_view(m, dq, 4, s4), ly_view(m, dk, 4, s4), ly_view(m, dv, 4, s4),
                          ly_view(m, datt, 4, s4), ly_view(m, S->att, 4, s4), S->lse, ly_view(m, S->q, 4, s4),
                          ly_view(m, S->k, 4, s4), ly_view(m, S->v, 4, s4), NULL, NULL);
    Tensor *dln1 = ly_new2(m, N, D);
    linear_backward(m, dln1, 0.0f, dq, S->ln1, L->q_w, L->q_b, N, D, D);
    linear_backward(m, dln1, 1.0f, dk, S->ln1, L->k_w, L->k_b, N, D, D);
    linear_backward(m, dln1, 1.0f, dv, S->ln1, L->v_w, L->v_b, N, D, D);
    op_layernorm_backward(be, dres, ly_g(m, L->ln1_w), ly_g(m, L->ln1_b), dln1, S->x, ly_w(m, L->ln1_w), S->mean1, S->rstd1);
}

/* Index tensors: pos_idx (n*S) = 0..S-1 per image; sel_idx = rows kept as features. */
static Tensor *upload_idx(Vlm *m, const int32_t *h, int64_t n) {
    Tensor *t = ly_new(m, DT_I32, 1, &n);
    be_upload(m->be, t, h);
    return t;
}

int64_t vit_feat_rows(const VisionConfig *v) {
    int64_t side = mcfg_patches_side(v);
    return v->kind == VIS_CLIP && !v->keep_cls ? side * side : mcfg_vision_seq(v);
}

void vit_forward(Vlm *m, VlmActs *A, int keep) {
    const VisionConfig *v = &m->cfg.vis;
    Backend *be = m->be;
    int64_t n = A->n_img, side = mcfg_patches_side(v), P = side * side, S_ = mcfg_vision_seq(v), D = v->hidden;
    int64_t N = n * S_, pp = 3LL * v->patch_size * v->patch_size;
    int clip = v->kind == VIS_CLIP;
    int64_t rows = clip && !v->keep_cls ? n * P : N;
    /* host index tables (ints only) */
    int32_t *hi = vlm_host_idx(A, N);
    for (int64_t i = 0; i < N; i++) hi[i] = (int32_t)(i % S_);
    A->pos_idx = upload_idx(m, hi, N);
    A->sel_idx = NULL;
    if (rows != N) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < P; j++) hi[i * P + j] = (int32_t)(i * S_ + 1 + j);
        A->sel_idx = upload_idx(m, hi, rows);
    }
    if (clip) {
        for (int64_t i = 0; i < n; i++) hi[i] = 0;
        A->zero_idx = upload_idx(m, hi, n);
    }
    A->feat = ly_new2(m, rows, D);
    size_t mk = be_mark(be, BUF_ACTS);
    /* embeddings */
    A->patches = ly_new2(m, n * P, pp);
    op_patch_unfold(be, A->patches, A->pixels, v->patch_size);
    Tensor *pe = ly_new2(m, n * P, D);
    linear_forward(m, pe, A->patches, m->vis.patch_w, m->vis.patch_b, n * P, pp, D);
    A->emb = ly_new2(m, N, D);
    if (clip) {
        A->cls_rep = ly_new2(m, n, D);
        op_gather_rows(be, A->cls_rep, m->vis.cls_w2, A->zero_idx);
        A->emb_parts[0] = ly_view(m, A->cls_rep, 3, (int64_t[]){n, 1, D});
        A->emb_parts[1] = ly_view(m, pe, 3, (int64_t[]){n, P, D});
        op_concat(be, ly_view(m, A->emb, 3, (int64_t[]){n, S_, D}), (const Tensor *const *)A->emb_parts, 2, 1);
    } else {
        op_copy(be, A->emb, pe);
    }
    A->emb_parts[1] = pe;
    Tensor *posr = ly_new2(m, N, D);
    op_gather_rows(be, posr, ly_w(m, m->vis.pos), A->pos_idx);
    op_add(be, A->emb, A->emb, posr, 1.0f, 1.0f);
    Tensor *x = A->emb;
    if (clip) {
        A->emb_ln = ly_new2(m, N, D);
        A->pre_mean = ly_stat(m, 1, &N);
        A->pre_rstd = ly_stat(m, 1, &N);
        op_layernorm(be, A->emb_ln, NULL, A->pre_mean, A->pre_rstd, A->emb, NULL, ly_w(m, m->vis.pre_w),
                     ly_w(m, m->vis.pre_b), v->ln_eps);
        x = A->emb_ln;
    }
    int run = mcfg_vision_layers_run(v);
    Tensor *inp = x, *resid = NULL;
    for (int l = 0; l < run; l++) {
        Tensor *xmid = ly_new2(m, N, D), *f2 = ly_new2(m, N, D);
        size_t mk2 = be_mark(be, BUF_ACTS);
        block_forward(m, A, l, inp, resid, xmid, f2);
        if (!keep || m->recompute) be_reset(be, BUF_ACTS, mk2);
        A->vit[l].inp = inp;
        A->vit[l].resid = resid;
        inp = f2;
        resid = xmid;
    }
    A->vx_last_inp = inp;
    A->vx_last_resid = resid;
    /* the selected hidden state: inp + resid, post_layernorm'd when configured */
    A->vx_final = resid ? ly_new2(m, N, D) : inp;
    Tensor *full = A->vx_final;
    if (v->post_norm) {
        full = ly_new2(m, N, D);
        A->post_mean = ly_stat(m, 1, &N);
        A->post_rstd = ly_stat(m, 1, &N);
        op_layernorm(be, full, resid ? A->vx_final : NULL, A->post_mean, A->post_rstd, inp, resid,
                     ly_w(m, m->vis.post_w), ly_w(m, m->vis.post_b), v->ln_eps);
    } else if (resid) {
        op_add(be, A->vx_final, inp, resid, 1.0f, 1.0f);
    }
    if (A->sel_idx) op_gather_rows(be, A->feat, full, A->sel_idx);
    else op_copy(be, A->feat, full);
    if (!keep) be_reset(be, BUF_ACTS, mk);
}

void vit_backward(Vlm *m, VlmActs *A, Tensor *dfeat) {
    const VisionConfig *v = &m->cfg.vis;
    Backend *be = m->be;
    int64_t n = A->n_img, side = mcfg_patches_side(v), P = side * side, S_ = mcfg_vision_seq(v), D = v->hidden;
    int64_t N = n * S_, pp = 3LL * v->patch_size * v->patch_size;
    int clip = v->kind == VIS_CLIP;
    Tensor *dfull = ly_zeros2(m, N, D);
    if (A->sel_idx) op_gather_rows_backward(be, dfull, dfeat, A->sel_idx, NULL);
    else op_add(be, dfull, dfull, dfeat, 1.0f, 1.0f);
    Tensor *dres = dfull;
    if (v->post_norm) {
        dres = ly_zeros2(m, N, D);
        op_layernorm_backward(be, dres, ly_g(m, m->vis.post_w), ly_g(m, m->vis.post_b), dfull, A->vx_final,
                              ly_w(m, m->vis.post_w), A->post_mean, A->post_rstd);
    }
    for (int l = mcfg_vision_layers_run(v) - 1; l >= 0; l--) {
        size_t mk = be_mark(be, BUF_ACTS);
        if (m->recompute) {
            Tensor *xmid = ly_new2(m, N, D), *f2 = ly_new2(m, N, D);
            block_forward(m, A, l, A->vit[l].inp, A->vit[l].resid, xmid, f2);
        }
        block_backward(m, A, l, dres);
        be_reset(be, BUF_ACTS, mk);
    }
    /* dres = d/d(x_0); x_0 = pre_layrnorm(emb) for CLIP, emb for SigLIP */
    Tensor *demb = dres;
    if (clip) {
        demb = ly_zeros2(m, N, D);
        op_layernorm_backward(be, demb, ly_g(m, m->vis.pre_w), ly_g(m, m->vis.pre_b), dres, A->emb,
                              ly_w(m, m->vis.pre_w), A->pre_mean, A->pre_rstd);
    }
    if (ly_g(m, m->vis.pos)) op_gather_rows_backward(be, ly_g(m, m->vis.pos), demb, A->pos_idx, NULL);
    Tensor *dpe = demb;
    if (clip) {
        Tensor *dcls = ly_zeros2(m, n, D);
        dpe = ly_zeros2(m, n * P, D);
        Tensor *parts[2] = {ly_view(m, dcls, 3, (int64_t[]){n, 1, D}), ly_view(m, dpe, 3, (int64_t[]){n, P, D})};
        op_concat_backward(be, parts, 2, ly_view(m, demb, 3, (int64_t[]){n, S_, D}), 1);
        if (m->vis.cls_g2) op_gather_rows_backward(be, m->vis.cls_g2, dcls, A->zero_idx, NULL);
    }
    linear_backward(m, NULL, 0.0f, dpe, A->patches, m->vis.patch_w, m->vis.patch_b, n * P, pp, D);
}
