#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static _noreturn_ void oom(void)
{
        static const char msg[] = "ds01: out of memory\n";
        (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
        abort();
}

void *xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                oom();
        return p;
}

void *xzalloc(size_t n)
{
        return xcalloc(1, n);
}

void *xcalloc(size_t nmemb, size_t size)
{
        void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *xrealloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                oom();
        return p;
}

void *xgrow(void *v, size_t n, size_t *cap, size_t size)
{
        if (n < *cap)
                return v;
        if (*cap > SIZE_MAX / 2 / size) /* a size that would wrap: out of memory, as calloc says */
                oom();
        *cap = *cap ? *cap * 2 : 8;
        return xrealloc(v, *cap * size);
}

char *xstrdup(const char *s)
{
        char *p = strdup(s);
        if (!p)
                oom();
        return p;
}

char *xstrndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        if (!p)
                oom();
        return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
        char *s;
        if (vasprintf(&s, fmt, ap) < 0)
                oom();
        return s;
}

char *xasprintf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = xvasprintf(fmt, ap);
        va_end(ap);
        return s;
}

int64_t now_s(void)
{
        return (int64_t)time(NULL);
}

int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *format_iso8601(int64_t t, char buf[static 32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return buf;
}

char *format_duration(int64_t s, char buf[static 32])
{
        if (s < 0)
                s = 0;
        if (s >= 86400)
                snprintf(buf, 32, "%lldd%lldh", (long long)(s / 86400),
                         (long long)(s % 86400 / 3600));
        else if (s >= 3600)
                snprintf(buf, 32, "%lldh%02lldm", (long long)(s / 3600),
                         (long long)(s % 3600 / 60));
        else if (s >= 60)
                snprintf(buf, 32, "%lldm", (long long)(s / 60));
        else
                snprintf(buf, 32, "%llds", (long long)s);
        return buf;
}

int write_all(int fd, const void *buf, size_t n)
{
        const char *p = buf;
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}
