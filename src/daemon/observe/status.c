/* status.c - what the machine is doing, for administrators: ds01 status, users, health (see
 * status.h). */
#include "daemon/observe/status.h"

#include "daemon/cluster/slurmlife.h"
#include "daemon/cluster/slurmsync.h"
#include "daemon/gpus/reservations.h"

#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/gpuadmin.h"
#include "daemon/gpus/nvml.h"
#include "daemon/gpus/outside.h"
#include "daemon/observe/queries.h"
#include "daemon/observe/rows.h"
#include "daemon/observe/snapshot.h"
#include "daemon/observe/usage.h"
#include "daemon/rules/monitor.h"
#include "shared/log.h"
#include "shared/names.h"
#include "shared/strbuf.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* A formatted message (a new string; never NULL). */
static char *vtext(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *vtext(const char *fmt, va_list ap)
{
        char *text = NULL;
        if (vasprintf(&text, fmt, ap) < 0)
                return xstrdup("?");
        return text;
}

/* The snapshot's container holding lease `uuid`, or NULL. */
static const struct snap_container *holder(const struct snapshot *snap, const char *uuid,
                                           const struct snap_lease **ret_lease)
{
        for (size_t i = 0; snap && i < snap->n; i++)
                for (size_t k = 0; k < snap->containers[i].n_leases; k++)
                        if (streq(snap->containers[i].leases[k].slot_uuid, uuid)) {
                                *ret_lease = &snap->containers[i].leases[k];
                                return &snap->containers[i];
                        }
        return NULL;
}

static void warn(json_t *warnings, const char *kind, json_t *subject, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn(json_t *warnings, const char *kind, json_t *subject, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *text = vtext(fmt, ap);
        va_end(ap);
        json_t *w = json_pack("{s:s, s:s}", "kind", kind, "message", text);
        if (subject)
                json_object_update(w, subject);
        json_decref(subject);
        json_array_append_new(warnings, w);
        free(text);
}

/* A leased GPU counts as "held idle" once its container has been idle this long: half its
 * idle timeout, at most 30 minutes. */
static int64_t idle_warn_after(int64_t idle_timeout_s)
{
        int64_t after = 1800;
        if (idle_timeout_s > 0 && idle_timeout_s / 2 < after)
                after = idle_timeout_s / 2;
        return after;
}

/* Slot s's uses outside ds01 (outside.h), as s.outside and one warning each. Returns whether
 * there are any. */
static bool note_outside(json_t *s, const json_t *outside, json_t *warnings)
{
        json_t *mine = json_array();
        size_t i;
        json_t *u;
        json_array_foreach (outside, i, u) {
                if (!streq_ptr(jstr(u, "slot"), jstr(s, "uuid")))
                        continue;
                json_array_append(mine, u);
                warn(warnings, "gpu_outside",
                     json_pack("{s:s, s:O}", "uuid", jstr(u, "slot"), "pid",
                               json_object_get(u, "pid")),
                     "%s - in use outside ds01, leased to nobody while it lasts%s", jstr(u, "text"),
                     json_is_true(json_object_get(u, "exempt")) ? " (bare_metal_access exempt)"
                                                                : "");
        }
        bool any = json_array_size(mine) > 0;
        if (any)
                json_object_set_new(s, "outside", mine);
        else
                json_decref(mine);
        return any;
}

int status_report(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err)
{
        (void)params;
        json_t *gl = NULL;
        if (gpuadmin_list(d, c, NULL, &gl, err) < 0)
                return -1;
        const struct snapshot *snap = snapshot_get(d, err);
        if (!snap) {
                json_decref(gl);
                return -1;
        }
        json_t *warnings = json_array();
        json_t *outside = outside_json(d->outside);
        double eq_total = 0, eq_leased = 0;
        size_t n_slots = 0, n_leased = 0, n_drained = 0, n_held = 0, n_idle = 0, n_outside = 0;
        size_t i;
        json_t *s;
        json_array_foreach (json_object_get(gl, "slots"), i, s) {
                if (!json_is_true(json_object_get(s, "allocatable")))
                        continue;
                const char *uuid = jstr(s, "uuid");
                double w = json_number_value(json_object_get(s, "weight"));
                n_slots++;
                eq_total += w;
                json_t *lease = json_object_get(s, "lease");
                bool drained = json_object_get(s, "drained") != NULL;
                n_drained += drained;
                n_outside += note_outside(s, outside, warnings);
                if (!lease)
                        continue;
                n_leased++;
                eq_leased += w;
                const struct snap_lease *sl = NULL;
                const struct snap_container *sc = holder(snap, uuid, &sl);
                if (drained)
                        warn(warnings, "drained_but_leased", json_pack("{s:s}", "uuid", uuid),
                             "%s is drained but still leased to %s", uuid,
                             jstr(lease, "container"));
                if (streq_ptr(jstr(lease, "state"), "held")) {
                        n_held++;
                        char age[32];
                        format_duration(json_integer_value(json_object_get(lease, "age_s")), age);
                        warn(warnings, "held_by_stopped",
                             json_pack("{s:s, s:s}", "uuid", uuid, "container",
                                       jstr(lease, "container")),
                             "%s is held for the stopped container %s (%s) for %s", uuid,
                             jstr(lease, "container"), jstr(lease, "user"), age);
                }
                if (!sc || !streq(sc->state, "running"))
                        continue;
                /* the container's row as container-stats shows it (rows.h) */
                json_t *row = rows_stats_row(sc, d->monitor, now_s());
                json_t *idle = json_object_get(row, "idle_s");
                if (idle)
                        json_object_set(s, "idle_s", idle);
                json_t *gpus = json_object_get(json_object_get(row, "stats"), "gpus");
                size_t k;
                json_t *g;
                json_array_foreach (gpus, k, g) {
                        if (!streq_ptr(jstr(g, "uuid"), uuid))
                                continue;
                        json_object_set(s, "util_pct", json_object_get(g, "util_pct"));
                        json_object_set(s, "mem_used_bytes", json_object_get(g, "mem_used_bytes"));
                }
                int64_t idle_s = idle ? json_integer_value(idle) : 0;
                json_t *to = json_object_get(row, "idle_timeout_s");
                if (idle &&
                    idle_s >= idle_warn_after(json_is_integer(to) ? json_integer_value(to) : -1)) {
                        n_idle++;
                        char age[32];
                        format_duration(idle_s, age);
                        warn(warnings, "gpu_idle",
                             json_pack("{s:s, s:s, s:s}", "uuid", uuid, "container", sc->name,
                                       "user", sc->user),
                             "%s (%s) has held %s idle for %s", sc->name, sc->user, uuid, age);
                }
                json_decref(row);
        }
        json_array_foreach (json_object_get(gl, "orphaned_leases"), i, s)
                warn(warnings, "orphaned_lease",
                     json_pack("{s:s, s:s}", "uuid", jstr(s, "uuid"), "container",
                               jstr(s, "container")),
                     "%s is leased to %s but no longer in the inventory - run 'ds01 gpus "
                     "--rescan' or retire the container",
                     jstr(s, "uuid"), jstr(s, "container"));
        size_t running = 0, stopped = 0;
        json_t *users = json_object();
        for (size_t k = 0; k < snap->n; k++) {
                bool run = streq(snap->containers[k].state, "running");
                running += run;
                stopped += !run;
                json_object_set_new(users, snap->containers[k].user, json_true());
        }
        if (!snapshot_stream_up(d->snap))
                warn(warnings, "docker_events", NULL,
                     "Docker's event stream is down: stops are noticed only at the next tick");
        int64_t dur = 0, last = monitor_last_tick_ms(d->monitor, &dur);
        int64_t interval = d->cfg->sample_interval_s;
        if (last > 0 && now_ms() - last > 3 * interval * 1000 + 5000)
                warn(warnings, "monitor_late", NULL,
                     "the monitor's last tick was %llds ago (interval %llds)",
                     (long long)((now_ms() - last) / 1000), (long long)interval);
        json_t *totals =
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I}", "slots",
                      (json_int_t)n_slots, "leased", (json_int_t)n_leased, "free",
                      (json_int_t)(n_slots - n_leased), "drained", (json_int_t)n_drained, "held",
                      (json_int_t)n_held, "gpu_equivalents", eq_total, "gpu_equivalents_leased",
                      eq_leased, "containers_running", (json_int_t)running, "containers_stopped",
                      (json_int_t)stopped, "users", (json_int_t)json_object_size(users));
        json_object_set_new(totals, "gpus_idle", json_integer((json_int_t)n_idle));
        json_object_set_new(totals, "outside", json_integer((json_int_t)n_outside));
        json_decref(outside);
        json_decref(users);
        snapshot_put(d->snap, snap);
        json_object_set_new(gl, "totals", totals);
        json_object_set_new(gl, "warnings", warnings);
        json_object_set_new(gl, "reservations", resv_json(d, NULL, true, now_s()));
        json_object_set_new(gl, "monitor",
                            json_pack("{s:I, s:I, s:I, s:I}", "last_tick",
                                      (json_int_t)(last / 1000), "tick_ms", (json_int_t)dur,
                                      "interval_s", (json_int_t)interval, "ticks",
                                      (json_int_t)monitor_ticks(d->monitor)));
        *ret_result = gl;
        return 0;
}

