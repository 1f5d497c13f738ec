/* tests/core/test_config.c — YAML configs onto typed structs (core/config.h),
 * with a sample schema shaped like a run recipe: nested struct (optim), a
 * list of structs (stages, each with a string list), enums, every scalar type.
 * Checks defaults, file loading, dotted overrides, the error messages
 * (file:line and full dotted key, or the override text), and that
 * cfg_print -> cfg_load_string gives back an equal struct. */
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>

#include "cfg_sample.h"
#include "core/config.h"
#include "test.h"

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *text) {
    static char path[512];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "%s/vlmc_cfg_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpdir)) return NULL;
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    if (!fp) return NULL;
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void test_defaults(void) {
    Run r;
    VStatus st = {0};
    CHECK(cfg_init(&run_schema, &r, &st) == 0, "%s", st.msg);
    CHECK(strcmp(r.out_dir, "runs/default") == 0 && r.seed == 1234 && r.batch_size == 32 && r.tokens == 0, "scalars");
    CHECK(r.optim.lr == 3e-4 && r.optim.beta1 == 0.9f && r.optim.warmup == 100 && r.optim.sched == 1, "nested defaults");
    CHECK(r.stages.n == 0 && r.tags.n == 0 && r.device == 0, "empty lists");
    cfg_free(&run_schema, &r);
    CHECK(r.out_dir == NULL && r.stages.items == NULL, "freed and reset");
}

static void test_load_file(void) {
    Run r;
    VStatus st = {0};
    const char *path = write_tmp("sample.yaml", sample);
    CHECK(cfg_load(&run_schema, &r, path, 0, NULL, &st) == 0, "%s", st.msg);
    if (st.code) return;
    CHECK(strcmp(r.out_dir, "/tmp/x") == 0 && r.batch_size == 8 && r.seed == 1234, "top-level keys");
    CHECK(r.tokens == (int64_t)1 << 40, "int64 beyond 2^31: %lld", (long long)r.tokens);
    CHECK(r.optim.lr == 2.5e-4 && r.optim.sched == 2 && r.optim.warmup == 100, "optim merged onto defaults");
    CHECK(r.stages.n == 2, "two stages");
    if (r.stages.n == 2) {
        Stage *s = r.stages.items;
        CHECK(strcmp(s[0].name, "align") == 0 && s[0].steps == 500 && s[0].lr == 1e-3 && s[0].freeze_llm == 1, "stage 0");
        CHECK(s[0].trainable.n == 2 && strcmp(s[0].trainable.items[1], "encoder.last") == 0, "stage 0 trainable");
        CHECK(strcmp(s[1].name, "sft") == 0 && s[1].steps == 1000 && s[1].lr == 2e-5 && s[1].freeze_llm == 0, "stage 1");
        CHECK(s[1].trainable.n == 1 && strcmp(s[1].trainable.items[0], "adapter") == 0, "list default per item");
    }
    CHECK(r.tags.n == 2 && strcmp(r.tags.items[0], "quoted: yes") == 0, "string list");
    cfg_free(&run_schema, &r);
}

static void test_overrides(void) {
    Run r;
    VStatus st = {0};
    const char *path = write_tmp("sample.yaml", sample);
    char *ov[] = {"optim.lr=1e-3",         "batch_size=16",         "stages.1.lr=5e-5",
                  "stages.0.trainable.1=llm", "tags=[a, 'b c']",     "optim.sched=constant",
                  "out_dir=null",          "stages.1={steps: 7}",   "optim={warmup: 0, beta1: 0.95}",
                  "stages.0.freeze_llm=false", "stages.1.trainable.0=~"};
    CHECK(cfg_load(&run_schema, &r, path, (int)(sizeof ov / sizeof ov[0]), ov, &st) == 0, "%s", st.msg);
    if (st.code) return;
    Stage *s = r.stages.items;
    CHECK(r.optim.lr == 1e-3 && r.batch_size == 16 && r.optim.sched == 0 && r.out_dir == NULL, "scalars overridden");
    CHECK(r.optim.warmup == 0 && r.optim.beta1 == 0.95f && r.optim.lr == 1e-3, "mapping merges into optim");
    CHECK(s[1].lr == 5e-5 && s[1].steps == 7 && strcmp(s[1].name, "sft") == 0, "list item by index, merged");
    CHECK(strcmp(s[0].trainable.items[1], "llm") == 0 && s[0].freeze_llm == 0, "nested list item");
    CHECK(r.tags.n == 2 && strcmp(r.tags.items[1], "b c") == 0, "list replaced");
    CHECK(strcmp(s[1].trainable.items[0], "~") == 0, "string list items are verbatim, as in files");
    cfg_free(&run_schema, &r);
}

/* Each bad file must fail with "FILE:LINE: key 'KEY': ...REASON..." */
static void test_file_errors(void) {
    struct { const char *text; int line; const char *key, *reason; } cases[] = {
        {"batch_size: 8\noptim:\n  lr: 1e-4\n  lrr: 3\n", 4, "optim.lrr", "unknown key (optim has: lr, beta1"},
        {"seed: 1\nbatch_sise: 3\n", 2, "batch_sise", "unknown key"},
        {"batch_size: [1, 2]\n", 1, "batch_size", "expected an integer, got a sequence"},
        {"batch_size: 3.5\n", 1, "batch_size", "expected an integer, got '3.5'"},
        {"batch_size: 0\n", 1, "batch_size", "out of range [1, 4096]"},
        {"\n\noptim:\n  lr: 5\n", 4, "optim.lr", "out of range"},
        {"optim:\n  beta1: 1e39\n", 2, "optim.beta1", "overflows a float"},
        {"seed: 99999999999\n", 1, "seed", "does not fit in int"},
        {"optim:\n  sched: cosin\n", 2, "optim.sched", "not one of: constant, cosine, linear"},
        {"optim: 3\n", 1, "optim", "expected a mapping (optim), got a scalar"},
        {"stages:\n  - name: a\n  - name: b\n    lrr: 1\n", 4, "stages.1.lrr", "unknown key (stages.1 has:"},
        {"stages:\n  - name: a\n  - steps: 0\n", 3, "stages.1.steps", "out of range"},
        {"stages: {name: a}\n", 1, "stages", "expected a sequence (list of stage)"},
        {"stages:\n  - freeze_llm: maybe\n", 2, "stages.0.freeze_llm", "expected a boolean"},
        {"stages:\n  - trainable: [a, [b]]\n", 2, "stages.0.trainable.1", "expected a string, got a sequence"},
        {"seed: 1\nseed: 2\n", 2, "seed", "duplicate key (first at line 1)"},
        {"optim:\n  lr: .nan\n", 2, "optim.lr", "expected a number"},
        {"tokens: -1\n", 1, "tokens", "out of range"},
        {"optim:\n  lr:\n", 2, "optim.lr", "got no value"},
        {"- a\n- b\n", 1, "(top level)", "expected a mapping (run), got a sequence"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Run r;
        VStatus st = {0};
        const char *path = write_tmp("bad.yaml", cases[i].text);
        CHECK(cfg_init(&run_schema, &r, &st) == 0, "init");
        int rc = cfg_load_file(&run_schema, &r, path, &st);
        char want[700];
        snprintf(want, sizeof want, "%s:%d: key '%s': ", path, cases[i].line, cases[i].key);
        CHECK(rc == VS_EINVAL && strncmp(st.msg, want, strlen(want)) == 0 && strstr(st.msg, cases[i].reason),
              "case %zu: got '%s', want prefix '%s' and '%s'", i, st.msg, want, cases[i].reason);
        cfg_free(&run_schema, &r);   /* the struct stays freeable after an error */
    }
    /* syntax errors name the line too */
    Run r;
    VStatus st = {0};
    const char *path = write_tmp("syntax.yaml", "seed: 1\noptim:\n  lr: [1, 2\n  warmup: 3\n");
    CHECK(cfg_load(&run_schema, &r, path, 0, NULL, &st) != 0 && strstr(st.msg, "YAML syntax error") &&
          strstr(st.msg, "syntax.yaml:"), "%s", st.msg);
    CHECK(cfg_load(&run_schema, &r, "/nonexistent/x.yaml", 0, NULL, &st) == VS_EIO && strstr(st.msg, "cannot open"),
          "%s", st.msg);
    /* an empty file is all defaults */
    path = write_tmp("empty.yaml", "# nothing\n");
    CHECK(cfg_load(&run_schema, &r, path, 0, NULL, &st) == 0 && r.batch_size == 32, "%s", st.msg);
    cfg_free(&run_schema, &r);
}

static void test_override_errors(void) {
    struct { const char *ov, *key, *reason; } cases[] = {
        {"optim.lrr=1", "optim.lrr", "unknown key (optim has:"},
        {"nope=1", "nope", "unknown key (run has:"},
        {"batch_size=abc", "batch_size", "expected an integer, got 'abc'"},
        {"batch_size=100000", "batch_size", "out of range"},
        {"stages.5.lr=1e-3", "stages.5", "index 5 out of range (the list has 2 items)"},
        {"stages.x.lr=1e-3", "stages.x", "not a list index"},
        {"stages.0.lr=2", "stages.0.lr", "out of range"},
        {"seed.x=1", "seed", "has no sub-keys"},
        {"optim.sched=fast", "optim.sched", "not one of"},
        {"optim=[1]", "optim", "expected a mapping"},
        {"tags.0.x=1", "tags.0", "no sub-keys"},
        {"tags.1=[x]", "tags.1", "expected a string, got a sequence"},
    };
    const char *path = write_tmp("sample.yaml", sample);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Run r;
        VStatus st = {0};
        char *ov[1] = {(char *)cases[i].ov};
        int rc = cfg_load(&run_schema, &r, path, 1, ov, &st);
        char want[300];
        snprintf(want, sizeof want, "override '%s': key '%s': ", cases[i].ov, cases[i].key);
        CHECK(rc != 0 && strncmp(st.msg, want, strlen(want)) == 0 && strstr(st.msg, cases[i].reason),
              "case %zu: got '%s', want prefix '%s' and '%s'", i, st.msg, want, cases[i].reason);
    }
    Run r;
    VStatus st = {0};
    CHECK(cfg_init(&run_schema, &r, &st) == 0, "init");
    CHECK(cfg_override(&run_schema, &r, "batch_size", &st) != 0 && strstr(st.msg, "expected KEY=VALUE"), "%s", st.msg);
    CHECK(cfg_override(&run_schema, &r, "tags=[a", &st) != 0 && strstr(st.msg, "not valid YAML"), "%s", st.msg);
    cfg_free(&run_schema, &r);
}

static char *print_to_string(const Run *r) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return NULL;
    CHECK(cfg_print(&run_schema, r, m) == 0, "cfg_print");
    fclose(m);
    return buf;
}

