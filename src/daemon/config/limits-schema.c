/* limits-schema.c - every limit and policy key of DS01's files (type, bound, old names, keys
 * accepted and not acted on), layers of them, the built-in defaults, and a mapping of values
 * parsed into a layer. */
#include "daemon/config/limits-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#define LIMITS_MAX_LOGIN 256
#define MAX_HOURS        1e6 /* a century is 876600 h */

/* --- the schema -------------------------------------------------------------------------- */

enum field_type {
        F_DOUBLE,    /* number, null = -1 */
        F_INT,       /* whole number, null = -1 */
        F_SIZE,      /* docker size, null = -1 */
        F_BOOL,      /* true/false, never null */
        F_FRACTION,  /* number in (0, 1), never null */
        F_PERCENT,   /* number, never null */
        F_COUNT,     /* whole number, never null */
        F_CPU_QUOTA, /* systemd's CPUQuota, "9600%" (100% is one CPU), kept as CPUs; null = -1 */
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
    LS(io_read_bps, F_SIZE, 0),
    LS(io_write_bps, F_SIZE, 0),
    LS(ulimit_nofile, F_INT, 1 << 20),
    LS(max_tasks, F_INT, 1e9),
    LS(max_containers_per_user, F_INT, 1e6),
    LS(priority, F_COUNT, 1e6),
    LS(storage_workspace, F_SIZE, 0),
    LS(max_runtime_h, F_DOUBLE, MAX_HOURS),
    LS(idle_timeout_h, F_DOUBLE, MAX_HOURS),
    LS(gpu_hold_after_stop_h, F_DOUBLE, MAX_HOURS),
    LS(container_hold_after_stop_h, F_DOUBLE, MAX_HOURS),
};
#undef LS
#define N_VALUE_FIELDS ARRAY_SIZE(value_fields)

#define LA(n, t, m)                                                                                \
        {                                                                                          \
#n, t, offsetof(struct limit_set, aggregate.n), m                                  \
        }
static const struct field aggregate_fields[] = {
    LA(cpu_quota, F_CPU_QUOTA, 1e5), LA(memory_max, F_SIZE, 0),    LA(memory_high, F_SIZE, 0),
    LA(tasks_max, F_INT, 1e9),       LA(gpu_limit, F_DOUBLE, 1e6),
};
#undef LA
#define N_AGGREGATE_FIELDS ARRAY_SIZE(aggregate_fields)

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
    LP(high_demand_threshold, F_DOUBLE, 1),
    LP(high_demand_idle_reduction, F_FRACTION, 1),
    LP(idle_detection_window, F_COUNT, 1000),
    LP(gpu_hold_after_manual_stop_m, F_DOUBLE, 60 * MAX_HOURS),
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

/* Keys DS01 files have that ds01 accepts and does not act on. storage_data: DS01 meant a
 * per-user data directory (mlc -d DIR -> /data); ds01 has none (its datasets are shared,
 * read-only, the administrator's), so there is nothing of a user's to measure (README). */
static const char *const unused_value_keys[] = {
    "storage_tmp",
    "gpu_memory",
    "storage_data",
    NULL,
};
static const char *const unused_policy_keys[] = {
    NULL,
};

bool limits_in_list(const char *const *list, const char *s)
{
        for (size_t i = 0; list[i]; i++)
                if (streq(list[i], s))
                        return true;
        return false;
}

/* --- layers: a partial set of values ------------------------------------------------------- */

