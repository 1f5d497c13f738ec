/* train/metrics.c — see metrics.h. */
#include "train/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Rewrites path keeping only rows whose "step" <= keep_upto. */
static int truncate_rows(const char *path, int64_t keep_upto, VStatus *st) {
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? 0 : vs_set(st, VS_EIO, "%s: cannot read: %s", path, strerror(errno));
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) { fclose(in); return vs_set(st, VS_EIO, "%s: cannot write: %s", tmp, strerror(errno)); }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        json_error_t err;
        json_t *o = json_loadb(line, (size_t)n, 0, &err);
        json_int_t step = o ? json_integer_value(json_object_get(o, "step")) : 0;
        if (o && step <= keep_upto) fwrite(line, 1, (size_t)n, out);   /* torn last lines are dropped */
        json_decref(o);
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0 || rename(tmp, path) != 0) return vs_set(st, VS_EIO, "%s: rewrite failed", path);
    return 0;
}

int metrics_open(MetricsLog *m, const char *run_dir, int append, int64_t keep_upto, VStatus *st) {
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s/metrics.jsonl", run_dir);
    if (append && keep_upto >= 0 && truncate_rows(m->path, keep_upto, st)) return st->code;
    m->f = fopen(m->path, append ? "a" : "w");
    if (!m->f) return vs_set(st, VS_EIO, "%s: cannot open: %s", m->path, strerror(errno));
    return 0;
}

int metrics_write(MetricsLog *m, const MetricsRow *r, VStatus *st) {
    json_t *o = json_object();
    json_object_set_new(o, "stage", json_string(r->stage ? r->stage : ""));
    json_object_set_new(o, "step", json_integer(r->step));
    json_object_set_new(o, "stage_step", json_integer(r->stage_step));
    json_object_set_new(o, "loss", num_or_null(r->loss));
    json_object_set_new(o, "lr", num_or_null(r->lr));
    json_object_set_new(o, "grad_norm", num_or_null(r->grad_norm));
    json_object_set_new(o, "tokens_per_s", num_or_null(r->tokens_per_s));
    json_object_set_new(o, "images_per_s", num_or_null(r->images_per_s));
    if (r->skipped) json_object_set_new(o, "skipped", json_true());
    if (r->extra_json) {
        json_error_t err;
        json_t *x = json_loads(r->extra_json, 0, &err);
        if (!x || !json_is_object(x)) {
            json_decref(x);
            json_decref(o);
            return vs_set(st, VS_EINVAL, "metrics: extra fields are not a JSON object: %s", r->extra_json);
        }
        json_object_update(o, x);
        json_decref(x);
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!s) return vs_set(st, VS_ENOMEM, "metrics: cannot encode a row");
    int bad = fprintf(m->f, "%s\n", s) < 0 || fflush(m->f) != 0;
    free(s);
    return bad ? vs_set(st, VS_EIO, "%s: write failed: %s", m->path, strerror(errno)) : 0;
}

void metrics_close(MetricsLog *m) {
    if (m->f) fclose(m->f);
    m->f = NULL;
}

static void fmt_eta(double s, char *buf, size_t cap) {
    if (!isfinite(s) || s < 0) { snprintf(buf, cap, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%02ld:%02ld", t / 60, t % 60);
}

void progress_print(FILE *out, int tty, const MetricsRow *r, double eta) {
    char e[32];
    fmt_eta(eta, e, sizeof e);
    if (tty) {
        int width = 20, fill = r->stage_total > 0 ? (int)(width * r->stage_step / r->stage_total) : 0;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(out, "\r\033[K%s [%s] %" PRId64 "/%" PRId64 " loss %.4f lr %.2e %.0f tok/s %.1f img/s ETA %s%s",
                r->stage, bar, r->stage_step, r->stage_total, r->loss, r->lr, r->tokens_per_s, r->images_per_s, e,
                r->skipped ? " (skipped)" : "");
    } else {
        fprintf(out, "%s step %" PRId64 "/%" PRId64 " loss %.4f lr %.3e grad_norm %.3f %.0f tok/s %.1f img/s ETA %s%s\n",
                r->stage, r->stage_step, r->stage_total, r->loss, r->lr, r->grad_norm, r->tokens_per_s, r->images_per_s,
                e, r->skipped ? " (skipped: non-finite loss or gradient)" : "");
    }
    fflush(out);
}
