/* train/plot.c — SVG line plots for loss curves (see plot.h). Axes get
 * "nice" ticks (1, 2, 5 x 10^k); each series is one polyline in its own
 * colour, and the legend names the series. */
#include "train/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

static double nice_step(double span, int ticks) {
    double raw = span / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

int plot_svg_write(const char *path, const char *title, const char *xlabel, const char *ylabel,
                   const PlotSeries *series, size_t nseries, VStatus *st) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t s = 0; s < nseries; s++)
        for (size_t i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x); x1 = fmax(x1, x); y0 = fmin(y0, y); y1 = fmax(y1, y);
        }
    if (!(x0 <= x1)) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) { y0 -= 0.5; y1 += 0.5; }
    double xs = nice_step(x1 - x0, 8), ys = nice_step(y1 - y0, 6);
    x0 = floor(x0 / xs) * xs; x1 = ceil(x1 / xs) * xs;
    y0 = floor(y0 / ys) * ys; y1 = ceil(y1 / ys) * ys;

    const double W = 800, H = 480, L = 70, R = 170, T = 40, B = 50;   /* canvas and margins */
    const double pw = W - L - R, ph = H - T - B;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (T + ph - ((y) - y0) / (y1 - y0) * ph)

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return vs_set(st, VS_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%.0f\" y=\"22\" font-size=\"15\">", L);
    xml_text(f, title);
    fprintf(f, "</text>\n<g stroke=\"#ddd\">\n");
    for (double x = x0; x <= x1 + xs / 2; x += xs)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX(x), T, PX(x), T + ph);
    for (double y = y0; y <= y1 + ys / 2; y += ys)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, PY(y), L + pw, PY(y));
    fprintf(f, "</g>\n<g fill=\"#333\">\n");
    for (double x = x0; x <= x1 + xs / 2; x += xs)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", PX(x), T + ph + 16, x);
    for (double y = y0; y <= y1 + ys / 2; y += ys)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, PY(y) + 4, y);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, H - 12);
    xml_text(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
    xml_text(f, ylabel);
    fprintf(f, "</text>\n</g>\n");
    for (size_t s = 0; s < nseries; s++) {
        const char *c = colors[s % (sizeof colors / sizeof colors[0])];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", c);
        for (size_t i = 0; i < series[s].n; i++)
            if (isfinite(series[s].x[i]) && isfinite(series[s].y[i]))
                fprintf(f, "%.1f,%.1f ", PX(series[s].x[i]), PY(series[s].y[i]));
        fprintf(f, "\"/>\n<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"3\" fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\">",
                W - R + 12, T + 10 + 18.0 * (double)s, c, W - R + 32, T + 15 + 18.0 * (double)s);
        xml_text(f, series[s].name);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    if (ferror(f) | fclose(f)) return vs_set(st, VS_EIO, "%s: write failed", tmp);
    if (rename(tmp, path) != 0) return vs_set(st, VS_EIO, "%s: cannot rename: %s", path, strerror(errno));
    return 0;
}
