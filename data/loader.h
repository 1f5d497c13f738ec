/* data/loader.h — the threaded loader: shards -> global batches -> this rank's rows.
 *
 * One global sample order: each source's epoch is a permutation of its shards
 * (seeded) streamed through a shuffle buffer (seeded); several sources are
 * mixed by weight with a draw that depends only on (seed, draw number).
 * Samples are formatted (data/formats.h), then packed greedily in that order
 * into global batches of global_rows rows of T tokens; rank r of `world`
 * takes row groups r, r + world, ... (a group is 1 row, or 2 for DPO:
 * chosen + rejected). Nothing in the order or the packing depends on world,
 * so the concatenated global batches are the same for any rank count.
 *
 * Threads: one I/O thread follows the order and reads records (the only
 * thread touching shards; HDF5 included), `workers` threads decode images and
 * tokenize, and one assembler packs rows, cuts this rank's rows (normalising
 * their images) into a bounded queue of `prefetch` batches; ld_next pops one.
 *
 * Position: ld_state() after batch k is a short text (the next batch number,
 * the draw number and the piece of a split document where batch k+1 starts,
 * each source's epoch/position, skip counters). Opening with it as resume_state yields
 * exactly the batches k+1, k+2 ... of the uninterrupted run, for any world.
 *
 * Bad records are skipped with a counted reason, reported through log (file,
 * key, reason); when skipped / seen exceeds max_skip_frac (checked at the end
 * of the data and after every batch once min_seen records were seen), ld_next
 * fails with a message stating the fraction. */
#ifndef VLMC_DATA_LOADER_H
#define VLMC_DATA_LOADER_H

#include <stdint.h>

#include "core/status.h"
#include "data/batch.h"
#include "data/formats.h"

#define LD_MAX_SOURCES 16
#define LD_STATE_MAX 1024

typedef struct LdSource {
    const char *const *shards;   /* paths, in a fixed order (the index base) */
    int n_shards;
    const char *image_root;      /* json/jsonl image paths; NULL: each shard's folder */
    double weight;               /* mixing weight (> 0; normalised over sources) */
} LdSource;

typedef struct LdLoaderOpts {
    LdRegime regime;
    const LdSource *sources;
    int n_sources;
    const LdTextCodec *text;
    const LdImageCodec *image;
    int T;                   /* tokens per row */
    int global_rows;         /* rows per global batch, all ranks together */
    int rank, world;         /* world = 0 means 1 */
    uint64_t seed;
    int shuffle_buffer;      /* records; 0 or 1 = stream order (shards still permuted unless keep_shard_order) */
    int keep_shard_order;
    int epochs;              /* 0 = endless */
    int workers;             /* 0 = 2 */
    int prefetch;            /* global batches ahead; 0 = 2 */
    double max_skip_frac;    /* 0 = 0.01; < 0 never fail */
    int64_t min_seen;        /* 0 = 1000 */
    void (*log)(void *ctx, const char *line);   /* NULL: stderr */
    void *log_ctx;
    const char *resume_state;   /* from ld_state(), or NULL */
} LdLoaderOpts;

typedef struct LdStats {
    int64_t seen, skipped;
    int64_t by_reason[LD_SKIP_COUNT];
} LdStats;

typedef struct LdLoader LdLoader;

/* On failure *out is NULL and st says why (nothing to close). */
int ld_open(const LdLoaderOpts *o, LdLoader **out, VStatus *st);
/* Fills b with this rank's rows of the next global batch. The batch was cut
 * and normalised ahead by the assembler; ld_next swaps buffers with it, so b's
 * array pointers change on every call (b's old buffers are reused for a later
 * batch). Start from a zeroed LdBatch; release with ld_batch_free after
 * ld_close. *done = 1 and no batch when the data is exhausted (epochs reached). */
int ld_next(LdLoader *L, LdBatch *b, int *done, VStatus *st);
/* Position after the last batch returned by ld_next (NUL-terminated). */
int ld_state(const LdLoader *L, char *buf, size_t cap);
LdStats ld_stats(const LdLoader *L);   /* as of the last batch returned */
int64_t ld_source_count(const LdLoader *L, int source);   /* records in a source */
void ld_close(LdLoader *L);

/* ---- codecs on top of data/image.h and data/tokenizer.h (data/ld_image.c,
 * data/ld_tok.c) ------------------------------------------------------------ */
/* preset: "clip" | "siglip" | ... (img_preset); size 0 = the preset's;
 * dct_scale: JPEG DCT scaling toward S (faster; off = Pillow/HF parity). */
int ld_image_codec(const char *preset, int size, int dct_scale, LdImageCodec *out, VStatus *st);
void ld_image_codec_free(LdImageCodec *ic);
struct Tokenizer;
/* Adds "<image>" to t (call before sharing t); chat_format as tok_render_chat. */
int ld_text_codec(struct Tokenizer *t, const char *chat_format, int image_seq_len, LdTextCodec *out, VStatus *st);
/* The same with place tags: tags (NULL: none) holds image_seq_len texts;
 * placeholder k renders after tags[k] (as the tokenizer encodes that text
 * alone, special tokens included), so image rows are not contiguous (see
 * formats.h's runs). The tags must already be in t when they name special
 * tokens (ld_add_image_specials). */
int ld_text_codec_tagged(struct Tokenizer *t, const char *chat_format, int image_seq_len, const char *const *tags,
                         LdTextCodec *out, VStatus *st);
/* Adds "<image>" to t and, with tag_side > 0, the grid tags "<row_r_col_c>"
 * (r, c = 1..tag_side, Idefics3's names; image_seq_len must be tag_side^2) as
 * special tokens, in placeholder order. ld_grid_tag writes tag k's name. */
int ld_add_image_specials(struct Tokenizer *t, int image_seq_len, int tag_side, VStatus *st);
const char *ld_grid_tag(int k, int side, char *buf, size_t cap);
void ld_text_codec_free(LdTextCodec *tc);

/* ---- pieces used by the loader (data/ld_order.c, data/ld_pack.c) ---------- */
typedef struct LdOrderSrc {
    int64_t n;                   /* records */
    int n_shards;
    const int64_t *base;         /* (n_shards + 1) first record index of each shard */
    int epoch;
    int64_t k;                   /* draws made in this epoch */
    int *perm;                   /* shard order of this epoch */
    int64_t *buf;                /* shuffle buffer of record indices */
    int64_t filled, incoming;    /* buffer fill; records of the epoch stream taken in */
    int in_p;                    /* stream cursor: position in perm ... */
    int64_t in_off;              /* ... and record within that shard */
    uint64_t rng;
} LdOrderSrc;

typedef struct LdOrder {
    int n_src;
    LdOrderSrc src[LD_MAX_SOURCES];
    double cum[LD_MAX_SOURCES];  /* cumulative normalised weights */
    uint64_t seed;
    int64_t t;                   /* draws made */
    int K, keep_shard_order, max_epochs;
} LdOrder;

void ld_order_init(LdOrder *o, uint64_t seed, int n_src, const int64_t *const *bases, const int *n_shards,
                   const double *weights, int K, int keep_shard_order, int max_epochs);
/* Next draw: source, record index within the source, its epoch. 1 at the end. */
int ld_order_next(LdOrder *o, int *src, int64_t *index, int *epoch);
/* Puts o where a run was after t draws, source s at (epoch[s], k[s]). */
void ld_order_seek(LdOrder *o, int64_t t, const int *epoch, const int64_t *k);
void ld_order_free(LdOrder *o);
uint64_t ld_splitmix64(uint64_t *x);

#endif
