/* config.c - ds01.yaml: a bounded schema, every key optional, errors with file:line
 * that name the fix. */
#include "daemon/config/config.h"

#include "daemon/config/yamldoc.h"

#include "shared/parse.h"
#include "shared/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/un.h>

#define CONFIG_MAX_SIMULATED   64
#define SUN_PATH_MAX           sizeof(((struct sockaddr_un){0}).sun_path)
#define CONFIG_MAX_MIG         7 /* compute slices per GPU */
#define DEFAULT_SIM_NAME       "NVIDIA A100-SXM4-40GB"
#define DEFAULT_SIM_MEMORY_MIB 40960
#define DEFAULT_SIM_COUNT      4

static void sim_gpu_release(struct config_sim_gpu *g)
{
        free(g->name);
        for (size_t i = 0; i < g->n_mig; i++)
                free(g->mig[i]);
        free(g->mig);
}

static void free_simulated(struct config *c)
{
        for (size_t i = 0; i < c->n_simulated; i++)
                sim_gpu_release(&c->simulated[i]);
        free(c->simulated);
        c->simulated = NULL;
        c->n_simulated = 0;
}

struct config *config_free(struct config *c)
{
        if (!c)
                return NULL;
        free(c->source);
        free(c->instance);
        free(c->socket);
        free(c->state_dir);
        free(c->spool_dir);
        free(c->log_dir);
        free(c->docker_socket);
        free(c->limits_file);
        free(c->workspace_root);
        free(c->metrics_listen);
        free(c->gpu_backend);
        free(c->nvml_library);
        free(c->docker_devices);
        free(c->webhook_url);
        free_simulated(c);
        free(c->image_default);
        for (size_t i = 0; i < c->n_frameworks; i++) {
                free(c->frameworks[i].name);
                free(c->frameworks[i].image);
        }
        free(c->frameworks);
        free(c->admin_group);
        free(c->init_path);
        free(c->service_uids);
        free(c->metrics_token_file);
        free(c->network_pool);
        free(c);
        return NULL;
}

static void configp_free(struct config **c)
{
        config_free(*c);
}

static struct config *config_defaults(void)
{
        struct config *c = xzalloc(sizeof(*c));
        c->source = xstrdup("(embedded defaults)");
        c->instance = xstrdup("ds01");
        c->socket = xstrdup("/run/ds01/ds01.sock");
        c->state_dir = xstrdup("/var/lib/ds01");
        c->log_dir = xstrdup("/var/log/ds01");
        c->docker_socket = xstrdup("/var/run/docker.sock");
        c->limits_file = xstrdup("/etc/ds01/resource-limits.yaml");
        c->workspace_root = xstrdup("home");
        c->metrics_listen = xstrdup("127.0.0.1:9101");
        c->sample_interval_s = 60;
        c->restart_gap_s = 10;
        c->gpu_backend = xstrdup("auto");
        c->nvml_library = xstrdup("libnvidia-ml.so.1");
        c->docker_devices = xstrdup("auto");
        c->n_simulated = DEFAULT_SIM_COUNT;
        c->simulated = xcalloc(DEFAULT_SIM_COUNT, sizeof(*c->simulated));
        for (size_t i = 0; i < DEFAULT_SIM_COUNT; i++) {
                c->simulated[i].name = xstrdup(DEFAULT_SIM_NAME);
                c->simulated[i].memory_mib = DEFAULT_SIM_MEMORY_MIB;
        }
        c->image_default = xstrdup("ds01/base:latest");
        c->build_timeout_s = 3600;
        c->max_context_mb = 1024;
        c->max_builds_per_user = 1;
        c->max_spool_mb = 4096;
        c->max_images_mb_per_user = 51200;
        c->admin_group = xstrdup("ds01-admin");
        c->init_path = NULL;
        c->max_requests_per_uid = 16;
        c->events_max_kb = 64 * 1024;
        c->events_keep = 5;
        c->log_max_kb = 16 * 1024;
        c->log_keep = 3;
        c->requests_per_s_per_uid = 100;
        c->request_burst_per_uid = 600;
        c->audit_window_s = 60;
        c->audit_names_per_uid = 16;
        c->network_pool = xstrdup("10.213.0.0/16");
        c->network_subnet_prefix = 26;
        c->network_require_isolation = true;
        return c;
}

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

