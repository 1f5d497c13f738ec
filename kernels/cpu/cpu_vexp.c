/* kernels/cpu/cpu_vexp.c — see cpu_vexp.h. The polynomial is Cephes'
 * expf: exp(t) = 2^k * exp(r), k = round(t / ln 2), r = t - k ln 2 split in
 * two constants so r is exact, exp(r) by a degree-6 minimax polynomial on
 * [-ln2/2, ln2/2]. Branch-free so the loop vectorises.
 *
 * The loop bodies are macros instantiated three times: for AVX-512
 * (skylake-avx512), AVX2+FMA (haswell) and the build's baseline; the entry
 * points pick one per call with __builtin_cpu_supports (a load and a test);
 * VLMC_CPU_ISA=base (see cpu_isa.c) selects the baseline here too.
 * (target_clones would do this, but clang 14 cannot call a cloned function
 * from another translation unit.) */
#if defined(__GNUC__) && !defined(__clang__)
/* gcc refuses to vectorise the float->int conversion and selects while
 * floating-point traps are assumed observable; nothing here traps by design
 * (the argument is clamped first). clang vectorises without this. */
#pragma GCC optimize("no-trapping-math")
#endif
#include "kernels/cpu/cpu_vexp.h"
#include "kernels/cpu/cpu_loops.h"

#include <math.h>
#include <string.h>

/* gcc vectorises these loops at -O2 only when told to (omp simd); clang
 * vectorises them by itself and warns (-Werror) when a forced loop fails */
#if defined(__clang__)
#define VEXP_SIMD
#else
#define VEXP_SIMD _Pragma("omp simd")
#endif

#define VEXP_SUB_BODY                                                                   \
    VEXP_SIMD for (int64_t i = 0; i < n; i++) {                                         \
        float t = x[i] - sub;                                                           \
        const int under = t < -87.0f; /* also -inf: the result is exactly 0 */          \
        t = t < -87.0f ? -87.0f : t;                                                    \
        t = t > 88.0f ? 88.0f : t;                                                      \
        const int nan_in = t != t; /* NaN passes both clamps: convert 0, return NaN */  \
        t = nan_in ? 0.0f : t;                                                          \
        /* k = floor(t / ln2 + 1/2): the argument is > 0 after the +128 shift, so      \
         * truncation is floor (and converts in a vector register, unlike floorf) */    \
        const int32_t ki = (int32_t)(t * 1.44269504088896341f + 128.5f) - 128;          \
        const float k = (float)ki;                                                      \
        const float r = (t - k * 0.693359375f) + k * 2.12194440e-4f;                    \
        float y = 1.9875691500e-4f;                                                     \
        y = y * r + 1.3981999507e-3f;                                                   \
        y = y * r + 8.3334519073e-3f;                                                   \
        y = y * r + 4.1665795894e-2f;                                                   \
        y = y * r + 1.6666665459e-1f;                                                   \
        y = y * r + 5.0000001201e-1f;                                                   \
        y = y * (r * r) + r + 1.0f;                                                     \
        const int32_t bits = (ki + 127) << 23; /* 2^k, k in [-126, 127] */              \
        float p2;                                                                       \
        memcpy(&p2, &bits, sizeof p2);                                                  \
        x[i] = under ? 0.0f : nan_in ? x[i] - sub : y * p2;                             \
    }

#define VSUM_BODY                                                                       \
    double a[8] = {0};                                                                  \
    int64_t i = 0;                                                                      \
    for (; i + 8 <= n; i += 8)                                                          \
        for (int u = 0; u < 8; u++) a[u] += x[i + u];                                   \
    for (; i < n; i++) a[i & 7] += x[i];                                                \
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));

#define VMAX_BODY                                                                       \
    float m[16];                                                                        \
    for (int u = 0; u < 16; u++) m[u] = -INFINITY;                                      \
    int64_t i = 0;                                                                      \
    for (; i + 16 <= n; i += 16)                                                        \
        for (int u = 0; u < 16; u++) m[u] = x[i + u] > m[u] ? x[i + u] : m[u];          \
    for (; i < n; i++) m[0] = x[i] > m[0] ? x[i] : m[0];                                \
    for (int u = 1; u < 16; u++) m[0] = m[u] > m[0] ? m[u] : m[0];                      \
    return m[0];

#define VSCALE_BODY VEXP_SIMD for (int64_t i = 0; i < n; i++) x[i] *= s;

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))
#define AVX2 __attribute__((target("avx2,fma")))

AVX512 static void vexp_sub_avx512(float *x, int64_t n, float sub) { VEXP_SUB_BODY }
AVX2 static void vexp_sub_avx2(float *x, int64_t n, float sub) { VEXP_SUB_BODY }
static void vexp_sub_base(float *x, int64_t n, float sub) { VEXP_SUB_BODY }
AVX512 static double vsum_avx512(const float *x, int64_t n) { VSUM_BODY }
AVX2 static double vsum_avx2(const float *x, int64_t n) { VSUM_BODY }
static double vsum_base(const float *x, int64_t n) { VSUM_BODY }

AVX512 static float vmax_avx512(const float *x, int64_t n) { VMAX_BODY }
AVX2 static float vmax_avx2(const float *x, int64_t n) { VMAX_BODY }
static float vmax_base(const float *x, int64_t n) { VMAX_BODY }
AVX512 static void vscale_avx512(float *x, int64_t n, float s) { VSCALE_BODY }
AVX2 static void vscale_avx2(float *x, int64_t n, float s) { VSCALE_BODY }
static void vscale_base(float *x, int64_t n, float s) { VSCALE_BODY }

static int vexp_forced = -1;  /* tests pin a variant; -1 = best available */

int cpu_vexp_force_level(int level) {
    int prev = vexp_forced;
    vexp_forced = level;
    return prev;
}

/* 2: AVX-512, 1: AVX2 + FMA, 0: baseline */
static int vexp_level(void) {
    if (vexp_forced >= 0) return vexp_forced;
    if (!cpu_use_avx2()) return 0;  /* no AVX2, or VLMC_CPU_ISA=base (cpu_isa.c) */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

void cpu_vexp_sub(float *x, int64_t n, float sub) {
    switch (vexp_level()) {
    case 2: vexp_sub_avx512(x, n, sub); break;
    case 1: vexp_sub_avx2(x, n, sub); break;
    default: vexp_sub_base(x, n, sub); break;
    }
}

double cpu_vsum(const float *x, int64_t n) {
    switch (vexp_level()) {
    case 2: return vsum_avx512(x, n);
    case 1: return vsum_avx2(x, n);
    default: return vsum_base(x, n);
    }
}

float cpu_vmax(const float *x, int64_t n) {
    switch (vexp_level()) {
    case 2: return vmax_avx512(x, n);
    case 1: return vmax_avx2(x, n);
    default: return vmax_base(x, n);
    }
}

void cpu_vscale(float *x, int64_t n, float s) {
    switch (vexp_level()) {
    case 2: vscale_avx512(x, n, s); break;
    case 1: vscale_avx2(x, n, s); break;
    default: vscale_base(x, n, s); break;
    }
}
