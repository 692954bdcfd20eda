/* reload.c - ds01.yaml and the limits files read again and swapped in (see reload.h). */
#include "daemon/config/reload.h"

#include "daemon/config/generation.h"

#include "daemon/gpus/nvml.h"
#include "daemon/containers/usercgroup.h"
#include "daemon/observe/audit.h"
#include "daemon/observe/metrics.h"
#include "daemon/observe/snapshot.h"
#include "daemon/observe/usage.h"
#include "daemon/rules/monitor.h"
#include "shared/log.h"
#include "shared/strbuf.h"

#include <grp.h>
#include <pthread.h>
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

/* One reload at a time (SIGHUP and `ds01 reload`): each compares with the generation current
 * when it starts, and the /metrics server moves once. */
static pthread_mutex_t one = PTHREAD_MUTEX_INITIALIZER;

void reload_stop(void)
{
        pthread_mutex_lock(&one); /* never given back: the daemon is stopping */
}

int reload_config(struct ds01d *d, struct error **err)
{
        pthread_mutex_lock(&one);
        struct ds01d v;
        ds01d_pin(d, &v);
        int r = reload_locked(&v, err);
        ds01d_unpin(&v);
        if (r == 0) {
                *d->metrics = metrics_reload(*d->metrics, d->root);
                ds01d_pin(d, &v); /* the caps of the limits just published */
                usercgroup_refresh(&v);
                ds01d_unpin(&v);
        }
        pthread_mutex_unlock(&one);
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
        /* the keys only a restart changes (the config table says which) */
        const char *bad = config_changed(d->cfg, c, CONFIG_RELOAD_RESTART);
        if (bad) {
                error_set(err, DS01_ERR,
                          "changing '%s' needs a restart of ds01d (the running configuration "
                          "stays)",
                          bad);
                config_free(c);
                limits_free(l);
                return -1;
        }
        unsigned steps = config_apply_steps(d->cfg, c);
        const char *later = config_changed(d->cfg, c, CONFIG_RELOAD_START);
        if (later)
                log_notice("'%s' changed: it takes effect when ds01d restarts", later);
        generations_publish(d->gens, &(struct generation_change){
                                         .cfg = c,
                                         .admin_gid = reload_lookup_gid(c->admin_group),
                                         .limits = l,
                                     });
        /* the apply steps of what changed (the /metrics server moves in reload_config) */
        if (steps & CONFIG_APPLY_EVENTS_ROTATION)
                events_set_rotation(d->events, c->events_max_kb * 1024, (int)c->events_keep);
        if (steps & CONFIG_APPLY_AUDIT)
                audit_configure(d->audit, c->audit_window_s, c->audit_names_per_uid);
        if (steps & CONFIG_APPLY_LOG_ROTATION)
                log_set_rotation(c->log_max_kb * 1024, (int)c->log_keep);
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
        struct ds01d v; /* the generation just published */
        ds01d_pin(d, &v);
        *ret_result =
            json_pack("{s:s, s:s}", "config", v.cfg->source, "limits_file", v.cfg->limits_file);
        ds01d_unpin(&v);
        events_log(d->events, "config.reload", c->login, NULL);
        return 0;
}
