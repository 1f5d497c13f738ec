/* tests/train/test_train_cli.c — the `vlmc train` command line (the built
 * binary, VLMC_BINARY): help, usage errors (exit 2), config errors (exit 1,
 * message naming the key, nothing created), --print-config round trip
 * (the printed YAML loads back into an equal config), a --max-steps smoke run
 * that leaves the documented run directory. */
#include <sys/wait.h>

#include "train_util.h"

static const char *binary(void) {
    const char *b = getenv("VLMC_BINARY");
    return b ? b : "build/vlmc";
}

/* runs `vlmc train ARGS` (a shell line), output to out_path; returns the exit code */
static int vt(const char *args, const char *out_path) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' train %s > '%s' 2>&1", binary(), args, out_path);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *p) {
    FILE *f = fopen(p, "r");
    if (!f) return strdup("");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strdup(buf);
}

static void test_cli(void) {
    char d[256], out[300], args[2048], cfgp[600];
    tu_tmpdir(d, sizeof d, "train_cli");
    snprintf(out, sizeof out, "%s/out.txt", d);
    snprintf(cfgp, sizeof cfgp, "%s/tests/train/configs/tiny.yaml", tu_src());
    char *o;

    CHECK(vt("--help", out) == 0, "--help");
    o = slurp(out);
    CHECK(strstr(o, "usage: vlmc train") && strstr(o, "--resume"), "help text: %s", o);
    free(o);
    CHECK(vt("", out) == 2, "no recipe: exit 2");
    CHECK(vt("--frobnicate", out) == 2, "unknown option: exit 2");
    snprintf(args, sizeof args, "'%s' --max-steps 0", cfgp);
    CHECK(vt(args, out) == 2, "--max-steps 0: exit 2");
    snprintf(args, sizeof args, "'%s' --out", cfgp);
    CHECK(vt(args, out) == 2, "--out without a value: exit 2");

    /* config errors: exit 1, the key named, no run directory */
    snprintf(args, sizeof args, "'%s' stages.1.lr=-1 --out '%s/run1'", cfgp, d);
    CHECK(vt(args, out) == 1, "negative lr: exit 1");
    o = slurp(out);
    CHECK(strstr(o, "stages.1.lr") != NULL, "message: %s", o);
    free(o);
    snprintf(args, sizeof args, "'%s' 'stages.0.trainable=[\"nope.*\"]' --out '%s/run1'", cfgp, d);
    CHECK(vt(args, out) == 1, "glob matching nothing: exit 1");
    o = slurp(out);
    CHECK(strstr(o, "stages.0.trainable.0") != NULL, "message: %s", o);
    free(o);
    snprintf(args, sizeof args, "%s/run1", d);
    CHECK(access(args, F_OK) != 0, "a failed config created the run directory");
    snprintf(args, sizeof args, "'%s/missing.yaml'", d);
    CHECK(vt(args, out) == 1, "missing recipe: exit 1");

    /* --print-config round trip */
    char printed[400];
    snprintf(printed, sizeof printed, "%s/printed.yaml", d);
    snprintf(args, sizeof args, "'%s' stages.0.lr=0.002 --print-config", cfgp);
    CHECK(vt(args, printed) == 0, "--print-config");
    TrRunCfg a, b;
    VStatus st = {0};
    CHECK(tu_load(&a, "tests/train/configs/tiny.yaml", (const char *const[]){"stages.0.lr=0.002", NULL}, &st) == 0, "%s", st.msg);
    CHECK(tr_cfg_load(&b, printed, 0, NULL, &st) == 0, "printed config: %s", st.msg);
    CHECK(cfg_equal(&tr_run_schema, &a, &b), "the printed config does not load back equal");
    cfg_free(&tr_run_schema, &a);
    cfg_free(&tr_run_schema, &b);

    /* a smoke run */
    snprintf(args, sizeof args, "'%s' --out '%s/run2' --max-steps 3", cfgp, d);
    CHECK(vt(args, out) == 0, "smoke run");
    o = slurp(out);
    CHECK(strstr(o, "align step 3/6") != NULL, "progress lines: %s", o);
    free(o);
    const char *files[] = {"config.yaml", "metrics.jsonl", "loss.svg", "latest", "ckpt-00000003/trainer.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(args, sizeof args, "%s/run2/%s", d, files[i]);
        CHECK(access(args, F_OK) == 0, "missing %s", args);
    }
    double l[8];
    snprintf(args, sizeof args, "%s/run2", d);
    CHECK(tu_losses(args, l, 8) == 3, "3 metrics rows");
    /* a stage that reaches its step count says so, with its wall time */
    snprintf(args, sizeof args, "'%s' --out '%s/run3' --max-steps 7", cfgp, d);
    CHECK(vt(args, out) == 0, "7-step run");
    o = slurp(out);
    CHECK(strstr(o, "align: stage done, 6 steps in ") != NULL && !strstr(o, "time_s budget ended"), "stage end line: %s", o);
    free(o);
    tu_rmtree(d);
}

/* a stage with a time budget and no step count ends by time, its estimated
   length recorded in the rows' stage_total */
static void test_time_budget(void) {
    char d[256];
    tu_tmpdir(d, sizeof d, "train_time");
    VStatus st = {0};
    int rc = tu_run("tests/train/configs/tiny.yaml",
                    (const char *const[]){"stages.0.steps=0", "stages.0.time_s=0.3", "stages=[{name: timed, regime: pairs, "
                                          "data: [{shards: [tests/golden/train/data/pairs.jsonl]}], T: 48, batch: 4, "
                                          "steps: 0, time_s: 0.3, trainable: [adapter]}]", NULL},
                    d, 0, 0, &st);
    CHECK(rc == 0, "%s", st.msg);
    double l[4096];
    int n = tu_losses(d, l, 4096);
    CHECK(n >= 2, "a 0.3 s stage ran %d steps", n);
    printf("  time_s 0.3: %d steps\n", n);
    tu_rmtree(d);
}

TEST_MAIN({"cli", test_cli}, {"time_budget", test_time_budget})
