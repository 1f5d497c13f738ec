/* data/shards.h — shard readers: files to raw records, by index.
 *
 * Kinds, recognised by content (not by extension):
 *   tar   WebDataset: members grouped by key (the name up to its first '.'
 *         after the last '/'): KEY.jpg|png|webp, KEY.txt, KEY.json, multi-image
 *         KEY.0.jpg, KEY.1.jpg ... Read with libarchive. Members named with
 *         '..' or an absolute path mark their sample LD_SKIP_UNSAFE_NAME and are
 *         never used as paths. A member cut short marks its sample
 *         LD_SKIP_TRUNCATED; what follows the cut does not exist.
 *   jsonl one JSON object per line; images are paths under the image root.
 *   json  one JSON array of objects (LLaVA); images as for jsonl.
 *   h5    pre-tokenized shards written by `vlmc prepare` (schema in
 *         data/README.md), checked on open against the run's tokenizer hash,
 *         image size and image-token count; a stale shard is an error naming
 *         the mismatch.
 * Opening indexes the shard (tar: one pass over the headers, seeking over
 * data; jsonl: line offsets; json: parse; h5: the offset arrays), so a
 * record is fetched by its index j in any order: the loader's global order
 * needs random access, and a resumed run needs no replay of reads.
 * Fetching from several threads at once is safe: tar, JSON and JSONL fetches
 * only pread and keep per-call state (jansson's reference counts are atomic),
 * and every HDF5 call in the process holds one lock (Debian's HDF5 is not
 * thread-safe). The loader still fetches from its one I/O thread; `vlmc
 * prepare` fetches from its workers. */
#ifndef VLMC_DATA_SHARDS_H
#define VLMC_DATA_SHARDS_H

#include <stdint.h>

#include "core/status.h"
#include "data/formats.h"

typedef enum LdShardKind { LD_SHARD_TAR = 0, LD_SHARD_JSONL, LD_SHARD_JSON, LD_SHARD_H5 } LdShardKind;

/* What an HDF5 shard must agree with. 0 / NULL fields are not checked. */
typedef struct LdShardExpect {
    uint64_t tokenizer_hash;
    int image_size;
    int image_token_count;
    const char *regime;
} LdShardExpect;

typedef struct LdShard LdShard;

/* image_root: for json/jsonl (NULL: the shard's directory). */
int ld_shard_open(const char *path, const char *image_root, const LdShardExpect *expect, LdShard **out,
                  VStatus *st);
int64_t ld_shard_count(const LdShard *s);
LdShardKind ld_shard_kind(const LdShard *s);
const char *ld_shard_path(const LdShard *s);
/* Fills raw with record j (0 <= j < count). A bad record is not an error:
 * raw->skip says why. Nonzero only when the file itself fails (I/O). */
int ld_shard_fetch(LdShard *s, int64_t j, LdRaw *raw, VStatus *st);
void ld_shard_close(LdShard *s);

/* Format-specific entry points behind the dispatch above. */
int ld_tar_open(const char *path, LdShard *s, VStatus *st);
int ld_tar_fetch(LdShard *s, int64_t j, LdRaw *raw, VStatus *st);
void ld_tar_close(LdShard *s);
int ld_json_open(const char *path, int jsonl, LdShard *s, VStatus *st);
int ld_json_fetch(LdShard *s, int64_t j, LdRaw *raw, VStatus *st);
void ld_json_close(LdShard *s);
int ld_h5_open(const char *path, const LdShardExpect *expect, LdShard *s, VStatus *st);
int ld_h5_fetch(LdShard *s, int64_t j, LdRaw *raw, VStatus *st);
void ld_h5_close(LdShard *s);

/* Shared by the readers. */
struct LdShard {
    LdShardKind kind;
    char *path;
    char *image_root;
    int64_t count;
    void *impl;     /* the reader's own index */
};

/* 1 when name is safe to interpret: not absolute, no ".." component. */
int ld_name_is_safe(const char *name);

/* ---- HDF5 writer (vlmc prepare) ------------------------------------------- */
typedef struct LdH5Writer LdH5Writer;
typedef struct LdH5Meta {
    uint64_t tokenizer_hash;
    int image_size, image_token_count;
    const char *regime;
} LdH5Meta;
int ld_h5_create(const char *path, const LdH5Meta *m, LdH5Writer **out, VStatus *st);
int ld_h5_append(LdH5Writer *w, const LdSample *s, VStatus *st);
int ld_h5_finish(LdH5Writer *w, VStatus *st);   /* writes and closes; frees w */

#endif
