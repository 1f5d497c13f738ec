/* eval/shapes_eval.c — the shapes demo's held-out accuracy (contract in
 * eval/shapes_eval.h). One question at a time: all its options are scored
 * in one batch (gen_score_options), then once more with a blank image, then
 * a greedy answer is decoded. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/shapes_data.h"
#include "eval/generate.h"
#include "eval/shapes_eval.h"

#define MAX_TOK 256
#define OPEN_MAX_NEW 8   /* longest answer + end tokens */

typedef struct Ctx {
    Vlm *m;
    const LdTextCodec *tc;
    const LdImageCodec *ic;
    Generator g;
    float *px, *px_blank;         /* (3, S, S) normalised */
    uint8_t *u8;                  /* (S, S, 3) */
    LdIds ids, mask;
} Ctx;

/* PNG round trip through the run's image codec, then the loader's normalisation. */
static int image_to_pixels(Ctx *c, const ShScene *sc, int blank, float *out, VStatus *st) {
    uint8_t raw[SH_SIZE * SH_SIZE * 3], *png = NULL;
    size_t n = 0;
    sh_render(sc, blank, raw);
    int rc = sh_png_encode(raw, SH_SIZE, SH_SIZE, &png, &n, st);
    if (!rc) rc = c->ic->load(c->ic->ctx, png, n, c->ic->S, c->u8, st);
    free(png);
    if (rc) return rc;
    int S = c->ic->S;
    size_t plane = (size_t)S * S;
    double rs = c->ic->rescale == (float)(1.0 / 255.0) ? 1.0 / 255.0 : (double)c->ic->rescale;
    for (size_t p = 0; p < plane; p++)
        for (int ch = 0; ch < 3; ch++) {
            volatile float d = (float)((double)c->u8[3 * p + ch] * rs) - c->ic->mean[ch];
            out[ch * plane + p] = d / c->ic->std[ch];
        }
    return 0;
}

/* Renders user(question [+ image]) + assistant(answer); the prompt is every
 * token before the first loss token, the answer the loss tokens. */
static int render(Ctx *c, const char *question, int n_images, const char *answer, int *n_prompt, int *n_answer,
                  VStatus *st) {
    c->ids.n = c->mask.n = 0;
    LdChatMsg msgs[2] = {{LD_USER, question, n_images, 0, NULL}, {LD_ASSISTANT, answer, 0, 0, NULL}};
    int rc = c->tc->render_chat(c->tc->ctx, msgs, 2, c->tc->image_token, c->tc->image_seq_len, &c->ids, &c->mask, st);
    if (rc) return rc;
    size_t i = 0;
    while (i < c->mask.n && !c->mask.v[i]) i++;
    size_t j = i;
    while (j < c->mask.n && c->mask.v[j]) j++;
    if (i == 0 || j == i) return vs_set(st, VS_EINVAL, "shapes eval: chat template gave no prompt or no answer");
    if (j > MAX_TOK) return vs_set(st, VS_EINVAL, "shapes eval: question of %zu tokens", j);
    *n_prompt = (int)i;
    *n_answer = (int)(j - i);
    return 0;
}

