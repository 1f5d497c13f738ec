/* data/ld_pack.h — packing samples into a global batch and cutting a rank's
 * share (internal to the loader; data/ld_pack.c). */
#ifndef VLMC_DATA_LD_PACK_H
#define VLMC_DATA_LD_PACK_H

#include "data/batch.h"
#include "data/formats.h"

/* A global batch under construction: rows (rows, T), in groups of `group`
 * rows (2 for DPO) filled together. */
typedef struct LdGBatch {
    int rows, T, group, S;
    int32_t pad;
    int32_t *tok, *tgt, *pos, *doc, *pair;  /* (rows, T) except pair (rows) */
    int *fill;                              /* (rows) tokens used */
    int cur;                                /* current group */
    LdDoc *docs; int n_docs, cap_docs;
    uint8_t *px; int n_img, cap_img;        /* (n_img, S, S, 3) */
    LdSpan *spans; int n_span, cap_span;
    int64_t step;
    char state_after[1024];                 /* loader position after this batch */
} LdGBatch;

void ld_gb_init(LdGBatch *g, int rows, int T, int group, int S, int32_t pad, int64_t step);
void ld_gb_reset(LdGBatch *g, int64_t step);   /* empty again, same buffers */
void ld_gb_free(LdGBatch *g);
/* Pieces of sample seq 0 no longer than T: cut at image-run edges (a text
 * longer than T with no edge inside is cut at T). For DPO (n_seq 2) one piece
 * when both fit. Returns the piece count (ranges in a[], b[], at most max), or
 * 0 when the sample cannot fit (too long and not splittable, or an image run
 * longer than T). */
int ld_pack_pieces(const LdSample *s, int T, int split_ok, int64_t *a, int64_t *b, int max);
/* Places piece [a, b) of s (for DPO: both whole sequences); 1 when the batch
 * has no room left for it (nothing placed). */
int ld_gb_place(LdGBatch *g, const LdSample *s, int64_t a, int64_t b, LdDoc d);
int ld_gb_empty(const LdGBatch *g);
/* This rank's row groups (rank, rank + world, ...), images normalised; out's
 * arrays are reused (grown when needed). */
void ld_gb_cut(const LdGBatch *g, int rank, int world, const LdImageCodec *ic, LdBatch *out);

#endif
