/* eval/generate.h on a tiny random VLM (weights scaled x8 from the N(0,0.02)
 * init so the logits are spread out and argmax margins are real):
 *  - greedy: every generated token is the argmax of the logits at its
 *    position, taken from ONE independent forward over the final sequence
 *    (built here by hand, not by the Generator) — this checks both the
 *    decoding loop and that re-running the growing sequence is causal;
 *    stop tokens end decoding (and are kept); the same with a tag token
 *    before each image placeholder (non-contiguous image rows).
 *  - scoring: each option's log-likelihood from the batched, padded
 *    gen_score_options equals the sum of log-softmax entries computed here
 *    in long double from a separate unpadded single-row forward
 *    (relative 1e-5: float32 logits of rows of different length/padding
 *    differ by summation order only, ~1e-6).
 *  - bad prompts (wrong image-run count, token outside the vocabulary, too
 *    long, empty option) are errors with a message. */
#include <math.h>
#include <stdlib.h>

#include "eval/generate.h"
#include "kernels/ops.h"
#include "test.h"

static VlmConfig tiny_cfg(void) {
    VlmConfig c;
    memset(&c, 0, sizeof c);
    c.layout = LAYOUT_LLAVA;
    c.has_vision = 1;
    c.vis = (VisionConfig){.kind = VIS_SIGLIP, .hidden = 16, .intermediate = 32, .layers = 1, .heads = 2, .image_size = 16,
                           .patch_size = 8, .ln_eps = 1e-6f, .act = ACT_GELU_TANH, .feature_layer = -1};
    c.adapter = (AdapterConfig){.kind = ADAPT_MLP, .bias = 1};
    c.llm = (LlmConfig){.vocab = 48, .hidden = 32, .intermediate = 64, .layers = 2, .heads = 4, .kv_heads = 2, .head_dim = 8,
                        .rms_eps = 1e-5f, .rope = {.theta = 10000.0f, .rot_dim = 8}, .max_pos = 64};
    c.image_token_id = 47;
    return c;
}

typedef struct Fx {
    Backend *be;
    Vlm m;
    int ok, tpi;
    float px[3 * 16 * 16];
    int32_t prompt[16];
    int n;
} Fx;

static void fx_open(Fx *f) {
    memset(f, 0, sizeof *f);
    BackendOptions bo = {.name = "cpu", .threads = 2};
    VStatus st = {0};
    f->be = be_create(&bo, &st);
    CHECK(f->be != NULL, "%s", st.msg);
    VlmConfig c = tiny_cfg();
    CHECK(vlm_build(&f->m, &c, &st) == 0 && vlm_allocate(&f->m, f->be, &st) == 0 && vlm_init_random(&f->m, 7, &st) == 0,
          "%s", st.msg);
    float *w = malloc((size_t)f->m.pt.total * sizeof(float));
    be_download(f->be, f->m.pt.all_w, w);
    for (int64_t i = 0; i < f->m.pt.total; i++) w[i] *= 8.0f;
    be_upload(f->be, f->m.pt.all_w, w);
    free(w);
    uint64_t s = 5;
    for (size_t i = 0; i < sizeof f->px / sizeof f->px[0]; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        f->px[i] = (float)((s >> 40) % 2000) / 1000.0f - 1.0f;
    }
    f->tpi = mcfg_tokens_per_image(&f->m.cfg);
    int k = 0;
    f->prompt[k++] = 3;
    for (int i = 0; i < f->tpi; i++) f->prompt[k++] = 47;
    f->prompt[k++] = 11;
    f->prompt[k++] = 20;
    f->n = k;
    f->ok = 1;
}

static void fx_close(Fx *f) {
    vlm_free(&f->m);
    be_destroy(f->be);
}

/* One unpadded row through vlm_logits, batch built here (independent of eval/generate.c). */
static float *row_logits(Fx *f, const int32_t *ids, int n) {
    int32_t pos[64], tgt[64], rows[16];
    int k = 0;
    for (int i = 0; i < n; i++) {
        pos[i] = i;
        tgt[i] = -1;
        if (ids[i] == 47) rows[k++] = i;
    }
    VlmBatch b = {.B = 1, .T = n, .tokens = ids, .targets = tgt, .pos = pos, .n_images = 1, .pixels = f->px, .img_rows = rows};
    float *lg = malloc((size_t)n * 48 * sizeof(float));
    VStatus st = {0};
    CHECK(vlm_logits(&f->m, &b, lg, &st) == 0, "%s", st.msg);
    return lg;
}

