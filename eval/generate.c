/* eval/generate.c — greedy decoding and multiple-choice scoring without a KV
 * cache (contract in eval/generate.h). Each call builds one VlmBatch in the
 * Generator's host buffers and runs vlm_logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/generate.h"

int gen_open(Generator *g, Vlm *m, int max_len, int max_rows, int max_images, VStatus *st) {
    memset(g, 0, sizeof *g);
    if (max_len < 2 || max_rows < 1 || max_images < 0)
        return vs_set(st, VS_EINVAL, "generate: bad sizes (len %d, rows %d, images %d)", max_len, max_rows, max_images);
    g->m = m;
    g->max_len = max_len;
    g->max_rows = max_rows;
    g->max_images = max_images;
    const VlmConfig *c = &m->cfg;
    size_t N = (size_t)max_len * (size_t)max_rows, tpi = c->has_vision ? (size_t)mcfg_tokens_per_image(c) : 0;
    size_t S = c->has_vision ? (size_t)c->vis.image_size : 0, imgs = (size_t)max_images * (size_t)max_rows;
    g->tokens = malloc(N * sizeof(int32_t));
    g->pos = malloc(N * sizeof(int32_t));
    g->targets = malloc(N * sizeof(int32_t));
    g->img_rows = malloc((imgs * tpi + 1) * sizeof(int32_t));
    g->pixels = malloc((imgs * 3 * S * S + 1) * sizeof(float));
    g->logits = malloc(N * (size_t)c->llm.vocab * sizeof(float));
    if (!g->tokens || !g->pos || !g->targets || !g->img_rows || !g->pixels || !g->logits) {
        gen_close(g);
        return vs_set(st, VS_ENOMEM, "generate: out of memory for %zu rows x vocab %d", N, c->llm.vocab);
    }
    /* backends with reserved buffers (cuda): room for the largest forward */
    if (vlm_ensure_acts(m, max_rows, max_len, c->has_vision ? (int64_t)imgs : 0, 0, st)) {
        gen_close(g);
        return vs_prefix(st, "generate");
    }
    return 0;
}

void gen_close(Generator *g) {
    free(g->tokens);
    free(g->pos);
    free(g->targets);
    free(g->img_rows);
    free(g->pixels);
    free(g->logits);
    memset(g, 0, sizeof *g);
}

