/* data/shapes_scene.c — random scenes and their rendering (see shapes.h).
 *
 * Cells are 21x21 pixels inside a 1-pixel margin (3*21 = 63); an object is
 * centred in its cell with half-extent 9 (big) or 5 (small) pixels. Shapes
 * are implicit functions of the offset from the centre, so rendering is exact
 * and needs no drawing library. */
#include "data/shapes.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t palette[SH_NCOLORS][3] = {
    {220, 30, 30},   /* red */
    {30, 170, 40},   /* green */
    {40, 70, 220},   /* blue */
    {240, 220, 30},  /* yellow */
    {150, 40, 190},  /* purple */
    {250, 140, 20},  /* orange */
    {255, 255, 255}, /* white */
    {0, 0, 0},       /* black */
};
#define SH_BG 128
#define SH_CELL 21

void sh_rng_seed(ShRng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull; }

/* splitmix64: tiny, portable, good enough for synthetic data */
uint64_t sh_rng_next(ShRng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t sh_rng_below(ShRng *r, uint32_t n) { return (uint32_t)(((sh_rng_next(r) >> 32) * (uint64_t)n) >> 32); }

/* Objects in reading order (by cell), and captions list them in that order:
 * naming the next object is then a look-up of the next occupied cell, which
 * trains the place look-up that colour and shape questions ("What colour is
 * the object at the top left?") need (~0.9-0.97 against 0.6-0.8 with the
 * objects in random order). Presence needs a look-up by content, which
 * reading-order captions never train; the caption's colour list does
 * (shapes_text.c; train/README.md, "Reading order and a colour list"). */
void sh_scene_sort(ShScene *sc) {
    for (int i = 1; i < sc->n; i++)   /* insertion sort, n <= 4 */
        for (int j = i; j > 0 && sc->obj[j - 1].cell > sc->obj[j].cell; j--) {
            ShObject t = sc->obj[j];
            sc->obj[j] = sc->obj[j - 1];
            sc->obj[j - 1] = t;
        }
}

void sh_scene_random(ShRng *r, ShScene *sc) {
    memset(sc, 0, sizeof *sc);
    sc->n = 1 + (int)sh_rng_below(r, SH_MAX_OBJ);
    int cells[SH_NCELLS];
    for (int i = 0; i < SH_NCELLS; i++) cells[i] = i;
    for (int i = 0; i < sc->n; i++) {   /* partial Fisher-Yates: distinct cells */
        int j = i + (int)sh_rng_below(r, (uint32_t)(SH_NCELLS - i));
        int t = cells[i]; cells[i] = cells[j]; cells[j] = t;
    }
    for (int i = 0; i < sc->n; i++) {
        sc->obj[i].cell = (uint8_t)cells[i];
        sc->obj[i].size = (uint8_t)sh_rng_below(r, SH_NSIZES);
        /* (colour, shape) is unique within a scene, so "the red circle" always
         * names one object */
        for (int dup = 1; dup;) {
            sc->obj[i].shape = (uint8_t)sh_rng_below(r, SH_NSHAPES);
            sc->obj[i].color = (uint8_t)sh_rng_below(r, SH_NCOLORS);
            dup = 0;
            for (int j = 0; j < i; j++)
                dup |= sc->obj[j].shape == sc->obj[i].shape && sc->obj[j].color == sc->obj[i].color;
        }
    }
    sh_scene_sort(sc);
}

/* dx, dy: offset from the centre; e: half-extent */
static int inside(int shape, int dx, int dy, int e) {
    int ax = abs(dx), ay = abs(dy);
    switch (shape) {
    case 0: return dx * dx + dy * dy <= e * e;                     /* circle */
    case 1: return ax <= e && ay <= e;                             /* square */
    case 2: return dy >= -e && dy <= e && 2 * ax <= dy + e;        /* triangle, apex up */
    case 3: return ax + ay <= e;                                   /* diamond */
    default: return (ax <= e / 3 && ay <= e) || (ay <= e / 3 && ax <= e); /* cross */
    }
}

void sh_render(const ShScene *sc, int blank, uint8_t *px) {
    memset(px, SH_BG, (size_t)SH_SIZE * SH_SIZE * 3);
    if (blank) return;
    for (int i = 0; i < sc->n; i++) {
        const ShObject *o = &sc->obj[i];
        int cx = 1 + (o->cell % 3) * SH_CELL + SH_CELL / 2, cy = 1 + (o->cell / 3) * SH_CELL + SH_CELL / 2;
        int e = o->size ? 9 : 5;
        for (int y = cy - e; y <= cy + e; y++)
            for (int x = cx - e; x <= cx + e; x++)
                if (inside(o->shape, x - cx, y - cy, e)) memcpy(px + ((size_t)y * SH_SIZE + x) * 3, palette[o->color], 3);
    }
}