static void copy_field(const struct field *f, void *dst, const void *src)
{
        switch (f->type) {
        case F_DOUBLE:
        case F_FRACTION:
        case F_PERCENT:
        case F_CPU_QUOTA:
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

void limits_layer_apply(struct limit_set *s, const struct layer *l)
{
        for (size_t i = 0; i < N_VALUE_FIELDS; i++)
                if (l->set & (1u << i))
                        copy_field(&value_fields[i], s, &l->v);
        for (size_t i = 0; i < N_POLICY_FIELDS; i++)
                if (l->pset & (1u << i))
                        copy_field(&policy_fields[i], &s->policies, &l->p);
        for (size_t i = 0; i < N_AGGREGATE_FIELDS; i++)
                if (l->aset & (1u << i))
                        copy_field(&aggregate_fields[i], s, &l->v);
}

void limits_layer_merge(struct layer *dst, const struct layer *src)
{
        for (size_t i = 0; i < N_VALUE_FIELDS; i++)
                if (src->set & (1u << i))
                        copy_field(&value_fields[i], &dst->v, &src->v);
        for (size_t i = 0; i < N_POLICY_FIELDS; i++)
                if (src->pset & (1u << i))
                        copy_field(&policy_fields[i], &dst->p, &src->p);
        for (size_t i = 0; i < N_AGGREGATE_FIELDS; i++)
                if (src->aset & (1u << i))
                        copy_field(&aggregate_fields[i], &dst->v, &src->v);
        dst->set |= src->set;
        dst->pset |= src->pset;
        dst->aset |= src->aset;
}

void limits_builtin_defaults(struct limit_set *s)
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
            .io_read_bps = -1,
            .io_write_bps = -1,
            .ulimit_nofile = -1,
            .max_tasks = -1, /* DS01's file: 32768 */
            .aggregate = {.cpu_quota = -1,
                          .memory_max = -1,
                          .memory_high = -1,
                          .tasks_max = -1,
                          .gpu_limit = -1},
            .max_containers_per_user = 3,
            .priority = 10, /* DS01: absent means 10 */
            .storage_workspace = -1,
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
                    .high_demand_threshold = -1, /* DS01 acts at 0.8: a site opts in */
                    .high_demand_idle_reduction = 0.5,
                    .idle_detection_window = 1,         /* DS01's file: 3 */
                    .gpu_hold_after_manual_stop_m = -1, /* DS01's file: 15 */
                },
        };
}

void limits_note_unused(struct limits *l, const char *path)
{
        for (size_t i = 0; i < l->n_unused; i++)
                if (streq(l->unused[i], path))
                        return;
        l->unused = xrealloc(l->unused, (l->n_unused + 2) * sizeof(*l->unused));
        l->unused[l->n_unused++] = xstrdup(path);
        l->unused[l->n_unused] = NULL;
}

bool limits_login_valid(const char *s)
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

/* --- parsing ------------------------------------------------------------------------------- */

/* "9600%" -> 96 CPUs. A bare number is refused: DS01's files give systemd's percentage, and
 * reading 96 as CPUs or as percent would each be someone's surprise. */
static int parse_cpu_quota(const struct yamldoc *d, const struct yamldoc_node *v, const char *what,
                           double max_percent, void *dst, struct error **err)
{
        if (v->kind != YAMLDOC_SCALAR)
                return yamldoc_error(d, v->line, err, "'%s' must be a percentage such as '400%%'",
                                     what);
        const char *s = v->scalar;
        char *end = NULL;
        errno = 0;
        double pct = strtod(s, &end);
        if (end == s || !streq(end, "%") || errno || !(pct > 0) || pct > max_percent)
                return yamldoc_error(d, v->line, err,
                                     "'%s' must be a percentage of one CPU such as '400%%' (four "
                                     "CPUs; at most %g%%), not '%s'",
                                     what, max_percent, s);
        double cpus = pct / 100;
        memcpy(dst, &cpus, sizeof(cpus));
        return 0;
}

