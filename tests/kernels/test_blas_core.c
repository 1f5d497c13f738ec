/* tests/kernels/test_blas_core.c — the CPU feature probe and the OpenBLAS
 * core choice.
 *  - cpuid features against the kernel's own view (/proc/cpuinfo flags, which
 *    also reflect what the OS enabled): an independent reference;
 *  - blas_core_pick on synthetic CPUs (the Prescott-on-AVX-512 case of the issue);
 *  - the built binary ($VLMC_BINARY --version): the core it reports is in the
 *    class cpuid allows (never Prescott-class on an AVX2 / AVX-512 CPU), and,
 *    started on a forced Prescott core with VLMC_BLAS_CORE=auto, it re-executes
 *    itself onto that class; a user's OPENBLAS_CORETYPE is respected; a core
 *    name OpenBLAS does not know does not loop. */
#include <sys/wait.h>

#include "core/cpu_features.h"
#include "kernels/cpu/blas_core.h"
#include "test.h"

static int cpuinfo_has(const char *flags, const char *name) {
    size_t n = strlen(name);
    for (const char *p = flags; (p = strstr(p, name)); p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == 0)) return 1;
    return 0;
}

static void test_features_match_cpuinfo(void) {
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) {
        printf("skip: no /proc/cpuinfo\n");
        return;
    }
    static char line[8192];
    int found = 0;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "flags", 5) == 0) { found = 1; break; }
    fclose(fp);
    CHECK(found, "no flags line in /proc/cpuinfo");
    if (!found) return;
    CpuFeatures f;
    cpu_features_get(&f);
    const struct { const char *name; int ours; } t[] = {
        {"avx", f.avx},           {"fma", f.fma},           {"avx2", f.avx2},       {"avx512f", f.avx512f},
        {"avx512bw", f.avx512bw}, {"avx512dq", f.avx512dq}, {"avx512vl", f.avx512vl}, {"avx512_bf16", f.avx512_bf16},
        {"amx_tile", f.amx_tile}, {"amx_bf16", f.amx_bf16},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK(t[i].ours == cpuinfo_has(line, t[i].name), "%s: cpuid says %d, /proc/cpuinfo says %d", t[i].name,
              t[i].ours, cpuinfo_has(line, t[i].name));
    char s[256];
    cpu_features_str(&f, s, sizeof s);
    printf("cpu: %s: %s\n", f.brand, s);
}

static void test_pick(void) {
    CpuFeatures none = {0}, avx = {0}, avx2 = {0}, skx = {0}, cpl = {0}, partial = {0};
    avx.avx = 1;
    avx2 = avx;
    avx2.avx2 = avx2.fma = 1;
    skx = avx2;
    skx.avx512f = skx.avx512bw = skx.avx512dq = skx.avx512vl = 1;
    cpl = skx;
    cpl.avx512_bf16 = 1;
    partial = avx2;
    partial.avx512f = 1;   /* AVX-512F alone (e.g. Knights Landing) is not enough for SkylakeX kernels */
    struct { const CpuFeatures *f; const char *cur, *want; } t[] = {
        {&skx, "Prescott", "SkylakeX"},   /* the issue: generic Xeon with AVX-512 */
        {&cpl, "Prescott", "Cooperlake"}, {&cpl, "SkylakeX", "Cooperlake"}, {&skx, "Haswell", "SkylakeX"},
        {&skx, "SkylakeX", NULL},         {&skx, "Cooperlake", NULL},       {&cpl, "SapphireRapids", NULL},
        {&avx2, "Prescott", "Haswell"},   {&avx2, "Nehalem", "Haswell"},    {&avx2, "Zen", NULL},
        {&avx2, "Haswell", NULL},         {&partial, "Prescott", "Haswell"}, {&avx, "Core2", "Sandybridge"},
        {&avx, "Sandybridge", NULL},      {&none, "Prescott", NULL},        {&skx, "SomeFutureCore", NULL},
        {&skx, "prescott", "SkylakeX"},   /* OpenBLAS compares names case-insensitively */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *got = blas_core_pick(t[i].f, t[i].cur);
        CHECK((got == NULL) == (t[i].want == NULL) && (!got || strcmp(got, t[i].want) == 0),
              "case %zu: from %s picked %s, want %s", i, t[i].cur, got ? got : "(keep)", t[i].want ? t[i].want : "(keep)");
    }
    CHECK(blas_core_rank("Prescott") == 0 && blas_core_rank("Haswell") == 2 && blas_core_rank("SKYLAKEX") == 3 &&
              blas_core_rank("nope") == -1, "rank table");
}

