/* The loss plot: one polyline per stage, escaped names, no NaN coordinates. */
#include "test.h"
#include "train/plot.h"

#include <unistd.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    fclose(f);
    return s;
}

static int count(const char *s, const char *pat) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, pat)); p++) n++;
    return n;
}

static void test_svg(void) {
    double x1[5] = {0, 1, 2, 3, 4}, y1[5] = {5, 4, NAN, 3, 2.5}, x2[3] = {5, 6, 7}, y2[3] = {2.4, 2.2, 2.1};
    PlotSeries s[2] = {{"pairs <1>", x1, y1, 5}, {"sft & more", x2, y2, 3}};
    VStatus st = {0};
    char path[256];
    snprintf(path, sizeof path, "%s/vlmc_test_plot_%d.svg", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    CHECK(plot_svg_write(path, "loss", "step", "loss", s, 2, &st) == 0, "%s", st.msg);
    char *svg = slurp(path);
    CHECK(svg != NULL);
    if (!svg) return;
    CHECK(count(svg, "<polyline") == 2);
    CHECK(strstr(svg, "pairs &lt;1&gt;") != NULL && strstr(svg, "sft &amp; more") != NULL);
    CHECK(strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL, "non-finite points must be skipped");
    CHECK(strstr(svg, "</svg>") != NULL);
    free(svg);
    remove(path);
    CHECK(plot_svg_write("/nonexistent-dir/x.svg", "t", "x", "y", s, 2, &st) != 0 && strstr(st.msg, "nonexistent"));
}

TEST_MAIN({"svg", test_svg})
