/* limits-load.c - DS01's resource-limits.yaml and the files beside it (groups/<g>.members,
 * user-overrides.yaml, lifecycle-exemptions.yaml) read into struct limits. */
#include "daemon/config/limits-internal.h"

#include "shared/strbuf.h"
#include "shared/timestamp.h"

#include <ctype.h>
#include <errno.h>

#define LIMITS_MAX_GROUPS 256

static void limitsp_free(struct limits **l)
{
        limits_free(*l);
}

static struct limit_group *find_group(struct limits *l, const char *name)
{
        for (size_t i = 0; i < l->n_groups; i++)
                if (streq(l->groups[i].name, name))
                        return &l->groups[i];
        return NULL;
}

static bool group_name_valid(const char *s)
{
        size_t len = strlen(s);
        if (len < 1 || len > 64 || !isalnum((unsigned char)s[0]))
                return false;
        for (size_t i = 1; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.')
                        return false;
        }
        return true;
}

/* A file beside the limits file (rel: its path under that directory) with one entry per line,
 * '#' comments and blank lines skipped: fn(entry, path, line number, ctx, err) for each. A file
 * that does not exist has none. */
static int read_lines(const struct loader *ld, const char *rel,
                      int (*fn)(char *entry, const char *path, unsigned line, void *ctx,
                                struct error **err),
                      void *ctx, struct error **err)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", ld->dir, rel);
        _cleanup_free_ char *buf = NULL;
        int r = yamldoc_read_file(path, &buf, NULL, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return -1;
        unsigned line = 0;
        char *save = NULL;
        for (char *p = buf; p; p = save) {
                line++;
                char *nl = strchr(p, '\n');
                save = nl ? nl + 1 : NULL;
                if (nl)
                        *nl = '\0';
                char *hash = strchr(p, '#');
                if (hash)
                        *hash = '\0';
                while (isspace((unsigned char)*p))
                        p++;
                size_t len = strlen(p);
                while (len && isspace((unsigned char)p[len - 1]))
                        p[--len] = '\0';
                if (len && fn(p, path, line, ctx, err) < 0)
                        return -1;
        }
        return 0;
}

static int check_login(const char *login, const char *path, unsigned line, struct error **err)
{
        if (limits_login_valid(login))
                return 0;
        return error_set(err, DS01_EUSAGE,
                         "%s:%u: invalid login '%s': one login per line, '#' starts a comment",
                         path, line, login);
}

/* One login of a members file, added to the list ctx (a struct login_list). */
struct login_list {
        char ***v;
        size_t *n;
};

static int add_login(char *entry, const char *path, unsigned line, void *ctx, struct error **err)
{
        struct login_list *ll = ctx;
        if (check_login(entry, path, line, err) < 0)
                return -1;
        *ll->v = xrealloc(*ll->v, (*ll->n + 1) * sizeof(**ll->v));
        (*ll->v)[(*ll->n)++] = xstrdup(entry);
        return 0;
}

/* groups/<g>.members beside the limits file: one login per line, '#' comments. */
static int load_members_file(const struct loader *ld, struct limit_group *g, struct error **err)
{
        _cleanup_free_ char *rel = xasprintf("groups/%s.members", g->name);
        struct login_list ll = {&g->members, &g->n_members};
        return read_lines(ld, rel, add_login, &ll, err);
}

/* group-overrides.txt (DS01's "login:group" lines): the group a login is in, whatever the
 * members files and unix groups say. */
static int add_forced(char *entry, const char *path, unsigned line, void *ctx, struct error **err)
{
        struct limits *l = ctx;
        char *colon = strchr(entry, ':');
        if (!colon)
                return error_set(err, DS01_EUSAGE,
                                 "%s:%u: '%s' is not LOGIN:GROUP (one per line, '#' comments)",
                                 path, line, entry);
        *colon = '\0';
        const char *group = colon + 1;
        while (isspace((unsigned char)*group))
                group++;
        size_t n = strlen(entry);
        while (n && isspace((unsigned char)entry[n - 1]))
                entry[--n] = '\0';
        if (check_login(entry, path, line, err) < 0)
                return -1;
        const struct limit_group *g = find_group(l, group);
        if (!g)
                return error_set(err, DS01_EUSAGE,
                                 "%s:%u: group '%s' of %s is not one of the groups of %s", path,
                                 line, group, entry, l->source);
        l->forced = xrealloc(l->forced, (l->n_forced + 1) * sizeof(*l->forced));
        l->forced[l->n_forced++] = (struct forced_group){xstrdup(entry), (size_t)(g - l->groups)};
        return 0;
}

