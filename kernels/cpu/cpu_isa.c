/* kernels/cpu/cpu_isa.c — which build of the CPU row kernels runs: base
 * (x86-64-v2, SSE4.2) or AVX2 (see CPU_DUAL in cpu_loops.h). Decided once from
 * cpuid, overridable with VLMC_CPU_ISA=base, and forcible by tests. */
#include "kernels/cpu/cpu_loops.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* -1 = not decided yet. Relaxed atomics: the dispatchers run inside OpenMP
 * loops, and every thread that races on the first call computes the same value. */
static _Atomic int isa_forced = -1, isa_auto = -1;

static int cpu_has_avx2(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
#else
    return 0;
#endif
}

int cpu_use_avx2(void) {
    int f = atomic_load_explicit(&isa_forced, memory_order_relaxed);
    if (f >= 0) return f;
    int a = atomic_load_explicit(&isa_auto, memory_order_relaxed);
    if (a < 0) {
        const char *e = getenv("VLMC_CPU_ISA");
        a = e && strcmp(e, "base") == 0 ? 0 : cpu_has_avx2();
        atomic_store_explicit(&isa_auto, a, memory_order_relaxed);
    }
    return a;
}

int cpu_force_isa(int avx2) {
    atomic_store_explicit(&isa_forced, avx2 < 0 ? -1 : (avx2 && cpu_has_avx2()), memory_order_relaxed);
    return cpu_use_avx2();
}
