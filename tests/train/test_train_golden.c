/* tests/train/test_train_golden.c — golden training parity against PyTorch
 * (tests/golden/make_train.py): the tiny LLaVA model (CLIP frozen, projector
 * lr 2e-3, LLM lr 5e-4, weight decay 0.01 on matrices only, clip 1.0, cosine
 * schedule with 3 warmup steps over 20, 2 micro-batches per step) trained for
 * 20 steps through the trainer's step function (tr_step) on the same batches.
 *
 * Checks:
 *  - loss at every step within rel 1e-4 of the float64 run (PyTorch's own
 *    float32 run sits ~1e-7 from it: losses.json);
 *  - final trained weights: ||w_vlmc - w_f64|| <= 4 ||w_torch32 - w_f64||
 *    (both printed): vlmc's float32 training is as close to exact arithmetic
 *    as PyTorch's float32 training is, within a factor of 4;
 *  - the frozen encoder is bit-identical to the loaded checkpoint. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/hf.h"
#include "model/safetensors.h"
#include "test.h"
#include "train/schedule.h"
#include "train/trainer.h"

enum { POOL = 4, B = 2, T = 28, IMG_TOK = 255, NPI = 16, STEPS = 20 };

static const char *src(void) {
    const char *s = getenv("VLMC_SOURCE_DIR");
    return s ? s : ".";
}

static const char stage_yaml[] =
    "stages:\n"
    "  - name: parity\n"
    "    data: [{shards: [unused]}]\n"
    "    steps: 20\n"
    "    trainable: [adapter, llm]\n"
    "    groups: [{match: adapter, lr: 2e-3}]\n"
    "    lr: 5e-4\n"
    "    weight_decay: 0.01\n"
    "    clip: 1.0\n"
    "    schedule: {kind: cosine, warmup: 3}\n";

static void test_parity(void) {
    char p[4096];
    VStatus st = {0};
    BackendOptions bo = {.name = "cpu", .threads = 1};
    Backend *be = be_create(&bo, &st);
    CHECK(be != NULL, "%s", st.msg);
    if (!be) return;
    Vlm m;
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    lo.frozen[COMP_ENCODER] = 1;
    snprintf(p, sizeof p, "%s/tests/golden/models/llava_clip_llama/hf", src());
    int rc = hf_load(&m, p, be, &lo, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (rc) { be_destroy(be); return; }
    float *w_init = malloc((size_t)m.pt.total * sizeof(float));
    be_download(be, m.pt.all_w, w_init);

    TrRunCfg rc_cfg;
    CHECK(cfg_init(&tr_run_schema, &rc_cfg, &st) == 0, "%s", st.msg);
    rc = cfg_load_string(&tr_run_schema, &rc_cfg, stage_yaml, strlen(stage_yaml), "parity stage", &st);
    CHECK(rc == 0, "%s", st.msg);
    const TrStageCfg *sc = rc_cfg.stages.items;
    TrOptim o;
    memset(&o, 0, sizeof o);
    rc = tr_optim_setup(&o, &m, sc, "stages.0", &st);
    CHECK(rc == 0, "%s", st.msg);

    /* batches */
    snprintf(p, sizeof p, "%s/tests/golden/train/parity/batches.safetensors", src());
    StFile *bf = st_open(p, &st);
    CHECK(bf != NULL, "%s", st.msg);
    static int32_t ids[POOL * B * T], lab[POOL * B * T], tgt[POOL * B * T], pos[POOL * B * T], rows[POOL][B * NPI];
    static float px[POOL * B * 3 * 32 * 32];
    if (bf) {
        CHECK(st_tensor_to_i32(st_find(bf, "input_ids"), ids, &st) == 0, "%s", st.msg);
        CHECK(st_tensor_to_i32(st_find(bf, "labels"), lab, &st) == 0, "%s", st.msg);
        CHECK(st_tensor_to_f32(st_find(bf, "pixel_values"), px, &st) == 0, "%s", st.msg);
        st_close(bf);
    }
    VlmBatch mb[POOL];
    for (int k = 0; k < POOL; k++) {
        int n = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                int i = (k * B + b) * T + t;
                /* transformers' labels are unshifted: the target at t is labels[t + 1] */
                tgt[i] = t + 1 < T && lab[i + 1] != -100 ? lab[i + 1] : -1;
                pos[i] = t;
                if (ids[i] == IMG_TOK && n < B * NPI) rows[k][n++] = b * T + t;
            }
        CHECK(n == B * NPI, "micro-batch %d: %d image tokens", k, n);
        mb[k] = (VlmBatch){.B = B, .T = T, .tokens = ids + k * B * T, .targets = tgt + k * B * T,
                           .pos = pos + k * B * T, .n_images = B, .pixels = px + (size_t)k * B * 3 * 32 * 32,
                           .img_rows = rows[k]};
    }
    /* reference losses */
    snprintf(p, sizeof p, "%s/tests/golden/train/parity/losses.json", src());
    json_error_t err;
    json_t *ref = json_load_file(p, 0, &err);
    CHECK(ref != NULL, "%s: %s", p, err.text);
    json_t *l64 = json_object_get(ref, "loss_f64"), *l32 = json_object_get(ref, "loss_f32");
    SchedDesc sd = {.kind = SCHED_COSINE, .warmup = 3, .total = STEPS};
    double worst = 0;
    for (int s = 0; s < STEPS && ref; s++) {
        VlmBatch two[2] = {mb[(2 * s) % POOL], mb[(2 * s + 1) % POOL]};
        TrStepStats ss;
        rc = tr_step(&o, two, 2, sched_factor(&sd, s), sc->lr, sc->clip, &ss, &st);
        CHECK(rc == 0, "step %d: %s", s, st.msg);
        double want = json_number_value(json_array_get(l64, (size_t)s));
        double e = fabs(ss.loss - want) / fabs(want);
        if (e > worst) worst = e;
        CHECK(e <= 1e-4, "step %d: loss %.9f vs float64 %.9f (rel %.2e)", s, ss.loss, want, e);
        if (s < 3 || s == STEPS - 1)
            printf("  step %2d: loss %.7f  torch64 %.7f  torch32 %.7f  rel %.2e  grad_norm %.4f\n", s, ss.loss, want,
                   json_number_value(json_array_get(l32, (size_t)s)), e, ss.grad_norm);
    }
    printf("  worst loss rel err over %d steps: %.2e (tolerance 1e-4)\n", STEPS, worst);
    /* final weights */
    snprintf(p, sizeof p, "%s/tests/golden/train/parity/final.safetensors", src());
    StFile *ff = st_open(p, &st);
    CHECK(ff != NULL, "%s", st.msg);
    float *w = malloc((size_t)m.pt.total * sizeof(float));
    be_download(be, m.pt.all_w, w);
    double dv = 0, d32 = 0;
    int matched = 0;
    for (size_t i = 0; ff && i < st_count(ff); i++) {
        const StTensor *t = st_tensor(ff, i);
        if (strncmp(t->name, "f32.", 4)) continue;
        const char *name = t->name + 4;
        int k = pt_find(&m.pt, name);
        CHECK(k >= 0, "final: %s not in the model", name);
        if (k < 0) continue;
        char hn[300], ln[300];
        snprintf(hn, sizeof hn, "f64hi.%s", name);
        snprintf(ln, sizeof ln, "f64lo.%s", name);
        const StTensor *th = st_find(ff, hn), *tl = st_find(ff, ln);
        int64_t n = t->numel;
        CHECK(th && tl && n == m.pt.p[k].numel, "%s: shapes", name);
        if (!th || !tl || n != m.pt.p[k].numel) continue;
        float *a = malloc((size_t)n * sizeof(float)), *h = malloc((size_t)n * sizeof(float)),
              *lw = malloc((size_t)n * sizeof(float));
        st_tensor_to_f32(t, a, &st);
        st_tensor_to_f32(th, h, &st);
        st_tensor_to_f32(tl, lw, &st);
        const float *ours = w + m.pt.p[k].offset;
        for (int64_t j = 0; j < n; j++) {
            double w64 = (double)h[j] + (double)lw[j];
            dv += ((double)ours[j] - w64) * ((double)ours[j] - w64);
            d32 += ((double)a[j] - w64) * ((double)a[j] - w64);
        }
        free(a); free(h); free(lw);
        matched++;
    }
    dv = sqrt(dv);
    d32 = sqrt(d32);
    int trainable = 0;
    for (int i = 0; i < m.pt.n; i++) trainable += m.pt.p[i].comp != COMP_ENCODER;
    CHECK(matched == trainable && matched > 0, "compared %d tensors, %d trainable", matched, trainable);
    CHECK(dv <= 4 * d32, "||w_vlmc - w_f64|| %.3e > 4 * ||w_torch32 - w_f64|| %.3e", dv, d32);
    printf("  final weights: ||w_vlmc - w_f64|| = %.3e, ||w_torch32 - w_f64|| = %.3e (ratio %.2f, bound 4)\n", dv, d32,
           dv / d32);
    /* the frozen encoder did not move */
    int moved = 0;
    for (int i = 0; i < m.pt.n; i++) {
        const Param *q = &m.pt.p[i];
        if (q->comp == COMP_ENCODER)
            moved += memcmp(w + q->offset, w_init + q->offset, (size_t)q->numel * sizeof(float)) != 0;
    }
    CHECK(moved == 0, "%d frozen encoder tensors moved", moved);
    if (ff) st_close(ff);
    json_decref(ref);
    free(w);
    free(w_init);
    tr_optim_free(&o);
    cfg_free(&tr_run_schema, &rc_cfg);
    vlm_free(&m);
    be_destroy(be);
}

TEST_MAIN({"parity", test_parity})
