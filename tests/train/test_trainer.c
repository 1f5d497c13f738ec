/* tests/train/test_trainer.c — the trainer on the tiny recipe
 * (tests/train/configs/tiny.yaml: stage "align" trains the adapter only,
 * stage "instruct" trains adapter + LLM with groups and token-target
 * accumulation):
 *  - resume: stopping (--max-steps) at steps 4 and 9 and resuming each time
 *    reproduces the uninterrupted run's 12 losses EXACTLY (==): CPU
 *    reductions have a fixed order at a fixed thread count, the checkpoint
 *    holds f32 weights and moments bit for bit, the loader resumes its order;
 *  - frozen parts: after "align" only adapter entries changed (encoder and LLM
 *    bit-identical, every adapter entry moved); after "instruct" the encoder
 *    is still bit-identical and every LLM entry moved;
 *  - accumulation: two micro-batches give the gradient of the mean over all
 *    their loss tokens — equal (rel 1e-5, float summation order) to one batch
 *    holding both rows, and measurably different (> 1e-3) from averaging
 *    per-micro-batch means, so the check can fail;
 *  - bad configs fail before any work, naming the key;
 *  - the NaN/Inf guard skips non-finite steps and stops after max_nonfinite;
 *  - a from-scratch pixel-shuffle model checkpoints in the Idefics3 layout. */
#include <sys/stat.h>

#include "eval/generate.h"
#include "model/hf.h"
#include "model/safetensors.h"
#include "train/trainer_internal.h"
#include "train_util.h"

static const char *const TINY = "tests/train/configs/tiny.yaml";

static void test_resume_bitwise(void) {
    char a[256], b[256];
    tu_tmpdir(a, sizeof a, "tr_full");
    tu_tmpdir(b, sizeof b, "tr_res");
    VStatus st = {0};
    int rc = tu_run(TINY, NULL, a, 0, 0, &st);
    CHECK(rc == 0, "full run: %s", st.msg);
    rc = tu_run(TINY, NULL, b, 4, 0, &st);
    CHECK(rc == 0, "run to 4: %s", st.msg);
    rc = tu_run(TINY, NULL, b, 9, 1, &st);
    CHECK(rc == 0, "resume to 9: %s", st.msg);
    rc = tu_run(TINY, NULL, b, 0, 1, &st);
    CHECK(rc == 0, "resume to the end: %s", st.msg);
    double la[32], lb[32];
    int na = tu_losses(a, la, 32), nb = tu_losses(b, lb, 32);
    CHECK(na == 12 && nb == 12, "rows: %d and %d (want 12)", na, nb);
    for (int i = 0; i < na && i < nb; i++)
        CHECK(la[i] == lb[i], "step %d: loss %.9g uninterrupted vs %.9g resumed", i + 1, la[i], lb[i]);
    printf("  12 losses identical; first %.6f last %.6f\n", la[0], la[na > 0 ? na - 1 : 0]);
    /* the run directory holds what the docs promise */
    const char *files[] = {"config.yaml", "latest", "loss.svg", "ckpt-00000012/model.safetensors",
                           "ckpt-00000012/config.json", "ckpt-00000012/optim.safetensors", "ckpt-00000012/trainer.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", b, files[i]);
        CHECK(access(p, F_OK) == 0, "missing %s", p);
    }
    tu_rmtree(a);
    tu_rmtree(b);
}

/* The frozen-encoder feature cache (on by default on the cpu backend; the
   tiny recipe's first stage freezes the encoder) is part of the state: a run
   checkpointed with it on and resumed with feature_cache_mb=0 keeps it on and
   equals the uninterrupted run bit for bit. A run without it encodes each
   batch's images together, so its losses differ in the last bits only. */
static void test_feature_cache_state(void) {
    char a[256], b[256], c[256];
    tu_tmpdir(a, sizeof a, "tr_fc_on");
    tu_tmpdir(b, sizeof b, "tr_fc_res");
    tu_tmpdir(c, sizeof c, "tr_fc_off");
    VStatus st = {0};
    const char *const off[] = {"feature_cache_mb=0", NULL};
    CHECK(tu_run(TINY, NULL, a, 0, 0, &st) == 0, "cache on: %s", st.msg);
    CHECK(tu_run(TINY, NULL, b, 4, 0, &st) == 0, "run to 4: %s", st.msg);
    CHECK(tu_run(TINY, off, b, 0, 1, &st) == 0, "resume with feature_cache_mb=0: %s", st.msg);
    CHECK(tu_run(TINY, off, c, 0, 0, &st) == 0, "cache off: %s", st.msg);
    double la[32], lb[32], lc[32];
    int na = tu_losses(a, la, 32), nb = tu_losses(b, lb, 32), nc = tu_losses(c, lc, 32);
    CHECK(na == 12 && nb == 12 && nc == 12, "rows %d %d %d", na, nb, nc);
    double worst = 0;
    int same_b = 1;
    for (int i = 0; i < na && i < nb && i < nc; i++) {
        same_b &= la[i] == lb[i];
        double r = fabs(lc[i] - la[i]) / la[i];
        if (r > worst) worst = r;
    }
    CHECK(same_b, "the resumed run left the checkpoint's feature cache setting");
    CHECK(worst <= 1e-5, "cache on vs off: loss rel %.3g", worst);
    char p[512], line[4096] = {0};
    snprintf(p, sizeof p, "%s/ckpt-00000012/trainer.json", b);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(line, 1, sizeof line - 1, f) : 0;
    if (f) fclose(f);
    line[n] = 0;
    CHECK(strstr(line, "\"feature_cache\": 1") != NULL, "trainer.json has no feature_cache 1: %s", line);
    /* a stage that used the cache says so at its end */
    TrRunCfg cf;
    CHECK(tu_load(&cf, TINY, NULL, &st) == 0, "%s", st.msg);
    FILE *log = tmpfile();
    tu_rmtree(c);
    TrOpts o = {.out = c, .quiet = 0, .log = log};
    Trainer *t = NULL;
    int rc = trainer_open(&t, &cf, &o, &st);
    if (!rc) rc = trainer_run(t, &st);
    CHECK(rc == 0, "%s", st.msg);
    trainer_close(t);
    cfg_free(&tr_run_schema, &cf);
    rewind(log);
    char buf[1 << 16];
    size_t nl = fread(buf, 1, sizeof buf - 1, log);
    buf[nl] = 0;
    fclose(log);
    CHECK(strstr(buf, "align: feature cache ") != NULL && strstr(buf, " hits, ") != NULL,
          "no feature cache line at the align stage's end");
    printf("  resumed with the cache setting of the checkpoint: 12 losses identical; cache off: loss rel %.2g\n", worst);
    tu_rmtree(a);
    tu_rmtree(b);
    tu_rmtree(c);
}

