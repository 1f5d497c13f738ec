/* train/run_config.c — field tables of the run recipe and its semantic checks
 * (see run_config.h). Defaults are chosen so a recipe states only what
 * differs: AdamW betas (0.9, 0.999), eps 1e-8, cosine schedule without
 * warmup, clip 1.0, one micro-step per optimizer step. */
#include "train/run_config.h"

#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"
#include "train/schedule.h"

static const char *const regime_names[] = {"pairs", "interleaved", "instruct", "sft", "dpo", NULL};
static const char *const sched_names[] = {"constant", "linear", "cosine", "wsd", NULL};
static const char *const decay_names[] = {"linear", "cosine", "sqrt", NULL};
static const char *const vis_names[] = {"clip", "siglip", NULL};
static const char *const adapter_names[] = {"linear", "mlp", "pixel_shuffle_mlp", NULL};

static const CfgField source_fields[] = {
    CFG_STRLIST(TrSourceCfg, shards, NULL, "shard paths or globs (tar, h5, json, jsonl); a leading ${shapes.dir} is shapes.dir"),
    CFG_DOUBLE(TrSourceCfg, weight, "1", 1e-12, 1e12, "mixing weight"),
    CFG_STRING(TrSourceCfg, image_root, NULL, "folder json image paths are relative to (null: the shard's)"),
};
static const CfgSchema source_schema = CFG_SCHEMA("source", TrSourceCfg, source_fields);

static const CfgField group_fields[] = {
    CFG_STRING(TrGroupCfg, match, NULL, "component (encoder|adapter|llm) or fnmatch glob over HF names"),
    CFG_DOUBLE(TrGroupCfg, lr, "1e-4", 0, 10, "peak learning rate of the group"),
    CFG_DOUBLE(TrGroupCfg, weight_decay, "-1", -1, 10, "weight decay (-1: the stage's)"),
};
static const CfgSchema group_schema = CFG_SCHEMA("group", TrGroupCfg, group_fields);

static const CfgField sched_fields[] = {
    CFG_ENUM(TrSchedCfg, kind, sched_names, "cosine", "constant | linear | cosine | wsd"),
    CFG_INT64(TrSchedCfg, warmup, "0", 0, 1e15, "linear warm-up steps"),
    CFG_DOUBLE(TrSchedCfg, min_lr_ratio, "0", 0, 1, "floor as a fraction of the peak (cosine, wsd)"),
    CFG_INT64(TrSchedCfg, decay, "0", 0, 1e15, "wsd: decay steps at the end"),
    CFG_ENUM(TrSchedCfg, decay_shape, decay_names, "linear", "wsd decay: linear | cosine | sqrt"),
};
static const CfgSchema sched_schema = CFG_SCHEMA("schedule", TrSchedCfg, sched_fields);

