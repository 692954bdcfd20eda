/* monitor.c - the timer: each tick samples the managed containers (CPU, network, GPUs, open
 * sessions) and applies the lifecycle rules to them (monitor-rules.c); what readers see is
 * published at its end (monitor-views.c). See monitor.h. */
#include "daemon/rules/monitor-internal.h"

#include "daemon/config/generation.h"
#include "daemon/containers/execs.h"
#include "daemon/containers/network.h"
#include "daemon/containers/userpath.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/gpuadmin.h"
#include "daemon/gpus/leases.h"
#include "daemon/gpus/outside.h"
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

/* A rule's next warning or stop falls at t (unix ms): the tick comes then. */
void monitor_due_at(struct monitor *m, int64_t t, int64_t now)
{
        if (t > now && (m->due_ms == 0 || t < m->due_ms))
                m->due_ms = t;
}

static void gpus_clear(struct activity *a)
{
        for (size_t i = 0; i < a->n_gpus; i++)
                free(a->gpus[i].uuid);
        free(a->gpus);
        a->gpus = NULL;
        a->n_gpus = 0;
}

struct monitor_user_usage *monitor_usage_get(struct monitor_user_usage **v, size_t *n,
                                             const char *user)
{
        for (size_t i = 0; i < *n; i++)
                if (streq((*v)[i].user, user))
                        return &(*v)[i];
        *v = xrealloc(*v, (*n + 1) * sizeof(**v));
        (*v)[*n] = (struct monitor_user_usage){.user = xstrdup(user)};
        return &(*v)[(*n)++];
}

/* The CPU time of a run that ended (or that this monitor stops following) stays in its user's
 * total, which is a counter. */
static void carry_cpu(struct monitor *m, struct activity *a)
{
        if (a->user && a->cpu_ns > 0)
                monitor_usage_get(&m->carried, &m->n_carried, a->user)->cpu_s +=
                    (double)a->cpu_ns / 1e9;
        a->cpu_ns = 0;
}

void monitor_user_usage_free(struct monitor_user_usage *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].user);
        free(v);
}

static void activity_release(struct activity *a)
{
        gpus_clear(a);
        free(a->id);
        free(a->name);
        free(a->user);
        free(a->state);
        free(a->workspace);
        sampler_cgroup_release(&a->cg);
}

struct activity *monitor_activity_find(struct monitor *m, const char *id)
{
        for (size_t i = 0; i < m->n_acts; i++)
                if (streq(m->acts[i].id, id))
                        return &m->acts[i];
        return NULL;
}

static int64_t docker_time(const char *s)
{
        return docker_time_ms(s) / 1000;
}

char *monitor_clock_text(int64_t t, char buf[static 64])
{
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(buf, 64, "%H:%M:%S UTC", &tm);
        return buf;
}

/* Inspects a container whose state changed: pid, start time, workspace, cgroup. */
static void refresh(struct monitor *m, struct activity *a, const struct limit_set *ls)
{
        json_t *ins = docker_container_inspect(m->d->docker, a->id, NULL);
        if (!ins)
                return;
        json_t *st = json_object_get(ins, "State");
        a->pid = (pid_t)json_integer_value(json_object_get(st, "Pid"));
        int64_t started_ms = docker_time_ms(jstr(st, "StartedAt"));
        a->started_at = started_ms / 1000;
        a->finished_at = docker_time(jstr(st, "FinishedAt"));
        a->created_ms = docker_time_ms(jstr(ins, "Created"));
        free(a->workspace);
        a->workspace = NULL;
        const char *ws = docker_inspect_workspace(ins);
        a->workspace = ws ? xstrdup(ws) : NULL;
        json_decref(ins);
        sampler_cgroup_release(&a->cg);
        a->have_cg = false;
        a->have_sample = false;
        a->idle_warned = 0;
        /* The idle clock starts after the start-up grace, and never before this daemon started:
         * after a restart it cannot know what happened while it was away, so it does not guess
         * "idle". */
        double grace_s = ls->policies.grace_period_m > 0 ? ls->policies.grace_period_m * 60 : 0;
        a->grace_end_ms = started_ms + (int64_t)(grace_s * 1000);
        a->last_active_ms = a->grace_end_ms;
        if (a->last_active_ms < m->started_ms)
                a->last_active_ms = m->started_ms;
        if (a->pid > 0) {
                struct error *err = NULL;
                if (sampler_cgroup_find(a->pid, &a->cg, &err) == 0)
                        a->have_cg = true;
                else {
                        log_warning("%s: no CPU counter: %s", a->name, err->message);
                        error_free(err);
                }
        }
}

