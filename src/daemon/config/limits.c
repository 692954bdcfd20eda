/* limits.c - the effective limits of one user from the loaded limits (see limits.h): built-in ⊕
 * defaults ⊕ group ⊕ user override (the override inherits from the group; DS01 skips the group
 * layer, we do not). Policies: built-in ⊕ global ⊕ group ⊕ override, per key. Also their
 * exemptions, and freeing what limits-load.c read (limits-internal.h). */
#include "daemon/config/limits-internal.h"

#include "shared/parse.h"

#include <assert.h>
#include <errno.h>
#include <grp.h>
#include <unistd.h>

struct limits *limits_free(struct limits *l)
{
        if (!l)
                return NULL;
        free(l->source);
        for (size_t i = 0; i < l->n_groups; i++) {
                struct limit_group *g = &l->groups[i];
                free(g->name);
                for (size_t j = 0; j < g->n_members; j++)
                        free(g->members[j]);
                free(g->members);
                free(g->unix_group);
        }
        free(l->groups);
        limits_types_free(l);
        free(l->default_group_name);
        for (size_t i = 0; i < l->n_overrides; i++)
                free(l->overrides[i].user);
        free(l->overrides);
        for (size_t i = 0; i < l->n_exemptions; i++) {
                free(l->exemptions[i].user);
                free(l->exemptions[i].reason);
        }
        free(l->exemptions);
        for (size_t i = 0; i < l->n_unused; i++)
                free(l->unused[i]);
        free(l->unused);
        free(l->group_names);
        for (size_t i = 0; i < l->n_forced; i++)
                free(l->forced[i].user);
        free(l->forced);
        for (size_t i = 0; i < l->n_archived; i++)
                free(l->archived[i]);
        free(l->archived);
        for (size_t i = 0; i < l->n_bare_metal_exempt; i++)
                free(l->bare_metal_exempt[i]);
        free(l->bare_metal_exempt);
        free(l);
        return NULL;
}

/* --- resolution ---------------------------------------------------------------------------- */

