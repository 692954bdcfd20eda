/* monitor-rules.c - the lifecycle rules applied to one container at a tick: the idle and
 * runtime warnings and stops (decided by rules.h, carried out by enforce.h in a thread of their
 * own), and the clean-up of stopped containers. */
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
        struct activity *a = monitor_activity_find(j->m, j->id);
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

void monitor_rule_runtime(struct monitor *m, struct ds01d *d, struct activity *a,
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
                    monitor_clock_text(at, c), format_duration(at > now ? at - now : 0, b3), will,
                    project);
                tell(m, row, a, "runtime_warning", text);
                clock.warned = a->runtime_warned;
                rules_runtime(&clock, tms, &due);
        }
        monitor_due_at(m, due, tms);
}

/* Why an idle timeout is shorter than the owner's: "" when it is not. */
static char *demand_text(const struct monitor *m, int64_t full, int64_t timeout)
{
        if (timeout >= full)
                return xstrdup("");
        char b[32];
        const struct rules_demand *dm = &m->demand;
        return xasprintf(", shortened from %s while the GPUs are in high demand: %zu of %zu "
                         "slots leased%s",
                         format_duration(full, b), dm->leased, dm->slots,
                         dm->waiting ? ", requests waiting" : "");
}

/* The least time between two samples idle_detection_window counts: most of the sample interval
 * (a periodic pass comes a little early or late). */
static int64_t streak_gap_ms(const struct ds01d *d)
{
        return d->cfg->sample_interval_s * 1000 * 3 / 4; /* the config keeps it >= 1 */
}

void monitor_rule_idle(struct monitor *m, struct ds01d *d, struct activity *a,
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
                a->idle_streak = 0;
                a->streak_ms = 0; /* the next idle sample starts a new streak at once */
        } else if (a->measured && tms - a->streak_ms >= streak_gap_ms(d)) {
                /* one observation per sample interval: the passes the monitor makes in between
                 * (another container's deadline, a docker event) would fill the window early */
                a->idle_streak++;
                a->streak_ms = tms;
        }
        a->idle_timeout_s = -1;
        a->keepalive_until = keepalive(a, row, sc, ls, now, &a->keepalive_source);
        const char *user = row->user;
        if (ls->idle_timeout_h < 0 || limits_exemption(d->limits, user, LIMITS_IDLE, now))
                return;
        int64_t full;
        int64_t timeout = rules_idle_timeout_s(ls, &m->demand, &full);
        a->idle_timeout_s = timeout;
        if (timeout < full)
                m->high_demand_seen = true;
        if (a->keepalive_until > now) {
                a->idle_warned = 0;
                monitor_due_at(m, a->keepalive_until * 1000, tms);
                return;
        }
        struct rules_clock clock = {
            a->last_active_ms, timeout,     p->idle_warn_1, p->idle_warn_2,
            a->idle_warned,    a->measured, a->idle_streak, p->idle_detection_window};
        int64_t due;
        enum rules_verdict v = rules_idle(&clock, tms, &due);
        int64_t idle_ms = tms > a->last_active_ms ? tms - a->last_active_ms : 0;
        int64_t idle = idle_ms / 1000;
        const char *project = row->project;
        char b1[32], b2[32], c[64];
        if (v == RULES_MEASURE) {
                /* No rates in this sample (the first after a start, or after a daemon restart
                 * that kept the clock), or fewer idle samples in a row than
                 * idle_detection_window: no warning or stop without evidence; a sample soon. */
                monitor_due_at(m, tms + MEASURE_MS, tms);
                return;
        }
        if (v == RULES_STOP) {
                json_t *e = evidence(a);
                json_object_set_new(e, "idle_timeout_s", json_integer(timeout));
                json_object_set_new(e, "idle_samples", json_integer(a->idle_streak));
                _cleanup_free_ char *done = stop_done_text(row, ls);
                _cleanup_free_ char *why = demand_text(m, full, timeout);
                /* a Slurm job's container is not started again: its job ends with it */
                _cleanup_free_ char *next =
                    sc && sc->slurm_job > 0
                        ? xasprintf("Its Slurm job %lld ends with it; a new job deploys it again",
                                    (long long)sc->slurm_job)
                        : xasprintf("Start it again with container-start %s, or retire it: "
                                    "container-retire %s",
                                    project, project);
                char *text = xasprintf(
                    "'%s' was stopped after %s without activity (the idle timeout is %s%s): %s. %s",
                    project, format_duration(idle, b1), format_duration(timeout, b2), why, done,
                    next);
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
                _cleanup_free_ char *why = demand_text(m, full, timeout);
                _cleanup_free_ char *text = xasprintf(
                    "'%s' has been idle for %s (CPU %.1f%%%s, no network or open session): it "
                    "will be stopped at %s (in %s%s): %s. To keep it: container-keepalive %s 2h "
                    "(or touch %s/.keep-alive: that holds for "
                    "keepalive_max_duration_h from the touch). When done: container-retire %s",
                    project, format_duration(idle, b1), a->cpu_pct, gpu_text,
                    monitor_clock_text(at, c), format_duration(at - now, b2), why, will, project,
                    a->workspace && *a->workspace ? a->workspace : "its workspace", project);
                tell(m, row, a, "idle_warning", text);
                clock.warned = a->idle_warned;
                rules_idle(&clock, tms, &due);
        }
        monitor_due_at(m, due, tms);
}

void monitor_rule_cleanup(struct ds01d *d, struct activity *a, const struct limit_set *ls,
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
