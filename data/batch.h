/* data/batch.h — what the loader hands the trainer (DESIGN.md "What a batch is").
 *
 * A batch is B rows of T tokens, packed:
 *   tokens[r*T + t]   token id; padding is pad_id
 *   targets[r*T + t]  id the model must predict at t (= tokens[t+1] of the same
 *                     packed sample when that token carries loss), -1 = no loss
 *   pos[r*T + t]      position id, restarts at 0 for each packed sample
 *   doc[r*T + t]      index into docs[] of the sample the token belongs to, -1 = padding
 * Images: pixels (n_img, 3, S, S) float, normalised with the processor's
 * mean/std. Each placeholder run of image_seq_len tokens is one span
 * (img, row, start, len): the image's embeddings replace tokens
 * [start, start+len) of that row (prompt adapters), or are attended by the
 * tokens that follow (cross-attention adapters).
 * DPO: rows come in pairs (chosen = row 2i, rejected = row 2i+1) with
 * pair[r] = i; both rows repeat the prompt and reference the same images (one
 * image, two spans). Other regimes: pair[r] = -1.
 * Invariants: every doc >= 0 token has 0 <= doc < n_docs; spans lie inside
 * their row on tokens equal to the image token; targets are -1 on padding and
 * on the last token of each packed sample. */
#ifndef VLMC_DATA_BATCH_H
#define VLMC_DATA_BATCH_H

#include <stdint.h>

typedef struct LdSpan {
    int32_t img;     /* index into pixels */
    int32_t row;     /* row of this batch */
    int32_t start;   /* first placeholder token in the row */
    int32_t len;     /* placeholder run length (image_seq_len) */
} LdSpan;

/* Where a packed sample came from: enough to find it again and to test the
 * global order (source, epoch, index) and document splits (part). */
typedef struct LdDoc {
    int32_t source;  /* index of the source in the loader's mix */
    int32_t epoch;   /* epoch of that source */
    int64_t index;   /* sample index within the source (shards in the order given) */
    int32_t part;    /* piece of a document split across rows (0 when not split) */
} LdDoc;

typedef struct LdBatch {
    int B, T;                 /* rows on this rank, tokens per row */
    int32_t *tokens;          /* (B, T) */
    int32_t *targets;         /* (B, T), -1 = no loss */
    int32_t *pos;             /* (B, T) */
    int32_t *doc;             /* (B, T), -1 = padding */
    int32_t *pair;            /* (B) DPO pair id, -1 otherwise */
    int n_img, S;             /* images on this rank, side in pixels */
    float *pixels;            /* (n_img, 3, S, S) */
    int n_span;
    LdSpan *spans;            /* (n_span) */
    int n_docs;
    LdDoc *docs;              /* (n_docs) */
    int64_t n_loss;           /* targets != -1 on this rank (the global count sums these across ranks) */
    int64_t step;             /* global batch number, from 0 */
} LdBatch;

void ld_batch_free(LdBatch *b);

#endif
