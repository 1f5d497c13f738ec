/* tests/model/test_init.c — models built from scratch (no checkpoint):
 *  - seeded initialisation is reproducible (same seed: bit-identical; another
 *    seed: different), matrices ~ N(0, 0.02) (sample std within 10%), norm
 *    weights 1, biases 0;
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

TEST_MAIN({"seeded", test_seeded}, {"fd_linear_adapter", test_fd_linear_adapter}, {"fd_mlp_adapter", test_fd_mlp_adapter})
