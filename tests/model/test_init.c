/* tests/model/test_init.c — models built from scratch (no checkpoint):
 *  - seeded initialisation is reproducible (same seed: bit-identical; another
 *    seed: different), matrices ~ N(0, 0.02) (sample std within 10%), norm
 *    weights 1, biases 0; a per-component init_std moves that component's
 *    matrices only;
 *  - at init the loss is close to ln(V) (logits ~0: |loss - ln V| < 0.05);
 *  - the linear adapter (no golden: transformers has no such LLaVA projector)
 *    and a CLIP tower keeping its CLS row: central finite differences in
 *    float32 of the loss w.r.t. a few adapter and encoder weights match the
 *    backward (relative 2e-2: h = 1e-2 on weights of size ~0.02, f32 loss).
 *  - bad batches (token outside the vocabulary, image rows out of range)
 *    are errors, not crashes. */
#include "golden_util.h"

static VlmConfig tiny_cfg(AdapterKind ak) {
    VlmConfig c;
    memset(&c, 0, sizeof c);
    c.layout = LAYOUT_LLAVA;
    c.has_vision = 1;
    c.vis = (VisionConfig){.kind = VIS_CLIP, .hidden = 16, .intermediate = 32, .layers = 2, .heads = 2, .image_size = 16,
                           .patch_size = 4, .ln_eps = 1e-5f, .act = ACT_QUICK_GELU, .feature_layer = -1, .keep_cls = 1};
    c.adapter = (AdapterConfig){.kind = ak, .bias = 1, .shuffle = 2};
    c.llm = (LlmConfig){.vocab = 64, .hidden = 16, .intermediate = 32, .layers = 2, .heads = 2, .kv_heads = 1, .head_dim = 8,
                        .rms_eps = 1e-5f, .rope = {.theta = 10000.0f, .rot_dim = 8}, .max_pos = 64};
    c.image_token_id = 63;
    return c;
}

enum { B = 2, T = 24 };
static int32_t tok[B * T], tgt[B * T], pos[B * T], rows[2 * 17];
static float px[2 * 3 * 16 * 16];

static VlmBatch make_batch(const VlmConfig *c) {
    int n = mcfg_tokens_per_image(c);
    int k = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            pos[i] = t;
            tok[i] = (i * 13 + 5) % 60;
            if (t >= 2 && t < 2 + n) { tok[i] = c->image_token_id; rows[k++] = i; }
        }
    for (int i = 0; i < B * T; i++) tgt[i] = (i % T) + 1 < T && tok[i + 1] != c->image_token_id ? tok[i + 1] : -1;
    uint64_t s = 99;
    for (size_t i = 0; i < sizeof px / sizeof px[0]; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        px[i] = (float)((s >> 40) % 2000) / 1000.0f - 1.0f;
    }
    return (VlmBatch){.B = B, .T = T, .tokens = tok, .targets = tgt, .pos = pos, .n_images = 2, .pixels = px, .img_rows = rows};
}

static int count_targets(void) {
    int n = 0;
    for (int i = 0; i < B * T; i++) n += tgt[i] >= 0;
    return n;
}

