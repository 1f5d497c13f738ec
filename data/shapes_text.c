/* data/shapes_text.c — English and Russian texts about shapes scenes:
 * captions, corrupted captions (DPO rejected), questions with choices. */
#include "data/shapes.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const color_w[SH_NLANGS][SH_NCOLORS] = {
    {"red", "green", "blue", "yellow", "purple", "orange", "white", "black"},
    {"красный", "зелёный", "синий", "жёлтый", "фиолетовый", "оранжевый", "белый", "чёрный"},
};
static const char *const shape_w[SH_NLANGS][SH_NSHAPES] = {
    {"circle", "square", "triangle", "diamond", "cross"},
    {"круг", "квадрат", "треугольник", "ромб", "крест"},
};
static const char *const size_w[SH_NLANGS][SH_NSIZES] = {{"small", "big"}, {"маленький", "большой"}};
/* answer form of a cell ("top left") and its phrase in a sentence ("at the top left") */
static const char *const cell_w[SH_NLANGS][SH_NCELLS] = {
    {"top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right"},
    {"вверху слева", "вверху", "вверху справа", "слева", "в центре", "справа", "внизу слева", "внизу",
     "внизу справа"},
};
static const char *const cell_phrase_en[SH_NCELLS] = {
    "at the top left", "at the top", "at the top right", "on the left", "in the center",
    "on the right", "at the bottom left", "at the bottom", "at the bottom right"};

const char *sh_color_word(int c, ShLang l) { return color_w[l][c]; }
const char *sh_shape_word(int s, ShLang l) { return shape_w[l][s]; }
const char *sh_cell_words(int c, ShLang l) { return cell_w[l][c]; }
static const char *cell_phrase(int c, ShLang l) { return l == SH_EN ? cell_phrase_en[c] : cell_w[SH_RU][c]; }

const char *sh_qtype_name(ShQType t) {
    static const char *const n[SH_NQTYPES] = {"color", "shape", "count", "position", "presence"};
    return n[t];
}
const char *sh_lang_name(ShLang l) { return l == SH_EN ? "en" : "ru"; }

typedef struct Buf { char *p; size_t cap, len; } Buf;

static void bput(Buf *b, const char *fmt, ...) {
    if (b->len + 1 >= b->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0) b->len += (size_t)n;
    if (b->len >= b->cap) b->len = b->cap - 1;   /* truncated */
}

static size_t caption_of(const ShScene *sc, ShLang l, char *buf, size_t cap) {
    Buf b = {buf, cap, 0};
    if (cap) buf[0] = 0;
    for (int i = 0; i < sc->n; i++) {
        const ShObject *o = &sc->obj[i];
        if (i) bput(&b, i == sc->n - 1 ? (l == SH_EN ? " and " : " и ") : ", ");
        bput(&b, "%s%s %s %s %s", l == SH_EN ? "a " : "",
             size_w[l][o->size], color_w[l][o->color], shape_w[l][o->shape], cell_phrase(o->cell, l));
    }
    bput(&b, ".");
    /* Then the colours present, in the world's colour order ("Colours: red,
     * blue."): to name the next one the model checks each colour's existence
     * in the image, the look-up by content that presence questions need and
     * reading-order captions alone never train (without it presence stayed
     * at chance; train/README.md, "Reading order and a colour list"). */
    int seen[SH_NCOLORS] = {0};
    for (int i = 0; i < sc->n; i++) seen[sc->obj[i].color] = 1;
    bput(&b, l == SH_EN ? " Colours:" : " Цвета:");
    for (int c = 0, k = 0; c < SH_NCOLORS; c++)
        if (seen[c]) bput(&b, "%s %s", k++ ? "," : "", color_w[l][c]);
    bput(&b, ".");
    return b.len;
}

size_t sh_caption(const ShScene *sc, ShLang lang, char *buf, size_t cap) { return caption_of(sc, lang, buf, cap); }

/* The items of the world's vocabulary in one language: colours, shapes,
 * sizes, cell names, counts, yes and no. */
#define N_ITEMS (SH_NCOLORS + SH_NSHAPES + SH_NSIZES + SH_NCELLS + SH_MAX_OBJ + 2)

