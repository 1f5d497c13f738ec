/* The shapes world: determinism, rendering matches the scene, texts name what
 * is drawn, questions' answers are consistent with the scene. */
#include "data/shapes.h"
#include "test.h"

static void test_deterministic(void) {
    ShRng a, b;
    sh_rng_seed(&a, 42);
    sh_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) {
        ShScene x, y;
        sh_scene_random(&a, &x);
        sh_scene_random(&b, &y);
        CHECK(memcmp(&x, &y, sizeof x) == 0, "scene %d differs for the same seed", i);
    }
    ShRng c;
    sh_rng_seed(&c, 43);
    ShScene x, y;
    sh_scene_random(&a, &x);
    sh_scene_random(&c, &y);
    int same = 0;
    for (int i = 0; i < 20; i++) {
        sh_scene_random(&a, &x);
        sh_scene_random(&c, &y);
        same += memcmp(&x, &y, sizeof x) == 0;
    }
    CHECK(same < 5, "different seeds gave %d identical scenes of 20", same);
}

static void test_scene_invariants(void) {
    ShRng r;
    sh_rng_seed(&r, 7);
    int count_hist[SH_MAX_OBJ + 1] = {0}, first_cell[SH_NCELLS] = {0};
    for (int i = 0; i < 2000; i++) {
        ShScene s;
        sh_scene_random(&r, &s);
        CHECK(s.n >= 1 && s.n <= SH_MAX_OBJ);
        count_hist[s.n]++;
        first_cell[s.obj[0].cell]++;
        for (int a = 1; a < s.n; a++)   /* reading order */
            CHECK(s.obj[a - 1].cell < s.obj[a].cell, "scene %d: object %d in cell %d after cell %d", i, a,
                  s.obj[a].cell, s.obj[a - 1].cell);
        for (int a = 0; a < s.n; a++) {
            CHECK(s.obj[a].color < SH_NCOLORS && s.obj[a].shape < SH_NSHAPES && s.obj[a].cell < SH_NCELLS);
            for (int b = a + 1; b < s.n; b++) {
                CHECK(s.obj[a].cell != s.obj[b].cell, "cells distinct");
                CHECK(!(s.obj[a].color == s.obj[b].color && s.obj[a].shape == s.obj[b].shape));
            }
        }
    }
    for (int n = 1; n <= SH_MAX_OBJ; n++) CHECK(count_hist[n] > 400, "count %d seen %d times of 2000", n, count_hist[n]);
    for (int c = 0; c < SH_NCELLS - 1; c++)   /* the sort orders cells, it does not move objects to the first one */
        CHECK(first_cell[c] > 20, "the first object is in cell %d only %d times of 2000", c, first_cell[c]);
}

static void test_render(void) {
    ShRng r;
    sh_rng_seed(&r, 3);
    static uint8_t px[SH_SIZE * SH_SIZE * 3];
    for (int i = 0; i < 50; i++) {
        ShScene s;
        sh_scene_random(&r, &s);
        sh_render(&s, 0, px);
        for (int k = 0; k < s.n; k++) {
            /* every shape covers its cell's centre pixel */
            int cx = 1 + (s.obj[k].cell % 3) * 21 + 10, cy = 1 + (s.obj[k].cell / 3) * 21 + 10;
            const uint8_t *p = px + ((size_t)cy * SH_SIZE + cx) * 3;
            CHECK(!(p[0] == 128 && p[1] == 128 && p[2] == 128), "object %d not drawn", k);
        }
        /* empty cells stay background */
        for (int c = 0; c < SH_NCELLS; c++) {
            int used = 0;
            for (int k = 0; k < s.n; k++) used |= s.obj[k].cell == c;
            if (used) continue;
            int cx = 1 + (c % 3) * 21 + 10, cy = 1 + (c / 3) * 21 + 10;
            CHECK(px[((size_t)cy * SH_SIZE + cx) * 3] == 128);
        }
        sh_render(&s, 1, px);
        int nonbg = 0;
        for (size_t j = 0; j < sizeof px; j++) nonbg += px[j] != 128;
        CHECK(nonbg == 0, "blank render has %d non-background bytes", nonbg);
    }
}