/* "<N>g.<M>gb" with N in 1..7 and M >= 1, optionally with a "+me" style suffix
 * ("1g.10gb+me"). Returns N, or 0 when invalid. */
static int mig_profile_slices(const char *s)
{
        if (s[0] < '1' || s[0] > '7' || s[1] != 'g' || s[2] != '.')
                return 0;
        const char *p = s + 3;
        if (!isdigit((unsigned char)*p) || *p == '0')
                return 0;
        while (isdigit((unsigned char)*p))
                p++;
        if (p - (s + 3) > 4 || p[0] != 'g' || p[1] != 'b')
                return 0;
        p += 2;
        if (*p == '+') {
                p++;
                if (!*p)
                        return 0;
                for (; *p; p++)
                        if (!islower((unsigned char)*p))
                                return 0;
        }
        if (*p)
                return 0;
        return s[0] - '0';
}

/* --- the schema ------------------------------------------------------------------------------ */

enum key_type {
        KEY_STRING,  /* any non-empty string without spaces */
        KEY_PATH,    /* absolute path */
        KEY_INT,     /* integer in [min, max] */
        KEY_SPECIAL, /* handled by a section parser */
};

struct key_def {
        const char *name;
        enum key_type type;
        size_t offset;
        int64_t min, max;
        int (*parse)(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                     struct error **err);
};

static int parse_gpus(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                      struct error **err);
static int parse_images(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                        struct error **err);
static int parse_notify(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                        struct error **err);
static int parse_service_uids(const struct yamldoc *d, const struct yamldoc_node *v,
                              struct config *c, struct error **err);
static int parse_network(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                         struct error **err);

#define STR(n, t)                                                                                  \
        {                                                                                          \
#n, t, offsetof(struct config, n), 0, 0, NULL                                      \
        }
static const struct key_def top_keys[] = {
    STR(instance, KEY_STRING),
    STR(socket, KEY_PATH),
    STR(state_dir, KEY_PATH),
    STR(log_dir, KEY_PATH),
    STR(docker_socket, KEY_PATH),
    STR(limits_file, KEY_PATH),
    STR(workspace_root, KEY_STRING),
    STR(metrics_listen, KEY_STRING),
    {"sample_interval_s", KEY_INT, offsetof(struct config, sample_interval_s), 1, 3600, NULL},
    {"restart_gap_s", KEY_INT, offsetof(struct config, restart_gap_s), 0, 3600, NULL},
    {"gpus", KEY_SPECIAL, 0, 0, 0, parse_gpus},
    {"images", KEY_SPECIAL, 0, 0, 0, parse_images},
    {"notify", KEY_SPECIAL, 0, 0, 0, parse_notify},
    {"network", KEY_SPECIAL, 0, 0, 0, parse_network},
    STR(admin_group, KEY_STRING),
    STR(init_path, KEY_PATH),
    {"max_requests_per_uid", KEY_INT, offsetof(struct config, max_requests_per_uid), 1, 1024, NULL},
    {"events_max_kb", KEY_INT, offsetof(struct config, events_max_kb), 4, 4LL * 1024 * 1024, NULL},
    {"events_keep", KEY_INT, offsetof(struct config, events_keep), 1, 100, NULL},
    {"log_max_kb", KEY_INT, offsetof(struct config, log_max_kb), 0, 4LL * 1024 * 1024, NULL},
    {"log_keep", KEY_INT, offsetof(struct config, log_keep), 1, 100, NULL},
    {"requests_per_s_per_uid", KEY_INT, offsetof(struct config, requests_per_s_per_uid), 0, 1000000,
     NULL},
    {"request_burst_per_uid", KEY_INT, offsetof(struct config, request_burst_per_uid), 1, 10000000,
     NULL},
    {"audit_window_s", KEY_INT, offsetof(struct config, audit_window_s), 1, 3600, NULL},
    {"audit_names_per_uid", KEY_INT, offsetof(struct config, audit_names_per_uid), 1, 100000, NULL},
    {"service_uids", KEY_SPECIAL, 0, 0, 0, parse_service_uids},
    STR(metrics_token_file, KEY_PATH),
};
#undef STR

