/* train/ckpt_dir.h — the crash-safe life cycle of checkpoint directories.
 *
 * A checkpoint is a directory RUN/ckpt-STEP (STEP zero-padded to 8 digits)
 * holding whatever files the trainer writes (weights, optimizer state,
 * trainer state). It is built under a temporary name RUN/.ckpt-STEP.tmp,
 * every file and the directory are fsynced, then it is renamed into place
 * (atomic on POSIX) and RUN/latest (a one-line text file naming it) is
 * replaced by rename as well. A kill at any moment therefore leaves `latest`
 * naming a complete checkpoint (or no `latest`), never a partial one; stale
 * temporaries are removed by ckpt_dir_clean_stale on the next start. */
#ifndef VLMC_TRAIN_CKPT_DIR_H
#define VLMC_TRAIN_CKPT_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Creates RUN/.ckpt-STEP.tmp (removing a leftover one) and returns its path in tmp. */
int ckpt_dir_begin(const char *run_dir, int64_t step, char *tmp, size_t cap, VStatus *st);
/* fsyncs every file in tmp and tmp itself, renames it to RUN/ckpt-STEP, points latest at it. */
int ckpt_dir_commit(const char *run_dir, int64_t step, const char *tmp, VStatus *st);
/* Path of the checkpoint `latest` names; returns 1 when there is none, 0 when found. */
int ckpt_dir_latest(const char *run_dir, char *path, size_t cap, VStatus *st);
/* Keeps the newest keep_last checkpoints, every one whose step is a multiple
 * of milestone_every (> 0), and the one latest names; removes the others. */
int ckpt_dir_prune(const char *run_dir, int keep_last, int64_t milestone_every, VStatus *st);
/* Removes temporaries left by a killed writer. */
int ckpt_dir_clean_stale(const char *run_dir, VStatus *st);

/* Helpers for writers: write a whole file durably (tmp name, fsync, rename). */
int ckpt_write_file_atomic(const char *path, const void *data, size_t n, VStatus *st);
int ckpt_fsync_path(const char *path, VStatus *st);

#endif
