/* model/config.c — VlmConfig helpers and Hugging Face config.json read/write.
 *
 * Missing keys take transformers' own defaults for that model type (older
 * checkpoints omit keys equal to the default). Unsupported values (another
 * rope type, another activation) are errors naming the key.
 */
#include "model/config.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

int mcfg_patches_side(const VisionConfig *v) { return v->image_size / v->patch_size; }

int mcfg_vision_seq(const VisionConfig *v) {
    int s = mcfg_patches_side(v);
    return s * s + (v->kind == VIS_CLIP ? 1 : 0);
}

int mcfg_vision_layers_run(const VisionConfig *v) {
    return v->feature_layer >= 0 ? v->feature_layer : v->layers + 1 + v->feature_layer;
}

int mcfg_tokens_per_image(const VlmConfig *c) {
    if (!c->has_vision) return 0;
    int s = mcfg_patches_side(&c->vis);
    int n = s * s;
    if (c->vis.kind == VIS_CLIP && c->vis.keep_cls) n += 1;
    if (c->adapter.kind == ADAPT_PIXEL_SHUFFLE_MLP) n /= c->adapter.shuffle * c->adapter.shuffle;
    return n;
}

int mcfg_validate(const VlmConfig *c, VStatus *st) {
    const LlmConfig *l = &c->llm;
    if (l->vocab <= 0 || l->hidden <= 0 || l->layers <= 0 || l->heads <= 0 || l->kv_heads <= 0 ||
        l->head_dim <= 0 || l->intermediate <= 0)
        return vs_set(st, VS_EINVAL, "llm: sizes must be positive");
    if (l->heads % l->kv_heads) return vs_set(st, VS_EINVAL, "llm: num_attention_heads %d not a multiple of num_key_value_heads %d", l->heads, l->kv_heads);
    if (l->head_dim % 2) return vs_set(st, VS_EINVAL, "llm: head_dim %d must be even for rope", l->head_dim);
    if (!c->has_vision) return 0;
    const VisionConfig *v = &c->vis;
    if (v->hidden <= 0 || v->heads <= 0 || v->hidden % v->heads || v->layers <= 0 || v->intermediate <= 0)
        return vs_set(st, VS_EINVAL, "vision: hidden_size %d / num_attention_heads %d invalid", v->hidden, v->heads);
    if (v->patch_size <= 0 || v->image_size % v->patch_size)
        return vs_set(st, VS_EINVAL, "vision: image_size %d not a multiple of patch_size %d", v->image_size, v->patch_size);
    int run = mcfg_vision_layers_run(v);
    if (run < 0 || run > v->layers)
        return vs_set(st, VS_EINVAL, "vision_feature_layer %d out of range for %d layers", v->feature_layer, v->layers);
    if (c->adapter.kind == ADAPT_PIXEL_SHUFFLE_MLP) {
        int s = mcfg_patches_side(v), r = c->adapter.shuffle;
        if (r <= 0 || s % r) return vs_set(st, VS_EINVAL, "scale_factor %d does not divide %d patches per side", r, s);
        if (v->kind == VIS_CLIP) return vs_set(st, VS_EUNSUP, "pixel_shuffle_mlp needs a tower without CLS");
    }
    return 0;
}

/* ---- json helpers ---- */
static double jnum(json_t *o, const char *k, double def) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : def;
}
static int jint(json_t *o, const char *k, int def) { return (int)jnum(o, k, def); }
static int jbool(json_t *o, const char *k, int def) {
    json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}
static const char *jstr(json_t *o, const char *k, const char *def) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : def;
}

