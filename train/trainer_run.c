/* train/trainer_run.c — running the stages (trainer.h): per stage, set up
 * trainability and AdamW, open the loader (resumed mid-stage from the saved
 * position), gather each step's micro-batches, step, log, eval, checkpoint.
 * At the end: the loss plot from metrics.jsonl.
 *
 * A stage's length: `steps`, or with steps = 0 an estimate from time_s (after
 * the first step, refined after the fourth; the estimate is saved in
 * checkpoints so a resumed stage keeps its schedule). A stage also ends when
 * its time budget is spent or its data is exhausted; --max-steps stops the
 * whole run at that many optimizer steps. Checkpoints: every
 * checkpoint.every global steps, at each stage end and where the run stops. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train/ckpt_dir.h"
#include "train/ckpt_io.h"
#include "train/plot.h"
#include "train/schedule.h"
#include "train/trainer_internal.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static TrHost *host_slot(Trainer *t, int k) {
    if (k >= t->mb_cap) {
        int nc = t->mb_cap ? 2 * t->mb_cap : 4;
        while (nc <= k) nc *= 2;
        TrHost *nm = realloc(t->mb, (size_t)nc * sizeof *nm);
        VLMC_ASSERT(nm, "out of memory");
        memset(nm + t->mb_cap, 0, (size_t)(nc - t->mb_cap) * sizeof *nm);
        t->mb = nm;
        t->mb_cap = nc;
    }
    return &t->mb[k];
}

static char *state_json(const Trainer *t, int stage, int64_t stage_step, const char *loader) {
    json_t *j = json_object();
    char h[32];
    snprintf(h, sizeof h, "%016" PRIx64, tr_cfg_hash(t->cfg));
    json_object_set_new(j, "stage", json_integer(stage));
    json_object_set_new(j, "stage_step", json_integer(stage_step));
    json_object_set_new(j, "stage_total", json_integer(stage_step ? t->stage_total : 0));
    json_object_set_new(j, "global_step", json_integer(t->global_step));
    json_object_set_new(j, "adam_step", json_integer(stage_step ? t->opt.adam_step : 0));
    json_object_set_new(j, "loader", json_string(stage_step ? loader : ""));
    json_object_set_new(j, "seed", json_integer(t->cfg->seed));
    json_object_set_new(j, "threads", json_integer(t->threads));
    json_object_set_new(j, "feature_cache", json_integer(t->feature_cache));
    json_object_set_new(j, "vocab", json_integer(t->vlm.cfg.llm.vocab));
    json_object_set_new(j, "image_token", json_integer(t->vlm.cfg.image_token_id));
    if (t->tc.tag_off) {   /* the prompt layout a tool needs to feed the checkpoint its images */
        json_t *tags = json_array();
        for (int k = 0; k < t->tc.image_seq_len; k++) {
            json_t *ids = json_array();
            for (int32_t i = t->tc.tag_off[k]; i < t->tc.tag_off[k + 1]; i++)
                json_array_append_new(ids, json_integer(t->tc.tag_ids[i]));
            json_array_append_new(tags, ids);
        }
        json_object_set_new(j, "image_tag_ids", tags);
    }
    json_object_set_new(j, "config_hash", json_string(h));
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(j);
    VLMC_ASSERT(s, "out of memory");
    return s;
}

/* done: the stage is complete (the checkpoint resumes at the next stage's start) */
static int checkpoint(Trainer *t, int done, const char *loader, VStatus *st) {
    if (t->last_ckpt_step == t->global_step) return 0;
    char *js = done ? state_json(t, t->stage + 1, 0, "") : state_json(t, t->stage, t->stage_step, loader);
    int rc = tr_ckpt_write(t->dir, t->global_step, &t->vlm, &t->opt, js, st);
    free(js);
    if (rc) return rc;
    t->last_ckpt_step = t->global_step;
    const TrCkptCfg *c = &t->cfg->checkpoint;
    return ckpt_dir_prune(t->dir, c->keep_last, c->milestone_every, st);
}

