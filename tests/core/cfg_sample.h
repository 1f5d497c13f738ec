/* tests/core/cfg_sample.h — the sample schema shared by test_config.c and
 * test_config_fuzz.c: a run recipe with a nested struct (optim), a list of
 * structs (stages, each with a string list), enums and every scalar type,
 * and a sample file whose line numbers the error tests rely on. */
#ifndef VLMC_TESTS_CFG_SAMPLE_H
#define VLMC_TESTS_CFG_SAMPLE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

typedef struct Optim {
    double lr;
    float beta1;
    int warmup;
    int sched;   /* enum index into sched_names */
} Optim;

typedef struct Stage {
    char *name;
    int64_t steps;
    double lr;
    int freeze_llm;
    CfgStrList trainable;
} Stage;

typedef struct Run {
    char *out_dir;
    int seed;
    int batch_size;
    int64_t tokens;
    double offset;   /* no range: any double, inf included */
    Optim optim;
    CfgList stages;
    CfgStrList tags;
    int device;
} Run;

static const char *const sched_names[] = {"constant", "cosine", "linear", NULL};
static const char *const device_names[] = {"cpu", "cuda", NULL};

static const CfgField optim_fields[] = {
    CFG_DOUBLE(Optim, lr, "3e-4", 0, 1, "peak learning rate"),
    CFG_FLOAT(Optim, beta1, "0.9", 0, 1, "AdamW beta1"),
    CFG_INT(Optim, warmup, "100", 0, INT_MAX, "warm-up steps"),
    CFG_ENUM(Optim, sched, sched_names, "cosine", "learning-rate schedule"),
};
static const CfgSchema optim_schema = CFG_SCHEMA("optim", Optim, optim_fields);

static const CfgField stage_fields[] = {
    CFG_STRING(Stage, name, "\"stage\"", "stage name"),
    CFG_INT64(Stage, steps, "1000", 1, 1e12, "optimizer steps"),
    CFG_DOUBLE(Stage, lr, "1e-3", 0, 1, "stage learning rate"),
    CFG_BOOL(Stage, freeze_llm, "true", "freeze the language model"),
    CFG_STRLIST(Stage, trainable, "[adapter]", "trainable components"),
};
static const CfgSchema stage_schema = CFG_SCHEMA("stage", Stage, stage_fields);

static const CfgField run_fields[] = {
    CFG_STRING(Run, out_dir, "runs/default", "output directory"),
    CFG_INT(Run, seed, "1234", INT_MIN, INT_MAX, "random seed"),
    CFG_INT(Run, batch_size, "32", 1, 4096, "global batch size"),
    CFG_INT64(Run, tokens, "0", 0, 9.2e18, "token budget"),
    {"offset", CFG_T_DOUBLE, offsetof(Run, offset), 1, 0, "0", "unbounded double", NULL, NULL},
    CFG_STRUCT(Run, optim, &optim_schema, "optimizer"),
    CFG_LIST(Run, stages, &stage_schema, "training stages"),
    CFG_STRLIST(Run, tags, NULL, "free-form tags"),
    CFG_ENUM(Run, device, device_names, "cpu", "backend"),
};
static const CfgSchema run_schema = CFG_SCHEMA("run", Run, run_fields);

static const char sample[] =
    "# a run recipe\n"                          /* 1 */
    "out_dir: /tmp/x\n"                         /* 2 */
    "batch_size: 8\n"                           /* 3 */
    "tokens: 1099511627776\n"                   /* 4 */
    "optim:\n"                                  /* 5 */
    "  lr: 2.5e-4\n"                            /* 6 */
    "  sched: linear\n"                         /* 7 */
    "stages:\n"                                 /* 8 */
    "  - name: align\n"                         /* 9 */
    "    steps: 500\n"                          /* 10 */
    "    trainable: [adapter, encoder.last]\n"  /* 11 */
    "  - name: sft\n"                           /* 12 */
    "    lr: 2e-5\n"                            /* 13 */
    "    freeze_llm: no\n"                      /* 14 */
    "tags:\n"                                   /* 15 */
    "  - \"quoted: yes\"\n"                     /* 16 */
    "  - plain\n";                              /* 17 */

#endif