static void add_login(json_t *set, const char *login)
{
        if (login && *login)
                json_object_set_new(set, login, json_true());
}

static json_t *user_row(struct ds01d *d, const char *login, const struct snapshot *snap)
{
        struct passwd pw, *res = NULL;
        char buf[4096];
        json_t *row = NULL;
        struct caller who;
        if (getpwnam_r(login, &pw, buf, sizeof(buf), &res) == 0 && res &&
            caller_for(res->pw_uid, &who) == 0) {
                struct error *err = NULL;
                if (queries_limits(d, &who, NULL, &row, &err) < 0) {
                        row = json_pack("{s:s, s:s}", "user", login, "error", err->message);
                        error_free(err);
                }
                caller_release(&who);
        } else {
                /* listed in a members file but without an account here */
                struct limit_set ls;
                limits_resolve(d->limits, login, NULL, 0, &ls);
                row = json_pack("{s:s, s:n, s:s, s:b, s:s}", "user", login, "uid", "group",
                                ls.group ? ls.group : "", "overridden", ls.overridden, "note",
                                "no account on this machine");
                limit_set_release(&ls);
        }
        size_t running = 0, containers = 0;
        for (size_t i = 0; snap && i < snap->n; i++)
                if (streq(snap->containers[i].user, login)) {
                        containers++;
                        running += streq(snap->containers[i].state, "running");
                }
        json_object_set_new(row, "running", json_integer((json_int_t)running));
        json_object_set_new(row, "docker_containers", json_integer((json_int_t)containers));
        json_object_set_new(row, "archived", json_boolean(limits_archived(d->limits, login)));
        return row;
}

