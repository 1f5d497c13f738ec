/* tests/model/test_vocab.c — vocabulary growth:
 *  - old embedding / lm-head rows and every other weight are kept bit-exact;
 *    new rows equal the mean of the old rows (float64 host mean, 1e-6 rel);
 *  - logits over the old vocabulary are unchanged (1e-6 rel: only the GEMM's
 *    blocking may differ with the wider output);
 *  - training only the new rows of a tied embedding: old rows get exactly zero
 *    gradient, new rows get exactly the gradient of the unmasked run (lm-head
 *    and embedding contributions summed before masking), frozen parts get no
 *    gradient memory. */
#include "golden_util.h"

static int load(Vlm *m, Backend *be, const char *name, int freeze_all, VStatus *st) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/golden/models/%s/hf", golden_src(), name);
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    for (int k = 0; k < COMP__COUNT; k++) lo.frozen[k] = freeze_all;
    return hf_load(m, dir, be, &lo, st);
}

static float *download(Vlm *m, int idx) {
    float *h = malloc((size_t)m->pt.p[idx].numel * sizeof(float));
    be_download(m->be, m->pt.p[idx].w, h);
    return h;
}

static void test_grow_values(void) {
    Backend *be = golden_backend();
    Vlm m;
    VStatus st = {0};
    int rc = load(&m, be, "text_llama", 1, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (rc) { be_destroy(be); return; }
    char inputs[4096];
    snprintf(inputs, sizeof inputs, "%s/tests/golden/models/text_llama/inputs.safetensors", golden_src());
    ParityOut o0, o1;
    CHECK(parity_run(&m, inputs, &o0, &st) == 0, "%s", st.msg);
    int n0 = m.pt.n;
    float **before = calloc((size_t)n0, sizeof(float *));
    for (int i = 0; i < n0; i++) before[i] = download(&m, i);
    int64_t V0 = m.cfg.llm.vocab, C = m.cfg.llm.hidden, V1 = V0 + 5;
    rc = vlm_grow_vocab(&m, (int)V1, 0, &st);
    CHECK(rc == 0, "%s", st.msg);
    CHECK(m.pt.n == n0 && m.cfg.llm.vocab == V1, "table after growth");
    for (int i = 0; i < n0 && !rc; i++) {
        float *after = download(&m, i);
        const Param *p = &m.pt.p[i];
        int grown = i == m.llm.emb || i == m.llm.head;
        int64_t keep = grown ? V0 * C : p->numel;
        CHECK(!memcmp(after, before[i], (size_t)keep * 4), "%s changed", p->name);
        if (grown) {
            CHECK(p->shape[0] == V1, "%s rows %lld", p->name, (long long)p->shape[0]);
            double num = 0, den = 0;
            for (int64_t c = 0; c < C; c++) {
                double mean = 0;
                for (int64_t r = 0; r < V0; r++) mean += before[i][r * C + c];
                mean /= (double)V0;
                for (int64_t r = V0; r < V1; r++) {
                    num += (after[r * C + c] - mean) * (after[r * C + c] - mean);
                    den += mean * mean;
                }
            }
            CHECK(sqrt(num / den) <= 1e-6, "%s new rows vs mean: rel err %.3e", p->name, sqrt(num / den));
        }
        free(after);
    }
    CHECK(parity_run(&m, inputs, &o1, &st) == 0, "%s", st.msg);
    if (o0.logits && o1.logits) {
        double num = 0, den = 0;
        for (int64_t r = 0; r < o0.B * o0.T; r++)
            for (int64_t v = 0; v < V0; v++) {
                double a = o1.logits[r * V1 + v], b = o0.logits[r * V0 + v];
                num += (a - b) * (a - b);
                den += b * b;
            }
        CHECK(sqrt(num / den) <= 1e-6, "old-vocabulary logits changed: %.3e", sqrt(num / den));
    }
    for (int i = 0; i < n0; i++) free(before[i]);
    free(before);
    parity_free(&m, &o0);
    parity_free(&m, &o1);
    vlm_free(&m);
    be_destroy(be);
}

/* A text-only batch that uses the new tokens as inputs and targets. */
static void run_step(Vlm *m, float *gemb) {
    enum { B = 2, T = 12 };
    int32_t tok[B * T], tgt[B * T], pos[B * T];
    for (int i = 0; i < B * T; i++) {
        tok[i] = (i * 37 + 11) % 250;
        pos[i] = i % T;
    }
    tok[3] = 256;
    tok[15] = 258;
    for (int i = 0; i < B * T; i++) tgt[i] = (i % T) + 1 < T ? tok[i + 1] : -1;
    tgt[7] = 257;
    VlmBatch b = {.B = B, .T = T, .tokens = tok, .targets = tgt, .pos = pos};
    VStatus st = {0};
    pt_zero_grads(&m->pt);
    CHECK(vlm_forward(m, &b, 1.0f / 22.0f, 1, NULL, &st) == 0, "%s", st.msg);
    CHECK(vlm_backward(m, &st) == 0, "%s", st.msg);
    vlm_end_step(m);
    be_download(m->be, m->pt.p[m->llm.emb].g, gemb);
}

static void test_train_new_rows_tied(void) {
    /* one backend per model: growth re-carves the top of its backend's arenas */
    Backend *be = golden_backend(), *be2 = golden_backend();
    Vlm full, mask;
    VStatus st = {0};
    int r1 = load(&full, be, "llava_siglip_qwen2", 0, &st);
    CHECK(r1 == 0, "%s", st.msg);
    int r2 = load(&mask, be2, "llava_siglip_qwen2", 1, &st);
    CHECK(r2 == 0, "%s", st.msg);
    if (r1 || r2) { be_destroy(be); be_destroy(be2); return; }
    CHECK(full.cfg.llm.tied, "golden model must have tied embeddings");
    int64_t V1 = full.cfg.llm.vocab + 4, C = full.cfg.llm.hidden, V0 = full.cfg.llm.vocab;
    CHECK(vlm_grow_vocab(&full, (int)V1, 0, &st) == 0, "%s", st.msg);
    CHECK(vlm_grow_vocab(&mask, (int)V1, 1, &st) == 0, "%s", st.msg);
    /* only the (tied) embedding trains in `mask`: its gradient is the whole BUF_GRADS */
    CHECK(mask.pt.total_trainable == V1 * C, "trainable %lld", (long long)mask.pt.total_trainable);
    for (int i = 0; i < mask.pt.n; i++)
        if (i != mask.llm.emb) CHECK(mask.pt.p[i].g == NULL, "%s has a gradient", mask.pt.p[i].name);
    float *gf = malloc((size_t)(V1 * C) * 4), *gm = malloc((size_t)(V1 * C) * 4);
    run_step(&full, gf);
    run_step(&mask, gm);
    double old_abs = 0, new_norm = 0;
    for (int64_t r = 0; r < V0 * C; r++) old_abs += fabs(gm[r]);
    CHECK(old_abs == 0.0, "old rows got gradient %.3e", old_abs);
    CHECK(!memcmp(gf + V0 * C, gm + V0 * C, (size_t)((V1 - V0) * C) * 4), "new-row gradients differ from the unmasked run");
    for (int64_t r = V0 * C; r < V1 * C; r++) new_norm += (double)gm[r] * gm[r];
    CHECK(new_norm > 0, "new rows got no gradient");
    free(gf);
    free(gm);
    vlm_free(&full);
    vlm_free(&mask);
    be_destroy(be);
    be_destroy(be2);
}

static void test_bad_size(void) {
    Backend *be = golden_backend();
    Vlm m, m2;
    VStatus st = {0};
    if (load(&m, be, "text_llama", 1, &st) == 0) {
        CHECK(vlm_grow_vocab(&m, 100, 0, &st) != 0 && strstr(st.msg, "100"), "shrinking must fail: %s", st.msg);
        /* another model allocated after this one: growing would clobber it */
        if (load(&m2, be, "text_llama", 1, &st) == 0) {
            CHECK(vlm_grow_vocab(&m, 300, 0, &st) != 0 && strstr(st.msg, "follow"), "must refuse: %s", st.msg);
            /* the later model can grow: it owns the top */
            CHECK(vlm_grow_vocab(&m2, 300, 0, &st) == 0, "%s", st.msg);
            vlm_free(&m2);
        }
        vlm_free(&m);
    }
    be_destroy(be);
}

TEST_MAIN({"grow_values", test_grow_values}, {"train_new_rows_tied", test_train_new_rows_tied}, {"bad_size", test_bad_size})
