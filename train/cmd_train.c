/* train/cmd_train.c — `vlmc train RUN.yaml [key=value ...] [--out DIR]
 * [--max-steps N] [--resume] [--print-config] [--help-config]`: loads and
 * checks the recipe (dotted overrides on top), then runs it (trainer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "train/demo_shapes.h"
#include "train/train.h"
#include "train/trainer.h"

static const char usage[] =
    "usage: vlmc train RUN.yaml [key=value ...] [--out DIR] [--max-steps N] [--resume] [--print-config]\n"
    "  Runs the stages of a run recipe (configs/shapes.yaml is the embedded default).\n"
    "  key=value      dotted override, e.g. stages.0.lr=1e-3 model.hf=path/to/model\n"
    "  --out DIR      run directory (checkpoints, metrics.jsonl, loss.svg, config.yaml)\n"
    "  --max-steps N  stop after N optimizer steps over all stages (smoke runs)\n"
    "  --resume       continue from DIR/latest (bit-identical on the CPU backend)\n"
    "  --print-config print the resolved config and exit\n"
    "  --help-config  list every config key with its default and help\n";

int train_cmd_main(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    const char *path = NULL, *out = NULL;
    long long max_steps = 0;
    int resume = 0, print = 0;
    char **over = calloc((size_t)argc + 1, sizeof *over);
    int n_over = 0;
    if (!over) return CLI_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--out") || !strcmp(a, "--max-steps")) {
            if (i + 1 >= argc) { free(over); return cli_usage_error("train", usage, "%s needs a value", a); }
            if (a[2] == 'o') {
                out = argv[++i];
            } else {
                char *end;
                max_steps = strtoll(argv[++i], &end, 10);
                if (*end || max_steps <= 0) {
                    free(over);
                    return cli_usage_error("train", usage, "--max-steps: '%s' is not a positive integer", argv[i]);
                }
            }
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else if (!strcmp(a, "--print-config")) {
            print = 1;
        } else if (!strcmp(a, "--help-config")) {
            cfg_help(&tr_run_schema, stdout);
            free(over);
            return CLI_OK;
        } else if (a[0] == '-' && a[1] == '-') {
            free(over);
            return cli_usage_error("train", usage, "unknown option %s", a);
        } else if (strchr(a, '=')) {
            over[n_over++] = argv[i];
        } else if (!path) {
            path = a;
        } else {
            free(over);
            return cli_usage_error("train", usage, "unexpected argument '%s'", a);
        }
    }
    if (!path) { free(over); return cli_usage_error("train", usage, "missing RUN.yaml"); }
    TrRunCfg cfg;
    VStatus st = {0};
    int rc = tr_cfg_load(&cfg, path, n_over, over, &st);
    free(over);
    if (rc) {
        fprintf(stderr, "vlmc train: %s\n", st.msg);
        return CLI_FAIL;
    }
    if (print) {
        cfg_print(&tr_run_schema, &cfg, stdout);
        cfg_free(&tr_run_schema, &cfg);
        return CLI_OK;
    }
    TrOpts o = {.out = out, .max_steps = max_steps, .resume = resume};
    if (cfg.shapes.track && !cfg.shapes.dir) {
        fprintf(stderr, "vlmc train: key 'shapes.track': needs shapes.dir (the held-out questions' world)\n");
        cfg_free(&tr_run_schema, &cfg);
        return CLI_FAIL;
    }
    if (cfg.shapes.track) o.eval_hook = tr_shapes_track, o.hook_ctx = &cfg;
    Trainer *t = NULL;
    rc = tr_shapes_prepare(&cfg, stderr, &st);   /* the demo's data, when the recipe has shapes.dir */
    if (!rc) rc = trainer_open(&t, &cfg, &o, &st);
    if (!rc) rc = trainer_run(t, &st);
    if (!rc) rc = tr_shapes_report(t, &cfg, stdout, &st);
    if (!rc) fprintf(stderr, "vlmc train: done, %lld steps; run directory %s\n", (long long)trainer_global_step(t), trainer_dir(t));
    trainer_close(t);
    cfg_free(&tr_run_schema, &cfg);
    if (rc) {
        fprintf(stderr, "vlmc train: %s\n", st.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}
