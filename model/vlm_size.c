/* model/vlm_size.c — an upper bound of the BUF_ACTS bytes one step takes, so
 * backends that need reservations (cuda) can be_reserve before the first step.
 * It mirrors the allocations of vlm.c / vit.c / adapter.c / llm.c: saved
 * activations of every block that keeps them, plus the largest per-block
 * backward scratch, plus one recomputed block when recomputing; each
 * allocation is counted with the arena's alignment (<= 256 bytes extra).
 * tests/model/test_init.c checks it against measured peaks. */
#include "model/vlm_internal.h"

#define AL 256.0

static double f(double n) { return n * 4.0 + AL; }   /* one f32 / i32 allocation */

size_t vlm_acts_bytes(const Vlm *m, int64_t B, int64_t T, int64_t n_images, int backward, int with_logits) {
    const VlmConfig *c = &m->cfg;
    const LlmConfig *l = &c->llm;
    double N = (double)B * T, C = l->hidden, F = l->intermediate, HQ = (double)l->heads * l->head_dim,
           HK = (double)l->kv_heads * l->head_dim;
    double total = 0;
    /* inputs, embeddings, loss */
    total += 6 * f(N) + f(N * C) + f(1) + f(N * C) + 2 * f(N * C) + f(N);
    if (with_logits) total += f(N * l->vocab);
    /* LLM blocks: kept activations (all blocks, the worst case), outputs, backward scratch */
    double block = 2 * f(N * C) /* x, ln1 */ + 2 * f(N) + 2 * f(N * HQ) /* q, att */ + 2 * f(N * HK) + f((double)B * l->heads * T) +
                   f(N * C) /* o */ + f(N * C) /* ln2 */ + 3 * f(N * F);
    double outs = 2 * f(N * C);
    double bscratch = 3 * f(N * F) + 2 * f(N * C) + 3 * f(N * HQ) + 3 * f(N * HK) + f(N * C);
    int keep_all = backward && !m->recompute;
    total += l->layers * (outs + (keep_all ? block : 0)) + block /* the live or recomputed block */ + (backward ? bscratch + f(N * C) : 0);
    if (c->has_vision && n_images > 0) {
        const VisionConfig *v = &c->vis;
        double S = mcfg_vision_seq(v), Nv = (double)n_images * S, D = v->hidden, I = v->intermediate;
        double P = (double)mcfg_patches_side(v) * mcfg_patches_side(v), pp = 3.0 * v->patch_size * v->patch_size;
        double k = (double)n_images * mcfg_tokens_per_image(c);
        total += f(3.0 * n_images * v->image_size * v->image_size) + f(k) + 3 * f(Nv) /* idx */ + f(Nv * D) /* feat */;
        total += f(n_images * P * pp) + f(n_images * P * D) + 3 * f(Nv * D) + f(n_images * D) + 2 * f(Nv);
        double vblock = 2 * f(Nv * D) + 4 * f(Nv) + 4 * f(Nv * D) + f(n_images * v->heads * S) + 2 * f(Nv * D) + 2 * f(Nv * I);
        double vscratch = 2 * f(Nv * I) + 5 * f(Nv * D) + f(Nv * D);
        int run = mcfg_vision_layers_run(v);
        total += run * (2 * f(Nv * D) + (keep_all ? vblock : 0)) + vblock + 4 * f(Nv * D) + 2 * f(Nv);
        if (backward) total += vscratch + 4 * f(Nv * D) + f(n_images * D) + f(n_images * P * D);
        /* adapter forward and backward */
        double in = c->adapter.kind == ADAPT_PIXEL_SHUFFLE_MLP ? D * c->adapter.shuffle * c->adapter.shuffle : D;
        total += f(k * in) + 3 * f(k * C) + (backward ? 3 * f(k * C) + f(k * in) + f(Nv * D) : 0);
    }
    return (size_t)total;
}

int vlm_reserve_acts(Vlm *m, int64_t B, int64_t T, int64_t n_images, VStatus *st) {
    if (be_used(m->be, BUF_ACTS)) return vs_set(st, VS_EINVAL, "vlm_reserve_acts: BUF_ACTS is in use");
    return be_reserve(m->be, BUF_ACTS, vlm_acts_bytes(m, B, T, n_images, 1, 1), st);
}

int vlm_ensure_acts(Vlm *m, int64_t B, int64_t T, int64_t n_images, int backward, VStatus *st) {
    if (!be_must_reserve(m->be, BUF_ACTS)) return 0;
    size_t need = vlm_acts_bytes(m, B, T, n_images, backward, 1);
    if (be_capacity(m->be, BUF_ACTS) >= need) return 0;
    vlm_end_step(m);
    if (be_used(m->be, BUF_ACTS))
        return vs_set(st, VS_EINVAL, "vlm_ensure_acts: BUF_ACTS holds %zu bytes outside a step", be_used(m->be, BUF_ACTS));
    if (be_reserve(m->be, BUF_ACTS, need, st))
        return vs_prefix(st, "activations for %lld rows x %lld tokens, %lld images (%.1f MiB)", (long long)B,
                         (long long)T, (long long)n_images, (double)need / (1 << 20));
    return 0;
}
