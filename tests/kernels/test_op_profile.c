/* tests/kernels/test_op_profile.c — the op profile (kernels/op_profile.h):
 * with VLMC_PROFILE_OPS set before the first op, every op is counted under its
 * name and every matmul under its shape, the ops still compute, the report
 * lists both, and reset forgets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/op_profile.h"
#include "ops_b_testutil.h"

static void test_counts_and_report(void) {
    setenv("VLMC_PROFILE_OPS", "1", 1);
    Backend *be = tcpu();
    CHECK(opp_enabled() == 1, "VLMC_PROFILE_OPS=1 must turn the profile on");
    opp_reset();
    int64_t sa[2] = {4, 2}, sb[2] = {3, 2}, sc[2] = {4, 3};
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[6] = {1, 0, 0, 1, 1, 1};
    Tensor *ta = tnew_f(be, 2, sa, a), *tb = tnew_f(be, 2, sb, b), *tc = tnew_f(be, 2, sc, NULL);
    op_fill(be, tc, 1.0f);
    op_fill(be, tc, 0.0f);
    MatmulDesc d = {.trans_b = 1, .m = 4, .n = 3, .k = 2, .batch = 1, .alpha = 1, .beta = 0};
    for (int i = 0; i < 3; i++) op_matmul(be, &d, tc, ta, tb, NULL);
    MatmulDesc d2 = {.m = 4, .n = 2, .k = 3, .batch = 1, .alpha = 1, .beta = 0};
    op_matmul(be, &d2, ta, tc, tb, NULL);
    double s_fill = -1, s_mm = -1, s_rope = -1;
    CHECK(opp_calls("fill", &s_fill) == 2 && s_fill >= 0, "fill: %ld calls", opp_calls("fill", NULL));
    CHECK(opp_calls("matmul", &s_mm) == 4 && s_mm >= 0, "matmul: %ld calls", opp_calls("matmul", NULL));
    CHECK(opp_calls("rope", &s_rope) == 0 && s_rope == 0, "rope never ran");
    float *c = tget(be, ta);   /* the profiled ops computed: row 0 of tc = (1, 2, 3), times b */
    CHECK(c[0] == 1 + 3 && c[1] == 2 + 3, "matmul result %g %g", c[0], c[1]);
    free(c);
    FILE *f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    if (!f) return;
    opp_report(f);
    rewind(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    CHECK(strstr(text, "op profile (VLMC_PROFILE_OPS)") != NULL, "header missing:\n%s", text);
    CHECK(strstr(text, "  matmul ") != NULL && strstr(text, "  fill ") != NULL, "op rows missing:\n%s", text);
    CHECK(strstr(text, "NT m      4 n      3 k      2 batch    1") != NULL, "shape (N, T, 4, 3, 2) missing:\n%s", text);
    CHECK(strstr(text, "NN m      4 n      2 k      3 batch    1") != NULL, "shape (N, N, 4, 2, 3) missing:\n%s", text);
    CHECK(strstr(text, "       3 calls") != NULL, "the repeated shape's 3 calls:\n%s", text);
    CHECK(strstr(text, "rope") == NULL, "an op that never ran is listed:\n%s", text);
    opp_reset();
    CHECK(opp_calls("matmul", NULL) == 0 && opp_calls("fill", NULL) == 0, "reset keeps counts");
    be_destroy(be);
}

TEST_MAIN({"counts_and_report", test_counts_and_report})
