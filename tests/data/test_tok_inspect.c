/* tests/data/test_tok_inspect.c — `vlmc inspect TOKENIZER.json ... --json`
 * prints the ids Python `tokenizers` gives (edge-case goldens of
 * tests/golden/make_tokenizers.py), one object per --file line, and refuses
 * bad arguments with exit code 2. Runs the built binary ($VLMC_BINARY). */
#include <jansson.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "tok_golden.h"

static json_t *run_json(const char *args, int *rc, char *out, size_t cap) {
    const char *bin = getenv("VLMC_BINARY");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s inspect %s 2>/dev/null", bin ? bin : "build/vlmc", args);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    *rc = pclose(p);
    json_error_t err;
    return json_loadb(out, n, JSON_DISABLE_EOF_CHECK, &err);
}

/* the golden ids (with special tokens) of edge case `text` in FAMILY.edge.json */
static json_t *golden_ids(const char *fam, const char *text) {
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "tests/golden/tok/%s.edge.json", fam);
    json_error_t err;
    json_t *cases = json_load_file(tg_path(rel, path, sizeof path), JSON_ALLOW_NUL, &err), *ids = NULL;
    for (size_t i = 0; cases && i < json_array_size(cases); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(cases, i), "text")), text))
            ids = json_incref(json_object_get(json_array_get(cases, i), "ids"));
    json_decref(cases);
    return ids;
}

static void test_text_and_file(void) {
    char path[4096], args[8192], out[1 << 16];
    int rc = -1;
    const char *texts[2] = {"Привет, мир!", "1234567890 3.14159"};
    snprintf(args, sizeof args, "%s --text '%s' --json", tg_path("tests/golden/tok/llama3.json", path, sizeof path),
             texts[0]);
    json_t *o = run_json(args, &rc, out, sizeof out), *want = golden_ids("llama3", texts[0]);
    CHECK(rc == 0 && o && want, "rc %d, output: %s", rc, out);
    CHECK(json_equal(json_object_get(o, "ids"), want), "ids differ: %s", out);
    CHECK(json_array_size(json_object_get(o, "tokens")) == json_array_size(want), "tokens: %s", out);
    CHECK(!strcmp(json_string_value(json_array_get(json_object_get(o, "tokens"), 0)), "<|begin_of_text|>"), "%s", out);
    json_decref(o);
    json_decref(want);
    /* --file: one object per line */
    char tmp[] = "/tmp/vlmc_inspect_XXXXXX";
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(f != NULL, "mkstemp");
    if (!f) return;
    fprintf(f, "%s\n%s\n", texts[0], texts[1]);
    fclose(f);
    snprintf(args, sizeof args, "%s --file %s --json", tg_path("tests/golden/tok/llama2.json", path, sizeof path), tmp);
    json_decref(run_json(args, &rc, out, sizeof out));
    CHECK(rc == 0, "rc %d", rc);
    const char *line = out;
    for (int k = 0; k < 2; k++) {
        json_error_t err;
        json_t *lo = json_loads(line, JSON_DISABLE_EOF_CHECK, &err), *w = golden_ids("llama2", texts[k]);
        CHECK(lo && w && json_equal(json_object_get(lo, "ids"), w), "line %d: %s", k, line);
        json_decref(lo);
        json_decref(w);
        line = strchr(line, '\n');
        if (!line) break;
        line++;
    }
    remove(tmp);
    snprintf(args, sizeof args, "%s --text a --bogus", path);
    json_decref(run_json(args, &rc, out, sizeof out));
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "bad flag: rc %d", rc);
    snprintf(args, sizeof args, "/nonexistent/tok.json --text a");
    json_decref(run_json(args, &rc, out, sizeof out));
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "missing file: rc %d", rc);
}

TEST_MAIN({"text_and_file", test_text_and_file})
