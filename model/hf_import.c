/* model/hf_import.c — Hugging Face checkpoint directories -> Vlm (see hf.h).
 *
 * Host-side work here (dtype conversion, the load-time bicubic resize of
 * position embeddings) runs once per load, not per step; the model's
 * computation itself stays in the op table.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/hf.h"
#include "model/safetensors.h"

typedef struct Rule { const char *from, *to; } Rule;

static const Rule llava_rules[] = {
    {"model.vision_tower.vision_model.", "vision_tower."},
    {"vision_tower.vision_model.", "vision_tower."},
    {"model.vision_tower.", "vision_tower."},
    {"model.multi_modal_projector.", "multi_modal_projector."},
    {"model.language_model.", "language_model.model."},
    {"lm_head.", "language_model.lm_head."},
    {NULL, NULL},
};
/* separate checkpoints joined into the LLaVA or Idefics3 layout */
static const Rule vision_only_llava[] = {{"vision_model.", "vision_tower."}, {"", "vision_tower."}, {NULL, NULL}};
static const Rule lm_only_llava[] = {{"model.", "language_model.model."}, {"lm_head.", "language_model.lm_head."}, {NULL, NULL}};
static const Rule vision_only_idefics3[] = {{"vision_model.", "model.vision_model."}, {"", "model.vision_model."}, {NULL, NULL}};
static const Rule lm_only_idefics3[] = {{"model.", "model.text_model."}, {NULL, NULL}};

static int apply_rules(const Rule *r, const char *name, char *out) {
    if (strstr(name, "rotary_emb.inv_freq")) return 0;
    for (; r && r->from; r++) {
        size_t n = strlen(r->from);
        if (!strncmp(name, r->from, n)) {
            snprintf(out, PT_NAME_MAX, "%s%s", r->to, name + n);
            return 1;
        }
    }
    snprintf(out, PT_NAME_MAX, "%s", name);
    return 1;
}

int hf_canonical_name(ModelLayout layout, const char *name, char *out) {
    return apply_rules(layout == LAYOUT_LLAVA ? llava_rules : NULL, name, out);
}

/* ---- bicubic resize of a (side x side, D) grid, torch semantics ---- */
static double cubic_w(double x) {
    const double a = -0.75;
    x = fabs(x);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
}

static void bicubic_grid(const float *in, int si, float *out, int so, int64_t D) {
    double scale = (double)si / so;
    for (int oy = 0; oy < so; oy++)
        for (int ox = 0; ox < so; ox++) {
            double sy = (oy + 0.5) * scale - 0.5, sx = (ox + 0.5) * scale - 0.5;
            int iy = (int)floor(sy), ix = (int)floor(sx);
            double ty = sy - iy, tx = sx - ix, wy[4], wx[4];
            for (int k = 0; k < 4; k++) { wy[k] = cubic_w(ty - (k - 1)); wx[k] = cubic_w(tx - (k - 1)); }
            for (int64_t d = 0; d < D; d++) {
                double acc = 0;
                for (int a = 0; a < 4; a++) {
                    int y = iy + a - 1;
                    y = y < 0 ? 0 : y >= si ? si - 1 : y;
                    for (int b = 0; b < 4; b++) {
                        int x = ix + b - 1;
                        x = x < 0 ? 0 : x >= si ? si - 1 : x;
                        acc += wy[a] * wx[b] * in[((int64_t)y * si + x) * D + d];
                    }
                }
                out[((int64_t)oy * so + ox) * D + d] = (float)acc;
            }
        }
}

/* ---- loading tensors ---- */
typedef struct Loader {
    Vlm *m;
    char *seen;      /* per table entry */
    const Rule *rules;
    int allow_missing_comp;   /* component allowed to be absent (fresh adapter), or -1 */
    int drop_head;
} Loader;