static void test_seeded(void) {
    VlmConfig c = tiny_cfg(ADAPT_MLP);
    Backend *be = golden_backend();
    Vlm a, b;
    VStatus st = {0};
    CHECK(vlm_build(&a, &c, &st) == 0 && vlm_allocate(&a, be, &st) == 0, "%s", st.msg);
    CHECK(vlm_build(&b, &c, &st) == 0 && vlm_allocate(&b, be, &st) == 0, "%s", st.msg);
    float *ha = malloc((size_t)a.pt.total * 4), *hb = malloc((size_t)a.pt.total * 4);
    vlm_init_random(&a, 42, &st);
    vlm_init_random(&b, 42, &st);
    be_download(be, a.pt.all_w, ha);
    be_download(be, b.pt.all_w, hb);
    CHECK(!memcmp(ha, hb, (size_t)a.pt.total * 4), "same seed, different weights");
    vlm_init_random(&b, 43, &st);
    be_download(be, b.pt.all_w, hb);
    CHECK(memcmp(ha, hb, (size_t)a.pt.total * 4) != 0, "different seeds, same weights");
    for (int i = 0; i < a.pt.n; i++) {
        const Param *p = &a.pt.p[i];
        const float *w = ha + p->offset;
        if (p->ndim >= 2 && p->numel >= 256) {
            double s2 = 0;
            for (int64_t j = 0; j < p->numel; j++) s2 += (double)w[j] * w[j];
            double sd = sqrt(s2 / (double)p->numel);
            CHECK(fabs(sd - 0.02) < 0.002, "%s: std %.4f", p->name, sd);
        } else if (strstr(p->name, "norm") && strstr(p->name, ".weight")) {
            for (int64_t j = 0; j < p->numel; j++) CHECK(w[j] == 1.0f, "%s not ones", p->name);
        } else if (strstr(p->name, ".bias")) {
            for (int64_t j = 0; j < p->numel; j++) CHECK(w[j] == 0.0f, "%s not zeros", p->name);
        }
    }
    /* per-component std (VlmConfig.init_std): every matrix of the component at
       its own std, the others at the 0.02 default */
    vlm_free(&b);
    VlmConfig c2 = c;
    c2.init_std[COMP_LLM] = 0.08f;
    c2.init_std[COMP_ADAPTER] = 0.05f;
    CHECK(vlm_build(&b, &c2, &st) == 0 && vlm_allocate(&b, be, &st) == 0, "%s", st.msg);
    vlm_init_random(&b, 42, &st);
    be_download(be, b.pt.all_w, hb);
    int checked[COMP__COUNT] = {0};
    for (int i = 0; i < b.pt.n; i++) {
        const Param *p = &b.pt.p[i];
        if (p->ndim < 2 || p->numel < 256) continue;
        double want = p->comp == COMP_LLM ? 0.08 : p->comp == COMP_ADAPTER ? 0.05 : 0.02, s2 = 0;
        for (int64_t j = 0; j < p->numel; j++) s2 += (double)hb[p->offset + j] * hb[p->offset + j];
        double sd = sqrt(s2 / (double)p->numel);
        CHECK(fabs(sd - want) < 0.1 * want, "%s: std %.4f, want %.2f", p->name, sd, want);
        checked[p->comp]++;
    }
    CHECK(checked[COMP_ENCODER] && checked[COMP_ADAPTER] && checked[COMP_LLM], "a component without a matrix checked");
    free(ha);
    free(hb);
    vlm_free(&a);
    vlm_free(&b);
    be_destroy(be);
}

static double loss_of(Vlm *m, const VlmBatch *b, float w) {
    double l = 0;
    VStatus st = {0};
    CHECK(vlm_forward(m, b, w, 0, &l, &st) == 0, "%s", st.msg);
    return l;
}

static void fd_check(AdapterKind ak) {
    VlmConfig c = tiny_cfg(ak);
    Backend *be = golden_backend();
    Vlm m;
    VStatus st = {0};
    CHECK(vlm_build(&m, &c, &st) == 0 && vlm_allocate(&m, be, &st) == 0, "%s", st.msg);
    vlm_init_random(&m, 7, &st);
    VlmBatch b = make_batch(&c);
    float w = 1.0f / (float)count_targets();
    double l0 = loss_of(&m, &b, w);
    CHECK(fabs(l0 - log(64.0)) < 0.05, "initial loss %.4f vs ln V %.4f", l0, log(64.0));
    pt_zero_grads(&m.pt);
    CHECK(vlm_forward(&m, &b, w, 1, NULL, &st) == 0, "%s", st.msg);
    CHECK(vlm_backward(&m, &st) == 0, "%s", st.msg);
    vlm_end_step(&m);
    const int which[] = {m.ad.w1, m.ad.b1, m.vis.L[0].fc1_w, m.vis.cls, m.vis.pos, m.vis.patch_w};
    for (size_t q = 0; q < sizeof which / sizeof which[0]; q++) {
        Param *p = &m.pt.p[which[q]];
        float *wh = malloc((size_t)p->numel * 4), *gh = malloc((size_t)p->numel * 4);
        be_download(be, p->w, wh);
        be_download(be, p->g, gh);
        /* the 3 entries with the largest gradient: FD in f32 is meaningful there */
        for (int rep = 0; rep < 3; rep++) {
            int64_t j = 0;
            for (int64_t k = 1; k < p->numel; k++) if (fabsf(gh[k]) > fabsf(gh[j])) j = k;
            float keep = wh[j];
            const float h = 1e-2f;
            wh[j] = keep + h;
            be_upload(be, p->w, wh);
            double lp = loss_of(&m, &b, w);
            wh[j] = keep - h;
            be_upload(be, p->w, wh);
            double lm = loss_of(&m, &b, w);
            wh[j] = keep;
            be_upload(be, p->w, wh);
            double fd = (lp - lm) / (2 * h);
            CHECK(fabs(fd - gh[j]) <= 2e-2 * fabs(gh[j]) + 1e-5, "%s[%lld]: backward %.6e, finite difference %.6e", p->name,
                  (long long)j, gh[j], fd);
            gh[j] = 0;
        }
        free(wh);
        free(gh);
    }
    /* bad input */
    tok[5] = 64;
    CHECK(vlm_forward(&m, &b, w, 0, NULL, &st) != 0 && strstr(st.msg, "vocabulary"), "token 64 must be rejected: %s", st.msg);
    tok[5] = 1;
    rows[0] = B * T;
    CHECK(vlm_forward(&m, &b, w, 0, NULL, &st) != 0 && strstr(st.msg, "image row"), "bad image row must be rejected: %s", st.msg);
    vlm_free(&m);
    be_destroy(be);
}

