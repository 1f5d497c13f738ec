/* train/demo_shapes.h — the embedded default demo (configs/shapes.yaml):
 * before training, the shapes world's shards are written to cfg->shapes.dir
 * when absent (data/shapes_data.h); after training, the held-out accuracy
 * table (eval/shapes_eval.h) is printed and saved as RUN/shapes_eval.json.
 * Both do nothing when the config has no shapes.dir. With shapes.track the
 * trainer also scores the held-out questions at each eval (tr_shapes_track). */
#ifndef VLMC_TRAIN_DEMO_SHAPES_H
#define VLMC_TRAIN_DEMO_SHAPES_H

#include <stdio.h>

#include "train/trainer.h"

int tr_shapes_prepare(const TrRunCfg *cfg, FILE *log, VStatus *st);
int tr_shapes_report(Trainer *t, const TrRunCfg *cfg, FILE *out, VStatus *st);
/* TrEvalHook for shapes.track (ctx: the TrRunCfg): multiple-choice accuracy
 * only (no blank-image or open-answer pass), one line to stderr, and
 * {"shapes_csp": x, "shapes_mc": {"color": x, ...}} into the eval row. */
int tr_shapes_track(void *ctx, Trainer *t, int stage, int64_t step, char *extra, size_t cap, VStatus *st);

#endif
