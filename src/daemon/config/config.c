/* config.c - ds01.yaml: a bounded schema, every key optional, errors with file:line
 * that name the fix.
 *
 * Each key is one row of `keys` below: its type and field, its default, its bounds, and what a
 * reload does with it (config.h). config_defaults(), the parser, the list of known keys in an
 * "unknown key" message, config_free() and the reload comparisons all read the table; a new
 * key is a field in struct config and a row here (and a line in contrib/ds01.yaml.example,
 * which a unit test holds to the defaults). */
#include "daemon/config/config.h"

#include "daemon/config/config-lists.h"
#include "daemon/config/yamldoc.h"

#include "shared/parse.h"
#include "shared/strbuf.h"
#include "shared/strv.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/un.h>

#define SUN_PATH_MAX sizeof(((struct sockaddr_un){0}).sun_path)

/* --- value checks ------------------------------------------------------------------------ */

static bool instance_valid(const char *s)
{
        size_t len = strlen(s);
        if (len < 1 || len > 63)
                return false;
        if (!(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
                return false;
        for (size_t i = 1; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (!(islower(ch) || isdigit(ch) || ch == '_' || ch == '.' || ch == '-'))
                        return false;
        }
        return true;
}

static bool has_space_or_ctrl(const char *s)
{
        for (; *s; s++)
                if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
                        return true;
        return false;
}

static bool path_valid(const char *s)
{
        return s[0] == '/' && strlen(s) < 4096 && !has_space_or_ctrl(s);
}

/* "off", or HOST:PORT with PORT 1..65535 ("127.0.0.1:9101", "[::1]:9101"). */
static bool listen_valid(const char *s)
{
        if (streq(s, "off"))
                return true;
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s || has_space_or_ctrl(s))
                return false;
        int64_t port;
        return parse_int64(colon + 1, 1, 65535, &port) == 0;
}

static int set_string(const struct yamldoc *d, const struct yamldoc_node *v, const char *what,
                      char **field, struct error **err)
{
        const char *s;
        if (yamldoc_get_string(d, v, what, &s, err) < 0)
                return -1;
        if (!*s || has_space_or_ctrl(s) || strlen(s) > 4096)
                return yamldoc_error(d, v->line, err,
                                     "'%s' must be a non-empty value without spaces, not '%s'",
                                     what, s);
        free(*field);
        *field = xstrdup(s);
        return 0;
}

static int set_path(const struct yamldoc *d, const struct yamldoc_node *v, const char *what,
                    char **field, struct error **err)
{
        const char *s;
        if (yamldoc_get_string(d, v, what, &s, err) < 0)
                return -1;
        if (!path_valid(s))
                return yamldoc_error(d, v->line, err,
                                     "'%s' must be an absolute path (starting with /), not '%s'",
                                     what, s);
        free(*field);
        *field = xstrdup(s);
        return 0;
}

/* --- keys with a structure of their own ------------------------------------------------- */

/* A soname (dlopen searches the system paths) or an absolute path: never relative to whatever
 * directory the daemon was started in. */
static int check_nvml_library(const struct yamldoc *d, const struct yamldoc_node *v,
                              const char *what, const char *value, struct error **err)
{
        if (strchr(value, '/') && value[0] != '/')
                return yamldoc_error(d, v->line, err,
                                     "'%s' must be a library name (libnvidia-ml.so.1) or an "
                                     "absolute path, not '%s'",
                                     what, value);
        return 0;
}

static int check_webhook_url(const struct yamldoc *d, const struct yamldoc_node *v,
                             const char *what, const char *value, struct error **err)
{
        if (!startswith(value, "http://") && !startswith(value, "https://"))
                return yamldoc_error(d, v->line, err,
                                     "'%s' must be an http:// or https:// URL, not '%s'", what,
                                     value);
        return 0;
}

/* --- the key table ------------------------------------------------------------------------ */

enum key_type {
        KEY_STRING,  /* char *: a non-empty string without spaces */
        KEY_PATH,    /* char *: an absolute path */
        KEY_ENUM,    /* char *: one of choices */
        KEY_INT,     /* int64_t in [min, max] */
        KEY_BOOL,    /* bool */
        KEY_SECTION, /* a mapping whose keys are the rows named "<section>.<key>" */
        KEY_CUSTOM,  /* parse(), init() and release() of its own */
};

struct key_def {
        const char *name; /* "sample_interval_s", "images.max_context_mb" */
        enum key_type type;
        size_t offset; /* of the field in struct config */
        const char *def_str;
        int64_t def_int; /* KEY_INT, KEY_BOOL */
        int64_t min, max;
        enum config_reload reload;
        enum config_apply apply; /* CONFIG_RELOAD_APPLY: the step that applies it */
        const char *const *choices;
        /* KEY_STRING: a rule beyond "non-empty, no spaces", checked once the value is set */
        int (*check)(const struct yamldoc *d, const struct yamldoc_node *v, const char *what,
                     const char *value, struct error **err);
        /* KEY_CUSTOM: called for the key's node, null included */
        int (*parse)(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                     struct error **err);
        void (*init)(struct config *c);    /* KEY_CUSTOM: the default; NULL: none */
        void (*release)(struct config *c); /* KEY_CUSTOM */
};

#define FIELD(f) .offset = offsetof(struct config, f)
#define STRING(k, f, def, rl)                                                                      \
        {                                                                                          \
                .name = k, .type = KEY_STRING, FIELD(f), .def_str = def,                           \
                .reload = CONFIG_RELOAD_##rl                                                       \
        }
#define PATH(k, f, def, rl)                                                                        \
        {                                                                                          \
                .name = k, .type = KEY_PATH, FIELD(f), .def_str = def,                             \
                .reload = CONFIG_RELOAD_##rl                                                       \
        }
#define ENUM(k, f, def, ch, rl)                                                                    \
        {                                                                                          \
                .name = k, .type = KEY_ENUM, FIELD(f), .def_str = def, .choices = ch,              \
                .reload = CONFIG_RELOAD_##rl                                                       \
        }
#define INT(k, f, def, lo, hi, rl)                                                                 \
        {                                                                                          \
                .name = k, .type = KEY_INT, FIELD(f), .def_int = def, .min = lo, .max = hi,        \
                .reload = CONFIG_RELOAD_##rl                                                       \
        }
#define INT_APPLIED(k, f, def, lo, hi, step)                                                       \
        {                                                                                          \
                .name = k, .type = KEY_INT, FIELD(f), .def_int = def, .min = lo, .max = hi,        \
                .reload = CONFIG_RELOAD_APPLY, .apply = CONFIG_APPLY_##step                        \
        }
#define STRING_APPLIED(k, f, def, step)                                                            \
        {                                                                                          \
                .name = k, .type = KEY_STRING, FIELD(f), .def_str = def,                           \
                .reload = CONFIG_RELOAD_APPLY, .apply = CONFIG_APPLY_##step                        \
        }
#define BOOL(k, f, def, rl)                                                                        \
        {                                                                                          \
                .name = k, .type = KEY_BOOL, FIELD(f), .def_int = def,                             \
                .reload = CONFIG_RELOAD_##rl                                                       \
        }
#define SECTION(k)                                                                                 \
        {                                                                                          \
                .name = k, .type = KEY_SECTION                                                     \
        }
#define CUSTOM(k, p, i, r)                                                                         \
        {                                                                                          \
                .name = k, .type = KEY_CUSTOM, .parse = p, .init = i, .release = r,                \
                .reload = CONFIG_RELOAD_LIVE                                                       \
        }

static const char *const gpu_backends[] = {"auto", "nvml", "simulated", NULL};
static const char *const docker_devices_modes[] = {"auto", "device-requests", "env", NULL};

/* In the order "known keys" lists them. LIVE: read where used (the next use sees a reload);
 * APPLY: a reload runs the named step; RESTART: a reload that changes it is refused; START: read
 * once at start-up (see enum config_reload). */
static const struct key_def keys[] = {
    STRING("instance", instance, "ds01", RESTART),
    PATH("socket", socket, "/run/ds01/ds01.sock", RESTART),
    PATH("ports_dir", ports_dir, "/run/ds01/ports", RESTART),
    STRING("docker_api_socket", docker_api_socket, "/run/ds01/docker.sock", RESTART),
    INT("ports_tcp_from", ports_tcp_from, 20000, 1024, 65535, LIVE), /* container-port --tcp */
    INT("ports_tcp_to", ports_tcp_to, 20999, 1024, 65535, LIVE),
    PATH("state_dir", state_dir, "/var/lib/ds01", RESTART),
    PATH("log_dir", log_dir, "/var/log/ds01", RESTART),
    PATH("docker_socket", docker_socket, "/var/run/docker.sock", RESTART),
    PATH("limits_file", limits_file, "/etc/ds01/resource-limits.yaml", LIVE), /* each reload */
    STRING("workspace_root", workspace_root, "home", LIVE),
    STRING_APPLIED("metrics_listen", metrics_listen, "127.0.0.1:9101", METRICS),
    INT("sample_interval_s", sample_interval_s, 60, 1, 3600, LIVE),
    INT("storage_scan_interval_s", storage_scan_interval_s, 600, 1, 86400, LIVE),
    INT("restart_gap_s", restart_gap_s, 10, 0, 3600, LIVE),
    SECTION("gpus"),
    ENUM("gpus.backend", gpu_backend, "auto", gpu_backends, START),
    {.name = "gpus.nvml_library",
     .type = KEY_STRING,
     FIELD(nvml_library),
     .def_str = "libnvidia-ml.so.1",
     .check = check_nvml_library,
     .reload = CONFIG_RELOAD_START},
    CUSTOM("gpus.simulated", parse_simulated, default_simulated, free_simulated), /* rescan */
    ENUM("gpus.docker_devices", docker_devices, "auto", docker_devices_modes, LIVE),
    SECTION("images"),
    STRING("images.default", image_default, "ds01/base:latest", LIVE),
    CUSTOM("images.frameworks", parse_frameworks, NULL, free_frameworks),
    INT("images.build_timeout_s", build_timeout_s, 3600, 1, 86400, LIVE),
    INT("images.max_context_mb", max_context_mb, 1024, 1, 65536, LIVE),
    INT("images.max_builds_per_user", max_builds_per_user, 1, 1, 64, LIVE),
    INT("images.max_spool_mb", max_spool_mb, 4096, 1, 1048576, LIVE),
    INT("images.max_images_mb_per_user", max_images_mb_per_user, 51200, 0, INT64_C(1) << 30,
        LIVE), /* 0: no limit */
    PATH("images.spool_dir", spool_dir, NULL, LIVE),
    SECTION("notify"),
    {.name = "notify.webhook_url",
     .type = KEY_STRING,
     FIELD(webhook_url),
     .check = check_webhook_url,
     .reload = CONFIG_RELOAD_START},
    SECTION("network"),
    STRING("network.pool", network_pool, "10.213.0.0/16", LIVE), /* networks made from then on */
    INT("network.subnet_prefix", network_subnet_prefix, 26, 16, 29, LIVE),
    BOOL("network.require_isolation", network_require_isolation, true, START),
    STRING_APPLIED("admin_group", admin_group, "ds01-admin", ADMIN_GROUP),
    PATH("init_path", init_path, NULL, START), /* NULL: beside ds01d or ../libexec/ds01/ */
    INT("max_requests_per_uid", max_requests_per_uid, 16, 1, 1024, LIVE),
    /* gpus/reservations.h: a slot no member leased this far into the window is released */
    INT("reservation_unused_release_m", reservation_unused_release_m, 30, 0, 10080, LIVE),
    SECTION("queue"),
    INT("queue.fairshare_half_life_d", queue_half_life_d, QUEUE_DEFAULT_HALF_LIFE_D, 1, 3650, LIVE),
    INT("queue.weight_fairshare", queue_weight_fairshare, QUEUE_DEFAULT_WEIGHT_FAIRSHARE, 0,
        1000000, LIVE),
    INT("queue.weight_age", queue_weight_age, QUEUE_DEFAULT_WEIGHT_AGE, 0, 1000000, LIVE),
    INT("queue.max_age_h", queue_max_age_h, QUEUE_DEFAULT_MAX_AGE_H, 1, 87600, LIVE),
    INT("queue.pass_interval_s", queue_pass_interval_s, 15, 1, 3600, LIVE),
    INT_APPLIED("events_max_kb", events_max_kb, 64 * 1024, 4, 4LL * 1024 * 1024, EVENTS_ROTATION),
    INT_APPLIED("events_keep", events_keep, 5, 1, 100, EVENTS_ROTATION),
    INT_APPLIED("log_max_kb", log_max_kb, 16 * 1024, 0, 4LL * 1024 * 1024, LOG_ROTATION),
    INT_APPLIED("log_keep", log_keep, 3, 1, 100, LOG_ROTATION),
    INT("requests_per_s_per_uid", requests_per_s_per_uid, 100, 0, 1000000, LIVE),
    INT("request_burst_per_uid", request_burst_per_uid, 600, 1, 10000000, LIVE),
    INT_APPLIED("audit_window_s", audit_window_s, 60, 1, 3600, AUDIT),
    INT_APPLIED("audit_names_per_uid", audit_names_per_uid, 16, 1, 100000, AUDIT),
    CUSTOM("service_uids", parse_service_uids, NULL, free_service_uids),
    CUSTOM("datasets", parse_datasets, NULL, free_datasets),    /* read at each deploy */
    BOOL("ssh_keys", ssh_keys, false, LIVE),                    /* read at each deploy */
    BOOL("board_show_users", board_show_users, false, LIVE),    /* observe/board.h */
    PATH("metrics_token_file", metrics_token_file, NULL, LIVE), /* read at each scrape */
    CUSTOM("cluster", parse_cluster, NULL, free_cluster),       /* read at each slurm-sync */
};

#undef FIELD
#undef STRING
#undef PATH
#undef ENUM
#undef INT
#undef INT_APPLIED
#undef STRING_APPLIED
#undef BOOL
#undef SECTION
#undef CUSTOM

static void *field_of(struct config *c, const struct key_def *k)
{
        return (char *)c + k->offset;
}

static const void *cfield_of(const struct config *c, const struct key_def *k)
{
        return (const char *)c + k->offset;
}

/* key's name inside section (NULL: the top level), or NULL when it is not one of its keys. */
static const char *key_in(const char *name, const char *section)
{
        if (!section)
                return strchr(name, '.') ? NULL : name;
        size_t n = strlen(section);
        return strncmp(name, section, n) == 0 && name[n] == '.' ? name + n + 1 : NULL;
}

static const struct key_def *find_key(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (streq(keys[i].name, name))
                        return &keys[i];
        return NULL;
}

static struct config *config_defaults(void)
{
        struct config *c = xzalloc(sizeof(*c));
        c->source = xstrdup("(embedded defaults)");
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                const struct key_def *k = &keys[i];
                /* Only a value the table can compare may be refused or applied by a reload. */
                assert(k->type != KEY_CUSTOM || k->reload == CONFIG_RELOAD_LIVE);
                assert((k->reload == CONFIG_RELOAD_APPLY) == (k->apply != CONFIG_APPLY_NONE));
                void *f = field_of(c, k);
                switch (k->type) {
                case KEY_STRING:
                case KEY_PATH:
                case KEY_ENUM:
                        *(char **)f = k->def_str ? xstrdup(k->def_str) : NULL;
                        break;
                case KEY_INT:
                        *(int64_t *)f = k->def_int;
                        break;
                case KEY_BOOL:
                        *(bool *)f = k->def_int != 0;
                        break;
                case KEY_CUSTOM:
                        if (k->init)
                                k->init(c);
                        break;
                case KEY_SECTION:
                        break;
                }
        }
        return c;
}