double gen_log_softmax_at(const float *logits, int V, int tok) {
    double mx = -INFINITY, s = 0;
    for (int v = 0; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
    for (int v = 0; v < V; v++) s += exp((double)logits[v] - mx);
    return (double)logits[tok] - mx - log(s);
}

/* Finds the image placeholders of row r (tokens[r*T .. r*T+len)) and writes
 * their flat rows into img_rows in order, tpi per image (image k of this row
 * -> slot base + k). Placeholders need not be contiguous: a tagged layout
 * (data/loader.h, ld_text_codec_tagged) puts a tag before each one. */
static int find_runs(Generator *g, int r, int T, int len, int n_images, int img_base, VStatus *st) {
    const VlmConfig *c = &g->m->cfg;
    if (!c->has_vision) {
        if (n_images) return vs_set(st, VS_EINVAL, "generate: %d images for a text-only model", n_images);
        return 0;
    }
    int tpi = mcfg_tokens_per_image(c), k = 0;
    const int32_t *t = g->tokens + (size_t)r * T;
    for (int i = 0; i < len; i++) {
        if (t[i] != c->image_token_id) continue;
        if (k >= n_images * tpi)
            return vs_set(st, VS_EINVAL, "generate: more than %d image placeholders for %d images of %d tokens",
                          n_images * tpi, n_images, tpi);
        g->img_rows[(size_t)img_base * tpi + k++] = r * T + i;
    }
    if (k != n_images * tpi)
        return vs_set(st, VS_EINVAL, "generate: %d image placeholders for %d images of %d tokens (the model uses %d)", k,
                      n_images, tpi, tpi);
    return 0;
}

/* Rows [0, B) of T tokens are in g->tokens (row r valid up to len[r]); runs the logits. */
static int run_rows(Generator *g, const GenPrompt *p, int B, int T, const int *len, VStatus *st) {
    const VlmConfig *c = &g->m->cfg;
    size_t S = c->has_vision ? (size_t)c->vis.image_size : 0, per = 3 * S * S;
    for (int r = 0; r < B; r++) {
        for (int t = 0; t < T; t++) {
            g->pos[(size_t)r * T + t] = t;
            g->targets[(size_t)r * T + t] = -1;
        }
        int rc = find_runs(g, r, T, len[r], p->n_images, r * p->n_images, st);
        if (rc) return rc;
        if (p->n_images) memcpy(g->pixels + (size_t)r * p->n_images * per, p->pixels, (size_t)p->n_images * per * sizeof(float));
    }
    VlmBatch b = {.B = B, .T = T, .tokens = g->tokens, .targets = g->targets, .pos = g->pos, .doc = NULL,
                  .n_images = (int64_t)B * p->n_images, .pixels = p->n_images ? g->pixels : NULL,
                  .img_rows = p->n_images ? g->img_rows : NULL};
    return vlm_logits(g->m, &b, g->logits, st);
}

static int check_prompt(const Generator *g, const GenPrompt *p, int extra, VStatus *st) {
    if (p->n < 1) return vs_set(st, VS_EINVAL, "generate: empty prompt");
    if (p->n + extra > g->max_len)
        return vs_set(st, VS_EINVAL, "generate: prompt %d + %d tokens exceeds max_len %d", p->n, extra, g->max_len);
    if (p->n_images > g->max_images)
        return vs_set(st, VS_EINVAL, "generate: %d images exceed max_images %d", p->n_images, g->max_images);
    for (int i = 0; i < p->n; i++)
        if (p->ids[i] < 0 || p->ids[i] >= g->m->cfg.llm.vocab)
            return vs_set(st, VS_EINVAL, "generate: prompt token %d = %d outside the vocabulary", i, p->ids[i]);
    return 0;
}

int gen_greedy(Generator *g, const GenPrompt *p, int max_new, const int32_t *stop, int n_stop, int32_t *out,
               int *n_out, VStatus *st) {
    *n_out = 0;
    int rc = check_prompt(g, p, max_new, st);
    if (rc) return rc;
    int V = g->m->cfg.llm.vocab, len = p->n;
    memcpy(g->tokens, p->ids, (size_t)p->n * sizeof(int32_t));
    for (int k = 0; k < max_new; k++) {
        /* the whole sequence again (no cache): row of exactly len tokens */
        if ((rc = run_rows(g, p, 1, len, &len, st))) return rc;
        const float *last = g->logits + (size_t)(len - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++) best = last[v] > last[best] ? v : best;   /* first max wins ties */
        out[(*n_out)++] = best;
        g->tokens[len++] = best;
        int halt = 0;
        for (int s = 0; s < n_stop; s++) halt |= stop[s] == best;
        if (halt) break;
    }
    return 0;
}

int gen_greedy_matches(Generator *g, const GenPrompt *p, const int32_t *want, int n_want, int *match, VStatus *st) {
    *match = 0;
    if (n_want < 1) return vs_set(st, VS_EINVAL, "generate: empty expected continuation");
    int rc = check_prompt(g, p, n_want, st);
    if (rc) return rc;
    int V = g->m->cfg.llm.vocab, len = p->n;
    memcpy(g->tokens, p->ids, (size_t)p->n * sizeof(int32_t));
    for (int k = 0; k < n_want; k++) {
        if ((rc = run_rows(g, p, 1, len, &len, st))) return rc;
        const float *last = g->logits + (size_t)(len - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++) best = last[v] > last[best] ? v : best;
        if (best != want[k]) return 0;
        g->tokens[len++] = best;
    }
    *match = 1;
    return 0;
}

int gen_score_options(Generator *g, const GenPrompt *p, const int32_t *const *opts, const int *opt_len, int n_opts,
                      double *logprob, VStatus *st) {
    if (n_opts < 1 || n_opts > g->max_rows)
        return vs_set(st, VS_EINVAL, "generate: %d options (1..%d)", n_opts, g->max_rows);
    int longest = 0;
    for (int o = 0; o < n_opts; o++) {
        if (opt_len[o] < 1) return vs_set(st, VS_EINVAL, "generate: option %d is empty", o);
        longest = opt_len[o] > longest ? opt_len[o] : longest;
    }
    int rc = check_prompt(g, p, longest, st);
    if (rc) return rc;
    int V = g->m->cfg.llm.vocab, T = p->n + longest, len[64];
    if (n_opts > 64) return vs_set(st, VS_EINVAL, "generate: more than 64 options");
    for (int o = 0; o < n_opts; o++) {
        int32_t *row = g->tokens + (size_t)o * T;
        memcpy(row, p->ids, (size_t)p->n * sizeof(int32_t));
        for (int j = 0; j < opt_len[o]; j++) {
            if (opts[o][j] < 0 || opts[o][j] >= V)
                return vs_set(st, VS_EINVAL, "generate: option %d token %d = %d outside the vocabulary", o, j, opts[o][j]);
            row[p->n + j] = opts[o][j];
        }
        /* padding repeats the option's last token: any valid id works, the causal mask hides it */
        for (int j = p->n + opt_len[o]; j < T; j++) row[j] = row[p->n + opt_len[o] - 1];
        len[o] = p->n + opt_len[o];
    }
    if ((rc = run_rows(g, p, n_opts, T, len, st))) return rc;
    for (int o = 0; o < n_opts; o++) {
        double s = 0;
        for (int j = 0; j < opt_len[o]; j++)
            s += gen_log_softmax_at(g->logits + ((size_t)o * T + p->n - 1 + j) * V, V, opts[o][j]);
        logprob[o] = s;
    }
    return 0;
}
