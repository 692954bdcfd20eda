/* limits.c - DS01's resource-limits.yaml and the files beside it, and the effective limits of one
 * user: built-in ⊕ defaults ⊕ group ⊕ user override (the override inherits from the group; DS01
 * skips the group layer, we do not). Policies: built-in ⊕ global ⊕ group ⊕ override, per key. */
#include "daemon/config/limits.h"

#include "daemon/config/yamldoc.h"

#include "shared/parse.h"
#include "shared/strbuf.h"
#include "shared/timestamp.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#define LIMITS_MAX_GROUPS 256
#define LIMITS_MAX_LOGIN  256
#define MAX_HOURS         1e6 /* a century is 876600 h */

/* --- the schema -------------------------------------------------------------------------- */

enum field_type {
        F_DOUBLE,   /* number, null = -1 */
        F_INT,      /* whole number, null = -1 */
        F_SIZE,     /* docker size, null = -1 */
        F_BOOL,     /* true/false, never null */
        F_FRACTION, /* number in (0, 1), never null */
        F_PERCENT,  /* number, never null */
        F_COUNT,    /* whole number, never null */
};

struct field {
        const char *name;
        enum field_type type;
        size_t offset;
        double max;
};

#define LS(n, t, m)                                                                                \
        {                                                                                          \
#n, t, offsetof(struct limit_set, n), m                                            \
        }
static const struct field value_fields[] = {
    LS(max_gpu_equivalents, F_DOUBLE, 1e6),
    LS(max_gpu_slots_per_container, F_INT, 1e6),
    LS(allow_full_gpu, F_BOOL, 0),
    LS(max_cpus, F_DOUBLE, 1e5),
    LS(memory, F_SIZE, 0),
    LS(memory_swap, F_SIZE, 0),
    LS(shm_size, F_SIZE, 0),
    LS(pids_limit, F_INT, 1e9),
    LS(max_containers_per_user, F_INT, 1e6),
    LS(max_runtime_h, F_DOUBLE, MAX_HOURS),
    LS(idle_timeout_h, F_DOUBLE, MAX_HOURS),
    LS(gpu_hold_after_stop_h, F_DOUBLE, MAX_HOURS),
    LS(container_hold_after_stop_h, F_DOUBLE, MAX_HOURS),
};
#undef LS
#define N_VALUE_FIELDS ARRAY_SIZE(value_fields)

#define LP(n, t, m)                                                                                \
        {                                                                                          \
#n, t, offsetof(struct limit_policies, n), m                                       \
        }
static const struct field policy_fields[] = {
    LP(gpu_idle_threshold, F_PERCENT, 100),
    LP(cpu_idle_threshold, F_PERCENT, 1e5),
    LP(network_idle_threshold, F_COUNT, 1e15),
    LP(grace_period_m, F_DOUBLE, 60 * MAX_HOURS),
    LP(keepalive_max_duration_h, F_DOUBLE, MAX_HOURS),
    LP(sigterm_grace_s, F_COUNT, 86400),
    LP(created_container_timeout_m, F_DOUBLE, 60 * MAX_HOURS),
    LP(idle_warn_1, F_FRACTION, 1),
    LP(idle_warn_2, F_FRACTION, 1),
    LP(runtime_warn_1, F_FRACTION, 1),
    LP(runtime_warn_2, F_FRACTION, 1),
};
#undef LP
#define N_POLICY_FIELDS ARRAY_SIZE(policy_fields)
_Static_assert(N_VALUE_FIELDS <= 32 && N_POLICY_FIELDS <= 32, "struct layer uses 32-bit masks");

/* DS01's old names, read as the new ones. */
static const struct {
        const char *alias, *name;
} value_aliases[] = {
    {"max_gpu_slots", "max_gpu_equivalents"},
    {"max_gpus_per_user", "max_gpu_equivalents"},
    {"max_mig_instances", "max_gpu_equivalents"},
    {"max_gpus_per_container", "max_gpu_slots_per_container"},
    {"max_mig_per_container", "max_gpu_slots_per_container"},
    {"cpus", "max_cpus"},
};