/* DS01's files beside the limits file that are not about one group's members: archived users
 * (groups/archived.members, who may not deploy) and group-overrides.txt. */
static int load_membership_files(const struct loader *ld, struct error **err)
{
        struct limits *l = ld->l;
        struct login_list ll = {&l->archived, &l->n_archived};
        if (read_lines(ld, "groups/archived.members", add_login, &ll, err) < 0 ||
            read_lines(ld, "group-overrides.txt", add_forced, l, err) < 0)
                return -1;
        if (l->n_archived)
                qsort(l->archived, l->n_archived, sizeof(*l->archived), limits_cmp_str);
        return 0;
}

static int cmp_override(const void *a, const void *b)
{
        return strcmp(((const struct override *)a)->user, ((const struct override *)b)->user);
}

static int parse_groups(struct loader *ld, const struct yamldoc_node *n, struct error **err)
{
        struct limits *l = ld->l;
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(ld->d, n, YAMLDOC_MAP, "groups", err) < 0)
                return -1;
        if (n->n > LIMITS_MAX_GROUPS)
                return yamldoc_error(ld->d, n->line, err, "%zu groups; the limit is %d", n->n,
                                     LIMITS_MAX_GROUPS);
        l->groups = xcalloc(n->n ? n->n : 1, sizeof(*l->groups));
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                if (!group_name_valid(p->key))
                        return yamldoc_error(ld->d, p->line, err,
                                             "bad group name '%s': use letters, digits, '_', "
                                             "'-' and '.' (at most 64)",
                                             p->key);
                struct limit_group *g = &l->groups[l->n_groups++];
                g->name = xstrdup(p->key);
                _cleanup_free_ char *where = xasprintf("groups.%s", p->key);
                if (limits_parse_values(ld, p->value, where, "groups.*", SECTION_GROUP, &g->layer,
                                        g, err) < 0)
                        return -1;
                if (load_members_file(ld, g, err) < 0)
                        return -1;
                if (g->n_members)
                        qsort(g->members, g->n_members, sizeof(*g->members), limits_cmp_str);
        }
        return 0;
}

static struct override *get_override(struct limits *l, const char *user)
{
        for (size_t i = 0; i < l->n_overrides; i++)
                if (streq(l->overrides[i].user, user))
                        return &l->overrides[i];
        l->overrides = xrealloc(l->overrides, (l->n_overrides + 1) * sizeof(*l->overrides));
        struct override *o = &l->overrides[l->n_overrides++];
        *o = (struct override){.user = xstrdup(user)};
        return o;
}

/* `user_overrides:` inline or user-overrides.yaml: {user: {key: value, policies: {...}}}. Later
 * calls win per key. */
static int parse_overrides(struct loader *ld, const struct yamldoc_node *n, const char *where,
                           struct error **err)
{
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(ld->d, n, YAMLDOC_MAP, where, err) < 0)
                return -1;
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                if (!limits_login_valid(p->key))
                        return yamldoc_error(ld->d, p->line, err, "invalid login '%s' in %s",
                                             p->key, where);
                _cleanup_free_ char *uwhere = xasprintf("%s.%s", where, p->key);
                struct layer layer = {0};
                if (limits_parse_values(ld, p->value, uwhere, "user_overrides.*", SECTION_OVERRIDE,
                                        &layer, NULL, err) < 0)
                        return -1;
                limits_layer_merge(&get_override(ld->l, p->key)->layer, &layer);
        }
        return 0;
}

