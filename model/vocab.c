/* model/vocab.c — vocabulary growth (see vlm.h): rebuild the table with the
 * larger vocabulary, move every weight across (host copies of whole rows), and
 * initialise the new embedding / lm-head rows to the mean of the old rows
 * with device ops (mean = (1/V) * ones(1, V) @ E, then a row gather). */
#include <stdlib.h>
#include <string.h>

#include "model/vlm_internal.h"

static void init_new_rows(Vlm *m, Tensor *w, int64_t V0, int64_t V1, int64_t C) {
    Backend *be = m->be;
    size_t mk = be_mark(be, BUF_SCRATCH);
    VStatus st = {0};
    int64_t s1[2] = {1, V0}, s2[2] = {1, C}, n = V1 - V0;
    if (be_used(be, BUF_SCRATCH) == 0) {
        /* backends without lazy allocation (cuda) need a reservation first */
        size_t need = be_bytes_for(be, BUF_SCRATCH, DT_F32, 2, s1) + be_bytes_for(be, BUF_SCRATCH, DT_F32, 2, s2) +
                      be_bytes_for(be, BUF_SCRATCH, DT_I32, 1, &n);
        Tensor *probe = be_alloc(be, BUF_SCRATCH, DT_F32, 2, s1, &st);
        if (probe) be_reset(be, BUF_SCRATCH, mk);
        else if (be_reserve(be, BUF_SCRATCH, need, &st)) VLMC_PANIC("vocab growth scratch: %s", st.msg);
    }
    Tensor *ones = be_alloc(be, BUF_SCRATCH, DT_F32, 2, s1, &st);
    Tensor *mean = be_alloc(be, BUF_SCRATCH, DT_F32, 2, s2, &st);
    Tensor *idx = be_alloc(be, BUF_SCRATCH, DT_I32, 1, &n, &st);
    if (!ones || !mean || !idx) VLMC_PANIC("vocab growth scratch: %s", st.msg);
    op_fill(be, ones, 1.0f / (float)V0);
    // ones: (1, V0) @ E[:V0]: (V0, C) -> mean: (1, C)
    MatmulDesc d = {.m = 1, .n = C, .k = V0, .batch = 1, .alpha = 1.0f, .beta = 0.0f};
    op_matmul(be, &d, mean, ones, t_view(be, w, 0, 2, (int64_t[]){V0, C}), NULL);
    int32_t *zeros = calloc((size_t)n, sizeof(int32_t));
    VLMC_ASSERT(zeros, "out of memory");
    be_upload(be, idx, zeros);
    free(zeros);
    op_gather_rows(be, t_view(be, w, V0 * C, 2, (int64_t[]){n, C}), mean, idx);
    be_reset(be, BUF_SCRATCH, mk);
}

int vlm_grow_vocab(Vlm *m, int new_vocab, int train_new_rows_only, VStatus *st) {
    VLMC_ASSERT(!m->acts || !m->acts->have, "vlm_grow_vocab during a step");
    int V0 = m->cfg.llm.vocab;
    if (new_vocab <= V0) return vs_set(st, VS_EINVAL, "grow vocabulary: new size %d <= current %d", new_vocab, V0);
    Backend *be = m->be;
    ParamTable old = m->pt;
    if (be_used(be, BUF_PARAMS) != old.bytes_before_w + be_bytes_for(be, BUF_PARAMS, DT_F32, 1, &old.total))
        return vs_set(st, VS_EINVAL, "grow vocabulary: other tensors follow the model's parameters in BUF_PARAMS");
    float *host = malloc((size_t)old.total * sizeof(float));
    if (!host) return vs_set(st, VS_ENOMEM, "grow vocabulary: %lld floats", (long long)old.total);
    be_download(be, old.all_master ? old.all_master : old.all_w, host);
    /* rebuild: keep the run options and trainability by name */
    VlmConfig cfg = m->cfg;
    cfg.llm.vocab = new_vocab;
    int recompute = m->recompute;
    int64_t chunk = m->xent_chunk;
    VlmFeatCache *fc = m->feat_cache;   /* the encoder does not change: its cached features stay valid */
    m->pt.p = NULL;   /* `old` owns the entries now */
    m->pt.n = m->pt.cap = 0;
    vlm_acts_free(m);
    free(m->vis.L);
    free(m->llm.L);
    be_reset(be, BUF_PARAMS, old.mark_w);
    be_reset(be, BUF_GRADS, old.mark_g);
    if (old.all_master) be_reset(be, BUF_MASTER, old.mark_m);
    int rc = vlm_build(m, &cfg, st);
    m->be = be;
    m->recompute = recompute;
    m->xent_chunk = chunk;
    m->feat_cache = fc;
    if (rc) { free(host); pt_free(&old); return rc; }
    for (int i = 0; i < m->pt.n; i++) {
        int k = pt_find(&old, m->pt.p[i].name);
        VLMC_ASSERT(k >= 0, "%s not in the old table", m->pt.p[i].name);
        m->pt.p[i].trainable = old.p[k].trainable;
        if (!old.p[k].row_mask_host) continue;
        /* a mask set earlier covers the old rows; the new rows train */
        int64_t R = m->pt.p[i].shape[0], R0 = old.p[k].shape[0];
        float *mk = malloc((size_t)R * sizeof(float));
        VLMC_ASSERT(mk, "out of memory");
        memcpy(mk, old.p[k].row_mask_host, (size_t)R0 * sizeof(float));
        for (int64_t r = R0; r < R; r++) mk[r] = 1.0f;
        pt_set_row_mask(&m->pt, i, mk);
        free(mk);
    }
    int vocab_idx[2] = {m->llm.emb, m->llm.head == m->llm.emb ? -1 : m->llm.head};
    if (train_new_rows_only) {
        float *mask = malloc((size_t)new_vocab * sizeof(float));
        VLMC_ASSERT(mask, "out of memory");
        for (int r = 0; r < new_vocab; r++) mask[r] = r >= V0 ? 1.0f : 0.0f;
        for (int j = 0; j < 2; j++)
            if (vocab_idx[j] >= 0) {
                m->pt.p[vocab_idx[j]].trainable = 1;
                pt_set_row_mask(&m->pt, vocab_idx[j], mask);
            }
        free(mask);
    }
    rc = vlm_allocate(m, be, st);
    if (rc) { free(host); pt_free(&old); return rc; }
    int64_t C = cfg.llm.hidden;
    for (int i = 0; i < m->pt.n; i++) {
        Param *p = &m->pt.p[i];
        const Param *o = &old.p[pt_find(&old, p->name)];
        if (p->numel == o->numel) {
            pt_upload(&m->pt, i, host + o->offset);
            continue;
        }
        /* embedding / lm-head: old rows as they were, new rows from their mean */
        float *buf = calloc((size_t)p->numel, sizeof(float));
        VLMC_ASSERT(buf, "out of memory");
        memcpy(buf, host + o->offset, (size_t)o->numel * sizeof(float));
        pt_upload(&m->pt, i, buf);
        init_new_rows(m, p->w, V0, new_vocab, C);
        if (p->master) {
            /* the master copy takes the new rows as computed (rounded to the compute type) */
            int64_t nn = (int64_t)(new_vocab - V0) * C;
            be_download(be, t_view(be, p->w, (int64_t)V0 * C, 1, &nn), buf);
            be_upload(be, t_view(be, p->master, (int64_t)V0 * C, 1, &nn), buf);
        }
        free(buf);
    }
    free(host);
    pt_free(&old);
    return be_sync(be, st);
}