static void test_fd_linear_adapter(void) { fd_check(ADAPT_LINEAR); }
static void test_fd_mlp_adapter(void) { fd_check(ADAPT_MLP); }

/* Packing: two samples in one row (doc ids 0/1, positions restarting at 0)
 * give the same loss sum and gradients as the two samples run as separate
 * rows of their own length (1e-5 relative: only summation order differs). */
static void test_packing(void) {
    VlmConfig c = tiny_cfg(ADAPT_MLP);
    c.has_vision = 0;
    c.layout = LAYOUT_TEXT;
    Backend *be = golden_backend();
    Vlm m;
    VStatus st = {0};
    CHECK(vlm_build(&m, &c, &st) == 0 && vlm_allocate(&m, be, &st) == 0, "%s", st.msg);
    vlm_init_random(&m, 3, &st);
    enum { LA = 10, LB = 14, L = LA + LB };
    int32_t t[L], y[L], p[L], d[L];
    for (int i = 0; i < L; i++) {
        t[i] = (i * 29 + 3) % 64;
        int a = i < LA;
        p[i] = a ? i : i - LA;
        d[i] = a ? 0 : 1;
        y[i] = (a ? i + 1 < LA : i + 1 < L) ? (i * 11 + 7) % 64 : -1;
    }
    int64_t n = m.pt.total_trainable;
    float *g_packed = malloc((size_t)n * 4), *g_sep = malloc((size_t)n * 4);
    double l_packed = 0, la = 0, lb = 0;
    VlmBatch packed = {.B = 1, .T = L, .tokens = t, .targets = y, .pos = p, .doc = d};
    pt_zero_grads(&m.pt);
    CHECK(vlm_forward(&m, &packed, 1.0f, 1, &l_packed, &st) == 0 && vlm_backward(&m, &st) == 0, "%s", st.msg);
    vlm_end_step(&m);
    be_download(be, m.pt.all_g, g_packed);
    VlmBatch a = {.B = 1, .T = LA, .tokens = t, .targets = y, .pos = p};
    VlmBatch b = {.B = 1, .T = LB, .tokens = t + LA, .targets = y + LA, .pos = p + LA};
    pt_zero_grads(&m.pt);
    CHECK(vlm_forward(&m, &a, 1.0f, 1, &la, &st) == 0 && vlm_backward(&m, &st) == 0, "%s", st.msg);
    vlm_end_step(&m);
    CHECK(vlm_forward(&m, &b, 1.0f, 1, &lb, &st) == 0 && vlm_backward(&m, &st) == 0, "%s", st.msg);
    vlm_end_step(&m);
    be_download(be, m.pt.all_g, g_sep);
    CHECK(fabs(l_packed - (la + lb)) <= 1e-5 * fabs(la + lb), "packed loss %.7f vs %.7f", l_packed, la + lb);
    double e = test_rel_err_f(g_packed, g_sep, (size_t)n);
    CHECK(e <= 1e-5, "packed vs separate gradients: rel err %.3e", e);
    printf("  packed vs separate: loss %.7f / %.7f, gradient rel err %.3e\n", l_packed, la + lb, e);
    free(g_packed);
    free(g_sep);
    vlm_free(&m);
    be_destroy(be);
}

/* Partial LLM training: with the embedding and block 0 frozen, block 0 runs
 * no backward and keeps no activations; the gradients of everything above
 * are bit-identical to the full run's. */
