/* core/cpu_features.h — what the CPU can run, from cpuid and xgetbv.
 *
 * A feature counts only when the CPU has it AND the operating system saves
 * its register state (XCR0), so a VM that hides AVX-512 state reports no
 * AVX-512 even if cpuid lists the instructions. On non-x86 hosts every flag
 * is 0. Used to pick the OpenBLAS kernel set (kernels/cpu/blas_core.h) and
 * printed by `vlmc --version`.
 */
#ifndef VLMC_CORE_CPU_FEATURES_H
#define VLMC_CORE_CPU_FEATURES_H

#include <stddef.h>

typedef struct CpuFeatures {
    char vendor[13];   /* "GenuineIntel", "AuthenticAMD", "" off x86 */
    char brand[49];    /* e.g. "Intel Xeon Processor", trimmed */
    int sse3, avx, fma, avx2;
    int avx512f, avx512bw, avx512dq, avx512vl, avx512_bf16;
    int amx_tile, amx_bf16;   /* instructions present and OS state enabled (XCR0) */
} CpuFeatures;

/* Fills f from cpuid (cheap; call whenever needed). */
void cpu_features_get(CpuFeatures *f);
/* Space-separated names of the present features ("avx2 fma avx512f ..."). */
void cpu_features_str(const CpuFeatures *f, char *buf, size_t n);

#endif
