/* data/ld_pack.c — greedy packing in order, and a rank's cut of a global batch.
 *
 * Packing keeps the sample order: a piece goes into the current row group if
 * it fits, else the group is closed (rest is padding) and the next one opens;
 * when no group is left the batch is full and the piece waits for the next
 * batch. Within a row each piece gets pos 0..len-1, its own doc entry, and
 * targets[t] = tokens[t+1] when token t+1 of the same piece carries loss. */
#include <stdlib.h>
#include <string.h>

#include "data/ld_pack.h"

static void *grow(void *p, int *cap, int need, size_t elt) {
    if (need <= *cap) return p;
    while (*cap < need) *cap = *cap ? *cap * 2 : 16;
    p = realloc(p, (size_t)*cap * elt);
    VLMC_ASSERT(p != NULL, "out of memory");
    return p;
}

void ld_gb_reset(LdGBatch *g, int64_t step) {
    size_t n = (size_t)g->rows * g->T;
    for (size_t i = 0; i < n; i++) {
        g->tok[i] = g->pad;
        g->tgt[i] = -1;
        g->pos[i] = 0;
        g->doc[i] = -1;
    }
    for (int r = 0; r < g->rows; r++) {
        g->pair[r] = g->group == 2 ? r / 2 : -1;
        g->fill[r] = 0;
    }
    g->cur = 0;
    g->n_docs = g->n_img = g->n_span = 0;
    g->step = step;
    g->state_after[0] = 0;
}

void ld_gb_init(LdGBatch *g, int rows, int T, int group, int S, int32_t pad, int64_t step) {
    memset(g, 0, sizeof *g);
    g->rows = rows;
    g->T = T;
    g->group = group;
    g->S = S;
    g->pad = pad;
    size_t n = (size_t)rows * T;
    g->tok = malloc(n * sizeof *g->tok);
    g->tgt = malloc(n * sizeof *g->tgt);
    g->pos = malloc(n * sizeof *g->pos);
    g->doc = malloc(n * sizeof *g->doc);
    g->pair = malloc((size_t)rows * sizeof *g->pair);
    g->fill = calloc((size_t)rows, sizeof *g->fill);
    VLMC_ASSERT(g->tok && g->tgt && g->pos && g->doc && g->pair && g->fill, "out of memory");
    ld_gb_reset(g, step);
}

void ld_gb_free(LdGBatch *g) {
    free(g->tok);
    free(g->tgt);
    free(g->pos);
    free(g->doc);
    free(g->pair);
    free(g->fill);
    free(g->docs);
    free(g->px);
    free(g->spans);
    memset(g, 0, sizeof *g);
}

int ld_gb_empty(const LdGBatch *g) { return g->n_docs == 0; }

int ld_pack_pieces(const LdSample *s, int T, int split_ok, int64_t *a, int64_t *b, int max) {
    if (s->n_seq == 2) {
        if ((int64_t)s->seq[0].tok.n > T || (int64_t)s->seq[1].tok.n > T) return 0;
        a[0] = 0;
        b[0] = (int64_t)s->seq[0].tok.n;
        return 1;
    }
    const LdSeq *q = &s->seq[0];
    int64_t n = (int64_t)q->tok.n, at = 0;
    int np = 0;
    if (n <= T) {
        a[0] = 0;
        b[0] = n;
        return 1;
    }
    if (!split_ok) return 0;
    while (at < n) {
        if (np == max) return 0;
        int64_t lim = at + T, best = -1;
        if (n <= lim) best = n;
        else
            for (int r = 0; r < q->n_runs; r++) {   /* largest run edge in (at, lim] */
                int64_t e1 = q->runs[r].start, e2 = e1 + q->runs[r].len;
                if (e2 > at && e2 <= lim && e2 > best) best = e2;
                if (e1 > at && e1 <= lim && e1 > best) best = e1;
            }
        if (best < 0) {
            for (int r = 0; r < q->n_runs; r++)   /* a run starting here longer than a row */
                if (q->runs[r].start == at && q->runs[r].len > T) return 0;
            best = lim;
        }
        a[np] = at;
        b[np++] = best;
        at = best;
    }
    return np;
}