static void test_print_round_trip(void) {
    Run r, back;
    VStatus st = {0};
    const char *path = write_tmp("sample.yaml", sample);
    char *ov[] = {"optim.lr=0.30000000000000004", /* needs 17 digits */
                  "optim.beta1=1e-7",             "offset=-.inf",
                  "tags=[\"quote\\\" back\\\\slash\", \"new\\nline\", \"ünï\", \"\", \"null\", \"#x\", \"- y\"]",
                  "stages.0.name=\"tab\\there\"",  "seed=-2147483648", "tokens=9000000000000000000"};
    CHECK(cfg_load(&run_schema, &r, path, (int)(sizeof ov / sizeof ov[0]), ov, &st) == 0, "%s", st.msg);
    if (st.code) return;
    char *text = print_to_string(&r);
    CHECK(text != NULL, "print");
    if (!text) return;
    CHECK(cfg_init(&run_schema, &back, &st) == 0, "init");
    int rc = cfg_load_string(&run_schema, &back, text, strlen(text), "printed", &st);
    CHECK(rc == 0, "printed config does not load: %s\n%s", st.msg, text);
    CHECK(cfg_equal(&run_schema, &r, &back), "round trip differs:\n%s", text);
    char *again = print_to_string(&back);
    CHECK(again && strcmp(text, again) == 0, "second print differs");
    CHECK(strstr(text, "lr: 0.30000000000000004\n") && strstr(text, "out_dir: \"/tmp/x\"") &&
          strstr(text, "  - name: \"tab\\there\"") && strstr(text, "offset: -.inf"), "format:\n%s", text);
    /* cfg_equal can fail: one changed value */
    ((Stage *)back.stages.items)[1].lr *= 2;
    CHECK(!cfg_equal(&run_schema, &r, &back), "cfg_equal missed a difference");
    free(text);
    free(again);
    cfg_free(&run_schema, &r);
    cfg_free(&run_schema, &back);
}

