/* config-lists.c - the keys of ds01.yaml whose values are lists or mappings (gpus.simulated,
 * images.frameworks, service_uids, datasets): their parsers and release functions, the CUSTOM
 * rows of config.c's key table. */
#include "daemon/config/config-lists.h"

#include "shared/parse.h"
#include "shared/strv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX_SIMULATED   64
#define CONFIG_MAX_MIG         7 /* compute slices per GPU */
#define DEFAULT_SIM_NAME       "NVIDIA A100-SXM4-40GB"
#define DEFAULT_SIM_MEMORY_MIB 40960
#define DEFAULT_SIM_COUNT      4

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

static void sim_gpu_release(struct config_sim_gpu *g)
{
        free(g->name);
        for (size_t i = 0; i < g->n_mig; i++)
                free(g->mig[i]);
        free(g->mig);
}

void free_simulated(struct config *c)
{
        for (size_t i = 0; i < c->n_simulated; i++)
                sim_gpu_release(&c->simulated[i]);
        free(c->simulated);
        c->simulated = NULL;
        c->n_simulated = 0;
}

/* gpus.simulated's default: four A100-SXM4-40GB, no MIG. */
void default_simulated(struct config *c)
{
        c->n_simulated = DEFAULT_SIM_COUNT;
        c->simulated = xcalloc(DEFAULT_SIM_COUNT, sizeof(*c->simulated));
        for (size_t i = 0; i < DEFAULT_SIM_COUNT; i++) {
                c->simulated[i].name = xstrdup(DEFAULT_SIM_NAME);
                c->simulated[i].memory_mib = DEFAULT_SIM_MEMORY_MIB;
        }
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

/* The keys of one gpus.simulated entry (a list item, not a config key of its own). */
static const char *const sim_names[] = {"name", "memory_mib", "mig", NULL};

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

int parse_simulated(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
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

/* images.frameworks: NAME -> base image of image-create --framework NAME. */
int parse_frameworks(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                     struct error **err)
{
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_MAP, "images.frameworks", err) < 0)
                return -1;
        for (size_t j = 0; j < v->n; j++) {
                const struct yamldoc_pair *f = &v->pairs[j];
                _cleanup_free_ char *what = xasprintf("images.frameworks.%s", f->key);
                const char *s;
                if (yamldoc_get_string(d, f->value, what, &s, err) < 0)
                        return -1;
                c->frameworks =
                    xrealloc(c->frameworks, (c->n_frameworks + 1) * sizeof(*c->frameworks));
                c->frameworks[c->n_frameworks++] =
                    (struct config_framework){xstrdup(f->key), xstrdup(s)};
        }
        return 0;
}

void free_frameworks(struct config *c)
{
        for (size_t i = 0; i < c->n_frameworks; i++) {
                free(c->frameworks[i].name);
                free(c->frameworks[i].image);
        }
        free(c->frameworks);
        c->frameworks = NULL;
        c->n_frameworks = 0;
}

void free_datasets(struct config *c)
{
        for (size_t i = 0; i < c->n_datasets; i++) {
                free(c->datasets[i].name);
                free(c->datasets[i].path);
                strv_free(c->datasets[i].groups);
        }
        free(c->datasets);
        c->datasets = NULL;
        c->n_datasets = 0;
}

/* A dataset's name is a path component ds01 makes (/data/NAME): [a-z0-9][a-z0-9_.-]{0,62}. */
static bool dataset_name_ok(const char *s)
{
        size_t n = strlen(s);
        bool ok =
            n > 0 && n <= 63 && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'));
        for (size_t i = 1; ok && i < n; i++)
                ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
                     s[i] == '.' || s[i] == '-';
        return ok && !strstr(s, "..");
}

