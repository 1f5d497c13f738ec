/* train/run_config.h — the run recipe: typed structs + core/config field tables.
 *
 * A run (`vlmc train RUN.yaml`) is run-level settings (seed, threads, backend,
 * output directory, the model, tokenizer and image preprocessing, checkpoint
 * and eval cadence) plus a list of stages. Every key, its default and range is
 * in the field tables of train/run_config.c (`vlmc train --help-config` prints
 * them). Example:
 *
 *   seed: 1
 *   out: runs/demo
 *   model:
 *     init: {vision: {kind: siglip, hidden: 64, layers: 2, heads: 4, image_size: 64, patch_size: 8},
 *            adapter: {kind: mlp}, llm: {hidden: 64, layers: 2, heads: 4, kv_heads: 2}}
 *     # or hf: DIR   |   vision_hf: DIR + llm_hf: DIR
 *   tokenizer: bytes            # or a tokenizer.json path
 *   stages:
 *     - name: pairs
 *       regime: pairs
 *       data: [{shards: ["data/pairs-*.jsonl"], weight: 1}]
 *       T: 128
 *       batch: 8
 *       steps: 200
 *       trainable: [adapter, llm]          # components, or fnmatch globs over HF names
 *       lr: 3e-4
 *       groups: [{match: adapter, lr: 1e-3}]
 *       schedule: {kind: cosine, warmup: 10, min_lr_ratio: 0.1}
 *
 * Semantics checked by tr_cfg_check (before any work; messages name the
 * dotted key, e.g. "stages.1.trainable.0"): at least one stage; regime dpo is
 * "not built yet"; lr, weight decay >= 0 (the field ranges); a stage with
 * neither steps nor time_s; model: exactly one of init / hf / vision_hf+llm_hf.
 * Globs are checked against the model's names once it exists
 * (tr_cfg_check_model): a trainable entry or group match that matches no
 * parameter is an error naming its key.
 */
#ifndef VLMC_TRAIN_RUN_CONFIG_H
#define VLMC_TRAIN_RUN_CONFIG_H

#include <stdint.h>

#include "core/config.h"
#include "model/vlm.h"

/* one data source of a stage (a shard glob list mixed by weight) */
typedef struct TrSourceCfg {
    CfgStrList shards;     /* globs (glob(3)), relative to the working directory */
    double weight;
    char *image_root;      /* json/jsonl image paths are relative to it (NULL: the shard's folder) */
} TrSourceCfg;

/* a learning-rate group: the first group whose `match` fits a parameter wins */
typedef struct TrGroupCfg {
    char *match;           /* a component name (encoder|adapter|llm) or an fnmatch glob over HF names */
    double lr;             /* peak lr */
    double weight_decay;   /* < 0: the stage's */
} TrGroupCfg;

typedef struct TrSchedCfg {
    int kind;              /* SchedKind: constant|linear|cosine|wsd */
    int64_t warmup;
    double min_lr_ratio;
    int64_t decay;         /* wsd decay steps */
    int decay_shape;       /* SchedDecay: linear|cosine|sqrt */
} TrSchedCfg;

typedef struct TrStageCfg {
    char *name;
    int regime;            /* LdRegime */
    CfgList data;          /* TrSourceCfg */
    int T;                 /* tokens per row */
    int batch;             /* global rows per micro-step */
    int64_t accum_tokens;  /* accumulate micro-steps until this many loss tokens (0: off) */
    int64_t accum_samples; /* ... or this many samples (0: off) */
    int accum_steps;       /* ... or exactly this many micro-steps (default 1) */
    int64_t steps;         /* optimizer steps (0: set from time_s after calibration) */
    double time_s;         /* wall-clock budget (0: none) */
    CfgStrList trainable;  /* components and/or globs; empty = everything */
    CfgList groups;        /* TrGroupCfg */
    double lr, weight_decay, beta1, beta2, eps;
    TrSchedCfg schedule;
    double clip;           /* global grad-norm clip (0: off) */
    int max_nonfinite;     /* stop after this many skipped (NaN/Inf) steps in a row */
    int train_new_rows_only;  /* with new_tokens: only the new embedding/lm-head rows train */
    CfgStrList new_tokens; /* tokens added to the vocabulary at the start of the stage */
    int shuffle_buffer;
    char *objective;       /* "lm" (dpo: a later issue) */
} TrStageCfg;

