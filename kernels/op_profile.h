/* kernels/op_profile.h — where a run's time goes, op by op.
 *
 * With the environment variable VLMC_PROFILE_OPS set (to anything but "0")
 * when the first op runs, every op_* call is timed (wall clock; on a backend
 * whose ops are asynchronous the backend is synchronised after each op, so
 * the times are the device's, and the run is slower) and counted per op
 * name, and matmuls also per shape (trans_a, trans_b, m, n, k, batch; the
 * first OPP_MAX_SHAPES distinct shapes). At exit the table is printed to
 * stderr, ops sorted by time, with calls, mean time and, for matmul shapes,
 * GFLOP/s. Off (the default), an op pays one predictable branch.
 * Single-threaded use only (ops are issued from one thread). */
#ifndef VLMC_KERNELS_OP_PROFILE_H
#define VLMC_KERNELS_OP_PROFILE_H

#include <stdio.h>

#define OPP_MAX_SHAPES 256

/* 1 when profiling is on (decided once, from VLMC_PROFILE_OPS). */
int opp_enabled(void);
/* Writes the table (ops, then matmul shapes, each sorted by time). */
void opp_report(FILE *f);
/* Forgets everything recorded so far (tests). */
void opp_reset(void);
/* For tests: the calls and seconds recorded for an op name (0 if none). */
long opp_calls(const char *op, double *seconds);

#endif
