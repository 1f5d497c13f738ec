/* train/trainer.c — opening a run (trainer.h): config checks, backend, model
 * (from scratch, one HF directory, or a vision + language pair), tokenizer
 * and image codec, the run directory, and resume from RUN/latest. Everything
 * that can be wrong with a config is found here, before any step runs. */
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/hf.h"
#include "train/ckpt_dir.h"
#include "train/ckpt_io.h"
#include "train/trainer_internal.h"

/* ---- shard globs ---- */
#define SHAPES_VAR "${shapes.dir}"

/* The pattern with a leading ${shapes.dir} replaced (into buf when it is);
 * NULL with st set when it cannot be. */
static const char *resolve_pattern(const char *pat, const char *shapes_dir, char *buf, size_t cap, const char *key,
                                   int i, int k, VStatus *st) {
    size_t nv = strlen(SHAPES_VAR);
    if (strncmp(pat, SHAPES_VAR, nv)) return pat;
    if (!shapes_dir) return vs_set(st, VS_EINVAL, "key '%s.%d.shards.%d': '%s' needs shapes.dir to be set", key, i, k, pat), NULL;
    int w = snprintf(buf, cap, "%s%s", shapes_dir, pat + nv);
    if (w < 0 || (size_t)w >= cap)
        return vs_set(st, VS_EINVAL, "key '%s.%d.shards.%d': pattern longer than %zu bytes", key, i, k, cap - 1), NULL;
    return buf;
}

int tr_sources_expand(const CfgList *data, const char *key, const char *shapes_dir, TrSources *out, VStatus *st) {
    memset(out, 0, sizeof *out);
    if (data->n > LD_MAX_SOURCES) return vs_set(st, VS_EINVAL, "key '%s': at most %d sources", key, LD_MAX_SOURCES);
    const TrSourceCfg *S = data->items;
    for (int i = 0; i < data->n; i++) {
        char **paths = NULL;
        int n = 0;
        for (int k = 0; k < S[i].shards.n; k++) {
            char buf[4200];
            const char *pat = resolve_pattern(S[i].shards.items[k], shapes_dir, buf, sizeof buf, key, i, k, st);
            glob_t g;
            int rc = pat ? glob(pat, 0, NULL, &g) : GLOB_NOMATCH;
            if (rc != 0 || g.gl_pathc == 0) {
                if (rc == 0) globfree(&g);
                for (int j = 0; j < n; j++) free(paths[j]);
                free(paths);
                out->n = i;
                tr_sources_free(out);
                if (!pat) return VS_EINVAL;   /* st says why */
                return vs_set(st, VS_EINVAL, "key '%s.%d.shards.%d': no file matches '%s'", key, i, k, pat);
            }
            char **np = realloc(paths, (size_t)(n + (int)g.gl_pathc) * sizeof *np);
            VLMC_ASSERT(np, "out of memory");
            paths = np;
            for (size_t j = 0; j < g.gl_pathc; j++) paths[n++] = strdup(g.gl_pathv[j]);
            globfree(&g);
        }
        out->paths[i] = paths;
        out->src[i] = (LdSource){.shards = (const char *const *)paths, .n_shards = n, .image_root = S[i].image_root,
                                 .weight = S[i].weight};
        out->n = i + 1;
    }
    return 0;
}

void tr_sources_free(TrSources *s) {
    for (int i = 0; i < s->n; i++) {
        for (int k = 0; k < s->src[i].n_shards; k++) free(s->paths[i][k]);
        free(s->paths[i]);
    }
    memset(s, 0, sizeof *s);
}

/* ---- micro-batch copies ---- */
static void *grow(void *p, size_t *cap, size_t need, size_t elt) {
    if (need <= *cap) return p;
    void *q = realloc(p, need * elt);
    VLMC_ASSERT(q, "out of memory (%zu bytes)", need * elt);
    *cap = need;
    return q;
}

