#include "names.h"

#include <stdio.h>

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int names_check_project(const char *p, struct error **err)
{
        if (!p || !*p)
                return error_set(
                    err, DS01_EUSAGE,
                    "missing project name: give one, e.g. 'container-deploy my-project'");
        size_t n = strlen(p);
        if (n > NAMES_PROJECT_MAX)
                return error_set(err, DS01_EUSAGE,
                                 "project name is %zu characters long: use at most %d (lower-case "
                                 "letters, digits, '-' and '_')",
                                 n, NAMES_PROJECT_MAX);
        bool ok = is_lower_alnum(p[0]);
        for (size_t i = 1; ok && i < n; i++)
                ok = is_lower_alnum(p[i]) || p[i] == '-' || p[i] == '_';
        if (!ok)
                return error_set(err, DS01_EUSAGE,
                                 "invalid project name '%.80s': use lower-case letters, digits, "
                                 "'-' and '_', starting with a letter or digit (e.g. 'my-project')",
                                 p);
        return 0;
}

/* The one rule for user parts: what names_user_part gives and names_check_user_part takes. */
static bool user_part_valid(const char *u)
{
        bool ok = u && is_lower_alnum(u[0]) && strlen(u) <= NAMES_USER_MAX;
        for (const char *c = u; ok && *c; c++)
                ok = is_lower_alnum(*c) || *c == '_' || *c == '.' || *c == '-';
        /* "._." inside a login would make the container name ambiguous. */
        return ok && !strstr(u, NAMES_SEPARATOR);
}

/* "_u<uid>": the stand-in for a login that cannot be a user part. */
static bool user_part_mapped(const char *u)
{
        size_t n = strlen(u);
        return n > 2 && n <= NAMES_USER_MAX && u[0] == '_' && u[1] == 'u' &&
               strspn(u + 2, "0123456789") == n - 2;
}

char *names_user_part(const char *login, unsigned uid)
{
        /* A leading '_' is what no valid login has: a mapped name is never another user's. */
        return user_part_valid(login) ? xstrdup(login) : xasprintf("_u%u", uid);
}

int names_check_user_part(const char *u, struct error **err)
{
        if (user_part_valid(u) || user_part_mapped(u))
                return 0;
        /* Not echoed: the part may hold anything (control characters included). */
        return error_set(err, DS01_EUSAGE,
                         "invalid container name: the part after '" NAMES_SEPARATOR
                         "' must be a user name (lower-case letters, digits, '_', '.' and '-', at "
                         "most %d characters), e.g. 'my-project" NAMES_SEPARATOR "alice'",
                         NAMES_USER_MAX);
}

char *names_container(const char *project, const char *user_part)
{
        return xasprintf("%s" NAMES_SEPARATOR "%s", project, user_part);
}

int names_split_container(const char *s, char **ret_project, char **ret_user_part)
{
        const char *sep = s ? strstr(s, NAMES_SEPARATOR) : NULL;
        if (!sep || sep == s || !sep[3])
                return -1;
        *ret_project = xstrndup(s, (size_t)(sep - s));
        *ret_user_part = xstrdup(sep + 3);
        return 0;
}

char *names_user_image(unsigned uid, const char *project)
{
        return xasprintf("ds01-%u/%s:latest", uid, project);
}

int names_parse_port(const char *s, int *ret, struct error **err)
{
        int v = 0;
        bool ok = s && s[0] >= '1' && s[0] <= '9' && strlen(s) <= 5;
        for (const char *c = s; ok && *c; c++) {
                ok = *c >= '0' && *c <= '9';
                v = v * 10 + (*c - '0');
        }
        if (!ok || v > 65535)
                return error_set(err, DS01_EUSAGE,
                                 "'%.20s' is not a port: give a number from 1 to 65535, such as "
                                 "8888 (Jupyter) or 6006 (TensorBoard)",
                                 s ? s : "");
        *ret = v;
        return 0;
}

char *names_port_socket(const char *project, int port)
{
        return xasprintf("%s.%d", project, port);
}
