/* model/params.h — the parameter table: named slices of one BUF_PARAMS allocation.
 *
 * Each entry has its Hugging Face name (the canonical export name for the
 * model's layout), its HF shape, a component tag, a trainable flag and an
 * optional per-row gradient mask. After pt_allocate():
 *   - all weights live in one BUF_PARAMS tensor, each entry a view `w`
 *     shaped (rows, numel/rows) (1-D entries: (n));
 *   - backends storing BUF_PARAMS below f32 (cuda: bf16) also get an f32
 *     master copy of every entry in one BUF_MASTER tensor (Param.master);
 *   - gradients exist only for trainable entries, in one BUF_GRADS tensor;
 *     frozen entries have g == NULL and take no gradient memory.
 * Entries flagged `unused` (CLIP post_layernorm, SigLIP pooling head, layers
 * after the selected feature layer) are stored, imported and exported but
 * never computed with: their gradient is exactly zero.
 * Row masks: pt_apply_row_masks() zeroes masked gradient rows after the
 * backward; the optimizer passes Param.row_mask to op_adamw so masked rows
 * also get no update and no weight decay.
 * Trainability is fixed before pt_allocate (pt_set_trainable*); changing it
 * means re-allocating the gradients (pt_realloc_grads).
 */
#ifndef VLMC_MODEL_PARAMS_H
#define VLMC_MODEL_PARAMS_H

#include <stdint.h>

#include "kernels/ops.h"

typedef enum Component { COMP_ENCODER = 0, COMP_ADAPTER, COMP_LLM, COMP__COUNT } Component;

#define PT_NAME_MAX 160

typedef struct Param {
    char name[PT_NAME_MAX];
    int ndim;
    int64_t shape[4];       /* Hugging Face shape */
    int64_t numel, offset;  /* offset in the BUF_PARAMS allocation (elements) */
    int64_t goffset;        /* offset in BUF_GRADS (-1: frozen) */
    Component comp;
    int trainable;
    int unused;             /* stored but not computed with (gradient is zero) */
    Tensor *w, *g;          /* views; g NULL when frozen */
    Tensor *master;         /* f32 master copy (BUF_MASTER) when the backend stores w in a
                               lower precision (cuda bf16); NULL on the cpu backend */
    Tensor *row_mask;       /* (rows) f32 or NULL: gradient rows multiplied by it */
    float *row_mask_host;   /* owned host copy until allocation */
} Param;

typedef struct ParamTable {
    Param *p;
    int n, cap;
    int64_t total, total_trainable;   /* elements */
    Backend *be;
    Tensor *all_w, *all_g, *all_master;
    size_t mark_w, mark_g, mark_m;    /* arena marks (handle counts) before this table's allocations */
    size_t bytes_before_w;            /* be_used(BUF_PARAMS) before them */
} ParamTable;

void pt_init(ParamTable *t);
void pt_free(ParamTable *t);   /* frees host memory; device memory belongs to the backend arenas */
/* Adds an entry (trainable by default); returns its index. */
int pt_add(ParamTable *t, Component comp, const char *name, int ndim, const int64_t *shape);
int pt_addf(ParamTable *t, Component comp, int ndim, const int64_t *shape, const char *fmt, ...)
    VLMC_PRINTF(5, 6);
int pt_find(const ParamTable *t, const char *name);
void pt_set_trainable_comp(ParamTable *t, Component comp, int trainable);
/* Sets entries whose name matches a shell glob (fnmatch, '*' crosses dots);
 * returns how many matched (0 usually means a typo in a recipe). */
int pt_set_trainable_glob(ParamTable *t, const char *glob, int trainable);
/* Per-row gradient mask for an entry (copied); rows = shape[0]. */
void pt_set_row_mask(ParamTable *t, int idx, const float *mask);
/* Whether any entry of a component is trainable. */
int pt_any_trainable(const ParamTable *t, Component comp);
/* Carves weights (BUF_PARAMS) and gradients (BUF_GRADS) on be. */
int pt_allocate(ParamTable *t, Backend *be, VStatus *st);
/* Host f32 <-> entry idx: uploads to the weights and (when present) the
 * master copy; downloads from the master copy when present (full precision). */
void pt_upload(ParamTable *t, int idx, const float *host);
void pt_download(const ParamTable *t, int idx, float *host);
/* Zeroes all gradients (once per step). */
void pt_zero_grads(ParamTable *t);
/* Multiplies masked gradient rows by their mask (call after backward). */
void pt_apply_row_masks(ParamTable *t);
const char *pt_comp_name(Component c);

#endif