static int parse_dataset(const struct yamldoc *d, const struct yamldoc_pair *p,
                         struct config_dataset *ds, struct error **err)
{
        static const char *const known[] = {"path", "groups", NULL};
        _cleanup_free_ char *what = xasprintf("datasets.%s", p->key);
        if (!dataset_name_ok(p->key))
                return yamldoc_error(d, p->value->line, err,
                                     "%s: a dataset's name is lower-case letters, digits, '_', "
                                     "'.' and '-' (it becomes /data/NAME)",
                                     what);
        if (yamldoc_expect(d, p->value, YAMLDOC_MAP, what, err) < 0)
                return -1;
        ds->name = xstrdup(p->key);
        for (size_t k = 0; k < p->value->n; k++) {
                const struct yamldoc_pair *f = &p->value->pairs[k];
                if (!streq(f->key, "path") && !streq(f->key, "groups"))
                        return yamldoc_unknown_key(d, f, what, known, err);
        }
        const char *path;
        if (yamldoc_get_string(d, yamldoc_map_get(p->value, "path"), what, &path, err) < 0)
                return -1;
        if (path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") || strstr(path, "//"))
                return yamldoc_error(d, p->value->line, err,
                                     "%s.path must be an absolute path without '.', '..' or "
                                     "'//', not '%s'",
                                     what, path);
        ds->path = xstrdup(path);
        const struct yamldoc_node *g = yamldoc_map_get(p->value, "groups");
        if (yamldoc_is_null(g))
                return 0;
        if (yamldoc_expect(d, g, YAMLDOC_SEQ, what, err) < 0)
                return -1;
        ds->groups = xcalloc(g->n + 1, sizeof(char *));
        for (size_t k = 0; k < g->n; k++) {
                const char *name;
                if (yamldoc_get_string(d, g->items[k], what, &name, err) < 0)
                        return -1;
                ds->groups[k] = xstrdup(name);
        }
        return 0;
}

/* datasets: NAME: {path: /srv/data/NAME, groups: [researcher]} */
int parse_datasets(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                   struct error **err)
{
        free_datasets(c);
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_MAP, "datasets", err) < 0)
                return -1;
        c->datasets = xcalloc(v->n ? v->n : 1, sizeof(*c->datasets));
        for (size_t i = 0; i < v->n; i++) {
                c->n_datasets = i + 1;
                if (parse_dataset(d, &v->pairs[i], &c->datasets[i], err) < 0)
                        return -1;
        }
        return 0;
}

/* service_uids: [990, "61000-61063"]: single uids and ranges. */
int parse_service_uids(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                       struct error **err)
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

void free_service_uids(struct config *c)
{
        free(c->service_uids);
        c->service_uids = NULL;
        c->n_service_uids = 0;
}

void free_cluster(struct config *c)
{
        if (!c->cluster)
                return;
        free(c->cluster->backend);
        free(c->cluster->name);
        free(c->cluster->slurm_conf);
        free(c->cluster->slurm_bin);
        free(c->cluster->account_prefix);
        free(c->cluster->node);
        free(c->cluster);
        c->cluster = NULL;
}

/* A Slurm name as sacctmgr takes it on its command line: [a-z0-9_], and '-' after the first
 * character for a cluster (ClusterName may have one); nothing a shell or sacctmgr's own
 * "key=value,value" syntax would read as more than one word. */
static bool slurm_word_ok(const char *s, bool dash, size_t max)
{
        size_t n = strlen(s);
        bool ok = n > 0 && n <= max;
        for (size_t i = 0; ok && i < n; i++)
                ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
                     (dash && i > 0 && s[i] == '-');
        return ok;
}

static int cluster_string(const struct yamldoc *d, const struct yamldoc_node *m, const char *key,
                          const char **ret, struct error **err)
{
        const struct yamldoc_node *v = yamldoc_map_get(m, key);
        if (yamldoc_is_null(v))
                return 0;
        _cleanup_free_ char *what = xasprintf("cluster.%s", key);
        return yamldoc_get_string(d, v, what, ret, err);
}

static unsigned cluster_line(const struct yamldoc_node *m, const char *key)
{
        const struct yamldoc_pair *p = yamldoc_map_get_pair(m, key);
        return p ? p->value->line : m->line;
}

/* cluster: {backend: slurm, name: NAME, slurm_conf: FILE, slurm_bin: DIR, account_prefix: P,
 * node: NODENAME, accounts: BOOL} */