int tr_host_from_batch(TrHost *h, const LdBatch *b, int tpi, int32_t image_token, VStatus *st) {
    size_t N = (size_t)b->B * (size_t)b->T, ct = h->cap_tok;
    h->tokens = grow(h->tokens, &ct, N, sizeof(int32_t));
    ct = h->cap_tok;
    h->targets = grow(h->targets, &ct, N, sizeof(int32_t));
    ct = h->cap_tok;
    h->pos = grow(h->pos, &ct, N, sizeof(int32_t));
    ct = h->cap_tok;
    h->doc = grow(h->doc, &ct, N, sizeof(int32_t));
    h->cap_tok = ct;
    memcpy(h->tokens, b->tokens, N * sizeof(int32_t));
    memcpy(h->targets, b->targets, N * sizeof(int32_t));
    memcpy(h->pos, b->pos, N * sizeof(int32_t));
    memcpy(h->doc, b->doc, N * sizeof(int32_t));
    size_t npx = (size_t)b->n_img * 3 * (size_t)b->S * (size_t)b->S;
    if (npx) {
        h->pixels = grow(h->pixels, &h->cap_px, npx, sizeof(float));
        memcpy(h->pixels, b->pixels, npx * sizeof(float));
    }
    size_t nr = (size_t)b->n_img * (size_t)tpi;
    if (nr) h->img_rows = grow(h->img_rows, &h->cap_rows, nr, sizeof(int32_t));
    for (int i = 0; i < b->n_span; i++) {
        const LdSpan *s = &b->spans[i];
        /* the run's placeholders, in order (tagged runs interleave them with tag tokens: data/formats.h) */
        const int32_t *tk = b->tokens + (size_t)s->row * b->T + s->start;
        int j = 0;
        for (int k = 0; k < s->len && j <= tpi; k++)
            if (tk[k] == image_token) {
                if (j < tpi) h->img_rows[(size_t)s->img * tpi + j] = s->row * b->T + s->start + k;
                j++;
            }
        if (j != tpi)
            return vs_set(st, VS_EINVAL, "batch: an image placeholder run with %d placeholders, the model takes %d per image",
                          j, tpi);
    }
    if (b->n_img && b->n_span != b->n_img)
        return vs_set(st, VS_EINVAL, "batch: %d images but %d placeholder runs", b->n_img, b->n_span);
    h->samples = 0;
    for (int i = 0; i < b->n_docs; i++) h->samples += b->docs[i].part == 0;
    h->vb = (VlmBatch){.B = b->B, .T = b->T, .tokens = h->tokens, .targets = h->targets, .pos = h->pos,
                       .doc = h->doc, .n_images = b->n_img, .pixels = npx ? h->pixels : NULL,
                       .img_rows = nr ? h->img_rows : NULL};
    return 0;
}

void tr_host_free(TrHost *h) {
    free(h->tokens); free(h->targets); free(h->pos); free(h->doc); free(h->img_rows); free(h->pixels);
    memset(h, 0, sizeof *h);
}

/* ---- model ---- */
static void vision_from_init(const TrVisionInit *v, VisionConfig *o) {
    memset(o, 0, sizeof *o);
    o->kind = v->kind == 0 ? VIS_CLIP : VIS_SIGLIP;
    o->hidden = v->hidden;
    o->intermediate = v->intermediate ? v->intermediate : 4 * v->hidden;
    o->layers = v->layers;
    o->heads = v->heads;
    o->image_size = v->image_size;
    o->patch_size = v->patch_size;
    o->ln_eps = (float)v->ln_eps;
    o->act = o->kind == VIS_CLIP ? ACT_QUICK_GELU : ACT_GELU_TANH;
    o->feature_layer = v->feature_layer;
    o->keep_cls = v->keep_cls;
    o->post_norm = v->post_norm;
}

/* The run's place tags for a model with tpi tokens per image: *side > 0 for
 * image_tags: grid (the tags are then "<row_r_col_c>" special tokens), and
 * *tags (NULL: none) tpi malloc'd texts (free with free_tags); tags NULL:
 * only checks the keys and sets *side. */