static void test_texts(void) {
    ShScene s = {2, {{0, 0, 1, 0}, {1, 2, 0, 4}}};
    char buf[512];
    sh_caption(&s, SH_EN, buf, sizeof buf);
    CHECK(strcmp(buf, "a big red circle at the top left and a small blue square in the center. Colours: red, blue.") ==
              0, "%s", buf);
    sh_caption(&s, SH_RU, buf, sizeof buf);
    CHECK(strcmp(buf, "большой красный круг вверху слева и маленький синий квадрат в центре. Цвета: красный, синий.") ==
              0, "%s", buf);
    /* objects follow the scene's order; the colour list the world's colour order */
    ShScene back = {3, {s.obj[1], s.obj[0], {2, 2, 0, 8}}};
    sh_caption(&back, SH_EN, buf, sizeof buf);
    CHECK(strcmp(buf, "a small blue square in the center, a big red circle at the top left and a small blue triangle "
                      "at the bottom right. Colours: red, blue.") == 0, "%s", buf);
    ShRng r;
    sh_rng_seed(&r, 1);
    int extra_first = 0;
    ShScene mid = {2, {{1, 2, 0, 4}, {0, 0, 1, 8}}};   /* center, bottom right */
    for (int i = 0; i < 200; i++) {
        char bad[512];
        sh_caption_corrupt(&mid, (ShLang)(i % 2), &r, bad, sizeof bad);
        sh_caption(&mid, (ShLang)(i % 2), buf, sizeof buf);
        CHECK(strcmp(bad, buf) != 0, "corrupted caption equals the true one: %s", bad);
        if (i % 2) continue;
        /* the corrupted scene is in reading order too: a hallucinated object in
         * cells 0-3 comes first, nothing follows the bottom right */
        extra_first += strstr(bad, "a small blue square in the center") > bad &&
                       strstr(bad, "a big red circle at the bottom right") > bad;
        CHECK(!strstr(bad, "at the bottom right,") && !strstr(bad, "at the bottom right and"), "%s", bad);
        CHECK(strstr(bad, ". Colours: "), "%s", bad);
    }
    CHECK(extra_first > 0, "a hallucinated object was never listed first");
    /* truncation never overflows */
    char tiny[8];
    size_t n = sh_caption(&s, SH_RU, tiny, sizeof tiny);
    CHECK(n < sizeof tiny && tiny[n] == 0);
}

/* Is w one word of the world's vocabulary in language l? */
static int vocab_word(const char *w, ShLang l) {
    static const char *const extra[] = {"small", "big", "маленький", "большой", "1", "2", "3", "4", "yes", "no", "да", "нет"};
    for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
        if (!strcmp(w, extra[k])) return 1;
    for (int c = 0; c < SH_NCOLORS; c++)
        if (!strcmp(w, sh_color_word(c, l))) return 1;
    for (int c = 0; c < SH_NSHAPES; c++)
        if (!strcmp(w, sh_shape_word(c, l))) return 1;
    for (int c = 0; c < SH_NCELLS; c++) {   /* cell names are one or two words */
        char cell[64];
        snprintf(cell, sizeof cell, "%s", sh_cell_words(c, l));
        for (char *save = NULL, *t = strtok_r(cell, " ", &save); t; t = strtok_r(NULL, " ", &save))
            if (!strcmp(w, t)) return 1;
    }
    return 0;
}