/* Samples each leased GPU (utilisation of whole GPUs, memory of all) and returns the highest
 * utilisation; -1 when none is measurable. */
static double gpu_utilisation(struct ds01d *d, struct activity *a, const struct store_container *sc)
{
        gpus_clear(a);
        double best = -1;
        if (!sc || sc->n_leases == 0)
                return best;
        a->gpus = xcalloc(sc->n_leases, sizeof(*a->gpus));
        a->n_gpus = sc->n_leases;
        for (size_t k = 0; k < sc->n_leases; k++) {
                struct gpu_sample *g = &a->gpus[k];
                g->uuid = xstrdup(sc->leases[k].slot_uuid);
                g->util_pct = -1;
                g->mem_used = g->mem_total = -1;
                if (!d->nvml)
                        continue;
                struct nvml_sample ns;
                if (nvml_sample(d->nvml, g->uuid, &ns, NULL) < 0)
                        continue;
                if (ns.util_pct >= 0) {
                        g->util_pct = ns.util_pct;
                        best = fmax(best, (double)ns.util_pct);
                }
                g->mem_used = ns.mem_used;
                g->mem_total = ns.mem_total;
        }
        return best;
}

static void sample(struct monitor *m, struct activity *a, const struct store_container *sc)
{
        uint64_t cpu = 0, net = 0;
        bool have_cpu = a->have_cg && sampler_cpu_ns(&a->cg, &cpu, NULL) == 0;
        if (have_cpu && cpu > a->cpu_ns)
                a->cpu_ns = cpu;
        bool have_net = a->pid > 0 && sampler_net_bytes(a->pid, &net, NULL) == 0;
        int64_t mono = mono_ms();
        a->measured = a->have_sample && mono > a->last_mono_ms;
        if (a->measured) {
                double wall_ns = (double)(mono - a->last_mono_ms) * 1e6;
                a->cpu_pct = have_cpu && cpu >= a->last_cpu_ns
                                 ? (double)(cpu - a->last_cpu_ns) * 100.0 / wall_ns
                                 : 0;
                a->net_delta = have_net && net >= a->last_net ? (int64_t)(net - a->last_net) : 0;
        } else {
                a->cpu_pct = 0;
                a->net_delta = 0;
        }
        a->gpu_pct = gpu_utilisation(m->d, a, sc);
        uint64_t rx = 0, tx = 0, used = 0, limit = 0, pids = 0;
        bool have_rxtx = a->pid > 0 && sampler_net_rx_tx(a->pid, &rx, &tx, NULL) == 0;
        if (have_rxtx && a->have_sample && mono > a->last_mono_ms && rx >= a->last_rx &&
            tx >= a->last_tx) {
                double secs = (double)(mono - a->last_mono_ms) / 1000.0;
                a->rx_bps = (double)(rx - a->last_rx) / secs;
                a->tx_bps = (double)(tx - a->last_tx) / secs;
        } else
                a->rx_bps = a->tx_bps = have_rxtx ? 0 : -1;
        a->last_rx = rx;
        a->last_tx = tx;
        bool have_mem = a->have_cg && sampler_memory(&a->cg, &used, &limit) == 0;
        a->mem_used = have_mem ? (int64_t)used : -1;
        a->mem_limit = have_mem ? (int64_t)limit : -1;
        a->pids = a->have_cg && sampler_pids(&a->cg, &pids) == 0 ? (int64_t)pids : -1;
        a->sampled_ms = now_ms();
        a->session = execs_open(m->d, a->name);
        if (a->have_sample) {
                a->win[a->win_pos].cpu = a->cpu_pct;
                a->win[a->win_pos].gpu = a->gpu_pct;
                a->win[a->win_pos].net = a->net_delta;
                a->win_pos = (a->win_pos + 1) % WINDOW;
                if (a->win_n < WINDOW)
                        a->win_n++;
        }
        a->last_cpu_ns = cpu;
        a->last_net = net;
        a->last_mono_ms = mono;
        a->have_sample = true;
}