static int cmp_login(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether a group lists login or a container belongs to it. */
static bool known_login(struct ds01d *d, const struct snapshot *snap, const char *login)
{
        const char *const *groups = limits_groups(d->limits);
        for (size_t g = 0; groups && groups[g]; g++) {
                const char *const *m = NULL;
                size_t n = limits_group_members(d->limits, groups[g], &m);
                for (size_t k = 0; k < n; k++)
                        if (streq(m[k], login))
                                return true;
        }
        for (size_t i = 0; i < snap->n; i++)
                if (streq(snap->containers[i].user, login))
                        return true;
        return false;
}

int status_users(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err)
{
        const char *only = jstr(params, "user");
        const struct snapshot *snap = snapshot_get(d, err);
        if (!snap)
                return -1;
        json_t *set = json_object();
        if (only && !getpwnam(only) && !known_login(d, snap, only)) {
                snapshot_put(d->snap, snap);
                json_decref(set);
                return error_set(err, DS01_ENOTFOUND,
                                 "no user '%s': no account, no group lists them, no containers",
                                 only);
        }
        if (only)
                add_login(set, only);
        else {
                const char *const *groups = limits_groups(d->limits);
                for (size_t g = 0; groups && groups[g]; g++) {
                        const char *const *m = NULL;
                        size_t n = limits_group_members(d->limits, groups[g], &m);
                        for (size_t k = 0; k < n; k++)
                                add_login(set, m[k]);
                }
                for (size_t i = 0; i < snap->n; i++)
                        add_login(set, snap->containers[i].user);
                struct store_container *rows = NULL;
                size_t n_rows = 0;
                if (store_list(d->store, -1, &rows, &n_rows, NULL) == 0) {
                        for (size_t i = 0; i < n_rows; i++)
                                add_login(set, rows[i].user);
                        store_containers_free(rows, n_rows);
                }
        }
        /* sorted by login */
        size_t n = json_object_size(set);
        const char **logins = xcalloc(n + 1, sizeof(*logins));
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach (set, key, v)
                logins[k++] = key;
        qsort(logins, n, sizeof(*logins), cmp_login);
        /* this month's GPU-hours, from the usage ledger */
        json_t *month = NULL;
        json_t *mp = json_object();
        if (usage_report(d, c, mp, &month, NULL) < 0)
                month = NULL;
        json_decref(mp);
        json_t *out = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *row = user_row(d, logins[i], snap);
                size_t j;
                json_t *m;
                json_array_foreach (json_object_get(month, "users"), j, m)
                        if (streq_ptr(jstr(m, "user"), logins[i])) {
                                json_t *copy = json_deep_copy(m);
                                json_object_del(copy, "user");
                                json_object_del(copy, "uid");
                                json_object_set_new(copy, "month",
                                                    json_string(jstr(month, "month")));
                                json_object_set_new(row, "this_month", copy);
                        }
                json_array_append_new(out, row);
        }
        json_decref(month);
        free(logins);
        json_decref(set);
        snapshot_put(d->snap, snap);
        *ret_result = json_pack("{s:o}", "users", out);
        return 0;
}