static const CfgField stage_fields[] = {
    CFG_STRING(TrStageCfg, name, "\"stage\"", "stage name (metrics, plot)"),
    CFG_ENUM(TrStageCfg, regime, regime_names, "pairs", "pairs | interleaved | instruct | sft (dpo: not built yet)"),
    CFG_LIST(TrStageCfg, data, &source_schema, "data sources mixed by weight"),
    CFG_INT(TrStageCfg, T, "256", 2, 1 << 20, "tokens per row"),
    CFG_INT(TrStageCfg, batch, "8", 1, 1 << 20, "global rows per micro-step"),
    CFG_INT64(TrStageCfg, accum_tokens, "0", 0, 1e15, "accumulate micro-steps up to this many loss tokens (0: off)"),
    CFG_INT64(TrStageCfg, accum_samples, "0", 0, 1e15, "accumulate micro-steps up to this many samples (0: off)"),
    CFG_INT(TrStageCfg, accum_steps, "1", 1, 1 << 20, "micro-steps per optimizer step (when no token/sample target)"),
    CFG_INT64(TrStageCfg, steps, "0", 0, 1e15, "optimizer steps (0: from time_s)"),
    CFG_DOUBLE(TrStageCfg, time_s, "0", 0, 1e9, "wall-clock budget in seconds (0: none)"),
    CFG_STRLIST(TrStageCfg, trainable, NULL, "components (encoder|adapter|llm) and/or HF-name globs; empty: all"),
    CFG_LIST(TrStageCfg, groups, &group_schema, "per-group learning rates (first match wins)"),
    CFG_DOUBLE(TrStageCfg, lr, "1e-4", 0, 10, "peak learning rate of parameters in no group"),
    CFG_DOUBLE(TrStageCfg, weight_decay, "0", 0, 10, "AdamW weight decay (never on 1-D params)"),
    CFG_DOUBLE(TrStageCfg, beta1, "0.9", 0, 0.999999, "AdamW beta1"),
    CFG_DOUBLE(TrStageCfg, beta2, "0.999", 0, 0.999999999, "AdamW beta2"),
    CFG_DOUBLE(TrStageCfg, eps, "1e-8", 0, 1, "AdamW epsilon"),
    CFG_STRUCT(TrStageCfg, schedule, &sched_schema, "learning-rate schedule"),
    CFG_DOUBLE(TrStageCfg, clip, "1", 0, 1e12, "global gradient-norm clip (0: off)"),
    CFG_INT(TrStageCfg, max_nonfinite, "5", 1, INT_MAX, "stop after this many NaN/Inf steps in a row"),
    CFG_BOOL(TrStageCfg, train_new_rows_only, "false", "only the new_tokens rows of embedding / lm-head train"),
    CFG_STRLIST(TrStageCfg, new_tokens, NULL, "tokens added to the vocabulary when the stage starts"),
    CFG_INT(TrStageCfg, shuffle_buffer, "1024", 0, 1 << 30, "loader shuffle buffer (records)"),
    CFG_STRING(TrStageCfg, objective, "lm", "lm (dpo: a later issue)"),
};
static const CfgSchema stage_schema = CFG_SCHEMA("stage", TrStageCfg, stage_fields);

static const CfgField vis_fields[] = {
    CFG_ENUM(TrVisionInit, kind, vis_names, "siglip", "clip | siglip"),
    CFG_INT(TrVisionInit, hidden, "64", 1, 1 << 16, "hidden size"),
    CFG_INT(TrVisionInit, intermediate, "0", 0, 1 << 18, "MLP size (0: 4 * hidden)"),
    CFG_INT(TrVisionInit, layers, "2", 1, 1024, "layers"),
    CFG_INT(TrVisionInit, heads, "4", 1, 1024, "attention heads"),
    CFG_INT(TrVisionInit, image_size, "64", 1, 1 << 14, "image side (pixels)"),
    CFG_INT(TrVisionInit, patch_size, "8", 1, 1024, "patch side (pixels)"),
    CFG_INT(TrVisionInit, feature_layer, "-1", -1024, 1024, "HF hidden_states index of the features"),
    CFG_BOOL(TrVisionInit, keep_cls, "false", "CLIP: keep the CLS row"),
    CFG_BOOL(TrVisionInit, post_norm, "false", "apply post_layernorm to the features (not exportable in the LLaVA layout; always on with pixel_shuffle_mlp, the Idefics3 layout)"),
    CFG_DOUBLE(TrVisionInit, ln_eps, "1e-6", 0, 1, "layer-norm epsilon"),
    CFG_DOUBLE(TrVisionInit, init_std, "0.02", 1e-6, 1, "std of the normal init of matrices and embeddings (Hugging Face initializer_range)"),
};
static const CfgSchema vis_schema = CFG_SCHEMA("vision", TrVisionInit, vis_fields);

static const CfgField adapter_fields[] = {
    CFG_ENUM(TrAdapterInit, kind, adapter_names, "mlp", "linear | mlp | pixel_shuffle_mlp"),
    CFG_BOOL(TrAdapterInit, bias, "true", "linear / mlp biases"),
    CFG_INT(TrAdapterInit, shuffle, "2", 1, 64, "pixel shuffle factor"),
    CFG_DOUBLE(TrAdapterInit, init_std, "0.02", 1e-6, 1, "std of the normal init of its matrices (also the fresh adapter of vision_hf + llm_hf)"),
};
static const CfgSchema adapter_schema = CFG_SCHEMA("adapter", TrAdapterInit, adapter_fields);

