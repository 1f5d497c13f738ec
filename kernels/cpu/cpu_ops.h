/* kernels/cpu/cpu_ops.h — the CPU backend's op implementations (fp32,
 * OpenBLAS sgemm + OpenMP loops). Declarations are generated from VLMC_OPS so
 * every signature matches ops.h; each op lives in the file named by its group
 * (cpu_matmul.c, cpu_movement.c, cpu_norm.c, ...). Private to kernels/cpu/. */
#ifndef VLMC_KERNELS_CPU_OPS_H
#define VLMC_KERNELS_CPU_OPS_H

#include "kernels/backend_impl.h"

#define VLMC_CPU_DECL(name, params, args) void cpu_##name params;
VLMC_OPS(VLMC_CPU_DECL)
#undef VLMC_CPU_DECL

/* Each group fills its entries of the table (cpu_table_a.c, cpu_table_b.c). */
void cpu_register_group_a(OpTable *t);
void cpu_register_group_b(OpTable *t);

/* float data of a CPU tensor (panics on a non-f32 tensor) */
float *cpu_f32(const Tensor *t, const char *op);
/* int32 data of a CPU tensor (panics on a non-i32 tensor) */
int32_t *cpu_i32(const Tensor *t, const char *op);

#endif