static float *snapshot(Trainer *t) {
    Vlm *m = trainer_model(t);
    float *w = malloc((size_t)m->pt.total * sizeof(float));
    be_download(m->be, m->pt.all_w, w);
    return w;
}

/* per component: count of entries changed / total */
static void changed(const Vlm *m, const float *a, const float *b, int ch[COMP__COUNT], int tot[COMP__COUNT]) {
    for (int c = 0; c < COMP__COUNT; c++) ch[c] = tot[c] = 0;
    for (int i = 0; i < m->pt.n; i++) {
        const Param *p = &m->pt.p[i];
        if (p->unused) continue;
        tot[p->comp]++;
        ch[p->comp] += memcmp(a + p->offset, b + p->offset, (size_t)p->numel * sizeof(float)) != 0;
    }
}

static void test_frozen_parts(void) {
    char d[256];
    tu_tmpdir(d, sizeof d, "tr_frozen");
    TrRunCfg c;
    VStatus st = {0};
    CHECK(tu_load(&c, TINY, NULL, &st) == 0, "%s", st.msg);
    FILE *devnull = fopen("/dev/null", "w");
    TrOpts o = {.out = d, .max_steps = 6, .quiet = 1, .log = devnull};
    Trainer *t = NULL;
    int rc = trainer_open(&t, &c, &o, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (rc) { cfg_free(&tr_run_schema, &c); fclose(devnull); return; }
    float *w0 = snapshot(t);
    CHECK(trainer_run(t, &st) == 0, "%s", st.msg);
    float *w1 = snapshot(t);
    int ch[COMP__COUNT], tot[COMP__COUNT];
    changed(trainer_model(t), w0, w1, ch, tot);
    CHECK(ch[COMP_ENCODER] == 0, "align (adapter only): %d of %d encoder entries changed", ch[COMP_ENCODER], tot[COMP_ENCODER]);
    CHECK(ch[COMP_LLM] == 0, "align (adapter only): %d of %d LLM entries changed", ch[COMP_LLM], tot[COMP_LLM]);
    CHECK(ch[COMP_ADAPTER] == tot[COMP_ADAPTER] && tot[COMP_ADAPTER] > 0, "align: %d of %d adapter entries moved",
          ch[COMP_ADAPTER], tot[COMP_ADAPTER]);
    /* trainable memory of the stage: gradients only for the adapter */
    Vlm *m = trainer_model(t);
    int64_t adapter_floats = 0;
    for (int i = 0; i < m->pt.n; i++) {
        CHECK((m->pt.p[i].g != NULL) == (m->pt.p[i].comp == COMP_ADAPTER), "%s: gradient presence", m->pt.p[i].name);
        if (m->pt.p[i].comp == COMP_ADAPTER) adapter_floats += m->pt.p[i].numel;
    }
    /* optimizer state only for the trainable entries: 2 moments + the norm scratch, one allocation */
    size_t optim = be_used(m->be, BUF_OPTIM);
    CHECK(m->pt.total_trainable == adapter_floats, "trainable %lld vs adapter %lld", (long long)m->pt.total_trainable,
          (long long)adapter_floats);
    CHECK(optim >= (size_t)(2 * adapter_floats + 1) * 4 && optim < (size_t)(2 * adapter_floats + 1) * 4 + 4096,
          "BUF_OPTIM %zu bytes for %lld adapter floats", optim, (long long)adapter_floats);
    printf("  align: BUF_OPTIM %zu bytes (2 x %lld adapter floats); model total %lld floats\n", optim,
           (long long)adapter_floats, (long long)m->pt.total);
    trainer_close(t);
    /* stage 2 from the stage-1 checkpoint */
    o.max_steps = 0;
    o.resume = 1;
    rc = trainer_open(&t, &c, &o, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (!rc) {
        float *w2 = snapshot(t);
        CHECK(memcmp(w1, w2, (size_t)trainer_model(t)->pt.total * sizeof(float)) == 0, "checkpoint weights differ");
        CHECK(trainer_run(t, &st) == 0, "%s", st.msg);
        float *w3 = snapshot(t);
        changed(trainer_model(t), w2, w3, ch, tot);
        CHECK(ch[COMP_ENCODER] == 0, "instruct: %d of %d encoder entries changed", ch[COMP_ENCODER], tot[COMP_ENCODER]);
        CHECK(ch[COMP_LLM] == tot[COMP_LLM], "instruct: %d of %d LLM entries moved", ch[COMP_LLM], tot[COMP_LLM]);
        CHECK(ch[COMP_ADAPTER] == tot[COMP_ADAPTER], "instruct: %d of %d adapter entries moved", ch[COMP_ADAPTER], tot[COMP_ADAPTER]);
        printf("  encoder bit-identical over both stages; adapter %d/%d and LLM %d/%d entries moved in stage 2\n",
               ch[COMP_ADAPTER], tot[COMP_ADAPTER], ch[COMP_LLM], tot[COMP_LLM]);
        free(w2);
        free(w3);
        trainer_close(t);
    }
    free(w0);
    free(w1);
    cfg_free(&tr_run_schema, &c);
    fclose(devnull);
    tu_rmtree(d);
}

/* gradient after tr_step with lr 0 (weights unchanged) */
static double *grads_after(TrOptim *o, const VlmBatch *mb, int n, double *loss) {
    TrStepStats s;
    VStatus st = {0};
    CHECK(tr_step(o, mb, n, 0.0, 0.0, 0.0, &s, &st) == 0, "%s", st.msg);
    *loss = s.loss;
    ParamTable *t = &o->vlm->pt;
    float *g = malloc((size_t)t->total_trainable * sizeof(float));
    be_download(t->be, t->all_g, g);
    double *d = malloc((size_t)t->total_trainable * sizeof(double));
    for (int64_t i = 0; i < t->total_trainable; i++) d[i] = g[i];
    free(g);
    return d;
}

static double rel(const double *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i]; }
    return sqrt(num / den);
}