static void check(json_t *checks, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void check(json_t *checks, const char *name, bool ok, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *text = vtext(fmt, ap);
        va_end(ap);
        json_array_append_new(checks,
                              json_pack("{s:s, s:b, s:s}", "name", name, "ok", ok, "detail", text));
        free(text);
}

/* Free space of the file system holding dir: fails under 5 % or 256 MiB. */
static void check_disk(json_t *checks, const char *name, const char *dir)
{
        struct statvfs st;
        if (statvfs(dir, &st) < 0) {
                check(checks, name, false, "%s: %s", dir, strerror(errno));
                return;
        }
        double total = (double)st.f_blocks * (double)st.f_frsize;
        double avail = (double)st.f_bavail * (double)st.f_frsize;
        double pct = total > 0 ? avail * 100.0 / total : 0;
        bool ok = pct >= 5.0 && avail >= 256.0 * 1024 * 1024;
        check(checks, name, ok, "%s: %.1f GiB free of %.1f GiB (%.0f %%)%s", dir,
              avail / (1024.0 * 1024 * 1024), total / (1024.0 * 1024 * 1024), pct,
              ok ? "" : " - free some space: the ledger and the audit log live here");
}

/* Ledger against Docker: every bound record's container exists, every managed container has
 * a record, every lease's slot is in the inventory. */
static void check_ledger(struct ds01d *d, json_t *checks, json_t *docker_list)
{
        struct store_container *rows = NULL;
        size_t n = 0;
        struct error *err = NULL;
        if (store_list(d->store, -1, &rows, &n, &err) < 0) {
                check(checks, "ledger", false, "cannot read the ledger: %s", err->message);
                error_free(err);
                return;
        }
        struct strbuf problems = STRBUF_INIT;
        size_t n_problems = 0;
        for (size_t i = 0; i < n; i++) {
                if (!streq(rows[i].state, "bound") || !rows[i].docker_id)
                        continue;
                bool there = false;
                size_t k;
                json_t *e;
                json_array_foreach (docker_list, k, e)
                        there |= streq_ptr(jstr(e, "Id"), rows[i].docker_id);
                if (!there && n_problems++ < 5)
                        strbuf_addf(&problems, "%s%s is in the ledger but not in Docker",
                                    problems.len ? "; " : "", rows[i].name);
                for (size_t l = 0; l < rows[i].n_leases; l++)
                        if (!gpu_inventory_find(d->inv, rows[i].leases[l].slot_uuid) &&
                            n_problems++ < 5)
                                strbuf_addf(&problems,
                                            "%s%s holds %s, which is not in the inventory",
                                            problems.len ? "; " : "", rows[i].name,
                                            rows[i].leases[l].slot_uuid);
        }
        /* Containers with this instance's labels that the ledger does not record were not
         * created by ds01 (a build step, something made behind its back): not managed, and no
         * fault of the ledger's. Counted, so that an administrator sees them. */
        size_t k, n_foreign = 0;
        json_t *e;
        json_array_foreach (docker_list, k, e) {
                bool known = false;
                for (size_t i = 0; i < n && !known; i++)
                        known = streq_ptr(rows[i].docker_id, jstr(e, "Id"));
                n_foreign += !known;
        }
        _cleanup_free_ char *foreign =
            n_foreign ? xasprintf("; %zu container(s) carry this instance's labels but were not "
                                  "created by ds01 (not managed, left alone)",
                                  n_foreign)
                      : xstrdup("");
        if (n_problems)
                check(checks, "ledger", false,
                      "%zu mismatch(es): %s - a restart of ds01d reconciles them%s", n_problems,
                      strbuf_str(&problems), foreign);
        else
                check(checks, "ledger", true, "%zu container record(s) match Docker%s", n, foreign);
        strbuf_release(&problems);
        store_containers_free(rows, n);
}

/* GPUs busy outside ds01: a finding (warn), not a failure of ds01 (ok stays true). */
static void check_outside(struct ds01d *d, json_t *checks)
{
        struct outside_use *v;
        size_t n = outside_uses(d->outside, &v);
        if (n == 0) {
                check(checks, "gpus_outside", true, "no GPU in use outside ds01");
                outside_uses_free(v, n);
                return;
        }
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *t = outside_use_text(&v[i]);
                strbuf_addf(&sb, "%s%s", i ? "; " : "", t);
        }
        check(checks, "gpus_outside", true,
              "%zu process%s outside ds01, their GPUs leased to "
              "nobody: %s",
              n, n == 1 ? "" : "es", strbuf_str(&sb));
        json_object_set_new(json_array_get(checks, json_array_size(checks) - 1), "warn",
                            json_true());
        strbuf_release(&sb);
        outside_uses_free(v, n);
}