static int run_tags(const TrRunCfg *c, const VlmConfig *m, int *side, char ***tags, VStatus *st) {
    *side = 0;
    if (tags) *tags = NULL;
    int grid = c->image_tags && strcmp(c->image_tags, "none");
    if (grid && strcmp(c->image_tags, "grid"))
        return vs_set(st, VS_EINVAL, "key 'image_tags': '%s' is not none or grid", c->image_tags);
    if (grid && c->image_tag_text.n)
        return vs_set(st, VS_EINVAL, "key 'image_tag_text': give it or image_tags: grid, not both");
    if ((!grid && !c->image_tag_text.n) || !m->has_vision) return 0;
    int tpi = mcfg_tokens_per_image(m);
    if (grid) {
        int s = 1;
        while (s * s < tpi) s++;
        if (s * s != tpi)
            return vs_set(st, VS_EINVAL, "key 'image_tags': %d tokens per image are not a square grid", tpi);
        *side = s;
    } else if (c->image_tag_text.n != tpi) {
        return vs_set(st, VS_EINVAL, "key 'image_tag_text': %d texts, the model has %d tokens per image",
                      c->image_tag_text.n, tpi);
    }
    if (!tags) return 0;
    char **t = calloc((size_t)tpi + 1, sizeof *t);
    VLMC_ASSERT(t, "out of memory");
    for (int k = 0; k < tpi; k++) {
        char name[48];
        t[k] = strdup(grid ? ld_grid_tag(k, *side, name, sizeof name) : c->image_tag_text.items[k]);
        VLMC_ASSERT(t[k], "out of memory");
    }
    *tags = t;
    return 0;
}

static void free_tags(char **t) {
    for (int k = 0; t && t[k]; k++) free(t[k]);
    free(t);
}

/* tk: the run's tokenizer (a scratch copy) for a from-scratch model, whose
   vocabulary then holds "<image>" and the place tags; NULL: vocab as given */