static void test_repeat_words(void) {
    ShRng r, r2;
    sh_rng_seed(&r, 3);
    sh_rng_seed(&r2, 3);
    int shortest = 99, longest = 0;
    for (int i = 0; i < 400; i++) {
        ShLang l = (ShLang)(i % 2);
        char buf[512], again[512];
        size_t n = sh_repeat_words(l, &r, buf, sizeof buf);
        sh_repeat_words(l, &r2, again, sizeof again);
        CHECK(n == strlen(buf) && !strcmp(buf, again), "same seed, same words: %s", buf);
        int words = 0;
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save), words++)
            CHECK(vocab_word(t, l), "'%s' is not a word of the shapes world (%s)", t, sh_lang_name(l));
        /* an item is one word, or two for a cell name like "top left" */
        CHECK(words >= SH_REPEAT_MIN && words <= 2 * SH_REPEAT_MAX, "%d words", words);
        shortest = words < shortest ? words : shortest;
        longest = words > longest ? words : longest;
    }
    CHECK(shortest <= SH_REPEAT_MIN + 1 && longest > SH_REPEAT_MAX, "lengths %d..%d", shortest, longest);
    char tiny[8];
    size_t n = sh_repeat_words(SH_RU, &r, tiny, sizeof tiny);
    CHECK(n < sizeof tiny && tiny[n] == 0, "truncation stays inside the buffer");
}

static void test_questions(void) {
    ShRng r;
    sh_rng_seed(&r, 11);
    for (int i = 0; i < 500; i++) {
        ShScene s;
        sh_scene_random(&r, &s);
        for (int t = 0; t < SH_NQTYPES; t++) {
            ShQuestion q;
            ShLang l = (ShLang)(i % 2);
            sh_question(&s, (ShQType)t, l, &r, &q);
            CHECK(q.answer >= 0 && q.answer < q.n_choices);
            for (int a = 0; a < q.n_choices; a++)
                for (int b = a + 1; b < q.n_choices; b++) CHECK(strcmp(q.choices[a], q.choices[b]) != 0);
            if (t == SH_Q_COUNT) CHECK(q.choices[q.answer][0] == '0' + s.n);
            if (t == SH_Q_PRESENCE) {
                /* the asked pair is in the text; yes iff present */
                int present = 0;
                for (int k = 0; k < s.n; k++) {
                    char pair[160];
                    snprintf(pair, sizeof pair, " %s %s ", sh_color_word(s.obj[k].color, l), sh_shape_word(s.obj[k].shape, l));
                    present |= strstr(q.text, pair) != NULL;
                }
                if (l == SH_RU) continue; /* RU text ends with "?" right after the shape */
                CHECK(present == (q.answer == 0), "%s -> %s", q.text, q.choices[q.answer]);
            }
        }
    }
}

/* The training-only "nowhere" question names a pair that is not in the scene. */
static void test_nowhere(void) {
    ShRng r;
    sh_rng_seed(&r, 12);
    for (int i = 0; i < 500; i++) {
        ShScene s;
        sh_scene_random(&r, &s);
        ShLang l = (ShLang)(i % 2);
        ShQuestion q;
        sh_question_nowhere(&s, l, &r, &q);
        CHECK(q.type == SH_Q_POSITION && q.n_choices == 1 && q.answer == 0);
        CHECK(!strcmp(q.choices[0], l == SH_EN ? "nowhere" : "нигде"), "%s", q.choices[0]);
        CHECK(!strncmp(q.text, l == SH_EN ? "Where is the " : "Где находится ", l == SH_EN ? 13 : 26), "%s", q.text);
        for (int k = 0; k < s.n; k++) {
            char pair[160];
            snprintf(pair, sizeof pair, " %s %s?", sh_color_word(s.obj[k].color, l), sh_shape_word(s.obj[k].shape, l));
            CHECK(strstr(q.text, pair) == NULL, "%s asks for object %d, which is there", q.text, k);
        }
    }
}

TEST_MAIN({"deterministic", test_deterministic}, {"scene_invariants", test_scene_invariants}, {"render", test_render},
          {"texts", test_texts}, {"repeat_words", test_repeat_words}, {"questions", test_questions},
          {"nowhere", test_nowhere})
