/* model/config.h — typed configuration of a VLM: vision encoder -> adapter -> LLM.
 *
 * Contract: a VlmConfig fully determines the parameter table (names, shapes)
 * and the computation. It is filled either by hand / from YAML (train/) or
 * from a Hugging Face config.json (mcfg_from_hf_json). Every field has a
 * documented default from mcfg_default_*(), so a config that sets only sizes
 * runs. `has_vision == 0` is a text-only LLM.
 *
 * Layouts (ModelLayout) decide the Hugging Face tensor-name prefixes used by
 * import/export (model/hf_names.c); they do not change the computation.
 */
#ifndef VLMC_MODEL_CONFIG_H
#define VLMC_MODEL_CONFIG_H

#include "core/status.h"
#include "kernels/ops.h"

typedef enum VisionKind { VIS_CLIP = 0, VIS_SIGLIP } VisionKind;
typedef enum AdapterKind { ADAPT_LINEAR = 0, ADAPT_MLP, ADAPT_PIXEL_SHUFFLE_MLP } AdapterKind;
typedef enum ModelLayout { LAYOUT_LLAVA = 0, LAYOUT_IDEFICS3, LAYOUT_TEXT } ModelLayout;

typedef struct VisionConfig {
    VisionKind kind;          /* CLIP: class token, pre_layrnorm; SigLIP: patch bias, no CLS */
    int hidden, intermediate, layers, heads;
    int image_size, patch_size;   /* the run's image size (pixels) */
    int ckpt_image_size;      /* position embeddings were trained for this size (0 = image_size) */
    float ln_eps;
    ActKind act;              /* CLIP quick_gelu, SigLIP gelu tanh */
    int feature_layer;        /* HF hidden_states index: -1 last, -2 penultimate, k >= 0 */
    int keep_cls;             /* CLIP: LLaVA "full" keeps the CLS row, "default" drops it */
    int post_norm;            /* apply post_layernorm to the features (Idefics3: 1, LLaVA: 0) */
    int has_head;             /* SigLIP attention-pooling head present (stored, never run) */
} VisionConfig;

typedef struct AdapterConfig {
    AdapterKind kind;
    int bias;                 /* linear / mlp biases */
    int shuffle;              /* pixel_shuffle_mlp factor r */
} AdapterConfig;

typedef struct LlmConfig {
    int vocab, hidden, intermediate, layers, heads, kv_heads, head_dim;
    float rms_eps;
    RopeDesc rope;            /* rot_dim = head_dim */
    int qkv_bias;             /* Qwen2 */
    int tied;                 /* lm-head shares the embedding matrix */
    int arch_qwen2;           /* export only: config.json model_type */
    int max_pos;              /* export only */
    int sliding_window;       /* Mistral / Qwen2 with use_sliding_window: rows longer
                                 than this are refused (attention is full); 0 = none */
} LlmConfig;

typedef struct VlmConfig {
    ModelLayout layout;
    int has_vision;
    VisionConfig vis;
    AdapterConfig adapter;
    LlmConfig llm;
    int image_token_id;       /* placeholder token id in input_ids (-1: none) */
    float init_std[3];        /* vlm_init_random's std per Component (model/params.h; 0: 0.02);
                                 not stored in checkpoints: it only matters before step 1 */
} VlmConfig;

/* Number of feature rows one image gives the LLM (after CLS drop and shuffle). */
int mcfg_tokens_per_image(const VlmConfig *c);
/* Number of vision layers actually run for the selected feature layer. */
int mcfg_vision_layers_run(const VisionConfig *v);
/* Patches per image side, and sequence length inside the encoder. */
int mcfg_patches_side(const VisionConfig *v);
int mcfg_vision_seq(const VisionConfig *v);
/* Sanity checks (divisibility, ranges); message names the field. */
int mcfg_validate(const VlmConfig *c, VStatus *st);

/* Reads a Hugging Face config.json: LlavaForConditionalGeneration,
 * Idefics3ForConditionalGeneration, LlamaForCausalLM, Qwen2ForCausalLM
 * (text only), and SiglipVisionModel / CLIPVisionModel (vision part only,
 * *is_vision_only set). */
int mcfg_from_hf_json(const char *path, VlmConfig *out, int *is_vision_only, VStatus *st);
/* Writes config.json for the layout so transformers loads the export. */
int mcfg_write_hf_json(const VlmConfig *c, const char *path, const char *torch_dtype, VStatus *st);

#endif