struct config *config_free(struct config *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                const struct key_def *k = &keys[i];
                switch (k->type) {
                case KEY_STRING:
                case KEY_PATH:
                case KEY_ENUM:
                        free(*(char **)field_of(c, k));
                        break;
                case KEY_CUSTOM:
                        k->release(c);
                        break;
                case KEY_INT:
                case KEY_BOOL:
                case KEY_SECTION:
                        break;
                }
        }
        free(c->source);
        free(c);
        return NULL;
}

static void configp_free(struct config **c)
{
        config_free(*c);
}

/* --- parsing by the table ------------------------------------------------------------------ */

static int parse_map(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                     const char *section, struct error **err);

static int set_enum(const struct yamldoc *d, const struct yamldoc_node *v, const struct key_def *k,
                    char **field, struct error **err)
{
        const char *s;
        if (yamldoc_get_string(d, v, k->name, &s, err) < 0)
                return -1;
        for (size_t i = 0; k->choices[i]; i++)
                if (streq(k->choices[i], s)) {
                        free(*field);
                        *field = xstrdup(s);
                        return 0;
                }
        _cleanup_(strbuf_release) struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; k->choices[i]; i++)
                strbuf_addf(&sb, "%s%s",
                            i == 0              ? ""
                            : k->choices[i + 1] ? ", "
                                                : " or ",
                            k->choices[i]);
        return yamldoc_error(d, v->line, err, "'%s' must be %s, not '%s'", k->name, strbuf_str(&sb),
                             s);
}

