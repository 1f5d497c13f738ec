/* kernels/cuda/cuda_table.c — the CUDA backend's op table: one entry per
 * VLMC_OPS line, generated from the same X-macro, so a new op that lacks a
 * cuda_<name> fails to link rather than silently missing. Needs no device. */
#include "kernels/cuda/cuda_internal.h"

#define VLMC_CUDA_ENTRY(name, params, args) .name = cuda_##name,
static const OpTable cuda_table = {VLMC_OPS(VLMC_CUDA_ENTRY)};
#undef VLMC_CUDA_ENTRY

const OpTable *cuda_op_table(void) { return &cuda_table; }
