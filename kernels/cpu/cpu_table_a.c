/* kernels/cpu/cpu_table_a.c — op group A: matmul, elementwise, data movement,
 * norms, rope. */
#include "kernels/cpu/cpu_ops.h"

void cpu_register_group_a(OpTable *t) { (void)t; }
