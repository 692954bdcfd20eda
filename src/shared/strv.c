/* strv.c - NULL-terminated string vectors (see strv.h). */
#include "shared/strv.h"

#include "shared/strbuf.h"
#include "shared/util.h"

json_t *strv_to_json(char **v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

char *strv_join(char **v, const char *sep)
{
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; v && v[i]; i++) {
                if (i)
                        strbuf_adds(&sb, sep);
                strbuf_adds(&sb, v[i]);
        }
        return strbuf_detach(&sb);
}

void strv_split_csv(const char *s, char ***ret, size_t *ret_n)
{
        char **v = NULL;
        size_t n = 0;
        if (s && *s) {
                _cleanup_free_ char *copy = xstrdup(s);
                char *save = NULL;
                for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        v = xrealloc(v, (n + 2) * sizeof(*v));
                        v[n++] = xstrdup(t);
                        v[n] = NULL;
                }
        }
        *ret = v;
        *ret_n = n;
}

void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

void strv_push(struct strv *sv, const char *s)
{
        if (sv->n + 2 > sv->cap) {
                sv->cap = sv->cap ? sv->cap * 2 : 8;
                sv->v = xrealloc(sv->v, sv->cap * sizeof(char *));
        }
        sv->v[sv->n++] = xstrdup(s);
        sv->v[sv->n] = NULL;
}

bool strv_contains(const struct strv *sv, const char *s)
{
        for (size_t i = 0; i < sv->n; i++)
                if (streq(sv->v[i], s))
                        return true;
        return false;
}

char **strv_take(struct strv *sv)
{
        char **v = sv->v ? sv->v : xcalloc(1, sizeof(char *));
        *sv = (struct strv){0};
        return v;
}

void strv_release(struct strv *sv)
{
        strv_free(sv->v);
        *sv = (struct strv){0};
}
