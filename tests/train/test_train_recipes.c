/* tests/train/test_train_recipes.c — the real recipes cannot rot: each of
 * configs/llava15.yaml and configs/smolvlm.yaml runs 2 optimizer steps (one
 * per stage) with its model paths overridden (dotted overrides) to the tiny
 * golden Hugging Face models and its data to the fixture set:
 *   llava15: the tiny LLaVA (CLIP + Llama) checkpoint; stage 1 must move only
 *            the projector, stage 2 projector + LLM, never the encoder;
 *   smolvlm: the tiny SigLIP tower + the tiny Llama joined with a fresh
 *            pixel-shuffle projector (exported as Idefics3).
 * Each final checkpoint must load back through hf_load (what `vlmc convert`
 * and transformers read) with every tensor equal to the trained weights.
 * Warmup is overridden to 0: with warmup the first step of a stage has lr 0
 * (transformers' convention), and one step per stage must move something. */
#include "model/hf.h"
#include "train/trainer_internal.h"
#include "train_util.h"

#define D "tests/golden/train/data"
#define M "tests/golden/models"

static void run_recipe(const char *recipe, const char *const *over, int check_llava_stages) {
    char d[256];
    tu_tmpdir(d, sizeof d, "recipe");
    TrRunCfg c;
    VStatus st = {0};
    int rc = tu_load(&c, recipe, over, &st);
    CHECK(rc == 0, "%s: %s", recipe, st.msg);
    if (rc) return;
    FILE *devnull = fopen("/dev/null", "w");
    TrOpts o = {.out = d, .max_steps = 1, .quiet = 1, .log = devnull};
    Trainer *t = NULL;
    rc = trainer_open(&t, &c, &o, &st);
    CHECK(rc == 0, "%s: %s", recipe, st.msg);
    if (rc) { cfg_free(&tr_run_schema, &c); fclose(devnull); return; }
    Vlm *m = trainer_model(t);
    int64_t total = m->pt.total;
    float *w0 = malloc((size_t)total * sizeof(float)), *w1 = malloc((size_t)total * sizeof(float)),
          *w2 = malloc((size_t)total * sizeof(float));
    be_download(m->be, m->pt.all_w, w0);
    CHECK(trainer_run(t, &st) == 0, "%s stage 1: %s", recipe, st.msg);
    be_download(m->be, m->pt.all_w, w1);
    trainer_close(t);
    o.max_steps = 2;
    o.resume = 1;
    rc = trainer_open(&t, &c, &o, &st);
    CHECK(rc == 0, "%s resume: %s", recipe, st.msg);
    if (!rc) {
        CHECK(trainer_run(t, &st) == 0, "%s stage 2: %s", recipe, st.msg);
        m = trainer_model(t);
        be_download(m->be, m->pt.all_w, w2);
        CHECK(trainer_global_step(t) == 2, "%s: %lld steps", recipe, (long long)trainer_global_step(t));
        int moved1[COMP__COUNT] = {0}, moved2[COMP__COUNT] = {0};
        for (int i = 0; i < m->pt.n; i++) {
            const Param *p = &m->pt.p[i];
            size_t nb = (size_t)p->numel * sizeof(float);
            moved1[p->comp] += memcmp(w0 + p->offset, w1 + p->offset, nb) != 0;
            moved2[p->comp] += memcmp(w1 + p->offset, w2 + p->offset, nb) != 0;
        }
        printf("  %s: entries moved in stage 1: encoder %d adapter %d llm %d; stage 2: encoder %d adapter %d llm %d\n",
               recipe, moved1[0], moved1[1], moved1[2], moved2[0], moved2[1], moved2[2]);
        CHECK(moved1[COMP_ENCODER] == 0 && moved1[COMP_LLM] == 0 && moved1[COMP_ADAPTER] > 0,
              "%s stage 1 must move only the projector", recipe);
        if (check_llava_stages)
            CHECK(moved2[COMP_ENCODER] == 0 && moved2[COMP_LLM] > 0 && moved2[COMP_ADAPTER] > 0,
                  "%s stage 2 must move projector + LLM, not the encoder", recipe);
        else
            CHECK(moved2[COMP_ENCODER] > 0 && moved2[COMP_LLM] > 0 && moved2[COMP_ADAPTER] > 0,
                  "%s stage 2 trains everything", recipe);
        /* the final checkpoint is a Hugging Face model holding exactly these weights */
        char ck[4300];
        snprintf(ck, sizeof ck, "%s/ckpt-00000002", d);
        BackendOptions bo = {.name = "cpu", .threads = 1};
        Backend *be = be_create(&bo, &st);
        Vlm back;
        HfLoadOpts lo;
        memset(&lo, 0, sizeof lo);
        rc = hf_load(&back, ck, be, &lo, &st);
        CHECK(rc == 0, "%s: hf_load of the checkpoint: %s", recipe, st.msg);
        if (!rc) {
            CHECK(back.pt.total == total && back.pt.n == m->pt.n, "%s: reloaded table differs", recipe);
            float *wb = malloc((size_t)back.pt.total * sizeof(float));
            be_download(be, back.pt.all_w, wb);
            int diff = 0;
            for (int i = 0; i < back.pt.n; i++) {
                int k = pt_find(&m->pt, back.pt.p[i].name);
                if (k < 0) { diff++; continue; }
                diff += memcmp(wb + back.pt.p[i].offset, w2 + m->pt.p[k].offset,
                               (size_t)back.pt.p[i].numel * sizeof(float)) != 0;
            }
            CHECK(diff == 0, "%s: %d tensors differ after export + import", recipe, diff);
            free(wb);
            vlm_free(&back);
        }
        be_destroy(be);
        trainer_close(t);
    }
    free(w0); free(w1); free(w2);
    cfg_free(&tr_run_schema, &c);
    fclose(devnull);
    tu_rmtree(d);
}

static void test_llava15(void) {
    run_recipe("configs/llava15.yaml",
               (const char *const[]){"backend=cpu", "threads=1", "tokenizer=bytes", "model.vision_hf=null",
                                     "model.llm_hf=null", "model.hf=" M "/llava_clip_llama/hf", "model.recompute=false",
                                     "stages.0.data.0.shards=[" D "/pairs.jsonl]", "stages.0.T=48", "stages.0.batch=2",
                                     "stages.0.steps=1", "stages.1.data.0.shards=[" D "/sft.jsonl]", "stages.1.T=96",
                                     "stages.1.batch=2", "stages.0.schedule.warmup=0", "stages.1.schedule.warmup=0", NULL},
               1);
}

static void test_smolvlm(void) {
    run_recipe("configs/smolvlm.yaml",
               (const char *const[]){"backend=cpu", "threads=1", "tokenizer=bytes",
                                     "model.vision_hf=" M "/vision_siglip/hf", "model.llm_hf=" M "/text_llama/hf",
                                     "stages.0.data.0.shards=[" D "/pairs.jsonl]", "stages.0.T=48", "stages.0.batch=2",
                                     "stages.0.steps=1", "stages.1.data.0.shards=[" D "/instruct.jsonl]",
                                     "stages.1.T=64", "stages.1.batch=2", "stages.0.schedule.warmup=0",
                                     "stages.1.schedule.warmup=0", NULL},
               0);
}

TEST_MAIN({"llava15", test_llava15}, {"smolvlm", test_smolvlm})
