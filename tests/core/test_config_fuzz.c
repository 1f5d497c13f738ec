/* tests/core/test_config_fuzz.c — fuzz-style robustness and a round-trip
 * property of the config loader.
 *
 * Deterministic mutations (fixed LCG seed) of the sample recipe: character
 * replacements (often YAML punctuation), deleted / duplicated lines and
 * random overrides. Each mutant must either load, or fail with EINVAL and a
 * message naming the source; every struct that loads must survive
 * cfg_print -> cfg_load_string -> cfg_equal (the printed form is what a run
 * saves, so it must mean the same config). Run under ASan/UBSan in CI; the
 * leak checker also covers the error paths. */
#include <stdint.h>

#include "cfg_sample.h"
#include "test.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static void check_round_trip(const Run *r, const char *what) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return;
    CHECK(cfg_print(&run_schema, r, m) == 0, "%s: print", what);
    fclose(m);
    Run back;
    VStatus st = {0};
    CHECK(cfg_init(&run_schema, &back, &st) == 0, "init");
    int rc = cfg_load_string(&run_schema, &back, text, len, "printed", &st);
    CHECK(rc == 0, "%s: printed form does not load: %s\n%s", what, st.msg, text);
    CHECK(rc || cfg_equal(&run_schema, r, &back), "%s: printed form loads differently:\n%s", what, text);
    cfg_free(&run_schema, &back);
    free(text);
}

static void test_mutants(void) {
    static const char punct[] = ":-[]{},#&*!|>'\"%@` \n0123456789.e~";
    static const char *const keys[] = {"seed", "batch_size", "optim.lr", "optim.sched", "stages.0.lr",
                                       "stages.1.trainable.0", "tags", "stages.3.name", "optim", "offset", "stages"};
    static const char *const vals[] = {"1", "-3", "1e-3", "cosine", "[a, b]", "{lr: 0.5}", "~", "'x y'", "[", ".inf",
                                       "1e400", "[{name: z}]", "\"\\x01\""};
    size_t n = strlen(sample);
    char *buf = malloc(2 * n + 2);
    int loaded = 0, rejected = 0;
    CHECK(buf != NULL, "alloc");
    if (!buf) return;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = n;
        memcpy(buf, sample, n + 1);
        int kind = (int)(next_u32() % 4);
        if (kind <= 1) {   /* 1-3 replaced characters */
            int k = 1 + (int)(next_u32() % 3);
            for (int j = 0; j < k; j++)
                buf[next_u32() % n] = kind ? punct[next_u32() % (sizeof punct - 1)] : (char)(1 + next_u32() % 126);
        } else if (kind == 2) {   /* delete or duplicate a line */
            size_t a = next_u32() % n;
            while (a > 0 && buf[a - 1] != '\n') a--;
            size_t b = a;
            while (b < n && buf[b] != '\n') b++;
            if (b < n) b++;
            if (next_u32() % 2) {
                memmove(buf + a, buf + b, n - b + 1);
                len = n - (b - a);
            } else {
                memmove(buf + b + (b - a), buf + b, n - b + 1);
                memcpy(buf + b, buf + a, b - a);
                len = n + (b - a);
            }
        }
        Run r;
        VStatus st = {0};
        char what[64];
        snprintf(what, sizeof what, "mutant %d (kind %d)", iter, kind);
        CHECK(cfg_init(&run_schema, &r, &st) == 0, "init");
        int rc = cfg_load_string(&run_schema, &r, buf, len, "mut.yaml", &st);
        if (!rc && kind == 3) {   /* random overrides on the valid sample */
            for (int j = 0; j < 3 && !rc; j++) {
                char ov[200];
                snprintf(ov, sizeof ov, "%s=%s", keys[next_u32() % (sizeof keys / sizeof keys[0])],
                         vals[next_u32() % (sizeof vals / sizeof vals[0])]);
                rc = cfg_override(&run_schema, &r, ov, &st);
                CHECK(!rc || (st.code == VS_EINVAL && strstr(st.msg, "override '")), "%s: %s", ov, st.msg);
            }
        } else if (rc) {
            CHECK(st.code == VS_EINVAL && strncmp(st.msg, "mut.yaml:", 9) == 0, "%s: code %d msg %s", what, st.code, st.msg);
        }
        if (rc) rejected++;
        else loaded++;
        check_round_trip(&r, what);   /* also after a failed load: the struct stays valid */
        cfg_free(&run_schema, &r);
    }
    printf("%d mutants loaded, %d rejected\n", loaded, rejected);
    CHECK(loaded > 300 && rejected > 300, "the mutations should exercise both paths (%d / %d)", loaded, rejected);
    free(buf);
}

TEST_MAIN({"mutants", test_mutants})
