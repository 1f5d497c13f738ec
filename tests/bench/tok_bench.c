/* tests/bench/tok_bench.c — tokenizer encode throughput (driver: tests/bench/tokenizer).
 *
 * usage: tok_bench TOKENIZER.json CORPUS.txt CORPUS.idx [THREADS] [REPS]
 * Encodes every record of the corpus (lengths from CORPUS.idx, u32 LE) with
 * add_special, one call per record: single-threaded (tok_encode), then batch
 * over THREADS threads (tok_encode_batch). Reports the best of REPS runs in
 * MB/s of input text (single-threaded also per CPU second), the token count (to compare with other tools) and the
 * tokenizer's identity hash. One warm-up run first (fills the BPE caches, as
 * a long-running loader would). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data/tokenizer.h"

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this process: on a shared, oversubscribed machine the
 * single-threaded figure is also reported per CPU second, not only per wall second */
static double cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tok_bench TOKENIZER.json CORPUS.txt CORPUS.idx [THREADS] [REPS]\n");
        return 2;
    }
    int threads = argc > 4 ? atoi(argv[4]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    int reps = argc > 5 ? atoi(argv[5]) : 3;
    VStatus st = {0};
    Tokenizer *t = tok_load(argv[1], &st);
    if (!t) { fprintf(stderr, "%s\n", st.msg); return 1; }
    size_t nc = 0, ni = 0;
    char *corpus = slurp(argv[2], &nc), *idx = slurp(argv[3], &ni);
    if (!corpus || !idx) { fprintf(stderr, "cannot read corpus\n"); return 1; }
    size_t n = ni / 4;
    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l;
        memcpy(&l, idx + 4 * i, 4);
        texts[i] = corpus + at;
        lens[i] = l;
        at += l;
    }
    if (at != nc) { fprintf(stderr, "corpus.idx does not match corpus\n"); return 1; }
    TokIds *outs = calloc(n, sizeof *outs);
    double best1 = 1e30, bestn = 1e30, best1c = 1e30;
    size_t ntok = 0;
    for (int r = 0; r <= reps; r++) {   /* r == 0 warms up */
        double t0 = now(), c0 = cpu();
        ntok = 0;
        for (size_t i = 0; i < n; i++) {
            outs[i].n = 0;
            if (tok_encode(t, texts[i], lens[i], 1, &outs[i], &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
            ntok += outs[i].n;
        }
        double dt = now() - t0, dc = cpu() - c0;
        if (r && dt < best1) best1 = dt;
        if (r && dc < best1c) best1c = dc;
    }
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        if (tok_encode_batch(t, texts, lens, n, 1, outs, threads, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
        double dt = now() - t0;
        if (r && dt < bestn) bestn = dt;
    }
    size_t ntok2 = 0;
    for (size_t i = 0; i < n; i++) ntok2 += outs[i].n;
    printf("{\"bytes\": %zu, \"records\": %zu, \"tokens\": %zu, \"single_mbps\": %.2f, \"single_cpu_mbps\": %.2f, \"threads\": %d, "
           "\"batch_mbps\": %.2f, \"hash\": \"%016llx\", \"batch_tokens_match\": %s}\n",
           nc, n, ntok, nc / best1 / 1e6, nc / best1c / 1e6, threads, nc / bestn / 1e6, (unsigned long long)tok_hash(t),
           ntok2 == ntok ? "true" : "false");
    for (size_t i = 0; i < n; i++) tok_ids_free(&outs[i]);
    free(outs);
    free(texts);
    free(lens);
    free(corpus);
    free(idx);
    tok_free(t);
    return 0;
}