/* Greedy decoding from prompt: every token is the argmax of one independent
   forward over the final sequence; returns the smallest top-1 margin. */
static double greedy_check(Fx *f, Generator *g, const int32_t *prompt, int n, int32_t *out, int *n_out) {
    VStatus st = {0};
    GenPrompt p = {.ids = prompt, .n = n, .n_images = 1, .pixels = f->px};
    CHECK(gen_greedy(g, &p, 10, NULL, 0, out, n_out, &st) == 0 && *n_out == 10, "%s (%d)", st.msg, *n_out);
    int32_t seq[40];
    memcpy(seq, prompt, (size_t)n * 4);
    memcpy(seq + n, out, (size_t)*n_out * 4);
    float *lg = row_logits(f, seq, n + *n_out);
    double min_margin = 1e9;
    for (int j = 0; j < *n_out; j++) {
        const float *l = lg + (size_t)(n - 1 + j) * 48;
        int best = 0;
        for (int v = 1; v < 48; v++) best = l[v] > l[best] ? v : best;
        double second = -1e30;
        for (int v = 0; v < 48; v++)
            if (v != best && l[v] > second) second = l[v];
        min_margin = fmin(min_margin, l[best] - second);
        CHECK(out[j] == best, "step %d: generated %d, argmax of the full-sequence logits %d", j, out[j], best);
    }
    free(lg);
    return min_margin;
}

static void test_greedy(void) {
    Fx f;
    fx_open(&f);
    if (!f.ok) return;
    Generator g;
    VStatus st = {0};
    CHECK(gen_open(&g, &f.m, 32, 4, 1, &st) == 0, "%s", st.msg);
    GenPrompt p = {.ids = f.prompt, .n = f.n, .n_images = 1, .pixels = f.px};
    int32_t out[16] = {0};
    int n_out = 0;
    double min_margin = greedy_check(&f, &g, f.prompt, f.n, out, &n_out);
    int distinct = 0;
    for (int j = 0; j < n_out; j++) distinct += j == 0 || out[j] != out[j - 1];
    test_note("greedy: 10 tokens, smallest top-1 margin %.3g, %d changes of token\n", min_margin, distinct);
    CHECK(min_margin > 1e-3, "margins too small to make the argmax check meaningful");
    /* placeholders need not be contiguous (place tags before each one): the
       same check with a tag token before every placeholder */
    int32_t tagged[24], out_t[16] = {0};
    int nt = 0, n_t = 0;
    tagged[nt++] = 3;
    for (int i = 0; i < f.tpi; i++) {
        tagged[nt++] = 30 + i;
        tagged[nt++] = 47;
    }
    tagged[nt++] = 11;
    tagged[nt++] = 20;
    double mt = greedy_check(&f, &g, tagged, nt, out_t, &n_t);
    test_note("greedy with tags between the placeholders: smallest margin %.3g, output %s the untagged one's\n", mt,
              memcmp(out, out_t, sizeof out) ? "differs from" : "equals");
    CHECK(mt > 1e-3, "margins too small to make the tagged argmax check meaningful");
    /* a stop token ends decoding right after it is produced */
    int32_t stop = out[2], out2[16];
    int n2 = 0;
    CHECK(gen_greedy(&g, &p, 10, &stop, 1, out2, &n2, &st) == 0, "%s", st.msg);
    int first = 0;
    while (out[first] != stop) first++;
    CHECK(n2 == first + 1 && out2[n2 - 1] == stop && !memcmp(out2, out, (size_t)n2 * 4), "stopped after %d tokens", n2);
    /* exact-match decoding: the greedy tokens match; a changed token stops it */
    int match = -1;
    CHECK(gen_greedy_matches(&g, &p, out, 5, &match, &st) == 0 && match == 1, "%s", st.msg);
    int32_t want[5];
    memcpy(want, out, sizeof want);
    want[3] = (want[3] + 1) % 48;
    CHECK(gen_greedy_matches(&g, &p, want, 5, &match, &st) == 0 && match == 0, "%s", st.msg);
    gen_close(&g);
    fx_close(&f);
}