static int build_model(Trainer *t, Tokenizer *tk, int vocab, VStatus *st) {
    const TrModelCfg *mc = &t->cfg->model;
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    lo.image_size = mc->image_size;
    lo.adapter_init_std = (float)mc->init.adapter.init_std;   /* vision_hf + llm_hf: the fresh adapter */
    int rc;
    if (mc->hf) {
        rc = hf_load(&t->vlm, mc->hf, t->be, &lo, st);
        if (rc) return vs_prefix(st, "key 'model.hf'");
    } else if (mc->vision_hf) {
        const TrAdapterInit *a = &mc->init.adapter;
        AdapterConfig ad = {.kind = (AdapterKind)a->kind, .bias = a->bias, .shuffle = a->shuffle};
        rc = hf_load_pair(&t->vlm, mc->vision_hf, mc->llm_hf, &ad, mc->feature_layer, mc->keep_cls, -1,
                          (uint64_t)t->cfg->seed, t->be, &lo, st);
        if (rc) return vs_prefix(st, "key 'model.vision_hf' / 'model.llm_hf'");
    } else {
        const TrInitCfg *in = &mc->init;
        VlmConfig c;
        memset(&c, 0, sizeof c);
        /* the layout whose Hugging Face class can hold this adapter, so
           checkpoints export: pixel shuffle is Idefics3's connector */
        c.layout = in->text_only                                    ? LAYOUT_TEXT
                   : in->adapter.kind == ADAPT_PIXEL_SHUFFLE_MLP ? LAYOUT_IDEFICS3
                                                                 : LAYOUT_LLAVA;
        c.has_vision = !in->text_only;
        if (c.has_vision) {
            vision_from_init(&in->vision, &c.vis);
            if (c.layout == LAYOUT_IDEFICS3) {
                /* Idefics3's vision tower is SigLIP with post_layernorm always on:
                   the model trained must be the model its checkpoint describes */
                if (c.vis.kind != VIS_SIGLIP)
                    return vs_set(st, VS_EINVAL, "key 'model.init.vision.kind': a pixel_shuffle_mlp adapter needs a siglip "
                                                 "encoder (the Idefics3 layout)");
                c.vis.post_norm = 1;
            }
            c.adapter = (AdapterConfig){.kind = (AdapterKind)in->adapter.kind, .bias = in->adapter.bias,
                                        .shuffle = in->adapter.shuffle};
        }
        const TrLlmInit *l = &in->llm;
        LlmConfig *L = &c.llm;
        L->hidden = l->hidden;
        L->intermediate = l->intermediate ? l->intermediate : 4 * l->hidden;
        L->layers = l->layers;
        L->heads = l->heads;
        L->kv_heads = l->kv_heads ? l->kv_heads : l->heads;
        L->head_dim = l->head_dim ? l->head_dim : (l->heads ? l->hidden / l->heads : 0);
        L->rms_eps = (float)l->rms_eps;
        L->rope = (RopeDesc){.theta = (float)l->rope_theta, .rot_dim = L->head_dim, .scaling = ROPE_NONE};
        L->qkv_bias = l->qkv_bias;
        L->tied = l->tied;
        L->arch_qwen2 = l->qkv_bias;
        L->max_pos = 4096;
        c.image_token_id = -1;
        c.init_std[COMP_ENCODER] = (float)in->vision.init_std;
        c.init_std[COMP_ADAPTER] = (float)in->adapter.init_std;
        c.init_std[COMP_LLM] = (float)l->init_std;
        L->vocab = vocab;
        if (tk) {   /* sized here, so new ids get random rows like every other (not grown as means) */
            int side = 0;
            if (run_tags(t->cfg, &c, &side, NULL, st)) return st->code;
            if (ld_add_image_specials(tk, c.has_vision ? mcfg_tokens_per_image(&c) : 0, side, st))
                return vs_prefix(st, "key 'tokenizer'");
            L->vocab = tok_vocab_size(tk);
        }
        if (l->vocab) L->vocab = l->vocab;
        if (mcfg_validate(&c, st)) return vs_prefix(st, "key 'model.init'");
        if ((rc = vlm_build(&t->vlm, &c, st))) return vs_prefix(st, "key 'model.init'");
        t->have_vlm = 1;
        if ((rc = vlm_allocate(&t->vlm, t->be, st))) return rc;
        if ((rc = vlm_init_random(&t->vlm, (uint64_t)t->cfg->seed, st))) return rc;
    }
    t->have_vlm = 1;
    t->vlm.recompute = mc->recompute;
    if (mc->xent_chunk) t->vlm.xent_chunk = mc->xent_chunk;
    return 0;
}

/* Opens the tokenizer codec (needs tokens per image) and the image codec. */
static int open_codecs(Trainer *t, int tpi, VStatus *st) {
    const TrRunCfg *c = t->cfg;
    if (!strcmp(c->tokenizer, "bytes")) {
        if ((c->image_tags && strcmp(c->image_tags, "none")) || c->image_tag_text.n)
            return vs_set(st, VS_EINVAL, "key 'image_tags': the bytes tokenizer has no place tags");
        t->tc = ld_codec_bytes(tpi);
    } else {
        t->tok = tok_load(c->tokenizer, st);
        if (!t->tok) return vs_prefix(st, "key 'tokenizer'");
        int side = 0;
        char **tags = NULL;
        if (run_tags(c, &t->vlm.cfg, &side, &tags, st)) return st->code;
        int rc = side ? ld_add_image_specials(t->tok, tpi, side, st) : 0;
        if (!rc) rc = ld_text_codec_tagged(t->tok, c->chat_format, tpi, (const char *const *)tags, &t->tc, st);
        free_tags(tags);
        if (rc) return vs_prefix(st, "key 'tokenizer'");
    }
    t->have_tc = 1;
    if (t->vlm.cfg.has_vision) {
        int S = c->image_size ? c->image_size : t->vlm.cfg.vis.image_size;
        if (ld_image_codec(c->image_preset, S, 0, &t->ic, st)) return vs_prefix(st, "key 'image_preset'");
        t->have_ic = 1;
    }
    return 0;
}