static int load_overrides_file(struct loader *ld, struct error **err)
{
        _cleanup_free_ char *path = xasprintf("%s/user-overrides.yaml", ld->dir);
        _cleanup_yamldoc_ struct yamldoc *d = NULL;
        int r = yamldoc_load(path, &d, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return -1;
        struct loader sub = *ld;
        sub.d = d;
        const struct yamldoc_node *root = d->root;
        /* Also accept the inline spelling, wrapped in `user_overrides:`. */
        if (root->kind == YAMLDOC_MAP && root->n == 1 &&
            streq(root->pairs[0].key, "user_overrides"))
                root = root->pairs[0].value;
        return parse_overrides(&sub, root, "user-overrides.yaml", err);
}

static int parse_exemption(const struct loader *ld, const struct yamldoc_node *n, size_t idx,
                           struct exemption *e, struct error **err)
{
        static const char *const known[] = {"username", "exempt_from", "reason", "expires_on",
                                            NULL};
        const struct yamldoc *d = ld->d;
        _cleanup_free_ char *where = xasprintf("exemptions[%zu]", idx);
        if (yamldoc_expect(d, n, YAMLDOC_MAP, where, err) < 0)
                return -1;
        e->expires_on = -1;
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                _cleanup_free_ char *what = xasprintf("%s.%s", where, p->key);
                const struct yamldoc_node *v = p->value;
                if (streq(p->key, "username")) {
                        const char *s;
                        if (yamldoc_get_string(d, v, what, &s, err) < 0)
                                return -1;
                        if (!limits_login_valid(s))
                                return yamldoc_error(d, v->line, err, "invalid login '%s' in %s", s,
                                                     what);
                        free(e->user);
                        e->user = xstrdup(s);
                } else if (streq(p->key, "exempt_from")) {
                        /* A list, or one name. */
                        size_t cnt = v && v->kind == YAMLDOC_SEQ ? v->n : 1;
                        for (size_t j = 0; j < cnt; j++) {
                                const struct yamldoc_node *item =
                                    v && v->kind == YAMLDOC_SEQ ? v->items[j] : v;
                                const char *s;
                                if (yamldoc_get_string(d, item, what, &s, err) < 0)
                                        return -1;
                                if (streq(s, "idle_timeout_h"))
                                        e->exempt_from |= EXEMPT_IDLE;
                                else if (streq(s, "max_runtime_h"))
                                        e->exempt_from |= EXEMPT_RUNTIME;
                                else
                                        return yamldoc_error(d, item->line, err,
                                                             "'%s' must list idle_timeout_h "
                                                             "and/or max_runtime_h, not '%s'",
                                                             what, s);
                        }
                } else if (streq(p->key, "reason")) {
                        if (yamldoc_is_null(v))
                                continue;
                        const char *s;
                        if (yamldoc_get_string(d, v, what, &s, err) < 0)
                                return -1;
                        free(e->reason);
                        e->reason = xstrdup(s);
                } else if (streq(p->key, "expires_on")) {
                        if (yamldoc_is_null(v))
                                continue;
                        const char *s;
                        if (yamldoc_get_string(d, v, what, &s, err) < 0)
                                return -1;
                        if (timestamp_parse(s, &e->expires_on) < 0)
                                return yamldoc_error(d, v->line, err,
                                                     "'%s' must be an ISO-8601 date or time "
                                                     "(2026-03-01 or 2026-03-01T18:00:00Z) or "
                                                     "null, not '%s'",
                                                     what, s);
                } else {
                        return yamldoc_unknown_key(d, p, where, known, err);
                }
        }
        if (!e->user)
                return yamldoc_error(d, n->line, err, "%s has no username", where);
        if (!e->exempt_from)
                return yamldoc_error(d, n->line, err,
                                     "%s has no exempt_from; add exempt_from: [idle_timeout_h] "
                                     "or [max_runtime_h]",
                                     where);
        return 0;
}