static const char *item(ShLang l, int k) {
    static const char *const nums[SH_MAX_OBJ] = {"1", "2", "3", "4"};
    static const char *const yes_no[SH_NLANGS][2] = {{"yes", "no"}, {"да", "нет"}};
    if (k < SH_NCOLORS) return color_w[l][k];
    if ((k -= SH_NCOLORS) < SH_NSHAPES) return shape_w[l][k];
    if ((k -= SH_NSHAPES) < SH_NSIZES) return size_w[l][k];
    if ((k -= SH_NSIZES) < SH_NCELLS) return cell_w[l][k];
    if ((k -= SH_NCELLS) < SH_MAX_OBJ) return nums[k];
    return yes_no[l][k - SH_MAX_OBJ];
}

size_t sh_repeat_words(ShLang l, ShRng *r, char *buf, size_t cap) {
    Buf b = {buf, cap, 0};
    if (cap) buf[0] = 0;
    int n = SH_REPEAT_MIN + (int)sh_rng_below(r, SH_REPEAT_MAX - SH_REPEAT_MIN + 1);
    for (int i = 0; i < n; i++) bput(&b, "%s%s", i ? " " : "", item(l, (int)sh_rng_below(r, N_ITEMS)));
    return b.len;
}

static int cell_used(const ShScene *sc, int cell) {
    for (int i = 0; i < sc->n; i++)
        if (sc->obj[i].cell == cell) return 1;
    return 0;
}

size_t sh_caption_corrupt(const ShScene *sc, ShLang lang, ShRng *r, char *buf, size_t cap) {
    ShScene bad = *sc;
    int kind = (int)sh_rng_below(r, 4);
    if (kind == 3 && bad.n == SH_MAX_OBJ) kind = 0;
    int i = (int)sh_rng_below(r, (uint32_t)bad.n);
    switch (kind) {
    case 0: bad.obj[i].color = (uint8_t)((bad.obj[i].color + 1 + sh_rng_below(r, SH_NCOLORS - 1)) % SH_NCOLORS); break;
    case 1: bad.obj[i].shape = (uint8_t)((bad.obj[i].shape + 1 + sh_rng_below(r, SH_NSHAPES - 1)) % SH_NSHAPES); break;
    case 2: { /* move to a free cell */
        int c;
        do c = (int)sh_rng_below(r, SH_NCELLS); while (cell_used(sc, c));
        bad.obj[i].cell = (uint8_t)c;
        break;
    }
    default: { /* hallucinate an extra object in a free cell */
        int c;
        do c = (int)sh_rng_below(r, SH_NCELLS); while (cell_used(sc, c));
        ShObject o = {(uint8_t)sh_rng_below(r, SH_NSHAPES), (uint8_t)sh_rng_below(r, SH_NCOLORS),
                      (uint8_t)sh_rng_below(r, SH_NSIZES), (uint8_t)c};
        bad.obj[bad.n++] = o;
        break;
    }
    }
    sh_scene_sort(&bad);   /* a rejected caption keeps reading order, so order alone does not give it away */
    return caption_of(&bad, lang, buf, cap);
}

/* Fills q's choices with the answer and distinct distractors from words[0..n),
 * the answer at a random slot. */
static void choices_from(ShQuestion *q, ShRng *r, const char *const *words, int n, int answer, int k) {
    int picked[SH_MAX_CHOICES];
    picked[0] = answer;
    for (int i = 1; i < k; i++) {
        int w, dup;
        do {
            w = (int)sh_rng_below(r, (uint32_t)n);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= picked[j] == w;
        } while (dup);
        picked[i] = w;
    }
    int slot = (int)sh_rng_below(r, (uint32_t)k);
    int t = picked[0]; picked[0] = picked[slot]; picked[slot] = t;
    q->n_choices = k;
    q->answer = slot;
    for (int i = 0; i < k; i++) snprintf(q->choices[i], sizeof q->choices[i], "%s", words[picked[i]]);
}

static const char *const where_q[SH_NLANGS] = {"Where is the %s %s?", "Где находится %s %s?"};

/* A uniformly drawn (colour, shape) pair that no object of sc has. */
static void absent_pair(const ShScene *sc, ShRng *r, int *color, int *shape) {
    for (;;) {
        *color = (int)sh_rng_below(r, SH_NCOLORS);
        *shape = (int)sh_rng_below(r, SH_NSHAPES);
        int present = 0;
        for (int i = 0; i < sc->n; i++) present |= sc->obj[i].color == *color && sc->obj[i].shape == *shape;
        if (!present) return;
    }
}

