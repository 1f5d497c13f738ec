/* model/hf_export.c — Vlm -> a Hugging Face directory transformers loads:
 * config.json (model/config.c) and model.safetensors with the canonical names
 * (the layout transformers 5 itself saves), HF shapes, dtype F32 or BF16
 * (round to nearest even). A tied lm-head is not written (transformers saves
 * it once, as the embedding). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/hf.h"
#include "model/safetensors.h"

/* Streams one entry into the file being written (no host copy of the whole model). */
typedef struct FillCtx { Vlm *m; int idx; DType dtype; float *tmp; } FillCtx;

static int fill_entry(void *ctx, void *dst, size_t nbytes, VStatus *st) {
    FillCtx *c = ctx;
    const Param *p = &c->m->pt.p[c->idx];
    if (nbytes != (size_t)p->numel * dt_size(c->dtype)) return vs_set(st, VS_EINVAL, "%s: %zu bytes", p->name, nbytes);
    if (c->dtype == DT_F32) {
        pt_download(&c->m->pt, c->idx, dst);
        return 0;
    }
    pt_download(&c->m->pt, c->idx, c->tmp);
    uint16_t *h = dst;
    for (int64_t j = 0; j < p->numel; j++) h[j] = st_f32_to_bf16(c->tmp[j]);
    return 0;
}

int hf_save(Vlm *m, const char *dir, DType dtype, VStatus *st) {
    if (dtype != DT_F32 && dtype != DT_BF16) return vs_set(st, VS_EINVAL, "hf_save: dtype %s (f32 or bf16)", dt_name(dtype));
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return vs_set(st, VS_EIO, "%s: %s", dir, strerror(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (mcfg_write_hf_json(&m->cfg, path, dtype == DT_BF16 ? "bfloat16" : "float32", st)) return st->code;
    const ParamTable *t = &m->pt;
    StWriteTensor *w = calloc((size_t)t->n, sizeof *w);
    FillCtx *ctx = calloc((size_t)t->n, sizeof *ctx);
    VLMC_ASSERT(w && ctx, "out of memory");
    int64_t maxn = 0;
    for (int i = 0; i < t->n; i++) maxn = t->p[i].numel > maxn ? t->p[i].numel : maxn;
    float *tmp = malloc((size_t)maxn * sizeof(float));
    VLMC_ASSERT(tmp, "out of memory");
    for (int i = 0; i < t->n; i++) {
        const Param *p = &t->p[i];
        ctx[i] = (FillCtx){m, i, dtype, tmp};
        w[i] = (StWriteTensor){.name = p->name, .dtype = dtype, .ndim = p->ndim, .shape = p->shape, .fill = fill_entry, .fill_ctx = &ctx[i]};
    }
    StMeta meta[1] = {{"format", "pt"}};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = st_write(path, w, (size_t)t->n, meta, 1, st);
    free(w);
    free(ctx);
    free(tmp);
    return rc;
}