static int parse_value(const struct yamldoc *d, const struct key_def *k,
                       const struct yamldoc_node *v, struct config *c, struct error **err)
{
        if (k->type == KEY_SECTION) {
                if (yamldoc_is_null(v))
                        return 0;
                if (yamldoc_expect(d, v, YAMLDOC_MAP, k->name, err) < 0)
                        return -1;
                return parse_map(d, v, c, k->name, err);
        }
        if (k->type == KEY_CUSTOM)
                return k->parse(d, v, c, err);
        if (yamldoc_is_null(v))
                return 0; /* null keeps the default */
        void *f = field_of(c, k);
        switch (k->type) {
        case KEY_STRING:
                if (set_string(d, v, k->name, f, err) < 0)
                        return -1;
                return k->check ? k->check(d, v, k->name, *(char **)f, err) : 0;
        case KEY_PATH:
                return set_path(d, v, k->name, f, err);
        case KEY_ENUM:
                return set_enum(d, v, k, f, err);
        case KEY_INT:
                return yamldoc_get_int64(d, v, k->name, k->min, k->max, f, err);
        case KEY_BOOL:
                return yamldoc_get_bool(d, v, k->name, f, err);
        case KEY_SECTION:
        case KEY_CUSTOM:
                break;
        }
        return 0;
}

