/* The vlmc binary's command-line contract: --help and CMD --help exit 0,
 * unknown commands/flags exit 2 with a one-line error and usage, commands
 * not built yet exit 2 (never a fake success), --version names the backends
 * and the BLAS core. Runs the built binary ($VLMC_BINARY, set by CTest). */
#include "test.h"

#include <sys/wait.h>

static const char *bin(void) {
    const char *b = getenv("VLMC_BINARY");
    return b ? b : "build/vlmc";
}

/* Runs `vlmc ARGS`, captures stdout+stderr into out, returns the exit code (-1: signal). */
static int run(const char *args, char *out, size_t cap) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", bin(), args);
    FILE *p = popen(cmd, "r");
    if (!p) return -2;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char out[1 << 16];

static void test_help(void) {
    CHECK(run("--help", out, sizeof out) == 0);
    const char *cmds[] = {"train", "generate", "eval", "sbs", "pipeline", "prepare", "convert", "inspect"};
    for (size_t i = 0; i < 8; i++) CHECK(strstr(out, cmds[i]) != NULL, "--help lists %s", cmds[i]);
    for (size_t i = 0; i < 8; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s --help", cmds[i]);
        CHECK(run(a, out, sizeof out) == 0, "vlmc %s --help exits 0: %s", cmds[i], out);
        CHECK(strstr(out, "usage: vlmc") != NULL, "vlmc %s --help prints usage", cmds[i]);
    }
}

static void test_errors(void) {
    CHECK(run("frobnicate", out, sizeof out) == 2);
    CHECK(strstr(out, "unknown command 'frobnicate'") && strstr(out, "usage:"), "%s", out);
    CHECK(run("--frobnicate", out, sizeof out) == 2);
    CHECK(strstr(out, "unknown option '--frobnicate'") != NULL, "%s", out);
    CHECK(run("", out, sizeof out) == 2, "no command is a usage error");
    /* subcommands that do not exist yet say so and exit 2 */
    const char *later[] = {"generate x", "eval x y", "sbs a b c", "pipeline p.yaml"};
    for (size_t i = 0; i < 4; i++) {
        CHECK(run(later[i], out, sizeof out) == 2, "vlmc %s", later[i]);
        CHECK(strstr(out, "not built yet") != NULL, "vlmc %s: %s", later[i], out);
    }
}

static void test_version(void) {
    CHECK(run("--version", out, sizeof out) == 0);
    CHECK(strstr(out, "vlmc ") == out, "%s", out);
    CHECK(strstr(out, "backends: cpu") != NULL, "%s", out);
    CHECK(strstr(out, "blas: OpenBLAS") != NULL && strstr(out, " core ") != NULL, "%s", out);
    CHECK(strstr(out, "Prescott") == NULL, "a modern CPU must not run Prescott kernels: %s", out);
#ifdef VLMC_HAVE_CUDA
    CHECK(strstr(out, "cuda: compiled in") != NULL, "%s", out);
#endif
}

TEST_MAIN({"help", test_help}, {"errors", test_errors}, {"version", test_version})
