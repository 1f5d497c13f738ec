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

/* Below this many elements of work a loop runs on the calling thread: an
 * OpenMP fork/join (~1-3 us) costs more than the loop itself. */
#define CPU_PAR_MIN ((int64_t)1 << 15)

/* Column block for column-partitioned reductions: 32 floats = 2 cache lines,
 * so threads never share a line of a 64-byte aligned output row, and C = 576
 * splits into 18 blocks (balanced on 2 threads). */
#define CPU_COL_BLOCK 32

/* Number of fixed row blocks for scalar reductions over all rows. */
#define CPU_ROW_BLOCKS 64

static inline int64_t cpu_min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Row reductions with 16 independent float accumulators (4 SSE / 2 AVX
 * vectors): a single vector accumulator would serialise on the add latency.
 * The summation order is fixed by the code, so results are deterministic. */
#define CPU_ACC 16

static inline float cpu_hsum16(const float *acc) {
    float t[8];
    for (int j = 0; j < 8; j++) t[j] = acc[j] + acc[j + 8];
    for (int j = 0; j < 4; j++) t[j] += t[j + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}

/* sum_c x[c] */
static inline float cpu_row_sum(const float *x, int64_t n) {
    float acc[CPU_ACC] = {0};
    int64_t c = 0;
    for (; c + CPU_ACC <= n; c += CPU_ACC)
#pragma omp simd
        for (int j = 0; j < CPU_ACC; j++) acc[j] += x[c + j];
    for (int j = 0; c < n; c++, j++) acc[j] += x[c];
    return cpu_hsum16(acc);
}

/* sum_c x[c] y[c] */
static inline float cpu_row_dot(const float *x, const float *y, int64_t n) {
    float acc[CPU_ACC] = {0};
    int64_t c = 0;
    for (; c + CPU_ACC <= n; c += CPU_ACC)
#pragma omp simd
        for (int j = 0; j < CPU_ACC; j++) acc[j] += x[c + j] * y[c + j];
    for (int j = 0; c < n; c++, j++) acc[j] += x[c] * y[c];
    return cpu_hsum16(acc);
}

/* sum_c (x[c] - mu)^2 */
static inline float cpu_row_sqdev(const float *x, float mu, int64_t n) {
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