static void test_partial_llm(void) {
    VlmConfig c = tiny_cfg(ADAPT_MLP);
    c.has_vision = 0;
    c.layout = LAYOUT_TEXT;
    c.llm.layers = 3;
    Backend *be1 = golden_backend(), *be2 = golden_backend();
    Vlm full, part;
    VStatus st = {0};
    CHECK(vlm_build(&full, &c, &st) == 0 && vlm_allocate(&full, be1, &st) == 0, "%s", st.msg);
    CHECK(vlm_build(&part, &c, &st) == 0, "%s", st.msg);
    CHECK(pt_set_trainable_glob(&part.pt, "model.layers.0.*", 0) == 9, "glob over block 0's 9 tensors");
    CHECK(pt_set_trainable_glob(&part.pt, "*embed_tokens*", 0) == 1, "glob for the embedding");
    CHECK(pt_set_trainable_glob(&part.pt, "no.such.*", 0) == 0, "a glob matching nothing reports 0");
    CHECK(vlm_allocate(&part, be2, &st) == 0, "%s", st.msg);
    vlm_init_random(&full, 5, &st);
    vlm_init_random(&part, 5, &st);
    int32_t t[24], y[24], p[24];
    for (int i = 0; i < 24; i++) { t[i] = (i * 7 + 1) % 64; y[i] = i < 23 ? (i * 5 + 2) % 64 : -1; p[i] = i; }
    VlmBatch b = {.B = 1, .T = 24, .tokens = t, .targets = y, .pos = p};
    Vlm *ms[2] = {&full, &part};
    for (int k = 0; k < 2; k++) {
        pt_zero_grads(&ms[k]->pt);
        CHECK(vlm_forward(ms[k], &b, 1.0f / 23, 1, NULL, &st) == 0 && vlm_backward(ms[k], &st) == 0, "%s", st.msg);
        vlm_end_step(ms[k]);
    }
    for (int i = 0; i < part.pt.n; i++) {
        const Param *pp = &part.pt.p[i], *pf = &full.pt.p[i];
        if (!pp->g) continue;
        float *a = malloc((size_t)pp->numel * 4), *f = malloc((size_t)pp->numel * 4);
        be_download(be2, pp->g, a);
        be_download(be1, pf->g, f);
        CHECK(!memcmp(a, f, (size_t)pp->numel * 4), "%s: gradient differs from the full run", pp->name);
        free(a);
        free(f);
    }
    CHECK(be_peak(be2, BUF_ACTS) < be_peak(be1, BUF_ACTS), "activation peak %zu not below full %zu", be_peak(be2, BUF_ACTS), be_peak(be1, BUF_ACTS));
    vlm_free(&full);
    vlm_free(&part);
    be_destroy(be1);
    be_destroy(be2);
}

/* Recompute per block: bit-identical gradients (same ops, same order), and
 * a lower activation peak. Full VLM (CLIP tower + mlp + LLM), all trainable. */
static void test_recompute_identical(void) {
    VlmConfig c = tiny_cfg(ADAPT_MLP);
    Backend *be[2] = {golden_backend(), golden_backend()};
    Vlm m[2];
    VStatus st = {0};
    float *g[2];
    VlmBatch b = make_batch(&c);
    for (int k = 0; k < 2; k++) {
        CHECK(vlm_build(&m[k], &c, &st) == 0 && vlm_allocate(&m[k], be[k], &st) == 0, "%s", st.msg);
        vlm_init_random(&m[k], 9, &st);
        m[k].recompute = k;
        pt_zero_grads(&m[k].pt);
        CHECK(vlm_forward(&m[k], &b, 0.05f, 1, NULL, &st) == 0 && vlm_backward(&m[k], &st) == 0, "%s", st.msg);
        vlm_end_step(&m[k]);
        g[k] = malloc((size_t)m[k].pt.total_trainable * 4);
        be_download(be[k], m[k].pt.all_g, g[k]);
    }
    CHECK(!memcmp(g[0], g[1], (size_t)m[0].pt.total_trainable * 4), "recompute changes the gradients");
    /* a step leaves no tensor handle or byte behind in any buffer class */
    for (int k = 0; k < 2; k++) {
        size_t marks[BUF__COUNT], used[BUF__COUNT];
        for (int c2 = 0; c2 < BUF__COUNT; c2++) { marks[c2] = be_mark(be[k], (BufClass)c2); used[c2] = be_used(be[k], (BufClass)c2); }
        CHECK(vlm_forward(&m[k], &b, 0.05f, 1, NULL, &st) == 0 && vlm_backward(&m[k], &st) == 0, "%s", st.msg);
        vlm_end_step(&m[k]);
        for (int c2 = 0; c2 < BUF__COUNT; c2++)
            CHECK(be_mark(be[k], (BufClass)c2) == marks[c2] && be_used(be[k], (BufClass)c2) == used[c2],
                  "class %d: %zu handles / %zu bytes after a step, %zu / %zu before", c2, be_mark(be[k], (BufClass)c2),
                  be_used(be[k], (BufClass)c2), marks[c2], used[c2]);
    }
    CHECK(be_peak(be[1], BUF_ACTS) < be_peak(be[0], BUF_ACTS), "recompute peak %zu not below %zu", be_peak(be[1], BUF_ACTS), be_peak(be[0], BUF_ACTS));
    printf("  BUF_ACTS peak: %zu without recompute, %zu with\n", be_peak(be[0], BUF_ACTS), be_peak(be[1], BUF_ACTS));
    for (int k = 0; k < 2; k++) {
        free(g[k]);
        vlm_free(&m[k]);
        be_destroy(be[k]);
    }
}

