/* util.h - allocation, cleanup attributes and small helpers shared by every ds01 program. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DS01_VERSION "0.1.0"

#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_     __attribute__((noreturn))
#define _unused_       __attribute__((unused))

/* Out-of-memory aborts: callers never check these. */
void *xmalloc(size_t n);
void *xzalloc(size_t n);
void *xrealloc(void *p, size_t n);
void *xcalloc(size_t nmemb, size_t size);
/* Room for one more element in a growing array v of n elements of size bytes, *cap allocated:
 * doubles the allocation (first to 8) when it is full. Returns v, moved or not. */
void *xgrow(void *v, size_t n, size_t *cap, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);

static inline void freep(void *p)
{
        free(*(void **)p);
}
static inline void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_(f)    __attribute__((cleanup(f)))
#define _cleanup_free_  _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Move ownership out of a cleanup variable. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p = (p);                                                            \
                (p) = NULL;                                                                        \
                _p;                                                                                \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _fd;                                                                               \
        })

static inline bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline bool startswith(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Wall clock in seconds / milliseconds since the epoch, and a monotonic clock in ms. */
int64_t now_s(void);
int64_t now_ms(void);
int64_t mono_ms(void);

/* "2026-11-28T15:46:43Z" for a unix time; buf must hold 32 bytes. */
char *format_iso8601(int64_t t, char buf[static 32]);

/* Human durations: "3d4h", "2h05m", "12m", "40s". buf must hold 32 bytes. */
char *format_duration(int64_t seconds, char buf[static 32]);

/* write() all of it, retrying on EINTR; -errno on failure. */
int write_all(int fd, const void *buf, size_t n);
