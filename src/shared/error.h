/* error.h - error objects carried up the stack and turned into {code, message} once, at the edge.
 *
 * A fallible function takes `struct error **err` last. On failure it calls error_set() and returns
 * a negative value or NULL; callers may add context with error_wrap(). The code is one of the
 * user-visible exit codes below, so the CLI can exit with it unchanged. */
#pragma once

#include "util.h"

enum ds01_code {
        DS01_OK = 0,
        DS01_ERR = 1,       /* general error */
        DS01_EUSAGE = 2,    /* bad arguments or names */
        DS01_ERESOURCE = 3, /* no GPU free, quota reached */
        DS01_ENOTFOUND = 4, /* no such container/project (also: someone else's) */
        DS01_EPERM = 5,     /* permission denied */
        /* a command (container-deploy NAME -- CMD) cannot start: as shells exit */
        DS01_ECMDNOEXEC = 126,   /* found, but not runnable */
        DS01_ECMDNOTFOUND = 127, /* not found */
};

/* Whether code is one of enum ds01_code's errors (a code from the wire is checked before use). */
static inline bool error_code_known(long long code)
{
        return (code >= DS01_ERR && code <= DS01_EPERM) || code == DS01_ECMDNOEXEC ||
               code == DS01_ECMDNOTFOUND;
}

struct error {
        int code; /* enum ds01_code */
        char *message;
};

/* Sets *err (if err is non-NULL and *err is still NULL) and returns -1, so callers can
 * `return error_set(err, DS01_EUSAGE, "...")`. A second set on the same err is ignored: the
 * first (deepest) failure wins. */
int error_set(struct error **err, int code, const char *fmt, ...) _printf_(3, 4);
/* Like error_set with the message from errno (-neg_errno or errno). */
int error_set_errno(struct error **err, int neg_errno, const char *fmt, ...) _printf_(3, 4);
/* Prefixes context: "context: old message". Keeps the code. Returns -1. */
int error_wrap(struct error **err, const char *fmt, ...) _printf_(2, 3);
struct error *error_free(struct error *e);
static inline void error_freep(struct error **e)
{
        error_free(*e);
}
#define _cleanup_error_ _cleanup_(error_freep)