static int tokenizer_vocab(const Trainer *t) {
    if (t->tok) return tok_vocab_size(t->tok);
    return 263;   /* ld_codec_bytes: bytes, image, bos, eos, pad, 3 role markers */
}

/* ---- run directory / resume ---- */
static int mkdir_p(const char *path, VStatus *st) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return vs_set(st, VS_EIO, "%s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return vs_set(st, VS_EIO, "%s: %s", buf, strerror(errno));
    return 0;
}

typedef struct ResumeState {
    int found;
    char path[4200];
    int stage, threads, vocab, image_token, feature_cache;
    int64_t stage_step, stage_total, global_step, adam_step;
    char loader[LD_STATE_MAX];
} ResumeState;

static int read_state(const char *ckpt, ResumeState *r, VStatus *st) {
    char p[4400];
    snprintf(p, sizeof p, "%s/trainer.json", ckpt);
    json_error_t err;
    json_t *j = json_load_file(p, 0, &err);
    if (!j) return vs_set(st, VS_EINVAL, "%s: %s (line %d)", p, err.text, err.line);
    json_t *ld = json_object_get(j, "loader");
    r->stage = (int)json_integer_value(json_object_get(j, "stage"));
    r->stage_step = json_integer_value(json_object_get(j, "stage_step"));
    r->stage_total = json_integer_value(json_object_get(j, "stage_total"));
    r->global_step = json_integer_value(json_object_get(j, "global_step"));
    r->adam_step = json_integer_value(json_object_get(j, "adam_step"));
    r->threads = (int)json_integer_value(json_object_get(j, "threads"));
    r->feature_cache = (int)json_integer_value(json_object_get(j, "feature_cache"));   /* absent: off */
    r->vocab = (int)json_integer_value(json_object_get(j, "vocab"));
    r->image_token = (int)json_integer_value(json_object_get(j, "image_token"));
    snprintf(r->loader, sizeof r->loader, "%s", json_is_string(ld) ? json_string_value(ld) : "");
    int ok = json_is_integer(json_object_get(j, "global_step")) && json_is_integer(json_object_get(j, "stage"));
    json_decref(j);
    if (!ok) return vs_set(st, VS_EINVAL, "%s: missing stage / global_step", p);
    r->found = 1;
    snprintf(r->path, sizeof r->path, "%s", ckpt);
    return 0;
}

