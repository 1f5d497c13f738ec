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

/* rows of a (rows, cols) tensor with numel elements, panicking if cols does not divide */
int64_t cpu_rows_of(const char *op, int64_t numel, int64_t cols, const char *what);

#endif
