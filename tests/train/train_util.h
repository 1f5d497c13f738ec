/* tests/train/train_util.h — shared by the trainer tests: run the tiny
 * recipe (tests/train/configs/tiny.yaml) through the API with overrides, read
 * back the loss column of metrics.jsonl, snapshot weights. */
#ifndef VLMC_TESTS_TRAIN_UTIL_H
#define VLMC_TESTS_TRAIN_UTIL_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "train/trainer.h"

static inline const char *tu_src(void) {
    const char *s = getenv("VLMC_SOURCE_DIR");
    return s ? s : ".";
}

static inline void tu_tmpdir(char *out, size_t cap, const char *tag) {
    snprintf(out, cap, "/tmp/vlmc_%s_XXXXXX", tag);
    if (!mkdtemp(out)) { perror("mkdtemp"); exit(2); }
}

static inline void tu_rmtree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Loads a recipe with overrides (NULL-terminated). Returns 0 or the error code (msg in st). */
static inline int tu_load(TrRunCfg *c, const char *recipe, const char *const *over, VStatus *st) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tu_src(), recipe);
    int n = 0;
    while (over && over[n]) n++;
    return tr_cfg_load(c, path, n, (char *const *)over, st);
}

/* Runs recipe into dir (max_steps 0 = all, resume flag). Returns the status code. */
static inline int tu_run(const char *recipe, const char *const *over, const char *dir, int64_t max_steps, int resume,
                         VStatus *st) {
    TrRunCfg c;
    int rc = tu_load(&c, recipe, over, st);
    if (rc) return rc;
    FILE *devnull = fopen("/dev/null", "w");
    TrOpts o = {.out = dir, .max_steps = max_steps, .resume = resume, .quiet = 1, .log = devnull};
    Trainer *t = NULL;
    rc = trainer_open(&t, &c, &o, st);
    if (!rc) rc = trainer_run(t, st);
    trainer_close(t);
    cfg_free(&tr_run_schema, &c);
    fclose(devnull);
    return rc;
}

/* losses[step-1] from DIR/metrics.jsonl; returns the number of rows (steps must be 1..n in order). */
static inline int tu_losses(const char *dir, double *loss, int cap) {
    char p[4200];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t lc = 0;
    int n = 0;
    while (getline(&line, &lc, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) { n = -2; break; }
        long long step = json_integer_value(json_object_get(j, "step"));
        json_t *l = json_object_get(j, "loss");
        if (step != n + 1 || n >= cap) { json_decref(j); n = -3; break; }
        loss[n++] = json_is_number(l) ? json_number_value(l) : NAN;
        json_decref(j);
    }
    free(line);
    fclose(f);
    return n;
}

#endif
