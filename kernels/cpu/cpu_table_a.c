/* kernels/cpu/cpu_table_a.c — op group A: matmul, elementwise, data movement,
 * norms, rope. Each entry points at the implementation in the file of its
 * group (cpu_matmul.c, cpu_elementwise.c, cpu_act.c, cpu_movement.c,
 * cpu_norm.c, cpu_rope.c). */
#include "kernels/cpu/cpu_ops.h"

void cpu_register_group_a(OpTable *t) {
    /* cpu_elementwise.c */
    t->fill = cpu_fill;
    t->copy = cpu_copy;
    t->add = cpu_add;
    t->scale = cpu_scale;
    t->bias_add = cpu_bias_add;
    t->bias_backward = cpu_bias_backward;
    t->mask_rows = cpu_mask_rows;
    /* cpu_act.c */
    t->act = cpu_act;
    t->act_backward = cpu_act_backward;
    t->swiglu = cpu_swiglu;
    t->swiglu_backward = cpu_swiglu_backward;
    t->tanh_gate = cpu_tanh_gate;
    t->tanh_gate_backward = cpu_tanh_gate_backward;
    /* cpu_norm.c */
    t->layernorm = cpu_layernorm;
    t->layernorm_backward = cpu_layernorm_backward;
    t->rmsnorm = cpu_rmsnorm;
    t->rmsnorm_backward = cpu_rmsnorm_backward;
    /* cpu_movement.c */
    t->permute = cpu_permute;
    t->permute_backward = cpu_permute_backward;
    t->concat = cpu_concat;
    t->concat_backward = cpu_concat_backward;
    t->gather_rows = cpu_gather_rows;
    t->gather_rows_backward = cpu_gather_rows_backward;
    t->scatter_rows = cpu_scatter_rows;
    t->scatter_rows_backward = cpu_scatter_rows_backward;
    t->pixel_shuffle = cpu_pixel_shuffle;
    t->pixel_shuffle_backward = cpu_pixel_shuffle_backward;
    t->patch_unfold = cpu_patch_unfold;
    /* cpu_rope.c */
    t->rope = cpu_rope;
    t->rope_backward = cpu_rope_backward;
    /* cpu_matmul.c */
    t->matmul = cpu_matmul;
}
