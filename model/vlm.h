/* model/vlm.h — a VLM (vision encoder -> adapter -> LLM, or a text-only LLM):
 * its parameter table, one training step's forward and backward, and logits.
 *
 * Everything is computed through kernels/ops.h. Activations for backward live
 * in BUF_ACTS between vlm_forward() and vlm_backward() and are released by
 * vlm_end_step(). What runs backward:
 *   - the LLM when anything in it, the adapter or the encoder trains
 *     (gradients flow through a frozen LLM to a trainable adapter);
 *   - the adapter when it or the encoder trains; the encoder when it trains.
 * A part that runs no backward keeps no activations (they are released as
 * soon as its output exists). Frozen entries get no weight gradient
 * (Param.g == NULL) and no gradient memory.
 * With `recompute`, each transformer block keeps only its input and
 * recomputes its activations in the backward (same ops, same order: the
 * gradients are bit-identical).
 *
 * Loss: L = sum over rows with target != -1 of -loss_weight * log p(target);
 * the caller passes loss_weight = 1 / (number of loss tokens of the global
 * batch), so gradients accumulate correctly across micro-batches and ranks.
 */
#ifndef VLMC_MODEL_VLM_H
#define VLMC_MODEL_VLM_H

#include <stdint.h>

#include "model/config.h"
#include "model/params.h"

typedef struct VitLayerIdx {
    int ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} VitLayerIdx;

typedef struct LlmLayerIdx {
    int ln1, q_w, q_b, k_w, k_b, v_w, v_b, o_w, ln2, gate, up, down;
} LlmLayerIdx;

/* A batch: B rows of T tokens (packed), plus the images whose embeddings are
 * spliced at rows img_rows (in order: image 0's tokens, then image 1's ...). */
typedef struct VlmBatch {
    int64_t B, T;
    const int32_t *tokens;    /* (B*T) */
    const int32_t *targets;   /* (B*T), -1 = no loss */
    const int32_t *pos;       /* (B*T) position ids, restart per packed sample */
    const int32_t *doc;       /* (B*T) sample ids for the block-diagonal mask, or NULL */
    int64_t n_images;
    const float *pixels;      /* (n_images, 3, H, W) normalised */
    const int32_t *img_rows;  /* (n_images * tokens_per_image) flat row indices in [0, B*T) */
} VlmBatch;

struct VlmActs;

typedef struct VlmFeatCache VlmFeatCache;
typedef struct VlmFeatCacheStats {
    int64_t hits, misses;    /* images looked up since the cache was made */
    int64_t entries, capacity;
    size_t bytes;            /* host bytes the entries hold */
} VlmFeatCacheStats;

typedef struct Vlm {
    VlmConfig cfg;
    ParamTable pt;
    Backend *be;
    int recompute;
    int64_t xent_chunk;       /* rows per xent chunk */
    struct { int patch_w, patch_b, cls, pos, pre_w, pre_b, post_w, post_b; VitLayerIdx *L;
             Tensor *cls_w2, *cls_g2; /* (1, D) views made once: a view made per step would
                                          add a handle to BUF_PARAMS / BUF_GRADS each step */
    } vis;
    struct { int w1, b1, w2, b2; } ad;
    struct { int emb, norm, head; LlmLayerIdx *L; } llm;
    struct VlmActs *acts;     /* private: the current step's saved tensors */
    VlmFeatCache *feat_cache; /* frozen-encoder features by image (vlm_feature_cache); NULL: off */
} Vlm;

/* Builds the parameter table for cfg with the layout's Hugging Face names
 * (all entries trainable). No device memory yet. */
int vlm_build(Vlm *m, const VlmConfig *cfg, VStatus *st);
/* Carves parameters and gradients on be (after setting trainability). */
int vlm_allocate(Vlm *m, Backend *be, VStatus *st);
void vlm_free(Vlm *m);
/* Seeded initialisation from scratch (normal(0, std) matrices, ones for
 * norm weights, zeros for biases; position / class embeddings normal(0, std)),
 * reproducible for a seed; the host RNG is splitmix64 + Box-Muller. std is
 * cfg.init_std[component], 0.02 (Hugging Face's initializer_range default)
 * where that is 0. */