static const char *const gpus_names[] = {"backend", "nvml_library", "simulated", "docker_devices",
                                         NULL};
static const char *const sim_names[] = {"name", "memory_mib", "mig", NULL};
static const char *const images_names[] = {"default",
                                           "frameworks",
                                           "build_timeout_s",
                                           "max_context_mb",
                                           "max_builds_per_user",
                                           "max_spool_mb",
                                           "max_images_mb_per_user",
                                           "spool_dir",
                                           NULL};

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

static int parse_mig(const struct yamldoc *d, const struct yamldoc_node *v, const char *what,
                     struct config_sim_gpu *g, struct error **err)
{
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_SEQ, what, err) < 0)
                return -1;
        if (v->n > CONFIG_MAX_MIG)
                return yamldoc_error(d, v->line, err,
                                     "%s lists %zu MIG instances; a GPU has at most %d", what, v->n,
                                     CONFIG_MAX_MIG);
        g->mig = xcalloc(v->n ? v->n : 1, sizeof(*g->mig));
        int slices = 0;
        for (size_t i = 0; i < v->n; i++) {
                const char *s;
                if (yamldoc_get_string(d, v->items[i], what, &s, err) < 0)
                        return -1;
                int n = mig_profile_slices(s);
                if (!n)
                        return yamldoc_error(d, v->items[i]->line, err,
                                             "bad MIG profile '%s' in %s: expected <N>g.<M>gb "
                                             "with N from 1 to 7 (e.g. \"3g.20gb\")",
                                             s, what);
                slices += n;
                if (slices > CONFIG_MAX_MIG)
                        return yamldoc_error(d, v->items[i]->line, err,
                                             "MIG profiles in %s use %d compute slices; a GPU has "
                                             "%d",
                                             what, slices, CONFIG_MAX_MIG);
                g->mig[g->n_mig++] = xstrdup(s);
        }
        return 0;
}

static int parse_sim_gpu(const struct yamldoc *d, const struct yamldoc_node *v, size_t idx,
                         struct config_sim_gpu *g, struct error **err)
{
        _cleanup_free_ char *where = xasprintf("gpus.simulated[%zu]", idx);
        if (yamldoc_expect(d, v, YAMLDOC_MAP, where, err) < 0)
                return -1;
        for (size_t i = 0; i < v->n; i++) {
                const struct yamldoc_pair *p = &v->pairs[i];
                _cleanup_free_ char *what = xasprintf("%s.%s", where, p->key);
                if (streq(p->key, "name")) {
                        const char *s;
                        if (yamldoc_get_string(d, p->value, what, &s, err) < 0)
                                return -1;
                        if (!*s || strlen(s) > 256)
                                return yamldoc_error(d, p->value->line, err,
                                                     "'%s' must be a GPU name of 1 to 256 "
                                                     "characters",
                                                     what);
                        free(g->name);
                        g->name = xstrdup(s);
                } else if (streq(p->key, "memory_mib")) {
                        if (yamldoc_get_int64(d, p->value, what, 1, 16 * 1024 * 1024,
                                              &g->memory_mib, err) < 0)
                                return -1;
                } else if (streq(p->key, "mig")) {
                        if (parse_mig(d, p->value, what, g, err) < 0)
                                return -1;
                } else {
                        return yamldoc_unknown_key(d, p, where, sim_names, err);
                }
        }
        if (!g->name)
                return yamldoc_error(d, v->line, err,
                                     "%s has no name; add name: \"NVIDIA A100-SXM4-40GB\" or "
                                     "similar",
                                     where);
        if (g->memory_mib <= 0)
                return yamldoc_error(d, v->line, err,
                                     "%s has no memory_mib; add memory_mib: 40960 or similar",
                                     where);
        return 0;
}

