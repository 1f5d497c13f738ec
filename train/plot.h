/* train/plot.h — the loss-curve plot a run leaves in its directory (SVG:
 * no library, readable in any browser, diffable as text). */
#ifndef VLMC_TRAIN_PLOT_H
#define VLMC_TRAIN_PLOT_H

#include <stddef.h>

#include "core/status.h"

typedef struct PlotSeries {
    const char *name;      /* legend, e.g. the stage name */
    const double *x, *y;   /* n points; non-finite y are skipped */
    size_t n;
} PlotSeries;

/* Writes an SVG line plot of the series (shared axes) to path. */
int plot_svg_write(const char *path, const char *title, const char *xlabel, const char *ylabel,
                   const PlotSeries *series, size_t nseries, VStatus *st);

#endif
