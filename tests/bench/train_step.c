/* tests/bench/train_step.c — one training step (forward + backward + AdamW on
 * every parameter) of two VLMs on the CPU backend:
 *   demo:  SigLIP-like 2 layers x 64 at 64x64 px (patch 8), pixel shuffle 2,
 *          Llama-like 4 layers x 128 (4 heads / 2 kv, ffn 384), vocab 1024,
 *          batch 8 x 128 tokens, one image per row;
 *   small: SigLIP-like 4 layers x 256 at 64x64 px (patch 8), pixel shuffle 2,
 *          Llama-like 8 layers x 512 (8 heads / 4 kv, ffn 1536), vocab 8192,
 *          batch 8 x 256 tokens, one image per row.
 * Output (same format as train_step_torch.py, compared by ./train_step):
 *   RESULT name median_ms min_ms tokens_per_s
 * usage: bench_train_step [--threads N] [--reps R] [--only demo|small]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/vlm.h"

typedef struct Spec {
    const char *name;
    int vh, vl, vi, vheads, img, patch, shuffle;
    int h, l, ffn, heads, kv, vocab, B, T;
} Spec;

static const Spec specs[] = {
    {"demo", 64, 2, 256, 2, 64, 8, 2, 128, 4, 384, 4, 2, 1024, 8, 128},
    {"small", 256, 4, 1024, 4, 64, 8, 2, 512, 8, 1536, 8, 4, 8192, 8, 256},
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(const Spec *s, int threads, int reps) {
    VlmConfig c;
    memset(&c, 0, sizeof c);
    c.layout = LAYOUT_IDEFICS3;
    c.has_vision = 1;
    c.vis = (VisionConfig){.kind = VIS_SIGLIP, .hidden = s->vh, .intermediate = s->vi, .layers = s->vl, .heads = s->vheads,
                           .image_size = s->img, .patch_size = s->patch, .ln_eps = 1e-6f, .act = ACT_GELU_TANH,
                           .feature_layer = -1, .keep_cls = 1, .post_norm = 1};
    c.adapter = (AdapterConfig){.kind = ADAPT_PIXEL_SHUFFLE_MLP, .shuffle = s->shuffle};
    c.llm = (LlmConfig){.vocab = s->vocab, .hidden = s->h, .intermediate = s->ffn, .layers = s->l, .heads = s->heads,
                        .kv_heads = s->kv, .head_dim = s->h / s->heads, .rms_eps = 1e-5f,
                        .rope = {.theta = 10000.0f, .rot_dim = s->h / s->heads}, .max_pos = 4096};
    c.image_token_id = s->vocab - 1;
    VStatus st = {0};
    BackendOptions bo = {.name = "cpu", .threads = threads};
    Backend *be = be_create(&bo, &st);
    Vlm m;
    if (!be || vlm_build(&m, &c, &st) || vlm_allocate(&m, be, &st) || vlm_init_random(&m, 1, &st)) {
        fprintf(stderr, "bench_train_step: %s\n", st.msg);
        return 1;
    }
    /* AdamW moments for every trainable entry (BUF_OPTIM) */
    Tensor **mo = calloc((size_t)m.pt.n, sizeof(Tensor *)), **vo = calloc((size_t)m.pt.n, sizeof(Tensor *));
    for (int i = 0; i < m.pt.n; i++) {
        Param *p = &m.pt.p[i];
        if (!p->g) continue;
        mo[i] = be_alloc(be, BUF_OPTIM, DT_F32, 1, &p->numel, &st);
        vo[i] = be_alloc(be, BUF_OPTIM, DT_F32, 1, &p->numel, &st);
        op_fill(be, mo[i], 0);
        op_fill(be, vo[i], 0);
    }
    int64_t N = (int64_t)s->B * s->T;
    int tpi = mcfg_tokens_per_image(&c);
    int32_t *tok = malloc((size_t)N * 4), *tgt = malloc((size_t)N * 4), *pos = malloc((size_t)N * 4), *rows = malloc((size_t)s->B * tpi * 4);
    float *px = malloc((size_t)s->B * 3 * s->img * s->img * 4);
    int k = 0, ntgt = 0;
    for (int64_t i = 0; i < N; i++) {
        int t = (int)(i % s->T);
        pos[i] = t;
        tok[i] = (int32_t)((i * 7919) % (s->vocab - 1));
        if (t >= 1 && t < 1 + tpi) { tok[i] = c.image_token_id; rows[k++] = (int32_t)i; }
    }
    for (int64_t i = 0; i < N; i++) {
        tgt[i] = (i % s->T) + 1 < s->T && tok[i + 1] != c.image_token_id ? tok[i + 1] : -1;
        ntgt += tgt[i] >= 0;
    }
    for (int64_t i = 0; i < (int64_t)s->B * 3 * s->img * s->img; i++) px[i] = (float)((i * 37) % 200) / 100.0f - 1.0f;
    VlmBatch b = {.B = s->B, .T = s->T, .tokens = tok, .targets = tgt, .pos = pos, .n_images = s->B, .pixels = px, .img_rows = rows};
    double *ms = malloc((size_t)(reps + 1) * sizeof(double));
    for (int r = 0; r <= reps; r++) {   /* r = 0 is warm-up */
        double t0 = now_ms(), loss = 0;
        pt_zero_grads(&m.pt);
        if (vlm_forward(&m, &b, 1.0f / (float)ntgt, 1, &loss, &st) || vlm_backward(&m, &st)) {
            fprintf(stderr, "bench_train_step: %s\n", st.msg);
            return 1;
        }
        vlm_end_step(&m);
        AdamWDesc ad = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f, .step = r + 1, .grad_scale = 1.0f};
        for (int i = 0; i < m.pt.n; i++)
            if (m.pt.p[i].g) op_adamw(be, &ad, m.pt.p[i].w, NULL, m.pt.p[i].g, mo[i], vo[i], m.pt.p[i].row_mask);
        if (be_sync(be, &st)) { fprintf(stderr, "bench_train_step: %s\n", st.msg); return 1; }
        ms[r] = now_ms() - t0;
        if (r == 0) fprintf(stderr, "%s: loss at step 1 %.4f\n", s->name, loss);
    }
    qsort(ms + 1, (size_t)reps, sizeof(double), cmp_d);
    double med = ms[1 + reps / 2];
    printf("CONFIG %s params %lld tokens %lld images %d threads %d\n", s->name, (long long)m.pt.total, (long long)N, s->B, threads);
    printf("RESULT %s %.2f %.2f %.0f\n", s->name, med, ms[1], (double)N / (med / 1e3));
    printf("MEMORY %s acts_peak %zu acts_bound %zu params %zu grads %zu optim %zu\n", s->name, be_peak(be, BUF_ACTS),
           vlm_acts_bytes(&m, s->B, s->T, s->B, 1, 0), be_used(be, BUF_PARAMS),
           be_used(be, BUF_GRADS), be_used(be, BUF_OPTIM));
    free(ms); free(tok); free(tgt); free(pos); free(rows); free(px); free(mo); free(vo);
    vlm_free(&m);
    be_destroy(be);
    return 0;
}

int main(int argc, char **argv) {
    int threads = 0, reps = 5;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else { fprintf(stderr, "usage: bench_train_step [--threads N] [--reps R] [--only demo|small]\n"); return 2; }
    }
    if (reps < 1) reps = 1;
    be_print_build_info(stdout);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (!only || !strcmp(only, specs[i].name))
            if (run(&specs[i], threads, reps)) return 1;
    return 0;
}
