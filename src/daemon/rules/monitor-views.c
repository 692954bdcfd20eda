/* monitor-views.c - what readers see of the monitor (container-list, container-stats, status,
 * /metrics): published at the end of each tick, so a request never waits for a sweep. */
#include "daemon/rules/monitor-internal.h"

#include "daemon/config/generation.h"
#include "daemon/containers/execs.h"
#include "daemon/containers/network.h"
#include "daemon/containers/userpath.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/gpuadmin.h"
#include "daemon/gpus/leases.h"
#include "daemon/gpus/nvml.h"
#include "daemon/observe/counters.h"
#include "daemon/observe/snapshot.h"
#include "daemon/observe/usage.h"
#include "daemon/rules/enforce.h"
#include "daemon/rules/rules.h"
#include "daemon/rules/sampler.h"
#include "shared/log.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

static json_t *maybe_int(int64_t v)
{
        return v >= 0 ? json_integer(v) : json_null();
}

static json_t *maybe_real(double v)
{
        return v >= 0 ? json_real(v) : json_null();
}

void monitor_views_free(struct view *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].id);
                json_decref(v[i].signals);
                json_decref(v[i].stats);
                free(v[i].signals_text);
        }
        free(v);
}

/* At the end of a tick, with act_lock held. */
void monitor_publish_views(struct monitor *m)
{
        struct view *v = xcalloc(m->n_acts + 1, sizeof(*v));
        size_t n = 0;
        for (size_t i = 0; i < m->n_acts; i++) {
                const struct activity *a = &m->acts[i];
                if (!a->state || !streq(a->state, "running") || !a->have_sample)
                        continue;
                json_t *gpus = json_array();
                for (size_t k = 0; k < a->n_gpus; k++)
                        json_array_append_new(
                            gpus, json_pack("{s:s, s:o, s:o, s:o}", "uuid", a->gpus[k].uuid,
                                            "util_pct", maybe_real(a->gpus[k].util_pct),
                                            "mem_used_bytes", maybe_int(a->gpus[k].mem_used),
                                            "mem_total_bytes", maybe_int(a->gpus[k].mem_total)));
                v[n++] = (struct view){
                    .id = xstrdup(a->id),
                    .last_active_ms = a->last_active_ms,
                    .idle_timeout_s = a->idle_timeout_s,
                    .runtime_limit_s = a->runtime_limit_s,
                    .runtime_s = a->runtime_s,
                    .keepalive_until = a->keepalive_until,
                    .keepalive_source = a->keepalive_source,
                    .signals =
                        json_pack("{s:f, s:I, s:o, s:b}", "cpu_pct", a->cpu_pct, "net_bytes",
                                  (json_int_t)a->net_delta, "gpu_pct",
                                  a->gpu_pct >= 0 ? json_real(a->gpu_pct) : json_string("unknown"),
                                  "session", a->session),
                    .stats =
                        json_pack("{s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:o}", "sampled_at_ms",
                                  (json_int_t)a->sampled_ms, "cpu_pct", a->cpu_pct,
                                  "mem_used_bytes", maybe_int(a->mem_used), "mem_limit_bytes",
                                  a->mem_limit > 0 ? json_integer(a->mem_limit) : json_null(),
                                  "pids", maybe_int(a->pids), "net_rx_bps", maybe_real(a->rx_bps),
                                  "net_tx_bps", maybe_real(a->tx_bps), "gpus", gpus),
                };
        }
        for (size_t i = 0; i < n; i++)
                v[i].signals_text = json_text(v[i].signals);
        /* by user: CPU of every run so far, memory of the running containers */
        struct monitor_user_usage *u = NULL;
        size_t n_u = 0;
        for (size_t i = 0; i < m->n_carried; i++)
                monitor_usage_get(&u, &n_u, m->carried[i].user)->cpu_s = m->carried[i].cpu_s;
        for (size_t i = 0; i < m->n_acts; i++) {
                const struct activity *a = &m->acts[i];
                if (!a->user)
                        continue;
                struct monitor_user_usage *e = monitor_usage_get(&u, &n_u, a->user);
                e->cpu_s += (double)a->cpu_ns / 1e9;
                if (a->state && streq(a->state, "running") && a->mem_used > 0)
                        e->mem_bytes += a->mem_used;
        }
        pthread_mutex_lock(&m->view_lock);
        struct view *old = m->views;
        size_t n_old = m->n_views;
        m->views = v;
        m->n_views = n;
        struct monitor_user_usage *old_u = m->usage;
        size_t n_old_u = m->n_usage;
        m->usage = u;
        m->n_usage = n_u;
        pthread_mutex_unlock(&m->view_lock);
        monitor_views_free(old, n_old);
        monitor_user_usage_free(old_u, n_old_u);
}

static const struct view *view_find(const struct monitor *m, const char *id)
{
        for (size_t i = 0; i < m->n_views; i++)
                if (streq(m->views[i].id, id))
                        return &m->views[i];
        return NULL;
}

