/* tests/bench/train_overhead.c — what the trainer adds over a bare training
 * step (issue 6: "under 5% overhead over bare forward/backward/update").
 *
 * One model (the shapes-demo size by default: SigLIP 32 px / patch 8, LLM
 * hidden 192, 4 layers), pairs batches from the fixture data
 * (tests/golden/train/data). Three timings, same thread count:
 *   bare     zero grads, forward, backward, AdamW per trainable tensor, over
 *            batches held in memory (the minimum any trainer must do);
 *   tr_step  the trainer's step function on the same batches (adds loss-token
 *            counting, the global-norm reduction + clipping, the NaN guard);
 *   run      trainer_run over the loader (adds batch fetch + copy, schedule,
 *            metrics.jsonl, progress; one final checkpoint excluded by
 *            timing steps from the metrics rows' wall clock).
 * Usage: build/tests/bench_train_overhead [--steps 30] [--threads 2] [--hidden 192] */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/trainer_internal.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    int steps = 30, threads = 2, hidden = 192;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hidden")) hidden = atoi(argv[i + 1]);
    }
    char ov[8][256];
    snprintf(ov[0], sizeof ov[0], "threads=%d", threads);
    snprintf(ov[1], sizeof ov[1], "model.init.llm.hidden=%d", hidden);
    snprintf(ov[2], sizeof ov[2], "model.init.llm.layers=4");
    snprintf(ov[3], sizeof ov[3], "model.init.llm.heads=6");
    snprintf(ov[4], sizeof ov[4], "stages.0.steps=%d", steps);
    snprintf(ov[5], sizeof ov[5], "stages.0.trainable=[]");
    snprintf(ov[6], sizeof ov[6], "checkpoint.every=0");
    snprintf(ov[7], sizeof ov[7], "eval.data=[]");
    char *over[9] = {ov[0], ov[1], ov[2], ov[3], ov[4], ov[5], ov[6], ov[7], NULL};
    TrRunCfg c;
    VStatus st = {0};
    if (tr_cfg_load(&c, "tests/train/configs/tiny.yaml", 8, over, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
    char dir[] = "/tmp/vlmc_bench_overhead_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    FILE *devnull = fopen("/dev/null", "w");
    TrOpts o = {.out = dir, .max_steps = steps, .quiet = 1, .log = devnull};
    Trainer *t = NULL;
    if (trainer_open(&t, &c, &o, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
    Vlm *m = trainer_model(t);
    const TrStageCfg *sc = c.stages.items;
    /* capture batches through the same loader */
    enum { NB = 8 };
    TrHost h[NB];
    memset(h, 0, sizeof h);
    LdLoaderOpts lo = {.regime = LD_PAIRS, .sources = t->stage_src[0].src, .n_sources = t->stage_src[0].n,
                       .text = &t->tc, .image = &t->ic, .T = sc->T, .global_rows = sc->batch, .seed = 1,
                       .shuffle_buffer = 64};
    LdLoader *L;
    if (ld_open(&lo, &L, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
    LdBatch b;
    memset(&b, 0, sizeof b);
    int64_t tok = 0;
    for (int k = 0; k < NB; k++) {
        int done = 0;
        if (ld_next(L, &b, &done, &st) || done ||
            tr_host_from_batch(&h[k], &b, mcfg_tokens_per_image(&m->cfg), t->tc.image_token, &st)) {
            fprintf(stderr, "batch: %s\n", st.msg);
            return 1;
        }
        tok += (int64_t)b.B * b.T;
    }
    ld_close(L);
    ld_batch_free(&b);
    TrOptim opt;
    memset(&opt, 0, sizeof opt);
    if (tr_optim_setup(&opt, m, sc, "stages.0", &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
    /* bare */
    double best_bare = 1e30, best_step = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        for (int s = 0; s < steps; s++) {
            const VlmBatch *vb = &h[s % NB].vb;
            pt_zero_grads(&m->pt);
            double l;
            if (vlm_forward(m, vb, 1e-3f, 1, &l, &st) || vlm_backward(m, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
            vlm_end_step(m);
            for (int k = 0; k < opt.n; k++) {
                Param *p = &m->pt.p[opt.p[k].idx];
                AdamWDesc d = {.lr = 1e-6f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = opt.p[k].wd,
                               .step = s + 1, .grad_scale = 1.0f};
                op_adamw(m->be, &d, p->w, NULL, p->g, opt.p[k].m, opt.p[k].v, p->row_mask);
            }
            be_sync(m->be, &st);
        }
        double dt = (now_s() - t0) / steps;
        if (dt < best_bare) best_bare = dt;
        t0 = now_s();
        for (int s = 0; s < steps; s++) {
            TrStepStats ss;
            if (tr_step(&opt, &h[s % NB].vb, 1, 1.0, 1e-6, 1.0, &ss, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
        }
        dt = (now_s() - t0) / steps;
        if (dt < best_step) best_step = dt;
    }
    tr_optim_free(&opt);
    /* the whole run: step times from metrics rows (tokens / tokens_per_s) */
    double t0 = now_s();
    if (trainer_run(t, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
    double wall = now_s() - t0;
    char p[256];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "r");
    double sum = 0;
    int n = 0;
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        char *q = strstr(line, "\"tokens_per_s\":");
        if (!q) continue;
        double tps = atof(q + 15);
        if (tps > 0) { sum += (double)(sc->batch * sc->T) / tps; n++; }
    }
    if (f) fclose(f);
    double per_run = n > 1 ? sum / n : wall / steps;
    printf("model: %lld parameters, rows %d x T %d, %d threads, %d steps\n", (long long)m->pt.total, sc->batch, sc->T,
           threads, steps);
    printf("bare forward+backward+adamw : %8.3f ms/step\n", 1e3 * best_bare);
    printf("tr_step                     : %8.3f ms/step  (%+.1f%%)\n", 1e3 * best_step, 100 * (best_step / best_bare - 1));
    printf("trainer_run (loader, logs)  : %8.3f ms/step  (%+.1f%%; wall %.2f s incl. loader start + final checkpoint)\n",
           1e3 * per_run, 100 * (per_run / best_bare - 1), wall);
    (void)tok;
    for (int k = 0; k < NB; k++) tr_host_free(&h[k]);
    trainer_close(t);
    cfg_free(&tr_run_schema, &c);
    fclose(devnull);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