static int parse_act(const char *s, ActKind *out, const char *key, VStatus *st) {
    if (!strcmp(s, "quick_gelu")) *out = ACT_QUICK_GELU;
    else if (!strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_new")) *out = ACT_GELU_TANH;
    else if (!strcmp(s, "gelu")) *out = ACT_GELU_ERF;
    else return vs_set(st, VS_EUNSUP, "%s: activation \"%s\" not supported", key, s);
    return 0;
}

static int parse_llm(json_t *t, LlmConfig *l, int tie_default, VStatus *st) {
    const char *mt = jstr(t, "model_type", "llama");
    if (strcmp(mt, "llama") && strcmp(mt, "qwen2") && strcmp(mt, "mistral"))
        return vs_set(st, VS_EUNSUP, "text_config.model_type \"%s\" not supported (llama, qwen2, mistral)", mt);
    memset(l, 0, sizeof *l);
    l->arch_qwen2 = !strcmp(mt, "qwen2");
    l->vocab = jint(t, "vocab_size", 32000);
    l->hidden = jint(t, "hidden_size", 4096);
    l->intermediate = jint(t, "intermediate_size", 11008);
    l->layers = jint(t, "num_hidden_layers", 32);
    l->heads = jint(t, "num_attention_heads", 32);
    l->kv_heads = jint(t, "num_key_value_heads", l->heads);
    json_t *hd = json_object_get(t, "head_dim");
    l->head_dim = json_is_integer(hd) ? (int)json_integer_value(hd) : l->hidden / l->heads;
    l->rms_eps = (float)jnum(t, "rms_norm_eps", 1e-6);
    l->qkv_bias = l->arch_qwen2 ? 1 : jbool(t, "attention_bias", 0);
    if (jbool(t, "mlp_bias", 0)) return vs_set(st, VS_EUNSUP, "text_config.mlp_bias=true not supported");
    l->tied = jbool(t, "tie_word_embeddings", tie_default);
    l->max_pos = jint(t, "max_position_embeddings", 2048);
    /* sliding-window attention equals full attention for rows no longer than the
       window; longer rows are refused at run time */
    if (!l->arch_qwen2 || jbool(t, "use_sliding_window", 0)) l->sliding_window = jint(t, "sliding_window", 0);
    if (strcmp(jstr(t, "hidden_act", "silu"), "silu")) return vs_set(st, VS_EUNSUP, "text_config.hidden_act must be silu");
    /* rope: transformers 5 writes rope_parameters; older files rope_theta + rope_scaling */
    json_t *rp = json_object_get(t, "rope_parameters");
    if (!json_is_object(rp)) rp = json_object_get(t, "rope_scaling");
    l->rope.theta = (float)jnum(t, "rope_theta", 10000.0);
    l->rope.rot_dim = l->head_dim;
    l->rope.scaling = ROPE_NONE;
    if (json_is_object(rp)) {
        l->rope.theta = (float)jnum(rp, "rope_theta", l->rope.theta);
        const char *type = jstr(rp, "rope_type", jstr(rp, "type", "default"));
        if (!strcmp(type, "llama3")) {
            l->rope.scaling = ROPE_LLAMA3;
            l->rope.factor = (float)jnum(rp, "factor", 8.0);
            l->rope.low_freq_factor = (float)jnum(rp, "low_freq_factor", 1.0);
            l->rope.high_freq_factor = (float)jnum(rp, "high_freq_factor", 4.0);
            l->rope.original_max_pos = jint(rp, "original_max_position_embeddings", 8192);
        } else if (strcmp(type, "default")) {
            return vs_set(st, VS_EUNSUP, "rope_type \"%s\" not supported (default, llama3)", type);
        }
    }
    return 0;
}

static int parse_vision(json_t *v, VisionConfig *o, VStatus *st) {
    const char *mt = jstr(v, "model_type", "");
    memset(o, 0, sizeof *o);
    int clip = !strcmp(mt, "clip_vision_model");
    if (!clip && strcmp(mt, "siglip_vision_model") && strcmp(mt, "idefics3_vision"))
        return vs_set(st, VS_EUNSUP, "vision_config.model_type \"%s\" not supported", mt);
    o->kind = clip ? VIS_CLIP : VIS_SIGLIP;
    o->hidden = jint(v, "hidden_size", 768);
    o->intermediate = jint(v, "intermediate_size", 3072);
    o->layers = jint(v, "num_hidden_layers", 12);
    o->heads = jint(v, "num_attention_heads", 12);
    o->image_size = jint(v, "image_size", 224);
    o->ckpt_image_size = o->image_size;
    o->patch_size = jint(v, "patch_size", clip ? 32 : 16);
    o->ln_eps = (float)jnum(v, "layer_norm_eps", clip ? 1e-5 : 1e-6);
    if (jint(v, "num_channels", 3) != 3) return vs_set(st, VS_EUNSUP, "vision_config.num_channels must be 3");
    if (parse_act(jstr(v, "hidden_act", clip ? "quick_gelu" : "gelu_pytorch_tanh"), &o->act, "vision_config.hidden_act", st)) return st->code;
    o->has_head = !clip && !strcmp(mt, "siglip_vision_model") && jbool(v, "vision_use_head", 1);
    o->feature_layer = -1;
    return 0;
}

int mcfg_from_hf_json(const char *path, VlmConfig *c, int *is_vision_only, VStatus *st) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return vs_set(st, VS_EINVAL, "%s:%d: %s", path, je.line, je.text);
    memset(c, 0, sizeof *c);
    if (is_vision_only) *is_vision_only = 0;
    c->image_token_id = -1;
    int rc = 0;
    const char *mt = jstr(root, "model_type", "");
    if (!strcmp(mt, "llava")) {
        c->layout = LAYOUT_LLAVA;
        c->has_vision = 1;
        json_t *vc = json_object_get(root, "vision_config"), *tc = json_object_get(root, "text_config");
        if (!json_is_object(vc) || !json_is_object(tc)) { rc = vs_set(st, VS_EINVAL, "missing vision_config / text_config"); goto out; }
        if ((rc = parse_vision(vc, &c->vis, st))) goto out;
        if ((rc = parse_llm(tc, &c->llm, 0, st))) goto out;
        /* composite models: the top-level flag governs the lm-head (transformers 5) */
        c->llm.tied = jbool(root, "tie_word_embeddings", c->llm.tied);
        json_t *fl = json_object_get(root, "vision_feature_layer");
        if (fl && !json_is_integer(fl)) { rc = vs_set(st, VS_EUNSUP, "vision_feature_layer: only a single layer is supported"); goto out; }
        c->vis.feature_layer = fl ? (int)json_integer_value(fl) : -2;
        const char *strat = jstr(root, "vision_feature_select_strategy", "default");
        if (!strcmp(strat, "default")) c->vis.keep_cls = 0;
        else if (!strcmp(strat, "full")) c->vis.keep_cls = 1;
        else { rc = vs_set(st, VS_EUNSUP, "vision_feature_select_strategy \"%s\"", strat); goto out; }
        if (c->vis.kind == VIS_SIGLIP && !c->vis.keep_cls) {
            rc = vs_set(st, VS_EUNSUP, "vision_feature_select_strategy \"default\" with SigLIP would drop a patch, not a CLS token");
            goto out;
        }
        c->image_token_id = jint(root, "image_token_index", jint(root, "image_token_id", 32000));
        c->adapter.kind = ADAPT_MLP;
        c->adapter.bias = jbool(root, "multimodal_projector_bias", 1);
        if (strcmp(jstr(root, "projector_hidden_act", "gelu"), "gelu")) { rc = vs_set(st, VS_EUNSUP, "projector_hidden_act must be gelu"); goto out; }
    } else if (!strcmp(mt, "idefics3")) {
        c->layout = LAYOUT_IDEFICS3;
        c->has_vision = 1;
        json_t *vc = json_object_get(root, "vision_config"), *tc = json_object_get(root, "text_config");
        if (!json_is_object(vc) || !json_is_object(tc)) { rc = vs_set(st, VS_EINVAL, "missing vision_config / text_config"); goto out; }
        if ((rc = parse_vision(vc, &c->vis, st))) goto out;
        c->vis.kind = VIS_SIGLIP;
        c->vis.has_head = 0;
        c->vis.post_norm = 1;
        c->vis.keep_cls = 1;
        if ((rc = parse_llm(tc, &c->llm, 0, st))) goto out;
        /* composite models: the top-level flag governs the lm-head (transformers 5) */
        c->llm.tied = jbool(root, "tie_word_embeddings", c->llm.tied);
        c->adapter.kind = ADAPT_PIXEL_SHUFFLE_MLP;
        c->adapter.shuffle = jint(root, "scale_factor", 2);
        c->image_token_id = jint(root, "image_token_id", 128257);
    } else if (!strcmp(mt, "llama") || !strcmp(mt, "qwen2") || !strcmp(mt, "mistral")) {
        c->layout = LAYOUT_TEXT;
        if ((rc = parse_llm(root, &c->llm, 0, st))) goto out;
    } else if (!strcmp(mt, "siglip_vision_model") || !strcmp(mt, "clip_vision_model")) {
        c->layout = LAYOUT_LLAVA;
        c->has_vision = 1;
        if ((rc = parse_vision(root, &c->vis, st))) goto out;
        if (is_vision_only) *is_vision_only = 1;
    } else {
        rc = vs_set(st, VS_EUNSUP, "model_type \"%s\" not supported (llava, idefics3, llama, qwen2, mistral, siglip/clip vision)", mt);
    }
out:
    json_decref(root);
    if (rc) return vs_prefix(st, "%s", path);
    return 0;
}

