/* data/prepare.h — converting datasets into tar or HDF5 shards (`vlmc prepare`).
 *
 * The input records (every input shard, in the order given, records in file
 * order) are cut into consecutive chunks of shard_size records; chunk c
 * becomes output shard PREFIX-%05d.{tar,h5}, written by one of `jobs` threads
 * to a temporary name and renamed when complete. Every record goes through the
 * regime's formatter (images decoded, text tokenized) so bad records are
 * found here: skipped with a counted reason, logged with file and key.
 *   tar: WebDataset members KEY.json (the record) + KEY.N.EXT (its images, in
 *        the order the formatter uses them, original bytes); pairs write
 *        KEY.EXT + KEY.txt. Keys are the global record number, 9 digits.
 *   h5:  the formatted samples (schema in data/README.md).
 * The summary counts samples written, their images and tokens, and skips by
 * reason; ld_prepare fails (after writing everything) when skipped / records
 * exceeds max_skip_frac. */
#ifndef VLMC_DATA_PREPARE_H
#define VLMC_DATA_PREPARE_H

#include <stdint.h>

#include "core/status.h"
#include "data/formats.h"

typedef struct LdPrepareOpts {
    LdRegime regime;
    const char *const *inputs;
    int n_inputs;
    const char *image_root;      /* NULL: each input's folder */
    const char *out_dir;
    const char *prefix;          /* NULL: "shard" */
    int to_h5;
    int64_t shard_size;          /* records per output shard */
    int jobs;                    /* 0 = 2 */
    const LdTextCodec *text;
    const LdImageCodec *image;
    double max_skip_frac;        /* 0 = 0.01; < 0 never fail */
    int progress;                /* progress line on stderr */
    void (*log)(void *ctx, const char *line);   /* NULL: stderr */
    void *log_ctx;
} LdPrepareOpts;

typedef struct LdPrepareSummary {
    int64_t records, samples, images, tokens, skipped;
    int64_t by_reason[LD_SKIP_COUNT];
    int shards;
    double seconds;
} LdPrepareSummary;

int ld_prepare(const LdPrepareOpts *o, LdPrepareSummary *sum, VStatus *st);
/* {"samples", "images", "tokens", "skipped", "skipped_by_reason": {...}, "records", "shards", "seconds"} */
int ld_prepare_write_summary(const LdPrepareSummary *s, const char *path, VStatus *st);

#endif