/* writes tokens [a, b) of q at row r from its fill, as doc d; images: the
 * sample's image i is batch image img0 + i */
static void put(LdGBatch *g, int r, const LdSeq *q, int64_t a, int64_t b, int d, int img0) {
    int32_t *tok = g->tok + (size_t)r * g->T, *tgt = g->tgt + (size_t)r * g->T;
    int32_t *pos = g->pos + (size_t)r * g->T, *doc = g->doc + (size_t)r * g->T;
    int o = g->fill[r];
    for (int64_t i = a; i < b; i++) {
        int t = o + (int)(i - a);
        tok[t] = q->tok.v[i];
        tgt[t] = i + 1 < b && q->loss.v[i + 1] ? q->tok.v[i + 1] : -1;
        pos[t] = (int32_t)(i - a);
        doc[t] = d;
    }
    for (int k = 0; k < q->n_runs; k++) {
        const LdRun *ru = &q->runs[k];
        if (ru->start < a || ru->start >= b) continue;
        g->spans = grow(g->spans, &g->cap_span, g->n_span + 1, sizeof *g->spans);
        g->spans[g->n_span++] = (LdSpan){img0 + ru->img, r, o + (int32_t)(ru->start - a), ru->len};
    }
    g->fill[r] = o + (int)(b - a);
}

int ld_gb_place(LdGBatch *g, const LdSample *s, int64_t a, int64_t b, LdDoc d) {
    int n_groups = g->rows / g->group;
    for (;;) {
        if (g->cur >= n_groups) return 1;
        int fits = 1;
        for (int k = 0; k < g->group; k++) {
            int64_t len = s->n_seq == 2 ? (int64_t)s->seq[k].tok.n : b - a;
            if (g->fill[g->cur * g->group + k] + len > g->T) fits = 0;
        }
        if (fits) break;
        g->cur++;
    }
    /* images used by this piece (all of a DPO sample's; else those with a run inside) */
    int img0 = g->n_img, used_lo = s->n_img, used_hi = -1;
    for (int k = 0; k < s->n_seq; k++)
        for (int r = 0; r < s->seq[k].n_runs; r++) {
            const LdRun *ru = &s->seq[k].runs[r];
            if (s->n_seq == 1 && (ru->start < a || ru->start >= b)) continue;
            if (ru->img < used_lo) used_lo = ru->img;
            if (ru->img > used_hi) used_hi = ru->img;
        }
    size_t isz = (size_t)g->S * g->S * 3;
    if (used_hi >= used_lo) {
        int n = used_hi - used_lo + 1;
        g->px = grow(g->px, &g->cap_img, g->n_img + n, isz);
        memcpy(g->px + (size_t)g->n_img * isz, s->px + (size_t)used_lo * isz, (size_t)n * isz);
        g->n_img += n;
        img0 -= used_lo;
    }
    g->docs = grow(g->docs, &g->cap_docs, g->n_docs + 1, sizeof *g->docs);
    int di = g->n_docs;
    g->docs[g->n_docs++] = d;
    for (int k = 0; k < g->group; k++) {
        const LdSeq *q = &s->seq[s->n_seq == 2 ? k : 0];
        if (s->n_seq == 2) put(g, g->cur * g->group + k, q, 0, (int64_t)q->tok.n, di, img0);
        else put(g, g->cur * g->group + k, q, a, b, di, img0);
    }
    return 0;
}

