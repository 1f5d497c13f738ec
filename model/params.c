/* model/params.c — the parameter table (see params.h). */
#include "model/params.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pt_init(ParamTable *t) { memset(t, 0, sizeof *t); }

void pt_free(ParamTable *t) {
    for (int i = 0; i < t->n; i++) free(t->p[i].row_mask_host);
    free(t->p);
    memset(t, 0, sizeof *t);
}

int pt_add(ParamTable *t, Component comp, const char *name, int ndim, const int64_t *shape) {
    VLMC_ASSERT(ndim >= 1 && ndim <= 4, "%s: ndim %d", name, ndim);
    VLMC_ASSERT(strlen(name) < PT_NAME_MAX, "name too long: %s", name);
    VLMC_ASSERT(t->all_w == NULL, "pt_add after pt_allocate (%s)", name);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->p = realloc(t->p, (size_t)t->cap * sizeof *t->p);
        VLMC_ASSERT(t->p, "out of memory");
    }
    Param *p = &t->p[t->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) { p->shape[i] = shape[i]; p->numel *= shape[i]; }
    p->comp = comp;
    p->trainable = 1;
    p->goffset = -1;
    return t->n++;
}

int pt_addf(ParamTable *t, Component comp, int ndim, const int64_t *shape, const char *fmt, ...) {
    char name[PT_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return pt_add(t, comp, name, ndim, shape);
}

int pt_find(const ParamTable *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->p[i].name, name)) return i;
    return -1;
}

void pt_set_trainable_comp(ParamTable *t, Component comp, int trainable) {
    VLMC_ASSERT(t->all_w == NULL, "trainability is fixed at pt_allocate");
    for (int i = 0; i < t->n; i++)
        if (t->p[i].comp == comp) t->p[i].trainable = trainable;
}

int pt_set_trainable_glob(ParamTable *t, const char *glob, int trainable) {
    VLMC_ASSERT(t->all_w == NULL, "trainability is fixed at pt_allocate");
    int n = 0;
    for (int i = 0; i < t->n; i++)
        if (fnmatch(glob, t->p[i].name, 0) == 0) {
            t->p[i].trainable = trainable;
            n++;
        }
    return n;
}

void pt_set_row_mask(ParamTable *t, int idx, const float *mask) {
    VLMC_ASSERT(t->all_w == NULL, "row masks are set before pt_allocate");
    Param *p = &t->p[idx];
    free(p->row_mask_host);
    p->row_mask_host = malloc((size_t)p->shape[0] * sizeof(float));
    VLMC_ASSERT(p->row_mask_host, "out of memory");
    memcpy(p->row_mask_host, mask, (size_t)p->shape[0] * sizeof(float));
}

int pt_any_trainable(const ParamTable *t, Component comp) {
    for (int i = 0; i < t->n; i++)
        if (t->p[i].comp == comp && t->p[i].trainable && !t->p[i].unused) return 1;
    return 0;
}

static Tensor *entry_view(Backend *be, Tensor *all, int64_t off, const Param *p) {
    int64_t shp[2] = {p->shape[0], p->numel / p->shape[0]};
    return t_view(be, all, off, p->ndim == 1 ? 1 : 2, shp);
}

