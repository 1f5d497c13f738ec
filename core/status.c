/* core/status.c — see status.h. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vs_set(VStatus *st, int code, const char *fmt, ...) {
    if (st) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->msg, sizeof st->msg, fmt, ap);
        va_end(ap);
        st->code = code;
    }
    return code;
}

int vs_prefix(VStatus *st, const char *fmt, ...) {
    if (!st) return VS_EINVAL;
    char pre[VS_MSG_MAX], old[VS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, st->msg, sizeof old);
    size_t n = strlen(pre);
    if (n > VS_MSG_MAX - 3) n = VS_MSG_MAX - 3;
    memcpy(st->msg, pre, n);
    st->msg[n] = ':';
    st->msg[n + 1] = ' ';
    size_t rest = VS_MSG_MAX - n - 3;
    size_t m = strlen(old);
    if (m > rest) m = rest;
    memcpy(st->msg + n + 2, old, m);
    st->msg[n + 2 + m] = 0;
    return st->code;
}

void vs_clear(VStatus *st) {
    if (st) { st->code = 0; st->msg[0] = 0; }
}

void vlmc_panic(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vlmc: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