/* Effective limits by owner uid, resolved once per tick (passwd and group lookups are the
 * expensive part of a sweep). */
struct owner_cache {
        struct {
                int64_t uid;
                const char *interface; /* the row's: valid for the tick */
                bool ok;
                struct limit_set ls;
        } * v;
        size_t n;
};

/* The owner's limits for a container of `interface` (container_types may change its clocks). */
static const struct limit_set *owner_limits(struct ds01d *d, struct owner_cache *oc, int64_t uid,
                                            const char *interface)
{
        if (uid < 0)
                return NULL;
        for (size_t i = 0; i < oc->n; i++)
                if (oc->v[i].uid == uid && streq_ptr(oc->v[i].interface, interface))
                        return oc->v[i].ok ? &oc->v[i].ls : NULL;
        oc->v = xrealloc(oc->v, (oc->n + 1) * sizeof(*oc->v));
        __typeof__(oc->v[0]) *e = &oc->v[oc->n++];
        memset(e, 0, sizeof(*e));
        e->uid = uid;
        e->interface = interface;
        struct caller owner;
        if (caller_for((uid_t)uid, &owner) == 0) {
                limits_resolve(d->limits, owner.login, owner.gids, owner.n_gids, &e->ls);
                limits_apply_interface(d->limits, interface, &e->ls);
                caller_release(&owner);
                e->ok = true;
        }
        return e->ok ? &e->ls : NULL;
}

static void owner_cache_release(struct owner_cache *oc)
{
        for (size_t i = 0; i < oc->n; i++) {
                if (oc->v[i].ok)
                        limit_set_release(&oc->v[i].ls);
        }
        free(oc->v);
}

/* A daemon restart does not start the clocks over. The runtime warnings already given stay
 * given. A container running when the previous daemon stopped (save_clocks), shortly before (two
 * sample intervals and restart_gap_s: a restart, not an outage) and not restarted since, keeps
 * its idle clock and idle warnings; after a longer gap, or a crash, the daemon cannot know what
 * happened, and the clock starts now. */
static void restore_clocks(struct monitor *m, struct ds01d *d, struct activity *a,
                           const struct store_container *sc)
{
        if (!sc || sc->clocks_at_ms <= 0)
                return;
        if (sc->runtime_warned > a->runtime_warned)
                a->runtime_warned = sc->runtime_warned > 2 ? 2 : sc->runtime_warned;
        int64_t interval = d->cfg->sample_interval_s > 0 ? d->cfg->sample_interval_s : 60;
        if (!a->state || !streq(a->state, "running") || sc->last_active_ms <= 0 ||
            m->started_ms - sc->clocks_at_ms > (2 * interval + d->cfg->restart_gap_s) * 1000 ||
            a->started_at * 1000 > sc->clocks_at_ms || sc->last_active_ms > a->last_active_ms)
                return;
        a->last_active_ms = sc->last_active_ms;
        a->idle_warned = sc->idle_warned > 2 ? 2 : sc->idle_warned;
}

/* system.high_demand (DS01's event, which it never wrote) when idle timeouts begin or cease to
 * be shortened for the GPUs' demand. */
static void note_high_demand(struct monitor *m, struct ds01d *d)
{
        if (m->high_demand_seen == m->high_demand)
                return;
        m->high_demand = m->high_demand_seen;
        const struct rules_demand *dm = &m->demand;
        log_notice("GPUs %s high demand (%zu of %zu slots leased, %zu waiting): idle timeouts are "
                   "%s",
                   m->high_demand ? "in" : "no longer in", dm->leased, dm->slots, dm->waiting,
                   m->high_demand ? "shortened" : "back to normal");
        events_log(d->events, "system.high_demand", NULL,
                   json_pack("{s:s, s:I, s:I, s:I}", "state", m->high_demand ? "on" : "off",
                             "leased_slots", (json_int_t)dm->leased, "slots", (json_int_t)dm->slots,
                             "waiting", (json_int_t)dm->waiting));
}

/* GPUs busy outside ds01 (outside.h): the processes on the GPUs, against the managed
 * containers of this snapshot, the slots each leases and its main process as sampled. */
