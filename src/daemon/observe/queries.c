/* queries.c - a user's reads: container-list, check-limits, the inbox, ds01 events (see queries.h).
 */
#include "daemon/observe/queries.h"

#include "daemon/containers/datasets.h"
#include "daemon/containers/usercgroup.h"

#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/leases.h"
#include "daemon/images/images.h"
#include "daemon/observe/snapshot.h"
#include "daemon/rules/monitor.h"
#include "daemon/storage/storage.h"
#include "shared/names.h"
#include "shared/parse.h"
#include "shared/strbuf.h"
#include "shared/timestamp.h"

#include <time.h>

static json_t *num_or_null(double v)
{
        return v < 0 ? json_null() : json_real(v);
}

static json_t *int_or_null(int64_t v)
{
        return v < 0 ? json_null() : json_integer(v);
}

/* check-limits' high_demand: the GPUs' demand now and the idle timeout it leaves the caller. */
static json_t *high_demand_json(struct ds01d *d, const struct limit_set *ls)
{
        struct store_container *all = NULL;
        size_t n = 0;
        struct rules_demand dm = {0};
        struct error *err = NULL;
        if (store_list(d->store, -1, &all, &n, &err) < 0)
                err = error_free(err); /* shown as no demand; the ledger logs its own trouble */
        leases_demand(d, all, n, &dm);
        store_containers_free(all, n);
        int64_t now = rules_idle_timeout_s(ls, &dm, NULL);
        return json_pack("{s:b, s:I, s:I, s:I, s:o}", "active",
                         rules_high_demand(&ls->policies, &dm), "leased_slots",
                         (json_int_t)dm.leased, "slots", (json_int_t)dm.slots, "waiting",
                         (json_int_t)dm.waiting, "idle_timeout_in_force_h",
                         now < 0 ? json_null() : json_real((double)now / 3600));
}

json_t *aggregate_json(const struct limit_aggregate *a)
{
        return json_pack("{s:o, s:o, s:o, s:o, s:o}", "cpu_quota", num_or_null(a->cpu_quota),
                         "memory_max", int_or_null(a->memory_max), "memory_high",
                         int_or_null(a->memory_high), "tasks_max", int_or_null(a->tasks_max),
                         "gpu_limit", num_or_null(a->gpu_limit));
}

json_t *aggregate_use_json(struct ds01d *d, uid_t uid)
{
        struct usercgroup_use u;
        if (!usercgroup_use(d, uid, &u))
                return json_null();
        return json_pack("{s:o, s:o, s:o}", "memory", int_or_null(u.memory), "tasks",
                         int_or_null(u.tasks), "cpu_s", num_or_null(u.cpu_s));
}

int queries_limits(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err)
{
        (void)params;
        struct limit_set ls;
        caller_limits(d, c, &ls);
        struct store_container *rows = NULL;
        size_t n = 0;
        if (store_list(d->store, (int64_t)c->uid, &rows, &n, err) < 0) {
                limit_set_release(&ls);
                return -1;
        }
        double used = 0;
        size_t slots = 0;
        json_t *held = json_array();
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < rows[i].n_leases; k++) {
                        used += rows[i].leases[k].weight;
                        slots++;
                        json_array_append_new(held, json_pack("{s:s, s:s, s:f}", "container",
                                                              rows[i].name, "uuid",
                                                              rows[i].leases[k].slot_uuid, "weight",
                                                              rows[i].leases[k].weight));
                }
        const struct limit_policies *p = &ls.policies;
        json_t *lim = json_pack(
            "{s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
            "max_gpu_equivalents", num_or_null(ls.max_gpu_equivalents),
            "max_gpu_slots_per_container", int_or_null(ls.max_gpu_slots_per_container),
            "allow_full_gpu", ls.allow_full_gpu, "max_cpus",
            ls.max_cpus > 0 ? json_real(ls.max_cpus) : json_null(), "memory",
            int_or_null(ls.memory), "memory_swap", int_or_null(ls.memory_swap), "shm_size",
            int_or_null(ls.shm_size), "pids_limit", int_or_null(ls.pids_limit),
            "max_containers_per_user", int_or_null(ls.max_containers_per_user), "max_runtime_h",
            num_or_null(ls.max_runtime_h), "idle_timeout_h", num_or_null(ls.idle_timeout_h),
            "gpu_hold_after_stop_h", num_or_null(ls.gpu_hold_after_stop_h),
            "container_hold_after_stop_h", num_or_null(ls.container_hold_after_stop_h));
        json_object_set_new(lim, "io_read_bps", int_or_null(ls.io_read_bps));
        json_object_set_new(lim, "io_write_bps", int_or_null(ls.io_write_bps));
        json_object_set_new(lim, "ulimit_nofile", int_or_null(ls.ulimit_nofile));
        json_object_set_new(lim, "max_tasks", int_or_null(ls.max_tasks));
        json_object_set_new(lim, "priority", json_integer((json_int_t)ls.priority));
        json_object_set_new(lim, "aggregate", aggregate_json(&ls.aggregate));
        json_object_set_new(lim, "storage_workspace", int_or_null(ls.storage_workspace));
        /* Each build runs under memory and max_cpus above; this many at once. */
        json_object_set_new(lim, "max_builds_per_user",
                            json_integer((json_int_t)d->cfg->max_builds_per_user));
        json_object_set_new(
            lim, "policies",
            json_pack("{s:f, s:f, s:I, s:f, s:f, s:I}", "gpu_idle_threshold", p->gpu_idle_threshold,
                      "cpu_idle_threshold", p->cpu_idle_threshold, "network_idle_threshold",
                      (json_int_t)p->network_idle_threshold, "grace_period_m", p->grace_period_m,
                      "keepalive_max_duration_h", p->keepalive_max_duration_h, "sigterm_grace_s",
                      (json_int_t)p->sigterm_grace_s));
        json_t *pol = json_object_get(lim, "policies");
        json_object_set_new(pol, "high_demand_threshold", num_or_null(p->high_demand_threshold));
        json_object_set_new(pol, "high_demand_idle_reduction",
                            json_real(p->high_demand_idle_reduction));
        json_object_set_new(pol, "idle_detection_window",
                            json_integer((json_int_t)p->idle_detection_window));
        json_object_set_new(pol, "gpu_hold_after_manual_stop_m",
                            num_or_null(p->gpu_hold_after_manual_stop_m));
        *ret_result =
            json_pack("{s:s, s:I, s:s, s:b, s:o, s:{s:f, s:I, s:I, s:o}}", "user", c->login, "uid",
                      (json_int_t)c->uid, "group", ls.group ? ls.group : "", "overridden",
                      ls.overridden, "limits", lim, "usage", "gpu_equivalents", used, "gpu_slots",
                      (json_int_t)slots, "containers", (json_int_t)n, "gpus", held);
        json_object_set_new(json_object_get(*ret_result, "usage"), "builds",
                            json_integer(images_builds_running(c->uid)));
        json_object_set_new(json_object_get(*ret_result, "usage"), "aggregate",
                            aggregate_use_json(d, c->uid));
        json_object_set_new(*ret_result, "datasets", datasets_for_group(d->cfg, ls.group));
        json_object_set_new(*ret_result, "high_demand", high_demand_json(d, &ls));
        json_object_set_new(*ret_result, "storage", storage_json(d, c->uid, &ls));
        store_containers_free(rows, n);
        limit_set_release(&ls);
        return 0;
}

