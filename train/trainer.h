/* train/trainer.h — the trainer: stages over one Vlm, AdamW with parameter
 * groups, gradient accumulation, clipping, the NaN/Inf guard, checkpoints,
 * resume, metrics and eval.
 *
 * Two levels:
 *  - the step API (TrOptim, tr_step): one optimizer step over a list of
 *    micro-batches. Golden tests drive it directly with fixed batches.
 *  - the run API (Trainer): opens a run recipe (train/run_config.h), builds
 *    or loads the model, runs its stages through the loader, writes the run
 *    directory. `vlmc train` is a thin CLI over it; the shapes demo calls it
 *    too and plugs its accuracy eval in through TrEvalHook.
 *
 * Step semantics (tr_step): gradients are zeroed; every micro-batch's loss
 * tokens are counted first, so each forward gets loss_weight = 1 / (loss
 * tokens of the whole step) and the accumulated gradient is that of the
 * mean over all loss tokens (packing and accumulation do not reweight
 * samples). Then the global gradient norm over trainable entries (op_sumsq,
 * fixed order) -> clip scale min(1, clip / (norm + 1e-6)) (torch
 * clip_grad_norm_) -> op_adamw per trainable entry with its group's lr * the
 * schedule factor and its weight decay (0 for 1-D entries: norms and biases).
 * A non-finite loss or norm skips the update (weights and moments untouched,
 * the AdamW step counter not advanced) and is reported in TrStepStats.
 *
 * Objectives: tr_step is the LM objective (every regime: pairs, interleaved,
 * instruct, sft differ only in which targets the loader keeps). A stage's
 * `objective` other than "lm" (and regime dpo) is rejected at config time;
 * DPO plugs in as another step function over paired rows (LdBatch.pair) with
 * the same optimizer half (norm, clip, guard, AdamW: the tail of tr_step).
 *
 * Determinism: on the CPU backend with a fixed thread count every reduction
 * has a fixed order, so a run resumed from a checkpoint reproduces the
 * uninterrupted run's losses exactly (the thread count is in the checkpoint
 * and wins over the config on resume).
 *
 * Run directory (RUN = --out or cfg.out):
 *   RUN/config.yaml      the resolved config (cfg_print)
 *   RUN/metrics.jsonl    one row per optimizer step (train/metrics.h), plus eval rows
 *   RUN/ckpt-STEP/       model.safetensors (HF names) + config.json (vlmc convert / transformers),
 *                        optim.safetensors (m.NAME, v.NAME per trainable entry),
 *                        trainer.json (stage, stage_step, global step, stage_total,
 *                        adam_step, loader state, seed, threads, config hash)
 *   RUN/latest           names the newest complete checkpoint (train/ckpt_dir.h)
 *   RUN/loss.svg         loss curves per stage, written at the end
 */
#ifndef VLMC_TRAIN_TRAINER_H
#define VLMC_TRAIN_TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "data/formats.h"
#include "model/vlm.h"
#include "train/run_config.h"

/* ---- the step API ----------------------------------------------------------- */

typedef struct TrParamOpt {
    int idx;               /* entry in the ParamTable */
    float lr, wd;          /* group peak lr, weight decay (0 for 1-D entries) */
    int group;             /* index into the stage's groups, -1: the stage default */
    Tensor *m, *v;         /* AdamW moments (BUF_OPTIM) */
} TrParamOpt;

typedef struct TrOptim {
    Vlm *vlm;
    TrParamOpt *p;         /* trainable (and used) entries, in table order */
    int n;
    float beta1, beta2, eps;
    int64_t adam_step;     /* updates applied so far (bias correction uses adam_step + 1) */
    size_t optim_mark;     /* BUF_OPTIM mark before the moments */
    const Tensor **gl;     /* (n) gradient list for op_sumsq */
    Tensor *sumsq;         /* (1) scratch in BUF_OPTIM */
} TrOptim;

typedef struct TrStepStats {
    double loss;           /* mean over the step's loss tokens */
    double grad_norm;      /* before clipping */
    double lr;             /* schedule factor * the stage's base lr */
    int64_t loss_tokens, tokens, samples, images;
    int skipped;           /* non-finite loss or norm: no update */
} TrStepStats;

/* Sets trainability for the stage (components / globs; empty = all),
 * re-allocates gradients (BUF_GRADS, only trainable entries) and the AdamW
 * moments (one BUF_OPTIM allocation, zeroed), and assigns each trainable
 * entry its group's lr / wd. Errors name the stage key whose glob matches
 * nothing. `key` prefixes messages ("stages.1"). */
int tr_optim_setup(TrOptim *o, Vlm *m, const TrStageCfg *sc, const char *key, VStatus *st);
void tr_optim_free(TrOptim *o);
/* One optimizer step over n micro-batches. lr_factor: the schedule's factor
 * (train/schedule.h) multiplying every group's peak lr. base_lr: reported in
 * stats->lr (factor * base_lr). */
int tr_step(TrOptim *o, const VlmBatch *micro, int n, double lr_factor, double base_lr, double clip,
            TrStepStats *stats, VStatus *st);
/* Mean loss over the loss tokens of n micro-batches, forward only. */
int tr_eval_loss(Vlm *m, const VlmBatch *micro, int n, double *loss, int64_t *loss_tokens, VStatus *st);

/* ---- the run API ------------------------------------------------------------ */

typedef struct Trainer Trainer;

/* Called after each periodic eval (and at each stage end when eval data is
 * set). May write a JSON object into extra (e.g. {"acc_color": 0.9}); its
 * members are merged into the eval metrics row. Non-zero return stops the run. */
typedef int (*TrEvalHook)(void *ctx, Trainer *t, int stage, int64_t step, char *extra, size_t cap, VStatus *st);

typedef struct TrOpts {
    const char *out;       /* run directory; NULL: cfg->out */
    int64_t max_steps;     /* cap on optimizer steps over all stages (0: none) */
    int resume;            /* continue from RUN/latest */
    int quiet;             /* no progress lines */
    FILE *log;             /* progress and messages (NULL: stderr) */
    TrEvalHook eval_hook;
    void *hook_ctx;
    int reserve_only;      /* cpu backend: buffers reserved as on cuda (tests of the sizing) */
} TrOpts;

/* Validates the config against the model, builds / loads the model, opens
 * the tokenizer and image codec, creates RUN (writing config.yaml); with
 * resume, loads RUN/latest. Fails before any training on a bad config. The
 * config must outlive the trainer. */
int trainer_open(Trainer **out, const TrRunCfg *cfg, const TrOpts *opts, VStatus *st);
/* Runs the remaining stages; writes checkpoints, metrics and loss.svg. */
int trainer_run(Trainer *t, VStatus *st);
void trainer_close(Trainer *t);

Vlm *trainer_model(Trainer *t);
const LdTextCodec *trainer_text(const Trainer *t);
const LdImageCodec *trainer_image(const Trainer *t);
const char *trainer_dir(const Trainer *t);
int64_t trainer_global_step(const Trainer *t);

#endif
