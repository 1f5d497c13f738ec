/* kernels/cpu/cpu_vexp.h — vectorised exp and sum for the CPU softmaxes
 * (attention, cross-entropy). Private to kernels/cpu/.
 *
 * Why: glibc's expf is scalar; softmax over a 49152-word vocabulary or a
 * 512-key row spends more time in expf than in the matmul around it. Each
 * helper is compiled for AVX-512, AVX2+FMA and the build's baseline and picks
 * the best the CPU has at run time. The variants may differ in the last bit
 * (FMA contraction), so results are bitwise reproducible on one machine, not
 * across machines; that is all the op table promises. */
#ifndef VLMC_KERNELS_CPU_VEXP_H
#define VLMC_KERNELS_CPU_VEXP_H

#include <stdint.h>

/* x[i] = exp(x[i] - sub) for i < n. Relative error <= 2e-7 (Cephes
 * polynomial, degree 6) for x - sub in [-87, 88]; exactly 0 below -87
 * (including -inf: masked entries stay 0); clamps above 88. */
void cpu_vexp_sub(float *x, int64_t n, float sub);

/* sum of x[0..n) in double, eight interleaved accumulators added in a fixed
 * order (deterministic, independent of vector width). */
double cpu_vsum(const float *x, int64_t n);

/* max of x[0..n) (-inf when n == 0); exact, so order does not matter */
float cpu_vmax(const float *x, int64_t n);

/* x[i] *= s */
void cpu_vscale(float *x, int64_t n, float s);

/* Tests only: pin the variant (2 AVX-512, 1 AVX2+FMA, 0 baseline; -1 = the
 * best the CPU has, the default). The caller must check the CPU supports it.
 * Returns the previous setting. Not thread-safe: set before running ops. */
int cpu_vexp_force_level(int level);

#endif