/* The idle and runtime clocks of a view now; -1 where a member is null or absent. */
struct clocks {
        int64_t idle_s, idle_timeout_s, idle_left_s, runtime_s, runtime_limit_s, runtime_left_s;
        int64_t keepalive_until; /* 0: none in force */
        const char *keepalive_source;
};

static void view_clocks(const struct view *a, struct clocks *c)
{
        int64_t now = now_s(), idle = (now_ms() - a->last_active_ms) / 1000;
        if (idle < 0)
                idle = 0;
        *c = (struct clocks){
            .idle_s = idle,
            .idle_timeout_s = a->idle_timeout_s,
            .idle_left_s = -1,
            .runtime_s = a->runtime_s,
            .runtime_limit_s = a->runtime_limit_s,
            .runtime_left_s = -1,
            .keepalive_source = a->keepalive_source ? a->keepalive_source : "command",
        };
        if (a->idle_timeout_s >= 0)
                c->idle_left_s = a->keepalive_until > now   ? a->keepalive_until - now
                                 : a->idle_timeout_s > idle ? a->idle_timeout_s - idle
                                                            : 0;
        if (a->runtime_limit_s >= 0)
                c->runtime_left_s =
                    a->runtime_limit_s > a->runtime_s ? a->runtime_limit_s - a->runtime_s : 0;
        if (a->keepalive_until > now)
                c->keepalive_until = a->keepalive_until;
}

void monitor_describe(struct monitor *m, const char *id, json_t *row)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->view_lock);
        const struct view *a = view_find(m, id);
        if (a) {
                struct clocks c;
                view_clocks(a, &c);
                json_object_set_new(row, "idle_s", json_integer(c.idle_s));
                json_object_set_new(row, "idle_timeout_s", maybe_int(c.idle_timeout_s));
                if (c.idle_left_s >= 0)
                        json_object_set_new(row, "idle_left_s", json_integer(c.idle_left_s));
                json_object_set_new(row, "runtime_s", json_integer(c.runtime_s));
                json_object_set_new(row, "runtime_limit_s", maybe_int(c.runtime_limit_s));
                if (c.runtime_left_s >= 0)
                        json_object_set_new(row, "runtime_left_s", json_integer(c.runtime_left_s));
                if (c.keepalive_until)
                        json_object_set_new(row, "keepalive",
                                            json_pack("{s:I, s:s}", "until",
                                                      (json_int_t)c.keepalive_until, "source",
                                                      c.keepalive_source));
                /* a copy: jansson's final decref has no acquire ordering, so a JSON value
                 * must never be freed by another thread than the one that last used it */
                json_object_set_new(row, "signals", json_deep_copy(a->signals));
        }
        pthread_mutex_unlock(&m->view_lock);
}

static void add_member(struct strbuf *sb, const char *key, int64_t v, bool null_if_negative)
{
        if (v < 0 && !null_if_negative)
                return;
        strbuf_addc(sb, ',');
        strbuf_add_json_string(sb, key);
        strbuf_addc(sb, ':');
        if (v < 0)
                strbuf_adds(sb, "null");
        else
                strbuf_add_i64(sb, v);
}

void monitor_keepalive_text(struct strbuf *sb, int64_t until, const char *source)
{
        strbuf_adds(sb, ",\"keepalive\":{\"until\":");
        strbuf_add_i64(sb, until);
        strbuf_adds(sb, ",\"source\":");
        strbuf_add_json_string(sb, source);
        strbuf_addc(sb, '}');
}

bool monitor_describe_text(struct monitor *m, const char *id, struct strbuf *sb)
{
        bool keepalive = false;
        if (!m)
                return false;
        pthread_mutex_lock(&m->view_lock);
        const struct view *a = view_find(m, id);
        if (a) {
                struct clocks c;
                view_clocks(a, &c);
                add_member(sb, "idle_s", c.idle_s, false);
                add_member(sb, "idle_timeout_s", c.idle_timeout_s, true);
                add_member(sb, "idle_left_s", c.idle_left_s, false);
                add_member(sb, "runtime_s", c.runtime_s, false);
                add_member(sb, "runtime_limit_s", c.runtime_limit_s, true);
                add_member(sb, "runtime_left_s", c.runtime_left_s, false);
                if (c.keepalive_until) {
                        monitor_keepalive_text(sb, c.keepalive_until, c.keepalive_source);
                        keepalive = true;
                }
                strbuf_adds(sb, ",\"signals\":");
                strbuf_adds(sb, a->signals_text);
        }
        pthread_mutex_unlock(&m->view_lock);
        return keepalive;
}

void monitor_stats(struct monitor *m, const char *id, json_t *row)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->view_lock);
        const struct view *a = view_find(m, id);
        if (a)
                json_object_set_new(row, "stats", json_deep_copy(a->stats)); /* see above */
        pthread_mutex_unlock(&m->view_lock);
}