static void test_help(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK(m != NULL, "memstream");
    if (!m) return;
    cfg_help(&run_schema, m);
    fclose(m);
    CHECK(strstr(buf, "optim.lr") && strstr(buf, "stages.N.steps") && strstr(buf, "constant|cosine|linear") &&
          strstr(buf, "[1, 4096]") && strstr(buf, "peak learning rate"), "%s", buf);
    free(buf);
    /* a bad default in a table is reported, naming the key */
    static const CfgField bad_fields[] = {CFG_INT(Optim, warmup, "lots", 0, 10, "x")};
    static const CfgSchema bad = CFG_SCHEMA("bad", Optim, bad_fields);
    Optim o;
    VStatus st = {0};
    CHECK(cfg_init(&bad, &o, &st) != 0 && strstr(st.msg, "schema 'bad'") && strstr(st.msg, "key 'warmup'"), "%s", st.msg);
}

static void test_cleanup(void) {
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        CHECK(system(cmd) == 0, "cleanup");
    }
}

TEST_MAIN({"defaults", test_defaults}, {"load_file", test_load_file}, {"overrides", test_overrides},
          {"file_errors", test_file_errors}, {"override_errors", test_override_errors},
          {"print_round_trip", test_print_round_trip}, {"help", test_help}, {"cleanup", test_cleanup})