static int parse_simulated(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                           struct error **err)
{
        free_simulated(c);
        if (yamldoc_is_null(v))
                return 0; /* no simulated GPUs */
        if (yamldoc_expect(d, v, YAMLDOC_SEQ, "gpus.simulated", err) < 0)
                return -1;
        if (v->n > CONFIG_MAX_SIMULATED)
                return yamldoc_error(d, v->line, err,
                                     "gpus.simulated lists %zu GPUs; the limit is %d", v->n,
                                     CONFIG_MAX_SIMULATED);
        c->simulated = xcalloc(v->n ? v->n : 1, sizeof(*c->simulated));
        for (size_t i = 0; i < v->n; i++) {
                c->n_simulated = i + 1;
                if (parse_sim_gpu(d, v->items[i], i, &c->simulated[i], err) < 0)
                        return -1;
        }
        return 0;
}

static int parse_gpus(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                      struct error **err)
{
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_MAP, "gpus", err) < 0)
                return -1;
        for (size_t i = 0; i < v->n; i++) {
                const struct yamldoc_pair *p = &v->pairs[i];
                if (streq(p->key, "backend")) {
                        if (yamldoc_is_null(p->value))
                                continue;
                        const char *s;
                        if (yamldoc_get_string(d, p->value, "gpus.backend", &s, err) < 0)
                                return -1;
                        if (!streq(s, "auto") && !streq(s, "nvml") && !streq(s, "simulated"))
                                return yamldoc_error(d, p->value->line, err,
                                                     "'gpus.backend' must be auto, nvml or "
                                                     "simulated, not '%s'",
                                                     s);
                        free(c->gpu_backend);
                        c->gpu_backend = xstrdup(s);
                } else if (streq(p->key, "nvml_library")) {
                        if (yamldoc_is_null(p->value))
                                continue;
                        if (set_string(d, p->value, "gpus.nvml_library", &c->nvml_library, err) < 0)
                                return -1;
                        /* A soname (dlopen searches the system paths) or an absolute path: never
                         * relative to whatever directory the daemon was started in. */
                        if (strchr(c->nvml_library, '/') && c->nvml_library[0] != '/')
                                return yamldoc_error(d, p->value->line, err,
                                                     "'gpus.nvml_library' must be a library "
                                                     "name (libnvidia-ml.so.1) or an absolute "
                                                     "path, not '%s'",
                                                     c->nvml_library);
                } else if (streq(p->key, "simulated")) {
                        if (parse_simulated(d, p->value, c, err) < 0)
                                return -1;
                } else if (streq(p->key, "docker_devices")) {
                        if (yamldoc_is_null(p->value))
                                continue;
                        const char *s;
                        if (yamldoc_get_string(d, p->value, "gpus.docker_devices", &s, err) < 0)
                                return -1;
                        if (!streq(s, "auto") && !streq(s, "device-requests") && !streq(s, "env"))
                                return yamldoc_error(d, p->value->line, err,
                                                     "'gpus.docker_devices' must be auto, "
                                                     "device-requests or env, not '%s'",
                                                     s);
                        free(c->docker_devices);
                        c->docker_devices = xstrdup(s);
                } else {
                        return yamldoc_unknown_key(d, p, "gpus", gpus_names, err);
                }
        }
        return 0;
}

/* The integer keys of images: (1..max), or (0..max) where 0 means no limit. */
struct image_int {
        const char *key;
        int64_t max;
        int64_t *field;
        bool zero_ok;
};