static const CfgField llm_fields[] = {
    CFG_INT(TrLlmInit, vocab, "0", 0, 1 << 24, "vocabulary (0: the tokenizer's)"),
    CFG_INT(TrLlmInit, hidden, "64", 1, 1 << 16, "hidden size"),
    CFG_INT(TrLlmInit, intermediate, "0", 0, 1 << 18, "MLP size (0: 4 * hidden)"),
    CFG_INT(TrLlmInit, layers, "2", 1, 1024, "layers"),
    CFG_INT(TrLlmInit, heads, "4", 1, 1024, "attention heads"),
    CFG_INT(TrLlmInit, kv_heads, "0", 0, 1024, "key/value heads (0: heads)"),
    CFG_INT(TrLlmInit, head_dim, "0", 0, 4096, "head dim (0: hidden / heads)"),
    CFG_DOUBLE(TrLlmInit, rms_eps, "1e-5", 0, 1, "RMSNorm epsilon"),
    CFG_DOUBLE(TrLlmInit, rope_theta, "10000", 1, 1e12, "RoPE base"),
    CFG_BOOL(TrLlmInit, tied, "true", "lm-head shares the embedding"),
    CFG_BOOL(TrLlmInit, qkv_bias, "false", "q/k/v biases (Qwen2)"),
    CFG_DOUBLE(TrLlmInit, init_std, "0.02", 1e-6, 1, "std of the normal init of matrices and embeddings (Hugging Face initializer_range)"),
};
static const CfgSchema llm_schema = CFG_SCHEMA("llm", TrLlmInit, llm_fields);

static const CfgField init_fields[] = {
    CFG_BOOL(TrInitCfg, text_only, "false", "no vision encoder / adapter"),
    CFG_STRUCT(TrInitCfg, vision, &vis_schema, "vision encoder (from scratch)"),
    CFG_STRUCT(TrInitCfg, adapter, &adapter_schema, "adapter (also for vision_hf + llm_hf)"),
    CFG_STRUCT(TrInitCfg, llm, &llm_schema, "language model (from scratch)"),
};
static const CfgSchema init_schema = CFG_SCHEMA("init", TrInitCfg, init_fields);

static const CfgField model_fields[] = {
    CFG_STRUCT(TrModelCfg, init, &init_schema, "from-scratch model (when no hf path is set)"),
    CFG_STRING(TrModelCfg, hf, NULL, "Hugging Face model directory (LLaVA, Idefics3, text LLM)"),
    CFG_STRING(TrModelCfg, vision_hf, NULL, "vision tower directory, joined with llm_hf"),
    CFG_STRING(TrModelCfg, llm_hf, NULL, "language model directory, joined with vision_hf"),
    CFG_INT(TrModelCfg, feature_layer, "-2", -1024, 1024, "vision_hf + llm_hf: feature layer"),
    CFG_BOOL(TrModelCfg, keep_cls, "false", "vision_hf + llm_hf: keep CLIP's CLS row"),
    CFG_INT(TrModelCfg, image_size, "0", 0, 1 << 14, "run image size (0: the checkpoint's)"),
    CFG_BOOL(TrModelCfg, recompute, "false", "recompute block activations in backward"),
    CFG_INT64(TrModelCfg, xent_chunk, "0", 0, 1 << 30, "rows per cross-entropy chunk (0: model default)"),
};
static const CfgSchema model_schema = CFG_SCHEMA("model", TrModelCfg, model_fields);

static const CfgField ckpt_fields[] = {
    CFG_INT64(TrCkptCfg, every, "0", 0, 1e15, "global steps between checkpoints (0: stage ends only)"),
    CFG_INT(TrCkptCfg, keep_last, "2", 1, 1 << 20, "checkpoints kept (plus milestones)"),
    CFG_INT64(TrCkptCfg, milestone_every, "0", 0, 1e15, "keep checkpoints at multiples of this step (0: none)"),
};
static const CfgSchema ckpt_schema = CFG_SCHEMA("checkpoint", TrCkptCfg, ckpt_fields);

static const CfgField eval_fields[] = {
    CFG_INT64(TrEvalCfg, every, "0", 0, 1e15, "global steps between evals (0: stage ends only)"),
    CFG_LIST(TrEvalCfg, data, &source_schema, "held-out sources (empty: no eval loss)"),
    CFG_INT(TrEvalCfg, batches, "4", 1, 1 << 20, "global batches per eval"),
    CFG_INT(TrEvalCfg, T, "0", 0, 1 << 20, "tokens per row (0: the stage's)"),
    CFG_INT(TrEvalCfg, batch, "0", 0, 1 << 20, "rows per batch (0: the stage's)"),
    CFG_ENUM(TrEvalCfg, regime, regime_names, "pairs", "regime of the held-out split"),
};
static const CfgSchema eval_schema = CFG_SCHEMA("eval", TrEvalCfg, eval_fields);

