/* train/metrics.h — what a run shows while it runs: metrics.jsonl (one JSON
 * object per optimizer step, flushed per line so a killed run keeps every
 * completed step) and the progress line (a live bar on a terminal, plain
 * lines in a log). */
#ifndef VLMC_TRAIN_METRICS_H
#define VLMC_TRAIN_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef struct MetricsRow {
    const char *stage;
    int64_t step;           /* global optimizer step, 1-based after the update */
    int64_t stage_step, stage_total;
    double loss, lr, grad_norm;   /* non-finite values are written as null */
    double tokens_per_s, images_per_s;
    int skipped;            /* the NaN/Inf guard skipped this update */
    const char *extra_json; /* optional: an object whose members are merged in, e.g. {"eval_loss": 1.2} */
} MetricsRow;

typedef struct MetricsLog {
    FILE *f;
    char path[4096];
} MetricsLog;

/* Opens RUN/metrics.jsonl; append keeps existing rows (resume) but drops rows
 * with step > keep_upto (steps the resumed run will redo); keep_upto < 0 keeps all. */
int metrics_open(MetricsLog *m, const char *run_dir, int append, int64_t keep_upto, VStatus *st);
int metrics_write(MetricsLog *m, const MetricsRow *r, VStatus *st);
void metrics_close(MetricsLog *m);

/* One progress update. tty: redraw in place with a bar; else one plain line. */
void progress_print(FILE *out, int tty, const MetricsRow *r, double eta_seconds);

#endif