/* Keys DS01 files have that ds01 accepts and does not act on. */
static const char *const unused_value_keys[] = {
    "max_tasks",    "priority",      "storage_tmp",       "gpu_memory",   "io_read_bps",
    "io_write_bps", "ulimit_nofile", "storage_workspace", "storage_data", NULL,
};
static const char *const unused_policy_keys[] = {
    "high_demand_threshold",
    "high_demand_idle_reduction",
    "idle_detection_window",
    "gpu_hold_after_manual_stop_m",
    NULL,
};
/* Whole top-level sections: listed by their name. */
static const char *const unused_sections[] = {
    "gpu_allocation", "container_types", "monitoring", "bare_metal_access",
    "access_control", "advanced",        "wizard",     NULL,
};

static bool in_list(const char *const *list, const char *s)
{
        for (size_t i = 0; list[i]; i++)
                if (streq(list[i], s))
                        return true;
        return false;
}

/* --- layers: a partial set of values ------------------------------------------------------- */

struct layer {
        uint32_t set;  /* bit i: value_fields[i] given */
        uint32_t pset; /* bit i: policy_fields[i] given */
        struct limit_set v;
        struct limit_policies p;
};

static void copy_field(const struct field *f, void *dst, const void *src)
{
        switch (f->type) {
        case F_DOUBLE:
        case F_FRACTION:
        case F_PERCENT:
                memcpy((char *)dst + f->offset, (const char *)src + f->offset, sizeof(double));
                break;
        case F_INT:
        case F_SIZE:
        case F_COUNT:
                memcpy((char *)dst + f->offset, (const char *)src + f->offset, sizeof(int64_t));
                break;
        case F_BOOL:
                memcpy((char *)dst + f->offset, (const char *)src + f->offset, sizeof(bool));
                break;
        }
}

static void layer_apply(struct limit_set *s, const struct layer *l)
{
        for (size_t i = 0; i < N_VALUE_FIELDS; i++)
                if (l->set & (1u << i))
                        copy_field(&value_fields[i], s, &l->v);
        for (size_t i = 0; i < N_POLICY_FIELDS; i++)
                if (l->pset & (1u << i))
                        copy_field(&policy_fields[i], &s->policies, &l->p);
}

static void layer_merge(struct layer *dst, const struct layer *src)
{
        for (size_t i = 0; i < N_VALUE_FIELDS; i++)
                if (src->set & (1u << i))
                        copy_field(&value_fields[i], &dst->v, &src->v);
        for (size_t i = 0; i < N_POLICY_FIELDS; i++)
                if (src->pset & (1u << i))
                        copy_field(&policy_fields[i], &dst->p, &src->p);
        dst->set |= src->set;
        dst->pset |= src->pset;
}

/* DS01's `defaults:` and global `policies:` as deployed. */
static void builtin_defaults(struct limit_set *s)
{
        *s = (struct limit_set){
            .max_gpu_equivalents = 1.0,
            .max_gpu_slots_per_container = 1,
            .allow_full_gpu = true,
            .max_cpus = 32,
            .memory = 32LL << 30,
            .memory_swap = 32LL << 30,
            .shm_size = 16LL << 30,
            .pids_limit = 4096,
            .max_containers_per_user = 3,
            .max_runtime_h = 24,
            .idle_timeout_h = 0.5,
            .gpu_hold_after_stop_h = 0.25,
            .container_hold_after_stop_h = 0.5,
            .policies =
                {
                    .gpu_idle_threshold = 5,
                    .cpu_idle_threshold = 2.0,
                    .network_idle_threshold = 1048576,
                    .grace_period_m = 30,
                    .keepalive_max_duration_h = 24,
                    .sigterm_grace_s = 60,
                    .created_container_timeout_m = 30,
                    .idle_warn_1 = 0.80,
                    .idle_warn_2 = 0.95,
                    .runtime_warn_1 = 0.75,
                    .runtime_warn_2 = 0.90,
                },
        };
}

