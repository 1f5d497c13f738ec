/* kernels/cpu/blas_core.c — choosing OpenBLAS's kernel set by re-executing
 * with OPENBLAS_CORETYPE (policy in blas_core.h). */
#include "kernels/cpu/blas_core.h"

#include <cblas.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define REEXEC_MARK "VLMC_BLAS_REEXEC"

static const struct { const char *name; int rank; } cores[] = {
    {"Unknown", 0},     {"Katmai", 0},      {"Coppermine", 0}, {"Northwood", 0},    {"Prescott", 0},
    {"Banias", 0},      {"Atom", 0},        {"Core2", 0},      {"Penryn", 0},       {"Dunnington", 0},
    {"Nehalem", 0},     {"Athlon", 0},      {"Opteron", 0},    {"Opteron_SSE3", 0}, {"Barcelona", 0},
    {"Nano", 0},        {"Bobcat", 0},      {"Sandybridge", 1}, {"Bulldozer", 1},   {"Piledriver", 1},
    {"Steamroller", 1}, {"Excavator", 1},   {"Haswell", 2},    {"Zen", 2},          {"SkylakeX", 3},
    {"Cooperlake", 4},  {"SapphireRapids", 5},
};

int blas_core_rank(const char *core) {
    if (!core) return -1;
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (strcasecmp(core, cores[i].name) == 0) return cores[i].rank;
    return -1;
}

const char *blas_core_pick(const CpuFeatures *f, const char *current) {
    const char *target = NULL;
    if (f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl) target = f->avx512_bf16 ? "Cooperlake" : "SkylakeX";
    else if (f->avx2 && f->fma) target = "Haswell";
    else if (f->avx) target = "Sandybridge";
    int have = blas_core_rank(current);
    if (!target || have < 0 || have >= blas_core_rank(target)) return NULL;
    return target;
}

const char *blas_core_current(void) { return openblas_get_corename(); }

/* how the running core was chosen, for blas_core_describe */
static const char *chosen_by = "chosen by OpenBLAS";

/* mark: what the re-executed process reports as the reason ("cpuid" or "VLMC_BLAS_CORE") */
static void reexec(const char *target, char **argv, const char *mark, const char *why) {
    const char *cur = openblas_get_corename();
    if (setenv("OPENBLAS_CORETYPE", target, 1) || setenv(REEXEC_MARK, mark, 1)) {
        fprintf(stderr, "vlmc: warning: cannot set OPENBLAS_CORETYPE (%s); BLAS stays on core %s\n", strerror(errno), cur);
        return;
    }
    fflush(NULL);
    execv("/proc/self/exe", argv);
    int err = errno;
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(REEXEC_MARK);
    fprintf(stderr,
            "vlmc: warning: OpenBLAS runs core %s but %s; re-executing with OPENBLAS_CORETYPE=%s failed (%s), "
            "continuing with %s (slower BLAS)\n",
            cur, why, target, strerror(err), cur);
}

void blas_core_ensure(int argc, char **argv) {
    (void)argc;
    const char *cur = openblas_get_corename();
    const char *mark = getenv(REEXEC_MARK);
    if (mark) {   /* we are the re-executed process */
        const char *req = getenv("OPENBLAS_CORETYPE");
        chosen_by = strcmp(mark, "cpuid") == 0 ? "OPENBLAS_CORETYPE set by vlmc from cpuid"
                                               : "OPENBLAS_CORETYPE set by vlmc from VLMC_BLAS_CORE";
        unsetenv(REEXEC_MARK);   /* children decide for themselves (they inherit OPENBLAS_CORETYPE) */
        if (req && strcasecmp(req, cur) != 0)
            fprintf(stderr, "vlmc: warning: asked OpenBLAS for core %s but it runs %s\n", req, cur);
        return;
    }
    const char *force = getenv("VLMC_BLAS_CORE");
    if (force && strcasecmp(force, "off") == 0) {
        chosen_by = "chosen by OpenBLAS; VLMC_BLAS_CORE=off";
        return;
    }
    int auto_forced = force && strcasecmp(force, "auto") == 0;
    if (force && *force && !auto_forced) {
        chosen_by = "VLMC_BLAS_CORE";
        if (strcasecmp(force, cur) != 0) reexec(force, argv, "VLMC_BLAS_CORE", "VLMC_BLAS_CORE asks for another");
        return;
    }
    const char *user = getenv("OPENBLAS_CORETYPE");
    if (user && *user && !auto_forced) {
        chosen_by = "OPENBLAS_CORETYPE from the environment";
        return;
    }
    CpuFeatures f;
    cpu_features_get(&f);
    const char *target = blas_core_pick(&f, cur);
    if (target) reexec(target, argv, "cpuid", "cpuid says this CPU runs a stronger one");
}

void blas_core_describe(FILE *out) {
    /* openblas_get_config(): "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." */
    const char *cfg = openblas_get_config();
    char lib[64] = "OpenBLAS";
    const char *sp = cfg ? strchr(cfg, ' ') : NULL;
    if (sp) sp = strchr(sp + 1, ' ');
    if (cfg) snprintf(lib, sizeof lib, "%.*s", sp ? (int)(sp - cfg) : (int)strlen(cfg), cfg);
    int par = openblas_get_parallel();
    const char *model = par == 2 ? "openmp" : par == 1 ? "pthreads" : "sequential";
    fprintf(out, "blas: %s (%s) core %s, %d threads (%s)\n", lib, model, openblas_get_corename(),
            openblas_get_num_threads(), chosen_by);
    CpuFeatures f;
    char feats[256];
    cpu_features_get(&f);
    cpu_features_str(&f, feats, sizeof feats);
    fprintf(out, "cpu: %s: %s\n", f.brand[0] ? f.brand : "unknown", feats[0] ? feats : "no SIMD beyond SSE2");
}
