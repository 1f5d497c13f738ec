/* kernels/cpu/cpu_scratch.h — temporary buffers for CPU ops (group B).
 *
 * Ops that need workspace (attention's per-thread score tiles, the
 * cross-entropy chunk of logits) carve it from the backend's BUF_SCRATCH arena
 * once per call and give it back before returning:
 *     size_t mark = be_mark(be, BUF_SCRATCH);
 *     float *s = cpu_scratch_f32(be, n, "attention");
 *     ...
 *     be_reset(be, BUF_SCRATCH, mark);
 * Invariant: an op resets only to its own mark, so scratch tensors the caller
 * holds survive. Because the arena records its high-water mark, be_peak()
 * reports the op's workspace (the benchmark prints it for cross-entropy).
 * A failed carve (a CPU scratch class reserved too small) is recorded as a
 * runtime error for be_sync and the op returns without computing. */
#ifndef VLMC_KERNELS_CPU_SCRATCH_H
#define VLMC_KERNELS_CPU_SCRATCH_H

#include "kernels/backend_impl.h"

static inline float *cpu_scratch_f32(Backend *be, int64_t n, const char *op) {
    VStatus st = {0};
    int64_t shape[1] = {n > 0 ? n : 1};
    Tensor *t = be_alloc(be, BUF_SCRATCH, DT_F32, 1, shape, &st);
    if (!t) {
        be_record_error(be, st.code ? st.code : VS_ENOMEM, "%s: cannot carve %lld floats of workspace: %s", op,
                        (long long)n, st.msg);
        return NULL;
    }
    return (float *)t->data;
}

#endif
