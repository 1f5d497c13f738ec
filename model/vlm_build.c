/* model/vlm_build.c — builds a Vlm's parameter table from its config, with the
 * Hugging Face names transformers 5 writes for the layout:
 *   llava:    vision_tower.*, multi_modal_projector.linear_{1,2}.*,
 *             language_model.model.*, language_model.lm_head.weight
 *   idefics3: model.vision_model.*, model.connector.modality_projection.proj.weight,
 *             model.text_model.*, lm_head.weight
 *   text:     model.*, lm_head.weight
 * (model/hf_import.c maps the other layouts onto these.) Also allocation,
 * seeded initialisation and freeing.
 */
#include "model/vlm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/vlm_internal.h"

static const char *vis_prefix(ModelLayout l) { return l == LAYOUT_IDEFICS3 ? "model.vision_model." : "vision_tower."; }
static const char *llm_prefix(ModelLayout l) {
    return l == LAYOUT_IDEFICS3 ? "model.text_model." : l == LAYOUT_TEXT ? "model." : "language_model.model.";
}
static const char *head_name(ModelLayout l) { return l == LAYOUT_LLAVA ? "language_model.lm_head.weight" : "lm_head.weight"; }

#define S1(a) ((int64_t[]){(a)})
#define S2(a, b) ((int64_t[]){(a), (b)})

static void build_vision(Vlm *m) {
    const VisionConfig *v = &m->cfg.vis;
    ParamTable *t = &m->pt;
    const char *P = vis_prefix(m->cfg.layout);
    int64_t D = v->hidden, I = v->intermediate, p = v->patch_size;
    int64_t np = (int64_t)mcfg_patches_side(v) * mcfg_patches_side(v);
    int64_t S = mcfg_vision_seq(v);
    int run = mcfg_vision_layers_run(v);
    if (v->kind == VIS_CLIP) m->vis.cls = pt_addf(t, COMP_ENCODER, 1, S1(D), "%sembeddings.class_embedding", P);
    else m->vis.cls = -1;
    m->vis.patch_w = pt_addf(t, COMP_ENCODER, 4, ((int64_t[]){D, 3, p, p}), "%sembeddings.patch_embedding.weight", P);
    m->vis.patch_b = v->kind == VIS_SIGLIP ? pt_addf(t, COMP_ENCODER, 1, S1(D), "%sembeddings.patch_embedding.bias", P) : -1;
    m->vis.pos = pt_addf(t, COMP_ENCODER, 2, S2(S, D), "%sembeddings.position_embedding.weight", P);
    (void)np;
    m->vis.pre_w = m->vis.pre_b = -1;
    if (v->kind == VIS_CLIP) {
        m->vis.pre_w = pt_addf(t, COMP_ENCODER, 1, S1(D), "%spre_layrnorm.weight", P);
        m->vis.pre_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%spre_layrnorm.bias", P);
    }
    m->vis.L = calloc((size_t)v->layers, sizeof *m->vis.L);
    VLMC_ASSERT(m->vis.L, "out of memory");
    for (int l = 0; l < v->layers; l++) {
        VitLayerIdx *L = &m->vis.L[l];
        char q[PT_NAME_MAX];
        snprintf(q, sizeof q, "%sencoder.layers.%d.", P, l);
        int first = t->n;
        /* order as transformers lists them, so exports read naturally */
        L->k_w = pt_addf(t, COMP_ENCODER, 2, S2(D, D), "%sself_attn.k_proj.weight", q);
        L->k_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%sself_attn.k_proj.bias", q);
        L->v_w = pt_addf(t, COMP_ENCODER, 2, S2(D, D), "%sself_attn.v_proj.weight", q);
        L->v_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%sself_attn.v_proj.bias", q);
        L->q_w = pt_addf(t, COMP_ENCODER, 2, S2(D, D), "%sself_attn.q_proj.weight", q);
        L->q_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%sself_attn.q_proj.bias", q);
        L->o_w = pt_addf(t, COMP_ENCODER, 2, S2(D, D), "%sself_attn.out_proj.weight", q);
        L->o_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%sself_attn.out_proj.bias", q);
        L->ln1_w = pt_addf(t, COMP_ENCODER, 1, S1(D), "%slayer_norm1.weight", q);
        L->ln1_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%slayer_norm1.bias", q);
        L->fc1_w = pt_addf(t, COMP_ENCODER, 2, S2(I, D), "%smlp.fc1.weight", q);
        L->fc1_b = pt_addf(t, COMP_ENCODER, 1, S1(I), "%smlp.fc1.bias", q);
        L->fc2_w = pt_addf(t, COMP_ENCODER, 2, S2(D, I), "%smlp.fc2.weight", q);
        L->fc2_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%smlp.fc2.bias", q);
        L->ln2_w = pt_addf(t, COMP_ENCODER, 1, S1(D), "%slayer_norm2.weight", q);
        L->ln2_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%slayer_norm2.bias", q);
        if (l >= run) /* layers after the selected feature layer are never run */
            for (int i = first; i < t->n; i++) t->p[i].unused = 1;
    }
    m->vis.post_w = pt_addf(t, COMP_ENCODER, 1, S1(D), "%spost_layernorm.weight", P);
    m->vis.post_b = pt_addf(t, COMP_ENCODER, 1, S1(D), "%spost_layernorm.bias", P);
    if (!v->post_norm) t->p[m->vis.post_w].unused = t->p[m->vis.post_b].unused = 1;
    if (v->has_head) { /* SigLIP attention-pooling head: stored for round trips, never run */
        int first = t->n;
        pt_addf(t, COMP_ENCODER, 3, ((int64_t[]){1, 1, D}), "%shead.probe", P);
        pt_addf(t, COMP_ENCODER, 2, S2(3 * D, D), "%shead.attention.in_proj_weight", P);
        pt_addf(t, COMP_ENCODER, 1, S1(3 * D), "%shead.attention.in_proj_bias", P);
        pt_addf(t, COMP_ENCODER, 2, S2(D, D), "%shead.attention.out_proj.weight", P);
        pt_addf(t, COMP_ENCODER, 1, S1(D), "%shead.attention.out_proj.bias", P);
        pt_addf(t, COMP_ENCODER, 1, S1(D), "%shead.layernorm.weight", P);
        pt_addf(t, COMP_ENCODER, 1, S1(D), "%shead.layernorm.bias", P);
        pt_addf(t, COMP_ENCODER, 2, S2(I, D), "%shead.mlp.fc1.weight", P);
        pt_addf(t, COMP_ENCODER, 1, S1(I), "%shead.mlp.fc1.bias", P);
        pt_addf(t, COMP_ENCODER, 2, S2(D, I), "%shead.mlp.fc2.weight", P);
        pt_addf(t, COMP_ENCODER, 1, S1(D), "%shead.mlp.fc2.bias", P);
        for (int i = first; i < t->n; i++) t->p[i].unused = 1;
    }
}