/* Scores one question: *mc, *blank_ok, *open_ok are 0/1. */
static int ask(Ctx *c, const ShQuestion *q, const ShScene *sc, int mc_only, int *mc, int *blank_ok, int *open_ok,
               VStatus *st) {
    int n_img = sc ? 1 : 0, n_prompt = 0, n_ans = 0;
    int32_t prompt[MAX_TOK], opt_tok[SH_MAX_CHOICES][MAX_TOK];
    const int32_t *opts[SH_MAX_CHOICES];
    int opt_len[SH_MAX_CHOICES];
    for (int k = 0; k < q->n_choices; k++) {
        int np = 0;
        int rc = render(c, q->text, n_img, q->choices[k], &np, &n_ans, st);
        if (rc) return rc;
        if (k == 0) {
            n_prompt = np;
            for (int i = 0; i < np; i++) prompt[i] = c->ids.v[i];
        } else if (np != n_prompt || memcmp(prompt, c->ids.v, (size_t)np * sizeof(int32_t))) {
            return vs_set(st, VS_EINVAL, "shapes eval: options change the prompt's tokens ('%s')", q->text);
        }
        memcpy(opt_tok[k], c->ids.v + np, (size_t)n_ans * sizeof(int32_t));
        opts[k] = opt_tok[k];
        opt_len[k] = n_ans;
    }
    int rc = 0;
    if (sc && (rc = image_to_pixels(c, sc, 0, c->px, st))) return rc;
    GenPrompt p = {.ids = prompt, .n = n_prompt, .n_images = n_img, .pixels = c->px};
    double lp[SH_MAX_CHOICES];
    if ((rc = gen_score_options(&c->g, &p, opts, opt_len, q->n_choices, lp, st))) return rc;
    int best = 0;
    for (int k = 1; k < q->n_choices; k++) best = lp[k] > lp[best] ? k : best;
    *mc = best == q->answer;
    *blank_ok = *open_ok = 0;
    if (mc_only) return 0;
    if (sc) {
        GenPrompt pb = p;
        pb.pixels = c->px_blank;
        if ((rc = gen_score_options(&c->g, &pb, opts, opt_len, q->n_choices, lp, st))) return rc;
        best = 0;
        for (int k = 1; k < q->n_choices; k++) best = lp[k] > lp[best] ? k : best;
        *blank_ok = best == q->answer;
    }
    /* open answer: the greedy continuation is the right answer's tokens and its end token */
    return gen_greedy_matches(&c->g, &p, opt_tok[q->answer], opt_len[q->answer], open_ok, st);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int sh_eval(Vlm *m, const LdTextCodec *tc, const LdImageCodec *ic, uint64_t seed, int per_cell, int mc_only,
            ShEvalResult *r, VStatus *st) {
    memset(r, 0, sizeof *r);
    if (per_cell < 1) return vs_set(st, VS_EINVAL, "shapes eval: per_cell must be >= 1");
    if (!m->cfg.has_vision) return vs_set(st, VS_EINVAL, "shapes eval: the model has no vision encoder");
    if (ic->S != m->cfg.vis.image_size)
        return vs_set(st, VS_EINVAL, "shapes eval: image codec size %d != model image size %d", ic->S, m->cfg.vis.image_size);
    double t0 = now_s();
    Ctx c = {.m = m, .tc = tc, .ic = ic};
    size_t plane = (size_t)ic->S * ic->S;
    c.px = malloc(3 * plane * sizeof(float));
    c.px_blank = malloc(3 * plane * sizeof(float));
    c.u8 = malloc(3 * plane);
    int rc = !c.px || !c.px_blank || !c.u8 ? vs_set(st, VS_ENOMEM, "shapes eval: out of memory") : 0;
    if (!rc) rc = gen_open(&c.g, m, MAX_TOK + OPEN_MAX_NEW, SH_MAX_CHOICES, 1, st);
    if (!rc) rc = image_to_pixels(&c, NULL, 1, c.px_blank, st);
    int total = per_cell * SH_NQTYPES * SH_NLANGS;
    for (int i = 0; i < total && !rc; i++) {
        ShScene sc;
        ShQuestion q;
        ShLang l;
        sh_heldout_item(seed, i, &sc, &q, &l);
        int mc, bl, op;
        if ((rc = ask(&c, &q, &sc, mc_only, &mc, &bl, &op, st))) break;
        ShEvalCell *e = &r->cell[q.type][l];
        e->n++;
        e->mc += mc;
        e->blank += bl;
        e->open += op;
        e->chance += 1.0 / q.n_choices;
    }
    for (int i = 0; i < per_cell * SH_NLANGS && !rc; i++) {
        ShQuestion q;
        ShLang l;
        sh_heldout_text_item(seed, i, &q, &l);
        int mc, bl, op;
        if ((rc = ask(&c, &q, NULL, mc_only, &mc, &bl, &op, st))) break;
        ShEvalCell *e = &r->text[l];
        e->n++;
        e->mc += mc;
        e->open += op;
        e->chance += 1.0 / q.n_choices;
    }
    for (int t = 0; t < SH_NQTYPES + 1; t++)
        for (int l = 0; l < SH_NLANGS; l++) {
            ShEvalCell *e = t < SH_NQTYPES ? &r->cell[t][l] : &r->text[l];
            if (!e->n) continue;
            e->mc /= e->n;
            e->blank /= e->n;
            e->open /= e->n;
            e->chance /= e->n;
        }
    gen_close(&c.g);
    free(c.px);
    free(c.px_blank);
    free(c.u8);
    ld_ids_free(&c.ids);
    ld_ids_free(&c.mask);
    r->seconds = now_s() - t0;
    return rc;
}

double sh_eval_csp(const ShEvalResult *r) {
    static const ShQType csp[3] = {SH_Q_COLOR, SH_Q_SHAPE, SH_Q_PRESENCE};
    double s = 0;
    int n = 0;
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < SH_NLANGS; l++) {
            s += r->cell[csp[k]][l].mc * r->cell[csp[k]][l].n;
            n += r->cell[csp[k]][l].n;
        }
    return n ? s / n : 0;
}

