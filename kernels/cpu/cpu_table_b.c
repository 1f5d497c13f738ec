/* kernels/cpu/cpu_table_b.c — op group B: attention (cpu_attention.c),
 * cross-entropy (cpu_xent.c), reductions (cpu_reduce.c), AdamW
 * (cpu_adamw.c); vectorised softmax helpers in cpu_vexp.c.
 *
 * Workspace each op carves from BUF_SCRATCH for the duration of one call
 * (f32 elements; nth = OpenMP threads):
 *   attention            nth * 64 * Tk
 *   attention_backward   nth * 2 * 64 * Tk, plus 2 * B * Hq * Tk * D with GQA
 *   xent                 chunk * V + 2 * chunk * C (+ 2 * chunk row indices)
 *   segment_sum          2 * S (double accumulators)
 * Everything else works in place. */
#include "kernels/cpu/cpu_ops.h"

void cpu_register_group_b(OpTable *t) {
    t->attention = cpu_attention;
    t->attention_backward = cpu_attention_backward;
    t->xent = cpu_xent;
    t->segment_sum = cpu_segment_sum;
    t->segment_sum_backward = cpu_segment_sum_backward;
    t->count_targets = cpu_count_targets;
    t->sumsq = cpu_sumsq;
    t->adamw = cpu_adamw;
}