/* The keys of a mapping: the top level (section NULL) or a section's. */
static int parse_map(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                     const char *section, struct error **err)
{
        for (size_t i = 0; i < v->n; i++) {
                const struct yamldoc_pair *p = &v->pairs[i];
                const struct key_def *k = NULL;
                for (size_t j = 0; j < ARRAY_SIZE(keys) && !k; j++)
                        if (streq_ptr(key_in(keys[j].name, section), p->key))
                                k = &keys[j];
                if (!k) {
                        const char *names[ARRAY_SIZE(keys) + 1];
                        size_t n = 0;
                        for (size_t j = 0; j < ARRAY_SIZE(keys); j++)
                                if (key_in(keys[j].name, section))
                                        names[n++] = key_in(keys[j].name, section);
                        names[n] = NULL;
                        return yamldoc_unknown_key(d, p, section ? section : "ds01.yaml", names,
                                                   err);
                }
                if (parse_value(d, k, p->value, c, err) < 0)
                        return -1;
        }
        return 0;
}

/* --- reload -------------------------------------------------------------------------------- */

static bool same_value(const struct key_def *k, const struct config *a, const struct config *b)
{
        const void *fa = cfield_of(a, k), *fb = cfield_of(b, k);
        switch (k->type) {
        case KEY_STRING:
        case KEY_PATH:
        case KEY_ENUM:
                return streq_ptr(*(char *const *)fa, *(char *const *)fb);
        case KEY_INT:
                return *(const int64_t *)fa == *(const int64_t *)fb;
        case KEY_BOOL:
                return *(const bool *)fa == *(const bool *)fb;
        case KEY_SECTION:
        case KEY_CUSTOM:
                break;
        }
        return true; /* LIVE by construction (config_defaults asserts it) */
}