static void build_adapter(Vlm *m) {
    ParamTable *t = &m->pt;
    const AdapterConfig *a = &m->cfg.adapter;
    int64_t Dv = m->cfg.vis.hidden, C = m->cfg.llm.hidden;
    m->ad.w1 = m->ad.b1 = m->ad.w2 = m->ad.b2 = -1;
    if (a->kind == ADAPT_PIXEL_SHUFFLE_MLP) {
        int64_t in = Dv * a->shuffle * a->shuffle;
        const char *n = m->cfg.layout == LAYOUT_IDEFICS3 ? "model.connector.modality_projection.proj.weight"
                                                          : "multi_modal_projector.linear_1.weight";
        m->ad.w1 = pt_add(t, COMP_ADAPTER, n, 2, S2(C, in));
        return;
    }
    m->ad.w1 = pt_add(t, COMP_ADAPTER, "multi_modal_projector.linear_1.weight", 2, S2(C, Dv));
    if (a->bias) m->ad.b1 = pt_add(t, COMP_ADAPTER, "multi_modal_projector.linear_1.bias", 1, S1(C));
    if (a->kind == ADAPT_MLP) {
        m->ad.w2 = pt_add(t, COMP_ADAPTER, "multi_modal_projector.linear_2.weight", 2, S2(C, C));
        if (a->bias) m->ad.b2 = pt_add(t, COMP_ADAPTER, "multi_modal_projector.linear_2.bias", 1, S1(C));
    }
}

