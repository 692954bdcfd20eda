#include "error.h"

#include <errno.h>
#include <stdio.h>

static int error_vset(struct error **err, int code, const char *fmt, va_list ap) _printf_(3, 0);

static int error_vset(struct error **err, int code, const char *fmt, va_list ap)
{
        if (!err || *err)
                return -1;
        struct error *e = xmalloc(sizeof(*e));
        e->code = code;
        e->message = xvasprintf(fmt, ap);
        *err = e;
        return -1;
}

int error_set(struct error **err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        error_vset(err, code, fmt, ap);
        va_end(ap);
        return -1;
}

int error_set_errno(struct error **err, int neg_errno, const char *fmt, ...)
{
        if (!err || *err)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        va_end(ap);
        int e = neg_errno < 0 ? -neg_errno : neg_errno;
        return error_set(err, e == EACCES || e == EPERM ? DS01_EPERM : DS01_ERR, "%s: %s", m,
                         strerror(e));
}

int error_wrap(struct error **err, const char *fmt, ...)
{
        if (!err || !*err)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *ctx = xvasprintf(fmt, ap);
        va_end(ap);
        char *m = xasprintf("%s: %s", ctx, (*err)->message);
        free((*err)->message);
        (*err)->message = m;
        return -1;
}

struct error *error_free(struct error *e)
{
        if (e) {
                free(e->message);
                free(e);
        }
        return NULL;
}
