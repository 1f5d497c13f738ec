/* metrics.jsonl: required keys, NaN as null, resume drops redone steps and torn lines. */
#include "test.h"
#include "train/metrics.h"

#include <jansson.h>
#include <unistd.h>

static void test_rows_and_resume(void) {
    char dir[256], cmd[600], path[300];
    snprintf(dir, sizeof dir, "%s/vlmc_metrics_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0);
    VStatus st = {0};
    MetricsLog m;
    CHECK(metrics_open(&m, dir, 0, -1, &st) == 0, "%s", st.msg);
    for (int s = 1; s <= 5; s++) {
        MetricsRow r = {"pairs", s, s, 5, 2.0 / s, 1e-3, s == 3 ? NAN : 0.5, 1000, 10, s == 3, s == 5 ? "{\"eval_loss\": 1.5}" : NULL};
        CHECK(metrics_write(&m, &r, &st) == 0, "%s", st.msg);
    }
    MetricsRow bad = {"pairs", 6, 6, 6, 1, 1, 1, 1, 1, 0, "[1]"};
    CHECK(metrics_write(&m, &bad, &st) != 0 && strstr(st.msg, "not a JSON object"));
    metrics_close(&m);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "a");
    fputs("{\"step\": 6, \"loss\": 1.0", f);   /* a torn line from a killed run */
    fclose(f);

    CHECK(metrics_open(&m, dir, 1, 3, &st) == 0, "%s", st.msg);   /* resume from step 3 */
    metrics_close(&m);
    f = fopen(path, "r");
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        CHECK(o != NULL, "line %d is not JSON: %s", n + 1, line);
        if (!o) continue;
        n++;
        const char *keys[] = {"stage", "step", "loss", "lr", "grad_norm", "tokens_per_s"};
        for (size_t k = 0; k < 6; k++) CHECK(json_object_get(o, keys[k]) != NULL, "missing %s", keys[k]);
        if (json_integer_value(json_object_get(o, "step")) == 3) {
            CHECK(json_is_null(json_object_get(o, "grad_norm")), "NaN is written as null");
            CHECK(json_is_true(json_object_get(o, "skipped")));
        }
        json_decref(o);
    }
    fclose(f);
    CHECK(n == 3, "rows after resume at step 3: %d", n);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST_MAIN({"rows_and_resume", test_rows_and_resume})
