/* eval/shapes_eval.h — the shapes demo's accuracy eval on the held-out
 * questions (data/shapes_data.h: sh_heldout_item / sh_heldout_text_item).
 *
 * Per question type and language (per_cell questions each):
 *   mc     multiple choice: the option with the highest log-likelihood as the
 *          assistant's answer (its tokens and end token) after the chat-
 *          templated question with the image (eval/generate.h);
 *   blank  the same with a blank image (sh_render(blank=1)): the image-
 *          ablated model — what the text alone gets;
 *   open   the greedy continuation is exactly the right answer's tokens and
 *          the turn's end token (decoding stops at the first wrong token);
 *   chance mean of 1 / number of choices.
 * Text-only vocabulary questions: mc and open per language, no image.
 * Images go through the run's image codec (PNG bytes -> S x S) and the
 * loader's normalisation, so the model sees what training showed it. */
#ifndef VLMC_EVAL_SHAPES_EVAL_H
#define VLMC_EVAL_SHAPES_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "data/formats.h"
#include "data/shapes.h"
#include "model/vlm.h"

typedef struct ShEvalCell {
    int n;
    double mc, blank, open, chance;   /* accuracies in [0, 1] */
} ShEvalCell;

typedef struct ShEvalResult {
    ShEvalCell cell[SH_NQTYPES][SH_NLANGS];
    ShEvalCell text[SH_NLANGS];       /* text-only questions (blank unused) */
    double seconds;
} ShEvalResult;

/* mc_only: skip the blank-image and open-answer passes (about 3x faster; the
 * trainer's periodic tracking uses it). */
int sh_eval(Vlm *m, const LdTextCodec *tc, const LdImageCodec *ic, uint64_t seed, int per_cell, int mc_only,
            ShEvalResult *r, VStatus *st);
/* The table (per type and language: mc, chance, blank, mc - blank, open),
 * the overall accuracy on colour/shape/presence, and text-only accuracy. */
void sh_eval_print(const ShEvalResult *r, FILE *f);
/* The same as one JSON object (malloc'ed string). */
char *sh_eval_json(const ShEvalResult *r);
/* mc accuracy of question type t averaged over the languages; t ==
 * SH_NQTYPES: the text-only questions. */
double sh_eval_type_mc(const ShEvalResult *r, int t);
/* One line: mc accuracy per type (mean of the languages), text-only and csp. */
void sh_eval_print_line(const ShEvalResult *r, FILE *f);
/* Mean mc accuracy over colour, shape and presence (the demo's target). */
double sh_eval_csp(const ShEvalResult *r);

#endif
