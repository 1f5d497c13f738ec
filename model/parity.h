/* model/parity.h — one forward (+ backward) from a transformers-style inputs
 * file, for `vlmc inspect MODEL_DIR --forward` and the golden tests.
 *
 * INPUTS.safetensors holds input_ids (B, T) int, optional labels (B, T) int
 * (-100 = no loss, transformers' convention: logits at t predict labels at
 * t + 1), optional pixel_values (n, 3, H, W) or (B, k, 3, H, W) float.
 * Image features are spliced at the positions of cfg.image_token_id in
 * row-major order; position ids are 0..T-1 per row (image tokens counted).
 * The loss is the mean over label tokens, as transformers computes it.
 * Outputs: logits (B, T, V), loss (1) when labels are given, and
 * "grad.<hf name>" for every parameter (zeros where the parameter does not
 * contribute, or is frozen).
 */
#ifndef VLMC_MODEL_PARITY_H
#define VLMC_MODEL_PARITY_H

#include "model/vlm.h"

typedef struct ParityOut {
    int64_t B, T, V;
    float *logits;        /* (B*T*V) */
    int has_loss;
    double loss;
    float **grads;        /* per table entry (numel floats), NULL without labels */
} ParityOut;

int parity_run(Vlm *m, const char *inputs_path, ParityOut *out, VStatus *st);
int parity_write(const Vlm *m, const ParityOut *o, const char *path, VStatus *st);
void parity_free(const Vlm *m, ParityOut *o);

#endif
