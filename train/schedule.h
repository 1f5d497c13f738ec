/* train/schedule.h — learning-rate schedules, as multipliers of a group's peak lr.
 *
 * `step` is the number of optimizer steps already taken (0 for the first
 * update), the convention of transformers' LambdaLR schedules, whose formulas
 * these reproduce exactly (tests/golden/make_schedules.py checks them):
 *   w = warmup steps, N = total steps, p = progress in [0, 1], r = min_lr_ratio
 *   constant: s < w ? s/w : 1
 *   linear:   s < w ? s/w : max(0, (N - s) / max(1, N - w))
 *   cosine:   s < w ? s/w : max(0, r + (1 - r) * 0.5 * (1 + cos(pi * p))),  p = (s - w) / max(1, N - w)
 *   wsd:      s < w ? r + (1 - r) * s/w                       (warmup)
 *             s < w + S ? 1                                   (stable, S = N - w - D)
 *             s < N ? r + (1 - r) * decay(p),  p = (s - w - S) / max(1, D)
 *                     decay: linear 1 - p | cosine 0.5 (1 + cos(pi p)) | 1-sqrt 1 - sqrt(p)
 *             else r
 * So with warmup the learning rate at step 0 is 0 (for wsd: r * lr), as in
 * transformers and TRL; without warmup it is the peak. */
#ifndef VLMC_TRAIN_SCHEDULE_H
#define VLMC_TRAIN_SCHEDULE_H

#include <stdint.h>

typedef enum SchedKind { SCHED_CONSTANT = 0, SCHED_LINEAR, SCHED_COSINE, SCHED_WSD } SchedKind;
typedef enum SchedDecay { SCHED_DECAY_LINEAR = 0, SCHED_DECAY_COSINE, SCHED_DECAY_SQRT } SchedDecay;

typedef struct SchedDesc {
    SchedKind kind;
    int64_t warmup;        /* w */
    int64_t total;         /* N: the stage's optimizer steps */
    int64_t decay;         /* D: wsd only */
    SchedDecay decay_shape; /* wsd only */
    double min_lr_ratio;   /* r: cosine and wsd */
} SchedDesc;

double sched_factor(const SchedDesc *d, int64_t step);
/* "constant" | "linear" | "cosine" | "wsd" -> kind; -1 when unknown */
int sched_kind_from_name(const char *name);

#endif