static const CfgField shapes_fields[] = {
    CFG_STRING(TrShapesCfg, dir, NULL, "shapes shards folder, written when absent (null: no demo)"),
    CFG_INT64(TrShapesCfg, seed, "1", 0, 9.2e18, "shapes world seed"),
    CFG_INT(TrShapesCfg, samples, "4000", 8, 100000000, "scenes for pairs / instruct (other sets scale from it)"),
    CFG_INT(TrShapesCfg, heldout, "50", 1, 1000000, "held-out questions written per (type, language)"),
    CFG_INT(TrShapesCfg, eval, "40", 0, 1000000, "questions per (type, language) in the final accuracy eval (0: off)"),
    CFG_BOOL(TrShapesCfg, track, "false", "multiple-choice accuracy at each stage end (and every eval.every steps) into the log and metrics.jsonl"),
};
static const CfgSchema shapes_schema = CFG_SCHEMA("shapes", TrShapesCfg, shapes_fields);

static const CfgField run_fields[] = {
    CFG_INT64(TrRunCfg, seed, "1", 0, 9.2e18, "seed (model init, data order)"),
    CFG_INT(TrRunCfg, threads, "0", 0, 4096, "CPU threads (0: runtime default)"),
    CFG_STRING(TrRunCfg, backend, "cpu", "cpu | cuda"),
    CFG_STRING(TrRunCfg, out, "runs/run", "run directory"),
    CFG_STRUCT(TrRunCfg, model, &model_schema, "the model"),
    CFG_STRING(TrRunCfg, tokenizer, "bytes", "\"bytes\" or a tokenizer.json path"),
    CFG_STRING(TrRunCfg, chat_format, "chatml", "chat template for instruct / sft"),
    CFG_STRING(TrRunCfg, image_preset, "siglip", "image processor preset (clip | siglip | ...)"),
    CFG_STRING(TrRunCfg, image_tags, "none",
               "none | grid: a place tag <row_r_col_c> before each image token (a square grid of them)"),
    CFG_STRLIST(TrRunCfg, image_tag_text, NULL, "texts rendered before each image token (one per token; not with grid)"),
    CFG_INT(TrRunCfg, image_size, "0", 0, 1 << 14, "image side (0: the model's)"),
    CFG_INT(TrRunCfg, workers, "0", 0, 256, "loader worker threads (0: 2)"),
    CFG_INT(TrRunCfg, prefetch, "0", 0, 256, "loader batches ahead (0: 2)"),
    CFG_INT(TrRunCfg, feature_cache_mb, "-1", -1, 1 << 20,
            "frozen-encoder feature cache, MiB of host memory (-1: 1024 on cpu, off on cuda; 0: off)"),
    CFG_STRUCT(TrRunCfg, checkpoint, &ckpt_schema, "checkpoint cadence"),
    CFG_STRUCT(TrRunCfg, eval, &eval_schema, "periodic eval"),
    CFG_LIST(TrRunCfg, stages, &stage_schema, "the stages, in order"),
    CFG_STRUCT(TrRunCfg, shapes, &shapes_schema, "the shapes demo's data and accuracy eval (train/demo_shapes.h)"),
};
const CfgSchema tr_run_schema = CFG_SCHEMA("run", TrRunCfg, run_fields);

static int is_component(const char *s) { return !strcmp(s, "encoder") || !strcmp(s, "adapter") || !strcmp(s, "llm"); }

