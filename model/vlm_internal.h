/* model/vlm_internal.h — private to model/: saved activations of one step and
 * the small layer helpers (linear forward/backward, views) shared by the
 * encoder, adapter and LLM files.
 *
 * Activation tensors are carved from BUF_ACTS. An allocation that does not fit
 * is a fatal sizing error (vlm_ensure_acts reserves the bound vlm_acts_bytes
 * computes: trainer at stage start, generator at open), so
 * the helpers panic with the requested size rather than return NULL into ops.
 */
#ifndef VLMC_MODEL_VLM_INTERNAL_H
#define VLMC_MODEL_VLM_INTERNAL_H

#include "model/vlm.h"

typedef struct VitActs {
    Tensor *x;           /* (N, D) residual stream entering the block (sum) */
    Tensor *ln1, *mean1, *rstd1, *q, *k, *v, *att, *lse, *xmid, *ln2, *mean2, *rstd2, *f1, *h;
    Tensor *inp, *resid; /* what the block's first norm received (resid may be NULL) */
} VitActs;

typedef struct LlmActs {
    Tensor *x;           /* (N, C) residual stream entering the block */
    Tensor *inp, *resid;
    Tensor *ln1, *rstd1, *q, *k, *v, *att, *lse, *xmid, *ln2, *rstd2, *gate, *up, *h;
} LlmActs;

typedef struct VlmActs {
    size_t mark;              /* BUF_ACTS mark at step start */
    int have;                 /* a forward with backward=1 is pending */
    int64_t N, B, T;
    /* inputs on device */
    Tensor *tokens, *gtokens, *targets, *pos, *doc, *weight, *img_rows;
    /* vision */
    int vis_bwd, ad_bwd, llm_bwd;
    int llm_stop;             /* lowest LLM block that runs backward */
    int64_t n_img;
    Tensor *pixels, *patches, *emb_parts[2], *cls_rep, *zero_idx, *pos_idx, *emb, *emb_ln, *pre_mean, *pre_rstd;
    Tensor *vx_last_inp, *vx_last_resid, *vx_final, *post_mean, *post_rstd, *feat, *sel_idx;
    VitActs *vit;
    /* adapter */
    Tensor *ad_in, *ad_h1, *ad_a, *ad_out;
    /* llm */
    Tensor *x0;               /* (N, C) embeddings with images spliced */
    LlmActs *llm;
    Tensor *last_inp, *last_resid, *xf, *rstdf, *hf, *hf_grad;
    int vit_layers, llm_layers;
    int32_t *host_idx;        /* host scratch for index tables, grown once, reused each step */
    size_t host_idx_cap;
    float *host_feat;         /* host staging for cached features (n_img x rows x D), grown rarely */
    size_t host_feat_cap;
} VlmActs;

/* Host int scratch of at least n entries (kept across steps: no per-step malloc). */
int32_t *vlm_host_idx(VlmActs *A, int64_t n);

void vlm_acts_free(Vlm *m);

/* Activation allocation (BUF_ACTS); panics when the class is full. */
Tensor *ly_new(Vlm *m, DType dt, int ndim, const int64_t *shape);
/* f32 on every backend (cuda stores other float activations as bf16): norm
 * statistics, attention lse, per-token log-probs and loss weights, whose
 * rounding backward or the loss would amplify. */
Tensor *ly_stat(Vlm *m, int ndim, const int64_t *shape);
Tensor *ly_new2(Vlm *m, int64_t r, int64_t c);
Tensor *ly_zeros2(Vlm *m, int64_t r, int64_t c);
Tensor *ly_view(Vlm *m, Tensor *t, int ndim, const int64_t *shape);
/* Parameter / gradient of entry idx (NULL when idx < 0, or frozen / unused for G). */
Tensor *ly_w(Vlm *m, int idx);
Tensor *ly_g(Vlm *m, int idx);

/* out (N, OC) = x (N, IC) @ W^T (W: (OC, IC)) + b */
void linear_forward(Vlm *m, Tensor *out, const Tensor *x, int w, int b, int64_t N, int64_t IC, int64_t OC);
/* dx (N, IC) = beta*dx + dout @ W (dx may be NULL); dW += dout^T x; db += colsum(dout)
   (skipped when frozen) */
void linear_backward(Vlm *m, Tensor *dx, float beta, const Tensor *dout, const Tensor *x, int w, int b,
                     int64_t N, int64_t IC, int64_t OC);

/* Feature cache (feat_cache.c). */
VlmFeatCache *fc_new(size_t cap_bytes);
void fc_free(VlmFeatCache *c);
void fc_clear(VlmFeatCache *c);
void fc_key(const float *px, int64_t n, uint64_t *k1, uint64_t *k2);
const float *fc_find(VlmFeatCache *c, int64_t row_floats, uint64_t k1, uint64_t k2);
void fc_insert(VlmFeatCache *c, int64_t row_floats, uint64_t k1, uint64_t k2, const float *rows);
void fc_stats(const VlmFeatCache *c, VlmFeatCacheStats *s);

/* Encoder output rows per image (patches, plus the class token when kept). */
int64_t vit_feat_rows(const VisionConfig *v);
/* Vision encoder: pixels -> features (n_img * rows_per_image, D) in A->feat. */
void vit_forward(Vlm *m, VlmActs *A, int keep);
/* dfeat -> weight gradients of the encoder. */
void vit_backward(Vlm *m, VlmActs *A, Tensor *dfeat);
/* Adapter: A->feat -> A->ad_out (n_img * tokens_per_image, C). */
void adapter_forward(Vlm *m, VlmActs *A);
/* dout -> adapter weight grads; returns dfeat (or NULL when the encoder does not train). */
Tensor *adapter_backward(Vlm *m, VlmActs *A, Tensor *dout);
/* LLM blocks: A->x0 -> A->xf/hf (final normed). keep: save for backward. */
void llm_forward(Vlm *m, VlmActs *A, int keep);
/* dh: (N, C) gradient of the final-normed hidden states; returns dx0 (N, C). */
Tensor *llm_backward(Vlm *m, VlmActs *A, Tensor *dh);

#endif