static void test_score(void) {
    Fx f;
    fx_open(&f);
    if (!f.ok) return;
    Generator g;
    VStatus st = {0};
    CHECK(gen_open(&g, &f.m, 32, 4, 1, &st) == 0, "%s", st.msg);
    GenPrompt p = {.ids = f.prompt, .n = f.n, .n_images = 1, .pixels = f.px};
    static const int32_t o0[] = {5}, o1[] = {9, 30, 2}, o2[] = {40, 41}, o3[] = {12, 12, 12, 12};
    const int32_t *opts[] = {o0, o1, o2, o3};
    int len[] = {1, 3, 2, 4};
    double lp[4];
    CHECK(gen_score_options(&g, &p, opts, len, 4, lp, &st) == 0, "%s", st.msg);
    double worst = 0;
    for (int o = 0; o < 4; o++) {
        int32_t seq[32];
        memcpy(seq, f.prompt, (size_t)f.n * 4);
        memcpy(seq + f.n, opts[o], (size_t)len[o] * 4);
        float *lg = row_logits(&f, seq, f.n + len[o]);
        long double ref = 0;
        for (int j = 0; j < len[o]; j++) {
            const float *l = lg + (size_t)(f.n - 1 + j) * 48;
            long double s = 0;
            for (int v = 0; v < 48; v++) s += expl((long double)l[v]);
            ref += (long double)l[opts[o][j]] - logl(s);
        }
        double rel = fabs(lp[o] - (double)ref) / fabs((double)ref);
        worst = fmax(worst, rel);
        CHECK(rel < 1e-5, "option %d: %.9g vs reference %.9Lg (rel %.2g)", o, lp[o], ref, rel);
        free(lg);
    }
    test_note("scoring: worst relative error %.2g over 4 options (bound 1e-5)\n", worst);
    gen_close(&g);
    fx_close(&f);
}

static void test_bad_input(void) {
    Fx f;
    fx_open(&f);
    if (!f.ok) return;
    Generator g;
    VStatus st = {0};
    CHECK(gen_open(&g, &f.m, 12, 2, 1, &st) == 0, "%s", st.msg);
    int32_t out[16];
    int n = 0;
    GenPrompt p = {.ids = f.prompt, .n = f.n, .n_images = 0, .pixels = NULL};
    CHECK(gen_greedy(&g, &p, 2, NULL, 0, out, &n, &st) != 0 && strstr(st.msg, "image"), "%s", st.msg);
    p.n_images = 1;
    p.pixels = f.px;
    CHECK(gen_greedy(&g, &p, 30, NULL, 0, out, &n, &st) != 0 && strstr(st.msg, "max_len"), "%s", st.msg);
    int32_t bad[3] = {3, 99, 4};
    GenPrompt pb = {.ids = bad, .n = 3};
    CHECK(gen_greedy(&g, &pb, 2, NULL, 0, out, &n, &st) != 0 && strstr(st.msg, "vocabulary"), "%s", st.msg);
    int32_t cut[4] = {3, 47, 47, 4};   /* a run shorter than the model's tokens per image */
    GenPrompt pc = {.ids = cut, .n = 4, .n_images = 1, .pixels = f.px};
    CHECK(gen_greedy(&g, &pc, 2, NULL, 0, out, &n, &st) != 0 && strstr(st.msg, "2 image placeholders for 1"), "%s",
          st.msg);
    const int32_t *opts[1] = {bad};
    int len0 = 0;
    double lp;
    CHECK(gen_score_options(&g, &p, opts, &len0, 1, &lp, &st) != 0 && strstr(st.msg, "empty"), "%s", st.msg);
    gen_close(&g);
    fx_close(&f);
}

TEST_MAIN({"greedy", test_greedy}, {"score", test_score}, {"bad_input", test_bad_input})
