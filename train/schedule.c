/* train/schedule.c — see schedule.h for the formulas. */
#include "train/schedule.h"

#include <math.h>
#include <string.h>

static double maxd(double a, double b) { return a > b ? a : b; }
static double ramp(int64_t s, int64_t w) { return (double)s / (double)(w > 1 ? w : 1); }

double sched_factor(const SchedDesc *d, int64_t s) {
    const double r = d->min_lr_ratio;
    switch (d->kind) {
    case SCHED_CONSTANT:
        return s < d->warmup ? ramp(s, d->warmup) : 1.0;
    case SCHED_LINEAR: {
        if (s < d->warmup) return ramp(s, d->warmup);
        int64_t span = d->total - d->warmup;
        return maxd(0.0, (double)(d->total - s) / (double)(span > 1 ? span : 1));
    }
    case SCHED_COSINE: {
        if (s < d->warmup) return ramp(s, d->warmup);
        int64_t span = d->total - d->warmup;
        double p = (double)(s - d->warmup) / (double)(span > 1 ? span : 1);
        double f = 0.5 * (1.0 + cos(M_PI * p));
        return maxd(0.0, f * (1.0 - r) + r);
    }
    case SCHED_WSD: {
        if (s < d->warmup) return maxd(0.0, ramp(s, d->warmup) * (1.0 - r) + r);
        int64_t stable = d->total - d->warmup - d->decay;
        if (stable < 0) stable = 0;
        if (s < d->warmup + stable) return 1.0;
        if (s < d->warmup + stable + d->decay) {
            double p = (double)(s - d->warmup - stable) / (double)(d->decay > 1 ? d->decay : 1);
            double f = d->decay_shape == SCHED_DECAY_LINEAR   ? 1.0 - p
                       : d->decay_shape == SCHED_DECAY_COSINE ? 0.5 * (1.0 + cos(M_PI * p))
                                                              : 1.0 - sqrt(p);
            return maxd(0.0, f * (1.0 - r) + r);
        }
        return r;
    }
    }
    return 1.0;
}

int sched_kind_from_name(const char *name) {
    static const char *const names[] = {"constant", "linear", "cosine", "wsd"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}
