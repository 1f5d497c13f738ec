/* kernels/cpu/cpu_loops.h — small helpers shared by the CPU group-A op files:
 * when a loop is worth an OpenMP team, and deterministic blocking.
 *
 * Determinism rule: a sum across rows is split into blocks that depend only on
 * the problem size (never on the thread count or the schedule), and blocks are
 * combined in block order. Column-partitioned reductions (each thread owns a
 * range of columns and walks the rows in order) satisfy this trivially. */
#ifndef VLMC_KERNELS_CPU_LOOPS_H
#define VLMC_KERNELS_CPU_LOOPS_H

#include <stdint.h>

/* `omp simd` is a performance request: under sanitizer instrumentation clang
 * cannot honour it and would warn (-Wpass-failed, an error with -Werror). */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

/* Below this many elements of work a loop runs on the calling thread: an
 * OpenMP fork/join (~1-3 us) costs more than the loop itself. */
#define CPU_PAR_MIN ((int64_t)1 << 15)

/* Column block for column-partitioned reductions: 32 floats = 2 cache lines,
 * so threads never share a line of a 64-byte aligned output row, and C = 576
 * splits into 18 blocks (balanced on 2 threads). */
#define CPU_COL_BLOCK 32

/* Number of fixed row blocks for scalar reductions over all rows. */
#define CPU_ROW_BLOCKS 64

/* ---- ISA dispatch ------------------------------------------------------------
 * The project compiles for x86-64-v2 (SSE4.2) so binaries run anywhere; hot
 * row kernels are compiled a second time for AVX2 and picked at run time.
 * CPU_DUAL(name, params, args) turns an always-inline `name##_body` into
 * name##_base, name##_avx2 and a dispatcher `name` with the same parameters.
 * Kernels keep OpenMP outside (in base-ISA code) and call the dispatcher per
 * row or block. Summation orders are written out in the source (fixed
 * accumulator counts, no reassociation), so both builds give the same bits
 * except where an `omp simd reduction` lets the vector width choose the order. */
#define CPU_INLINE static inline __attribute__((always_inline))
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CPU_AVX2 __attribute__((target("avx2")))
#else
#define CPU_AVX2
#endif

/* 1 when AVX2 kernels run: the CPU has AVX2 and VLMC_CPU_ISA is not "base".
 * Cached after the first call. */
int cpu_use_avx2(void);
/* For tests: force the base (0) or AVX2 (1, only if supported) kernels, or
 * -1 to return to automatic selection. Returns the setting now in effect. */
int cpu_force_isa(int avx2);

#define CPU_DUAL(name, params, args)                                   \
    static void name##_base params { name##_body args; }                 \
    CPU_AVX2 static void name##_avx2 params { name##_body args; }        \
    static void name params {                                            \
        if (cpu_use_avx2()) name##_avx2 args; else name##_base args;     \
    }

static inline int64_t cpu_min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Row reductions with 16 independent float accumulators (4 SSE / 2 AVX
 * vectors): a single vector accumulator would serialise on the add latency.
 * The summation order is fixed by the code, so results are deterministic. */
#define CPU_ACC 16

CPU_INLINE float cpu_hsum16(const float *acc) {
    float t[8];
    for (int j = 0; j < 8; j++) t[j] = acc[j] + acc[j + 8];
    for (int j = 0; j < 4; j++) t[j] += t[j + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}

/* sum_c x[c] */
CPU_INLINE float cpu_row_sum(const float *x, int64_t n) {
    float acc[CPU_ACC] = {0};
    int64_t c = 0;
    for (; c + CPU_ACC <= n; c += CPU_ACC)
#pragma omp simd
        for (int j = 0; j < CPU_ACC; j++) acc[j] += x[c + j];
    for (int j = 0; c < n; c++, j++) acc[j] += x[c];
    return cpu_hsum16(acc);
}

/* sum_c x[c] y[c] */
CPU_INLINE float cpu_row_dot(const float *x, const float *y, int64_t n) {
    float acc[CPU_ACC] = {0};
    int64_t c = 0;
    for (; c + CPU_ACC <= n; c += CPU_ACC)
#pragma omp simd
        for (int j = 0; j < CPU_ACC; j++) acc[j] += x[c + j] * y[c + j];
    for (int j = 0; c < n; c++, j++) acc[j] += x[c] * y[c];
    return cpu_hsum16(acc);
}

/* sum_c (x[c] - mu)^2 */
CPU_INLINE float cpu_row_sqdev(const float *x, float mu, int64_t n) {
    float acc[CPU_ACC] = {0};
    int64_t c = 0;
    for (; c + CPU_ACC <= n; c += CPU_ACC)
#pragma omp simd
        for (int j = 0; j < CPU_ACC; j++) acc[j] += (x[c + j] - mu) * (x[c + j] - mu);
    for (int j = 0; c < n; c++, j++) acc[j] += (x[c] - mu) * (x[c] - mu);
    return cpu_hsum16(acc);
}

/* rows of a (rows, cols) tensor with numel elements, panicking if cols does not divide */
int64_t cpu_rows_of(const char *op, int64_t numel, int64_t cols, const char *what);

#endif
