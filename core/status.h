/* core/status.h — error reporting for every vlmc module.
 *
 * Contract: a function that can fail on bad input or a failing system call
 * returns int (0 = ok, nonzero = error) and, when given a VStatus*, fills it
 * with one line naming the file / record / field and the reason. Callers add
 * context with vs_prefix() as the error travels up. Programming errors
 * (violated preconditions, shape mismatches between ops) call vlmc_panic(),
 * which prints the message and aborts: they are bugs, not input.
 */
#ifndef VLMC_CORE_STATUS_H
#define VLMC_CORE_STATUS_H

#include <stddef.h>

#define VS_MSG_MAX 1024

typedef struct VStatus {
    int code;               /* 0 = ok; otherwise one of VS_E* */
    char msg[VS_MSG_MAX];   /* one line, no trailing newline */
} VStatus;

enum {
    VS_OK = 0,
    VS_EINVAL = 1,   /* bad input: malformed file, bad value, wrong shape */
    VS_EIO = 2,      /* a system call failed */
    VS_ENOMEM = 3,   /* allocation failed or a limit would be exceeded */
    VS_EUNSUP = 4,   /* valid but not supported (yet) */
    VS_EDEVICE = 5,  /* GPU / library runtime error */
};

#if defined(__GNUC__)
#define VLMC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define VLMC_NORETURN __attribute__((noreturn))
#else
#define VLMC_PRINTF(a, b)
#define VLMC_NORETURN
#endif

/* Sets st (if non-NULL) and returns code, so `return vs_set(st, VS_EINVAL, ...)` reads well. */
int vs_set(VStatus *st, int code, const char *fmt, ...) VLMC_PRINTF(3, 4);
/* Prepends "prefix: " to st->msg (context as the error travels up). Returns st->code. */
int vs_prefix(VStatus *st, const char *fmt, ...) VLMC_PRINTF(2, 3);
void vs_clear(VStatus *st);

/* Aborts with a message: for programming errors only. */
VLMC_NORETURN void vlmc_panic(const char *file, int line, const char *fmt, ...) VLMC_PRINTF(3, 4);
#define VLMC_PANIC(...) vlmc_panic(__FILE__, __LINE__, __VA_ARGS__)
#define VLMC_ASSERT(cond, ...) do { if (!(cond)) vlmc_panic(__FILE__, __LINE__, "assertion `" #cond "` failed: " __VA_ARGS__); } while (0)

#endif