int trainer_open(Trainer **out, const TrRunCfg *cfg, const TrOpts *opts, VStatus *st) {
    *out = NULL;
    if (tr_cfg_check(cfg, st)) return st->code;
    Trainer *t = calloc(1, sizeof *t);
    if (!t) return vs_set(st, VS_ENOMEM, "trainer");
    t->cfg = cfg;
    if (opts) t->opts = *opts;
    t->log = t->opts.log ? t->opts.log : stderr;
    t->tty = isatty(fileno(t->log));
    snprintf(t->dir, sizeof t->dir, "%s", t->opts.out ? t->opts.out : cfg->out);
    t->threads = cfg->threads;
    t->last_ckpt_step = -1;
    int rc = 0;
    /* shard globs of every stage and of the eval split */
    t->stage_src = calloc((size_t)cfg->stages.n, sizeof *t->stage_src);
    if (!t->stage_src) { rc = vs_set(st, VS_ENOMEM, "stages"); goto fail; }
    const TrStageCfg *S = cfg->stages.items;
    for (int i = 0; i < cfg->stages.n && !rc; i++) {
        char key[64];
        snprintf(key, sizeof key, "stages.%d.data", i);
        rc = tr_sources_expand(&S[i].data, key, cfg->shapes.dir, &t->stage_src[i], st);
    }
    if (!rc && cfg->eval.data.n) rc = tr_sources_expand(&cfg->eval.data, "eval.data", cfg->shapes.dir, &t->eval_src, st);
    if (rc) goto fail;
    /* resume: the checkpoint's thread count wins (bit-identical reductions) */
    ResumeState rs;
    memset(&rs, 0, sizeof rs);
    if (t->opts.resume) {
        if ((rc = ckpt_dir_clean_stale(t->dir, st)) && access(t->dir, F_OK) == 0) goto fail;
        rc = 0;
        char path[4200];
        int r = ckpt_dir_latest(t->dir, path, sizeof path, st);
        if (r < 0) { rc = st->code; goto fail; }
        if (r == 0 && (rc = read_state(path, &rs, st))) goto fail;
        if (rs.found && rs.threads != cfg->threads) {
            fprintf(t->log, "resume: using the checkpoint's thread count %d (config: %d)\n", rs.threads, cfg->threads);
            t->threads = rs.threads;
        }
        if (!rs.found) fprintf(t->log, "resume: no checkpoint in %s, starting from the beginning\n", t->dir);
    }
    BackendOptions bo = {.name = cfg->backend, .threads = t->threads, .reserve_only = t->opts.reserve_only};
    t->be = be_create(&bo, st);
    if (!t->be) { rc = vs_prefix(st, "key 'backend'"); goto fail; }
    /* the tokenizer vocabulary sizes a from-scratch model; a bytes codec needs tokens per image first */
    if (!cfg->model.hf && !cfg->model.vision_hf && strcmp(cfg->tokenizer, "bytes")) {
        Tokenizer *tk = tok_load(cfg->tokenizer, st);
        if (!tk) { rc = vs_prefix(st, "key 'tokenizer'"); goto fail; }
        rc = build_model(t, tk, tok_vocab_size(tk), st);
        tok_free(tk);
    } else {
        rc = build_model(t, NULL, 263, st);
    }
    if (rc) goto fail;
    int tpi = mcfg_tokens_per_image(&t->vlm.cfg);
    if ((rc = open_codecs(t, tpi, st))) goto fail;
    /* the tokenizer's placeholder is the model's; a tokenizer with more ids grows the vocabulary */
    if (t->vlm.cfg.has_vision && t->vlm.cfg.image_token_id != t->tc.image_token) {
        if (t->vlm.cfg.image_token_id >= 0)
            fprintf(t->log, "model: image token id %d -> the tokenizer's %d\n", t->vlm.cfg.image_token_id,
                    t->tc.image_token);
        t->vlm.cfg.image_token_id = t->tc.image_token;
    }
    /* resume: the stages already started added their new tokens (in order); the
       stage in progress trains only its new rows when it says so */
    int v_stage = -1, rows_only = 0;
    if (rs.found && t->tok) {
        for (int i = 0; i < cfg->stages.n && (i < rs.stage || (i == rs.stage && rs.stage_step > 0)); i++) {
            if (i == rs.stage) {
                v_stage = tok_vocab_size(t->tok);
                rows_only = S[i].train_new_rows_only;
            }
            for (int k = 0; k < S[i].new_tokens.n; k++)
                if (tok_add_special(t->tok, S[i].new_tokens.items[k], st) < 0) {
                    rc = vs_prefix(st, "key 'stages.%d.new_tokens.%d'", i, k);
                    goto fail;
                }
        }
    }
    int need = tokenizer_vocab(t);
    if (rs.found && rs.vocab != need && rs.vocab > t->vlm.cfg.llm.vocab) {
        rc = vs_set(st, VS_EINVAL, "resume: the checkpoint has %d vocabulary rows, the tokenizer + new_tokens give %d",
                    rs.vocab, need);
        goto fail;
    }
    if (rows_only && v_stage > t->vlm.cfg.llm.vocab && (rc = vlm_grow_vocab(&t->vlm, v_stage, 0, st))) goto fail;
    if (need > t->vlm.cfg.llm.vocab) {
        fprintf(t->log, "model: vocabulary %d -> %d (the tokenizer's ids)\n", t->vlm.cfg.llm.vocab, need);
        if ((rc = vlm_grow_vocab(&t->vlm, need, rows_only, st))) goto fail;
    }
    if ((rc = tr_cfg_check_model(cfg, &t->vlm, st))) goto fail;
    if ((rc = mkdir_p(t->dir, st))) goto fail;
    /* the frozen-encoder feature cache; a resumed run keeps the checkpoint's on / off */
    int64_t fc_mb = cfg->feature_cache_mb >= 0 ? cfg->feature_cache_mb : strcmp(cfg->backend, "cpu") ? 0 : 1024;
    if (rs.found && rs.feature_cache != (fc_mb > 0)) {
        fprintf(t->log, "resume: feature cache %s as in the checkpoint (config: %s)\n", rs.feature_cache ? "on" : "off",
                fc_mb > 0 ? "on" : "off");
        fc_mb = rs.feature_cache ? 1024 : 0;
    }
    t->feature_cache = fc_mb > 0;
    if (t->feature_cache && t->vlm.cfg.has_vision) vlm_feature_cache(&t->vlm, (size_t)fc_mb << 20);
    if (rs.found) {
        if ((rc = tr_ckpt_load_weights(rs.path, &t->vlm, st))) goto fail;
        t->stage = rs.stage;
        t->stage_step = rs.stage_step;
        t->stage_total = rs.stage_total;
        t->global_step = rs.global_step;
        t->last_ckpt_step = rs.global_step;
        snprintf(t->ld_state, sizeof t->ld_state, "%s", rs.loader);
        if (rs.stage_step > 0) snprintf(t->resume_ckpt, sizeof t->resume_ckpt, "%s", rs.path);
        t->resume_adam_step = rs.adam_step;
        fprintf(t->log, "resume: %s (stage %d, step %lld of the stage, global step %lld)\n", rs.path, rs.stage,
                (long long)rs.stage_step, (long long)rs.global_step);
    }
    /* the resolved config next to the checkpoints */
    char p[4200];
    snprintf(p, sizeof p, "%s/config.yaml", t->dir);
    FILE *f = fopen(p, "w");
    if (!f) { rc = vs_set(st, VS_EIO, "%s: %s", p, strerror(errno)); goto fail; }
    cfg_print(&tr_run_schema, cfg, f);
    if (fclose(f) != 0) { rc = vs_set(st, VS_EIO, "%s: write failed", p); goto fail; }
    if ((rc = metrics_open(&t->ml, t->dir, rs.found, rs.found ? rs.global_step : -1, st))) goto fail;
    t->have_ml = 1;
    *out = t;
    return 0;
fail:
    trainer_close(t);
    return rc ? rc : st->code;
}

void trainer_close(Trainer *t) {
    if (!t) return;
    if (t->have_ml) metrics_close(&t->ml);
    for (int i = 0; i < t->mb_cap; i++) tr_host_free(&t->mb[i]);
    free(t->mb);
    free(t->vb);
    tr_optim_free(&t->opt);
    if (t->have_vlm) vlm_free(&t->vlm);
    if (t->have_ic) ld_image_codec_free(&t->ic);
    if (t->have_tc && t->tok) ld_text_codec_free(&t->tc);
    if (t->tok) tok_free(t->tok);
    if (t->stage_src)
        for (int i = 0; i < t->cfg->stages.n; i++) tr_sources_free(&t->stage_src[i]);
    free(t->stage_src);
    tr_sources_free(&t->eval_src);
    if (t->be) be_destroy(t->be);
    free(t);
}

Vlm *trainer_model(Trainer *t) { return &t->vlm; }
const LdTextCodec *trainer_text(const Trainer *t) { return &t->tc; }
const LdImageCodec *trainer_image(const Trainer *t) { return t->have_ic ? &t->ic : NULL; }
const char *trainer_dir(const Trainer *t) { return t->dir; }
int64_t trainer_global_step(const Trainer *t) { return t->global_step; }
