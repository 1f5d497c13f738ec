/* eval/generate.h — minimal generation for evaluation: greedy decoding and
 * multiple-choice scoring by log-likelihood, for one prompt at a time.
 *
 * No KV cache yet: every decoding step re-runs the forward over the whole
 * growing sequence (vlm_logits gives the full logits; fine for the tiny demo
 * models). The eval issue adds a KV cache, sampling and scorers behind the
 * same calls (a Generator keeps its buffers between calls, so a cache can
 * live in it too).
 *
 * A prompt is token ids with the images' placeholder runs already in place:
 * image k's embeddings replace the k-th run of `image_token` (each run exactly
 * mcfg_tokens_per_image(cfg) long); pixels are the images normalised as the
 * training batches were, (n_images, 3, S, S). Position ids are 0..len-1.
 *
 * Scoring: logprob[o] = sum over j of log softmax(logits at the token before
 * option token j)[option token j], in double — the log-likelihood of the
 * option's tokens given the prompt. All options of one prompt run as one
 * batch of rows (prompt + option, padded at the end; padding never changes
 * earlier positions under the causal mask). */
#ifndef VLMC_EVAL_GENERATE_H
#define VLMC_EVAL_GENERATE_H

#include <stdint.h>

#include "core/status.h"
#include "model/vlm.h"

typedef struct GenPrompt {
    const int32_t *ids;
    int n;
    int n_images;
    const float *pixels;     /* (n_images, 3, S, S) */
} GenPrompt;

typedef struct Generator {
    Vlm *m;
    int max_len;             /* longest row (prompt + continuation) */
    int max_rows;            /* most rows of one call (options per prompt) */
    int max_images;          /* images per prompt */
    /* host buffers sized once by gen_open (no allocation per step) */
    int32_t *tokens, *pos, *targets, *img_rows;
    float *pixels, *logits;
} Generator;

/* Sizes the buffers for prompts of up to max_len tokens (continuation
 * included), max_rows options and max_images images per prompt. */
int gen_open(Generator *g, Vlm *m, int max_len, int max_rows, int max_images, VStatus *st);
void gen_close(Generator *g);

/* Greedy decoding: appends up to max_new argmax tokens to the prompt,
 * stopping after a token of stop[0..n_stop) (which is kept in out). out gets
 * the new tokens, *n_out their count. */
int gen_greedy(Generator *g, const GenPrompt *p, int max_new, const int32_t *stop, int n_stop, int32_t *out,
               int *n_out, VStatus *st);
/* Greedy decoding that gives up at the first token differing from
 * want[0..n_want): *match = 1 when the greedy continuation starts with all
 * of want (exact-match scoring without decoding past the first mistake). */
int gen_greedy_matches(Generator *g, const GenPrompt *p, const int32_t *want, int n_want, int *match, VStatus *st);

/* Log-likelihood of each option (opts[o]: opt_len[o] >= 1 tokens) given the prompt. */
int gen_score_options(Generator *g, const GenPrompt *p, const int32_t *const *opts, const int *opt_len, int n_opts,
                      double *logprob, VStatus *st);

/* log softmax(logits[0..V))[tok] in double (max-shifted). */
double gen_log_softmax_at(const float *logits, int V, int tok);

#endif