static int load_tensor(Loader *L, const StTensor *t, VStatus *st) {
    Vlm *m = L->m;
    char canon[PT_NAME_MAX];
    if (!apply_rules(L->rules, t->name, canon)) return 0;
    int idx = pt_find(&m->pt, canon);
    /* a SigLIP pooling head has no place in an Idefics3-layout model: dropped */
    if (idx < 0 && L->drop_head && strstr(canon, "vision_model.head.")) return 0;
    if (idx < 0) {
        /* a tied checkpoint may carry the lm-head copy: transformers ignores it */
        if (m->cfg.llm.tied && strstr(canon, "lm_head.weight")) return 0;
        return vs_set(st, VS_EINVAL, "unexpected tensor \"%s\" (the model has no \"%s\")", t->name, canon);
    }
    Param *p = &m->pt.p[idx];
    if (L->seen[idx]) return vs_set(st, VS_EINVAL, "tensor \"%s\" given twice", t->name);
    int is_pos = idx == m->vis.pos;
    int resize = 0;
    int ok = t->ndim == p->ndim;
    for (int i = 0; ok && i < p->ndim; i++) ok = t->shape[i] == p->shape[i];
    if (!ok && is_pos && t->ndim == 2 && t->shape[1] == p->shape[1]) {
        int cls = m->cfg.vis.kind == VIS_CLIP;
        int64_t g = t->shape[0] - cls;
        int si = (int)lround(sqrt((double)g));
        if ((int64_t)si * si == g) resize = si;
    }
    if (!ok && !resize) {
        char a[96] = "", b[96] = "";
        for (int i = 0; i < t->ndim; i++) snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        for (int i = 0; i < p->ndim; i++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", i ? "," : "", (long long)p->shape[i]);
        return vs_set(st, VS_EINVAL, "tensor \"%s\": shape [%s], the model expects [%s]", t->name, a, b);
    }
    float *buf = malloc((size_t)t->numel * sizeof(float));
    if (!buf) return vs_set(st, VS_ENOMEM, "tensor \"%s\": %lld floats", t->name, (long long)t->numel);
    if (st_tensor_to_f32(t, buf, st)) { free(buf); return st->code; }
    if (resize) {
        int cls = m->cfg.vis.kind == VIS_CLIP;
        int so = mcfg_patches_side(&m->cfg.vis);
        int64_t D = p->shape[1];
        float *o = malloc((size_t)p->numel * sizeof(float));
        if (!o) { free(buf); return vs_set(st, VS_ENOMEM, "resize %s", t->name); }
        if (cls) memcpy(o, buf, (size_t)D * sizeof(float));
        bicubic_grid(buf + cls * D, resize, o + cls * D, so, D);
        free(buf);
        buf = o;
    }
    pt_upload(&m->pt, idx, buf);
    free(buf);
    L->seen[idx] = 1;
    return 0;
}

static int load_file(Loader *L, const char *path, VStatus *st) {
    StFile *f = st_open(path, st);
    if (!f) return st->code;
    int rc = 0;
    for (size_t i = 0; i < st_count(f) && !rc; i++) rc = load_tensor(L, st_tensor(f, i), st);
    st_close(f);
    if (rc) return vs_prefix(st, "%s", path);
    return 0;
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* All weight files of a directory: the index's shards (sorted, unique) or model.safetensors. */
static int load_dir_weights(Loader *L, const char *dir, VStatus *st) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (exists(path)) {
        json_error_t je;
        json_t *root = json_load_file(path, 0, &je);
        if (!root) return vs_set(st, VS_EINVAL, "%s:%d: %s", path, je.line, je.text);
        json_t *wm = json_object_get(root, "weight_map");
        if (!json_is_object(wm)) { json_decref(root); return vs_set(st, VS_EINVAL, "%s: no weight_map", path); }
        /* collect distinct shard names */
        json_t *files = json_object();
        const char *k;
        json_t *v;
        int rc = 0;
        json_object_foreach(wm, k, v) {
            if (!json_is_string(v) || strchr(json_string_value(v), '/')) {
                rc = vs_set(st, VS_EINVAL, "%s: weight_map[\"%s\"] is not a file name in the directory", path, k);
                break;
            }
            json_object_set_new(files, json_string_value(v), json_true());
        }
        json_object_foreach(files, k, v) {
            if (rc) break;
            char sp[4096];
            snprintf(sp, sizeof sp, "%s/%s", dir, k);
            rc = load_file(L, sp, st);
        }
        json_decref(files);
        json_decref(root);
        return rc;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!exists(path)) return vs_set(st, VS_EINVAL, "%s: no model.safetensors or model.safetensors.index.json", dir);
    return load_file(L, path, st);
}

static int check_missing(Loader *L, VStatus *st) {
    for (int i = 0; i < L->m->pt.n; i++) {
        if (L->seen[i]) continue;
        if ((int)L->m->pt.p[i].comp == L->allow_missing_comp) continue;
        return vs_set(st, VS_EINVAL, "missing tensor \"%s\"", L->m->pt.p[i].name);
    }
    return 0;
}

static int setup(Vlm *m, const VlmConfig *cfg, Backend *be, const HfLoadOpts *o, VStatus *st) {
    VlmConfig c = *cfg;
    if (o && o->image_size > 0 && c.has_vision) {
        c.vis.ckpt_image_size = c.vis.image_size;
        c.vis.image_size = o->image_size;
    }
    if (vlm_build(m, &c, st)) return st->code;
    for (int k = 0; k < COMP__COUNT; k++)
        if (o && o->frozen[k]) pt_set_trainable_comp(&m->pt, (Component)k, 0);
    return vlm_allocate(m, be, st);
}

int hf_load(Vlm *m, const char *dir, Backend *be, const HfLoadOpts *opts, VStatus *st) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    VlmConfig cfg;
    int vision_only = 0;
    if (mcfg_from_hf_json(path, &cfg, &vision_only, st)) return st->code;
    if (vision_only) return vs_set(st, VS_EUNSUP, "%s: a vision-only checkpoint; join it with a language model (hf_load_pair)", dir);
    if (setup(m, &cfg, be, opts, st)) return st->code;
    Loader L = {.m = m, .rules = cfg.layout == LAYOUT_LLAVA ? llava_rules : NULL, .allow_missing_comp = -1};
    L.seen = calloc((size_t)m->pt.n, 1);
    VLMC_ASSERT(L.seen, "out of memory");
    int rc = load_dir_weights(&L, dir, st);
    if (!rc) rc = check_missing(&L, st);
    free(L.seen);
    if (rc) { vs_prefix(st, "%s", dir); vlm_free(m); return rc; }
    return 0;
}