/* ---- writing config.json ---- */
static const char *act_name(ActKind a) {
    return a == ACT_QUICK_GELU ? "quick_gelu" : a == ACT_GELU_TANH ? "gelu_pytorch_tanh" : "gelu";
}

static json_t *llm_json(const LlmConfig *l, int with_arch) {
    json_t *t = json_object();
    if (with_arch)
        json_object_set_new(t, "architectures", json_pack("[s]", l->arch_qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    json_object_set_new(t, "model_type", json_string(l->arch_qwen2 ? "qwen2" : "llama"));
    json_object_set_new(t, "vocab_size", json_integer(l->vocab));
    json_object_set_new(t, "hidden_size", json_integer(l->hidden));
    json_object_set_new(t, "intermediate_size", json_integer(l->intermediate));
    json_object_set_new(t, "num_hidden_layers", json_integer(l->layers));
    json_object_set_new(t, "num_attention_heads", json_integer(l->heads));
    json_object_set_new(t, "num_key_value_heads", json_integer(l->kv_heads));
    json_object_set_new(t, "head_dim", json_integer(l->head_dim));
    json_object_set_new(t, "rms_norm_eps", json_real(l->rms_eps));
    json_object_set_new(t, "max_position_embeddings", json_integer(l->max_pos));
    json_object_set_new(t, "hidden_act", json_string("silu"));
    json_object_set_new(t, "tie_word_embeddings", json_boolean(l->tied));
    if (l->arch_qwen2) json_object_set_new(t, "use_sliding_window", json_false());
    else {
        json_object_set_new(t, "attention_bias", json_boolean(l->qkv_bias));
        json_object_set_new(t, "mlp_bias", json_false());
    }
    json_t *rp = json_object();
    json_object_set_new(rp, "rope_theta", json_real(l->rope.theta));
    json_object_set_new(t, "rope_theta", json_real(l->rope.theta));
    if (l->rope.scaling == ROPE_LLAMA3) {
        json_object_set_new(rp, "rope_type", json_string("llama3"));
        json_object_set_new(rp, "factor", json_real(l->rope.factor));
        json_object_set_new(rp, "low_freq_factor", json_real(l->rope.low_freq_factor));
        json_object_set_new(rp, "high_freq_factor", json_real(l->rope.high_freq_factor));
        json_object_set_new(rp, "original_max_position_embeddings", json_integer(l->rope.original_max_pos));
    } else {
        json_object_set_new(rp, "rope_type", json_string("default"));
    }
    json_object_set_new(t, "rope_parameters", rp);
    return t;
}

static json_t *vision_json(const VisionConfig *v, ModelLayout layout) {
    json_t *o = json_object();
    const char *mt = layout == LAYOUT_IDEFICS3 ? "idefics3_vision" : v->kind == VIS_CLIP ? "clip_vision_model" : "siglip_vision_model";
    json_object_set_new(o, "model_type", json_string(mt));
    json_object_set_new(o, "hidden_size", json_integer(v->hidden));
    json_object_set_new(o, "intermediate_size", json_integer(v->intermediate));
    json_object_set_new(o, "num_hidden_layers", json_integer(v->layers));
    json_object_set_new(o, "num_attention_heads", json_integer(v->heads));
    json_object_set_new(o, "image_size", json_integer(v->image_size));
    json_object_set_new(o, "patch_size", json_integer(v->patch_size));
    json_object_set_new(o, "num_channels", json_integer(3));
    json_object_set_new(o, "layer_norm_eps", json_real(v->ln_eps));
    json_object_set_new(o, "hidden_act", json_string(act_name(v->act)));
    if (v->kind == VIS_SIGLIP && layout == LAYOUT_LLAVA) json_object_set_new(o, "vision_use_head", json_boolean(v->has_head));
    return o;
}

int mcfg_write_hf_json(const VlmConfig *c, const char *path, const char *torch_dtype, VStatus *st) {
    json_t *root;
    if (c->layout == LAYOUT_TEXT || !c->has_vision) {
        root = llm_json(&c->llm, 1);
    } else if (c->layout == LAYOUT_IDEFICS3) {
        if (c->adapter.kind != ADAPT_PIXEL_SHUFFLE_MLP) return vs_set(st, VS_EUNSUP, "Idefics3 export needs a pixel_shuffle_mlp adapter");
        if (!c->vis.post_norm || c->vis.kind != VIS_SIGLIP)
            return vs_set(st, VS_EUNSUP, "Idefics3 export needs a SigLIP encoder with post_layernorm (transformers always applies it)");
        root = json_object();
        json_object_set_new(root, "architectures", json_pack("[s]", "Idefics3ForConditionalGeneration"));
        json_object_set_new(root, "model_type", json_string("idefics3"));
        json_object_set_new(root, "image_token_id", json_integer(c->image_token_id));
        json_object_set_new(root, "scale_factor", json_integer(c->adapter.shuffle));
        json_object_set_new(root, "tie_word_embeddings", json_boolean(c->llm.tied));
        json_object_set_new(root, "vision_config", vision_json(&c->vis, c->layout));
        json_object_set_new(root, "text_config", llm_json(&c->llm, 0));
    } else {
        if (c->adapter.kind != ADAPT_MLP)
            return vs_set(st, VS_EUNSUP, "LLaVA export needs the mlp adapter (transformers' LlavaMultiModalProjector)");
        if (c->vis.post_norm) return vs_set(st, VS_EUNSUP, "LLaVA export: post_layernorm on features is not expressible");
        root = json_object();
        json_object_set_new(root, "architectures", json_pack("[s]", "LlavaForConditionalGeneration"));
        json_object_set_new(root, "model_type", json_string("llava"));
        json_object_set_new(root, "image_token_index", json_integer(c->image_token_id));
        json_object_set_new(root, "projector_hidden_act", json_string("gelu"));
        json_object_set_new(root, "multimodal_projector_bias", json_boolean(c->adapter.bias));
        json_object_set_new(root, "vision_feature_layer", json_integer(c->vis.feature_layer));
        json_object_set_new(root, "vision_feature_select_strategy", json_string(c->vis.keep_cls || c->vis.kind == VIS_SIGLIP ? "full" : "default"));
        json_object_set_new(root, "image_seq_length", json_integer(mcfg_tokens_per_image(c)));
        json_object_set_new(root, "tie_word_embeddings", json_boolean(c->llm.tied));
        json_object_set_new(root, "vision_config", vision_json(&c->vis, c->layout));
        json_object_set_new(root, "text_config", llm_json(&c->llm, 0));
    }
    json_object_set_new(root, "dtype", json_string(torch_dtype));
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(7));
    json_decref(root);
    if (rc) return vs_set(st, VS_EIO, "%s: cannot write", path);
    return 0;
}