/* vlm_acts_bytes is an upper bound of the measured BUF_ACTS peak (and not a
 * wild one: <= 3x), for training and logits, with and without recompute,
 * frozen encoder, text-only; a step fits in an exact reservation of it. */
static void test_acts_bound(void) {
    for (int variant = 0; variant < 5; variant++) {
        VlmConfig c = tiny_cfg(variant == 3 ? ADAPT_LINEAR : ADAPT_MLP);
        if (variant == 4) { c.has_vision = 0; c.layout = LAYOUT_TEXT; }
        Backend *be = golden_backend();
        Vlm m;
        VStatus st = {0};
        CHECK(vlm_build(&m, &c, &st) == 0, "%s", st.msg);
        if (variant == 2) pt_set_trainable_comp(&m.pt, COMP_ENCODER, 0);
        CHECK(vlm_allocate(&m, be, &st) == 0, "%s", st.msg);
        vlm_init_random(&m, 1, &st);
        m.recompute = variant == 1;
        VlmConfig cb = tiny_cfg(ADAPT_MLP);
        VlmBatch b = make_batch(&cb);
        if (variant == 4) { b.n_images = 0; for (int i = 0; i < B * T; i++) if (tok[i] == 63) tok[i] = 5; }
        size_t bound = vlm_acts_bytes(&m, B, T, b.n_images, 1, 1);
        size_t bound_fwd = vlm_acts_bytes(&m, B, T, b.n_images, 0, 1);
        CHECK(vlm_reserve_acts(&m, B, T, b.n_images, &st) == 0, "%s", st.msg);
        float *lg = malloc((size_t)B * T * 64 * 4);
        /* forward-only uses (logits for generation, held-out loss) first, so the
           high-water mark is theirs */
        CHECK(vlm_logits(&m, &b, lg, &st) == 0, "%s", st.msg);
        double l0;
        CHECK(vlm_forward(&m, &b, 0.05f, 0, &l0, &st) == 0, "%s", st.msg);
        vlm_end_step(&m);
        size_t peak_fwd = be_peak(be, BUF_ACTS);
        CHECK(bound_fwd >= peak_fwd && bound_fwd <= bound, "variant %d: forward-only bound %zu, measured peak %zu", variant,
              bound_fwd, peak_fwd);
        CHECK(vlm_forward(&m, &b, 0.05f, 1, NULL, &st) == 0 && vlm_backward(&m, &st) == 0, "%s", st.msg);
        vlm_end_step(&m);
        CHECK(vlm_logits(&m, &b, lg, &st) == 0, "%s", st.msg);
        size_t peak = be_peak(be, BUF_ACTS);
        CHECK(bound >= peak && bound <= 3 * peak, "variant %d: bound %zu, measured peak %zu", variant, bound, peak);
        printf("  variant %d: BUF_ACTS bound %zu, peak %zu; forward only: bound %zu, peak %zu\n", variant, bound, peak,
               bound_fwd, peak_fwd);
        free(lg);
        vlm_free(&m);
        be_destroy(be);
    }
}