/* cluster.backend slurm: Slurm's accounts and QOS against the limits file. Drift is a finding
 * (warn: an administrator's `ds01 slurm-sync --apply` away); Slurm not answering fails. */
static void check_slurm(struct ds01d *d, json_t *checks)
{
        size_t n = 0;
        _cleanup_free_ char *first = NULL;
        struct error *err = NULL;
        if (slurmsync_drift(d, &n, &first, &err) < 0) {
                check(checks, "slurm", false, "cannot compare Slurm's accounting with %s: %s",
                      d->cfg->limits_file, err->message);
                error_free(err);
                return;
        }
        if (n == 0) {
                check(checks, "slurm", true, "Slurm's accounts and QOS on %s match %s",
                      d->cfg->cluster->name, d->cfg->limits_file);
                return;
        }
        check(checks, "slurm", true,
              "Slurm differs from %s in %zu object(s) (first: %s) - 'ds01 slurm-sync' shows "
              "them, 'ds01 slurm-sync --apply' writes them",
              d->cfg->limits_file, n, first);
        json_object_set_new(json_array_get(checks, json_array_size(checks) - 1), "warn",
                            json_true());
}

/* cluster mode: whether the watcher (slurmlife.h) hears from Slurm about the jobs of this node's
 * containers. Slurm not answering fails: those containers are then left as they are. */
static void check_slurm_jobs(struct ds01d *d, json_t *checks)
{
        struct slurmlife_status st;
        slurmlife_status(d->slurmlife, &st);
        char at[64];
        if (st.failing_ms > 0)
                check(
                    checks, "slurm_jobs", false,
                    "Slurm does not answer which jobs run on %s since %s (%zu tries): %s - the "
                    "%zu container(s) of Slurm jobs here are left as they are until it does (start "
                    "slurmctld, check SLURM_CONF %s)",
                    d->cfg->cluster->node, format_iso8601(st.failing_ms / 1000, at), st.tries,
                    st.error ? st.error : "?", st.containers,
                    d->cfg->cluster->slurm_conf ? d->cfg->cluster->slurm_conf
                                                : "(Slurm's default)");
        else if (st.containers == 0)
                check(checks, "slurm_jobs", true, "no container of a Slurm job on %s",
                      d->cfg->cluster->node);
        else
                check(checks, "slurm_jobs", true,
                      "%zu container(s) of Slurm jobs on %s follow their jobs (Slurm last asked "
                      "%s; %zu job(s) being ended)",
                      st.containers, d->cfg->cluster->node,
                      st.asked_ms ? format_iso8601(st.asked_ms / 1000, at) : "never", st.ending);
        free(st.error);
}

