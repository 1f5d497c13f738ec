/* model/hf.h — Hugging Face interop: load a model directory into a Vlm and
 * save a Vlm back in the layout transformers writes.
 *
 * Loading reads config.json and the weights (model.safetensors, or the shards
 * listed by model.safetensors.index.json). Tensor names of every known layout
 * are mapped onto the Vlm's canonical names (model/vlm_build.c):
 *   LLaVA: vision_tower[.vision_model]., model.vision_tower[.vision_model].,
 *          [model.]multi_modal_projector., language_model.model. (older) or
 *          model.language_model. (newer), [language_model.]lm_head.
 *   Idefics3: model.vision_model., model.connector., model.text_model., lm_head.
 *   text LLMs: model., lm_head.
 * F32, BF16 and F16 weights load (converted to f32). A tensor the model does
 * not have, a tensor given twice, a shape mismatch, or a model tensor no file
 * provides is an error naming the tensor. Tolerated: `*.rotary_emb.inv_freq`
 * buffers, and an lm_head copy in a tied-embedding checkpoint (ignored, as
 * transformers does).
 *
 * Position embeddings: when opts->image_size differs from the checkpoint's,
 * the (side x side) grid is resized on the host at load time with bicubic
 * interpolation, a = -0.75, align_corners = False (torch F.interpolate
 * 'bicubic'), CLS row kept; the model then holds and exports the resized
 * table with image_size = the run's size.
 */
#ifndef VLMC_MODEL_HF_H
#define VLMC_MODEL_HF_H

#include "model/vlm.h"

typedef struct HfLoadOpts {
    int frozen[COMP__COUNT];   /* components that get no gradients */
    int image_size;            /* 0: the checkpoint's */
    float adapter_init_std;    /* hf_load_pair: std of the fresh adapter's matrices (0: 0.02) */
} HfLoadOpts;

/* Loads DIR (a LLaVA, Idefics3 or text LLM checkpoint) onto be. */
int hf_load(Vlm *m, const char *dir, Backend *be, const HfLoadOpts *opts, VStatus *st);
/* Joins a vision checkpoint (SiglipVisionModel / CLIPVisionModel) and a
 * language checkpoint (LlamaForCausalLM / Qwen2ForCausalLM) with a freshly
 * initialised adapter (seeded); the result has the LLaVA layout. adapter
 * kind ADAPT_MLP uses LLaVA's feature_layer/keep_cls given in *vis_sel
 * (feature_layer, keep_cls fields only). */
int hf_load_pair(Vlm *m, const char *vision_dir, const char *lm_dir, const AdapterConfig *ad, int feature_layer,
                 int keep_cls, int image_token_id, uint64_t seed, Backend *be, const HfLoadOpts *opts, VStatus *st);
/* Writes DIR/config.json and DIR/model.safetensors (dtype DT_F32 or DT_BF16),
 * names and shapes as transformers saves them. Creates DIR if needed. */
int hf_save(Vlm *m, const char *dir, DType dtype, VStatus *st);

/* Maps a checkpoint tensor name to the canonical name for a layout
 * (out: PT_NAME_MAX bytes); returns 0 when the name must be ignored. */
int hf_canonical_name(ModelLayout layout, const char *name, char *out);

#endif