/* The frozen-encoder feature cache: with the encoder frozen, a model whose
 * cache holds every image and one whose cache holds none (every image then
 * computed on its own, as misses are) give the same loss and gradients bit
 * for bit, whether a batch's images all hit, partly hit or miss, in any
 * order; against the model without a cache (images encoded as one batch)
 * they agree to float rounding. A trainable encoder empties the cache. Both
 * feature layouts (CLS row kept or not). */
static void test_feature_cache(void) {
    enum { NIMG = 4, PX = 3 * 16 * 16 };
    static float pool[NIMG * PX];
    uint64_t s = 7;
    for (int i = 0; i < NIMG * PX; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        pool[i] = (float)((s >> 40) % 2000) / 1000.0f - 1.0f;
    }
    static const int pairs[][2] = {{0, 1}, {1, 2}, {0, 1}, {1, 0}, {2, 3}, {3, 2}, {0, 1}};
    const int npairs = (int)(sizeof pairs / sizeof pairs[0]);
    for (int keep_cls = 0; keep_cls < 2; keep_cls++) {
        VlmConfig c = tiny_cfg(ADAPT_MLP);
        c.vis.keep_cls = keep_cls;
        /* 0: no cache; 1: room for every image; 2: room for none */
        Backend *be[3] = {golden_backend(), golden_backend(), golden_backend()};
        Vlm m[3];
        VStatus st = {0};
        for (int k = 0; k < 3; k++) {
            CHECK(vlm_build(&m[k], &c, &st) == 0, "%s", st.msg);
            pt_set_trainable_comp(&m[k].pt, COMP_ENCODER, 0);
            CHECK(vlm_allocate(&m[k], be[k], &st) == 0, "%s", st.msg);
            vlm_init_random(&m[k], 5, &st);
        }
        vlm_feature_cache(&m[1], 1 << 20);
        vlm_feature_cache(&m[2], 1);
        VlmBatch b = make_batch(&c);
        static float bpx[2 * PX];
        b.pixels = bpx;
        int64_t ng = m[0].pt.total_trainable;
        float *g[3];
        for (int k = 0; k < 3; k++) g[k] = malloc((size_t)ng * 4);
        int same = 1;
        double worst_l = 0, worst_g = 0;
        for (int step = 0; step <= npairs; step++) {
            const int *pr = pairs[step < npairs ? step : 0];
            memcpy(bpx, pool + pr[0] * PX, PX * sizeof(float));
            memcpy(bpx + PX, pool + pr[1] * PX, PX * sizeof(float));
            double l[3];
            if (step == npairs) {
                /* the encoder trainable again (as a later stage makes it; forward only, its
                   gradients were never carved): the cache must empty and stay out of the way */
                for (int k = 0; k < 2; k++) {
                    for (int i = 0; i < m[k].pt.n; i++)
                        if (m[k].pt.p[i].comp == COMP_ENCODER) m[k].pt.p[i].trainable = 1;
                    CHECK(vlm_forward(&m[k], &b, 0.05f, 0, &l[k], &st) == 0, "%s", st.msg);
                }
                CHECK(!memcmp(&l[0], &l[1], sizeof l[0]), "trainable encoder: loss %.17g vs %.17g", l[0], l[1]);
                break;
            }
            for (int k = 0; k < 3; k++) {
                pt_zero_grads(&m[k].pt);
                CHECK(vlm_forward(&m[k], &b, 0.05f, 1, &l[k], &st) == 0 && vlm_backward(&m[k], &st) == 0, "%s", st.msg);
                vlm_end_step(&m[k]);
                be_download(be[k], m[k].pt.all_g, g[k]);
            }
            if (memcmp(&l[1], &l[2], sizeof l[1]) || memcmp(g[1], g[2], (size_t)ng * 4)) {
                same = 0;
                printf("  keep_cls %d step %d (images %d,%d): loss %.17g vs %.17g\n", keep_cls, step, pr[0], pr[1], l[1], l[2]);
            }
            double dl = fabs(l[1] - l[0]) / fabs(l[0]), dg = 0, ngr = 0;
            for (int64_t j = 0; j < ng; j++) {
                dg += ((double)g[1][j] - g[0][j]) * ((double)g[1][j] - g[0][j]);
                ngr += (double)g[0][j] * g[0][j];
            }
            dg = sqrt(dg / ngr);
            if (dl > worst_l) worst_l = dl;
            if (dg > worst_g) worst_g = dg;
        }
        VlmFeatCacheStats fs;
        vlm_feature_cache_stats(&m[1], &fs);
        CHECK(same, "keep_cls %d: a cache that hits and one that never holds differ", keep_cls);
        /* f32 rounding of a differently summed encoder (tolerance: 100x float epsilon) */
        CHECK(worst_l <= 1e-5 && worst_g <= 1e-5, "keep_cls %d: vs no cache: loss rel %.3g, gradient rel %.3g", keep_cls,
              worst_l, worst_g);
        /* (0,1) 2 misses; (1,2) 1 hit 1 miss; (0,1), (1,0) 2 hits each; (2,3) 1 hit 1 miss; (3,2), (0,1) 2 hits each */
        CHECK(fs.hits == 10 && fs.misses == 4, "keep_cls %d: hits %lld misses %lld", keep_cls, (long long)fs.hits,
              (long long)fs.misses);
        CHECK(fs.entries == 0, "keep_cls %d: %lld entries left after a trainable-encoder step", keep_cls,
              (long long)fs.entries);
        printf("  keep_cls %d: %d steps bit-identical between full and empty caches (%lld hits, %lld misses); vs no "
               "cache: loss rel %.2g, gradient rel %.2g\n", keep_cls, npairs, (long long)fs.hits, (long long)fs.misses,
               worst_l, worst_g);
        for (int k = 0; k < 3; k++) {
            free(g[k]);
            vlm_free(&m[k]);
            be_destroy(be[k]);
        }
    }
}

