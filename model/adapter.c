/* model/adapter.c — prompt-based adapters from image features to LLM embeddings.
 *   linear:            y = x W1^T + b1
 *   mlp:               y = gelu_erf(x W1^T + b1) W2^T + b2   (LLaVA-1.5 mlp2x_gelu)
 *   pixel_shuffle_mlp: y = pixel_shuffle_r(x) W1^T           (Idefics3: the
 *                      connector's modality_projection has no bias)
 * x: (n_img * rows, Dv) -> y: (n_img * tokens_per_image, C).
 */
#include "model/vlm_internal.h"

void adapter_forward(Vlm *m, VlmActs *A) {
    const AdapterConfig *a = &m->cfg.adapter;
    int64_t Dv = m->cfg.vis.hidden, C = m->cfg.llm.hidden, n = A->n_img;
    int64_t rows = t_dim(A->feat, 0);
    A->ad_in = A->feat;
    int64_t in = Dv;
    if (a->kind == ADAPT_PIXEL_SHUFFLE_MLP) {
        int r = a->shuffle;
        int64_t per = rows / n;
        in = Dv * r * r;
        rows = rows / (r * r);
        A->ad_in = ly_new(m, DT_F32, 3, (int64_t[]){n, per / (r * r), in});
        op_pixel_shuffle(m->be, A->ad_in, ly_view(m, A->feat, 3, (int64_t[]){n, per, Dv}), r);
        A->ad_in = ly_view(m, A->ad_in, 2, (int64_t[]){rows, in});
    }
    A->ad_out = ly_new2(m, rows, C);
    if (a->kind != ADAPT_MLP) {
        linear_forward(m, A->ad_out, A->ad_in, m->ad.w1, m->ad.b1, rows, in, C);
        return;
    }
    A->ad_h1 = ly_new2(m, rows, C);
    A->ad_a = ly_new2(m, rows, C);
    linear_forward(m, A->ad_h1, A->ad_in, m->ad.w1, m->ad.b1, rows, in, C);
    op_act(m->be, A->ad_a, A->ad_h1, ACT_GELU_ERF);
    linear_forward(m, A->ad_out, A->ad_a, m->ad.w2, m->ad.b2, rows, C, C);
}

Tensor *adapter_backward(Vlm *m, VlmActs *A, Tensor *dout) {
    const AdapterConfig *a = &m->cfg.adapter;
    int64_t Dv = m->cfg.vis.hidden, C = m->cfg.llm.hidden, n = A->n_img;
    int64_t rows = t_dim(A->ad_out, 0), in = t_dim(A->ad_in, 1);
    int need_dx = A->vis_bwd;
    Tensor *d1 = dout;
    if (a->kind == ADAPT_MLP) {
        Tensor *da = ly_new2(m, rows, C);
        linear_backward(m, da, 0.0f, dout, A->ad_a, m->ad.w2, m->ad.b2, rows, C, C);
        d1 = ly_zeros2(m, rows, C);
        op_act_backward(m->be, d1, da, A->ad_h1, ACT_GELU_ERF);
    }
    Tensor *din = need_dx ? ly_new2(m, rows, in) : NULL;
    linear_backward(m, din, 0.0f, d1, A->ad_in, m->ad.w1, m->ad.b1, rows, in, C);
    if (!need_dx) return NULL;
    if (a->kind != ADAPT_PIXEL_SHUFFLE_MLP) return din;
    int r = a->shuffle;
    int64_t frows = t_dim(A->feat, 0), per = frows / n;
    Tensor *dfeat = ly_zeros2(m, frows, Dv);
    op_pixel_shuffle_backward(m->be, ly_view(m, dfeat, 3, (int64_t[]){n, per, Dv}),
                              ly_view(m, din, 3, (int64_t[]){n, per / (r * r), in}), r);
    return dfeat;
}