static int open_loader(Trainer *t, LdRegime regime, const TrSources *src, int T, int rows, uint64_t seed, int shuffle,
                       int eval, const char *resume, LdLoader **L, VStatus *st) {
    LdLoaderOpts o = {.regime = regime, .sources = src->src, .n_sources = src->n, .text = &t->tc,
                      .image = t->have_ic ? &t->ic : NULL, .T = T, .global_rows = rows, .seed = seed,
                      .shuffle_buffer = eval ? 0 : shuffle, .keep_shard_order = eval, .epochs = eval ? 1 : 0,
                      .workers = t->cfg->workers, .prefetch = t->cfg->prefetch,
                      .resume_state = resume && resume[0] ? resume : NULL};
    return ld_open(&o, L, st);
}

static int run_eval(Trainer *t, const TrStageCfg *sc, char **extra, VStatus *st) {
    *extra = NULL;
    json_t *j = json_object();
    if (t->eval_src.n) {
        const TrEvalCfg *e = &t->cfg->eval;
        LdLoader *L = NULL;
        int rc = open_loader(t, (LdRegime)e->regime, &t->eval_src, e->T ? e->T : sc->T, e->batch ? e->batch : sc->batch,
                             (uint64_t)t->cfg->seed, 0, 1, NULL, &L, st);
        if (rc) { json_decref(j); return vs_prefix(st, "eval loader"); }
        LdBatch b;
        memset(&b, 0, sizeof b);
        TrHost h;
        memset(&h, 0, sizeof h);
        double sum = 0;
        int64_t tok = 0;
        int tpi = mcfg_tokens_per_image(&t->vlm.cfg);
        for (int k = 0; k < e->batches && !rc; k++) {
            int done = 0;
            if ((rc = ld_next(L, &b, &done, st)) || done) break;
            if ((rc = tr_host_from_batch(&h, &b, tpi, t->tc.image_token, st))) break;
            double l;
            int64_t n;
            if ((rc = tr_eval_loss(&t->vlm, &h.vb, 1, &l, &n, st))) break;
            if (n) { sum += l * (double)n; tok += n; }
        }
        ld_close(L);
        ld_batch_free(&b);
        tr_host_free(&h);
        if (rc) { json_decref(j); return rc; }
        json_object_set_new(j, "eval_loss", tok ? json_real(sum / (double)tok) : json_null());
        json_object_set_new(j, "eval_tokens", json_integer(tok));
    }
    if (t->opts.eval_hook) {
        char buf[4096] = {0};
        if (t->opts.eval_hook(t->opts.hook_ctx, t, t->stage, t->global_step, buf, sizeof buf, st)) {
            json_decref(j);
            return st->code ? st->code : vs_set(st, VS_EINVAL, "eval hook stopped the run");
        }
        if (buf[0]) {
            json_error_t err;
            json_t *x = json_loads(buf, 0, &err);
            if (!json_is_object(x)) {
                json_decref(x);
                json_decref(j);
                return vs_set(st, VS_EINVAL, "eval hook: not a JSON object: %s", buf);
            }
            json_object_update(j, x);
            json_decref(x);
        }
    }
    if (json_object_size(j)) *extra = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return 0;
}

/* Stage start: new tokens (tokenizer + vocabulary growth), trainability, AdamW. */
static int setup_stage(Trainer *t, const TrStageCfg *sc, const char *key, VStatus *st) {
    if (t->stage_step == 0 && sc->new_tokens.n) {
        if (!t->tok) return vs_set(st, VS_EINVAL, "key '%s.new_tokens': needs a tokenizer file (not bytes)", key);
        for (int k = 0; k < sc->new_tokens.n; k++)
            if (tok_add_special(t->tok, sc->new_tokens.items[k], st) < 0) return vs_prefix(st, "key '%s.new_tokens.%d'", key, k);
        int v = tok_vocab_size(t->tok);
        if (v > t->vlm.cfg.llm.vocab && vlm_grow_vocab(&t->vlm, v, sc->train_new_rows_only, st)) return st->code;
    }
    if (tr_optim_setup(&t->opt, &t->vlm, sc, key, st)) return st->code;
    if (t->resume_ckpt[0]) {
        if (tr_ckpt_load_optim(t->resume_ckpt, &t->opt, st)) return st->code;
        t->opt.adam_step = t->resume_adam_step;
        t->resume_ckpt[0] = 0;
    }
    return 0;
}