static struct override *find_override(const struct limits *l, const char *user)
{
        size_t lo = 0, hi = l->n_overrides;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(user, l->overrides[mid].user);
                if (c == 0)
                        return &l->overrides[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

int limits_cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_member(const struct limit_group *g, const char *user)
{
        if (!g->n_members)
                return false;
        return bsearch(&user, g->members, g->n_members, sizeof(*g->members), limits_cmp_str) !=
               NULL;
}

/* Looked up at each resolve, so a group created after the daemon started counts. */
static bool in_unix_group(const struct limit_group *g, const gid_t *gids, size_t n_gids)
{
        if (!g->unix_group || !n_gids)
                return false;
        gid_t gid;
        int64_t num;
        if (parse_int64(g->unix_group, 0, UINT32_MAX - 1, &num) == 0) {
                gid = (gid_t)num;
        } else {
                long sz = sysconf(_SC_GETGR_R_SIZE_MAX);
                size_t bufsz = sz > 0 ? (size_t)sz : 1024;
                for (;;) {
                        _cleanup_free_ char *buf = xmalloc(bufsz);
                        struct group gr, *res = NULL;
                        int r = getgrnam_r(g->unix_group, &gr, buf, bufsz, &res);
                        if (r == ERANGE && bufsz < (1u << 24)) {
                                bufsz *= 2;
                                continue;
                        }
                        if (r != 0 || !res)
                                return false; /* no such group (yet), or NSS trouble */
                        gid = res->gr_gid;
                        break;
                }
        }
        for (size_t i = 0; i < n_gids; i++)
                if (gids[i] == gid)
                        return true;
        return false;
}

void limits_resolve(const struct limits *l, const char *user, const gid_t *gids, size_t n_gids,
                    struct limit_set *ret)
{
        assert(l);
        assert(user);
        const struct limit_group *g = NULL;
        for (size_t i = 0; i < l->n_forced && !g; i++) /* group-overrides.txt first */
                if (streq(l->forced[i].user, user))
                        g = &l->groups[l->forced[i].group];
        for (size_t i = 0; i < l->n_groups && !g; i++)
                if (is_member(&l->groups[i], user) || in_unix_group(&l->groups[i], gids, n_gids))
                        g = &l->groups[i];
        if (!g)
                g = &l->groups[l->default_group];

        *ret = g->base;
        ret->user = xstrdup(user);
        ret->group = xstrdup(g->name);
        ret->overridden = false;
        const struct override *o = find_override(l, user);
        if (o) {
                limits_layer_apply(ret, &o->layer);
                ret->overridden = true;
        }
        struct limit_aggregate *a = &ret->aggregate;
        if (a->tasks_max < 0)
                a->tasks_max = ret->max_tasks;
        if (a->gpu_limit >= 0 &&
            (ret->max_gpu_equivalents < 0 || a->gpu_limit < ret->max_gpu_equivalents))
                ret->max_gpu_equivalents = a->gpu_limit;
        if (l->aggregate_off)
                a->cpu_quota = a->memory_max = a->memory_high = a->tasks_max = -1;
}

bool limit_set_has_aggregate(const struct limit_set *s)
{
        const struct limit_aggregate *a = &s->aggregate;
        return a->cpu_quota > 0 || a->memory_max >= 0 || a->memory_high >= 0 || a->tasks_max >= 0;
}

void limit_set_release(struct limit_set *s)
{
        if (!s)
                return;
        free(s->user);
        free(s->group);
        s->user = NULL;
        s->group = NULL;
}

const char *const *limits_unused_keys(const struct limits *l)
{
        return (const char *const *)l->unused;
}

bool limits_archived(const struct limits *l, const char *user)
{
        return l->n_archived > 0 && bsearch(&user, l->archived, l->n_archived, sizeof(*l->archived),
                                            limits_cmp_str) != NULL;
}

bool limits_bare_metal_exempt(const struct limits *l, const char *user)
{
        return l && user && l->n_bare_metal_exempt > 0 &&
               bsearch(&user, l->bare_metal_exempt, l->n_bare_metal_exempt,
                       sizeof(*l->bare_metal_exempt), limits_cmp_str) != NULL;
}

const char *const *limits_groups(const struct limits *l)
{
        return (const char *const *)l->group_names;
}

const char *limits_exemption(const struct limits *l, const char *user, enum limits_rule rule,
                             int64_t now)
{
        unsigned want = rule == LIMITS_IDLE ? EXEMPT_IDLE : EXEMPT_RUNTIME;
        for (size_t i = 0; l && user && i < l->n_exemptions; i++) {
                const struct exemption *e = &l->exemptions[i];
                if (!(e->exempt_from & want) || !streq(e->user, user))
                        continue;
                if (e->expires_on >= 0 && e->expires_on <= now)
                        continue;
                return e->reason && *e->reason ? e->reason : "exempt (lifecycle-exemptions.yaml)";
        }
        return NULL;
}

size_t limits_group_members(const struct limits *l, const char *group, const char *const **ret)
{
        *ret = NULL;
        for (size_t i = 0; l && i < l->n_groups; i++)
                if (streq(l->groups[i].name, group)) {
                        *ret = (const char *const *)l->groups[i].members;
                        return l->groups[i].n_members;
                }
        return 0;
}

bool limits_group_values(const struct limits *l, const char *group, struct limit_set *ret)
{
        for (size_t i = 0; l && i < l->n_groups; i++)
                if (streq(l->groups[i].name, group)) {
                        *ret = l->groups[i].base;
                        ret->user = ret->group = NULL;
                        double g = ret->aggregate.gpu_limit;
                        if (g >= 0 &&
                            (ret->max_gpu_equivalents < 0 || g < ret->max_gpu_equivalents))
                                ret->max_gpu_equivalents = g;
                        return true;
                }
        return false;
}

size_t limits_forced_users(const struct limits *l, const char ***ret_users,
                           const char ***ret_groups)
{
        const char **u = xcalloc(l->n_forced + 1, sizeof(*u));
        const char **g = xcalloc(l->n_forced + 1, sizeof(*g));
        for (size_t i = 0; i < l->n_forced; i++) {
                u[i] = l->forced[i].user;
                g[i] = l->groups[l->forced[i].group].name;
        }
        *ret_users = u;
        *ret_groups = g;
        return l->n_forced;
}
