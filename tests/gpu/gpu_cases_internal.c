/* tests/gpu/gpu_cases_internal.c — parity of the CUDA backend's internal
 * helpers that no op exposes directly: the matmul with cuBLASLt's fused
 * bias + tanh-GELU epilogue (cuda_matmul_ex), against the CPU's matmul
 * followed by act(gelu_tanh). Skipped in --cpu-vs-cpu mode. Tolerance in
 * fp32 mode 1e-3 (the epilogue's GELU is cuBLASLt's own evaluation). */
#include "kernels/cuda/cuda_internal.h"
#include "tests/gpu/gpu_harness.h"

#include <stdio.h>
#include <string.h>

void gh_cases_internal(GH *h) {
    if (!gh_want(h, "matmul_gelu") || !h->gpu || strcmp(be_name(h->gpu), "cuda") != 0) return;
    static const int64_t mnk[][3] = {{7, 13, 5}, {64, 96, 48}, {33, 40, 17}};
    for (int s = 0; s < (h->quick ? 1 : 3); s++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            int64_t m = mnk[s][0], n = mnk[s][1], k = mnk[s][2];
            MatmulDesc d = {.trans_b = 1, .m = m, .n = n, .k = k, .batch = 1, .alpha = 1.f, .beta = 0.f};
            gh_begin(h, "matmul_gelu m=%lld n=%lld k=%lld bias=%d", (long long)m, (long long)n, (long long)k, with_bias);
            int c = gh_add(h, BUF_ACTS, DT_F32, GI_POISON, 2, (const int64_t[]){m, n}, 0, 0, NULL);
            int a = gh_add(h, BUF_ACTS, DT_F32, GI_RAND, 2, (const int64_t[]){m, k}, 0, 0, NULL);
            int b = gh_add(h, BUF_PARAMS, DT_F32, GI_RAND, 2, (const int64_t[]){n, k}, 0, 0, NULL);
            int bias = gh_add(h, BUF_PARAMS, DT_F32, GI_RAND, 1, (const int64_t[]){n}, 0, 0, NULL);
            RUN(h, if (side_) {
                cuda_matmul_ex(be, &d, T(h, c), T(h, a), T(h, b), with_bias ? T(h, bias) : NULL, 1);
            } else {
                op_matmul(be, &d, T(h, c), T(h, a), T(h, b), with_bias ? T(h, bias) : NULL);
                op_act(be, T(h, c), T(h, c), ACT_GELU_TANH);
            });
            /* cuBLASLt's epilogue evaluates GELU with its own (tanh-form) approximation,
             * not tanhf: 1e-3 in fp32 mode; bf16 keeps the usual 1e-2 */
            gh_check_tol(h, c, "C", h->bf16 ? h->tol : 1e-3);
            gh_end(h);
        }
}
