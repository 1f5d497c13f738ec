/* The embedded demo end to end, shortened: `vlmc train configs/shapes.yaml
 * --max-steps 3` from the repository root writes (or reuses) the shapes
 * shards under runs/shapes-data, trains 3 steps of the pairs stage through
 * the real loader and trainer, then runs the held-out accuracy eval
 * (2 questions per cell) and prints its table. Checks: exit 0, the table has
 * every type x language row and the text-only rows, RUN/shapes_eval.json has
 * every cell with accuracies in [0, 1] and the exact chance levels (1/4 for
 * four choices, 1/2 for presence), and the run directory holds config.yaml
 * and metrics.jsonl. With shapes.track the stage end also logs a one-line
 * mc accuracy and its metrics row carries shapes_csp and shapes_mc (each in
 * [0, 1]). A bad shapes key, and shapes.track without shapes.dir, fail
 * before any work. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "data/shapes.h"
#include "test.h"

static char run_dir[64];

static char *run(const char *args, int *status) {
    const char *bin = getenv("VLMC_BINARY");
    if (!bin) bin = "./build/vlmc";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s train configs/shapes.yaml %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "popen %s", cmd);
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - 1 - n, p)) > 0) {
        n += k;
        if (n + 1 == cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[n] = 0;
    *status = pclose(p);
    return out;
}

static void test_demo_short(void) {
    snprintf(run_dir, sizeof run_dir, "/tmp/vlmc-demo-XXXXXX");
    CHECK(mkdtemp(run_dir) != NULL);
    char args[256];
    snprintf(args, sizeof args, "--max-steps 3 --out %s/run shapes.eval=2 shapes.track=true", run_dir);
    int status = -1;
    char *out = run(args, &status);
    if (!out) return;
    CHECK(status == 0, "vlmc train exited %d:\n%s", status, out);
    for (int t = 0; t < SH_NQTYPES; t++)
        for (int l = 0; l < SH_NLANGS; l++) {
            char row[64];
            snprintf(row, sizeof row, "%-9s %-4s", sh_qtype_name((ShQType)t), sh_lang_name((ShLang)l));
            CHECK(strstr(out, row) != NULL, "table row '%s' missing:\n%s", row, out);
        }
    CHECK(strstr(out, "text-only en") && strstr(out, "text-only ru") && strstr(out, "colour+shape+presence"), "%s", out);
    CHECK(strstr(out, "shapes eval after pairs step 3: color ") != NULL, "no tracking line:\n%s", out);
    free(out);
    char path[256];
    snprintf(path, sizeof path, "%s/run/shapes_eval.json", run_dir);
    json_t *j = json_load_file(path, 0, NULL);
    CHECK(j != NULL, "%s missing", path);
    for (int t = 0; t <= SH_NQTYPES && j; t++)
        for (int l = 0; l < SH_NLANGS; l++) {
            char key[64];
            snprintf(key, sizeof key, "%s_%s", t < SH_NQTYPES ? sh_qtype_name((ShQType)t) : "text", sh_lang_name((ShLang)l));
            json_t *c = json_object_get(j, key);
            CHECK(c != NULL, "cell %s missing", key);
            if (!c) continue;
            double mc = json_real_value(json_object_get(c, "mc")), ch = json_real_value(json_object_get(c, "chance"));
            CHECK(json_integer_value(json_object_get(c, "n")) == 2, "%s: n", key);
            CHECK(mc >= 0 && mc <= 1 && json_real_value(json_object_get(c, "blank")) >= 0, "%s: mc %g", key, mc);
            CHECK(ch == (t == SH_Q_PRESENCE ? 0.5 : 0.25), "%s: chance %g", key, ch);
        }
    json_decref(j);
    snprintf(path, sizeof path, "%s/run/config.yaml", run_dir);
    CHECK(access(path, F_OK) == 0, "%s missing", path);
    snprintf(path, sizeof path, "%s/run/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s missing", path);
    char line[4096], last[4096] = "";
    while (f && fgets(line, sizeof line, f)) snprintf(last, sizeof last, "%s", line);
    if (f) fclose(f);
    json_t *row = json_loads(last, 0, NULL);
    CHECK(row != NULL, "last metrics row is not JSON: %s", last);
    double csp = json_number_value(json_object_get(row, "shapes_csp"));
    json_t *mc = json_object_get(row, "shapes_mc");
    CHECK(json_is_number(json_object_get(row, "shapes_csp")) && csp >= 0 && csp <= 1, "shapes_csp: %s", last);
    for (int t = 0; t < SH_NQTYPES; t++) {
        json_t *v = json_object_get(mc, sh_qtype_name((ShQType)t));
        CHECK(json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1, "shapes_mc.%s: %s",
              sh_qtype_name((ShQType)t), last);
    }
    json_decref(row);
}

static void test_bad_key(void) {
    int status = -1;
    char *out = run("--max-steps 1 --out /tmp/vlmc-demo-never shapes.samples=-5", &status);
    if (!out) return;
    CHECK(status != 0 && strstr(out, "shapes.samples"), "status %d: %s", status, out);
    CHECK(access("/tmp/vlmc-demo-never", F_OK) != 0, "nothing was created");
    free(out);
    /* tracking needs the shapes world */
    out = run("--max-steps 1 --out /tmp/vlmc-demo-never shapes.dir=null shapes.track=true", &status);
    if (!out) return;
    CHECK(status != 0 && strstr(out, "shapes.track") && strstr(out, "needs shapes.dir"), "status %d: %s", status, out);
    CHECK(access("/tmp/vlmc-demo-never", F_OK) != 0, "nothing was created");
    free(out);
}

static void test_cleanup(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", run_dir);
    CHECK(system(cmd) == 0);
}

TEST_MAIN({"demo_short", test_demo_short}, {"bad_key", test_bad_key}, {"cleanup", test_cleanup})