typedef struct TrVisionInit {
    int kind;              /* VisionKind: clip|siglip */
    int hidden, intermediate, layers, heads, image_size, patch_size, feature_layer, keep_cls, post_norm;
    double ln_eps, init_std;
} TrVisionInit;

typedef struct TrAdapterInit {
    int kind;              /* AdapterKind: linear|mlp|pixel_shuffle_mlp */
    int bias, shuffle;
    double init_std;
} TrAdapterInit;

typedef struct TrLlmInit {
    int vocab;             /* 0: the tokenizer's size */
    int hidden, intermediate, layers, heads, kv_heads, head_dim;
    double rms_eps, rope_theta, init_std;
    int tied, qkv_bias;
} TrLlmInit;

typedef struct TrInitCfg {
    int text_only;
    TrVisionInit vision;
    TrAdapterInit adapter;
    TrLlmInit llm;
} TrInitCfg;

typedef struct TrModelCfg {
    TrInitCfg init;        /* used when neither hf nor vision_hf/llm_hf is set */
    char *hf;              /* a LLaVA / Idefics3 / text LLM directory */
    char *vision_hf, *llm_hf;   /* joined with a fresh adapter (adapter from init.adapter) */
    int feature_layer, keep_cls;   /* vision_hf + llm_hf */
    int image_size;        /* 0: the checkpoint's */
    int recompute;
    int64_t xent_chunk;
} TrModelCfg;

typedef struct TrCkptCfg {
    int64_t every;         /* global steps between checkpoints (0: stage ends and run end only) */
    int keep_last;
    int64_t milestone_every;
} TrCkptCfg;

typedef struct TrEvalCfg {
    int64_t every;         /* global steps between evals (0: off; also run at each stage end when data is set) */
    CfgList data;          /* TrSourceCfg: the held-out split */
    int batches;           /* global batches per eval */
    int T, batch;          /* 0: the current stage's */
    int regime;            /* LdRegime of the held-out split */
} TrEvalCfg;

/* the embedded shapes demo (configs/shapes.yaml, train/demo_shapes.h) */
typedef struct TrShapesCfg {
    char *dir;             /* shapes shards folder, written when absent (NULL: no demo) */
    int64_t seed;
    int samples, heldout;  /* as data/shapes_data.h's ShWriteOpts */
    int eval;              /* held-out questions per (type, language) in the final accuracy eval (0: off) */
    int track;             /* mc accuracy at every trainer eval (stage ends, eval.every) into the log and metrics */
} TrShapesCfg;

typedef struct TrRunCfg {
    int64_t seed;
    int threads;
    char *backend;
    char *out;
    TrModelCfg model;
    char *tokenizer;       /* "bytes" or a tokenizer.json path */
    char *chat_format;
    char *image_preset;
    char *image_tags;      /* "none" | "grid" (data/loader.h, ld_text_codec_tagged) */
    CfgStrList image_tag_text;   /* or these texts before the image tokens, one per token */
    int image_size;        /* 0: the model's */
    int workers, prefetch;
    int feature_cache_mb;  /* frozen-encoder feature cache (-1: 1024 on cpu, 0 on cuda; 0: off) */
    TrCkptCfg checkpoint;
    TrEvalCfg eval;
    CfgList stages;        /* TrStageCfg */
    TrShapesCfg shapes;
} TrRunCfg;

extern const CfgSchema tr_run_schema;

/* cfg_load + tr_cfg_check. On error nothing is left to free. */
int tr_cfg_load(TrRunCfg *c, const char *path, int n_over, char *const *over, VStatus *st);
/* Static semantic checks (see the top). */
int tr_cfg_check(const TrRunCfg *c, VStatus *st);
/* Checks every trainable entry and group match of every stage against the
 * model's parameter names (each must match at least one). */
int tr_cfg_check_model(const TrRunCfg *c, const Vlm *m, VStatus *st);
/* Does pattern (a component name, or an fnmatch glob over HF names) select p? */
int tr_match_param(const char *pattern, const Param *p);
/* FNV-1a of the resolved config text (stored in checkpoints). */
uint64_t tr_cfg_hash(const TrRunCfg *c);

#endif