static bool image_int(struct config *c, const char *key, struct image_int *ret)
{
        const struct image_int keys[] = {
            {"build_timeout_s", 86400, &c->build_timeout_s},
            {"max_context_mb", 65536, &c->max_context_mb},
            {"max_builds_per_user", 64, &c->max_builds_per_user},
            {"max_spool_mb", 1048576, &c->max_spool_mb},
            {"max_images_mb_per_user", INT64_C(1) << 30, &c->max_images_mb_per_user, true},
        };
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (streq(keys[i].key, key)) {
                        *ret = keys[i];
                        return true;
                }
        return false;
}

static int parse_images(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                        struct error **err)
{
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_MAP, "images", err) < 0)
                return -1;
        for (size_t i = 0; i < v->n; i++) {
                const struct yamldoc_pair *p = &v->pairs[i];
                struct image_int k;
                if (streq(p->key, "default")) {
                        if (yamldoc_is_null(p->value))
                                continue;
                        if (set_string(d, p->value, "images.default", &c->image_default, err) < 0)
                                return -1;
                } else if (streq(p->key, "frameworks")) {
                        /* Accepted and checked, not used yet: name -> image. */
                        if (yamldoc_is_null(p->value))
                                continue;
                        if (yamldoc_expect(d, p->value, YAMLDOC_MAP, "images.frameworks", err) < 0)
                                return -1;
                        for (size_t j = 0; j < p->value->n; j++) {
                                const struct yamldoc_pair *f = &p->value->pairs[j];
                                _cleanup_free_ char *what =
                                    xasprintf("images.frameworks.%s", f->key);
                                const char *s;
                                if (yamldoc_get_string(d, f->value, what, &s, err) < 0)
                                        return -1;
                                c->frameworks = xrealloc(c->frameworks, (c->n_frameworks + 1) *
                                                                            sizeof(*c->frameworks));
                                c->frameworks[c->n_frameworks++] =
                                    (struct config_framework){xstrdup(f->key), xstrdup(s)};
                        }
                } else if (image_int(c, p->key, &k)) {
                        _cleanup_free_ char *what = xasprintf("images.%s", k.key);
                        if (!yamldoc_is_null(p->value) &&
                            yamldoc_get_int64(d, p->value, what, k.zero_ok ? 0 : 1, k.max, k.field,
                                              err) < 0)
                                return -1;
                } else if (streq(p->key, "spool_dir")) {
                        if (!yamldoc_is_null(p->value) &&
                            set_path(d, p->value, "images.spool_dir", &c->spool_dir, err) < 0)
                                return -1;
                } else {
                        return yamldoc_unknown_key(d, p, "images", images_names, err);
                }
        }
        return 0;
}

/* service_uids: [990, "61000-61063"]: single uids and ranges. */
static int parse_service_uids(const struct yamldoc *d, const struct yamldoc_node *v,
                              struct config *c, struct error **err)
{
        free(c->service_uids);
        c->service_uids = NULL;
        c->n_service_uids = 0;
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_SEQ, "service_uids", err) < 0)
                return -1;
        c->service_uids = xcalloc(v->n ? v->n : 1, sizeof(*c->service_uids));
        for (size_t i = 0; i < v->n; i++) {
                const char *s;
                if (yamldoc_get_string(d, v->items[i], "service_uids", &s, err) < 0)
                        return -1;
                _cleanup_free_ char *lo = xstrdup(s);
                char *dash = strchr(lo, '-');
                if (dash)
                        *dash = '\0';
                struct config_uid_range *r = &c->service_uids[c->n_service_uids];
                if (parse_int64(lo, 1, UINT32_MAX - 1, &r->lo) < 0 ||
                    parse_int64(dash ? dash + 1 : lo, r->lo, UINT32_MAX - 1, &r->hi) < 0)
                        return yamldoc_error(d, v->items[i]->line, err,
                                             "service_uids: '%s' is not a uid or a range of "
                                             "uids (e.g. 990 or \"61000-61063\")",
                                             s);
                c->n_service_uids++;
        }
        return 0;
}

