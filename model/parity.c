/* model/parity.c — see parity.h. */
#include "model/parity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

static int read_i32(StFile *f, const char *name, int required, int32_t **out, const StTensor **tt, VStatus *st) {
    const StTensor *t = st_find(f, name);
    *out = NULL;
    *tt = t;
    if (!t) return required ? vs_set(st, VS_EINVAL, "%s: missing tensor \"%s\"", st_path(f), name) : 0;
    if (t->ndim != 2) return vs_set(st, VS_EINVAL, "%s: \"%s\" must be (B, T)", st_path(f), name);
    *out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(int32_t));
    VLMC_ASSERT(*out, "out of memory");
    if (st_tensor_to_i32(t, *out, st)) return vs_prefix(st, "%s", st_path(f));
    return 0;
}

int parity_run(Vlm *m, const char *inputs_path, ParityOut *o, VStatus *st) {
    memset(o, 0, sizeof *o);
    StFile *f = st_open(inputs_path, st);
    if (!f) return st->code;
    int32_t *ids = NULL, *labels = NULL, *targets = NULL, *pos = NULL, *rows = NULL;
    float *px = NULL;
    const StTensor *ti, *tl;
    int rc = read_i32(f, "input_ids", 1, &ids, &ti, st);
    if (!rc) rc = read_i32(f, "labels", 0, &labels, &tl, st);
    if (rc) goto out;
    int64_t B = ti->shape[0], T = ti->shape[1], N = B * T, V = m->cfg.llm.vocab;
    if (labels && (tl->shape[0] != B || tl->shape[1] != T)) { rc = vs_set(st, VS_EINVAL, "%s: labels shape differs from input_ids", inputs_path); goto out; }
    targets = malloc((size_t)N * sizeof(int32_t));
    pos = malloc((size_t)N * sizeof(int32_t));
    rows = malloc((size_t)N * sizeof(int32_t));
    VLMC_ASSERT(targets && pos && rows, "out of memory");
    int64_t count = 0, nrows = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            int64_t i = b * T + t;
            pos[i] = (int32_t)t;
            int32_t y = labels && t + 1 < T ? labels[i + 1] : -100;
            targets[i] = y == -100 ? -1 : y;
            count += targets[i] >= 0;
            if (m->cfg.has_vision && ids[i] == m->cfg.image_token_id) rows[nrows++] = (int32_t)i;
        }
    VlmBatch bt = {.B = B, .T = T, .tokens = ids, .targets = targets, .pos = pos};
    const StTensor *tp = st_find(f, "pixel_values");
    if (tp) {
        if (!m->cfg.has_vision) { rc = vs_set(st, VS_EINVAL, "%s: pixel_values given to a text-only model", inputs_path); goto out; }
        int s = m->cfg.vis.image_size;
        int nd = tp->ndim;
        if (nd < 4 || tp->shape[nd - 3] != 3 || tp->shape[nd - 2] != s || tp->shape[nd - 1] != s) {
            rc = vs_set(st, VS_EINVAL, "%s: pixel_values must be (..., 3, %d, %d)", inputs_path, s, s);
            goto out;
        }
        bt.n_images = tp->numel / (3LL * s * s);
        int64_t need = bt.n_images * mcfg_tokens_per_image(&m->cfg);
        if (need != nrows) {
            rc = vs_set(st, VS_EINVAL, "%s: %lld image tokens (id %d) in input_ids, %lld images need %lld", inputs_path,
                        (long long)nrows, m->cfg.image_token_id, (long long)bt.n_images, (long long)need);
            goto out;
        }
        px = malloc((size_t)tp->numel * sizeof(float));
        VLMC_ASSERT(px, "out of memory");
        if ((rc = st_tensor_to_f32(tp, px, st))) goto out;
        bt.pixels = px;
        bt.img_rows = rows;
    } else if (nrows) {
        rc = vs_set(st, VS_EINVAL, "%s: input_ids has image tokens but no pixel_values", inputs_path);
        goto out;
    }
    o->B = B;
    o->T = T;
    o->V = V;
    o->logits = malloc((size_t)N * V * sizeof(float));
    VLMC_ASSERT(o->logits, "out of memory");
    if ((rc = vlm_logits(m, &bt, o->logits, st))) goto out;
    if (labels && count > 0) {
        pt_zero_grads(&m->pt);
        if ((rc = vlm_forward(m, &bt, 1.0f / (float)count, 1, &o->loss, st))) goto out;
        rc = vlm_backward(m, st);
        vlm_end_step(m);
        if (rc) goto out;
        o->has_loss = 1;
        o->grads = calloc((size_t)m->pt.n, sizeof(float *));
        VLMC_ASSERT(o->grads, "out of memory");
        for (int i = 0; i < m->pt.n; i++) {
            const Param *p = &m->pt.p[i];
            o->grads[i] = calloc((size_t)p->numel, sizeof(float));
            VLMC_ASSERT(o->grads[i], "out of memory");
            if (p->g) be_download(m->be, p->g, o->grads[i]);
        }
    }
out:
    free(ids);
    free(labels);
    free(targets);
    free(pos);
    free(rows);
    free(px);
    st_close(f);
    return rc;
}

int parity_write(const Vlm *m, const ParityOut *o, const char *path, VStatus *st) {
    int n = 1 + (o->has_loss ? 1 + m->pt.n : 0);
    StWriteTensor *w = calloc((size_t)n, sizeof *w);
    char **names = calloc((size_t)n, sizeof(char *));
    VLMC_ASSERT(w && names, "out of memory");
    int64_t lshape[3] = {o->B, o->T, o->V}, one = 1;
    float loss = (float)o->loss;
    int k = 0;
    w[k++] = (StWriteTensor){.name = "logits", .dtype = DT_F32, .ndim = 3, .shape = lshape, .data = o->logits};
    if (o->has_loss) {
        w[k++] = (StWriteTensor){.name = "loss", .dtype = DT_F32, .ndim = 1, .shape = &one, .data = &loss};
        for (int i = 0; i < m->pt.n; i++) {
            const Param *p = &m->pt.p[i];
            size_t len = strlen(p->name) + 6;
            names[k] = malloc(len);
            VLMC_ASSERT(names[k], "out of memory");
            snprintf(names[k], len, "grad.%s", p->name);
            w[k] = (StWriteTensor){.name = names[k], .dtype = DT_F32, .ndim = p->ndim, .shape = p->shape, .data = o->grads[i]};
            k++;
        }
    }
    int rc = st_write(path, w, (size_t)k, NULL, 0, st);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(w);
    return rc;
}

void parity_free(const Vlm *m, ParityOut *o) {
    if (o->grads)
        for (int i = 0; i < m->pt.n; i++) free(o->grads[i]);
    free(o->grads);
    free(o->logits);
    memset(o, 0, sizeof *o);
}