int config_key_reload(const char *key, enum config_apply *ret_apply)
{
        const struct key_def *k = key ? find_key(key) : NULL;
        if (!k || k->type == KEY_SECTION)
                return -ENOENT;
        if (ret_apply)
                *ret_apply = k->apply;
        return (int)k->reload;
}

const char *config_changed(const struct config *running, const struct config *loaded,
                           enum config_reload how)
{
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (keys[i].type != KEY_SECTION && keys[i].reload == how &&
                    !same_value(&keys[i], running, loaded))
                        return keys[i].name;
        return NULL;
}

unsigned config_apply_steps(const struct config *running, const struct config *loaded)
{
        unsigned steps = 0;
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (keys[i].reload == CONFIG_RELOAD_APPLY && !same_value(&keys[i], running, loaded))
                        steps |= keys[i].apply;
        return steps;
}

/* --- whole-file rules and loading ---------------------------------------------------------- */

int config_parse_ipv4_cidr(const char *s, uint32_t *ret_base, int *ret_bits)
{
        unsigned a, b, c, d, n;
        char end;
        if (sscanf(s, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &n, &end) != 5 || a > 255 || b > 255 ||
            c > 255 || d > 255 || n > 32 || !isdigit((unsigned char)s[0]))
                return -1;
        uint32_t base = (a << 24) | (b << 16) | (c << 8) | d;
        uint32_t mask = n ? ~0u << (32 - n) : 0;
        if (base & ~mask)
                return -1; /* host bits set: "10.213.0.1/16" is not a range */
        *ret_base = base;
        *ret_bits = (int)n;
        return 0;
}