static json_t *inbox_json(const struct store_inbox_msg *v, size_t n)
{
        json_t *a = json_array();
        char ts[32];
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s, s:s}", "id",
                                                   (json_int_t)v[i].id, "container", v[i].container,
                                                   "event", v[i].event, "message", v[i].message,
                                                   "time", format_iso8601(v[i].created_at, ts)));
        return a;
}

int queries_inbox(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err)
{
        json_t *jl = json_object_get(params, "limit");
        struct store_inbox_msg *v = NULL;
        size_t n = 0;
        /* Listing marks everything shown, so it does not pop up again with the next command. */
        struct store_inbox_msg *unseen = NULL;
        size_t n_unseen = 0;
        if (store_inbox_take(d->store, c->uid, &unseen, &n_unseen, err) < 0)
                return -1;
        store_inbox_free(unseen, n_unseen);
        if (store_inbox_list(d->store, c->uid, jl ? json_integer_value(jl) : 50, &v, &n, err) < 0)
                return -1;
        *ret_result = json_pack("{s:o}", "messages", inbox_json(v, n));
        store_inbox_free(v, n);
        return 0;
}

json_t *queries_inbox_notices(struct ds01d *d, uid_t uid)
{
        struct store_inbox_msg *v = NULL;
        size_t n = 0;
        if (store_inbox_take(d->store, uid, &v, &n, NULL) < 0 || n == 0) {
                store_inbox_free(v, n);
                return NULL;
        }
        json_t *a = json_array();
        char ts[32];
        for (size_t i = 0; i < n; i++)
                json_array_append_new(
                    a, json_sprintf("[%s] %s", format_iso8601(v[i].created_at, ts), v[i].message));
        store_inbox_free(v, n);
        return a;
}

/* "2h" (ago), "2026-11-28", "2026-11-28T10:00:00Z" -> unix seconds; -1 if none of those. */
static int64_t when(const char *s)
{
        int64_t secs;
        if (parse_duration(s, &secs) == 0)
                return now_s() - secs;
        return timestamp_parse(s, &secs) == 0 ? secs : -1;
}

int queries_events(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err)
{
        const char *user = jstr(params, "user");
        const char *container = jstr(params, "container");
        const char *since = jstr(params, "since"), *until = jstr(params, "until");
        json_t *jl = json_object_get(params, "limit");
        /* A user reads their own events; administrators anyone's. */
        if (user && !streq(user, c->login) && !c->admin)
                return error_set(err, DS01_EPERM,
                                 "only administrators read other users' events - leave out "
                                 "--user to see yours");
        struct events_filter f = {
            .user = c->admin ? user : c->login,
            .type = jstr(params, "type"),
            .limit = jl ? (size_t)json_integer_value(jl) : 200,
            .after = jstr(params, "after"),
        };
        _cleanup_free_ char *full = NULL;
        if (container) {
                _cleanup_free_ char *p = NULL, *u = NULL;
                if (names_split_container(container, &p, &u) < 0) {
                        if (names_check_project(container, err) < 0)
                                return -1;
                        full = names_container(container, c->user_part);
                } else if (names_check_project(p, err) < 0 || names_check_user_part(u, err) < 0) {
                        return -1;
                } else {
                        full = xstrdup(container);
                }
                f.container = full;
        }
        if (since && (f.since = when(since)) < 0)
                return error_set(err, DS01_EUSAGE,
                                 "--since '%.40s': give a time (2026-11-28, "
                                 "2026-11-28T10:00:00Z) or how long ago (2h, 30m)",
                                 since);
        if (until && (f.until = when(until)) < 0)
                return error_set(err, DS01_EUSAGE,
                                 "--until '%.40s': give a time (2026-11-28, "
                                 "2026-11-28T10:00:00Z) or how long ago (2h, 30m)",
                                 until);
        json_t *res = events_query(d->events, &f, err);
        if (!res)
                return -1;
        *ret_result = res;
        return 0;
}
