/* train/ckpt_io.h — the files of one checkpoint (layout in trainer.h):
 * written into a ckpt_dir temporary and committed atomically; loaded back
 * tensor by tensor, every model / optimizer tensor required. */
#ifndef VLMC_TRAIN_CKPT_IO_H
#define VLMC_TRAIN_CKPT_IO_H

#include "train/trainer.h"

/* Writes RUN/ckpt-STEP (weights, optimizer state of o (may be NULL), the
 * trainer state JSON) and points RUN/latest at it. */
int tr_ckpt_write(const char *run_dir, int64_t step, Vlm *m, const TrOptim *o, const char *state_json, VStatus *st);
/* Uploads CKPT/model.safetensors into m (same config). */
int tr_ckpt_load_weights(const char *ckpt, Vlm *m, VStatus *st);
/* Uploads CKPT/optim.safetensors into o's moments (o set up for the same stage). */
int tr_ckpt_load_optim(const char *ckpt, TrOptim *o, VStatus *st);

#endif