/* Backends that must reserve BUF_ACTS (cuda) get it sized for the stage's
 * largest forward: its rows of T tokens, each holding at most T / (tokens
 * per image) images (a packed row may be all images), and the held-out loss
 * batch. Grows only, so the first stages' sizes hold for later ones. */
static int size_acts(Trainer *t, const TrStageCfg *sc, const char *key, VStatus *st) {
    const VlmConfig *c = &t->vlm.cfg;
    int tpi = c->has_vision ? mcfg_tokens_per_image(c) : 0;
    int64_t rows = sc->batch, T = sc->T;
    if (vlm_ensure_acts(&t->vlm, rows, T, tpi ? rows * (T / tpi) : 0, 1, st)) return vs_prefix(st, "%s", key);
    if (t->eval_src.n) {
        const TrEvalCfg *e = &t->cfg->eval;
        rows = e->batch ? e->batch : sc->batch;
        T = e->T ? e->T : sc->T;
        if (vlm_ensure_acts(&t->vlm, rows, T, tpi ? rows * (T / tpi) : 0, 0, st)) return vs_prefix(st, "eval");
    }
    return 0;
}

/* returns 1 in *stop when --max-steps ended the run */
static int run_stage(Trainer *t, int *stop, VStatus *st) {
    const TrStageCfg *sc = &((const TrStageCfg *)t->cfg->stages.items)[t->stage];
    char key[48];
    snprintf(key, sizeof key, "stages.%d", t->stage);
    if (setup_stage(t, sc, key, st) || size_acts(t, sc, key, st)) return st->code;
    if (t->stage_step == 0) t->stage_total = sc->steps;
    LdLoader *L = NULL;
    uint64_t seed = (uint64_t)t->cfg->seed * 1000003ULL + (uint64_t)t->stage;
    if (open_loader(t, (LdRegime)sc->regime, &t->stage_src[t->stage], sc->T, sc->batch, seed, sc->shuffle_buffer, 0,
                    t->ld_state, &L, st))
        return vs_prefix(st, "%s loader", key);
    LdBatch b;
    memset(&b, 0, sizeof b);
    int tpi = mcfg_tokens_per_image(&t->vlm.cfg);
    SchedDesc sd = {.kind = (SchedKind)sc->schedule.kind, .warmup = sc->schedule.warmup, .decay = sc->schedule.decay,
                    .decay_shape = (SchedDecay)sc->schedule.decay_shape, .min_lr_ratio = sc->schedule.min_lr_ratio};
    double t0 = now_s(), t_first = 0;
    int nonfinite = 0, rc = 0, done = 0, data_end = 0;
    *stop = 0;
    int64_t start_step = t->stage_step;
    const char *delay = getenv("VLMC_TEST_STEP_DELAY_MS");
    while (!done) {
        if (t->opts.max_steps && t->global_step >= t->opts.max_steps) { *stop = 1; break; }
        double ts = now_s();
        /* gather this step's micro-batches; counting loss tokens first lets every
           forward use 1 / (the step's loss tokens) */
        int n = 0;
        int64_t ltok = 0, samples = 0;
        for (;;) {
            int end = 0;
            if ((rc = ld_next(L, &b, &end, st))) break;
            if (end) { data_end = 1; break; }
            TrHost *h = host_slot(t, n);
            if ((rc = tr_host_from_batch(h, &b, tpi, t->tc.image_token, st))) break;
            n++;
            ltok += b.n_loss;
            samples += h->samples;
            if (sc->accum_tokens ? ltok >= sc->accum_tokens
                                 : sc->accum_samples ? samples >= sc->accum_samples : n >= sc->accum_steps)
                break;
            if (n >= 4096) break;
        }
        if (rc || n == 0) break;
        if (n > t->vb_cap) {   /* grows a few times at most: no allocation per step */
            VlmBatch *nv = realloc(t->vb, (size_t)t->mb_cap * sizeof *nv);
            VLMC_ASSERT(nv, "out of memory");
            t->vb = nv;
            t->vb_cap = t->mb_cap;
        }
        VlmBatch *vb = t->vb;
        for (int k = 0; k < n; k++) vb[k] = t->mb[k].vb;
        sd.total = t->stage_total > 0 ? t->stage_total : INT64_MAX / 4;
        double f = sched_factor(&sd, t->stage_step);
        TrStepStats ss;
        rc = tr_step(&t->opt, vb, n, f, sc->lr, sc->clip, &ss, st);
        if (rc) { vs_prefix(st, "%s step %lld", key, (long long)t->stage_step); break; }
        t->stage_step++;
        t->global_step++;
        double te = now_s(), dt = te - ts;
        if (delay) usleep((useconds_t)(1000 * atoi(delay)));
        /* a time budget without steps: estimate the stage's length (after step 1, refined after step 4) */
        if (sc->steps == 0 && sc->time_s > 0 && start_step == 0) {   /* a resumed stage keeps its saved length */
            if (t->stage_step == start_step + 1) t_first = te;
            if (t->stage_step == start_step + 1 || t->stage_step == start_step + 4) {
                double per = t->stage_step == start_step + 1 ? dt : (te - t_first) / 3.0;
                double left = sc->time_s - (te - t0);
                int64_t est = t->stage_step + (int64_t)(left > 0 ? left / (per > 1e-9 ? per : 1e-9) : 0);
                t->stage_total = est > t->stage_step ? est : t->stage_step;
            }
        }
        nonfinite = ss.skipped ? nonfinite + 1 : 0;
        int last = (t->stage_total > 0 && t->stage_step >= t->stage_total) || (sc->time_s > 0 && te - t0 >= sc->time_s) ||
                   (t->opts.max_steps && t->global_step >= t->opts.max_steps);
        char *extra = NULL;
        int64_t ev = t->cfg->eval.every;
        if ((ev && t->global_step % ev == 0) || (last && (t->eval_src.n || t->opts.eval_hook)))
            if ((rc = run_eval(t, sc, &extra, st))) break;
        MetricsRow row = {.stage = sc->name, .step = t->global_step, .stage_step = t->stage_step,
                          .stage_total = t->stage_total, .loss = ss.loss, .lr = ss.lr, .grad_norm = ss.grad_norm,
                          .tokens_per_s = dt > 0 ? (double)ss.tokens / dt : 0,
                          .images_per_s = dt > 0 ? (double)ss.images / dt : 0, .skipped = ss.skipped,
                          .extra_json = extra};
        rc = metrics_write(&t->ml, &row, st);
        free(extra);
        if (rc) break;
        /* progress: a live bar redrawn <= 10x/s on a terminal; in a log the first
           and last steps of a stage and one line per second between */
        double since = te - t->last_print;
        if (!t->opts.quiet && (last || t->stage_step == start_step + 1 || ss.skipped || since >= (t->tty ? 0.1 : 1.0))) {
            t->last_print = te;
            double per = (te - t0) / (double)(t->stage_step - start_step);
            double eta = t->stage_total > 0 ? per * (double)(t->stage_total - t->stage_step) : NAN;
            progress_print(t->log, t->tty, &row, eta);
        }
        if (ss.skipped)
            fprintf(t->log, "%s step %lld: non-finite loss or gradient norm, update skipped (%d in a row)\n", sc->name,
                    (long long)t->stage_step, nonfinite);
        if (nonfinite >= sc->max_nonfinite) {
            rc = vs_set(st, VS_EINVAL, "%s (%s): %d non-finite steps in a row (limit stages.%d.max_nonfinite), stopping",
                        key, sc->name, nonfinite, t->stage);
            break;
        }
        if (last) done = 1;
        int64_t ce = t->cfg->checkpoint.every;
        if (!done && ce && t->global_step % ce == 0) {
            ld_state(L, t->ld_state, sizeof t->ld_state);
            if ((rc = checkpoint(t, 0, t->ld_state, st))) break;
        }
        if (data_end) break;
    }
    if (!rc && t->tty && !t->opts.quiet) fputc('\n', t->log);
    if (!rc) {
        int finished = data_end || (t->stage_total > 0 && t->stage_step >= t->stage_total) ||
                       (sc->time_s > 0 && now_s() - t0 >= sc->time_s);
        if (data_end) fprintf(t->log, "%s: the data ran out at stage step %lld\n", sc->name, (long long)t->stage_step);
        if (finished && !t->opts.quiet) {   /* the time per stage, so budgets can be set from a real run */
            int capped = !data_end && sc->time_s > 0 && (t->stage_total <= 0 || t->stage_step < t->stage_total);
            fprintf(t->log, "%s: stage done, %lld steps in %.1f s%s\n", sc->name, (long long)t->stage_step,
                    now_s() - t0, capped ? " (its time_s budget ended it)" : "");
            VlmFeatCacheStats fs;
            vlm_feature_cache_stats(&t->vlm, &fs);
            if (fs.hits + fs.misses)
                fprintf(t->log, "%s: feature cache %lld hits, %lld misses so far, %lld images held (%.0f MiB)\n", sc->name,
                        (long long)fs.hits, (long long)fs.misses, (long long)fs.entries, (double)fs.bytes / (1 << 20));
        }
        ld_state(L, t->ld_state, sizeof t->ld_state);
        rc = checkpoint(t, finished, t->ld_state, st);
    }
    ld_close(L);
    ld_batch_free(&b);
    return rc;
}