/* The cache grows from 256 entries to its byte budget and stops there:
 * 700 distinct images through a forward (two per batch), then the first 300
 * again; a budget of 500 entries keeps 500 (the rest computed each time). */
static void test_feature_cache_growth(void) {
    VlmConfig c = tiny_cfg(ADAPT_MLP);
    Backend *be = golden_backend();
    Vlm m;
    VStatus st = {0};
    CHECK(vlm_build(&m, &c, &st) == 0, "%s", st.msg);
    pt_set_trainable_comp(&m.pt, COMP_ENCODER, 0);
    CHECK(vlm_allocate(&m, be, &st) == 0, "%s", st.msg);
    vlm_init_random(&m, 3, &st);
    size_t entry = (size_t)17 * 16 * sizeof(float);   /* CLS kept: 17 rows of 16 */
    VlmBatch b = make_batch(&c);
    for (int budget = 0; budget < 2; budget++) {
        vlm_feature_cache(&m, budget ? 500 * entry : (size_t)64 << 20);
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < (pass ? 300 : 700); i += 2) {
                for (int k = 0; k < 2; k++) px[k * 768] = (float)(i + k);   /* one pixel tells the images apart */
                double l;
                CHECK(vlm_forward(&m, &b, 0.05f, 0, &l, &st) == 0, "%s", st.msg);
            }
        VlmFeatCacheStats fs;
        vlm_feature_cache_stats(&m, &fs);
        int64_t want = budget ? 500 : 700;
        CHECK(fs.entries == want && fs.misses == 700 && fs.hits == 300,
              "budget %d: entries %lld (want %lld), hits %lld, misses %lld", budget, (long long)fs.entries,
              (long long)want, (long long)fs.hits, (long long)fs.misses);
        printf("  budget %s: %lld entries (%.1f MiB), %lld hits, %lld misses\n", budget ? "500 entries" : "64 MiB",
               (long long)fs.entries, (double)fs.bytes / (1 << 20), (long long)fs.hits, (long long)fs.misses);
    }
    /* vocabulary growth rebuilds the model but not the encoder: the cache stays */
    CHECK(vlm_grow_vocab(&m, 70, 0, &st) == 0, "%s", st.msg);
    VlmFeatCacheStats fs;
    vlm_feature_cache_stats(&m, &fs);
    CHECK(m.feat_cache != NULL && fs.entries == 500, "after vocabulary growth: %lld entries", (long long)fs.entries);
    vlm_free(&m);
    be_destroy(be);
}

TEST_MAIN({"seeded", test_seeded}, {"feature_cache", test_feature_cache}, {"feature_cache_growth", test_feature_cache_growth}, {"acts_bound", test_acts_bound}, {"recompute_identical", test_recompute_identical}, {"packing", test_packing}, {"partial_llm", test_partial_llm}, {"fd_linear_adapter", test_fd_linear_adapter}, {"fd_mlp_adapter", test_fd_mlp_adapter})
