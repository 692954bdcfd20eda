/* limits-types.c - DS01's `container_types:` section: lifecycle policies per interface, for
 * containers made through the Docker API endpoint (docker, compose, devcontainer; api and
 * unknown are read, though ds01 makes no such containers). Each type may set idle_timeout_h,
 * max_runtime_h (null: exempt from that rule) and sigterm_grace_s; what a type does not set is
 * the owner's group's. The owner's GPU quota is never per type. */
#include "daemon/config/limits-internal.h"

#include "shared/util.h"

#include <string.h>

static const char *const TYPE_NAMES[] = {"devcontainer", "compose", "docker",
                                         "api",          "unknown", NULL};

/* A duration in hours, or null (exempt: -1). */
static int hours_or_null(const struct yamldoc *d, const struct yamldoc_node *n, const char *what,
                         bool *set, double *ret, struct error **err)
{
        *set = true;
        if (yamldoc_is_null(n)) {
                *ret = -1;
                return 0;
        }
        return yamldoc_get_double(d, n, what, 0, 87600, ret, err);
}

static int parse_type(struct loader *ld, const char *name, const struct yamldoc_node *n,
                      struct limit_type *t, struct error **err)
{
        const struct yamldoc *d = ld->d;
        _cleanup_free_ char *where = xasprintf("container_types.%s", name);
        t->name = xstrdup(name);
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(d, n, YAMLDOC_MAP, where, err) < 0)
                return -1;
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                _cleanup_free_ char *what = xasprintf("%s.%s", where, p->key);
                int r;
                if (streq(p->key, "idle_timeout_h")) {
                        r = hours_or_null(d, p->value, what, &t->has_idle, &t->idle_timeout_h, err);
                } else if (streq(p->key, "max_runtime_h")) {
                        r = hours_or_null(d, p->value, what, &t->has_runtime, &t->max_runtime_h,
                                          err);
                } else if (streq(p->key, "sigterm_grace_s")) {
                        t->has_grace = true;
                        r = yamldoc_get_int64(d, p->value, what, 0, 3600, &t->sigterm_grace_s, err);
                } else {
                        limits_note_unused(ld->l, what); /* container_hold_after_stop_h, ... */
                        r = 0;
                }
                if (r < 0)
                        return -1;
        }
        return 0;
}

int limits_parse_types(struct loader *ld, const struct yamldoc_node *n, struct error **err)
{
        const struct yamldoc *d = ld->d;
        struct limits *l = ld->l;
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(d, n, YAMLDOC_MAP, "container_types", err) < 0)
                return -1;
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                if (!limits_in_list(TYPE_NAMES, p->key))
                        return yamldoc_unknown_key(d, p, "container_types", TYPE_NAMES, err);
                l->types = xrealloc(l->types, (l->n_types + 1) * sizeof(*l->types));
                struct limit_type *t = &l->types[l->n_types++];
                memset(t, 0, sizeof(*t));
                if (parse_type(ld, p->key, p->value, t, err) < 0)
                        return -1;
        }
        return 0;
}

void limits_types_free(struct limits *l)
{
        for (size_t i = 0; i < l->n_types; i++)
                free(l->types[i].name);
        free(l->types);
        l->types = NULL;
        l->n_types = 0;
}

void limits_apply_interface(const struct limits *l, const char *interface, struct limit_set *ls)
{
        for (size_t i = 0; interface && i < l->n_types; i++) {
                const struct limit_type *t = &l->types[i];
                if (!streq(t->name, interface))
                        continue;
                if (t->has_idle)
                        ls->idle_timeout_h = t->idle_timeout_h;
                if (t->has_runtime)
                        ls->max_runtime_h = t->max_runtime_h;
                if (t->has_grace)
                        ls->policies.sigterm_grace_s = t->sigterm_grace_s;
        }
}