/* Checks that need more than one key's value, or a value's meaning. */
static int validate(const struct yamldoc *d, struct config *c, struct error **err)
{
        const struct yamldoc_pair *p;
#define LINE_OF(key) ((p = yamldoc_map_get_pair(d->root, key)) ? p->value->line : 1)
        if (!instance_valid(c->instance))
                return yamldoc_error(d, LINE_OF("instance"), err,
                                     "'instance' must match [a-z0-9][a-z0-9_.-]{0,62}, not '%s'",
                                     c->instance);
        if (strlen(c->socket) >= SUN_PATH_MAX)
                return yamldoc_error(d, LINE_OF("socket"), err,
                                     "'socket' is too long for a unix socket path (at most %zu "
                                     "bytes)",
                                     SUN_PATH_MAX - 1);
        if (!streq(c->docker_api_socket, "off") &&
            (!path_valid(c->docker_api_socket) || strlen(c->docker_api_socket) >= SUN_PATH_MAX))
                return yamldoc_error(d, LINE_OF("docker_api_socket"), err,
                                     "'docker_api_socket' must be an absolute unix socket path "
                                     "(shorter than %zu bytes) or \"off\", not '%s'",
                                     SUN_PATH_MAX, c->docker_api_socket);
        if (strlen(c->docker_socket) >= SUN_PATH_MAX)
                return yamldoc_error(d, LINE_OF("docker_socket"), err,
                                     "'docker_socket' is too long for a unix socket path");
        if (!streq(c->workspace_root, "home") && !path_valid(c->workspace_root))
                return yamldoc_error(d, LINE_OF("workspace_root"), err,
                                     "'workspace_root' must be \"home\" or an absolute directory, "
                                     "not '%s'",
                                     c->workspace_root);
        if (!listen_valid(c->metrics_listen))
                return yamldoc_error(d, LINE_OF("metrics_listen"), err,
                                     "'metrics_listen' must be HOST:PORT (e.g. 127.0.0.1:9101) or "
                                     "\"off\", not '%s'",
                                     c->metrics_listen);
        uint32_t base;
        int bits;
        const struct yamldoc_node *net = yamldoc_map_get(d->root, "network");
#define NET_LINE(key) ((p = yamldoc_map_get_pair(net, key)) ? p->value->line : LINE_OF("network"))
        if (config_parse_ipv4_cidr(c->network_pool, &base, &bits) < 0 || bits < 8 || bits > 29)
                return yamldoc_error(d, NET_LINE("pool"), err,
                                     "'network.pool' must be an IPv4 range A.B.C.D/N with N from "
                                     "8 to 29 and no host bits set (e.g. 10.213.0.0/16), not '%s'",
                                     c->network_pool);
        if (c->network_subnet_prefix < bits)
                return yamldoc_error(d, NET_LINE("subnet_prefix"), err,
                                     "'network.subnet_prefix' (%lld) must be at least the pool's "
                                     "prefix (/%d): each user's subnet is a part of the pool",
                                     (long long)c->network_subnet_prefix, bits);
#undef NET_LINE
#undef LINE_OF
        return 0;
}

struct config *config_load(const char *path, struct error **err)
{
        _cleanup_(configp_free) struct config *c = config_defaults();
        if (!path)
                return TAKE_PTR(c);

        _cleanup_yamldoc_ struct yamldoc *d = NULL;
        int r = yamldoc_load(path, &d, err);
        if (r == -ENOENT) {
                error_set(err, DS01_ERR,
                          "%s: no such file; give an existing ds01.yaml or leave --config out "
                          "for the embedded defaults",
                          path);
                return NULL;
        }
        if (r < 0)
                return NULL;

        free(c->source);
        c->source = xstrdup(path);
        if (yamldoc_is_null(d->root))
                return TAKE_PTR(c); /* an empty file: all defaults */
        if (yamldoc_expect(d, d->root, YAMLDOC_MAP, "ds01.yaml", err) < 0)
                return NULL;
        if (parse_map(d, d->root, c, NULL, err) < 0)
                return NULL;
        if (validate(d, c, err) < 0)
                return NULL;
        return TAKE_PTR(c);
}