/* Runs `ENV $VLMC_BINARY --version`, returns its exit code and fills out with the stdout+stderr. */
static int run_version(const char *env, char *out, size_t n) {
    const char *bin = getenv("VLMC_BINARY");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "env -u OPENBLAS_CORETYPE -u VLMC_BLAS_CORE -u VLMC_BLAS_REEXEC %s timeout 60 '%s' --version 2>&1",
             env, bin ? bin : "build/vlmc");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    int ws = pclose(p);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* "blas: ... core NAME, ..." -> NAME */
static void reported_core(const char *out, char *core, size_t n) {
    core[0] = 0;
    const char *p = strstr(out, "blas: ");
    if (p) p = strstr(p, " core ");
    if (!p) return;
    p += 6;
    size_t l = strcspn(p, ", \n");
    snprintf(core, n, "%.*s", (int)(l < n ? l : n - 1), p);
}

/* the weakest class the binary may report on this CPU */
static int expected_rank(void) {
    CpuFeatures f;
    cpu_features_get(&f);
    const char *t = blas_core_pick(&f, "Prescott");
    return t ? blas_core_rank(t) : 0;
}

static void test_binary_default(void) {
    char out[4096], core[64];
    CHECK(run_version("", out, sizeof out) == 0, "--version failed: %s", out);
    reported_core(out, core, sizeof core);
    printf("default: core %s\n", core);
    CHECK(core[0] && strstr(out, "OpenBLAS"), "no BLAS line in: %s", out);
    /* a core we do not know (newer OpenBLAS) is accepted as is */
    CHECK(blas_core_rank(core) < 0 || blas_core_rank(core) >= expected_rank(),
          "core %s is weaker than cpuid allows (class %d < %d)", core, blas_core_rank(core), expected_rank());
}

static void test_binary_reexec_from_prescott(void) {
    char out[4096], core[64];
    CHECK(run_version("OPENBLAS_CORETYPE=Prescott VLMC_BLAS_CORE=auto", out, sizeof out) == 0, "%s", out);
    reported_core(out, core, sizeof core);
    int want = expected_rank();
    CHECK(blas_core_rank(core) >= want, "from Prescott: now %s, class %d < %d\n%s", core, blas_core_rank(core), want, out);
    if (want > 0) CHECK(strstr(out, "set by vlmc from cpuid") != NULL, "reason missing: %s", out);
    CHECK(!strstr(out, "warning"), "%s", out);
}

static void test_binary_respects_user(void) {
    char out[4096], core[64];
    CHECK(run_version("OPENBLAS_CORETYPE=Prescott", out, sizeof out) == 0, "%s", out);
    reported_core(out, core, sizeof core);
    CHECK(strcmp(core, "Prescott") == 0 && strstr(out, "from the environment"), "%s", out);
}

static void test_binary_unknown_core_no_loop(void) {
    char out[4096];
    int rc = run_version("VLMC_BLAS_CORE=NoSuchCore", out, sizeof out);
    CHECK(rc == 0, "exit %d (124 = looped until timeout): %s", rc, out);
    CHECK(strstr(out, "asked OpenBLAS for core NoSuchCore") != NULL, "warning expected: %s", out);
}

TEST_MAIN({"features_match_cpuinfo", test_features_match_cpuinfo}, {"pick", test_pick},
          {"binary_default", test_binary_default}, {"binary_reexec_from_prescott", test_binary_reexec_from_prescott},
          {"binary_respects_user", test_binary_respects_user},
          {"binary_unknown_core_no_loop", test_binary_unknown_core_no_loop})
