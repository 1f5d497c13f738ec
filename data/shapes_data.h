/* data/shapes_data.h — the shapes world written as real shard data, and its
 * held-out question set.
 *
 * sh_write_dataset writes, from a seed, WebDataset tar shards in the layouts
 * the loader reads (data/formats.h), every text in English and Russian:
 *   pairs-NNNNN.tar        KEY.png + KEY.txt (caption)
 *   interleaved-NNNNN.tar  KEY.json {"texts", "images"} (OBELICS) + KEY.0.png ...
 *   instruct-NNNNN.tar     KEY.json {"question", "answer"} + KEY.png
 *   sft-NNNNN.tar          KEY.json {"conversations": [{"from", "value"}...]}
 *                          (+ KEY.png when the chat has "<image>"; text-only chats have none)
 *   dpo-NNNNN.tar          KEY.json {"prompt", "chosen", "rejected", "images"} + KEY.0.png (TRL)
 *   heldout-NNNNN.tar      KEY.json {"question", "answer", "choices", "answer_index",
 *                          "type", "lang", "text_only", "caption": the scene's English
 *                          caption, "" for text-only} (+ KEY.png)
 *   repeat-NNNNN.tar       KEY.json {"question": "Repeat: WORDS", "answer": WORDS}, no image
 *                          (sh_repeat_words; the LLM's warm-up), 2 x samples
 *   shapes.json            written last: {"seed", "samples", "heldout", counts}; its presence
 *                          with the same seed/samples/heldout means the set is complete.
 * Each shard is written to a temporary name and renamed. Keys are 9-digit
 * record numbers. The held-out items come from sh_heldout_item (its own seed
 * stream), so an evaluator can regenerate them without reading the tar. */
#ifndef VLMC_DATA_SHAPES_DATA_H
#define VLMC_DATA_SHAPES_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/shapes.h"

typedef struct ShWriteOpts {
    const char *out;      /* folder (created) */
    uint64_t seed;
    int samples;          /* scenes for pairs and instruct; the other sets are scaled from it */
    int heldout;          /* held-out questions per (type, language); text-only: the same per language */
    int shard_size;       /* records per shard (0: 1000) */
} ShWriteOpts;

typedef struct ShWriteSummary {
    int64_t pairs, interleaved, instruct, sft, sft_text, dpo, heldout, heldout_text, repeat, bytes;
} ShWriteSummary;

int sh_write_dataset(const ShWriteOpts *o, ShWriteSummary *sum, VStatus *st);
/* Writes the dataset unless o->out/shapes.json says it is complete with the
 * same format version (SH_DATA_VERSION in shapes_write.c) and seed/samples/heldout. *made = 1 when it wrote it. */
int sh_ensure_dataset(const ShWriteOpts *o, int *made, VStatus *st);

/* Held-out item i (0 <= i < heldout * SH_NQTYPES * SH_NLANGS): type i % 5,
 * language (i / 5) % 2, a fresh scene and its question. */
void sh_heldout_item(uint64_t seed, int i, ShScene *sc, ShQuestion *q, ShLang *lang);
/* Text-only held-out item i: language i % 2. */
void sh_heldout_text_item(uint64_t seed, int i, ShQuestion *q, ShLang *lang);

/* PNG encoding (libpng, lossless) of an RGB image px (h, w, 3) into a
 * malloc'ed buffer. */
int sh_png_encode(const uint8_t *px, int w, int h, uint8_t **out, size_t *n, VStatus *st);

#endif
