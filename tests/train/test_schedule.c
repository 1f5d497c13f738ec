/* Learning-rate schedules against transformers' own (golden file written by
 * tests/golden/make_schedules.py). Tolerance 1e-12 absolute: both sides
 * evaluate the same double-precision formula; only libm's cos may differ in
 * the last ulp. */
#include "test.h"
#include "train/schedule.h"

static void test_matches_transformers(void) {
    FILE *f = fopen("tests/golden/train/schedules.txt", "r");
    CHECK(f != NULL, "cannot open tests/golden/train/schedules.txt (run from the repo root)");
    if (!f) return;
    int kind, shape, rows = 0;
    long long w, n, d, step;
    double r, want;
    while (fscanf(f, "%d %lld %lld %lld %d %lf %lld %lf", &kind, &w, &n, &d, &shape, &r, &step, &want) == 8) {
        SchedDesc sd = {(SchedKind)kind, w, n, d, (SchedDecay)shape, r};
        double got = sched_factor(&sd, step);
        CHECK(fabs(got - want) <= 1e-12, "kind %d w %lld N %lld D %lld step %lld: %.17g vs transformers %.17g", kind, w,
              n, d, step, got, want);
        rows++;
    }
    fclose(f);
    CHECK(rows > 400, "only %d golden rows read", rows);
}

static void test_step0(void) {
    SchedDesc c = {SCHED_COSINE, 10, 100, 0, 0, 0};
    CHECK(sched_factor(&c, 0) == 0.0, "with warmup the first update uses lr 0 (transformers convention)");
    c.warmup = 0;
    CHECK(sched_factor(&c, 0) == 1.0, "without warmup the first update uses the peak lr");
    CHECK(sched_kind_from_name("wsd") == SCHED_WSD && sched_kind_from_name("cosin") == -1);
}

TEST_MAIN({"matches_transformers", test_matches_transformers}, {"step0", test_step0})