static int load_exemptions_file(struct loader *ld, struct error **err)
{
        _cleanup_free_ char *path = xasprintf("%s/lifecycle-exemptions.yaml", ld->dir);
        _cleanup_yamldoc_ struct yamldoc *d = NULL;
        int r = yamldoc_load(path, &d, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return -1;
        struct loader sub = *ld;
        sub.d = d;
        if (yamldoc_is_null(d->root))
                return 0;
        if (yamldoc_expect(d, d->root, YAMLDOC_MAP, "lifecycle-exemptions.yaml", err) < 0)
                return -1;
        static const char *const known[] = {"exemptions", NULL};
        for (size_t i = 0; i < d->root->n; i++) {
                const struct yamldoc_pair *p = &d->root->pairs[i];
                if (!streq(p->key, "exemptions"))
                        return yamldoc_unknown_key(d, p, "lifecycle-exemptions.yaml", known, err);
                const struct yamldoc_node *v = p->value;
                if (yamldoc_is_null(v))
                        continue;
                if (yamldoc_expect(d, v, YAMLDOC_SEQ, "exemptions", err) < 0)
                        return -1;
                struct limits *l = ld->l;
                l->exemptions =
                    xrealloc(l->exemptions, (l->n_exemptions + v->n + 1) * sizeof(*l->exemptions));
                for (size_t j = 0; j < v->n; j++) {
                        struct exemption *e = &l->exemptions[l->n_exemptions++];
                        *e = (struct exemption){0};
                        if (parse_exemption(&sub, v->items[j], j, e, err) < 0)
                                return -1;
                }
        }
        return 0;
}

/* Whole top-level sections: listed by their name. */
static const char *const unused_sections[] = {
    "gpu_allocation", "monitoring", "access_control", "advanced", "wizard", NULL,
};

/* `bare_metal_access:`: exempt_users is acted on (limits_bare_metal_exempt); the other keys
 * (admin_group, default_grant_duration_h, state_dir: DS01's grant files for its profile.d
 * CUDA_VISIBLE_DEVICES block) have no meaning here and are listed as unused. */
static int parse_bare_metal(struct loader *ld, const struct yamldoc_node *n, struct error **err)
{
        struct limits *l = ld->l;
        const struct yamldoc *d = ld->d;
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(d, n, YAMLDOC_MAP, "bare_metal_access", err) < 0)
                return -1;
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                if (!streq(p->key, "exempt_users")) {
                        _cleanup_free_ char *path = xasprintf("bare_metal_access.%s", p->key);
                        limits_note_unused(l, path);
                        continue;
                }
                const struct yamldoc_node *v = p->value;
                if (yamldoc_is_null(v))
                        continue;
                if (yamldoc_expect(d, v, YAMLDOC_SEQ, "bare_metal_access.exempt_users", err) < 0)
                        return -1;
                for (size_t j = 0; j < v->n; j++) {
                        const char *user;
                        if (yamldoc_get_string(d, v->items[j], "bare_metal_access.exempt_users",
                                               &user, err) < 0)
                                return -1;
                        l->bare_metal_exempt =
                            xrealloc(l->bare_metal_exempt,
                                     (l->n_bare_metal_exempt + 1) * sizeof(*l->bare_metal_exempt));
                        l->bare_metal_exempt[l->n_bare_metal_exempt++] = xstrdup(user);
                }
        }
        if (l->n_bare_metal_exempt)
                qsort(l->bare_metal_exempt, l->n_bare_metal_exempt, sizeof(*l->bare_metal_exempt),
                      limits_cmp_str);
        return 0;
}

static const char *const top_keys[] = {
    "defaults",   "default_group",     "groups",         "user_overrides",
    "policies",   "enforcement",       "gpu_allocation", "container_types",
    "monitoring", "bare_metal_access", "access_control", NULL,
};

/* enforcement: aggregate_limits turns the per-user cgroup caps off; the rest (cgroup_driver:
 * ds01 asks Docker which driver it uses) is accepted and not acted on. */
static int parse_enforcement(struct loader *ld, const struct yamldoc_node *v, struct error **err)
{
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(ld->d, v, YAMLDOC_MAP, "enforcement", err) < 0)
                return -1;
        for (size_t j = 0; j < v->n; j++) {
                const struct yamldoc_pair *p = &v->pairs[j];
                _cleanup_free_ char *path = xasprintf("enforcement.%s", p->key);
                if (streq(p->key, "aggregate_limits")) {
                        bool on;
                        if (yamldoc_get_bool(ld->d, p->value, path, &on, err) < 0)
                                return -1;
                        ld->l->aggregate_off = !on;
                } else {
                        limits_note_unused(ld->l, path);
                }
        }
        return 0;
}

