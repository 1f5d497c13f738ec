/* kernels/cpu/blas_core.h — making OpenBLAS use the kernels this CPU can run.
 *
 * Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernel set ("core") when
 * the library loads, from its own CPU table. On CPUs it does not know (e.g. a
 * VM reporting a generic "Intel Xeon Processor" with AVX-512) it falls back to
 * Prescott (SSE3) kernels: sgemm runs ~5x slower than with SkylakeX. The core
 * can only be chosen before the library initialises, through the environment
 * variable OPENBLAS_CORETYPE, so blas_core_ensure() sets it and re-executes
 * the program once.
 *
 * Policy (blas_core_ensure, first thing in main()):
 *   - OPENBLAS_CORETYPE already set by the user: respected, nothing done
 *     (unless VLMC_BLAS_CORE=auto, which decides from cpuid regardless: this
 *     is how the tests start from a forced Prescott core);
 *   - VLMC_BLAS_CORE=off: nothing done; VLMC_BLAS_CORE=NAME: that core is
 *     forced (re-exec when OpenBLAS runs another one);
 *   - otherwise, when cpuid (core/cpu_features.h) supports a stronger class
 *     than the core OpenBLAS picked, OPENBLAS_CORETYPE is set to that class's
 *     core and /proc/self/exe is re-executed with the same argv. The marker
 *     VLMC_BLAS_REEXEC (=cpuid or =VLMC_BLAS_CORE, the reason) makes the
 *     re-executed process skip this (no loop); it then unsets the marker.
 *     If exec fails, a warning is printed and the run goes on.
 * Classes: 0 SSE (Prescott, Nehalem, ...), 1 AVX (Sandybridge, Bulldozer...),
 * 2 AVX2+FMA (Haswell, Zen), 3 AVX-512 F/BW/DQ/VL (SkylakeX), 4 + AVX512-BF16
 * (Cooperlake), 5 AMX (SapphireRapids; never chosen, not in 0.3.21).
 */
#ifndef VLMC_KERNELS_CPU_BLAS_CORE_H
#define VLMC_KERNELS_CPU_BLAS_CORE_H

#include <stdio.h>

#include "core/cpu_features.h"

/* Class of an OpenBLAS core name (case-insensitive), -1 when unknown. */
int blas_core_rank(const char *core);
/* The core to switch to from `current` on a CPU with features f, or NULL to
 * keep it (already as strong, or `current` unknown to us). Pure function. */
const char *blas_core_pick(const CpuFeatures *f, const char *current);
/* See the policy above. argv must be main()'s, NULL-terminated. */
void blas_core_ensure(int argc, char **argv);
/* The core OpenBLAS runs now ("Prescott", "SkylakeX", ...). */
const char *blas_core_current(void);
/* One line: "blas: OpenBLAS 0.3.21 (openmp) core SkylakeX, 2 threads (how chosen)"
 * and one line "cpu: BRAND: features". */
void blas_core_describe(FILE *out);

#endif
