#include "log.h"

#include <stdio.h>

static int max_level = LOG_INFO_;

void log_set_max_level(int level)
{
        max_level = level;
}

void log_msg(int level, const char *fmt, ...)
{
        if (level > max_level)
                return;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        va_end(ap);
        /* One write() per line so concurrent threads never interleave within a line. */
        _cleanup_free_ char *line = xasprintf("<%d>%s\n", level, m);
        (void)!write(STDERR_FILENO, line, strlen(line));
}