/* --- the loaded state ---------------------------------------------------------------------- */

struct limit_group {
        char *name;
        char **members; /* sorted */
        size_t n_members;
        char *unix_group; /* NULL: none */
        struct layer layer;
        struct limit_set base; /* built-in ⊕ defaults ⊕ this group (user/group unset) */
};

struct override {
        char *user;
        struct layer layer;
};

enum {
        EXEMPT_IDLE = 1 << 0,
        EXEMPT_RUNTIME = 1 << 1,
};

struct exemption {
        char *user;
        unsigned exempt_from; /* EXEMPT_* */
        char *reason;
        int64_t expires_on; /* unix time; -1: never */
};

struct limits {
        char *source;
        struct layer top; /* `defaults:` + global `policies:` */
        struct limit_group *groups;
        size_t n_groups;
        size_t default_group;
        char *default_group_name;
        unsigned default_group_line;
        struct override *overrides; /* sorted by user */
        size_t n_overrides;
        struct exemption *exemptions;
        size_t n_exemptions;
        char **unused; /* NULL-terminated */
        size_t n_unused;
        char **group_names; /* NULL-terminated */
};

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
        free(l);
        return NULL;
}

static void limitsp_free(struct limits **l)
{
        limits_free(*l);
}

static void note_unused(struct limits *l, const char *path)
{
        for (size_t i = 0; i < l->n_unused; i++)
                if (streq(l->unused[i], path))
                        return;
        l->unused = xrealloc(l->unused, (l->n_unused + 2) * sizeof(*l->unused));
        l->unused[l->n_unused++] = xstrdup(path);
        l->unused[l->n_unused] = NULL;
}

static struct limit_group *find_group(struct limits *l, const char *name)
{
        for (size_t i = 0; i < l->n_groups; i++)
                if (streq(l->groups[i].name, name))
                        return &l->groups[i];
        return NULL;
}

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

/* A login as members files and overrides spell it: printable, no spaces, bounded. DS01's
 * logins look like "jdoe@hertie-school.lan", so '@' and '.' are fine. */
static bool login_valid(const char *s)
{
        size_t len = strlen(s);
        if (len < 1 || len > LIMITS_MAX_LOGIN)
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (isspace(ch) || iscntrl(ch) || ch == ':' || ch == '/' || ch == '#')
                        return false;
        }
        return true;
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

/* --- parsing ------------------------------------------------------------------------------- */

struct loader {
        struct limits *l;
        const struct yamldoc *d;
        char *dir; /* directory of the limits file */
};

static int parse_field(const struct loader *ld, const struct field *f, const struct yamldoc_pair *p,
                       const char *what, void *base, struct error **err)
{
        const struct yamldoc *d = ld->d;
        const struct yamldoc_node *v = p->value;
        void *dst = (char *)base + f->offset;
        bool nullable = f->type == F_DOUBLE || f->type == F_INT || f->type == F_SIZE;
        if (yamldoc_is_null(v)) {
                if (!nullable)
                        return yamldoc_error(d, v ? v->line : p->line, err,
                                             "'%s' cannot be null; give a value", what);
                if (f->type == F_DOUBLE) {
                        double x = -1;
                        memcpy(dst, &x, sizeof(x));
                } else {
                        int64_t x = -1;
                        memcpy(dst, &x, sizeof(x));
                }
                return 0;
        }
        switch (f->type) {
        case F_DOUBLE:
        case F_PERCENT: {
                double x;
                if (yamldoc_get_double(d, v, what, 0, f->max, &x, err) < 0)
                        return -1;
                memcpy(dst, &x, sizeof(x));
                return 0;
        }
        case F_FRACTION: {
                double x;
                if (yamldoc_get_double(d, v, what, 0, 1, &x, err) < 0)
                        return -1;
                if (x <= 0 || x >= 1)
                        return yamldoc_error(d, v->line, err,
                                             "'%s' must be a fraction between 0 and 1 (e.g. "
                                             "0.8), not '%s'",
                                             what, v->scalar);
                memcpy(dst, &x, sizeof(x));
                return 0;
        }
        case F_INT:
        case F_COUNT: {
                int64_t x;
                if (yamldoc_get_int64(d, v, what, 0, (int64_t)f->max, &x, err) < 0)
                        return -1;
                memcpy(dst, &x, sizeof(x));
                return 0;
        }
        case F_SIZE: {
                int64_t x;
                if (yamldoc_get_size(d, v, what, &x, err) < 0)
                        return -1;
                memcpy(dst, &x, sizeof(x));
                return 0;
        }
        case F_BOOL: {
                bool x;
                if (yamldoc_get_bool(d, v, what, &x, err) < 0)
                        return -1;
                memcpy(dst, &x, sizeof(x));
                return 0;
        }
        }
        return 0;
}