int hf_load_pair(Vlm *m, const char *vision_dir, const char *lm_dir, const AdapterConfig *ad, int feature_layer,
                 int keep_cls, int image_token_id, uint64_t seed, Backend *be, const HfLoadOpts *opts, VStatus *st) {
    char path[4096];
    VlmConfig vc, lc;
    int vo = 0;
    snprintf(path, sizeof path, "%s/config.json", vision_dir);
    if (mcfg_from_hf_json(path, &vc, &vo, st)) return st->code;
    if (!vo) return vs_set(st, VS_EINVAL, "%s: not a SiglipVisionModel / CLIPVisionModel checkpoint", vision_dir);
    snprintf(path, sizeof path, "%s/config.json", lm_dir);
    if (mcfg_from_hf_json(path, &lc, NULL, st)) return st->code;
    if (lc.layout != LAYOUT_TEXT) return vs_set(st, VS_EINVAL, "%s: not a LlamaForCausalLM / Qwen2ForCausalLM checkpoint", lm_dir);
    VlmConfig c = vc;
    int ps = ad->kind == ADAPT_PIXEL_SHUFFLE_MLP;
    /* pixel shuffle joins into the Idefics3 layout (post_layernorm'd last layer),
       the others into LLaVA's */
    c.layout = ps ? LAYOUT_IDEFICS3 : LAYOUT_LLAVA;
    c.llm = lc.llm;
    c.adapter = *ad;
    c.vis.feature_layer = feature_layer;
    c.vis.keep_cls = keep_cls;
    if (ps) {
        c.vis.feature_layer = -1;
        c.vis.post_norm = 1;
        c.vis.keep_cls = 1;
        c.vis.has_head = 0;
    }
    c.image_token_id = image_token_id;
    if (opts) c.init_std[COMP_ADAPTER] = opts->adapter_init_std;
    if (setup(m, &c, be, opts, st)) return st->code;
    if (vlm_init_random(m, seed, st)) { vlm_free(m); return st->code; }
    Loader L = {.m = m, .rules = ps ? vision_only_idefics3 : vision_only_llava, .allow_missing_comp = COMP_ADAPTER,
                .drop_head = ps};
    L.seen = calloc((size_t)m->pt.n, 1);
    VLMC_ASSERT(L.seen, "out of memory");
    int rc = load_dir_weights(&L, vision_dir, st);
    if (!rc) {
        L.rules = ps ? lm_only_idefics3 : lm_only_llava;
        rc = load_dir_weights(&L, lm_dir, st);
    }
    if (!rc) rc = check_missing(&L, st);
    free(L.seen);
    if (rc) { vlm_free(m); return rc; }
    return 0;
}
