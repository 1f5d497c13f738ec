/* train/optim.c — the step API (trainer.h): per-stage trainability and
 * AdamW state, one optimizer step over micro-batches (loss-token weighting,
 * global-norm clipping, NaN/Inf guard), forward-only eval loss.
 *
 * Memory: gradients are one BUF_GRADS allocation re-carved per stage from the
 * table's mark (only trainable, used entries); the moments are one BUF_OPTIM
 * allocation (2 * trainable floats + the (1) norm scratch). Nothing is
 * allocated per step on the device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

/* Re-carves BUF_GRADS for the current trainable flags (weights untouched). */
static int realloc_grads(ParamTable *t, VStatus *st) {
    Backend *be = t->be;
    be_reset(be, BUF_GRADS, t->mark_g);
    t->all_g = NULL;
    t->total_trainable = 0;
    for (int i = 0; i < t->n; i++) {
        Param *p = &t->p[i];
        p->g = NULL;
        p->row_mask = NULL;
        if (p->trainable && !p->unused) {
            p->goffset = t->total_trainable;
            t->total_trainable += p->numel;
        } else {
            p->goffset = -1;
        }
    }
    if (t->total_trainable) {
        int64_t n = t->total_trainable;
        t->all_g = be_alloc(be, BUF_GRADS, DT_F32, 1, &n, st);
        if (!t->all_g && be_used(be, BUF_GRADS) == 0) {
            /* backends with reservations (cuda): size the class for this stage, as pt_allocate does */
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
        if (p->goffset < 0) continue;
        int64_t shp[2] = {p->shape[0], p->numel / p->shape[0]};
        p->g = t_view(be, t->all_g, p->goffset, p->ndim == 1 ? 1 : 2, shp);
        if (p->row_mask_host) {
            int64_t r = p->shape[0];
            p->row_mask = be_alloc(be, BUF_GRADS, DT_F32, 1, &r, st);
            if (!p->row_mask) return vs_prefix(st, "row mask of %s", p->name);
            be_upload(be, p->row_mask, p->row_mask_host);
        }
    }
    return 0;
}

void tr_optim_free(TrOptim *o) {
    if (o->vlm && o->vlm->be && o->p) be_reset(o->vlm->be, BUF_OPTIM, o->optim_mark);
    free(o->p);
    free(o->gl);
    memset(o, 0, sizeof *o);
}

int tr_optim_setup(TrOptim *o, Vlm *m, const TrStageCfg *sc, const char *key, VStatus *st) {
    tr_optim_free(o);
    ParamTable *t = &m->pt;
    /* trainability: the listed components / globs (empty list: everything);
       entries with a row mask (new vocabulary rows) stay trainable */
    for (int i = 0; i < t->n; i++) {
        Param *p = &t->p[i];
        if (p->row_mask_host && !sc->train_new_rows_only) {   /* a later stage trains whole rows again */
            free(p->row_mask_host);
            p->row_mask_host = NULL;
        }
        int tr = sc->trainable.n == 0;
        for (int k = 0; k < sc->trainable.n && !tr; k++) tr = tr_match_param(sc->trainable.items[k], p);
        if (p->row_mask_host && sc->train_new_rows_only) tr = 1;
        p->trainable = tr;
    }
    for (int k = 0; k < sc->trainable.n; k++) {
        int hit = 0;
        for (int i = 0; i < t->n && !hit; i++) hit = tr_match_param(sc->trainable.items[k], &t->p[i]);
        if (!hit)
            return vs_set(st, VS_EINVAL, "key '%s.trainable.%d': '%s' matches no parameter of the model", key, k,
                          sc->trainable.items[k]);
    }
    const TrGroupCfg *G = sc->groups.items;
    for (int k = 0; k < sc->groups.n; k++) {
        int hit = 0;
        for (int i = 0; i < t->n && !hit; i++) hit = tr_match_param(G[k].match, &t->p[i]);
        if (!hit)
            return vs_set(st, VS_EINVAL, "key '%s.groups.%d.match': '%s' matches no parameter of the model", key, k,
                          G[k].match);
    }
    if (realloc_grads(t, st)) return st->code;
    o->vlm = m;
    o->beta1 = (float)sc->beta1;
    o->beta2 = (float)sc->beta2;
    o->eps = (float)sc->eps;
    o->adam_step = 0;
    int n = 0;
    for (int i = 0; i < t->n; i++) n += t->p[i].g != NULL;
    if (n == 0) return vs_set(st, VS_EINVAL, "key '%s.trainable': nothing trains in this stage", key);
    o->p = calloc((size_t)n, sizeof *o->p);
    o->gl = calloc((size_t)n, sizeof *o->gl);
    if (!o->p || !o->gl) return vs_set(st, VS_ENOMEM, "optimizer table");
    Backend *be = m->be;
    o->optim_mark = be_mark(be, BUF_OPTIM);
    int64_t total = 2 * t->total_trainable;
    int64_t one = 1;
    Tensor *all = be_alloc(be, BUF_OPTIM, DT_F32, 1, &total, st);
    if (!all && be_used(be, BUF_OPTIM) == 0 &&
        be_reserve(be, BUF_OPTIM, be_bytes_for(be, BUF_OPTIM, DT_F32, 1, &total) + be_bytes_for(be, BUF_OPTIM, DT_F32, 1, &one),
                   st) == 0)
        all = be_alloc(be, BUF_OPTIM, DT_F32, 1, &total, st);
    if (!all) return vs_prefix(st, "AdamW moments (%lld floats)", (long long)total);
    op_fill(be, all, 0.0f);
    o->sumsq = be_alloc(be, BUF_OPTIM, DT_F32, 1, &one, st);
    if (!o->sumsq) return vs_prefix(st, "norm scratch");
    for (int i = 0; i < t->n; i++) {
        Param *p = &t->p[i];
        if (!p->g) continue;
        TrParamOpt *q = &o->p[o->n];
        q->idx = i;
        q->group = -1;
        for (int k = 0; k < sc->groups.n && q->group < 0; k++)
            if (tr_match_param(G[k].match, p)) q->group = k;
        q->lr = (float)(q->group >= 0 ? G[q->group].lr : sc->lr);
        double wd = q->group >= 0 && G[q->group].weight_decay >= 0 ? G[q->group].weight_decay : sc->weight_decay;
        q->wd = p->ndim == 1 ? 0.0f : (float)wd;   /* no decay on norms and biases */
        int64_t shp[2] = {p->shape[0], p->numel / p->shape[0]};
        int nd = p->ndim == 1 ? 1 : 2;
        q->m = t_view(be, all, p->goffset, nd, shp);
        q->v = t_view(be, all, t->total_trainable + p->goffset, nd, shp);
        o->gl[o->n] = p->g;
        o->n++;
    }
    return be_sync(be, st);
}

static int64_t count_loss(const VlmBatch *b) {
    int64_t n = 0, N = b->B * b->T;
    for (int64_t i = 0; i < N; i++) n += b->targets[i] != -1;
    return n;
}

int tr_step(TrOptim *o, const VlmBatch *micro, int n, double lr_factor, double base_lr, double clip,
            TrStepStats *s, VStatus *st) {
    Vlm *m = o->vlm;
    Backend *be = m->be;
    memset(s, 0, sizeof *s);
    s->lr = lr_factor * base_lr;
    for (int k = 0; k < n; k++) {
        s->loss_tokens += count_loss(&micro[k]);
        s->tokens += micro[k].B * micro[k].T;
        s->images += micro[k].n_images;
    }
    pt_zero_grads(&m->pt);
    if (s->loss_tokens == 0) {
        /* nothing to learn from: an empty step is a skipped one, not an error */
        s->skipped = 1;
        s->loss = s->grad_norm = NAN;
        return 0;
    }
    float w = (float)(1.0 / (double)s->loss_tokens);
    double loss = 0;
    for (int k = 0; k < n; k++) {
        double l = 0;
        if (vlm_forward(m, &micro[k], w, 1, &l, st)) return vs_prefix(st, "micro-batch %d", k);
        if (vlm_backward(m, st)) return vs_prefix(st, "micro-batch %d backward", k);
        vlm_end_step(m);
        loss += l;
    }
    s->loss = loss;
    op_sumsq(be, o->sumsq, o->gl, o->n);
    float ss = 0;
    be_download(be, o->sumsq, &ss);
    if (be_sync(be, st)) return st->code;
    s->grad_norm = sqrt((double)ss);
    if (!isfinite(s->loss) || !isfinite(s->grad_norm)) {
        s->skipped = 1;
        return 0;
    }
    /* torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped to 1 */
    float scale = 1.0f;
    if (clip > 0) {
        float coef = (float)clip / ((float)s->grad_norm + 1e-6f);
        if (coef < 1.0f) scale = coef;
    }
    int64_t step = o->adam_step + 1;
    for (int k = 0; k < o->n; k++) {
        TrParamOpt *q = &o->p[k];
        Param *p = &m->pt.p[q->idx];
        AdamWDesc d = {.lr = (float)(q->lr * lr_factor), .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps,
                       .weight_decay = q->wd, .step = step, .grad_scale = scale};
        /* f32 master weights when the backend keeps a lower-precision compute copy (cuda) */
        op_adamw(be, &d, p->master ? p->master : p->w, p->master ? p->w : NULL, p->g, q->m, q->v, p->row_mask);
    }
    o->adam_step = step;
    return be_sync(be, st);
}

int tr_eval_loss(Vlm *m, const VlmBatch *micro, int n, double *loss, int64_t *loss_tokens, VStatus *st) {
    int64_t tot = 0;
    for (int k = 0; k < n; k++) tot += count_loss(&micro[k]);
    *loss = NAN;
    if (loss_tokens) *loss_tokens = tot;
    if (tot == 0) return 0;
    double sum = 0;
    float w = (float)(1.0 / (double)tot);
    for (int k = 0; k < n; k++) {
        double l = 0;
        if (vlm_forward(m, &micro[k], w, 0, &l, st)) return vs_prefix(st, "eval micro-batch %d", k);
        vlm_end_step(m);
        sum += l;
    }
    *loss = sum;
    return 0;
}