static int parse_policies(const struct loader *ld, const struct yamldoc_node *n, const char *where,
                          const char *unused_prefix, struct layer *out, struct error **err)
{
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(ld->d, n, YAMLDOC_MAP, where, err) < 0)
                return -1;
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                _cleanup_free_ char *what = xasprintf("%s.%s", where, p->key);
                size_t f;
                for (f = 0; f < N_POLICY_FIELDS; f++)
                        if (streq(policy_fields[f].name, p->key))
                                break;
                if (f < N_POLICY_FIELDS) {
                        if (parse_field(ld, &policy_fields[f], p, what, &out->p, err) < 0)
                                return -1;
                        out->pset |= 1u << f;
                        continue;
                }
                if (in_list(unused_policy_keys, p->key)) {
                        _cleanup_free_ char *path = xasprintf("%s.%s", unused_prefix, p->key);
                        note_unused(ld->l, path);
                        continue;
                }
                const char *known[N_POLICY_FIELDS + ARRAY_SIZE(unused_policy_keys)];
                size_t k = 0;
                for (size_t j = 0; j < N_POLICY_FIELDS; j++)
                        known[k++] = policy_fields[j].name;
                for (size_t j = 0; unused_policy_keys[j]; j++)
                        known[k++] = unused_policy_keys[j];
                known[k] = NULL;
                return yamldoc_unknown_key(ld->d, p, where, known, err);
        }
        /* Warnings must come in order when both are given together. */
        static const struct {
                size_t a, b;
        } pairs[] = {{7, 8}, {9, 10}};
        for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
                size_t a = pairs[i].a, b = pairs[i].b;
                if ((out->pset & (1u << a)) && (out->pset & (1u << b))) {
                        double x, y;
                        memcpy(&x, (char *)&out->p + policy_fields[a].offset, sizeof(x));
                        memcpy(&y, (char *)&out->p + policy_fields[b].offset, sizeof(y));
                        if (x >= y)
                                return yamldoc_error(
                                    ld->d, n->line, err, "%s: %s (%g) must be smaller than %s (%g)",
                                    where, policy_fields[a].name, x, policy_fields[b].name, y);
                }
        }
        return 0;
}

static int parse_members_list(const struct loader *ld, const struct yamldoc_node *n,
                              const char *where, struct limit_group *g, struct error **err)
{
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(ld->d, n, YAMLDOC_SEQ, where, err) < 0)
                return -1;
        for (size_t i = 0; i < n->n; i++) {
                const char *s;
                if (yamldoc_get_string(ld->d, n->items[i], where, &s, err) < 0)
                        return -1;
                if (!login_valid(s))
                        return yamldoc_error(ld->d, n->items[i]->line, err,
                                             "invalid login '%s' in %s", s, where);
                g->members = xrealloc(g->members, (g->n_members + 1) * sizeof(*g->members));
                g->members[g->n_members++] = xstrdup(s);
        }
        return 0;
}