static int parse_notify(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                        struct error **err)
{
        static const char *const names[] = {"webhook_url", NULL};
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_MAP, "notify", err) < 0)
                return -1;
        for (size_t i = 0; i < v->n; i++) {
                const struct yamldoc_pair *p = &v->pairs[i];
                if (!streq(p->key, "webhook_url"))
                        return yamldoc_unknown_key(d, p, "notify", names, err);
                free(c->webhook_url);
                c->webhook_url = NULL;
                if (yamldoc_is_null(p->value))
                        continue;
                if (set_string(d, p->value, "notify.webhook_url", &c->webhook_url, err) < 0)
                        return -1;
                if (!startswith(c->webhook_url, "http://") &&
                    !startswith(c->webhook_url, "https://"))
                        return yamldoc_error(d, p->value->line, err,
                                             "'notify.webhook_url' must be an http:// or https:// "
                                             "URL, not '%s'",
                                             c->webhook_url);
        }
        return 0;
}

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

static int parse_network(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                         struct error **err)
{
        static const char *const names[] = {"pool", "subnet_prefix", "require_isolation", NULL};
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_MAP, "network", err) < 0)
                return -1;
        for (size_t i = 0; i < v->n; i++) {
                const struct yamldoc_pair *p = &v->pairs[i];
                if (!streq(p->key, "pool") && !streq(p->key, "subnet_prefix") &&
                    !streq(p->key, "require_isolation"))
                        return yamldoc_unknown_key(d, p, "network", names, err);
                if (yamldoc_is_null(p->value))
                        continue;
                if (streq(p->key, "pool")) {
                        if (set_string(d, p->value, "network.pool", &c->network_pool, err) < 0)
                                return -1;
                } else if (streq(p->key, "subnet_prefix")) {
                        if (yamldoc_get_int64(d, p->value, "network.subnet_prefix", 16, 29,
                                              &c->network_subnet_prefix, err) < 0)
                                return -1;
                } else if (yamldoc_get_bool(d, p->value, "network.require_isolation",
                                            &c->network_require_isolation, err) < 0) {
                        return -1;
                }
        }
        return 0;
}

static int parse_top_key(const struct yamldoc *d, const struct yamldoc_pair *p, struct config *c,
                         struct error **err)
{
        for (size_t i = 0; i < ARRAY_SIZE(top_keys); i++) {
                const struct key_def *k = &top_keys[i];
                if (!streq(k->name, p->key))
                        continue;
                if (k->type == KEY_SPECIAL)
                        return k->parse(d, p->value, c, err);
                /* null: keep the default (init_path: null means "find it"). */
                if (yamldoc_is_null(p->value)) {
                        if (streq(k->name, "init_path")) {
                                free(c->init_path);
                                c->init_path = NULL;
                        }
                        return 0;
                }
                char **field = (char **)(void *)((char *)c + k->offset);
                switch (k->type) {
                case KEY_STRING:
                        return set_string(d, p->value, k->name, field, err);
                case KEY_PATH:
                        return set_path(d, p->value, k->name, field, err);
                case KEY_INT:
                        return yamldoc_get_int64(d, p->value, k->name, k->min, k->max,
                                                 (int64_t *)(void *)((char *)c + k->offset), err);
                case KEY_SPECIAL:
                        break;
                }
                return 0;
        }
        const char *names[ARRAY_SIZE(top_keys) + 1];
        for (size_t i = 0; i < ARRAY_SIZE(top_keys); i++)
                names[i] = top_keys[i].name;
        names[ARRAY_SIZE(top_keys)] = NULL;
        return yamldoc_unknown_key(d, p, "ds01.yaml", names, err);
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
        for (size_t i = 0; i < d->root->n; i++)
                if (parse_top_key(d, &d->root->pairs[i], c, err) < 0)
                        return NULL;
        if (validate(d, c, err) < 0)
                return NULL;
        return TAKE_PTR(c);
}
