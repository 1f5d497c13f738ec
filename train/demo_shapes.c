/* train/demo_shapes.c — the shapes demo's data step and final accuracy eval
 * around a run (contract in train/demo_shapes.h). The trainer itself knows
 * nothing of the demo: `vlmc train` calls these two before trainer_open and
 * after trainer_run. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/shapes_data.h"
#include "eval/shapes_eval.h"
#include "train/demo_shapes.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tr_shapes_prepare(const TrRunCfg *cfg, FILE *log, VStatus *st) {
    const TrShapesCfg *s = &cfg->shapes;
    if (!s->dir) return 0;
    ShWriteOpts o = {.out = s->dir, .seed = (uint64_t)s->seed, .samples = s->samples, .heldout = s->heldout};
    double t0 = now_s();
    int made = 0, rc = sh_ensure_dataset(&o, &made, st);
    if (rc) return rc;
    if (made && log)
        fprintf(log, "shapes: wrote the synthetic dataset (seed %lld, %d scenes) to %s in %.1f s\n", (long long)s->seed,
                s->samples, s->dir, now_s() - t0);
    return 0;
}

int tr_shapes_report(Trainer *t, const TrRunCfg *cfg, FILE *out, VStatus *st) {
    const TrShapesCfg *s = &cfg->shapes;
    if (!s->dir || s->eval <= 0) return 0;
    ShEvalResult r;
    int rc = sh_eval(trainer_model(t), trainer_text(t), trainer_image(t), (uint64_t)s->seed, s->eval, 0, &r, st);
    if (rc) return rc;
    sh_eval_print(&r, out);
    char *js = sh_eval_json(&r);
    if (!js) return vs_set(st, VS_ENOMEM, "shapes eval: out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/shapes_eval.json", trainer_dir(t));
    FILE *f = fopen(path, "w");
    rc = !f || fputs(js, f) < 0;
    if (f && fclose(f)) rc = 1;
    free(js);
    if (rc) return vs_set(st, VS_EIO, "cannot write %s", path);
    return 0;
}

int tr_shapes_track(void *ctx, Trainer *t, int stage, int64_t step, char *extra, size_t cap, VStatus *st) {
    const TrRunCfg *cfg = ctx;
    const TrShapesCfg *s = &cfg->shapes;
    ShEvalResult r;
    int per_cell = s->eval > 0 ? s->eval : 40;   /* eval=0 turns off the final table only; 40 is its default */
    int rc = sh_eval(trainer_model(t), trainer_text(t), trainer_image(t), (uint64_t)s->seed, per_cell, 1, &r, st);
    if (rc) return rc;
    fprintf(stderr, "shapes eval after %s step %lld: ", ((const TrStageCfg *)cfg->stages.items)[stage].name, (long long)step);
    sh_eval_print_line(&r, stderr);
    json_t *mc = json_object();
    for (int q = 0; q <= SH_NQTYPES; q++)
        json_object_set_new(mc, q < SH_NQTYPES ? sh_qtype_name((ShQType)q) : "text", json_real(sh_eval_type_mc(&r, q)));
    json_t *row = json_pack("{s:f, s:o}", "shapes_csp", sh_eval_csp(&r), "shapes_mc", mc);
    char *js = row ? json_dumps(row, JSON_COMPACT) : NULL;
    json_decref(row);
    int fits = js && strlen(js) < cap;
    if (fits) memcpy(extra, js, strlen(js) + 1);
    free(js);
    if (!fits) return vs_set(st, VS_EINVAL, "shapes eval: metrics row does not fit %zu bytes", cap);
    return 0;
}