void ld_gb_cut(const LdGBatch *g, int rank, int world, const LdImageCodec *ic, LdBatch *out) {
    int n_groups = g->rows / g->group, mine = 0;
    for (int gi = rank; gi < n_groups; gi += world) mine++;
    int B = mine * g->group, T = g->T;
    if (out->B != B || out->T != T) {
        size_t n = (size_t)B * T;
        out->tokens = realloc(out->tokens, n * sizeof(int32_t) + 1);
        out->targets = realloc(out->targets, n * sizeof(int32_t) + 1);
        out->pos = realloc(out->pos, n * sizeof(int32_t) + 1);
        out->doc = realloc(out->doc, n * sizeof(int32_t) + 1);
        out->pair = realloc(out->pair, (size_t)B * sizeof(int32_t) + 1);
        VLMC_ASSERT(out->tokens && out->targets && out->pos && out->doc && out->pair, "out of memory");
        out->B = B;
        out->T = T;
    }
    int *doc_map = malloc((size_t)(g->n_docs + 1) * sizeof *doc_map);
    int *img_map = malloc((size_t)(g->n_img + 1) * sizeof *img_map);
    int *row_map = malloc((size_t)(g->rows + 1) * sizeof *row_map);
    VLMC_ASSERT(doc_map && img_map && row_map, "out of memory");
    for (int i = 0; i < g->n_docs; i++) doc_map[i] = -1;
    for (int i = 0; i < g->n_img; i++) img_map[i] = -1;
    for (int i = 0; i < g->rows; i++) row_map[i] = -1;
    int nd = 0, ni = 0, ns = 0, ob = 0;
    out->n_loss = 0;
    out->docs = realloc(out->docs, (size_t)(g->n_docs + 1) * sizeof *out->docs);
    VLMC_ASSERT(out->docs != NULL, "out of memory");
    for (int gi = rank; gi < n_groups; gi += world)
        for (int k = 0; k < g->group; k++, ob++) {
            int r = gi * g->group + k;
            row_map[r] = ob;
            size_t src = (size_t)r * T, dst = (size_t)ob * T;
            memcpy(out->tokens + dst, g->tok + src, (size_t)T * sizeof(int32_t));
            memcpy(out->targets + dst, g->tgt + src, (size_t)T * sizeof(int32_t));
            memcpy(out->pos + dst, g->pos + src, (size_t)T * sizeof(int32_t));
            for (int t = 0; t < T; t++) {
                int d = g->doc[src + t];
                if (d >= 0 && doc_map[d] < 0) {
                    doc_map[d] = nd;
                    out->docs[nd++] = g->docs[d];
                }
                out->doc[dst + t] = d < 0 ? -1 : doc_map[d];
                out->n_loss += g->tgt[src + t] >= 0;
            }
            out->pair[ob] = g->group == 2 ? g->pair[r] : -1;
        }
    out->n_docs = nd;
    out->spans = realloc(out->spans, (size_t)(g->n_span + 1) * sizeof *out->spans);
    VLMC_ASSERT(out->spans != NULL, "out of memory");
    for (int i = 0; i < g->n_span; i++) {
        const LdSpan *sp = &g->spans[i];
        if (row_map[sp->row] < 0) continue;
        if (img_map[sp->img] < 0) img_map[sp->img] = ni++;
        out->spans[ns++] = (LdSpan){img_map[sp->img], row_map[sp->row], sp->start, sp->len};
    }
    out->n_span = ns;
    int S = g->S;
    size_t plane = (size_t)S * S;
    out->pixels = realloc(out->pixels, (size_t)ni * 3 * plane * sizeof(float) + 1);
    VLMC_ASSERT(out->pixels != NULL, "out of memory");
    /* (u8 * rescale - mean) / std with the arithmetic of the HF processors
     * (and data/image_preprocess.c): float32((double)v * rescale), then float32
     * steps; 1/255 is taken at double precision, as Python has it. 256 inputs
     * per channel: a table. */
    float lut[3][256];
    double rs = ic->rescale == (float)(1.0 / 255.0) ? 1.0 / 255.0 : (double)ic->rescale;
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            volatile float d = (float)((double)v * rs) - ic->mean[c];
            lut[c][v] = d / ic->std[c];
        }
    for (int i = 0; i < g->n_img; i++) {
        if (img_map[i] < 0) continue;
        const uint8_t *px = g->px + (size_t)i * plane * 3;
        float *o = out->pixels + (size_t)img_map[i] * 3 * plane;
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++) o[c * plane + p] = lut[c][px[3 * p + c]];
    }
    out->n_img = ni;
    out->S = S;
    out->step = g->step;
    free(doc_map);
    free(img_map);
    free(row_map);
}

void ld_batch_free(LdBatch *b) {
    free(b->tokens);
    free(b->targets);
    free(b->pos);
    free(b->doc);
    free(b->pair);
    free(b->pixels);
    free(b->spans);
    free(b->docs);
    memset(b, 0, sizeof *b);
}
