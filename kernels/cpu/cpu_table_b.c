/* kernels/cpu/cpu_table_b.c — op group B: attention, cross-entropy,
 * reductions, AdamW. */
#include "kernels/cpu/cpu_ops.h"

void cpu_register_group_b(OpTable *t) { (void)t; }