static int parse_top(struct loader *ld, struct error **err)
{
        struct limits *l = ld->l;
        const struct yamldoc *d = ld->d;
        if (yamldoc_is_null(d->root))
                return 0;
        if (yamldoc_expect(d, d->root, YAMLDOC_MAP, "the limits file", err) < 0)
                return -1;
        /* Groups first is not needed: every layer is kept apart and combined at the end. */
        for (size_t i = 0; i < d->root->n; i++) {
                const struct yamldoc_pair *p = &d->root->pairs[i];
                const struct yamldoc_node *v = p->value;
                int r = 0;
                if (streq(p->key, "defaults")) {
                        r = limits_parse_values(ld, v, "defaults", "defaults", SECTION_DEFAULTS,
                                                &l->top, NULL, err);
                } else if (streq(p->key, "policies")) {
                        r = limits_parse_policies(ld, v, "policies", "policies", &l->top, err);
                } else if (streq(p->key, "default_group")) {
                        const char *s;
                        if (yamldoc_get_string(d, v, "default_group", &s, err) < 0)
                                return -1;
                        free(l->default_group_name);
                        l->default_group_name = xstrdup(s);
                        l->default_group_line = v->line;
                } else if (streq(p->key, "groups")) {
                        r = parse_groups(ld, v, err);
                } else if (streq(p->key, "container_types")) {
                        r = limits_parse_types(ld, v, err);
                } else if (streq(p->key, "user_overrides")) {
                        r = parse_overrides(ld, v, "user_overrides", err);
                } else if (streq(p->key, "enforcement")) {
                        r = parse_enforcement(ld, v, err);
                } else if (streq(p->key, "bare_metal_access")) {
                        r = parse_bare_metal(ld, v, err);
                } else if (limits_in_list(unused_sections, p->key)) {
                        limits_note_unused(l, p->key);
                } else {
                        return yamldoc_unknown_key(d, p, "the limits file", top_keys, err);
                }
                if (r < 0)
                        return -1;
        }
        return 0;
}

/* After parsing: the default group, and each group's resolved base. */
static int finish(struct loader *ld, struct error **err)
{
        struct limits *l = ld->l;
        if (!l->default_group_name)
                l->default_group_name = xstrdup("student");
        if (l->n_groups == 0) {
                l->groups = xcalloc(1, sizeof(*l->groups));
                l->groups[0].name = xstrdup(l->default_group_name);
                l->n_groups = 1;
        }
        struct limit_group *dg = find_group(l, l->default_group_name);
        if (!dg) {
                _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
                for (size_t i = 0; i < l->n_groups; i++)
                        strbuf_addf(&sb, "%s%s", i ? ", " : "", l->groups[i].name);
                return error_set(err, DS01_EUSAGE,
                                 "%s:%u: default_group '%s' is not one of the groups (%s); set "
                                 "default_group to one of them",
                                 l->source, l->default_group_line ? l->default_group_line : 1,
                                 l->default_group_name, strbuf_str(&sb));
        }
        l->default_group = (size_t)(dg - l->groups);

        l->group_names = xcalloc(l->n_groups + 1, sizeof(*l->group_names));
        for (size_t i = 0; i < l->n_groups; i++) {
                struct limit_group *g = &l->groups[i];
                limits_builtin_defaults(&g->base);
                limits_layer_apply(&g->base, &l->top);
                limits_layer_apply(&g->base, &g->layer);
                l->group_names[i] = g->name;
        }
        if (l->n_overrides)
                qsort(l->overrides, l->n_overrides, sizeof(*l->overrides), cmp_override);
        return 0;
}

static char *dir_of(const char *path)
{
        const char *slash = strrchr(path, '/');
        if (!slash)
                return xstrdup(".");
        if (slash == path)
                return xstrdup("/");
        return xstrndup(path, (size_t)(slash - path));
}

struct limits *limits_load(const char *path, struct error **err)
{
        _cleanup_(limitsp_free) struct limits *l = xzalloc(sizeof(*l));
        l->unused = xcalloc(1, sizeof(*l->unused));
        _cleanup_yamldoc_ struct yamldoc *d = NULL;
        int r = path ? yamldoc_load(path, &d, err) : -ENOENT;
        if (r < 0 && r != -ENOENT)
                return NULL;
        if (r == -ENOENT) {
                l->source = xstrdup("(built-in defaults)");
                struct loader ld = {.l = l};
                if (finish(&ld, err) < 0)
                        return NULL;
                return TAKE_PTR(l);
        }

        l->source = xstrdup(path);
        _cleanup_free_ char *dir = dir_of(path);
        struct loader ld = {.l = l, .d = d, .dir = dir};
        if (parse_top(&ld, err) < 0)
                return NULL;
        /* The file beside it wins per key over inline `user_overrides:`. */
        if (load_overrides_file(&ld, err) < 0)
                return NULL;
        if (load_exemptions_file(&ld, err) < 0)
                return NULL;
        if (load_membership_files(&ld, err) < 0)
                return NULL;
        if (finish(&ld, err) < 0)
                return NULL;
        return TAKE_PTR(l);
}
