/* kernels/cuda/cuda_backend.c — the CUDA backend (not built yet: no ops). */
#include "kernels/backend_impl.h"

static const OpTable cuda_table;

const OpTable *cuda_op_table(void) { return &cuda_table; }

Backend *cuda_backend_create(const BackendOptions *opt, VStatus *st) {
    (void)opt;
    vs_set(st, VS_EUNSUP, "cuda backend: no ops implemented yet");
    return NULL;
}
