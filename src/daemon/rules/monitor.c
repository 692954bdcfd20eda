/* monitor.c - the timer: each tick samples the managed containers and applies the lifecycle
 * rules to them (see monitor.h). */
#include "daemon/rules/monitor.h"

#include "daemon/config/generation.h"
#include "daemon/gpus/leases.h"
#include "daemon/gpus/gpuadmin.h"
#include "daemon/rules/rules.h"
#include "daemon/rules/enforce.h"
#include "daemon/containers/execs.h"

#include "shared/log.h"
#include "shared/strbuf.h"
#include "daemon/observe/counters.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/containers/network.h"
#include "daemon/gpus/nvml.h"
#include "daemon/rules/sampler.h"
#include "daemon/observe/snapshot.h"
#include "daemon/observe/usage.h"
#include "daemon/containers/userpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#define WINDOW 64 /* samples kept per container for the evidence */

struct activity {
        char *id;
        char *name;
        char *user;  /* ds01.user */
        char *state; /* Docker's state at the last tick */
        bool seen;

        /* running */
        pid_t pid;
        struct sampler_cgroup cg;
        bool have_cg;
        bool have_sample;
        bool measured; /* this tick's sample has rates (there was one before it) */
        uint64_t last_cpu_ns, last_net;
        uint64_t cpu_ns; /* CPU time of this run of the container, as last read */
        int64_t last_mono_ms;
        int64_t started_at;     /* unix */
        int64_t last_active_ms; /* unix ms: last activity, or the end of the start-up grace */
        int64_t grace_end_ms;   /* unix ms: the idle clock starts no earlier (grace_period_m) */
        int idle_warned, runtime_warned;
        bool stopping;
        int64_t stopped_ms; /* unix ms: when the last stop this monitor asked for was done */
        char *workspace;
        double cpu_pct, gpu_pct; /* gpu_pct < 0: unknown */
        int64_t net_delta;
        bool session;
        /* for container-stats and /metrics (-1: unknown) */
        int64_t sampled_ms; /* unix ms of the last sample */
        int64_t mem_used, mem_limit, pids;
        double rx_bps, tx_bps;
        uint64_t last_rx, last_tx;
        struct gpu_sample {
                char *uuid;
                double util_pct; /* -1: unknown (MIG, simulated) */
                int64_t mem_used, mem_total;
        } * gpus;
        size_t n_gpus;
        struct {
                double cpu, gpu;
                int64_t net;
        } win[WINDOW];
        size_t win_n, win_pos;

        /* what the rules said at the last tick, for container-list (-1: no such rule) */
        int64_t idle_timeout_s, runtime_limit_s, runtime_s, keepalive_until;
        const char *keepalive_source;

        /* stopped */
        int64_t finished_at;
        int64_t created_ms; /* Docker's Created, unix ms */
};

/* One running container as the last tick saw it; signals and stats are immutable once
 * published, and readers take copies of them. */
struct view {
        char *id;
        int64_t last_active_ms, idle_timeout_s, runtime_limit_s, runtime_s, keepalive_until;
        const char *keepalive_source; /* a literal */
        json_t *signals, *stats;
        char *signals_text; /* signals serialised (container-list appends it as it is) */
};

struct monitor {
        struct ds01d *d;
        pthread_t thread;
        pthread_mutex_t lock; /* stop, cond */
        pthread_cond_t cond;
        bool stop, wake;
        pthread_mutex_t act_lock; /* acts (the monitor thread and its stop threads) */
        /* What readers see (container-list, container-stats, status, /metrics): published at
         * the end of each tick, so a request never waits for a sweep. */
        pthread_mutex_t view_lock;
        struct view *views;
        size_t n_views;
        struct monitor_user_usage *usage; /* by user, at the last tick (view_lock) */
        size_t n_usage;
        /* CPU time of containers' earlier runs (and of containers gone), by user (act_lock) */
        struct monitor_user_usage *carried;
        size_t n_carried;
        struct activity *acts;
        size_t n_acts;
        pthread_mutex_t stops_lock;
        unsigned stops_running;
        int64_t started_ms; /* when this monitor (daemon) started, unix ms */
        _Atomic int64_t last_tick_ms, last_tick_duration_ms;
        _Atomic uint64_t ticks; /* ticks finished (monitor_ticks) */
        /* The earliest warning or stop a rule has scheduled (unix ms, 0: none): the thread wakes
         * for it instead of waiting for the next sample interval. Written by enforce. */
        int64_t due_ms;
        _Atomic int64_t next_due_ms;
};