enum section_kind {
        SECTION_DEFAULTS,
        SECTION_GROUP,
        SECTION_OVERRIDE,
};

/* A mapping of limit values: `defaults:`, `groups.<g>:` or one user's override. */
static int parse_values(const struct loader *ld, const struct yamldoc_node *n, const char *where,
                        const char *unused_prefix, enum section_kind kind, struct layer *out,
                        struct limit_group *g, struct error **err)
{
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(ld->d, n, YAMLDOC_MAP, where, err) < 0)
                return -1;
        unsigned set_line[N_VALUE_FIELDS] = {0};
        const char *set_as[N_VALUE_FIELDS] = {0};
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                _cleanup_free_ char *what = xasprintf("%s.%s", where, p->key);
                const char *name = p->key;
                for (size_t j = 0; j < ARRAY_SIZE(value_aliases); j++)
                        if (streq(value_aliases[j].alias, p->key))
                                name = value_aliases[j].name;
                size_t f;
                for (f = 0; f < N_VALUE_FIELDS; f++)
                        if (streq(value_fields[f].name, name))
                                break;
                if (f < N_VALUE_FIELDS) {
                        if (out->set & (1u << f))
                                return yamldoc_error(
                                    ld->d, p->line, err,
                                    "'%s' and '%s' (line %u) set the same limit in %s ('%s' "
                                    "is DS01's old name for '%s'); remove one",
                                    p->key, set_as[f], set_line[f], where,
                                    name == p->key ? set_as[f] : p->key, name);
                        if (parse_field(ld, &value_fields[f], p, what, &out->v, err) < 0)
                                return -1;
                        out->set |= 1u << f;
                        set_line[f] = p->line;
                        set_as[f] = p->key;
                        continue;
                }
                if (in_list(unused_value_keys, p->key)) {
                        _cleanup_free_ char *path = xasprintf("%s.%s", unused_prefix, p->key);
                        note_unused(ld->l, path);
                        continue;
                }
                if (kind != SECTION_DEFAULTS && streq(p->key, "policies")) {
                        _cleanup_free_ char *pprefix = xasprintf("%s.policies", unused_prefix);
                        if (parse_policies(ld, p->value, what, pprefix, out, err) < 0)
                                return -1;
                        continue;
                }
                if (kind != SECTION_DEFAULTS && streq(p->key, "aggregate")) {
                        /* Per-user systemd slice caps: not enforced by ds01 (yet). */
                        if (!yamldoc_is_null(p->value) &&
                            yamldoc_expect(ld->d, p->value, YAMLDOC_MAP, what, err) < 0)
                                return -1;
                        _cleanup_free_ char *path = xasprintf("%s.aggregate", unused_prefix);
                        note_unused(ld->l, path);
                        continue;
                }
                if (kind == SECTION_GROUP && streq(p->key, "members")) {
                        if (parse_members_list(ld, p->value, what, g, err) < 0)
                                return -1;
                        continue;
                }
                if (kind == SECTION_GROUP && streq(p->key, "unix_group")) {
                        if (yamldoc_is_null(p->value))
                                continue;
                        const char *s;
                        if (yamldoc_get_string(ld->d, p->value, what, &s, err) < 0)
                                return -1;
                        if (!login_valid(s))
                                return yamldoc_error(ld->d, p->value->line, err,
                                                     "'%s' must be a Unix group name, not '%s'",
                                                     what, s);
                        free(g->unix_group);
                        g->unix_group = xstrdup(s);
                        continue;
                }

                const char *known[N_VALUE_FIELDS + 5];
                size_t k = 0;
                for (size_t j = 0; j < N_VALUE_FIELDS; j++)
                        known[k++] = value_fields[j].name;
                if (kind == SECTION_GROUP) {
                        known[k++] = "members";
                        known[k++] = "unix_group";
                }
                if (kind != SECTION_DEFAULTS) {
                        known[k++] = "policies";
                        known[k++] = "aggregate";
                }
                known[k] = NULL;
                return yamldoc_unknown_key(ld->d, p, where, known, err);
        }
        return 0;
}