int pt_allocate(ParamTable *t, Backend *be, VStatus *st) {
    t->be = be;
    t->total = t->total_trainable = 0;
    for (int i = 0; i < t->n; i++) {
        Param *p = &t->p[i];
        p->offset = t->total;
        t->total += p->numel;
        /* unused entries never receive a gradient, so they need no memory for one */
        if (p->trainable && !p->unused) {
            p->goffset = t->total_trainable;
            t->total_trainable += p->numel;
        } else {
            p->goffset = -1;
        }
    }
    int64_t n = t->total;
    t->mark_w = be_mark(be, BUF_PARAMS);
    t->mark_g = be_mark(be, BUF_GRADS);
    t->mark_m = be_mark(be, BUF_MASTER);
    t->bytes_before_w = be_used(be, BUF_PARAMS);
    /* backends that need reservations (cuda) get one sized exactly, when the class is
       still empty; the cpu backend allocates lazily and never takes this path */
    t->all_w = be_alloc(be, BUF_PARAMS, DT_F32, 1, &n, st);
    if (!t->all_w && be_used(be, BUF_PARAMS) == 0 &&
        be_reserve(be, BUF_PARAMS, be_bytes_for(be, BUF_PARAMS, DT_F32, 1, &n), st) == 0)
        t->all_w = be_alloc(be, BUF_PARAMS, DT_F32, 1, &n, st);
    if (!t->all_w) return vs_prefix(st, "parameters (%lld floats)", (long long)n);
    t->all_master = NULL;
    if (t_dtype(t->all_w) != DT_F32) {
        t->all_master = be_alloc(be, BUF_MASTER, DT_F32, 1, &n, st);
        if (!t->all_master && be_used(be, BUF_MASTER) == 0 &&
            be_reserve(be, BUF_MASTER, be_bytes_for(be, BUF_MASTER, DT_F32, 1, &n), st) == 0)
            t->all_master = be_alloc(be, BUF_MASTER, DT_F32, 1, &n, st);
        if (!t->all_master) return vs_prefix(st, "master weights (%lld floats)", (long long)n);
    }
    if (t->total_trainable) {
        n = t->total_trainable;
        t->all_g = be_alloc(be, BUF_GRADS, DT_F32, 1, &n, st);
        if (!t->all_g && be_used(be, BUF_GRADS) == 0) {
            size_t bytes = be_bytes_for(be, BUF_GRADS, DT_F32, 1, &n);
            for (int i = 0; i < t->n; i++)
                if (t->p[i].row_mask_host && t->p[i].goffset >= 0)
                    bytes += be_bytes_for(be, BUF_GRADS, DT_F32, 1, &t->p[i].shape[0]);
            if (be_reserve(be, BUF_GRADS, bytes, st) == 0) t->all_g = be_alloc(be, BUF_GRADS, DT_F32, 1, &n, st);
        }
        if (!t->all_g) return vs_prefix(st, "gradients (%lld floats)", (long long)n);
    }
    for (int i = 0; i < t->n; i++) {
        Param *p = &t->p[i];
        p->w = entry_view(be, t->all_w, p->offset, p);
        p->master = t->all_master ? entry_view(be, t->all_master, p->offset, p) : NULL;
        p->g = p->goffset >= 0 ? entry_view(be, t->all_g, p->goffset, p) : NULL;
        if (p->row_mask_host && p->g) {
            int64_t r = p->shape[0];
            p->row_mask = be_alloc(be, BUF_GRADS, DT_F32, 1, &r, st);
            if (!p->row_mask) return vs_prefix(st, "row mask of %s", p->name);
            be_upload(be, p->row_mask, p->row_mask_host);
        }
    }
    return 0;
}

void pt_upload(ParamTable *t, int idx, const float *host) {
    be_upload(t->be, t->p[idx].w, host);
    if (t->p[idx].master) be_upload(t->be, t->p[idx].master, host);
}

void pt_download(const ParamTable *t, int idx, float *host) {
    be_download(t->be, t->p[idx].master ? t->p[idx].master : t->p[idx].w, host);
}

void pt_zero_grads(ParamTable *t) {
    if (t->all_g) op_fill(t->be, t->all_g, 0.0f);
}

void pt_apply_row_masks(ParamTable *t) {
    for (int i = 0; i < t->n; i++)
        if (t->p[i].row_mask && t->p[i].g) op_mask_rows(t->be, t->p[i].g, t->p[i].row_mask);
}

const char *pt_comp_name(Component c) {
    static const char *n[] = {"encoder", "adapter", "llm"};
    return c < COMP__COUNT ? n[c] : "?";
}