int status_health(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err)
{
        (void)c;
        (void)params;
        (void)err;
        json_t *checks = json_array();

        long status = 0;
        json_t *ver = NULL;
        struct error *derr = NULL;
        if (docker_request(d->docker, "GET", "/version", NULL, &status, &ver, &derr) < 0 ||
            status != 200) {
                check(checks, "docker", false, "dockerd at %s is not answering: %s - start it",
                      d->cfg->docker_socket, derr ? derr->message : "bad status");
        } else
                check(checks, "docker", true, "dockerd %s, API %s (ds01d uses %s)",
                      jstr(ver, "Version") ? jstr(ver, "Version") : "?",
                      jstr(ver, "ApiVersion") ? jstr(ver, "ApiVersion") : "?",
                      docker_api_version(d->docker));
        error_free(derr);
        json_decref(ver);

        check(checks, "docker_events", snapshot_stream_up(d->snap), "%s",
              snapshot_stream_up(d->snap) ? "following Docker's event stream"
                                          : "not connected to Docker's event stream");

        if (d->nvml) {
                const struct gpu_slot *slots;
                size_t n = gpu_inventory_slots(d->inv, &slots), alloc = 0;
                for (size_t i = 0; i < n; i++)
                        alloc += slots[i].allocatable;
                check(checks, "nvml", n > 0, "driver %s, %zu slot(s), %zu leasable",
                      nvml_driver_version(d->nvml), n, alloc);
        } else
                check(checks, "nvml", true, "not used: %s GPU backend",
                      gpu_inventory_backend(d->inv));

        _cleanup_free_ char *filter = xasprintf("ds01.instance=%s", d->cfg->instance);
        json_t *list = docker_container_list(d->docker, filter, true, NULL);
        if (list)
                check_ledger(d, checks, list);
        else
                check(checks, "ledger", false, "cannot compare with Docker (not answering)");
        json_decref(list);

        struct error *cerr = NULL;
        struct config *cfg = config_load(d->config_path, &cerr);
        struct limits *lim = cfg ? limits_load(cfg->limits_file, &cerr) : NULL;
        if (cerr)
                check(checks, "config", false,
                      "%s - fix it; the running configuration stays until 'ds01 reload' "
                      "succeeds",
                      cerr->message);
        else
                check(checks, "config", true, "%s and %s are valid", cfg->source, cfg->limits_file);
        error_free(cerr);
        limits_free(lim);
        config_free(cfg);

        check_disk(checks, "disk_state", d->cfg->state_dir);
        check_disk(checks, "disk_log", d->cfg->log_dir);

        check_outside(d, checks);
        if (d->cfg->cluster) {
                check_slurm(d, checks);
                check_slurm_jobs(d, checks);
        }

        int64_t dur = 0, last = monitor_last_tick_ms(d->monitor, &dur);
        int64_t late_ms = 3 * d->cfg->sample_interval_s * 1000 + 5000;
        if (last == 0)
                check(checks, "monitor", true, "no tick yet (every %llds)",
                      (long long)d->cfg->sample_interval_s);
        else
                check(checks, "monitor", now_ms() - last <= late_ms,
                      "last tick %llds ago, took %lld ms (every %llds)",
                      (long long)((now_ms() - last) / 1000), (long long)dur,
                      (long long)d->cfg->sample_interval_s);

        bool ok = true;
        size_t i;
        json_t *ch;
        json_array_foreach (checks, i, ch)
                ok &= json_is_true(json_object_get(ch, "ok"));
        *ret_result = json_pack("{s:b, s:o}", "ok", ok, "checks", checks);
        return 0;
}