void sh_question_nowhere(const ShScene *sc, ShLang l, ShRng *r, ShQuestion *q) {
    memset(q, 0, sizeof *q);
    q->type = SH_Q_POSITION;
    int color, shape;
    absent_pair(sc, r, &color, &shape);
    snprintf(q->text, sizeof q->text, where_q[l], color_w[l][color],
             shape_w[l][shape]);
    q->n_choices = 1;
    q->answer = 0;
    snprintf(q->choices[0], sizeof q->choices[0], "%s", l == SH_EN ? "nowhere" : "нигде");
}

void sh_question(const ShScene *sc, ShQType type, ShLang l, ShRng *r, ShQuestion *q) {
    memset(q, 0, sizeof *q);
    q->type = type;
    const ShObject *o = &sc->obj[sh_rng_below(r, (uint32_t)sc->n)];
    switch (type) {
    case SH_Q_COLOR:
        snprintf(q->text, sizeof q->text, l == SH_EN ? "What colour is the object %s?" : "Какого цвета объект %s?",
                 cell_phrase(o->cell, l));
        choices_from(q, r, color_w[l], SH_NCOLORS, o->color, 4);
        break;
    case SH_Q_SHAPE:
        snprintf(q->text, sizeof q->text, l == SH_EN ? "What shape is the object %s?" : "Какой формы объект %s?",
                 cell_phrase(o->cell, l));
        choices_from(q, r, shape_w[l], SH_NSHAPES, o->shape, 4);
        break;
    case SH_Q_COUNT: {
        static const char *const nums[SH_MAX_OBJ] = {"1", "2", "3", "4"};
        snprintf(q->text, sizeof q->text, "%s",
                 l == SH_EN ? "How many objects are in the picture?" : "Сколько объектов на картинке?");
        choices_from(q, r, nums, SH_MAX_OBJ, sc->n - 1, 4);
        break;
    }
    case SH_Q_POSITION:
        snprintf(q->text, sizeof q->text, where_q[l],
                 color_w[l][o->color], shape_w[l][o->shape]);
        choices_from(q, r, cell_w[l], SH_NCELLS, o->cell, 4);
        break;
    default: {
        int yes = (int)sh_rng_below(r, 2), color = o->color, shape = o->shape;
        if (!yes) absent_pair(sc, r, &color, &shape);
        if (l == SH_EN)   /* "an orange ...": the only colour word starting with a vowel sound */
            snprintf(q->text, sizeof q->text, "Is there %s %s %s in the picture?",
                     strchr("aeiou", color_w[l][color][0]) ? "an" : "a", color_w[l][color], shape_w[l][shape]);
        else
            snprintf(q->text, sizeof q->text, "Есть ли на картинке %s %s?", color_w[l][color], shape_w[l][shape]);
        q->n_choices = 2;
        snprintf(q->choices[0], sizeof q->choices[0], "%s", l == SH_EN ? "yes" : "да");
        snprintf(q->choices[1], sizeof q->choices[1], "%s", l == SH_EN ? "no" : "нет");
        q->answer = yes ? 0 : 1;
        break;
    }
    }
}

void sh_text_question(ShLang l, ShRng *r, ShQuestion *q) {
    memset(q, 0, sizeof *q);
    q->type = SH_Q_COLOR;
    ShLang other = l == SH_EN ? SH_RU : SH_EN;
    if (sh_rng_below(r, 2)) {
        int c = (int)sh_rng_below(r, SH_NCOLORS);
        snprintf(q->text, sizeof q->text,
                 l == SH_EN ? "How do you say \"%s\" in Russian?" : "Как по-английски «%s»?", color_w[l][c]);
        choices_from(q, r, color_w[other], SH_NCOLORS, c, 4);
    } else {
        q->type = SH_Q_SHAPE;
        int s = (int)sh_rng_below(r, SH_NSHAPES);
        snprintf(q->text, sizeof q->text,
                 l == SH_EN ? "How do you say \"%s\" in Russian?" : "Как по-английски «%s»?", shape_w[l][s]);
        choices_from(q, r, shape_w[other], SH_NSHAPES, s, 4);
    }
}
