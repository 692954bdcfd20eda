/* metrics.c - the /metrics exposition (see metrics.h): Prometheus text from the snapshot, the
 * inventory, the monitor, the counters. The server is metrics-server.c. */
#include "daemon/observe/metrics-internal.h"

#include "daemon/config/generation.h"
#include "daemon/containers/usercgroup.h"

#include "daemon/gpus/outside.h"
#include "daemon/gpus/reservations.h"
#include "daemon/observe/counters.h"
#include "daemon/rules/monitor.h"
#include "daemon/observe/snapshot.h"
#include "daemon/storage/storage.h"
#include "shared/timestamp.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <utmpx.h>

/* How long a user's group (passwd and group lookups) is reused between scrapes. */
#define GROUP_CACHE_S 60
/* Bounds on what one scrape costs: distinct users remembered. */
#define GROUP_CACHE_MAX   1024
#define INTERFACE_DEFAULT "orchestration" /* the ds01.interface label every ds01 container has */

/* ---- Prometheus text format ------------------------------------------------------------------ */

static void family(struct strbuf *sb, const char *name, const char *type, const char *help)
{
        strbuf_addf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format wants (backslash, quote, newline). */
static void label_value(struct strbuf *sb, const char *v)
{
        strbuf_addc(sb, '"');
        for (const char *p = v ? v : ""; *p; p++) {
                if (*p == '\\' || *p == '"')
                        strbuf_addc(sb, '\\'), strbuf_addc(sb, *p);
                else if (*p == '\n')
                        strbuf_adds(sb, "\\n");
                else
                        strbuf_addc(sb, *p);
        }
        strbuf_addc(sb, '"');
}

/* name{k1="v1",...} value: labels are NULL-terminated key, value pairs. */
static void sample_v(struct strbuf *sb, const char *name, double value, va_list ap)
{
        strbuf_adds(sb, name);
        const char *k = va_arg(ap, const char *);
        if (k) {
                strbuf_addc(sb, '{');
                for (bool first = true; k; k = va_arg(ap, const char *), first = false) {
                        if (!first)
                                strbuf_addc(sb, ',');
                        strbuf_adds(sb, k);
                        strbuf_addc(sb, '=');
                        label_value(sb, va_arg(ap, const char *));
                }
                strbuf_addc(sb, '}');
        }
        if (value == (double)(int64_t)value && value > -1e15 && value < 1e15)
                strbuf_addf(sb, " %lld\n", (long long)value);
        else
                strbuf_addf(sb, " %.9g\n", value);
}

static void sample(struct strbuf *sb, const char *name, double value, ...)
{
        va_list ap;
        va_start(ap, value);
        sample_v(sb, name, value, ap);
        va_end(ap);
}

/* Administrators' reservations: their slots, and the window of each. */
static void reservation_samples(struct strbuf *sb, struct ds01d *d)
{
        json_t *list = resv_json(d, NULL, true, now_s());
        family(sb, "ds01_reservation_slots", "gauge",
               "Slots of each reservation not yet ended, by state (upcoming, active, released: "
               "unused and everyone's again).");
        family(sb, "ds01_reservation_window_seconds", "gauge",
               "Start and end (unix time) of each reservation not yet ended.");
        size_t i;
        json_t *r;
        json_array_foreach (list, i, r) {
                const char *name = json_string_value(json_object_get(r, "name"));
                const char *state = json_string_value(json_object_get(r, "state"));
                size_t n = 0, released = 0, k;
                json_t *sl;
                json_array_foreach (json_object_get(r, "slots"), k, sl) {
                        n++;
                        released += json_is_true(json_object_get(sl, "released"));
                }
                sample(sb, "ds01_reservation_slots", (double)(n - released), "reservation", name,
                       "state", state, NULL);
                if (released)
                        sample(sb, "ds01_reservation_slots", (double)released, "reservation", name,
                               "state", "released", NULL);
                int64_t t;
                if (timestamp_parse(json_string_value(json_object_get(r, "start")), &t) == 0)
                        sample(sb, "ds01_reservation_window_seconds", (double)t, "reservation",
                               name, "edge", "start", NULL);
                if (timestamp_parse(json_string_value(json_object_get(r, "end")), &t) == 0)
                        sample(sb, "ds01_reservation_window_seconds", (double)t, "reservation",
                               name, "edge", "end", NULL);
        }
        json_decref(list);
}

/* One histogram's series; label_key/label_value (optional) name the series. */
static void histogram(struct strbuf *sb, const char *name, const struct counters_hist *h,
                      const char *key, const char *value)
{
        _cleanup_free_ char *bucket = xasprintf("%s_bucket", name);
        _cleanup_free_ char *sum = xasprintf("%s_sum", name);
        _cleanup_free_ char *count = xasprintf("%s_count", name);
        uint64_t cum = 0;
        char le[32];
        for (size_t i = 0; i <= h->n_bounds; i++) {
                cum += h->counts[i];
                if (i < h->n_bounds)
                        snprintf(le, sizeof(le), "%g", h->bounds[i]);
                else
                        snprintf(le, sizeof(le), "+Inf");
                if (key)
                        sample(sb, bucket, (double)cum, key, value, "le", le, NULL);
                else
                        sample(sb, bucket, (double)cum, "le", le, NULL);
        }
        sample(sb, sum, h->sum, key, value, NULL);
        sample(sb, count, (double)h->count, key, value, NULL);
}

/* ---- what the daemon holds ----------------------------------------------------------------- */

/* DS01's slot names: "<gpu index>" for a whole GPU, "<gpu index>.<n>" for its n-th MIG
 * instance (inventory order), so a MIG slot's name is stable while the layout is. */
struct slot_name {
        const struct gpu_slot *slot;
        char name[32];
        int mig_ordinal;  /* -1 for a whole GPU */
        bool mig_enabled; /* a whole GPU with MIG instances */
};

static struct slot_name *slot_names(const struct gpu_slot *slots, size_t n)
{
        struct slot_name *v = xcalloc(n ? n : 1, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
                v[i].slot = &slots[i];
                v[i].mig_ordinal = -1;
                if (!slots[i].parent_uuid) {
                        snprintf(v[i].name, sizeof(v[i].name), "%d", slots[i].gpu_index);
                        continue;
                }
                int k = 0;
                for (size_t j = 0; j < i; j++)
                        k += streq_ptr(slots[j].parent_uuid, slots[i].parent_uuid);
                v[i].mig_ordinal = k;
                snprintf(v[i].name, sizeof(v[i].name), "%d.%d", slots[i].gpu_index, k);
                for (size_t j = 0; j < n; j++)
                        if (streq(slots[j].uuid, slots[i].parent_uuid))
                                v[j].mig_enabled = true;
        }
        return v;
}

static const struct slot_name *slot_find(const struct slot_name *v, size_t n, const char *uuid)
{
        for (size_t i = 0; i < n; i++)
                if (streq(v[i].slot->uuid, uuid))
                        return &v[i];
        return NULL;
}

/* GPUs busy outside ds01 (outside.h), with DS01's names: how many slots, how many processes,
 * and (personal scrapes only: it names users) one series per slot, owner and place, valued with
 * its processes - bounded by the slots times the owners, never one series per pid. */
static void unmanaged_samples(struct strbuf *sb, struct ds01d *d, const struct slot_name *names,
                              size_t n_names, bool personal)
{
        struct outside_use *v;
        size_t n = outside_uses(d->outside, &v);
        size_t n_slots = 0;
        for (size_t i = 0; i < n; i++) {
                bool first = true;
                for (size_t k = 0; k < i && first; k++)
                        first = !streq(v[k].slot_uuid, v[i].slot_uuid);
                n_slots += first;
        }
        /* untyped: DS01's name ends in _count, which the format keeps for histograms */
        family(sb, "ds01_unmanaged_gpu_count", "untyped",
               "GPU slots in use by processes ds01 does not manage (host processes, other "
               "containers): leased to nobody while that lasts.");
        sample(sb, "ds01_unmanaged_gpu_count", (double)n_slots, NULL);
        family(sb, "ds01_unmanaged_gpu_running", "gauge",
               "Compute processes on the GPUs that ds01 does not manage.");
        sample(sb, "ds01_unmanaged_gpu_running", (double)n, NULL);
        family(sb, "ds01_unmanaged_gpu_use", "gauge",
               "Processes ds01 does not manage on a GPU slot, by owner and place (host, "
               "container, or a managed container on a slot it does not lease).");
        for (size_t i = 0; personal && i < n; i++) {
                bool first = true; /* one series per (slot, user, where, container) */
                for (size_t k = 0; k < i && first; k++)
                        first = !(streq(v[k].slot_uuid, v[i].slot_uuid) &&
                                  streq(v[k].user, v[i].user) && streq(v[k].where, v[i].where) &&
                                  streq_ptr(v[k].container, v[i].container));
                if (!first)
                        continue;
                size_t count = 0;
                for (size_t k = i; k < n; k++)
                        count += streq(v[k].slot_uuid, v[i].slot_uuid) &&
                                 streq(v[k].user, v[i].user) && streq(v[k].where, v[i].where) &&
                                 streq_ptr(v[k].container, v[i].container);
                const struct slot_name *sn = slot_find(names, n_names, v[i].slot_uuid);
                sample(sb, "ds01_unmanaged_gpu_use", (double)count, "gpu_slot",
                       sn ? sn->name : v[i].slot_uuid, "user", v[i].user, "access_type", v[i].where,
                       "container", v[i].container ? v[i].container : "", NULL);
        }
        outside_uses_free(v, n);
}

static const char *lease_slot_name(const struct slot_name *v, size_t n, const struct snap_lease *l)
{
        const struct slot_name *s = slot_find(v, n, l->slot_uuid);
        return s ? s->name : l->slot_uuid;
}

static const char *lease_profile(const struct snap_lease *l)
{
        return l->profile ? l->profile : "full";
}

struct user_sum {
        const char *user;
        int64_t uid;
        int64_t gpus, containers;
        double gpueq;
};

static struct user_sum *user_get(struct user_sum **v, size_t *n, const struct snap_container *sc)
{
        const char *u = sc->user ? sc->user : "unknown";
        for (size_t i = 0; i < *n; i++)
                if (streq((*v)[i].user, u))
                        return &(*v)[i];
        *v = xrealloc(*v, (*n + 1) * sizeof(**v));
        (*v)[*n] = (struct user_sum){.user = u, .uid = sc->uid};
        return &(*v)[(*n)++];
}

/* Each user's containers together, in their user cgroup, against the aggregate caps. */
enum { AGG_TASKS, AGG_MEMORY_MAX, AGG_TASKS_MAX, AGG_CPU_QUOTA, N_AGG };
struct agg_row {
        double v[N_AGG];
        bool has[N_AGG];
};

static void aggregate_row(struct ds01d *d, uid_t uid, struct agg_row *r)
{
        struct caller c;
        if (caller_for(uid, &c) < 0)
                return;
        struct limit_set ls;
        caller_limits(d, &c, &ls);
        struct usercgroup_use use;
        const struct limit_aggregate *a = &ls.aggregate;
        r->has[AGG_TASKS] = usercgroup_use(d, c.uid, &use) && use.tasks >= 0;
        r->v[AGG_TASKS] = r->has[AGG_TASKS] ? (double)use.tasks : 0;
        r->v[AGG_MEMORY_MAX] = (double)a->memory_max, r->has[AGG_MEMORY_MAX] = a->memory_max >= 0;
        r->v[AGG_TASKS_MAX] = (double)a->tasks_max, r->has[AGG_TASKS_MAX] = a->tasks_max >= 0;
        r->v[AGG_CPU_QUOTA] = a->cpu_quota, r->has[AGG_CPU_QUOTA] = a->cpu_quota > 0;
        limit_set_release(&ls);
        caller_release(&c);
}

static void aggregate_samples(struct strbuf *sb, struct ds01d *d, const struct user_sum *users,
                              size_t n)
{
        static const char *const names[N_AGG] = {"ds01_user_tasks_current",
                                                 "ds01_user_memory_max_bytes",
                                                 "ds01_user_tasks_max", "ds01_user_cpu_quota_cpus"};
        static const char *const helps[N_AGG] = {
            "Processes and threads of all of each user's containers (their user cgroup).",
            "The memory cap of all of each user's containers together (aggregate.memory_max).",
            "The tasks cap of all of each user's containers together (aggregate.tasks_max, or "
            "max_tasks).",
            "The CPU cap of all of each user's containers together, in CPUs "
            "(aggregate.cpu_quota)."};
        struct agg_row *rows = xcalloc(n + 1, sizeof(*rows));
        for (size_t i = 0; i < n; i++)
                if (users[i].uid >= 0)
                        aggregate_row(d, (uid_t)users[i].uid, &rows[i]);
        for (size_t k = 0; k < N_AGG; k++) {
                family(sb, names[k], "gauge", helps[k]);
                for (size_t i = 0; i < n; i++)
                        if (rows[i].has[k])
                                sample(sb, names[k], rows[i].v[k], "user", users[i].user, NULL);
        }
        free(rows);
}

/* The limits group of a user: defaults ⊕ group membership from the members files, inline
 * members and Unix groups (so the user's groups are looked up, and cached). */
static const char *user_group(struct metrics *m, struct ds01d *d, const char *user, int64_t uid,
                              int64_t now, char **ret_tmp)
{
        *ret_tmp = NULL;
        struct group_entry *e = NULL;
        for (size_t i = 0; m && i < m->n_groups && !e; i++)
                if (streq(m->groups[i].user, user) && m->groups[i].uid == uid)
                        e = &m->groups[i];
        if (e && e->expires > now)
                return e->group;

        gid_t *gids = NULL;
        int n = 0;
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (uid >= 0 && getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
                n = 64;
                gids = xcalloc((size_t)n, sizeof(gid_t));
                if (getgrouplist(pw.pw_name, pw.pw_gid, gids, &n) < 0) {
                        gids = xrealloc(gids, (size_t)n * sizeof(gid_t));
                        if (getgrouplist(pw.pw_name, pw.pw_gid, gids, &n) < 0)
                                n = 0;
                }
        }
        struct limit_set ls;
        limits_resolve(d->limits, user, gids, (size_t)(n > 0 ? n : 0), &ls);
        free(gids);
        char *group = xstrdup(ls.group ? ls.group : "");
        limit_set_release(&ls);
        if (!m) {
                *ret_tmp = group;
                return group;
        }
        if (!e && m->n_groups < GROUP_CACHE_MAX) {
                m->groups = xrealloc(m->groups, (m->n_groups + 1) * sizeof(*m->groups));
                e = &m->groups[m->n_groups++];
                *e = (struct group_entry){.uid = uid, .user = xstrdup(user)};
        }
        if (!e) {
                *ret_tmp = group;
                return group;
        }
        free(e->group);
        e->group = group;
        e->expires = now + GROUP_CACHE_S;
        return e->group;
}

/* Workspace usage (storage.h): per user only where series may name users; the sum always. */
static void storage_metrics(struct strbuf *sb, struct ds01d *d, bool personal)
{
        struct storage_usage *v = NULL;
        size_t n = storage_list(d->storage, &v);
        double total = 0;
        family(sb, "ds01_user_storage_workspace_bytes", "gauge",
               "Space each user's workspaces take (last measurement: project quota or scan).");
        for (size_t i = 0; i < n; i++) {
                if (v[i].bytes < 0)
                        continue;
                total += (double)v[i].bytes;
                if (personal)
                        sample(sb, "ds01_user_storage_workspace_bytes", (double)v[i].bytes, "user",
                               v[i].login, NULL);
        }
        family(sb, "ds01_storage_workspaces_bytes", "gauge",
               "Space all users' workspaces take together (last measurements).");
        sample(sb, "ds01_storage_workspaces_bytes", total, NULL);
        storage_usages_free(v, n);
}

/* Open remote login sessions by user: utmp's USER_PROCESS records with a remote host (sshd
 * writes them for sessions with a terminal) whose process is alive. The file is read directly,
 * record by record (getutxent is not thread-safe); no file: no sessions. */
struct session_count {
        char user[sizeof(((struct utmpx *)0)->ut_user) + 1];
        int64_t n;
};

static size_t ssh_sessions(struct session_count **ret)
{
        *ret = NULL;
        size_t n = 0;
        int fd = open(_PATH_UTMPX, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        struct utmpx u;
        while (read(fd, &u, sizeof(u)) == (ssize_t)sizeof(u)) {
                if (u.ut_type != USER_PROCESS || !u.ut_host[0] || !u.ut_user[0] || u.ut_pid <= 0 ||
                    (kill(u.ut_pid, 0) < 0 && errno != EPERM))
                        continue;
                char user[sizeof(u.ut_user) + 1];
                memcpy(user, u.ut_user, sizeof(u.ut_user));
                user[sizeof(u.ut_user)] = 0;
                size_t i = 0;
                while (i < n && !streq((*ret)[i].user, user))
                        i++;
                if (i == n) {
                        *ret = xrealloc(*ret, (n + 1) * sizeof(**ret));
                        memcpy((*ret)[n].user, user, sizeof(user));
                        (*ret)[n++].n = 0;
                }
                (*ret)[i].n++;
        }
        close(fd);
        return n;
}

/* ---- rendering ------------------------------------------------------------------------------ */

static void render_counters(struct strbuf *sb)
{
        struct counters_snapshot *c = xmalloc(sizeof(*c));
        counters_read(c);

        family(sb, "ds01_rpc_requests_total", "counter",
               "Requests served on the daemon socket, by method and outcome.");
        for (size_t i = 0; i < c->n_rpc; i++) {
                sample(sb, "ds01_rpc_requests_total", (double)c->rpc[i].ok, "method",
                       c->rpc[i].method, "outcome", "ok", NULL);
                sample(sb, "ds01_rpc_requests_total", (double)c->rpc[i].error, "method",
                       c->rpc[i].method, "outcome", "error", NULL);
        }
        family(sb, "ds01_rpc_request_duration_seconds", "histogram",
               "Time from a request's validation to its answer, by method.");
        for (size_t i = 0; i < c->n_rpc; i++)
                histogram(sb, "ds01_rpc_request_duration_seconds", &c->rpc[i].latency, "method",
                          c->rpc[i].method);

        family(sb, "ds01_events_total", "counter",
               "Events written to events.jsonl since ds01d started, by event_type.");
        for (size_t i = 0; i < c->n_events; i++)
                if (c->events[i].n > 0)
                        sample(sb, "ds01_events_total", (double)c->events[i].n, "event_type",
                               c->events[i].type, NULL);
        /* DS01's: a gauge, by hour, read back from the log when the daemon starts */
        family(sb, "ds01_events_24h_total", "untyped",
               "Events written to events.jsonl in the last 24 hours (to the hour), by event_type.");
        int64_t now = now_s();
        for (size_t i = 0; i < c->n_events; i++)
                sample(sb, "ds01_events_24h_total",
                       (double)counters_events_recent(&c->events[i], now), "event_type",
                       c->events[i].type, NULL);

        family(sb, "ds01_enforcement_actions_total", "counter",
               "Lifecycle enforcement actions taken since ds01d started, by action.");
        for (int a = 0; a < COUNTERS_N_ACTIONS; a++)
                sample(sb, "ds01_enforcement_actions_total", (double)c->actions[a], "action",
                       counters_action_name((enum counters_action)a), NULL);
        /* DS01's name for the stops (its other actions - OOM kills, resource warnings - are not
         * ds01's to count) */
        family(sb, "ds01_lifecycle_events_total", "untyped",
               "Containers stopped by the lifecycle rules since ds01d started, by action.");
        sample(sb, "ds01_lifecycle_events_total", (double)c->actions[COUNTERS_IDLE_STOP], "action",
               "idle_kill", NULL);
        sample(sb, "ds01_lifecycle_events_total", (double)c->actions[COUNTERS_RUNTIME_STOP],
               "action", "runtime_kill", NULL);

        family(sb, "ds01_sweep_duration_seconds", "histogram",
               "Duration of the monitor's sweeps (sampling, idle/runtime rules, holds, cleanup).");
        histogram(sb, "ds01_sweep_duration_seconds", &c->sweep, NULL, NULL);
        if (c->last_sweep_ms > 0) {
                family(sb, "ds01_last_sweep_timestamp_seconds", "gauge",
                       "Unix time at which the monitor's last sweep finished.");
                sample(sb, "ds01_last_sweep_timestamp_seconds", (double)c->last_sweep_ms / 1000.0,
                       NULL);
        }
        free(c);
}

void metrics_render_into(struct metrics *m, struct ds01d *d, struct strbuf *sb, bool personal)
{
        int64_t now = now_s();
        const struct snapshot *snap = snapshot_current(d->snap);

        /* this render's generation (the caller may hold the root context) */
        struct ds01d view;
        ds01d_pin(d, &view);
        d = &view;
        const struct gpu_slot *slots;
        size_t n_slots = gpu_inventory_slots(d->inv, &slots);
        struct slot_name *names = slot_names(slots, n_slots);
        size_t n_snap = snap ? snap->n : 0;

        family(sb, "ds01_exporter_info", "gauge", "The exporter: ds01d's version.");
        sample(sb, "ds01_exporter_info", 1, "version", DS01_VERSION, "type", "ds01d", NULL);
        family(sb, "ds01_start_time_seconds", "gauge", "Unix time at which ds01d started.");
        sample(sb, "ds01_start_time_seconds", m ? (double)m->started_s : (double)now, NULL);

        /* ---- DS01's families */
        /* (only the series that name no user or container when !personal) */
        size_t n_personal = personal ? n_snap : 0;
        family(sb, "ds01_gpu_allocated", "gauge",
               "1 for each GPU slot leased to a container (reserved, bound or held).");
        for (size_t i = 0; i < n_personal; i++) {
                const struct snap_container *sc = &snap->containers[i];
                for (size_t k = 0; k < sc->n_leases; k++)
                        sample(sb, "ds01_gpu_allocated", 1, "gpu_slot",
                               lease_slot_name(names, n_slots, &sc->leases[k]), "container",
                               sc->name, "user", sc->user, "interface", INTERFACE_DEFAULT,
                               "profile", lease_profile(&sc->leases[k]), NULL);
        }
        family(sb, "ds01_gpu_equivalents", "gauge",
               "GPU-equivalents of each leased slot (1 for a whole GPU, slices/7 for MIG).");
        for (size_t i = 0; i < n_personal; i++) {
                const struct snap_container *sc = &snap->containers[i];
                for (size_t k = 0; k < sc->n_leases; k++)
                        sample(sb, "ds01_gpu_equivalents", sc->leases[k].weight, "gpu_slot",
                               lease_slot_name(names, n_slots, &sc->leases[k]), "user", sc->user,
                               "interface", INTERFACE_DEFAULT, "profile",
                               lease_profile(&sc->leases[k]), NULL);
        }

        int64_t running = 0, stopped = 0;
        struct user_sum *users = NULL;
        size_t n_users = 0;
        int64_t leases_by_state[3] = {0}; /* reserved, bound, held */
        static const char *const lease_states[3] = {"reserved", "bound", "held"};
        for (size_t i = 0; i < n_snap; i++) {
                const struct snap_container *sc = &snap->containers[i];
                if (streq_ptr(sc->state, "running"))
                        running++;
                else
                        stopped++;
                struct user_sum *u = user_get(&users, &n_users, sc);
                u->containers++;
                for (size_t k = 0; k < sc->n_leases; k++) {
                        u->gpus++;
                        u->gpueq += sc->leases[k].weight;
                        for (int s = 0; s < 3; s++)
                                leases_by_state[s] +=
                                    streq_ptr(sc->leases[k].state, lease_states[s]);
                }
        }
        /* DS01's names for two gauges end in _total and _count, which the text format's
         * conventions keep for counters and histograms: "untyped" keeps the names (so DS01's
         * dashboards work) and promtool's linter content. */
        family(sb, "ds01_containers_total", "untyped",
               "Managed containers by status (running, or stopped: exited, created, ...).");
        sample(sb, "ds01_containers_total", (double)running, "status", "running", "interface",
               INTERFACE_DEFAULT, NULL);
        sample(sb, "ds01_containers_total", (double)stopped, "status", "stopped", "interface",
               INTERFACE_DEFAULT, NULL);
        if (!personal)
                n_users = 0;
        family(sb, "ds01_user_gpus_allocated", "gauge", "GPU slots leased by each user.");
        for (size_t i = 0; i < n_users; i++)
                sample(sb, "ds01_user_gpus_allocated", (double)users[i].gpus, "user", users[i].user,
                       NULL);
        family(sb, "ds01_user_gpu_equivalents", "gauge",
               "GPU-equivalents leased by each user (what max_gpu_equivalents limits).");
        for (size_t i = 0; i < n_users; i++)
                sample(sb, "ds01_user_gpu_equivalents", users[i].gpueq, "user", users[i].user,
                       NULL);
        family(sb, "ds01_user_containers_count", "untyped", "Managed containers of each user.");
        for (size_t i = 0; i < n_users; i++)
                sample(sb, "ds01_user_containers_count", (double)users[i].containers, "user",
                       users[i].user, NULL);
        family(sb, "ds01_user_group_info", "gauge",
               "1 for each user with a container, labelled with their limits group.");
        for (size_t i = 0; i < n_users; i++) {
                _cleanup_free_ char *tmp = NULL;
                const char *g = user_group(m, d, users[i].user, users[i].uid, now, &tmp);
                sample(sb, "ds01_user_group_info", 1, "user", users[i].user, "group", g, NULL);
        }
        struct monitor_user_usage *uu = NULL;
        size_t n_uu = personal ? monitor_user_usage(d->monitor, &uu) : 0;
        family(sb, "ds01_user_cpu_usage_seconds_total", "counter",
               "CPU time of each user's managed containers since ds01d started (every run, also "
               "of containers since removed).");
        for (size_t i = 0; i < n_uu; i++)
                sample(sb, "ds01_user_cpu_usage_seconds_total", uu[i].cpu_s, "user", uu[i].user,
                       NULL);
        family(sb, "ds01_user_memory_current_bytes", "gauge",
               "Memory used by each user's running managed containers (page cache excluded).");
        for (size_t i = 0; i < n_uu; i++)
                sample(sb, "ds01_user_memory_current_bytes", (double)uu[i].mem_bytes, "user",
                       uu[i].user, NULL);
        monitor_user_usage_free(uu, n_uu);
        aggregate_samples(sb, d, users, n_users);
        storage_metrics(sb, d, personal);
        family(sb, "ds01_group_members_total", "untyped",
               "Logins each limits group lists (members files and inline members).");
        const char *const *groups = limits_groups(d->limits);
        for (size_t g = 0; groups && groups[g]; g++) {
                const char *const *mem = NULL;
                sample(sb, "ds01_group_members_total",
                       (double)limits_group_members(d->limits, groups[g], &mem), "group", groups[g],
                       NULL);
        }
        struct session_count *ss = NULL;
        size_t n_ss = ssh_sessions(&ss);
        int64_t ss_total = 0;
        family(sb, "ds01_ssh_sessions_active", "gauge",
               "Open remote login sessions of each user (utmp records with a remote host).");
        for (size_t i = 0; i < n_ss; i++) {
                if (personal)
                        sample(sb, "ds01_ssh_sessions_active", (double)ss[i].n, "user", ss[i].user,
                               NULL);
                ss_total += ss[i].n;
        }
        free(ss);
        family(sb, "ds01_ssh_sessions_total", "untyped", "Open remote login sessions, all users.");
        sample(sb, "ds01_ssh_sessions_total", (double)ss_total, NULL);
        struct statvfs vfs;
        if (statvfs(d->cfg->state_dir, &vfs) == 0) {
                double f = (double)vfs.f_frsize;
                family(sb, "ds01_state_disk_bytes", "gauge",
                       "Size of the file system holding state_dir (the ledger), by type.");
                sample(sb, "ds01_state_disk_bytes", (double)vfs.f_blocks * f, "type", "total",
                       NULL);
                sample(sb, "ds01_state_disk_bytes", (double)(vfs.f_blocks - vfs.f_bfree) * f,
                       "type", "used", NULL);
                sample(sb, "ds01_state_disk_bytes", (double)vfs.f_bavail * f, "type", "free", NULL);
        }

        family(sb, "ds01_gpu_slot_info", "gauge",
               "1 for each allocatable slot: its GPU index, slot name and physical GPU UUID.");
        for (size_t i = 0; i < n_slots; i++) {
                const struct gpu_slot *s = names[i].slot;
                if (!s->allocatable)
                        continue;
                char gpu[16];
                snprintf(gpu, sizeof(gpu), "%d", s->gpu_index);
                sample(sb, "ds01_gpu_slot_info", 1, "gpu", gpu, "slot", names[i].name, "gpu_uuid",
                       s->parent_uuid ? s->parent_uuid : s->uuid, "mig_enabled",
                       s->parent_uuid ? "true" : "false", NULL);
        }
        family(sb, "ds01_mig_slot_info", "gauge",
               "1 for each MIG instance: its GPU, instance number, slot name and MIG UUID.");
        for (size_t i = 0; i < n_slots; i++) {
                const struct gpu_slot *s = names[i].slot;
                if (!s->parent_uuid)
                        continue;
                char gpu[16], gi[16];
                snprintf(gpu, sizeof(gpu), "%d", s->gpu_index);
                snprintf(gi, sizeof(gi), "%d", names[i].mig_ordinal);
                sample(sb, "ds01_mig_slot_info", 1, "gpu", gpu, "gpu_i_id", gi, "slot",
                       names[i].name, "mig_uuid", s->uuid, NULL);
        }

        /* ---- ours: capacity */
        struct store_drain *drains = NULL;
        size_t n_drains = 0;
        struct error *err = NULL;
        if (store_drains(d->store, &drains, &n_drains, &err) < 0)
                err = error_free(err); /* shown as no drains; the ledger logs its own trouble */
        int64_t n_state[3] = {0};      /* free, leased, drained */
        double eq_state[3] = {0};
        for (size_t i = 0; i < n_slots; i++) {
                const struct gpu_slot *s = names[i].slot;
                if (!s->allocatable)
                        continue;
                int st = 0;
                for (size_t c = 0; c < n_snap && !st; c++)
                        for (size_t k = 0; k < snap->containers[c].n_leases && !st; k++)
                                if (streq(snap->containers[c].leases[k].slot_uuid, s->uuid))
                                        st = 1;
                for (size_t k = 0; k < n_drains && !st; k++)
                        if (streq(drains[k].slot_uuid, s->uuid) ||
                            streq_ptr(drains[k].slot_uuid, s->parent_uuid))
                                st = 2;
                n_state[st]++;
                eq_state[st] += s->weight;
        }
        store_drains_free(drains, n_drains);
        static const char *const slot_states[3] = {"free", "leased", "drained"};
        family(sb, "ds01_gpu_slots", "gauge",
               "Allocatable GPU slots by state: free, leased (any lease state) or drained (and "
               "not leased).");
        for (int s = 0; s < 3; s++)
                sample(sb, "ds01_gpu_slots", (double)n_state[s], "state", slot_states[s], NULL);
        family(sb, "ds01_gpu_slot_equivalents", "gauge",
               "GPU-equivalents of the allocatable slots by state (free, leased, drained).");
        for (int s = 0; s < 3; s++)
                sample(sb, "ds01_gpu_slot_equivalents", eq_state[s], "state", slot_states[s], NULL);
        family(sb, "ds01_leases", "gauge", "GPU leases by state (reserved, bound, held).");
        for (int s = 0; s < 3; s++)
                sample(sb, "ds01_leases", (double)leases_by_state[s], "state", lease_states[s],
                       NULL);
        reservation_samples(sb, d);
        unmanaged_samples(sb, d, names, n_slots, personal);
        family(sb, "ds01_queue_waiting", "gauge",
               "Deploys waiting for GPUs in the queue (container-deploy --wait).");
        sample(sb, "ds01_queue_waiting", (double)store_queue_count(d->store), NULL);

        /* ---- ours: per leased slot, from the monitor's last samples */
        struct strbuf util = STRBUF_INIT, mem = STRBUF_INIT, idle = STRBUF_INIT;
        for (size_t i = 0; i < n_personal; i++) {
                const struct snap_container *sc = &snap->containers[i];
                if (!sc->n_leases)
                        continue;
                bool run = streq_ptr(sc->state, "running");
                json_t *row = json_object();
                if (run && d->monitor) {
                        monitor_describe(d->monitor, sc->id, row);
                        monitor_stats(d->monitor, sc->id, row);
                }
                json_t *gpus = json_object_get(json_object_get(row, "stats"), "gpus");
                json_t *idle_s = json_object_get(row, "idle_s");
                for (size_t k = 0; k < sc->n_leases; k++) {
                        const struct snap_lease *l = &sc->leases[k];
                        const char *slot = lease_slot_name(names, n_slots, l);
#define SLOT_LABELS                                                                                \
        "gpu_slot", slot, "slot_uuid", l->slot_uuid, "container", sc->name, "user", sc->user,      \
            "profile", lease_profile(l), NULL
                        size_t gi;
                        json_t *g;
                        json_array_foreach (gpus, gi, g) {
                                if (!streq_ptr(json_string_value(json_object_get(g, "uuid")),
                                               l->slot_uuid))
                                        continue;
                                json_t *u = json_object_get(g, "util_pct");
                                if (json_is_number(u))
                                        sample(&util, "ds01_slot_utilization_percent",
                                               json_number_value(u), SLOT_LABELS);
                                json_t *mu = json_object_get(g, "mem_used_bytes");
                                if (json_is_number(mu))
                                        sample(&mem, "ds01_slot_memory_used_bytes",
                                               json_number_value(mu), SLOT_LABELS);
                        }
                        /* A running container: idle as the monitor measures it; a stopped one
                         * holding its GPU: idle since it stopped. */
                        if (run && json_is_integer(idle_s))
                                sample(&idle, "ds01_slot_idle_seconds",
                                       (double)json_integer_value(idle_s), SLOT_LABELS);
                        else if (!run && streq_ptr(l->state, "held") && l->since > 0)
                                sample(&idle, "ds01_slot_idle_seconds",
                                       (double)(now > l->since ? now - l->since : 0), SLOT_LABELS);
#undef SLOT_LABELS
                }
                json_decref(row);
        }
        ds01d_unpin(&view);
        family(sb, "ds01_slot_utilization_percent", "gauge",
               "GPU utilisation of a leased slot at the last sample (whole GPUs with NVML only; "
               "absent where unknown).");
        strbuf_adds(sb, strbuf_str(&util));
        family(sb, "ds01_slot_memory_used_bytes", "gauge",
               "GPU memory used on a leased slot at the last sample (absent where unknown).");
        strbuf_adds(sb, strbuf_str(&mem));
        family(sb, "ds01_slot_idle_seconds", "gauge",
               "How long the container holding a slot has been idle (running), or stopped "
               "(held lease).");
        strbuf_adds(sb, strbuf_str(&idle));
        strbuf_release(&util);
        strbuf_release(&mem);
        strbuf_release(&idle);

        if (snap) {
                family(sb, "ds01_snapshot_age_seconds", "gauge",
                       "Age of the container snapshot these metrics were rendered from.");
                int64_t age = now_ms() - snap->built_ms;
                sample(sb, "ds01_snapshot_age_seconds", (double)(age > 0 ? age : 0) / 1000.0, NULL);
        }
        render_counters(sb);

        free(users);
        free(names);
        snapshot_put(d->snap, snap);
}

char *metrics_render(struct ds01d *d)
{
        struct strbuf sb = STRBUF_INIT;
        metrics_render_into(NULL, d, &sb, true);
        return strbuf_detach(&sb);
}
