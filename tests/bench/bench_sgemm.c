/* tests/bench/bench_sgemm.c — GFLOP/s of one OpenBLAS sgemm, the shape of an
 * LLM MLP matmul at T=2048 tokens: C(M,N) = A(M,K) @ B(K,N), default
 * M=2048 N=1536 K=576. Calls blas_core_ensure() first, as `vlmc` does, so
 * it measures the core vlmc would run; --keep-core measures OpenBLAS's own
 * choice instead. Prints the BLAS line of `vlmc --version` and best/median
 * GFLOP/s over the repeats.
 *
 *   build/tests/bench_sgemm [--threads 2] [--reps 20] [--keep-core] [M N K]
 *   OPENBLAS_CORETYPE=Prescott VLMC_BLAS_CORE=auto build/tests/bench_sgemm   # issue-2 "before -> after"
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/blas_core.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 20, keep = 0, dims[3] = {2048, 1536, 576}, nd = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--keep-core") == 0) keep = 1;
        else if (nd < 3 && atoi(argv[i]) > 0) dims[nd++] = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: bench_sgemm [--threads N] [--reps R] [--keep-core] [M N K]\n");
            return 2;
        }
    }
    if (!keep) blas_core_ensure(argc, argv);
    if (threads < 1 || reps < 1 || reps > 10000) return 2;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    int M = dims[0], N = dims[1], K = dims[2];
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N),
          *C = malloc(sizeof(float) * (size_t)M * N);
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!A || !B || !C || !t) return 1;
    srand(1);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((double)rand() / RAND_MAX - 0.5);
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)((double)rand() / RAND_MAX - 0.5);
    for (int w = 0; w < 3; w++)   /* warm-up: thread pool, page faults */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    double flop = 2.0 * M * N * K;
    blas_core_describe(stdout);
    printf("sgemm %dx%dx%d, %d threads, %d reps: best %.1f GFLOP/s, median %.1f GFLOP/s (checksum %.3f)\n", M, N, K,
           threads, reps, flop / t[0] * 1e-9, flop / t[reps / 2] * 1e-9, (double)C[0] + C[(size_t)M * N - 1]);
    free(A);
    free(B);
    free(C);
    free(t);
    return 0;
}
