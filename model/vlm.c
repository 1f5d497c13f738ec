/* model/vlm.c — one step of a VLM: embeddings, image splice, LLM, loss, and
 * the backward in reverse, deciding which parts run backward (see vlm.h). */
#include <stdlib.h>
#include <string.h>

#include "model/vlm_internal.h"

int32_t *vlm_host_idx(VlmActs *A, int64_t n) {
    if ((size_t)n > A->host_idx_cap) {
        free(A->host_idx);
        A->host_idx_cap = (size_t)n;
        A->host_idx = malloc(A->host_idx_cap * sizeof(int32_t));
        VLMC_ASSERT(A->host_idx, "out of memory");
    }
    return A->host_idx;
}

void vlm_acts_free(Vlm *m) {
    if (!m->acts) return;
    free(m->acts->host_idx);
    free(m->acts->host_feat);
    free(m->acts->vit);
    free(m->acts->llm);
    free(m->acts);
    m->acts = NULL;
}

void vlm_end_step(Vlm *m) {
    if (m->acts && m->acts->have) {
        be_reset(m->be, BUF_ACTS, m->acts->mark);
        m->acts->have = 0;
    }
}

/* ---- frozen-encoder feature cache (vlm.h) ---------------------------------- */
void vlm_feature_cache(Vlm *m, size_t bytes) {
    fc_free(m->feat_cache);
    m->feat_cache = bytes ? fc_new(bytes) : NULL;
}

void vlm_feature_cache_clear(Vlm *m) { fc_clear(m->feat_cache); }

void vlm_feature_cache_stats(const Vlm *m, VlmFeatCacheStats *s) { fc_stats(m->feat_cache, s); }

static float *host_feat(VlmActs *A, size_t n) {
    if (n > A->host_feat_cap) {
        free(A->host_feat);
        A->host_feat = malloc(n * sizeof(float));
        VLMC_ASSERT(A->host_feat, "out of memory");
        A->host_feat_cap = n;
    }
    return A->host_feat;
}

/* One image through the frozen encoder on its own (rows 0..R-1 of a batch of
 * one), its features to out (R x D floats). Alone, an image's features are
 * the same bits whenever they are computed; inside a batch they are not
 * (the GEMM kernels sum a row's products in an order that depends on the
 * row's place in its block), so the cache only ever holds, and the cached
 * path only ever uses, features computed this way. */
static void feat_one(Vlm *m, VlmActs *A, const VlmBatch *b, int64_t i, float *out) {
    const VisionConfig *v = &m->cfg.vis;
    int64_t px = 3LL * v->image_size * v->image_size;
    size_t mk = be_mark(m->be, BUF_ACTS);
    A->n_img = 1;
    A->pixels = ly_new(m, DT_F32, 4, (int64_t[]){1, 3, v->image_size, v->image_size});
    be_upload(m->be, A->pixels, b->pixels + i * px);
    vit_forward(m, A, 0);
    be_download(m->be, A->feat, out);
    be_reset(m->be, BUF_ACTS, mk);
    A->pixels = NULL;
    A->feat = NULL;
}

/* With the cache on and the encoder frozen, A->feat comes from here: every
 * image is looked up by its pixels' key, a miss is computed alone (feat_one)
 * and kept while there is room; returns 1. Returns 0 (the caller runs the
 * encoder on the batch) when the cache is off or the encoder trains, which
 * also empties the cache. */
static int feat_cached(Vlm *m, VlmActs *A, const VlmBatch *b, int enc_tr) {
    VlmFeatCache *c = m->feat_cache;
    if (!c) return 0;
    if (enc_tr) { fc_clear(c); return 0; }
    const VisionConfig *v = &m->cfg.vis;
    int64_t n = b->n_images, px = 3LL * v->image_size * v->image_size, R = vit_feat_rows(v), rf = R * v->hidden;
    float *h = host_feat(A, (size_t)(n * rf));
    for (int64_t i = 0; i < n; i++) {
        uint64_t k1, k2;
        fc_key(b->pixels + i * px, px, &k1, &k2);
        const float *f = fc_find(c, rf, k1, k2);
        if (f) {
            memcpy(h + i * rf, f, (size_t)rf * sizeof(float));
        } else {
            feat_one(m, A, b, i, h + i * rf);
            fc_insert(c, rf, k1, k2, h + i * rf);
        }
    }
    A->n_img = n;
    A->feat = ly_new2(m, n * R, v->hidden);
    be_upload(m->be, A->feat, h);
    return 1;
}