static void build_llm(Vlm *m) {
    ParamTable *t = &m->pt;
    const LlmConfig *c = &m->cfg.llm;
    const char *P = llm_prefix(m->cfg.layout);
    int64_t C = c->hidden, F = c->intermediate, Hq = (int64_t)c->heads * c->head_dim, Hk = (int64_t)c->kv_heads * c->head_dim;
    m->llm.emb = pt_addf(t, COMP_LLM, 2, S2(c->vocab, C), "%sembed_tokens.weight", P);
    m->llm.L = calloc((size_t)c->layers, sizeof *m->llm.L);
    VLMC_ASSERT(m->llm.L, "out of memory");
    for (int l = 0; l < c->layers; l++) {
        LlmLayerIdx *L = &m->llm.L[l];
        char q[PT_NAME_MAX];
        snprintf(q, sizeof q, "%slayers.%d.", P, l);
        L->q_w = pt_addf(t, COMP_LLM, 2, S2(Hq, C), "%sself_attn.q_proj.weight", q);
        L->q_b = c->qkv_bias ? pt_addf(t, COMP_LLM, 1, S1(Hq), "%sself_attn.q_proj.bias", q) : -1;
        L->k_w = pt_addf(t, COMP_LLM, 2, S2(Hk, C), "%sself_attn.k_proj.weight", q);
        L->k_b = c->qkv_bias ? pt_addf(t, COMP_LLM, 1, S1(Hk), "%sself_attn.k_proj.bias", q) : -1;
        L->v_w = pt_addf(t, COMP_LLM, 2, S2(Hk, C), "%sself_attn.v_proj.weight", q);
        L->v_b = c->qkv_bias ? pt_addf(t, COMP_LLM, 1, S1(Hk), "%sself_attn.v_proj.bias", q) : -1;
        L->o_w = pt_addf(t, COMP_LLM, 2, S2(C, Hq), "%sself_attn.o_proj.weight", q);
        L->gate = pt_addf(t, COMP_LLM, 2, S2(F, C), "%smlp.gate_proj.weight", q);
        L->up = pt_addf(t, COMP_LLM, 2, S2(F, C), "%smlp.up_proj.weight", q);
        L->down = pt_addf(t, COMP_LLM, 2, S2(C, F), "%smlp.down_proj.weight", q);
        L->ln1 = pt_addf(t, COMP_LLM, 1, S1(C), "%sinput_layernorm.weight", q);
        L->ln2 = pt_addf(t, COMP_LLM, 1, S1(C), "%spost_attention_layernorm.weight", q);
    }
    m->llm.norm = pt_addf(t, COMP_LLM, 1, S1(C), "%snorm.weight", P);
    m->llm.head = c->tied ? m->llm.emb : pt_add(t, COMP_LLM, head_name(m->cfg.layout), 2, S2(c->vocab, C));
}

int vlm_build(Vlm *m, const VlmConfig *cfg, VStatus *st) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (mcfg_validate(cfg, st)) return st->code;
    pt_init(&m->pt);
    m->xent_chunk = 256;
    m->vis.patch_w = m->vis.patch_b = m->vis.cls = m->vis.pos = -1;
    m->vis.pre_w = m->vis.pre_b = m->vis.post_w = m->vis.post_b = -1;
    m->ad.w1 = m->ad.b1 = m->ad.w2 = m->ad.b2 = -1;
    if (cfg->has_vision) {
        build_vision(m);
        build_adapter(m);
    }
    build_llm(m);
    return 0;
}

int vlm_allocate(Vlm *m, Backend *be, VStatus *st) {
    m->be = be;
    if (pt_allocate(&m->pt, be, st)) return st->code;
    if (m->vis.cls >= 0) {
        const Param *p = &m->pt.p[m->vis.cls];
        int64_t s2[2] = {1, p->numel};
        m->vis.cls_w2 = t_view(be, p->w, 0, 2, s2);
        m->vis.cls_g2 = p->g ? t_view(be, p->g, 0, 2, s2) : NULL;
    }
    return 0;
}

void vlm_free(Vlm *m) {
    vlm_acts_free(m);
    fc_free(m->feat_cache);
    free(m->vis.L);
    free(m->llm.L);
    pt_free(&m->pt);
    memset(m, 0, sizeof *m);
}

/* ---- seeded initialisation (host RNG, uploaded per entry) ---- */
static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int is_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int vlm_init_random(Vlm *m, uint64_t seed, VStatus *st) {
    ParamTable *t = &m->pt;
    int64_t maxn = 0;
    for (int i = 0; i < t->n; i++) maxn = t->p[i].numel > maxn ? t->p[i].numel : maxn;
    float *buf = malloc((size_t)maxn * sizeof(float));
    if (!buf) return vs_set(st, VS_ENOMEM, "init: %lld floats", (long long)maxn);
    for (int i = 0; i < t->n; i++) {
        Param *p = &t->p[i];
        /* each entry draws from its own stream, so adding an entry elsewhere does not
           change this one's values */
        uint64_t s = seed ^ (0x51ed2701ULL * (uint64_t)(i + 1));
        int norm_w = (is_suffix(p->name, "norm.weight") || is_suffix(p->name, "layernorm.weight") ||
                      strstr(p->name, "layer_norm") || is_suffix(p->name, "layrnorm.weight")) && p->ndim == 1 &&
                     is_suffix(p->name, ".weight");
        int bias = p->ndim == 1 && !norm_w && !is_suffix(p->name, "class_embedding");
        double std = m->cfg.init_std[p->comp] > 0 ? m->cfg.init_std[p->comp] : 0.02;
        for (int64_t j = 0; j < p->numel; j++) {
            if (norm_w) { buf[j] = 1.0f; continue; }
            if (bias) { buf[j] = 0.0f; continue; }
            double u1 = ((splitmix(&s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
            double u2 = (splitmix(&s) >> 11) * (1.0 / 9007199254740992.0);
            buf[j] = (float)(std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
        pt_upload(t, i, buf);
    }
    free(buf);
    return 0;
}