void sh_eval_print(const ShEvalResult *r, FILE *f) {
    fprintf(f, "held-out accuracy (%d questions per cell; mc: best option by log-likelihood, blank: the same model\n"
               "fed blank images, open: greedy answer exact match)\n",
            r->cell[0][0].n);
    fprintf(f, "  %-9s %-4s %6s %7s %6s %8s %6s\n", "type", "lang", "mc", "chance", "blank", "mc-blank", "open");
    double gap_min = 1;
    for (int t = 0; t < SH_NQTYPES; t++) {
        double mc = 0, bl = 0;
        for (int l = 0; l < SH_NLANGS; l++) {
            const ShEvalCell *e = &r->cell[t][l];
            fprintf(f, "  %-9s %-4s %6.3f %7.3f %6.3f %+8.3f %6.3f\n", sh_qtype_name((ShQType)t), sh_lang_name((ShLang)l),
                    e->mc, e->chance, e->blank, e->mc - e->blank, e->open);
            mc += e->mc / SH_NLANGS;
            bl += e->blank / SH_NLANGS;
        }
        gap_min = mc - bl < gap_min ? mc - bl : gap_min;
    }
    for (int l = 0; l < SH_NLANGS; l++)
        fprintf(f, "  %-9s %-4s %6.3f %7.3f %6s %8s %6.3f\n", "text-only", sh_lang_name((ShLang)l), r->text[l].mc,
                r->text[l].chance, "-", "-", r->text[l].open);
    fprintf(f, "colour+shape+presence mc accuracy %.3f (target >= 0.80); smallest per-type gap over blank %+.3f "
               "(target >= +0.25); eval %.1f s\n",
            sh_eval_csp(r), gap_min, r->seconds);
}

double sh_eval_type_mc(const ShEvalResult *r, int t) {
    double s = 0;
    for (int l = 0; l < SH_NLANGS; l++) s += (t < SH_NQTYPES ? r->cell[t][l] : r->text[l]).mc;
    return s / SH_NLANGS;
}

void sh_eval_print_line(const ShEvalResult *r, FILE *f) {
    for (int t = 0; t < SH_NQTYPES; t++) fprintf(f, "%s %.2f ", sh_qtype_name((ShQType)t), sh_eval_type_mc(r, t));
    fprintf(f, "text-only %.2f csp %.3f (%d per cell, %.1f s)\n", sh_eval_type_mc(r, SH_NQTYPES), sh_eval_csp(r),
            r->cell[0][0].n, r->seconds);
}

char *sh_eval_json(const ShEvalResult *r) {
    json_t *j = json_object();
    for (int t = 0; t < SH_NQTYPES + 1; t++)
        for (int l = 0; l < SH_NLANGS; l++) {
            const ShEvalCell *e = t < SH_NQTYPES ? &r->cell[t][l] : &r->text[l];
            char key[64];
            snprintf(key, sizeof key, "%s_%s", t < SH_NQTYPES ? sh_qtype_name((ShQType)t) : "text", sh_lang_name((ShLang)l));
            json_object_set_new(j, key, json_pack("{s:i, s:f, s:f, s:f, s:f}", "n", e->n, "mc", e->mc, "blank", e->blank,
                                                  "open", e->open, "chance", e->chance));
        }
    json_object_set_new(j, "csp_mc", json_real(sh_eval_csp(r)));
    json_object_set_new(j, "seconds", json_real(r->seconds));
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}