int vlm_init_random(Vlm *m, uint64_t seed, VStatus *st);

/* The frozen-encoder feature cache: while no encoder parameter is
 * trainable, an image's encoder output rows are kept on the host (keyed by a
 * 128-bit hash of its normalised pixels, up to `bytes`) and read back instead
 * of running the encoder. With the cache on, every image is encoded on its
 * own (a miss, or any image once the cache is full): inside a batch an
 * image's features depend in the last bits on its rows' place in the GEMM's
 * blocks, alone they do not, so hits and misses give the same bits and a
 * resumed run equals the uninterrupted one. Against the cache off (images
 * encoded as a batch) results differ at float rounding (~1e-7 relative).
 * The first forward with a trainable encoder parameter empties it; so does
 * vlm_feature_cache_clear (call it after writing weights). bytes = 0 turns
 * it off. Pays off when images repeat (epochs, the shapes demo's
 * instruct/SFT, blank-image ablations) and the encoder runs on the host; on
 * a GPU the transfers may cost more than the encoder. */
void vlm_feature_cache(Vlm *m, size_t bytes);
void vlm_feature_cache_clear(Vlm *m);
void vlm_feature_cache_stats(const Vlm *m, VlmFeatCacheStats *s);

/* Upper bound of the BUF_ACTS bytes of one step with this batch shape
 * (backward: training step; with_logits: vlm_logits), and a reservation of it
 * (for backends that need one; BUF_ACTS must be empty). */
size_t vlm_acts_bytes(const Vlm *m, int64_t B, int64_t T, int64_t n_images, int backward, int with_logits);
int vlm_reserve_acts(Vlm *m, int64_t B, int64_t T, int64_t n_images, VStatus *st);
/* For backends whose BUF_ACTS must be reserved (be_must_reserve): grows the
 * reservation to vlm_acts_bytes(B, T, n_images, backward, logits) when it is
 * smaller, releasing the last step's activations first (call between steps).
 * Never shrinks; a no-op on backends that grow lazily. Callers size it once
 * per batch shape (a stage, a generator), not per step. */
int vlm_ensure_acts(Vlm *m, int64_t B, int64_t T, int64_t n_images, int backward, VStatus *st);

/* Vocabulary growth (adding <image>, <|endofchunk|>, ...): the embedding and
 * an untied lm-head get new_vocab - vocab new rows, initialised to the MEAN of
 * the existing rows (keeps new tokens' logits and embeddings in the
 * distribution of the old ones; computed with op_matmul). Every other weight
 * and all trainability flags are kept. With train_new_rows_only, the
 * embedding and lm-head become trainable with a per-row gradient mask (1 on
 * new rows, 0 on old ones); with tied embeddings the mask is applied after
 * the lm-head and embedding gradients have been summed. Gradients and
 * parameters are re-allocated (the model must own the top of BUF_PARAMS and
 * BUF_GRADS; call between steps). */
int vlm_grow_vocab(Vlm *m, int new_vocab, int train_new_rows_only, VStatus *st);

/* Forward of one micro-batch. Returns the loss sum (weighted by loss_weight)
 * in *loss (may be NULL). Keeps what backward needs when `backward` is set. */
int vlm_forward(Vlm *m, const VlmBatch *b, float loss_weight, int backward, double *loss, VStatus *st);
/* Backward of the last vlm_forward(backward=1): ACCUMULATES into Param.g. */
int vlm_backward(Vlm *m, VStatus *st);
/* Releases the step's activations. */
void vlm_end_step(Vlm *m);
/* Forward only, writing the full logits (B*T, vocab) to host. */
int vlm_logits(Vlm *m, const VlmBatch *b, float *logits, VStatus *st);

#endif