/* How soon a warning or stop that waits for a measurement gets its sample (ms). */
#define MEASURE_MS 5000

/* A rule's next warning or stop falls at t (unix ms): the tick comes then. */
static void due_at(struct monitor *m, int64_t t, int64_t now)
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

static struct monitor_user_usage *usage_get(struct monitor_user_usage **v, size_t *n,
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
                usage_get(&m->carried, &m->n_carried, a->user)->cpu_s += (double)a->cpu_ns / 1e9;
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

static struct activity *activity_find(struct monitor *m, const char *id)
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

static char *clock_text(int64_t t, char buf[static 64])
{
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(buf, 64, "%H:%M:%S UTC", &tm);
        return buf;
}

/* ---- one container's signals ------------------------------------------------------------ */

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

/* ---- rules ---------------------------------------------------------------------------------- */

struct stop_job {
        struct monitor *m;
        char *id;
        char *event;
        char *text;
        json_t *evidence;
};

static void *stop_thread(void *arg)
{
        struct stop_job *j = arg;
        struct ds01d v;
        ds01d_pin(j->m->d, &v);
        int r = enforce_stop(&v, j->id, j->event, j->text, j->evidence);
        ds01d_unpin(&v);
        /* Not stopped (Docker failed, or a request held the container): the next tick tries
         * again. Stopped: a tick whose list shows it running again knows it was restarted. */
        pthread_mutex_lock(&j->m->act_lock);
        struct activity *a = activity_find(j->m, j->id);
        if (a && r < 0)
                a->stopping = false;
        else if (a)
                a->stopped_ms = now_ms();
        pthread_mutex_unlock(&j->m->act_lock);
        pthread_mutex_lock(&j->m->stops_lock);
        j->m->stops_running--;
        pthread_mutex_unlock(&j->m->stops_lock);
        free(j->id);
        free(j->event);
        free(j->text);
        free(j);
        return NULL;
}

/* Stops in a thread of its own: a container that ignores SIGTERM takes its grace period, and the
 * other containers' clocks must not wait for it. */
static void start_stop(struct monitor *m, struct activity *a, const char *event, char *text,
                       json_t *evidence)
{
        struct stop_job *j = xzalloc(sizeof(*j));
        *j = (struct stop_job){m, xstrdup(a->id), xstrdup(event), text, evidence};
        a->stopping = true;
        a->stopped_ms = 0;
        pthread_mutex_lock(&m->stops_lock);
        m->stops_running++;
        pthread_mutex_unlock(&m->stops_lock);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        if (pthread_create(&t, &attr, stop_thread, j) != 0) {
                log_error("%s: cannot start the stop thread; stopping inline", a->name);
                stop_thread(j);
        }
        pthread_attr_destroy(&attr);
}

static json_t *evidence(const struct activity *a)
{
        double cpu = 0, gpu = 0;
        int64_t net = 0;
        size_t gpu_n = 0;
        for (size_t i = 0; i < a->win_n; i++) {
                cpu += a->win[i].cpu;
                net += a->win[i].net;
                if (a->win[i].gpu >= 0) {
                        gpu += a->win[i].gpu;
                        gpu_n++;
                }
        }
        char ts[32];
        json_t *e = json_pack("{s:s, s:I, s:f, s:I, s:I}", "last_activity",
                              format_iso8601(a->last_active_ms / 1000, ts), "idle_s",
                              (json_int_t)((now_ms() - a->last_active_ms) / 1000), "cpu_avg_pct",
                              a->win_n ? cpu / (double)a->win_n : 0.0, "net_avg_bytes",
                              (json_int_t)(a->win_n ? net / (int64_t)a->win_n : 0), "samples",
                              (json_int_t)a->win_n);
        json_object_set_new(e, "gpu_avg_pct",
                            gpu_n ? json_real(gpu / (double)gpu_n) : json_string("unknown"));
        return e;
}

/* A fresh .keep-alive in the workspace of uid: until when it holds (0: none). It counts from
 * min(mtime, ctime, now): a file touched into the future (touch -d 2099-01-01 sets the mtime;
 * the ctime, which no user can set, is the moment of the touch) holds no longer than one touched
 * now, and keeps no container for 72 years. The
 * file is opened as userpath.h allows (no links, no mounts, a regular file of the user's); it
 * is only fstat'ed, never read. */
static int64_t keepalive_file(const char *workspace, int64_t uid, double max_h, int64_t now)
{
        if (!workspace || !*workspace || uid < 0 || max_h <= 0)
                return 0;
        struct error *err = NULL;
        _cleanup_close_ int dfd = userpath_open_dir(workspace, (uid_t)uid, &err);
        _cleanup_close_ int fd =
            dfd < 0 ? -1 : userpath_open_file(dfd, ".keep-alive", O_RDONLY, (uid_t)uid, 0, &err);
        error_free(err);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return 0;
        int64_t touched = now;
        if ((int64_t)st.st_mtime < touched)
                touched = (int64_t)st.st_mtime;
        if ((int64_t)st.st_ctime < touched)
                touched = (int64_t)st.st_ctime;
        int64_t until = touched + (int64_t)(max_h * 3600);
        return until > now ? until : 0;
}

/* A keep-alive that holds now: container-keepalive, else a fresh .keep-alive file. */
static int64_t keepalive(const struct activity *a, const struct snap_container *row,
                         const struct store_container *sc, const struct limit_set *ls, int64_t now,
                         const char **ret_source)
{
        *ret_source = NULL;
        if (sc && sc->keepalive_until > now) {
                *ret_source = "command";
                return sc->keepalive_until;
        }
        int64_t until =
            keepalive_file(a->workspace, row->uid, ls->policies.keepalive_max_duration_h, now);
        if (until > 0)
                *ret_source = "file";
        return until;
}

static void tell(struct monitor *m, const struct snap_container *row, const struct activity *a,
                 const char *event, const char *text)
{
        struct caller owner;
        if (row->uid < 0 || caller_for((uid_t)row->uid, &owner) < 0)
                return;
        const char *project = row->project[0] ? row->project : NULL;
        enforce_notify(m->d, &owner, a->name, project ? project : a->name, a->workspace, event,
                       text, NULL);
        counters_action(streq(event, "idle_warning") ? COUNTERS_IDLE_WARNING
                                                     : COUNTERS_RUNTIME_WARNING);
        events_log(m->d->events,
                   streq(event, "idle_warning") ? "maintenance.idle_warning"
                                                : "maintenance.runtime_warning",
                   owner.login, json_pack("{s:s, s:s}", "container", a->name, "message", text));
        caller_release(&owner);
}

/* What an enforced stop will do to the container, for the warnings before it. */
static char *stop_will_text(const struct snap_container *row, const struct limit_set *ls)
{
        return xasprintf("its processes get SIGTERM and %lld s to save their work, then are "
                         "killed%s",
                         (long long)ls->policies.sigterm_grace_s,
                         row->n_leases ? ", and its GPUs are released" : "");
}

/* What an enforced stop did, and what happens next, for the notice after it. */
static char *stop_done_text(const struct snap_container *row, const struct limit_set *ls)
{
        char b[32];
        _cleanup_free_ char *removal =
            ls->container_hold_after_stop_h < 0
                ? xstrdup("")
                : xasprintf("; the stopped container itself is removed after %s "
                            "(container_hold_after_stop_h)",
                            format_duration(llround(ls->container_hold_after_stop_h * 3600), b));
        return xasprintf("its processes got SIGTERM and up to %lld s to save their work%s. Your "
                         "files in /workspace are kept%s",
                         (long long)ls->policies.sigterm_grace_s,
                         row->n_leases ? ", and its GPUs were released" : "", removal);
}

static void rule_runtime(struct monitor *m, struct ds01d *d, struct activity *a,
                         const struct snap_container *row, const struct store_container *sc,
                         const struct limit_set *ls, int64_t tms)
{
        int64_t now = tms / 1000;
        a->runtime_limit_s = -1;
        int64_t start = rules_runtime_start_ms(a->created_ms, sc ? sc->created_at : 0,
                                               sc ? sc->runtime_from_ms : 0);
        int64_t run_ms = start > 0 && tms > start ? tms - start : 0;
        a->runtime_s = run_ms / 1000;
        const char *user = row->user;
        if (start <= 0 || ls->max_runtime_h < 0 ||
            limits_exemption(d->limits, user, LIMITS_RUNTIME, now))
                return;
        int64_t cap = (int64_t)llround(ls->max_runtime_h * 3600);
        a->runtime_limit_s = cap;
        struct rules_clock clock = {
            start, cap, ls->policies.runtime_warn_1, ls->policies.runtime_warn_2, a->runtime_warned,
            true};
        int64_t due;
        enum rules_verdict v = rules_runtime(&clock, tms, &due);
        const char *project = row->project;
        char b1[32], b2[32], b3[32], c[64];
        if (v == RULES_STOP) {
                json_t *e =
                    json_pack("{s:I, s:I, s:f}", "runtime_s", (json_int_t)a->runtime_s, "limit_s",
                              (json_int_t)cap, "max_runtime_h", ls->max_runtime_h);
                _cleanup_free_ char *done = stop_done_text(row, ls);
                char *text = xasprintf("'%s' reached its maximum runtime of %s (max_runtime_h) "
                                       "and was stopped: %s. Retire it with container-retire %s",
                                       project, format_duration(cap, b1), done, project);
                start_stop(m, a, "maintenance.runtime_kill", text, e);
                return;
        }
        if (v == RULES_WARN) {
                a->runtime_warned++;
                int64_t at = (start + cap * 1000 + 999) / 1000;
                _cleanup_free_ char *will = stop_will_text(row, ls);
                _cleanup_free_ char *text = xasprintf(
                    "'%s' has run for %s of its %s limit (max_runtime_h): it will be stopped at %s "
                    "(in %s): %s. Save your work; keep-alive does not extend this. When done: "
                    "container-retire %s",
                    project, format_duration(a->runtime_s, b1), format_duration(cap, b2),
                    clock_text(at, c), format_duration(at > now ? at - now : 0, b3), will, project);
                tell(m, row, a, "runtime_warning", text);
                clock.warned = a->runtime_warned;
                rules_runtime(&clock, tms, &due);
        }
        due_at(m, due, tms);
}

static void rule_idle(struct monitor *m, struct ds01d *d, struct activity *a,
                      const struct snap_container *row, const struct store_container *sc,
                      const struct limit_set *ls, int64_t tms)
{
        int64_t now = tms / 1000;
        const struct limit_policies *p = &ls->policies;
        struct rules_sample sample = {a->cpu_pct, a->net_delta, a->gpu_pct, a->session};
        if (rules_active(p, &sample)) {
                /* Activity during the grace does not end it: the clock starts after it. */
                if (tms > a->last_active_ms)
                        a->last_active_ms = tms > a->grace_end_ms ? tms : a->grace_end_ms;
                a->idle_warned = 0;
        }
        a->idle_timeout_s = -1;
        a->keepalive_until = keepalive(a, row, sc, ls, now, &a->keepalive_source);
        const char *user = row->user;
        if (ls->idle_timeout_h < 0 || limits_exemption(d->limits, user, LIMITS_IDLE, now))
                return;
        int64_t timeout = (int64_t)llround(ls->idle_timeout_h * 3600);
        a->idle_timeout_s = timeout;
        if (a->keepalive_until > now) {
                a->idle_warned = 0;
                due_at(m, a->keepalive_until * 1000, tms);
                return;
        }
        struct rules_clock clock = {a->last_active_ms, timeout,        p->idle_warn_1,
                                    p->idle_warn_2,    a->idle_warned, a->measured};
        int64_t due;
        enum rules_verdict v = rules_idle(&clock, tms, &due);
        int64_t idle_ms = tms > a->last_active_ms ? tms - a->last_active_ms : 0;
        int64_t idle = idle_ms / 1000;
        const char *project = row->project;
        char b1[32], b2[32], c[64];
        if (v == RULES_MEASURE) {
                /* No rates in this sample (the first after a start, or after a daemon restart
                 * that kept the clock): no warning or stop without evidence; a sample soon. */
                due_at(m, tms + MEASURE_MS, tms);
                return;
        }
        if (v == RULES_STOP) {
                json_t *e = evidence(a);
                json_object_set_new(e, "idle_timeout_s", json_integer(timeout));
                _cleanup_free_ char *done = stop_done_text(row, ls);
                char *text = xasprintf(
                    "'%s' was stopped after %s without activity (the idle timeout is %s): %s. "
                    "Start it again with container-start %s, or retire it: container-retire %s",
                    project, format_duration(idle, b1), format_duration(timeout, b2), done, project,
                    project);
                start_stop(m, a, "maintenance.idle_kill", text, e);
                return;
        }
        if (v == RULES_WARN) {
                a->idle_warned++;
                int64_t at = now + (timeout > idle ? timeout - idle : 0);
                char gpu_text[32] = "";
                if (row->n_leases)
                        snprintf(gpu_text, sizeof(gpu_text), ", GPU %.0f%%", a->gpu_pct);
                if (row->n_leases && a->gpu_pct < 0)
                        snprintf(gpu_text, sizeof(gpu_text), ", GPU n/a");
                _cleanup_free_ char *will = stop_will_text(row, ls);
                _cleanup_free_ char *text = xasprintf(
                    "'%s' has been idle for %s (CPU %.1f%%%s, no network or open session): it "
                    "will be stopped at %s (in %s): %s. To keep it: container-keepalive %s 2h "
                    "(or touch ~/workspace/%s/.keep-alive: that holds for "
                    "keepalive_max_duration_h from the touch). When done: container-retire %s",
                    project, format_duration(idle, b1), a->cpu_pct, gpu_text, clock_text(at, c),
                    format_duration(at - now, b2), will, project, project, project);
                tell(m, row, a, "idle_warning", text);
                clock.warned = a->idle_warned;
                rules_idle(&clock, tms, &due);
        }
        due_at(m, due, tms);
}

static void rule_cleanup(struct ds01d *d, struct activity *a, const struct limit_set *ls,
                         int64_t now)
{
        char b[32];
        if (streq(a->state, "exited") || streq(a->state, "dead")) {
                double h = ls->container_hold_after_stop_h;
                if (h < 0 || a->finished_at <= 0 || (double)(now - a->finished_at) < h * 3600)
                        return;
                _cleanup_free_ char *why =
                    xasprintf("removed %s after it stopped (container_hold_after_stop_h)",
                              format_duration((int64_t)(h * 3600), b));
                enforce_cleanup_remove(d, a->id, why);
        } else if (streq(a->state, "created")) {
                double mins = ls->policies.created_container_timeout_m;
                if (mins < 0 || a->created_ms <= 0 ||
                    (double)(now - a->created_ms / 1000) < mins * 60)
                        return;
                enforce_cleanup_remove(d, a->id,
                                       "created but never started "
                                       "(created_container_timeout_m)");
        }
}

/* ---- the tick ---------------------------------------------------------------------------- */

/* Effective limits by owner uid, resolved once per tick (passwd and group lookups are the
 * expensive part of a sweep). */
struct owner_cache {
        struct {
                int64_t uid;
                bool ok;
                struct limit_set ls;
        } * v;
        size_t n;
};

static const struct limit_set *owner_limits(struct ds01d *d, struct owner_cache *oc, int64_t uid)
{
        if (uid < 0)
                return NULL;
        for (size_t i = 0; i < oc->n; i++)
                if (oc->v[i].uid == uid)
                        return oc->v[i].ok ? &oc->v[i].ls : NULL;
        oc->v = xrealloc(oc->v, (oc->n + 1) * sizeof(*oc->v));
        __typeof__(oc->v[0]) *e = &oc->v[oc->n++];
        memset(e, 0, sizeof(*e));
        e->uid = uid;
        struct caller owner;
        if (caller_for((uid_t)uid, &owner) == 0) {
                limits_resolve(d->limits, owner.login, owner.gids, owner.n_gids, &e->ls);
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

static void publish_views(struct monitor *m);

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
        for (size_t i = 0; i < m->n_acts; i++)
                m->acts[i].seen = false;
        for (size_t i = 0; i < snap->n; i++) {
                const struct snap_container *row = &snap->containers[i];
                const char *id = row->id, *state = row->state, *nm = row->name;
                struct activity *a = activity_find(m, id);
                bool first_sight = !a;
                if (!a) {
                        m->acts = xrealloc(m->acts, (m->n_acts + 1) * sizeof(*m->acts));
                        a = &m->acts[m->n_acts++];
                        memset(a, 0, sizeof(*a));
                        a->id = xstrdup(id);
                        a->name = xstrdup(nm);
                        a->user = row->user[0] ? xstrdup(row->user) : NULL;
                        a->idle_timeout_s = a->runtime_limit_s = -1;
                }
                a->seen = true;
                const struct limit_set *lsp = owner_limits(d, &cache, row->uid);
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
                                rule_runtime(m, d, a, row, sc, &ls, tms);
                        if (!a->stopping)
                                rule_idle(m, d, a, row, sc, &ls, tms);
                } else
                        rule_cleanup(d, a, &ls, now);
        }
        owner_cache_release(&cache);
        for (size_t k = 0; k < m->n_acts;) {
                if (!m->acts[k].seen) {
                        carry_cpu(m, &m->acts[k]);
                        activity_release(&m->acts[k]);
                        m->acts[k] = m->acts[--m->n_acts];
                        continue;
                }
                k++;
        }
        publish_views(m);
        atomic_store(&m->next_due_ms, m->due_ms);
        pthread_mutex_unlock(&m->act_lock);
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

static json_t *maybe_int(int64_t v)
{
        return v >= 0 ? json_integer(v) : json_null();
}

static json_t *maybe_real(double v)
{
        return v >= 0 ? json_real(v) : json_null();
}

static void views_free(struct view *v, size_t n)
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
static void publish_views(struct monitor *m)
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
                usage_get(&u, &n_u, m->carried[i].user)->cpu_s = m->carried[i].cpu_s;
        for (size_t i = 0; i < m->n_acts; i++) {
                const struct activity *a = &m->acts[i];
                if (!a->user)
                        continue;
                struct monitor_user_usage *e = usage_get(&u, &n_u, a->user);
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
        views_free(old, n_old);
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

struct monitor *monitor_stop(struct monitor *m)
{
        if (!m)
                return NULL;
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
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
        views_free(m->views, m->n_views);
        monitor_user_usage_free(m->usage, m->n_usage);
        monitor_user_usage_free(m->carried, m->n_carried);
        pthread_mutex_destroy(&m->stops_lock);
        pthread_cond_destroy(&m->cond);
        free(m);
        return NULL;
}
