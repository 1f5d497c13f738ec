/* kernels/cpu/cpu_table_b.c — op group B: attention (cpu_attention.c),
 * cross-entropy (cpu_xent.c), reductions (cpu_reduce.c), AdamW
 * (cpu_adamw.c). */
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