static int parse_field(const struct loader *ld, const struct field *f, const struct yamldoc_pair *p,
                       const char *what, void *base, struct error **err)
{
        const struct yamldoc *d = ld->d;
        const struct yamldoc_node *v = p->value;
        void *dst = (char *)base + f->offset;
        bool nullable =
            f->type == F_DOUBLE || f->type == F_INT || f->type == F_SIZE || f->type == F_CPU_QUOTA;
        if (yamldoc_is_null(v)) {
                if (!nullable)
                        return yamldoc_error(d, v ? v->line : p->line, err,
                                             "'%s' cannot be null; give a value", what);
                if (f->type == F_DOUBLE || f->type == F_CPU_QUOTA) {
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
        case F_CPU_QUOTA:
                return parse_cpu_quota(d, v, what, f->max, dst, err);
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

/* The index of key in fields[0..n), or n. */
static size_t field_index(const struct field *fields, size_t n, const char *key)
{
        size_t f = 0;
        while (f < n && !streq(fields[f].name, key))
                f++;
        return f;
}

int limits_parse_policies(const struct loader *ld, const struct yamldoc_node *n, const char *where,
                          const char *unused_prefix, struct layer *out, struct error **err)
{
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(ld->d, n, YAMLDOC_MAP, where, err) < 0)
                return -1;
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                _cleanup_free_ char *what = xasprintf("%s.%s", where, p->key);
                size_t f = field_index(policy_fields, N_POLICY_FIELDS, p->key);
                if (f < N_POLICY_FIELDS) {
                        if (parse_field(ld, &policy_fields[f], p, what, &out->p, err) < 0)
                                return -1;
                        out->pset |= 1u << f;
                        continue;
                }
                if (limits_in_list(unused_policy_keys, p->key)) {
                        _cleanup_free_ char *path = xasprintf("%s.%s", unused_prefix, p->key);
                        limits_note_unused(ld->l, path);
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

int limits_parse_aggregate(const struct loader *ld, const struct yamldoc_node *n, const char *where,
                           struct layer *out, struct error **err)
{
        if (yamldoc_is_null(n))
                return 0;
        if (yamldoc_expect(ld->d, n, YAMLDOC_MAP, where, err) < 0)
                return -1;
        for (size_t i = 0; i < n->n; i++) {
                const struct yamldoc_pair *p = &n->pairs[i];
                _cleanup_free_ char *what = xasprintf("%s.%s", where, p->key);
                size_t f = field_index(aggregate_fields, N_AGGREGATE_FIELDS, p->key);
                if (f == N_AGGREGATE_FIELDS) {
                        const char *known[N_AGGREGATE_FIELDS + 1];
                        for (size_t j = 0; j < N_AGGREGATE_FIELDS; j++)
                                known[j] = aggregate_fields[j].name;
                        known[N_AGGREGATE_FIELDS] = NULL;
                        return yamldoc_unknown_key(ld->d, p, where, known, err);
                }
                if (parse_field(ld, &aggregate_fields[f], p, what, &out->v, err) < 0)
                        return -1;
                out->aset |= 1u << f;
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
                if (!limits_login_valid(s))
                        return yamldoc_error(ld->d, n->items[i]->line, err,
                                             "invalid login '%s' in %s", s, where);
                g->members = xrealloc(g->members, (g->n_members + 1) * sizeof(*g->members));
                g->members[g->n_members++] = xstrdup(s);
        }
        return 0;
}

int limits_parse_values(const struct loader *ld, const struct yamldoc_node *n, const char *where,
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
                size_t f = field_index(value_fields, N_VALUE_FIELDS, name);
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
                if (limits_in_list(unused_value_keys, p->key)) {
                        _cleanup_free_ char *path = xasprintf("%s.%s", unused_prefix, p->key);
                        limits_note_unused(ld->l, path);
                        continue;
                }
                if (kind != SECTION_DEFAULTS && streq(p->key, "policies")) {
                        _cleanup_free_ char *pprefix = xasprintf("%s.policies", unused_prefix);
                        if (limits_parse_policies(ld, p->value, what, pprefix, out, err) < 0)
                                return -1;
                        continue;
                }
                if (kind != SECTION_DEFAULTS && streq(p->key, "aggregate")) {
                        if (limits_parse_aggregate(ld, p->value, what, out, err) < 0)
                                return -1;
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
                        if (!limits_login_valid(s))
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