/* loss.svg: one series per stage from metrics.jsonl (so a resumed run plots everything) */
static int write_plot(Trainer *t, VStatus *st) {
    char p[4200];
    snprintf(p, sizeof p, "%s/metrics.jsonl", t->dir);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    int ns = t->cfg->stages.n;
    double **x = calloc((size_t)ns, sizeof *x), **y = calloc((size_t)ns, sizeof *y);
    size_t *n = calloc((size_t)ns, sizeof *n), *cap = calloc((size_t)ns, sizeof *cap);
    VLMC_ASSERT(x && y && n && cap, "out of memory");
    const TrStageCfg *S = t->cfg->stages.items;
    char *line = NULL;
    size_t lc = 0;
    while (getline(&line, &lc, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        const char *sn = json_string_value(json_object_get(j, "stage"));
        json_t *l = json_object_get(j, "loss");
        for (int i = 0; i < ns && sn && json_is_number(l); i++) {
            if (strcmp(S[i].name, sn)) continue;
            if (n[i] == cap[i]) {
                cap[i] = cap[i] ? 2 * cap[i] : 64;
                x[i] = realloc(x[i], cap[i] * sizeof(double));
                y[i] = realloc(y[i], cap[i] * sizeof(double));
                VLMC_ASSERT(x[i] && y[i], "out of memory");
            }
            x[i][n[i]] = (double)json_integer_value(json_object_get(j, "step"));
            y[i][n[i]] = json_number_value(l);
            n[i]++;
            break;
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    PlotSeries *ps = calloc((size_t)ns, sizeof *ps);
    VLMC_ASSERT(ps, "out of memory");
    size_t k = 0;
    for (int i = 0; i < ns; i++)
        if (n[i]) ps[k++] = (PlotSeries){.name = S[i].name, .x = x[i], .y = y[i], .n = n[i]};
    snprintf(p, sizeof p, "%s/loss.svg", t->dir);
    int rc = plot_svg_write(p, "training loss", "step", "loss", ps, k, st);
    for (int i = 0; i < ns; i++) { free(x[i]); free(y[i]); }
    free(x); free(y); free(n); free(cap); free(ps);
    return rc;
}

int trainer_run(Trainer *t, VStatus *st) {
    int rc = 0, stop = 0;
    while (!rc && !stop && t->stage < t->cfg->stages.n) {
        if (t->opts.max_steps && t->global_step >= t->opts.max_steps) break;
        rc = run_stage(t, &stop, st);
        if (rc || stop) break;
        t->stage++;
        t->stage_step = 0;
        t->stage_total = 0;
        t->ld_state[0] = 0;
    }
    VStatus pst = {0};
    int prc = write_plot(t, &pst);
    if (prc && !rc) *st = pst;
    return rc ? rc : prc;
}
