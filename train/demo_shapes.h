/* train/demo_shapes.h — the embedded default demo (configs/shapes.yaml):
 * before training, the shapes world's shards are written to cfg->shapes.dir
 * when absent (data/shapes_data.h); after training, the held-out accuracy
 * table (eval/shapes_eval.h) is printed and saved as RUN/shapes_eval.json.
 * Both do nothing when the config has no shapes.dir. */
#ifndef VLMC_TRAIN_DEMO_SHAPES_H
#define VLMC_TRAIN_DEMO_SHAPES_H

#include <stdio.h>

#include "train/trainer.h"

int tr_shapes_prepare(const TrRunCfg *cfg, FILE *log, VStatus *st);
int tr_shapes_report(Trainer *t, const TrRunCfg *cfg, FILE *out, VStatus *st);

#endif