int parse_cluster(const struct yamldoc *d, const struct yamldoc_node *v, struct config *c,
                  struct error **err)
{
        static const char *const known[] = {"backend",        "name", "slurm_conf", "slurm_bin",
                                            "account_prefix", "node", "accounts",   NULL};
        free_cluster(c);
        if (yamldoc_is_null(v))
                return 0;
        if (yamldoc_expect(d, v, YAMLDOC_MAP, "cluster", err) < 0)
                return -1;
        for (size_t i = 0; i < v->n; i++) {
                bool is_known = false;
                for (size_t k = 0; known[k]; k++)
                        is_known |= streq(known[k], v->pairs[i].key);
                if (!is_known)
                        return yamldoc_unknown_key(d, &v->pairs[i], "cluster", known, err);
        }
        const char *backend = NULL, *name = NULL, *conf = NULL, *bin = "/usr/bin",
                   *prefix = "ds01_", *node = NULL;
        if (cluster_string(d, v, "backend", &backend, err) < 0 ||
            cluster_string(d, v, "name", &name, err) < 0 ||
            cluster_string(d, v, "slurm_conf", &conf, err) < 0 ||
            cluster_string(d, v, "slurm_bin", &bin, err) < 0 ||
            cluster_string(d, v, "account_prefix", &prefix, err) < 0 ||
            cluster_string(d, v, "node", &node, err) < 0)
                return -1;
        bool accounts = true;
        const struct yamldoc_node *acc = yamldoc_map_get(v, "accounts");
        if (!yamldoc_is_null(acc) &&
            yamldoc_get_bool(d, acc, "cluster.accounts", &accounts, err) < 0)
                return -1;
        if (!backend || !streq(backend, "slurm"))
                return yamldoc_error(
                    d, cluster_line(v, "backend"), err,
                    "'cluster.backend' must be slurm%s%s%s (or leave 'cluster' out "
                    "for a single server)",
                    backend ? ", not '" : "", backend ? backend : "", backend ? "'" : "");
        if (!name || !slurm_word_ok(name, true, 40))
                return yamldoc_error(d, cluster_line(v, "name"), err,
                                     "'cluster.name' must be the ClusterName of slurm.conf "
                                     "(lower-case letters, digits, '_' and '-', at most 40)%s%s%s",
                                     name ? ", not '" : "", name ? name : "", name ? "'" : "");
        if (conf && (conf[0] != '/' || strpbrk(conf, " \t\n")))
                return yamldoc_error(
                    d, cluster_line(v, "slurm_conf"), err,
                    "'cluster.slurm_conf' must be the absolute path of slurm.conf, "
                    "not '%s'",
                    conf);
        if (bin[0] != '/' || strpbrk(bin, " \t\n"))
                return yamldoc_error(d, cluster_line(v, "slurm_bin"), err,
                                     "'cluster.slurm_bin' must be the absolute directory of "
                                     "sacctmgr (e.g. /usr/bin), not '%s'",
                                     bin);
        if (!slurm_word_ok(prefix, false, 24))
                return yamldoc_error(d, cluster_line(v, "account_prefix"), err,
                                     "'cluster.account_prefix' must be lower-case letters, digits "
                                     "and '_' (at most 24; e.g. ds01_), not '%s'",
                                     prefix);
        /* NodeName: a hostname's characters (letters, digits, '-', '_', '.') */
        bool node_ok = !node || (*node && strlen(node) <= 64);
        for (const char *p = node; node && node_ok && *p; p++)
                node_ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                          (*p >= '0' && *p <= '9') || strchr("-_.", *p);
        if (!node_ok)
                return yamldoc_error(d, cluster_line(v, "node"), err,
                                     "'cluster.node' must be this host's NodeName in slurm.conf "
                                     "(letters, digits, '-', '_' and '.', at most 64), not '%s'",
                                     node);
        char host[256] = "";
        if (!node) { /* the short hostname, as Slurm's NodeName usually is */
                if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
                        snprintf(host, sizeof(host), "localhost");
                host[strcspn(host, ".")] = '\0';
        }
        c->cluster = xzalloc(sizeof(*c->cluster));
        c->cluster->node = xstrdup(node ? node : host);
        c->cluster->backend = xstrdup(backend);
        c->cluster->name = xstrdup(name);
        c->cluster->slurm_conf = conf ? xstrdup(conf) : NULL;
        c->cluster->slurm_bin = xstrdup(bin);
        c->cluster->account_prefix = xstrdup(prefix);
        c->cluster->accounts = accounts;
        return 0;
}