int tr_cfg_check(const TrRunCfg *c, VStatus *st) {
    if (c->stages.n == 0) return vs_set(st, VS_EINVAL, "key 'stages': a run needs at least one stage");
    const TrModelCfg *m = &c->model;
    if (m->hf && (m->vision_hf || m->llm_hf))
        return vs_set(st, VS_EINVAL, "key 'model.hf': give either hf or vision_hf + llm_hf, not both");
    if (!!m->vision_hf != !!m->llm_hf)
        return vs_set(st, VS_EINVAL, "key 'model.%s': vision_hf and llm_hf go together", m->vision_hf ? "llm_hf" : "vision_hf");
    if (strcmp(c->backend, "cpu") && strcmp(c->backend, "cuda"))
        return vs_set(st, VS_EINVAL, "key 'backend': '%s' is not cpu or cuda", c->backend);
    const TrStageCfg *S = c->stages.items;
    for (int i = 0; i < c->stages.n; i++) {
        const TrStageCfg *s = &S[i];
        if (s->regime == LD_DPO || strcmp(s->objective, "lm"))
            return vs_set(st, VS_EUNSUP, "key 'stages.%d.%s': %s is not built yet (the DPO issue adds it)", i,
                          s->regime == LD_DPO ? "regime" : "objective", s->regime == LD_DPO ? "dpo" : s->objective);
        if (s->data.n == 0) return vs_set(st, VS_EINVAL, "key 'stages.%d.data': a stage needs at least one source", i);
        const TrSourceCfg *src = s->data.items;
        for (int k = 0; k < s->data.n; k++)
            if (src[k].shards.n == 0) return vs_set(st, VS_EINVAL, "key 'stages.%d.data.%d.shards': no shards", i, k);
        if (s->steps == 0 && s->time_s == 0)
            return vs_set(st, VS_EINVAL, "key 'stages.%d.steps': give steps or time_s", i);
        if (s->schedule.kind == SCHED_WSD && s->steps && s->schedule.warmup + s->schedule.decay > s->steps)
            return vs_set(st, VS_EINVAL, "key 'stages.%d.schedule.decay': warmup + decay > steps", i);
        if (s->train_new_rows_only && s->new_tokens.n == 0)
            return vs_set(st, VS_EINVAL, "key 'stages.%d.train_new_rows_only': needs new_tokens", i);
        const TrGroupCfg *g = s->groups.items;
        for (int k = 0; k < s->groups.n; k++)
            if (!g[k].match || !g[k].match[0])
                return vs_set(st, VS_EINVAL, "key 'stages.%d.groups.%d.match': missing", i, k);
    }
    if (c->eval.regime == LD_DPO) return vs_set(st, VS_EUNSUP, "key 'eval.regime': dpo is not built yet");
    const TrSourceCfg *ev = c->eval.data.items;
    for (int k = 0; k < c->eval.data.n; k++)
        if (ev[k].shards.n == 0) return vs_set(st, VS_EINVAL, "key 'eval.data.%d.shards': no shards", k);
    return 0;
}

/* does pattern (a component name or a glob) select entry p? */
int tr_match_param(const char *pattern, const Param *p) {
    if (is_component(pattern)) return !strcmp(pt_comp_name(p->comp), pattern);
    return fnmatch(pattern, p->name, 0) == 0;
}

int tr_cfg_check_model(const TrRunCfg *c, const Vlm *m, VStatus *st) {
    const TrStageCfg *S = c->stages.items;
    for (int i = 0; i < c->stages.n; i++) {
        const TrStageCfg *s = &S[i];
        for (int k = 0; k < s->trainable.n; k++) {
            int hit = 0;
            for (int j = 0; j < m->pt.n && !hit; j++) hit = tr_match_param(s->trainable.items[k], &m->pt.p[j]);
            if (!hit)
                return vs_set(st, VS_EINVAL, "key 'stages.%d.trainable.%d': '%s' matches no parameter of the model", i, k,
                              s->trainable.items[k]);
        }
        const TrGroupCfg *g = s->groups.items;
        for (int k = 0; k < s->groups.n; k++) {
            int hit = 0;
            for (int j = 0; j < m->pt.n && !hit; j++) hit = tr_match_param(g[k].match, &m->pt.p[j]);
            if (!hit)
                return vs_set(st, VS_EINVAL, "key 'stages.%d.groups.%d.match': '%s' matches no parameter of the model", i,
                              k, g[k].match);
        }
    }
    return 0;
}

int tr_cfg_load(TrRunCfg *c, const char *path, int n_over, char *const *over, VStatus *st) {
    if (cfg_load(&tr_run_schema, c, path, n_over, over, st)) return st->code;
    if (tr_cfg_check(c, st)) {
        vs_prefix(st, "%s", path ? path : "config");
        cfg_free(&tr_run_schema, c);
        return st->code;
    }
    return 0;
}

uint64_t tr_cfg_hash(const TrRunCfg *c) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return 0;
    cfg_print(&tr_run_schema, c, f);
    fclose(f);
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)buf[i]; h *= 1099511628211ULL; }
    free(buf);
    return h;
}