static void scan_outside(struct monitor *m, struct ds01d *d, const struct snapshot *snap)
{
        struct outside_managed *mc = xcalloc(snap->n + 1, sizeof(*mc));
        char ***slots = xcalloc(snap->n + 1, sizeof(*slots));
        for (size_t i = 0; i < snap->n; i++) {
                const struct snap_container *sc = &snap->containers[i];
                slots[i] = xcalloc(sc->n_leases + 1, sizeof(**slots));
                for (size_t k = 0; k < sc->n_leases; k++)
                        slots[i][k] = sc->leases[k].slot_uuid; /* borrowed from snap */
                mc[i] = (struct outside_managed){sc->id, sc->name, slots[i], 0};
        }
        pthread_mutex_lock(&m->act_lock);
        for (size_t i = 0; i < snap->n; i++) {
                const struct activity *a = monitor_activity_find(m, snap->containers[i].id);
                if (a && streq_ptr(a->state, "running"))
                        mc[i].pid = a->pid;
        }
        pthread_mutex_unlock(&m->act_lock);
        outside_scan(d, mc, snap->n);
        for (size_t i = 0; i < snap->n; i++)
                free(slots[i]);
        free(slots);
        free(mc);
}

static void enforce(struct monitor *m, struct ds01d *d)
{
        struct error *err = NULL;
        /* The daemon's snapshot, not a Docker list of its own: Docker's events keep it current,
         * so a quiet tick asks Docker for nothing. */
        const struct snapshot *snap = snapshot_get(d, &err);
        if (!snap) {
                log_warning("monitor: listing containers: %s", err->message);
                error_free(err);
                return;
        }
        int64_t listed_ms = snap->listed_ms;
        struct store_container *rows = NULL;
        size_t n_rows = 0;
        if (store_list(d->store, -1, &rows, &n_rows, &err) < 0) {
                log_warning("monitor: reading the ledger: %s", err->message);
                error_free(err);
                snapshot_put(d->snap, snap);
                return;
        }
        int64_t tms = now_ms(), now = tms / 1000;
        struct owner_cache cache = {0};
        pthread_mutex_lock(&m->act_lock);
        m->due_ms = 0;
        leases_demand(d, rows, n_rows, &m->demand);
        m->high_demand_seen = false;
        for (size_t i = 0; i < m->n_acts; i++)
                m->acts[i].seen = false;
        for (size_t i = 0; i < snap->n; i++) {
                const struct snap_container *row = &snap->containers[i];
                const char *id = row->id, *state = row->state, *nm = row->name;
                struct activity *a = monitor_activity_find(m, id);
                bool first_sight = !a;
                if (!a) {
                        m->acts = xrealloc(m->acts, (m->n_acts + 1) * sizeof(*m->acts));
                        a = &m->acts[m->n_acts++];
                        memset(a, 0, sizeof(*a));
                        a->id = xstrdup(id);
                        a->name = xstrdup(nm);
                        a->user = row->user[0] ? xstrdup(row->user) : NULL;
                        a->idle_timeout_s = a->runtime_limit_s = -1;
                } else if (!streq_ptr(a->name, nm)) {
                        /* renamed (containers/rename.c): its clocks and samples follow its id */
                        free(a->name);
                        a->name = xstrdup(nm);
                }
                a->seen = true;
                const struct limit_set *lsp = owner_limits(d, &cache, row->uid, row->interface);
                if (!lsp)
                        continue; /* an owner without an account: left alone */
                const struct limit_set ls = *lsp;
                /* Running in a list made after the stop this monitor asked for: started again
                 * (perhaps before a tick saw it stopped), and the rules apply again. */
                bool restarted = a->stopping && a->stopped_ms > 0 && a->stopped_ms < listed_ms &&
                                 streq(state, "running");
                if (restarted || !a->state || !streq(a->state, state)) {
                        /* A run ended: the next has a new cgroup, counting from 0 (a paused
                         * container keeps its own). */
                        if (!streq_ptr(a->state, "paused") && !streq(state, "paused"))
                                carry_cpu(m, a);
                        free(a->state);
                        a->state = xstrdup(state);
                        refresh(m, a, &ls);
                        if (restarted || !streq(state, "running"))
                                a->stopping = false;
                }
                const struct store_container *sc = NULL;
                for (size_t k = 0; k < n_rows; k++)
                        if (streq(rows[k].name, nm))
                                sc = &rows[k];
                if (first_sight)
                        restore_clocks(m, d, a, sc);
                if (streq(state, "running")) {
                        sample(m, a, sc);
                        usage_observe(d->usage, nm, a->gpu_pct, a->cpu_pct, a->net_delta,
                                      a->session, &ls.policies);
                        if (!a->stopping)
                                monitor_rule_runtime(m, d, a, row, sc, &ls, tms);
                        if (!a->stopping)
                                monitor_rule_idle(m, d, a, row, sc, &ls, tms);
                } else
                        monitor_rule_cleanup(d, a, &ls, now);
        }
        owner_cache_release(&cache);
        note_high_demand(m, d);
        for (size_t k = 0; k < m->n_acts;) {
                if (!m->acts[k].seen) {
                        carry_cpu(m, &m->acts[k]);
                        activity_release(&m->acts[k]);
                        m->acts[k] = m->acts[--m->n_acts];
                        continue;
                }
                k++;
        }
        monitor_publish_views(m);
        atomic_store(&m->next_due_ms, m->due_ms);
        pthread_mutex_unlock(&m->act_lock);
        scan_outside(m, d, snap);
        usage_account(d->usage, d->store, d->cfg->sample_interval_s);
        store_containers_free(rows, n_rows);
        snapshot_put(d->snap, snap);
}