static int llm_layer_trainable(const Vlm *m, int l) {
    const LlmLayerIdx *L = &m->llm.L[l];
    const int idx[] = {L->ln1, L->q_w, L->q_b, L->k_w, L->k_b, L->v_w, L->v_b, L->o_w, L->ln2, L->gate, L->up, L->down};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i] >= 0 && m->pt.p[idx[i]].trainable) return 1;
    return 0;
}

static Tensor *upload_i32(Vlm *m, const int32_t *h, int64_t n) {
    Tensor *t = ly_new(m, DT_I32, 1, &n);
    be_upload(m->be, t, h);
    return t;
}

static int check_batch(const Vlm *m, const VlmBatch *b, VStatus *st) {
    int64_t N = b->B * b->T, V = m->cfg.llm.vocab;
    if (b->B <= 0 || b->T <= 0) return vs_set(st, VS_EINVAL, "batch: B=%lld T=%lld", (long long)b->B, (long long)b->T);
    if (m->cfg.llm.sliding_window > 0 && b->T > m->cfg.llm.sliding_window)
        return vs_set(st, VS_EUNSUP, "batch: rows of %lld tokens exceed the sliding window %d (only full attention is implemented)",
                      (long long)b->T, m->cfg.llm.sliding_window);
    for (int64_t i = 0; i < N; i++) {
        int32_t t = b->tokens[i];
        if ((t < 0 || t >= V) && t != m->cfg.image_token_id)
            return vs_set(st, VS_EINVAL, "batch: token %d at row %lld outside the vocabulary (%lld)", t, (long long)i, (long long)V);
        if (b->targets && (b->targets[i] < -1 || b->targets[i] >= V))
            return vs_set(st, VS_EINVAL, "batch: target %d at row %lld outside the vocabulary", b->targets[i], (long long)i);
    }
    if (b->n_images > 0) {
        if (!m->cfg.has_vision) return vs_set(st, VS_EINVAL, "batch has %lld images but the model is text-only", (long long)b->n_images);
        int64_t k = b->n_images * mcfg_tokens_per_image(&m->cfg);
        for (int64_t i = 0; i < k; i++)
            if (b->img_rows[i] < 0 || b->img_rows[i] >= N)
                return vs_set(st, VS_EINVAL, "batch: image row %d out of range", b->img_rows[i]);
    }
    return 0;
}

