/* tests/model/test_golden_idefics3.c — Idefics3 parity against transformers:
 * SigLIP-like tower with post_layernorm, pixel shuffle r=2 (Idefics3's
 * reshape/permute order), bias-free modality projection, Llama; the
 * checkpoint is sharded (model.safetensors.index.json). Tolerances in
 * golden_util.h. */
#include "golden_util.h"

static void test_idefics3(void) { golden_run("idefics3", NULL, 0); }
static void test_idefics3_frozen_llm(void) {
    int fr[COMP__COUNT] = {[COMP_LLM] = 1};
    golden_run("idefics3", fr, 1);
}

TEST_MAIN({"idefics3", test_idefics3}, {"idefics3_frozen_llm_recompute", test_idefics3_frozen_llm})