size_t monitor_user_usage(struct monitor *m, struct monitor_user_usage **ret)
{
        *ret = NULL;
        if (!m)
                return 0;
        pthread_mutex_lock(&m->view_lock);
        size_t n = m->n_usage;
        struct monitor_user_usage *v = xcalloc(n + 1, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
                v[i] = m->usage[i];
                v[i].user = xstrdup(m->usage[i].user);
        }
        pthread_mutex_unlock(&m->view_lock);
        *ret = v;
        return n;
}

int64_t monitor_last_tick_ms(struct monitor *m, int64_t *ret_duration_ms)
{
        if (!m)
                return 0;
        if (ret_duration_ms)
                *ret_duration_ms = atomic_load(&m->last_tick_duration_ms);
        return atomic_load(&m->last_tick_ms);
}

void monitor_tick(struct monitor *m)
{
        struct ds01d *d = m->d;
        int64_t t0 = mono_ms();
        int64_t started_ns = counters_now_ns();
        if (d->nvml) {
                struct error *err = NULL;
                if (gpuadmin_rescan(d, NULL, &err) < 0) {
                        log_warning("GPU rescan failed: %s", err->message);
                        error_free(err);
                }
        }
        /* this tick's generation: a reload or rescan meanwhile applies from the next tick */
        struct ds01d v;
        ds01d_pin(d, &v);
        leases_sweep_holds(&v);
        network_sweep(v.net, v.cfg, false);
        enforce(m, &v); /* its snapshot_get also keeps the one /metrics reads at most a tick old */
        ds01d_unpin(&v);
        counters_sweep(counters_now_ns() - started_ns);
        /* hand back what request bursts freed since the last tick */
        malloc_trim(0);
        atomic_store(&m->last_tick_duration_ms, mono_ms() - t0);
        atomic_store(&m->last_tick_ms, now_ms());
        atomic_fetch_add(&m->ticks, 1);
}

uint64_t monitor_ticks(struct monitor *m)
{
        return m ? atomic_load(&m->ticks) : 0;
}

/* A wake (a container started) brings the next tick forward, but not closer than this to the
 * previous one: a burst of deploys does not keep the monitor sweeping. */
#define WAKE_GAP_MS 1000

static void *monitor_thread(void *arg)
{
        struct monitor *m = arg;
        for (;;) {
                /* The first tick comes at once: what fell due while the daemon was away is due
                 * now. */
                int64_t t0 = mono_ms();
                monitor_tick(m);
                struct ds01d v;
                ds01d_pin(m->d, &v);
                int64_t interval = v.cfg->sample_interval_s;
                ds01d_unpin(&v);
                /* the next sample, or sooner a warning or stop that is due (monotonic ms) */
                int64_t now = mono_ms(), wait_ms = (interval > 0 ? interval : 60) * 1000;
                int64_t due = atomic_load(&m->next_due_ms), wall = now_ms();
                if (due > 0 && due - wall < wait_ms)
                        wait_ms = due > wall ? due - wall : 0;
                int64_t until = now + wait_ms;
                bool stop = false;
                pthread_mutex_lock(&m->lock);
                for (;;) {
                        now = mono_ms();
                        stop = m->stop;
                        if (stop || now >= until || (m->wake && now >= t0 + WAKE_GAP_MS))
                                break;
                        int64_t next =
                            m->wake && t0 + WAKE_GAP_MS < until ? t0 + WAKE_GAP_MS : until;
                        struct timespec ts = {.tv_sec = (time_t)(next / 1000),
                                              .tv_nsec = (long)(next % 1000) * 1000000};
                        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
                }
                m->wake = false;
                pthread_mutex_unlock(&m->lock);
                if (stop)
                        break;
        }
        return NULL;
}

