#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <strings.h>

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
        if (!s || !*s || isspace((unsigned char)*s))
                return -EINVAL;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_double(const char *s, double min, double max, double *ret)
{
        if (!s || !*s || isspace((unsigned char)*s))
                return -EINVAL;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno == ERANGE || !isfinite(v))
                return -ERANGE;
        if (*end)
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_size(const char *s, int64_t *ret)
{
        if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
                return -EINVAL;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno == ERANGE || !isfinite(v) || v < 0)
                return -ERANGE;
        double mult = 1;
        switch (tolower((unsigned char)*end)) {
        case '\0':
                break;
        case 'b':
                end++;
                break;
        case 'k':
                mult = 1024.0, end++;
                break;
        case 'm':
                mult = 1024.0 * 1024, end++;
                break;
        case 'g':
                mult = 1024.0 * 1024 * 1024, end++;
                break;
        case 't':
                mult = 1024.0 * 1024 * 1024 * 1024, end++;
                break;
        default:
                return -EINVAL;
        }
        if (mult > 1 && tolower((unsigned char)*end) == 'b')
                end++;
        if (*end)
                return -EINVAL;
        double bytes = v * mult;
        if (bytes > 9.0e18)
                return -ERANGE;
        *ret = (int64_t)bytes;
        return 0;
}

int parse_duration(const char *s, int64_t *ret_seconds)
{
        if (!s || !*s)
                return -EINVAL;
        int64_t total = 0;
        const char *p = s;
        while (*p) {
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                char *end;
                errno = 0;
                long long v = strtoll(p, &end, 10);
                if (errno == ERANGE || v > 100LL * 365 * 86400)
                        return -ERANGE;
                int64_t unit;
                switch (*end) {
                case '\0':
                        if (p != s)
                                return -EINVAL; /* "1h30" is ambiguous */
                        unit = 1;
                        break;
                case 's':
                        unit = 1;
                        end++;
                        break;
                case 'm':
                        unit = 60;
                        end++;
                        break;
                case 'h':
                        unit = 3600;
                        end++;
                        break;
                case 'd':
                        unit = 86400;
                        end++;
                        break;
                default:
                        return -EINVAL;
                }
                total += v * unit;
                if (total > 100LL * 365 * 86400)
                        return -ERANGE;
                p = end;
        }
        *ret_seconds = total;
        return 0;
}

int parse_bool(const char *s, bool *ret)
{
        static const char *const yes[] = {"true", "yes", "on"};
        static const char *const no[] = {"false", "no", "off"};
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
        for (size_t i = 0; i < ARRAY_SIZE(no); i++)
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        return -EINVAL;
}
