/* train/trainer_internal.h — private to train/: the Trainer and the pieces
 * its files share (host copies of micro-batches, expanded shard lists). */
#ifndef VLMC_TRAIN_TRAINER_INTERNAL_H
#define VLMC_TRAIN_TRAINER_INTERNAL_H

#include "data/loader.h"
#include "data/tokenizer.h"
#include "train/metrics.h"
#include "train/trainer.h"

/* A stage's (or the eval split's) sources with their globs expanded. */
typedef struct TrSources {
    LdSource src[LD_MAX_SOURCES];
    char **paths[LD_MAX_SOURCES];
    int n;
} TrSources;

/* A micro-batch copied out of the loader (its buffers are swapped on the
 * next ld_next), in the model's terms. Arrays only grow. */
typedef struct TrHost {
    VlmBatch vb;
    int32_t *tokens, *targets, *pos, *doc, *img_rows;
    float *pixels;
    size_t cap_tok, cap_px, cap_rows;
    int64_t samples;
} TrHost;

struct Trainer {
    const TrRunCfg *cfg;
    TrOpts opts;
    char dir[4096];
    FILE *log;
    int tty;
    int threads;
    int feature_cache;     /* the frozen-encoder feature cache is on (part of the state: it sets the encoder's
                              batch composition, so a resumed run keeps the checkpoint's choice) */
    Backend *be;
    Vlm vlm;
    int have_vlm;
    Tokenizer *tok;
    LdTextCodec tc;
    int have_tc;
    LdImageCodec ic;
    int have_ic;
    TrOptim opt;
    TrSources *stage_src;   /* (n stages) */
    TrSources eval_src;
    /* position: the next step to run is stage_step of stage `stage` */
    int stage;
    int64_t stage_step, stage_total, global_step;
    char ld_state[LD_STATE_MAX];
    char resume_ckpt[4200];   /* non-empty: load optimizer state when the stage is set up */
    int64_t resume_adam_step;
    int64_t last_ckpt_step;
    MetricsLog ml;
    int have_ml;
    TrHost *mb;
    int mb_cap;
    VlmBatch *vb;           /* (vb_cap) views of mb for tr_step */
    int vb_cap;
    double last_print;      /* monotonic time of the last progress line */
};

/* A pattern starting with "${shapes.dir}" has it replaced by shapes_dir
 * (the run's shapes.dir; NULL: such a pattern is an error naming the key). */
int tr_sources_expand(const CfgList *data, const char *key, const char *shapes_dir, TrSources *out, VStatus *st);
void tr_sources_free(TrSources *s);
/* Copies b into h (tpi image tokens per image). */
/* Copies b; image rows: the placeholders (token image_token) of each run in order, tpi per image. */
int tr_host_from_batch(TrHost *h, const LdBatch *b, int tpi, int32_t image_token, VStatus *st);
void tr_host_free(TrHost *h);

#endif