/* groups/<g>.members beside the limits file: one login per line, '#' comments. */
static int load_members_file(const struct loader *ld, struct limit_group *g, struct error **err)
{
        _cleanup_free_ char *path = xasprintf("%s/groups/%s.members", ld->dir, g->name);
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
                if (!len)
                        continue;
                if (!login_valid(p))
                        return error_set(err, DS01_EUSAGE,
                                         "%s:%u: invalid login '%s': one login per line, '#' "
                                         "starts a comment",
                                         path, line, p);
                g->members = xrealloc(g->members, (g->n_members + 1) * sizeof(*g->members));
                g->members[g->n_members++] = xstrdup(p);
        }
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
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
                if (parse_values(ld, p->value, where, "groups.*", SECTION_GROUP, &g->layer, g,
                                 err) < 0)
                        return -1;
                if (load_members_file(ld, g, err) < 0)
                        return -1;
                if (g->n_members)
                        qsort(g->members, g->n_members, sizeof(*g->members), cmp_str);
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
                if (!login_valid(p->key))
                        return yamldoc_error(ld->d, p->line, err, "invalid login '%s' in %s",
                                             p->key, where);
                _cleanup_free_ char *uwhere = xasprintf("%s.%s", where, p->key);
                struct layer layer = {0};
                if (parse_values(ld, p->value, uwhere, "user_overrides.*", SECTION_OVERRIDE, &layer,
                                 NULL, err) < 0)
                        return -1;
                layer_merge(&get_override(ld->l, p->key)->layer, &layer);
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
                        if (!login_valid(s))
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

static const char *const top_keys[] = {
    "defaults",   "default_group",     "groups",         "user_overrides",
    "policies",   "enforcement",       "gpu_allocation", "container_types",
    "monitoring", "bare_metal_access", "access_control", NULL,
};

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
                        r = parse_values(ld, v, "defaults", "defaults", SECTION_DEFAULTS, &l->top,
                                         NULL, err);
                } else if (streq(p->key, "policies")) {
                        r = parse_policies(ld, v, "policies", "policies", &l->top, err);
                } else if (streq(p->key, "default_group")) {
                        const char *s;
                        if (yamldoc_get_string(d, v, "default_group", &s, err) < 0)
                                return -1;
                        free(l->default_group_name);
                        l->default_group_name = xstrdup(s);
                        l->default_group_line = v->line;
                } else if (streq(p->key, "groups")) {
                        r = parse_groups(ld, v, err);
                } else if (streq(p->key, "user_overrides")) {
                        r = parse_overrides(ld, v, "user_overrides", err);
                } else if (streq(p->key, "enforcement")) {
                        /* Systemd slice settings: ds01 applies limits per container. */
                        if (v && v->kind == YAMLDOC_MAP) {
                                for (size_t j = 0; j < v->n; j++) {
                                        _cleanup_free_ char *path =
                                            xasprintf("enforcement.%s", v->pairs[j].key);
                                        note_unused(l, path);
                                }
                        } else {
                                note_unused(l, "enforcement");
                        }
                } else if (in_list(unused_sections, p->key)) {
                        note_unused(l, p->key);
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
                builtin_defaults(&g->base);
                layer_apply(&g->base, &l->top);
                layer_apply(&g->base, &g->layer);
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
        if (finish(&ld, err) < 0)
                return NULL;
        return TAKE_PTR(l);
}

/* --- resolution ---------------------------------------------------------------------------- */

static bool is_member(const struct limit_group *g, const char *user)
{
        if (!g->n_members)
                return false;
        return bsearch(&user, g->members, g->n_members, sizeof(*g->members), cmp_str) != NULL;
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
                layer_apply(ret, &o->layer);
                ret->overridden = true;
        }
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
