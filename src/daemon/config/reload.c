/* reload.c - ds01.yaml and the limits files read again and swapped in (see reload.h). */
#include "daemon/config/reload.h"

#include "daemon/gpus/nvml.h"
#include "daemon/observe/audit.h"
#include "daemon/observe/metrics.h"
#include "daemon/observe/snapshot.h"
#include "daemon/observe/usage.h"
#include "daemon/rules/monitor.h"
#include "shared/log.h"
#include "shared/strbuf.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

gid_t reload_lookup_gid(const char *name)
{
        struct group gr, *res = NULL;
        char buf[8192];
        if (!name || !*name || getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
                return (gid_t)-1;
        return gr.gr_gid;
}

static void log_unused_keys(const struct limits *l, const char *file)
{
        const char *const *keys = limits_unused_keys(l);
        if (!keys || !keys[0])
                return;
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; keys[i]; i++) {
                if (i)
                        strbuf_adds(&sb, ", ");
                strbuf_adds(&sb, keys[i]);
        }
        log_notice("%s: these keys are accepted for DS01 compatibility but have no effect in "
                   "ds01: %s",
                   file, strbuf_str(&sb));
        strbuf_release(&sb);
}

struct limits *reload_load_limits(const struct config *c, struct error **err)
{
        struct limits *l = limits_load(c->limits_file, err);
        if (!l)
                return NULL;
        struct stat st;
        if (stat(c->limits_file, &st) < 0)
                log_info("no limits file at %s: every user gets DS01's default limits",
                         c->limits_file);
        else
                log_unused_keys(l, c->limits_file);
        return l;
}

/* Parses and validates everything first, then swaps under the write lock. */
static int reload_locked(struct ds01d *d, struct error **err);

int reload_config(struct ds01d *d, struct error **err)
{
        pthread_mutex_lock(&d->reload_lock);
        int r = reload_locked(d, err);
        if (r == 0)
                d->metrics = metrics_reload(d->metrics, d);
        pthread_mutex_unlock(&d->reload_lock);
        return r;
}

static int reload_locked(struct ds01d *d, struct error **err)
{
        struct config *c = config_load(d->config_path, err);
        if (!c)
                return -1;
        struct limits *l = reload_load_limits(c, err);
        if (!l) {
                config_free(c);
                return -1;
        }
        pthread_rwlock_rdlock(&d->lock);
        const struct {
                const char *key, *running, *loaded;
        } fixed[] = {
            {"instance", d->cfg->instance, c->instance},
            {"socket", d->cfg->socket, c->socket},
            {"state_dir", d->cfg->state_dir, c->state_dir},
            {"log_dir", d->cfg->log_dir, c->log_dir},
            {"docker_socket", d->cfg->docker_socket, c->docker_socket},
        };
        const char *bad = NULL;
        for (size_t i = 0; i < ARRAY_SIZE(fixed) && !bad; i++)
                if (!streq_ptr(fixed[i].running, fixed[i].loaded))
                        bad = fixed[i].key;
        pthread_rwlock_unlock(&d->lock);
        if (bad) {
                error_set(err, DS01_ERR,
                          "changing '%s' needs a restart of ds01d (the running configuration "
                          "stays)",
                          bad);
                config_free(c);
                limits_free(l);
                return -1;
        }
        pthread_rwlock_wrlock(&d->lock);
        struct config *old_c = d->cfg;
        struct limits *old_l = d->limits;
        d->cfg = c;
        d->limits = l;
        d->admin_gid = reload_lookup_gid(c->admin_group);
        pthread_rwlock_unlock(&d->lock);
        events_set_rotation(d->events, c->events_max_kb * 1024, (int)c->events_keep);
        audit_configure(d->audit, c->audit_window_s, c->audit_names_per_uid);
        log_set_rotation(c->log_max_kb * 1024, (int)c->log_keep);
        config_free(old_c);
        limits_free(old_l);
        log_notice("reloaded %s and %s", c->source, c->limits_file);
        return 0;
}

int reload_request(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err)
{
        (void)params;
        if (reload_config(d, err) < 0) {
                /* a broken file is an error of the request, not of how it was asked */
                if (err && *err)
                        (*err)->code = DS01_ERR;
                return -1;
        }
        pthread_rwlock_rdlock(&d->lock);
        *ret_result =
            json_pack("{s:s, s:s}", "config", d->cfg->source, "limits_file", d->cfg->limits_file);
        pthread_rwlock_unlock(&d->lock);
        events_log(d->events, "config.reload", c->login, NULL);
        return 0;
}
