/* train/ckpt_io.c — what goes inside a checkpoint directory (trainer.h):
 * model.safetensors + config.json through hf_save (HF names, so `vlmc
 * convert` and transformers read them), optim.safetensors (m.NAME, v.NAME of
 * every trainable entry, f32, streamed from the device through st_write fill
 * callbacks) and trainer.json. Loading maps names back with
 * hf_canonical_name and requires every tensor to be present with its shape.
 *
 * Test hook: with VLMC_TEST_PAUSE_IN_CKPT=STEP the writer of the checkpoint
 * of global step STEP creates RUN/.pause-in-ckpt after the weights and
 * sleeps 60 s before the optimizer state, so a test can SIGKILL it mid-write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/hf.h"
#include "model/safetensors.h"
#include "train/ckpt_dir.h"
#include "train/ckpt_io.h"

typedef struct FillCtx { Backend *be; const Tensor *t; } FillCtx;

static int fill_download(void *ctx, void *dst, size_t nbytes, VStatus *st) {
    FillCtx *c = ctx;
    if ((size_t)t_numel(c->t) * sizeof(float) != nbytes) return vs_set(st, VS_EINVAL, "optimizer tensor size");
    be_download(c->be, c->t, dst);
    return 0;
}

static void test_pause(const char *run_dir, int64_t step) {
    const char *e = getenv("VLMC_TEST_PAUSE_IN_CKPT");
    if (!e || strtoll(e, NULL, 10) != step) return;
    char p[4200];
    snprintf(p, sizeof p, "%s/.pause-in-ckpt", run_dir);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
    sleep(60);
}

int tr_ckpt_write(const char *run_dir, int64_t step, Vlm *m, const TrOptim *o, const char *state_json, VStatus *st) {
    char tmp[4200], p[4300];
    if (ckpt_dir_begin(run_dir, step, tmp, sizeof tmp, st)) return st->code;
    if (hf_save(m, tmp, DT_F32, st)) return vs_prefix(st, "checkpoint %s", tmp);
    test_pause(run_dir, step);
    int n = o ? o->n : 0;
    StWriteTensor *w = calloc((size_t)(2 * n) + 1, sizeof *w);
    FillCtx *fc = calloc((size_t)(2 * n) + 1, sizeof *fc);
    char (*names)[PT_NAME_MAX + 4] = calloc((size_t)(2 * n) + 1, sizeof *names);
    int64_t(*shapes)[2] = calloc((size_t)(2 * n) + 1, sizeof *shapes);
    if (!w || !fc || !names || !shapes) {
        free(w); free(fc); free(names); free(shapes);
        return vs_set(st, VS_ENOMEM, "checkpoint tables");
    }
    for (int k = 0; k < n; k++) {
        const Param *prm = &m->pt.p[o->p[k].idx];
        for (int j = 0; j < 2; j++) {
            int i = 2 * k + j;
            snprintf(names[i], sizeof names[i], "%c.%s", j ? 'v' : 'm', prm->name);
            shapes[i][0] = prm->numel;
            fc[i] = (FillCtx){m->be, j ? o->p[k].v : o->p[k].m};
            w[i] = (StWriteTensor){.name = names[i], .dtype = DT_F32, .ndim = 1, .shape = shapes[i],
                                   .fill = fill_download, .fill_ctx = &fc[i]};
        }
    }
    snprintf(p, sizeof p, "%s/optim.safetensors", tmp);
    int rc = st_write(p, w, (size_t)(2 * n), NULL, 0, st);
    free(w); free(fc); free(names); free(shapes);
    if (rc) return st->code;
    snprintf(p, sizeof p, "%s/trainer.json", tmp);
    if (ckpt_write_file_atomic(p, state_json, strlen(state_json), st)) return st->code;
    return ckpt_dir_commit(run_dir, step, tmp, st);
}

int tr_ckpt_load_weights(const char *ckpt, Vlm *m, VStatus *st) {
    char p[4300];
    snprintf(p, sizeof p, "%s/model.safetensors", ckpt);
    StFile *f = st_open(p, st);
    if (!f) return st->code;
    vlm_feature_cache_clear(m);   /* cached features belong to the weights being replaced */
    char *seen = calloc((size_t)m->pt.n, 1);
    float *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < st_count(f) && !rc; i++) {
        const StTensor *t = st_tensor(f, i);
        char canon[PT_NAME_MAX];
        int k = -1;
        if (hf_canonical_name(m->cfg.layout, t->name, canon)) k = pt_find(&m->pt, canon);
        if (k < 0) k = pt_find(&m->pt, t->name);
        if (k < 0) { rc = vs_set(st, VS_EINVAL, "%s: tensor %s is not in the model", p, t->name); break; }
        if (t->numel != m->pt.p[k].numel) {
            rc = vs_set(st, VS_EINVAL, "%s: %s has %lld elements, the model %lld", p, t->name, (long long)t->numel,
                        (long long)m->pt.p[k].numel);
            break;
        }
        if ((size_t)t->numel > cap) {
            cap = (size_t)t->numel;
            free(buf);
            buf = malloc(cap * sizeof(float));
            if (!buf) { rc = vs_set(st, VS_ENOMEM, "checkpoint load"); break; }
        }
        if ((rc = st_tensor_to_f32(t, buf, st))) break;
        pt_upload(&m->pt, k, buf);   /* weights and the master copy when there is one */
        seen[k] = 1;
    }
    /* a tied lm-head is the embedding: it is one entry; everything must be there */
    for (int k = 0; k < m->pt.n && !rc; k++)
        if (!seen[k]) rc = vs_set(st, VS_EINVAL, "%s: no tensor for %s", p, m->pt.p[k].name);
    free(buf);
    free(seen);
    st_close(f);
    if (!rc) rc = be_sync(m->be, st);
    return rc;
}

int tr_ckpt_load_optim(const char *ckpt, TrOptim *o, VStatus *st) {
    char p[4300];
    snprintf(p, sizeof p, "%s/optim.safetensors", ckpt);
    StFile *f = st_open(p, st);
    if (!f) return st->code;
    Vlm *m = o->vlm;
    int rc = 0;
    if (st_count(f) != (size_t)(2 * o->n))
        rc = vs_set(st, VS_EINVAL, "%s: %zu tensors, the stage trains %d entries (x2)", p, st_count(f), o->n);
    float *buf = NULL;
    for (int k = 0; k < o->n && !rc; k++) {
        const Param *prm = &m->pt.p[o->p[k].idx];
        for (int j = 0; j < 2 && !rc; j++) {
            char name[PT_NAME_MAX + 4];
            snprintf(name, sizeof name, "%c.%s", j ? 'v' : 'm', prm->name);
            const StTensor *t = st_find(f, name);
            if (!t || t->numel != prm->numel || t->dtype != DT_F32) {
                rc = vs_set(st, VS_EINVAL, "%s: %s missing or of the wrong shape", p, name);
                break;
            }
            buf = realloc(buf, (size_t)t->numel * sizeof(float));
            if (!buf) { rc = vs_set(st, VS_ENOMEM, "optimizer load"); break; }
            if ((rc = st_tensor_to_f32(t, buf, st))) break;
            be_upload(m->be, j ? o->p[k].v : o->p[k].m, buf);
        }
    }
    free(buf);
    st_close(f);
    if (!rc) rc = be_sync(m->be, st);
    return rc;
}