/* A trainer on TINY (+ overrides) in a fresh folder, logging nowhere. */
typedef struct Quiet {
    TrRunCfg c;
    char d[256];
    FILE *devnull;
    Trainer *t;
} Quiet;

static Trainer *quiet_open(Quiet *q, const char *const *over, const char *tag) {
    VStatus st = {0};
    memset(q, 0, sizeof *q);
    int rc = tu_load(&q->c, TINY, over, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (rc) return NULL;
    tu_tmpdir(q->d, sizeof q->d, tag);
    q->devnull = fopen("/dev/null", "w");
    TrOpts oo = {.out = q->d, .quiet = 1, .log = q->devnull};
    rc = trainer_open(&q->t, &q->c, &oo, &st);
    CHECK(rc == 0, "%s", st.msg);
    return rc ? NULL : q->t;
}

static void quiet_close(Quiet *q) {
    if (q->t) trainer_close(q->t);
    cfg_free(&tr_run_schema, &q->c);
    if (q->devnull) fclose(q->devnull);
    if (q->d[0]) tu_rmtree(q->d);
}

static void test_accumulation(void) {
    Quiet q;
    VStatus st = {0};
    Trainer *t = quiet_open(&q, NULL, "tr_accum");
    if (!t) { quiet_close(&q); return; }
    Vlm *m = trainer_model(t);
    TrOptim o;
    memset(&o, 0, sizeof o);
    const TrStageCfg *s2 = &((const TrStageCfg *)q.c.stages.items)[1];
    CHECK(tr_optim_setup(&o, m, s2, "stages.1", &st) == 0, "%s", st.msg);
    /* two text rows of T = 16 with 12 and 3 loss tokens */
    enum { T = 16 };
    int32_t tok[2 * T], tgt[2 * T], pos[2 * T], doc[2 * T];
    uint64_t r = 99;
    for (int i = 0; i < 2 * T; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        tok[i] = (int32_t)((r >> 33) % 250);
        pos[i] = i % T;
        doc[i] = i / T;
    }
    for (int i = 0; i < 2 * T; i++) {
        int row = i / T, t_ = i % T;
        int keep = row == 0 ? (t_ >= 3 && t_ < 15) : (t_ >= 12 && t_ < 15);
        tgt[i] = keep ? tok[i + 1] : -1;
    }
    VlmBatch both = {.B = 2, .T = T, .tokens = tok, .targets = tgt, .pos = pos, .doc = doc};
    VlmBatch m0 = {.B = 1, .T = T, .tokens = tok, .targets = tgt, .pos = pos, .doc = doc};
    VlmBatch m1 = {.B = 1, .T = T, .tokens = tok + T, .targets = tgt + T, .pos = pos + T, .doc = doc};
    VlmBatch split[2] = {m0, m1};
    double l1, l2, l3;
    double *g1 = grads_after(&o, &both, 1, &l1);
    double *g2 = grads_after(&o, split, 2, &l2);
    int64_t n = m->pt.total_trainable;
    double e = rel(g2, g1, n);
    CHECK(e <= 1e-5, "accumulated gradient vs one batch: rel %.3e > 1e-5", e);
    CHECK(fabs(l1 - l2) <= 1e-6 * fabs(l1), "loss %.9g vs %.9g", l1, l2);
    /* the naive mean of per-micro-batch means: 0.5 (g0/12 + g1/3) * 15 / ... differs */
    double *ga = grads_after(&o, &m0, 1, &l3), *gb = grads_after(&o, &m1, 1, &l3);
    for (int64_t i = 0; i < n; i++) ga[i] = 0.5 * (ga[i] + gb[i]);
    double naive = rel(ga, g1, n);
    CHECK(naive > 1e-3, "naive per-micro-batch means should differ: rel %.3e", naive);
    printf("  accumulated vs single batch: grad rel %.3e, loss %.9g vs %.9g; naive mean of means: rel %.3e\n", e, l2, l1, naive);
    free(g1); free(g2); free(ga); free(gb);
    tr_optim_free(&o);
    quiet_close(&q);
}

/* model.init.<component>.init_std reaches the from-scratch model: each component's
   matrices (>= 256 draws, relative standard error <= 4.5%) within 15% of its std */
static void test_init_std(void) {
    const char *const over[] = {"model.init.vision.init_std=0.05", "model.init.adapter.init_std=0.1",
                                "model.init.llm.init_std=0.2", NULL};
    Quiet q;
    Trainer *t = quiet_open(&q, over, "tr_initstd");
    if (t) {
        Vlm *m = trainer_model(t);
        const double want[COMP__COUNT] = {0.05, 0.1, 0.2};
        int seen[COMP__COUNT] = {0};
        float *w = malloc((size_t)m->pt.total * sizeof(float));
        be_download(m->pt.be, m->pt.all_w, w);
        for (int i = 0; i < m->pt.n; i++) {
            const Param *p = &m->pt.p[i];
            if (p->ndim < 2 || p->numel < 256) continue;
            double s2 = 0;
            for (int64_t k = 0; k < p->numel; k++) s2 += (double)w[p->offset + k] * w[p->offset + k];
            double sd = sqrt(s2 / (double)p->numel);
            CHECK(fabs(sd - want[p->comp]) < 0.15 * want[p->comp], "%s: std %.4f, want %.2f", p->name, sd,
                  want[p->comp]);
            seen[p->comp]++;
        }
        CHECK(seen[COMP_ENCODER] && seen[COMP_ADAPTER] && seen[COMP_LLM], "matrices checked %d/%d/%d", seen[0], seen[1],
              seen[2]);
        free(w);
    }
    quiet_close(&q);
}

static void expect_fail(const char *const *over, const char *want, int at_open) {
    char d[256];
    tu_tmpdir(d, sizeof d, "tr_bad");
    char run[300];
    snprintf(run, sizeof run, "%s/run", d);   /* must not be created */
    VStatus st = {0};
    int rc = tu_run(TINY, over, run, 0, 0, &st);
    CHECK(rc != 0, "%s: accepted", over[0]);
    CHECK(strstr(st.msg, want) != NULL, "%s: message '%s' does not name '%s'", over[0], st.msg, want);
    CHECK(access(run, F_OK) != 0, "%s: the run directory was created before the error", over[0]);
    (void)at_open;
    printf("  %-48s -> %s\n", over[0], st.msg);
    tu_rmtree(d);
}

static void test_bad_configs(void) {
    expect_fail((const char *const[]){"stages.0.bogus=1", NULL}, "stages.0.bogus", 0);
    expect_fail((const char *const[]){"stages.1.lr=-1e-3", NULL}, "stages.1.lr", 0);
    expect_fail((const char *const[]){"stages.1.groups.0.lr=-1", NULL}, "stages.1.groups.0.lr", 0);
    expect_fail((const char *const[]){"stages.0.trainable=[\"vision_tower.nothing.*\"]", NULL}, "stages.0.trainable.0", 1);
    expect_fail((const char *const[]){"stages.1.groups.1.match=lm_head_nope*", NULL}, "stages.1.groups.1.match", 1);
    expect_fail((const char *const[]){"stages.0.regime=dpo", NULL}, "not built yet", 0);
    expect_fail((const char *const[]){"stages.0.data.0.shards=[nothing/here-*.jsonl]", NULL}, "stages.0.data.0.shards.0", 1);
    expect_fail((const char *const[]){"stages.0.steps=0", NULL}, "stages.0.steps", 0);
    expect_fail((const char *const[]){"model.init.llm.init_std=0", NULL},
                "key 'model.init.llm.init_std': 0 is out of range [1e-06, 1]", 0);
    expect_fail((const char *const[]){"image_tags=grid", NULL}, "key 'image_tags': the bytes tokenizer", 1);
    expect_fail((const char *const[]){"image_tags=rows", "tokenizer=tests/golden/tok/gpt2.json", NULL},
                "key 'image_tags': 'rows' is not none or grid", 1);
    /* ${shapes.dir} in a shard pattern needs shapes.dir */
    expect_fail((const char *const[]){"stages.0.data.0.shards.0=${shapes.dir}/pairs.jsonl", NULL},
                "stages.0.data.0.shards.0': '${shapes.dir}/pairs.jsonl' needs shapes.dir", 1);
    expect_fail((const char *const[]){"model.init.vision.kind=clip", "model.init.adapter.kind=pixel_shuffle_mlp", NULL},
                "model.init.vision.kind", 1);
    /* ... and with it set, the pattern resolves under it (the golden data folder) */
    char dd[256];
    tu_tmpdir(dd, sizeof dd, "tr_shapesvar");
    VStatus sv = {0};
    int rv = tu_run(TINY, (const char *const[]){"shapes.dir=tests/golden/train/data",
                                                "stages.0.data.0.shards.0=${shapes.dir}/pairs.jsonl", NULL},
                    dd, 1, 0, &sv);
    CHECK(rv == 0, "${shapes.dir} pattern: %s", sv.msg);
    tu_rmtree(dd);
    /* an unknown key in a file names the file and line */
    char d[256], p[300];
    tu_tmpdir(d, sizeof d, "tr_badfile");
    snprintf(p, sizeof p, "%s/run.yaml", d);
    FILE *f = fopen(p, "w");
    fputs("stages:\n  - name: a\n    data: [{shards: [x]}]\n    steps: 1\n    learning_rate: 3\n", f);
    fclose(f);
    TrRunCfg c;
    VStatus st = {0};
    int rc = tr_cfg_load(&c, p, 0, NULL, &st);
    CHECK(rc != 0 && strstr(st.msg, "stages.0.learning_rate") && strstr(st.msg, ":5"), "file error: %s", st.msg);
    printf("  %-48s -> %s\n", "unknown stage key in a file", st.msg);
    tu_rmtree(d);
}

/* poisons one adapter weight with NaN at global step 2 (called through the eval hook) */
static int poison_hook(void *ctx, Trainer *t, int stage, int64_t step, char *extra, size_t cap, VStatus *st) {
    (void)ctx; (void)stage; (void)extra; (void)cap; (void)st;
    if (step != 2) return 0;
    Vlm *m = trainer_model(t);
    Param *p = &m->pt.p[m->ad.w1];
    float *w = malloc((size_t)p->numel * sizeof(float));
    be_download(m->be, p->w, w);
    w[0] = NAN;
    be_upload(m->be, p->w, w);
    free(w);
    return 0;
}

static void test_nonfinite_guard(void) {
    /* step level: a NaN weight makes the loss non-finite; the step is skipped and
       nothing else changes (weights bitwise, AdamW step counter) */
    TrRunCfg c;
    VStatus st = {0};
    CHECK(tu_load(&c, TINY, (const char *const[]){"stages.0.max_nonfinite=2", "eval.every=1", NULL}, &st) == 0, "%s", st.msg);
    char d[256];
    tu_tmpdir(d, sizeof d, "tr_nan");
    FILE *devnull = fopen("/dev/null", "w");
    TrOpts o = {.out = d, .quiet = 1, .log = devnull, .eval_hook = poison_hook};
    Trainer *t = NULL;
    int rc = trainer_open(&t, &c, &o, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (!rc) {
        rc = trainer_run(t, &st);
        CHECK(rc != 0 && strstr(st.msg, "max_nonfinite"), "guard: rc %d '%s'", rc, st.msg);
        printf("  run stopped: %s\n", st.msg);
        /* the skipped steps left the other adapter weights and the moments alone */
        Vlm *m = trainer_model(t);
        Param *p = &m->pt.p[m->ad.w2];
        float *before = malloc((size_t)p->numel * sizeof(float)), *after = malloc((size_t)p->numel * sizeof(float));
        be_download(m->be, p->w, before);
        int64_t astep = t->opt.adam_step;
        CHECK(astep == 2, "AdamW steps applied: %lld (steps 1-2 ran, 3-4 were skipped)", (long long)astep);
        /* one more step by hand: skipped, nothing moves */
        TrHost *h = &t->mb[0];
        TrStepStats s;
        CHECK(tr_step(&t->opt, &h->vb, 1, 1.0, 1e-3, 1.0, &s, &st) == 0, "%s", st.msg);
        be_download(m->be, p->w, after);
        CHECK(s.skipped == 1 && !isfinite(s.loss), "skipped %d loss %g", s.skipped, s.loss);
        CHECK(memcmp(before, after, (size_t)p->numel * sizeof(float)) == 0, "a skipped step changed weights");
        CHECK(t->opt.adam_step == astep, "a skipped step advanced AdamW");
        free(before);
        free(after);
    }
    trainer_close(t);
    double l[32];
    int n = tu_losses(d, l, 32);
    CHECK(n == 4, "rows %d (want 2 finite + 2 skipped)", n);
    CHECK(n == 4 && isfinite(l[0]) && isfinite(l[1]) && !isfinite(l[2]) && !isfinite(l[3]), "loss pattern");
    cfg_free(&tr_run_schema, &c);
    fclose(devnull);
    tu_rmtree(d);
}

/* new_tokens + train_new_rows_only in stage 2 (a real tokenizer): only the new
   embedding rows (tied lm-head) and the adapter move; a resume inside the stage
   (where the tokens must be re-added and the row mask rebuilt) is exact too */
static void test_new_rows_only(void) {
    const char *const over[] = {"tokenizer=tests/golden/tok/gpt2.json", "stages.1.regime=pairs",
                                "stages.1.data.0.shards=[tests/golden/train/data/pairs.jsonl]",
                                "stages.1.new_tokens=[\"<shape>\", \"<colour>\"]", "stages.1.train_new_rows_only=true",
                                "stages.1.trainable=[adapter]", "stages.1.groups=[]", "checkpoint.milestone_every=6", NULL};
    char a[256], b[256];
    tu_tmpdir(a, sizeof a, "tr_rows_a");
    tu_tmpdir(b, sizeof b, "tr_rows_b");
    VStatus st = {0};
    CHECK(tu_run(TINY, over, a, 0, 0, &st) == 0, "%s", st.msg);
    CHECK(tu_run(TINY, over, b, 9, 0, &st) == 0, "%s", st.msg);
    CHECK(tu_run(TINY, over, b, 0, 1, &st) == 0, "resume: %s", st.msg);
    double la[32], lb[32];
    int na = tu_losses(a, la, 32), nb = tu_losses(b, lb, 32);
    CHECK(na == 12 && nb == 12, "rows %d %d", na, nb);
    int same = 1;
    for (int i = 0; i < na && i < nb; i++) same &= la[i] == lb[i];
    CHECK(same, "resumed losses differ");
    /* embedding at the stage-1 end (ckpt-6) vs the end (ckpt-12) */
    char p6[600], p12[600];
    snprintf(p6, sizeof p6, "%s/ckpt-00000006/model.safetensors", b);
    snprintf(p12, sizeof p12, "%s/ckpt-00000012/model.safetensors", a);
    StFile *f6 = st_open(p6, &st), *f12 = st_open(p12, &st);
    CHECK(f6 && f12, "%s", st.msg);
    if (f6 && f12) {
        const char *E = "language_model.model.embed_tokens.weight";
        const StTensor *e6 = st_find(f6, E), *e12 = st_find(f12, E);
        CHECK(e6 && e12 && e12->shape[0] == e6->shape[0] + 2, "embedding rows: %lld -> %lld",
              e6 ? (long long)e6->shape[0] : -1LL, e12 ? (long long)e12->shape[0] : -1LL);
        if (e6 && e12 && e12->shape[0] == e6->shape[0] + 2) {
            int64_t V0 = e6->shape[0], C = e6->shape[1];
            float *x6 = malloc((size_t)e6->numel * 4), *x12 = malloc((size_t)e12->numel * 4);
            st_tensor_to_f32(e6, x6, &st);
            st_tensor_to_f32(e12, x12, &st);
            CHECK(memcmp(x6, x12, (size_t)(V0 * C) * 4) == 0, "old embedding rows moved");
            /* new rows started at the mean of the old rows and trained */
            int moved = 0;
            for (int r = 0; r < 2; r++) {
                double mean0 = 0;
                for (int64_t v = 0; v < V0; v++) mean0 += x6[v * C];
                mean0 /= (double)V0;
                moved += fabs(x12[(V0 + r) * C] - mean0) > 1e-6;
            }
            CHECK(moved == 2, "%d of 2 new rows trained", moved);
            printf("  %lld old rows bit-identical, 2 new rows trained; resumed losses %s\n", (long long)V0,
                   same ? "identical" : "DIFFER");
            free(x6);
            free(x12);
        }
    }
    if (f6) st_close(f6);
    if (f12) st_close(f12);
    tu_rmtree(a);
    tu_rmtree(b);
}

/* the four regimes in sequence on one model (pairs -> interleaved -> instruct ->
   sft), 2 steps each: every step has a finite loss and the rows name the stages */
static void test_four_regimes(void) {
    char d[256];
    tu_tmpdir(d, sizeof d, "tr_regimes");
    VStatus st = {0};
    const char *stages =
        "stages=["
        "{name: p, regime: pairs, data: [{shards: [tests/golden/train/data/pairs.jsonl]}], T: 48, batch: 2, steps: 2, lr: 1e-3},"
        "{name: i, regime: interleaved, data: [{shards: [tests/golden/train/data/interleaved.jsonl]}], T: 64, batch: 2, steps: 2, lr: 1e-3},"
        "{name: q, regime: instruct, data: [{shards: [tests/golden/train/data/instruct.jsonl]}], T: 64, batch: 2, steps: 2, lr: 1e-3},"
        "{name: s, regime: sft, data: [{shards: [tests/golden/train/data/sft.jsonl]}], T: 96, batch: 2, steps: 2, lr: 1e-3}]";
    int rc = tu_run(TINY, (const char *const[]){stages, "eval.data=[]", NULL}, d, 0, 0, &st);
    CHECK(rc == 0, "%s", st.msg);
    double l[16];
    int n = tu_losses(d, l, 16);
    CHECK(n == 8, "rows %d", n);
    int fin = 1;
    for (int i = 0; i < n; i++) fin &= isfinite(l[i]) && l[i] > 0;
    CHECK(fin, "non-finite losses");
    char p[400];
    snprintf(p, sizeof p, "%s/metrics.jsonl", d);
    FILE *f = fopen(p, "r");
    char line[1024], order[16] = {0};
    int k = 0;
    while (f && fgets(line, sizeof line, f) && k < 15) {
        char *q = strstr(line, "\"stage\":\"");
        if (q) order[k++] = q[9];
    }
    if (f) fclose(f);
    CHECK(!strcmp(order, "ppiiqqss"), "stage order %s", order);
    printf("  pairs %.3f %.3f | interleaved %.3f %.3f | instruct %.3f %.3f | sft %.3f %.3f\n", l[0], l[1], l[2], l[3],
           l[4], l[5], l[6], l[7]);
    tu_rmtree(d);
}

/* periodic eval: eval_loss on the held-out split every 3 steps, and the hook's
   JSON members merged into the same metrics row */
static int acc_hook(void *ctx, Trainer *t, int stage, int64_t step, char *extra, size_t cap, VStatus *st) {
    (void)st;
    int *calls = ctx;
    (*calls)++;
    snprintf(extra, cap, "{\"acc_demo\": %d, \"hook_stage\": %d}", (int)(step % 7), stage);
    (void)t;
    return 0;
}

static void test_eval_hook(void) {
    TrRunCfg c;
    VStatus st = {0};
    CHECK(tu_load(&c, TINY, (const char *const[]){"eval.every=3", NULL}, &st) == 0, "%s", st.msg);
    char d[256];
    tu_tmpdir(d, sizeof d, "tr_eval");
    FILE *devnull = fopen("/dev/null", "w");
    int calls = 0;
    TrOpts o = {.out = d, .quiet = 1, .log = devnull, .eval_hook = acc_hook, .hook_ctx = &calls};
    Trainer *t = NULL;
    int rc = trainer_open(&t, &c, &o, &st);
    if (!rc) rc = trainer_run(t, &st);
    CHECK(rc == 0, "%s", st.msg);
    trainer_close(t);
    CHECK(calls == 4, "hook calls %d (steps 3, 6, 9, 12)", calls);
    char p[400], line[2048];
    snprintf(p, sizeof p, "%s/metrics.jsonl", d);
    FILE *f = fopen(p, "r");
    int with_eval = 0, ok = 1;
    while (f && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        long long step = json_integer_value(json_object_get(j, "step"));
        json_t *el = json_object_get(j, "eval_loss"), *acc = json_object_get(j, "acc_demo");
        if (step % 3 == 0) {
            ok &= json_is_number(el) && json_number_value(el) > 0 && json_integer_value(acc) == step % 7;
            with_eval++;
        } else {
            ok &= el == NULL && acc == NULL;
        }
        json_decref(j);
    }
    if (f) fclose(f);
    CHECK(ok && with_eval == 4, "eval rows %d, fields ok %d", with_eval, ok);
    cfg_free(&tr_run_schema, &c);
    fclose(devnull);
    tu_rmtree(d);
}

/* the thread count is part of the state: a run checkpointed with 2 threads and
   resumed with threads=1 in its config continues with 2 (and equals the
   uninterrupted 2-thread run); whether 1 thread would differ is printed */
static void test_threads_in_state(void) {
    char a[256], b[256], c1[256];
    tu_tmpdir(a, sizeof a, "tr_thr_a");
    tu_tmpdir(b, sizeof b, "tr_thr_b");
    tu_tmpdir(c1, sizeof c1, "tr_thr_c");
    VStatus st = {0};
    const char *const two[] = {"threads=2", NULL}, *const one[] = {"threads=1", NULL};
    CHECK(tu_run(TINY, two, a, 6, 0, &st) == 0, "%s", st.msg);
    CHECK(tu_run(TINY, two, b, 3, 0, &st) == 0, "%s", st.msg);
    {
        TrRunCfg c;
        CHECK(tu_load(&c, TINY, one, &st) == 0, "%s", st.msg);
        char lp[300];
        snprintf(lp, sizeof lp, "%s.log", b);
        FILE *lf = fopen(lp, "w+");
        TrOpts o = {.out = b, .max_steps = 6, .resume = 1, .quiet = 1, .log = lf};
        Trainer *t = NULL;
        int rc = trainer_open(&t, &c, &o, &st);
        if (!rc) rc = trainer_run(t, &st);
        CHECK(rc == 0, "%s", st.msg);
        trainer_close(t);
        cfg_free(&tr_run_schema, &c);
        char text[4096] = {0};
        rewind(lf);
        size_t n = fread(text, 1, sizeof text - 1, lf);
        text[n] = 0;
        fclose(lf);
        unlink(lp);
        CHECK(strstr(text, "thread count 2 (config: 1)") != NULL, "resume log: %s", text);
    }
    CHECK(tu_run(TINY, one, c1, 6, 0, &st) == 0, "%s", st.msg);
    double la[8], lb[8], lc[8];
    int na = tu_losses(a, la, 8), nb = tu_losses(b, lb, 8), nc = tu_losses(c1, lc, 8);
    CHECK(na == 6 && nb == 6 && nc == 6, "rows %d %d %d", na, nb, nc);
    int same = na == nb, diff1 = 0;
    for (int i = 0; i < na && i < nb; i++) same &= la[i] == lb[i];
    for (int i = 0; i < na && i < nc; i++) diff1 |= la[i] != lc[i];
    CHECK(same, "resumed with threads=1 in the config does not continue the 2-thread run");
    printf("  resume kept 2 threads: losses identical; a 1-thread run %s\n",
           diff1 ? "differs in the last bits (so the thread count matters)" : "happens to be identical here");
    tu_rmtree(a);
    tu_rmtree(b);
    tu_rmtree(c1);
}

/* a from-scratch model with a pixel-shuffle adapter checkpoints in the
   Idefics3 layout (the Hugging Face class that holds that connector) and the
   checkpoint loads back with the same adapter */
static void test_pixel_shuffle_checkpoint(void) {
    char d[256];
    tu_tmpdir(d, sizeof d, "tr_pshuf");
    VStatus st = {0};
    const char *const over[] = {"model.init.adapter.kind=pixel_shuffle_mlp", "model.init.adapter.shuffle=2",
                                "checkpoint.every=2", "eval.data=[]",
                                "stages=[{name: p, regime: pairs, data: [{shards: [tests/golden/train/data/pairs.jsonl]}], "
                                "T: 48, batch: 2, steps: 2, lr: 1e-3}]",
                                NULL};
    int rc = tu_run(TINY, over, d, 2, 0, &st);
    CHECK(rc == 0, "%s", st.msg);
    char p[400];
    snprintf(p, sizeof p, "%s/ckpt-00000002/config.json", d);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    CHECK(j != NULL, "%s: %s", p, je.text);
    const char *arch = j ? json_string_value(json_array_get(json_object_get(j, "architectures"), 0)) : NULL;
    CHECK(arch && !strcmp(arch, "Idefics3ForConditionalGeneration"), "architecture %s", arch ? arch : "(none)");
    json_decref(j);
    BackendOptions bo = {.name = "cpu", .threads = 1};
    Backend *be = be_create(&bo, &st);
    CHECK(be != NULL, "%s", st.msg);
    Vlm m;
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    snprintf(p, sizeof p, "%s/ckpt-00000002", d);
    rc = hf_load(&m, p, be, &lo, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (!rc) {
        CHECK(m.cfg.adapter.kind == ADAPT_PIXEL_SHUFFLE_MLP && m.cfg.adapter.shuffle == 2, "adapter kind %d r %d",
              (int)m.cfg.adapter.kind, m.cfg.adapter.shuffle);
        CHECK(mcfg_tokens_per_image(&m.cfg) == 4, "tokens per image %d", mcfg_tokens_per_image(&m.cfg));
        /* the trained model had post_layernorm on: transformers' Idefics3 always applies it */
        CHECK(m.cfg.vis.post_norm == 1, "post_norm %d", m.cfg.vis.post_norm);
        vlm_free(&m);
    }
    be_destroy(be);
    tu_rmtree(d);
}

/* Buffers that must be reserved (cuda; here the cpu backend with
   reserve_only): the trainer sizes BUF_ACTS at every stage start (training
   rows and the held-out batch), a generator opened in the eval hook sizes it
   for its rows, every allocation fits, and the losses equal the run with
   lazily growing buffers bit for bit (the same arithmetic). */
typedef struct GenCtx {
    int calls, tokens;
    size_t acts_cap;
} GenCtx;

static int gen_hook(void *ctx, Trainer *t, int stage, int64_t step, char *extra, size_t cap, VStatus *st) {
    (void)stage; (void)step; (void)extra; (void)cap;
    GenCtx *c = ctx;
    Vlm *m = trainer_model(t);
    int tpi = mcfg_tokens_per_image(&m->cfg), S = m->cfg.vis.image_size;
    Generator g;
    if (gen_open(&g, m, 8 + tpi + 16, 4, 1, st)) return st->code;
    int32_t ids[64];
    int n = 0;
    ids[n++] = 'Q';
    for (int k = 0; k < tpi; k++) ids[n++] = m->cfg.image_token_id;
    ids[n++] = 'a';
    ids[n++] = ':';
    float *px = calloc((size_t)3 * S * S, sizeof *px);
    GenPrompt p = {.ids = ids, .n = n, .n_images = 1, .pixels = px};
    int32_t out[16], stop = 0;
    int n_out = 0;
    int rc = gen_greedy(&g, &p, 12, &stop, 1, out, &n_out, st);
    const int32_t o1[] = {'x'}, o2[] = {'y', 'z'}, *opts[] = {o1, o2};
    int ol[] = {1, 2};
    double lp[2];
    if (!rc) rc = gen_score_options(&g, &p, opts, ol, 2, lp, st);
    gen_close(&g);
    free(px);
    c->calls++;
    c->tokens += n_out;
    c->acts_cap = be_capacity(m->be, BUF_ACTS);
    return rc;
}

static void test_reserved_buffers(void) {
    char a[256], b[256];
    tu_tmpdir(a, sizeof a, "tr_lazy");
    tu_tmpdir(b, sizeof b, "tr_reserved");
    VStatus st = {0};
    double la[32], lb[32];
    int na = -1, nb = -1;
    GenCtx gc[2];
    memset(gc, 0, sizeof gc);
    for (int k = 0; k < 2; k++) {
        TrRunCfg c;
        CHECK(tu_load(&c, TINY, (const char *const[]){"eval.every=4", NULL}, &st) == 0, "%s", st.msg);
        FILE *devnull = fopen("/dev/null", "w");
        TrOpts o = {.out = k ? b : a, .quiet = 1, .log = devnull, .eval_hook = gen_hook, .hook_ctx = &gc[k],
                    .reserve_only = k};
        Trainer *t = NULL;
        int rc = trainer_open(&t, &c, &o, &st);
        if (!rc) {
            Vlm *m = trainer_model(t);
            CHECK(be_must_reserve(m->be, BUF_ACTS) == k && be_must_reserve(m->be, BUF_SCRATCH) == 0,
                  "must reserve: acts %d scratch %d", be_must_reserve(m->be, BUF_ACTS), be_must_reserve(m->be, BUF_SCRATCH));
            rc = trainer_run(t, &st);
        }
        CHECK(rc == 0, "%s run: %s", k ? "reserved" : "lazy", st.msg);
        trainer_close(t);
        cfg_free(&tr_run_schema, &c);
        fclose(devnull);
    }
    na = tu_losses(a, la, 32);
    nb = tu_losses(b, lb, 32);
    CHECK(na > 0 && na == nb && !memcmp(la, lb, (size_t)na * sizeof *la), "losses differ (%d vs %d rows)", na, nb);
    CHECK(gc[0].calls > 0 && gc[1].calls == gc[0].calls && gc[1].tokens == gc[0].tokens, "hook calls %d/%d tokens %d/%d",
          gc[0].calls, gc[1].calls, gc[0].tokens, gc[1].tokens);
    CHECK(gc[1].acts_cap > 0 && gc[1].acts_cap < ((size_t)64 << 20), "reserved BUF_ACTS %zu bytes", gc[1].acts_cap);
    printf("  %d steps, losses identical; %d generator calls; BUF_ACTS reserved %zu bytes\n", na, gc[1].calls,
           gc[1].acts_cap);
    tu_rmtree(a);
    tu_rmtree(b);
}

/* image_tags: grid — a place tag before each image token. The batch's image
   rows are the placeholders, not the tags (tr_host_from_batch on a hand-made
   batch); a run through pairs and instruct with a real tokenizer sizes the
   from-scratch vocabulary for the 16 tags (no mean-initialised growth), and a
   resume inside the run equals the uninterrupted one */
static void test_image_tags(void) {
    /* row 0: bos, tag, img, tag, tag, img, tag, img, tag, img, pad, pad (tags of 1 and 2 tokens);
       row 1: a plain run at 3 */
    enum { IM = 7 };
    int32_t tok[2 * 12] = {1, 50, IM, 51, 52, IM, 53, IM, 54, IM, 0, 0, 1, 2, 3, IM, IM, IM, IM, 4, 0, 0, 0, 0};
    LdSpan spans[2] = {{0, 0, 1, 9}, {1, 1, 3, 4}};
    LdBatch b = {.B = 2, .T = 12, .tokens = tok, .targets = tok, .pos = tok, .doc = tok, .n_img = 2, .S = 1,
                 .n_span = 2, .spans = spans};
    float px[6] = {0};
    b.pixels = px;
    TrHost h = {0};
    VStatus st = {0};
    CHECK(tr_host_from_batch(&h, &b, 4, IM, &st) == 0, "%s", st.msg);
    const int32_t want[8] = {2, 5, 7, 9, 15, 16, 17, 18};
    int same = 1;
    for (int i = 0; i < 8; i++) same &= h.img_rows[i] == want[i];
    CHECK(same, "image rows %d %d %d %d | %d %d %d %d", h.img_rows[0], h.img_rows[1], h.img_rows[2], h.img_rows[3],
          h.img_rows[4], h.img_rows[5], h.img_rows[6], h.img_rows[7]);
    spans[0].len = 6;   /* cuts the run after its second placeholder */
    CHECK(tr_host_from_batch(&h, &b, 4, IM, &st) != 0 && strstr(st.msg, "with 2 placeholders"), "%s", st.msg);
    tr_host_free(&h);

    const char *const over[] = {"tokenizer=tests/golden/tok/gpt2.json", "image_tags=grid", "stages.0.T=96",
                                "stages.1.T=128", "checkpoint.milestone_every=6", NULL};
    char a[256], c[256];
    tu_tmpdir(a, sizeof a, "tr_tags_a");
    tu_tmpdir(c, sizeof c, "tr_tags_c");
    CHECK(tu_run(TINY, over, a, 0, 0, &st) == 0, "%s", st.msg);
    CHECK(tu_run(TINY, over, c, 5, 0, &st) == 0, "%s", st.msg);
    CHECK(tu_run(TINY, over, c, 0, 1, &st) == 0, "resume: %s", st.msg);
    double la[32], lc[32];
    int na = tu_losses(a, la, 32), nc = tu_losses(c, lc, 32);
    int fin = na == 12 && nc == 12;
    for (int i = 0; fin && i < na; i++) fin &= isfinite(la[i]) && la[i] == lc[i];
    CHECK(fin, "rows %d %d: losses finite and equal after resume", na, nc);
    Tokenizer *tk = tok_load("tests/golden/tok/gpt2.json", &st);
    CHECK(tk != NULL, "%s", st.msg);
    int v0 = tk ? tok_vocab_size(tk) + (tok_token_id(tk, "<image>") < 0) : 0;
    if (tk) tok_free(tk);
    char p[600];
    snprintf(p, sizeof p, "%s/ckpt-00000012/model.safetensors", a);
    StFile *f = st_open(p, &st);
    CHECK(f != NULL, "%s", st.msg);
    if (f) {
        const StTensor *e = st_find(f, "language_model.model.embed_tokens.weight");
        CHECK(e && e->shape[0] == v0 + 16, "embedding rows %lld, want %d + 16 tags", e ? (long long)e->shape[0] : -1LL,
              v0);
        if (e && e->shape[0] == v0 + 16) {
            /* random rows, not the mean of the others: the 16 tag rows differ from each other */
            int64_t C = e->shape[1];
            float *x = malloc((size_t)e->numel * 4);
            st_tensor_to_f32(e, x, &st);
            int distinct = 1;
            for (int k = 1; k < 16; k++) distinct &= memcmp(x + (v0 + k) * C, x + (v0 + k - 1) * C, (size_t)C * 4) != 0;
            CHECK(distinct, "tag rows are copies of each other");
            free(x);
        }
        st_close(f);
    }
    /* the checkpoint names its prompt layout: tag k is the one token v0 + k */
    snprintf(p, sizeof p, "%s/ckpt-00000012/trainer.json", a);
    json_t *tj = json_load_file(p, 0, NULL), *tags = json_object_get(tj, "image_tag_ids");
    int tags_ok = json_array_size(tags) == 16;
    for (size_t k = 0; tags_ok && k < 16; k++) {
        json_t *ids = json_array_get(tags, k);
        tags_ok = json_array_size(ids) == 1 && json_integer_value(json_array_get(ids, 0)) == v0 + (json_int_t)k;
    }
    CHECK(tags_ok, "%s: image_tag_ids", p);
    json_decref(tj);
    printf("  tagged run: 12 losses finite, resume at step 5 identical, %d + 16 vocabulary rows\n", v0);
    tu_rmtree(a);
    tu_rmtree(c);
}

TEST_MAIN({"image_tags", test_image_tags}, {"feature_cache_state", test_feature_cache_state}, {"reserved_buffers", test_reserved_buffers}, {"threads_in_state", test_threads_in_state}, {"eval_hook", test_eval_hook}, {"four_regimes", test_four_regimes}, {"new_rows_only", test_new_rows_only}, {"resume_bitwise", test_resume_bitwise}, {"frozen_parts", test_frozen_parts},
          {"accumulation", test_accumulation}, {"bad_configs", test_bad_configs}, {"init_std", test_init_std},
          {"nonfinite_guard", test_nonfinite_guard}, {"pixel_shuffle_checkpoint", test_pixel_shuffle_checkpoint})
