/* timestamp.c - ISO-8601 / RFC 3339 times to epoch milliseconds (timestamp.h). */
#include "timestamp.h"

#include <errno.h>
#include <stdbool.h>
#include <time.h>

/* Exactly n ASCII digits (isdigit() would follow the locale). */
static bool take_digits(const char **p, int n, int *ret)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                char c = (*p)[i];
                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (c - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool take_char(const char **p, char c)
{
        if (**p != c)
                return false;
        (*p)++;
        return true;
}

int timestamp_parse_ms(const char *s, int64_t *ret_ms)
{
        if (!s)
                return -EINVAL;
        const char *p = s;
        int year, mon, mday, hour = 0, min = 0, sec = 0, frac_ms = 0;
        int64_t offset_s = 0;
        if (!take_digits(&p, 4, &year) || !take_char(&p, '-') || !take_digits(&p, 2, &mon) ||
            !take_char(&p, '-') || !take_digits(&p, 2, &mday))
                return -EINVAL;
        if (*p == 'T' || *p == 't' || *p == ' ') {
                p++;
                if (!take_digits(&p, 2, &hour) || !take_char(&p, ':') || !take_digits(&p, 2, &min))
                        return -EINVAL;
                if (take_char(&p, ':')) {
                        if (!take_digits(&p, 2, &sec))
                                return -EINVAL;
                        if (take_char(&p, '.')) {
                                if (*p < '0' || *p > '9')
                                        return -EINVAL;
                                /* Docker writes nanoseconds; milliseconds are all ds01 keeps. */
                                for (int scale = 100; *p >= '0' && *p <= '9'; p++, scale /= 10)
                                        frac_ms += (*p - '0') * scale;
                        }
                }
                if (*p == 'Z' || *p == 'z') {
                        p++;
                } else if (*p == '+' || *p == '-') {
                        int sign = *p == '-' ? -1 : 1, oh, om;
                        p++;
                        if (!take_digits(&p, 2, &oh))
                                return -EINVAL;
                        take_char(&p, ':'); /* "+01:00" and "+0100" */
                        if (!take_digits(&p, 2, &om) || oh > 23 || om > 59)
                                return -EINVAL;
                        offset_s = sign * (oh * 3600 + om * 60);
                }
        }
        if (*p)
                return -EINVAL;
        /* sec 60 is a leap second; timegm() carries it into the next minute. */
        if (mon < 1 || mon > 12 || mday < 1 || mday > 31 || hour > 23 || min > 59 || sec > 60)
                return -EINVAL;
        struct tm tm = {.tm_year = year - 1900,
                        .tm_mon = mon - 1,
                        .tm_mday = mday,
                        .tm_hour = hour,
                        .tm_min = min,
                        .tm_sec = sec};
        time_t t = timegm(&tm);
        /* timegm() normalises 2026-02-30 to March 2nd; a date that moved did not exist. */
        if (tm.tm_mon != mon - 1 || tm.tm_mday != mday)
                return -EINVAL;
        *ret_ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
        return 0;
}

int timestamp_parse(const char *s, int64_t *ret_s)
{
        int64_t ms;
        int r = timestamp_parse_ms(s, &ms);
        if (r < 0)
                return r;
        *ret_s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
        return 0;
}

int64_t timestamp_ms_or_zero(const char *s)
{
        int64_t ms;
        if (timestamp_parse_ms(s, &ms) < 0 || ms <= 0)
                return 0;
        return ms;
}