static int forward_impl(Vlm *m, const VlmBatch *b, float loss_weight, int backward, double *loss, float *logits,
                        VStatus *st) {
    vlm_end_step(m);
    if (check_batch(m, b, st)) return st->code;
    if (!m->acts) {
        m->acts = calloc(1, sizeof *m->acts);
        VLMC_ASSERT(m->acts, "out of memory");
        m->acts->vit = calloc((size_t)(m->cfg.has_vision ? m->cfg.vis.layers : 0) + 1, sizeof(VitActs));
        m->acts->llm = calloc((size_t)m->cfg.llm.layers, sizeof(LlmActs));
        VLMC_ASSERT(m->acts->vit && m->acts->llm, "out of memory");
    }
    VlmActs *A = m->acts;
    Backend *be = m->be;
    const LlmConfig *c = &m->cfg.llm;
    A->mark = be_mark(be, BUF_ACTS);
    A->have = 1;
    A->B = b->B;
    A->T = b->T;
    A->N = b->B * b->T;
    A->n_img = b->n_images;
    int64_t N = A->N, C = c->hidden;
    int enc_tr = m->cfg.has_vision && pt_any_trainable(&m->pt, COMP_ENCODER);
    int ad_tr = m->cfg.has_vision && pt_any_trainable(&m->pt, COMP_ADAPTER);
    int llm_tr = pt_any_trainable(&m->pt, COMP_LLM);
    int imgs = b->n_images > 0;
    A->vis_bwd = backward && imgs && enc_tr;
    A->ad_bwd = backward && imgs && (ad_tr || enc_tr);
    A->llm_bwd = backward && (llm_tr || A->ad_bwd);
    /* blocks below the lowest trainable one need no backward (and keep nothing)
       unless a gradient must reach the embeddings or the images */
    A->llm_stop = 0;
    if (!A->ad_bwd && !(m->pt.p[m->llm.emb].trainable)) {
        A->llm_stop = c->layers;
        for (int l = c->layers - 1; l >= 0; l--)
            if (llm_layer_trainable(m, l)) A->llm_stop = l;
    }
    /* inputs; placeholder ids outside the vocabulary gather row 0 (overwritten below) */
    int32_t *g = vlm_host_idx(A, N);
    for (int64_t i = 0; i < N; i++) g[i] = b->tokens[i] >= 0 && b->tokens[i] < c->vocab ? b->tokens[i] : 0;
    A->gtokens = upload_i32(m, g, N);
    A->pos = upload_i32(m, b->pos, N);
    A->doc = b->doc ? upload_i32(m, b->doc, N) : NULL;
    A->targets = b->targets ? upload_i32(m, b->targets, N) : NULL;
    A->x0 = ly_new2(m, N, C);
    op_gather_rows(be, A->x0, ly_w(m, m->llm.emb), A->gtokens);
    if (imgs) {
        const VisionConfig *v = &m->cfg.vis;
        int64_t k = b->n_images * mcfg_tokens_per_image(&m->cfg);
        A->img_rows = upload_i32(m, b->img_rows, k);
        if (!feat_cached(m, A, b, enc_tr)) {
            A->pixels = ly_new(m, DT_F32, 4, (int64_t[]){b->n_images, 3, v->image_size, v->image_size});
            be_upload(be, A->pixels, b->pixels);
            vit_forward(m, A, A->vis_bwd);
        }
        adapter_forward(m, A);
        op_scatter_rows(be, A->x0, A->ad_out, A->img_rows);
    }
    llm_forward(m, A, A->llm_bwd);
    A->hf_grad = NULL;
    if (A->targets) {
        int64_t one = 1;
        Tensor *logp = ly_stat(m, 1, &N), *sum = ly_stat(m, 1, &one);
        Tensor *dh = NULL, *dw = NULL;
        A->weight = NULL;
        if (A->llm_bwd) {
            A->weight = ly_stat(m, 1, &N);
            op_fill(be, A->weight, loss_weight);
            dh = ly_zeros2(m, N, C);
            dw = ly_g(m, m->llm.head);
        }
        op_xent(be, logp, dh, dw, A->hf, ly_w(m, m->llm.head), A->targets, A->weight, m->xent_chunk);
        A->hf_grad = dh;
        op_segment_sum(be, sum, logp, NULL);
        float h = 0;
        be_download(be, sum, &h);
        if (loss) *loss = -(double)h * loss_weight;
    } else if (loss) {
        *loss = 0;
    }
    if (logits) {
        // hf: (N, C), head: (V, C) -> logits (N, V)
        Tensor *lg = ly_new2(m, N, c->vocab);
        MatmulDesc d = {.trans_b = 1, .m = N, .n = c->vocab, .k = C, .batch = 1, .alpha = 1.0f, .beta = 0.0f};
        op_matmul(be, &d, lg, A->hf, ly_w(m, m->llm.head), NULL);
        be_download(be, lg, logits);
    }
    if (be_sync(be, st)) { vlm_end_step(m); return vs_prefix(st, "forward"); }
    if (!backward) vlm_end_step(m);
    return 0;
}

int vlm_forward(Vlm *m, const VlmBatch *b, float loss_weight, int backward, double *loss, VStatus *st) {
    return forward_impl(m, b, loss_weight, backward, loss, NULL, st);
}

int vlm_backward(Vlm *m, VStatus *st) {
    VlmActs *A = m->acts;
    VLMC_ASSERT(A && A->have, "vlm_backward without a vlm_forward(backward=1)");
    if (!A->llm_bwd || !A->hf_grad) return 0;
    Backend *be = m->be;
    Tensor *dx0 = llm_backward(m, A, A->hf_grad);
    Tensor *dimg = NULL;
    if (A->ad_bwd) {
        dimg = ly_zeros2(m, t_dim(A->ad_out, 0), m->cfg.llm.hidden);
        /* the placeholder rows were overwritten: their gradient goes to the image
           embeddings only, never to the placeholder token's embedding row */
        op_scatter_rows_backward(be, dimg, dx0, A->img_rows);
    } else if (A->n_img > 0) {
        Tensor *sink = ly_zeros2(m, t_dim(A->ad_out, 0), m->cfg.llm.hidden);
        op_scatter_rows_backward(be, sink, dx0, A->img_rows);
    }
    Tensor *gemb = ly_g(m, m->llm.emb);
    if (gemb && A->llm_stop == 0) op_gather_rows_backward(be, gemb, dx0, A->gtokens, NULL);
    if (dimg) {
        Tensor *dfeat = adapter_backward(m, A, dimg);
        if (A->vis_bwd) vit_backward(m, A, dfeat);
    }
    /* after every contribution (tied head + embedding) has been summed */
    pt_apply_row_masks(&m->pt);
    if (be_sync(be, st)) return vs_prefix(st, "backward");
    return 0;
}

int vlm_logits(Vlm *m, const VlmBatch *b, float *logits, VStatus *st) {
    VlmBatch nb = *b;
    nb.targets = NULL;
    return forward_impl(m, &nb, 0.0f, 0, NULL, logits, st);
}
