/* tests/test.h — a tiny test harness: CHECK macros that report file:line and
 * keep going, and a main() per test file via TEST_MAIN. Each test binary is
 * one CTest test; it exits nonzero when any check failed. */
#ifndef VLMC_TESTS_TEST_H
#define VLMC_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#include "kernels/cpu/blas_core.h"

extern int test_failures;
extern int test_checks;

/* the optional message of CHECK (plain varargs: an empty message is fine) */
static inline void test_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        test_checks++;                                                               \
        if (!(cond)) {                                                               \
            test_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            test_note("" __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                     \
        }                                                                            \
    } while (0)

/* relative error ||a - b|| / ||b|| over n floats, computed in double */
static inline double test_rel_err_f(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* ||a - b|| / ||b|| with b in double (float64 references) */
static inline double test_rel_err_fd(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        if (d != d) return INFINITY; /* a NaN never passes */
        num += d * d;
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

typedef void (*TestFn)(void);
typedef struct TestCase { const char *name; TestFn fn; } TestCase;

/* TEST_MAIN({"name", fn}, ...): runs the cases (or those named on argv). */
#define TEST_MAIN(...)                                                                  \
    int test_failures = 0, test_checks = 0;                                             \
    int main(int argc, char **argv) {                                                   \
        blas_core_ensure(argc, argv); /* the same BLAS kernels as the vlmc binary */    \
        static const TestCase cases[] = {__VA_ARGS__};                                  \
        size_t n = sizeof cases / sizeof cases[0];                                      \
        for (size_t i = 0; i < n; i++) {                                                \
            int run = argc < 2;                                                         \
            for (int a = 1; a < argc; a++) run |= strcmp(argv[a], cases[i].name) == 0;  \
            if (!run) continue;                                                         \
            int before = test_failures;                                                 \
            cases[i].fn();                                                              \
            printf("%s %s\n", test_failures == before ? "ok  " : "FAIL", cases[i].name); \
        }                                                                               \
        printf("%d checks, %d failed\n", test_checks, test_failures);                   \
        return test_failures ? 1 : 0;                                                   \
    }

#endif
