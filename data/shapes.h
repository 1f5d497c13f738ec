/* data/shapes.h — the synthetic "shapes" world: the embedded default dataset.
 *
 * Fixed so that its difficulty is not a free choice: 64x64 RGB scenes on a
 * grey background with 1-4 objects; 8 colours, 5 shapes, 2 sizes, each object
 * in its own cell of a 3x3 grid. Every text exists in English and Russian.
 * All five shapes are masculine nouns in Russian (круг, квадрат, треугольник,
 * ромб, крест), so adjectives agree without declension tables.
 *
 * Everything is a pure function of a seed (sh_rng): the same seed gives the
 * same scenes, pixels and texts on every machine. */
#ifndef VLMC_DATA_SHAPES_H
#define VLMC_DATA_SHAPES_H

#include <stddef.h>
#include <stdint.h>

#define SH_SIZE 64      /* image side in pixels */
#define SH_MAX_OBJ 4
#define SH_NCOLORS 8
#define SH_NSHAPES 5
#define SH_NSIZES 2
#define SH_NCELLS 9

typedef enum ShLang { SH_EN = 0, SH_RU, SH_NLANGS } ShLang;
typedef enum ShQType { SH_Q_COLOR = 0, SH_Q_SHAPE, SH_Q_COUNT, SH_Q_POSITION, SH_Q_PRESENCE, SH_NQTYPES } ShQType;

typedef struct ShRng { uint64_t s; } ShRng;

typedef struct ShObject {
    uint8_t shape, color, size, cell;   /* size: 0 small, 1 big; cell: row*3 + col */
} ShObject;

typedef struct ShScene {
    int n;
    ShObject obj[SH_MAX_OBJ];
} ShScene;

#define SH_MAX_CHOICES 4
#define SH_TEXT_MAX 512

typedef struct ShQuestion {
    ShQType type;
    char text[SH_TEXT_MAX];
    int n_choices;                              /* 2 for presence, else 4 */
    char choices[SH_MAX_CHOICES][64];
    int answer;                                 /* index into choices */
} ShQuestion;

void sh_rng_seed(ShRng *r, uint64_t seed);
uint64_t sh_rng_next(ShRng *r);
uint32_t sh_rng_below(ShRng *r, uint32_t n);    /* uniform in [0, n) */

/* 1..SH_MAX_OBJ objects in distinct cells with distinct (colour, shape),
 * listed in reading order of their cells (captions follow it; see
 * shapes_scene.c). */
void sh_scene_random(ShRng *r, ShScene *sc);
/* Sorts sc's objects into reading order (row by row, left to right). */
void sh_scene_sort(ShScene *sc);
/* px: (64, 64, 3) RGB. blank != 0 renders only the background (image ablation). */
void sh_render(const ShScene *sc, int blank, uint8_t *px);

/* Texts (UTF-8, NUL-terminated, truncated to cap). Return the length.
 * A caption lists the objects in sc's order, then the colours present in
 * the world's colour order: "a big red circle at the top left and a small
 * blue square in the center. Colours: red, blue." */
size_t sh_caption(const ShScene *sc, ShLang lang, char *buf, size_t cap);
/* A caption with one hallucinated object or one wrong attribute (DPO "rejected"). */
size_t sh_caption_corrupt(const ShScene *sc, ShLang lang, ShRng *r, char *buf, size_t cap);
/* SH_REPEAT_MIN..SH_REPEAT_MAX random items of the world's vocabulary
 * (colours, shapes, sizes, cell names, counts, yes/no), space-separated: the
 * words of a "Repeat: WORDS" -> WORDS instruction (an LLM warm-up task). */
#define SH_REPEAT_MIN 6
#define SH_REPEAT_MAX 12
size_t sh_repeat_words(ShLang lang, ShRng *r, char *buf, size_t cap);
/* A question of the given type about sc, with choices and the right answer. */
void sh_question(const ShScene *sc, ShQType type, ShLang lang, ShRng *r, ShQuestion *q);
/* A training-only position question about a (colour, shape) pair that is not
 * in sc ("Where is the red circle?"), its one choice "nowhere" / "нигде":
 * it teaches the look-up by content that position questions use to report
 * "nothing matched", the skill presence questions need (train/README.md,
 * "Presence: learning rate, initial scale and absence"). Held-out position
 * questions always ask about an object that is there. */
void sh_question_nowhere(const ShScene *sc, ShLang lang, ShRng *r, ShQuestion *q);
/* A text-only question about the world's vocabulary (answerable without an image). */
void sh_text_question(ShLang lang, ShRng *r, ShQuestion *q);

const char *sh_qtype_name(ShQType t);   /* "color", "shape", "count", "position", "presence" */
const char *sh_lang_name(ShLang l);     /* "en", "ru" */
const char *sh_color_word(int color, ShLang lang);
const char *sh_shape_word(int shape, ShLang lang);
const char *sh_cell_words(int cell, ShLang lang);

#endif
