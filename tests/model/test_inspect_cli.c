/* tests/model/test_inspect_cli.c — runs the built `vlmc inspect` ($VLMC_BINARY)
 * on a valid golden file and on each hostile file of st_hostile.h: a valid
 * file lists its tensors (table and --json) and exits 0; a bad one exits 1
 * (not by a signal) with "vlmc inspect: FILE: reason" and no sanitizer report. */
#include <jansson.h>
#include <sys/wait.h>

#include "st_hostile.h"
#include "test.h"

static char tmp_dir[512], out_path[600], err_path[600];

static void remove_tmp(void) { hostile_rmdir(tmp_dir); }

/* Runs `$VLMC_BINARY args > out 2> err`; returns the exit code, -1 when killed by a signal. */
static int run_vlmc(const char *args) {
    const char *bin = getenv("VLMC_BINARY");
    if (!tmp_dir[0]) {   /* first call: where stdout and stderr go */
        if (hostile_mkdtemp(tmp_dir, sizeof tmp_dir)) return -2;
        atexit(remove_tmp);
        snprintf(out_path, sizeof out_path, "%s/out", tmp_dir);
        snprintf(err_path, sizeof err_path, "%s/err", tmp_dir);
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s' 2> '%s'", bin ? bin : "build/vlmc", args, out_path, err_path);
    int ws = system(cmd);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = calloc(1, 1 << 20);
    if (buf && fread(buf, 1, (1 << 20) - 1, fp) == 0 && ferror(fp)) buf[0] = 0;
    fclose(fp);
    return buf;
}

static void test_valid(void) {
    const char *src = getenv("VLMC_SOURCE_DIR");
    char args[2048];
    snprintf(args, sizeof args, "inspect '%s/tests/golden/safetensors/dtypes.safetensors'", src ? src : ".");
    int rc = run_vlmc(args);
    char *out = slurp(out_path), *err = slurp(err_path);
    CHECK(rc == 0, "exit %d, stderr: %s", rc, err ? err : "");
    CHECK(out && strstr(out, "11 tensors") && strstr(out, "format: pt") && strstr(out, "x_bf16") &&
          strstr(out, "BF16") && strstr(out, "[2, 3]"), "%s", out ? out : "");
    free(out);
    free(err);

    strncat(args, " --json", sizeof args - strlen(args) - 1);
    rc = run_vlmc(args);
    CHECK(rc == 0, "--json exit %d", rc);
    json_error_t je;
    json_t *j = json_load_file(out_path, 0, &je);
    CHECK(j != NULL, "--json output is not JSON: %s", je.text);
    if (j) {
        json_t *ts = json_object_get(j, "tensors");
        CHECK(json_array_size(ts) == 11, "%s", "json_array_size(ts) == 11");
        CHECK(json_is_string(json_object_get(json_object_get(j, "metadata"), "producer")), "%s", "json_is_string(json_object_get(json_object_get(j, \"metadata");
        int found = 0;
        for (size_t i = 0; i < json_array_size(ts); i++) {
            json_t *e = json_array_get(ts, i);
            if (strcmp(json_string_value(json_object_get(e, "name")), "f32") == 0) {
                found = 1;
                CHECK(json_integer_value(json_object_get(e, "bytes")) == 24, "%s", "json_integer_value(json_object_get(e, \"bytes\")) == 24");
                CHECK(json_array_size(json_object_get(e, "shape")) == 2, "%s", "json_array_size(json_object_get(e, \"shape\")) == 2");
            }
        }
        CHECK(found, "tensor f32 listed");
        json_decref(j);
    }
}

static void test_usage(void) {
    CHECK(run_vlmc("inspect x.safetensors --frobnicate") == 2, "unknown flag exits 2");
    CHECK(run_vlmc("inspect x.safetensors --help") == 0, "--help exits 0");
    CHECK(run_vlmc("inspect /nonexistent/x.safetensors") == 1, "missing file exits 1");
}

static void test_hostile_files(void) {
    char dir[512], path[700];
    CHECK(hostile_mkdtemp(dir, sizeof dir) == 0, "%s", "hostile_mkdtemp(dir, sizeof dir) == 0");
    for (size_t i = 0; i < NHOSTILE; i++) {
        const HostileCase *c = &hostile_cases[i];
        CHECK(hostile_write(dir, c, path, sizeof path) == 0, "%s", "hostile_write(dir, c, path, sizeof path) == 0");
        char args[800], want[800];
        snprintf(args, sizeof args, "inspect '%s'", path);
        int rc = run_vlmc(args);
        char *err = slurp(err_path);
        snprintf(want, sizeof want, "vlmc inspect: %s: ", path);
        CHECK(rc == 1, "%s: exit %d (-1 = signal)", c->name, rc);
        CHECK(err && strncmp(err, want, strlen(want)) == 0 && strstr(err, c->expect), "%s: stderr '%s'", c->name,
              err ? err : "");
        CHECK(err && !strstr(err, "Sanitizer") && !strstr(err, "runtime error"), "%s: sanitizer report", c->name);
        free(err);
    }
    hostile_rmdir(dir);
}

TEST_MAIN({"valid", test_valid}, {"usage", test_usage}, {"hostile_files", test_hostile_files})