void monitor_wake(struct monitor *m)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        m->wake = true;
        pthread_cond_signal(&m->cond);
        pthread_mutex_unlock(&m->lock);
}

struct monitor *monitor_start(struct ds01d *d, struct error **err)
{
        struct monitor *m = xzalloc(sizeof(*m));
        m->d = d;
        d->monitor = m; /* before the thread runs: it pins views of d */
        m->started_ms = now_ms();
        pthread_mutex_init(&m->lock, NULL);
        pthread_mutex_init(&m->act_lock, NULL);
        pthread_mutex_init(&m->view_lock, NULL);
        pthread_mutex_init(&m->stops_lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&m->cond, &ca);
        pthread_condattr_destroy(&ca);
        int r = pthread_create(&m->thread, NULL, monitor_thread, m);
        if (r != 0) {
                error_set_errno(err, r, "starting the monitor thread");
                pthread_mutex_destroy(&m->lock);
                pthread_mutex_destroy(&m->act_lock);
                pthread_mutex_destroy(&m->view_lock);
                pthread_mutex_destroy(&m->stops_lock);
                pthread_cond_destroy(&m->cond);
                free(m);
                d->monitor = NULL;
                return NULL;
        }
        return m;
}

/* When the daemon stops: the clocks of the running containers go to the ledger, for the next
 * daemon (restore_clocks). Not every tick: that cost a quarter of a sweep's CPU. */
static void save_clocks(struct monitor *m)
{
        int64_t at = now_ms();
        pthread_mutex_lock(&m->act_lock);
        struct store_clocks *v = xcalloc(m->n_acts + 1, sizeof(*v));
        size_t n = 0;
        for (size_t k = 0; k < m->n_acts; k++) {
                const struct activity *a = &m->acts[k];
                if (a->state && streq(a->state, "running"))
                        v[n++] = (struct store_clocks){
                            .container = a->name,
                            .last_active_ms = a->last_active_ms,
                            .at_ms = at,
                            .idle_warned = a->idle_warned,
                            .runtime_warned = a->runtime_warned,
                        };
        }
        struct error *err = NULL;
        if (store_save_clocks(m->d->store, v, n, &err) < 0) {
                log_warning("monitor: recording the clocks: %s", err->message);
                error_free(err);
        }
        pthread_mutex_unlock(&m->act_lock);
        free(v);
}

void monitor_halt(struct monitor *m)
{
        if (!m || m->halted)
                return;
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
        m->halted = true;
}

struct monitor *monitor_stop(struct monitor *m)
{
        if (!m)
                return NULL;
        monitor_halt(m);
        /* Stops in flight finish (bounded by their grace periods) before the state goes. */
        for (int i = 0; i < 1200; i++) {
                pthread_mutex_lock(&m->stops_lock);
                unsigned left = m->stops_running;
                pthread_mutex_unlock(&m->stops_lock);
                if (!left)
                        break;
                struct timespec ts = {0, 50 * 1000 * 1000};
                nanosleep(&ts, NULL);
        }
        save_clocks(m);
        for (size_t i = 0; i < m->n_acts; i++)
                activity_release(&m->acts[i]);
        free(m->acts);
        pthread_mutex_destroy(&m->lock);
        pthread_mutex_destroy(&m->act_lock);
        pthread_mutex_destroy(&m->view_lock);
        monitor_views_free(m->views, m->n_views);
        monitor_user_usage_free(m->usage, m->n_usage);
        monitor_user_usage_free(m->carried, m->n_carried);
        pthread_mutex_destroy(&m->stops_lock);
        pthread_cond_destroy(&m->cond);
        free(m);
        return NULL;
}
