/* leases.c - GPU leases of containers: reserve, re-lease after a hold, hold expiry (see leases.h).
 */
#include "daemon/gpus/leases.h"
#include "daemon/gpus/queuekick.h"

#include "daemon/containers/managed.h"
#include "daemon/containers/oplock.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/gpus/outside.h"
#include "daemon/gpus/pool.h"
#include "daemon/gpus/reservations.h"
#include "daemon/observe/counters.h"
#include "shared/log.h"
#include "shared/strv.h"

json_t *leases_json(struct ds01d *d, char **uuids)
{
        json_t *a = json_array();
        for (size_t i = 0; uuids && uuids[i]; i++) {
                const struct gpu_slot *s = gpu_inventory_find(d->inv, uuids[i]);
                json_t *g = json_pack("{s:s}", "uuid", uuids[i]);
                if (s) {
                        json_object_set_new(g, "name", json_string(s->name));
                        json_object_set_new(g, "index", json_integer(s->gpu_index));
                        json_object_set_new(g, "weight", json_real(s->weight));
                        if (s->profile)
                                json_object_set_new(g, "profile", json_string(s->profile));
                }
                json_array_append_new(a, g);
        }
        return a;
}

/* store_reserve with the slots that something outside ds01 is using (gpus/outside.h) withheld. */
static int reserve_beside_outside(struct ds01d *d, struct store_reservation_req *req,
                                  char ***ret_uuids, struct error **err)
{
        _cleanup_free_ char *why = NULL;
        char **busy = outside_busy(d->outside, &why);
        req->outside = busy;
        req->outside_why = why;
        int r = store_reserve(d->store, req, ret_uuids, err);
        strv_free(busy);
        req->outside = NULL;
        req->outside_why = NULL;
        return r;
}

/* Reserve GPUs for a container: the one step a cluster backend (Slurm) would replace.
 * existing: the container is already in the ledger (a re-lease after its hold expired). */
int leases_reserve(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                   const char *container, const char *project, struct pool_request *preq,
                   bool existing, char ***ret_uuids, bool *ret_busy, struct error **err)
{
        if (ret_busy)
                *ret_busy = false;
        const struct gpu_slot **cands = NULL;
        struct error *perr = NULL;
        size_t n_cands = pool_candidates(d->inv, ls, preq, &cands, &perr);
        if (perr) {
                free(cands);
                error_set(err, perr->code, "%s", perr->message);
                error_free(perr);
                return -1;
        }
        struct resv_check rc = {0};
        if (preq->n_slots > 0 && resv_check(d, c->login, ls, &rc, err) < 0) {
                resv_check_release(&rc);
                free(cands);
                return -1;
        }
        struct store_reservation_req req = {
            .container = container,
            .project = project,
            .user = c->login,
            .uid = c->uid,
            .n_slots = preq->n_slots,
            .max_gpu_equivalents = ls->max_gpu_equivalents,
            .max_slots_per_container = ls->max_gpu_slots_per_container,
            .max_containers = ls->max_containers_per_user,
            .candidates = cands,
            .n_candidates = n_cands,
            .pick = pool_pick,
            .pick_ctx = preq,
            .existing = existing,
            .withheld = rc.withheld,
            .withheld_why = rc.why,
            .ret_busy = ret_busy,
            .queue_ahead = preq->queue_ahead,
        };
        int r = reserve_beside_outside(d, &req, ret_uuids, err);
        if (r == 0)
                resv_note_lease(d, &rc, *ret_uuids);
        free(cands);
        resv_check_release(&rc);
        return r;
}

/* The container holding slot uuid in the ledger's rows, or NULL. */
static const char *holder_of(const struct store_container *rows, size_t n, const char *uuid)
{
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < rows[i].n_leases; k++)
                        if (streq(rows[i].leases[k].slot_uuid, uuid))
                                return rows[i].name;
        return NULL;
}

int leases_reserve_slots(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                         const char *container, const char *project,
                         const struct gpu_slot *const *slots, size_t n, char ***ret_uuids,
                         struct error **err)
{
        struct store_container *rows = NULL;
        size_t n_rows = 0;
        if (store_list(d->store, -1, &rows, &n_rows, err) < 0)
                return -1;
        for (size_t i = 0; i < n; i++) {
                const char *h = holder_of(rows, n_rows, slots[i]->uuid);
                if (h) {
                        error_set(err, DS01_ERR,
                                  "GPU %d (%s), which the scheduler gave this job, is leased to "
                                  "container %s in ds01's ledger - the scheduler and ds01 "
                                  "disagree; an administrator checks gres.conf and ds01 gpus",
                                  slots[i]->gpu_index, slots[i]->uuid, h);
                        store_containers_free(rows, n_rows);
                        return -1;
                }
        }
        store_containers_free(rows, n_rows);
        bool busy = false;
        struct store_reservation_req req = {
            .container = container,
            .project = project,
            .user = c->login,
            .uid = c->uid,
            .n_slots = (int)n,
            .max_gpu_equivalents = ls->max_gpu_equivalents,
            .max_slots_per_container = ls->max_gpu_slots_per_container,
            .max_containers = ls->max_containers_per_user,
            .candidates = slots,
            .n_candidates = n,
            .ret_busy = &busy,
        };
        /* reservations (resv_check) are the scheduler's then: Slurm has its own */
        return reserve_beside_outside(d, &req, ret_uuids, err);
}

/* "2" -> 2 GPUs; "mig:3g.20gb:1" -> 1 MIG instance of 3g.20gb or larger. */
static void parse_gpu_request(const char *s, struct pool_request *ret, char **ret_profile)
{
        memset(ret, 0, sizeof(*ret));
        *ret_profile = NULL;
        if (!s)
                return;
        if (startswith(s, "mig:")) {
                const char *p = s + 4, *colon = strrchr(p, ':');
                if (colon) {
                        *ret_profile = xstrndup(p, (size_t)(colon - p));
                        ret->mig_profile = *ret_profile;
                        ret->n_slots = (int)strtol(colon + 1, NULL, 10);
                }
                return;
        }
        ret->n_slots = (int)strtol(s, NULL, 10);
}

int leases_relet(struct ds01d *d, const struct caller *owner, const json_t *inspect,
                 const char *name, const struct limit_set *ls, char ***ret_got, bool *ret_same,
                 struct error **err)
{
        char **old = NULL;
        size_t n_old = 0;
        strv_split_csv(managed_label(inspect, "ds01.gpu.uuids"), &old, &n_old);
        _cleanup_free_ char *profile = NULL;
        struct pool_request preq;
        const char *request = managed_label(inspect, "ds01.gpu.request");
        parse_gpu_request(request, &preq, &profile);
        if (!request)
                preq.n_slots = (int)n_old;
        _cleanup_free_ char *project = managed_project(inspect);
        int r = -1;
        *ret_same = false;

        /* 1. The slots it had, if all of them are free and still exist. */
        const struct gpu_slot **prev = xcalloc(n_old + 1, sizeof(*prev));
        size_t n_prev = 0;
        for (size_t i = 0; i < n_old; i++) {
                const struct gpu_slot *sl = gpu_inventory_find(d->inv, old[i]);
                if (sl && sl->allocatable)
                        prev[n_prev++] = sl;
        }
        struct store_reservation_req req = {
            .container = name,
            .project = project ? project : "",
            .user = owner->login,
            .uid = owner->uid,
            .n_slots = preq.n_slots,
            .max_gpu_equivalents = ls->max_gpu_equivalents,
            .max_slots_per_container = ls->max_gpu_slots_per_container,
            .max_containers = ls->max_containers_per_user,
            .candidates = prev,
            .n_candidates = n_prev,
            .existing = true,
        };
        struct error *e1 = NULL;
        struct resv_check rc = {0};
        _cleanup_free_ char *busy_why = NULL; /* before the first goto: its cleanup runs at out */
        if (resv_check(d, owner->login, ls, &rc, err) < 0) {
                resv_check_release(&rc);
                free(prev);
                goto out;
        }
        req.withheld = rc.withheld;
        req.withheld_why = rc.why;
        char **busy = outside_busy(d->outside, &busy_why);
        req.outside = busy;
        req.outside_why = busy_why;
        int same = n_prev == n_old && (size_t)preq.n_slots == n_old
                       ? store_reserve(d->store, &req, ret_got, &e1)
                       : -1;
        strv_free(busy);
        if (same == 0)
                resv_note_lease(d, &rc, *ret_got);
        resv_check_release(&rc);
        if (same == 0) {
                free(prev);
                *ret_same = true;
                r = store_bind(d->store, name, jstr(inspect, "Id"), err);
                if (r < 0)
                        store_release_leases(d->store, name, NULL, NULL);
                goto out;
        }
        free(prev);
        if (e1 && e1->code != DS01_ERESOURCE) {
                error_set(err, e1->code, "%s", e1->message);
                error_free(e1);
                goto out;
        }
        error_free(e1);

        /* 2. Any slots, by the placement policy; the caller recreates the container on them. */
        r = leases_reserve(d, owner, ls, name, project ? project : "", &preq, true, ret_got, NULL,
                           err);
out:
        store_strv_free(old);
        return r;
}

void leases_sweep_holds(struct ds01d *d)
{
        struct store_container *rows = NULL;
        size_t n = 0;
        struct error *err = NULL;
        if (store_list(d->store, -1, &rows, &n, &err) < 0) {
                log_error("hold sweep: %s", err->message);
                error_free(err);
                return;
        }
        int64_t now = now_s();
        bool waiting = store_queue_count(d->store) > 0; /* rules_gpu_hold_s */
        for (size_t i = 0; i < n; i++) {
                const struct store_container *sc = &rows[i];
                int64_t held_since = 0;
                for (size_t k = 0; k < sc->n_leases; k++)
                        if (streq(sc->leases[k].state, "held") &&
                            (held_since == 0 || sc->leases[k].since < held_since))
                                held_since = sc->leases[k].since;
                if (held_since == 0)
                        continue;
                /* The owner's limits decide the hold; a deleted account gets the defaults. */
                struct caller owner;
                bool known = caller_for(sc->uid, &owner) == 0;
                struct limit_set ls;
                limits_resolve(d->limits, known ? owner.login : sc->user, owner.gids, owner.n_gids,
                               &ls);
                int64_t hold_s = rules_gpu_hold_s(&ls, sc->manual_stop_at > 0, waiting);
                limit_set_release(&ls);
                caller_release(&owner);
                if (hold_s < 0 || now - held_since < hold_s)
                        continue;
                if (oplock_held(d->ops, sc->name))
                        continue;
                /* Started again (outside ds01, its event not handled yet): bound, not free. */
                json_t *ins =
                    sc->docker_id ? docker_container_inspect(d->docker, sc->docker_id, NULL) : NULL;
                bool running =
                    json_is_true(json_object_get(json_object_get(ins, "State"), "Running"));
                json_decref(ins);
                if (running) {
                        store_unhold(d->store, sc->name, NULL);
                        continue;
                }
                /* Only what is still held when the release commits: a start binds its leases
                 * before it starts the container. */
                char **rel = NULL;
                if (store_release_held(d->store, sc->name, &rel, &err) < 0) {
                        log_error("releasing the held GPUs of %s: %s", sc->name, err->message);
                        err = error_free(err);
                        continue;
                }
                char buf[32];
                size_t n_rel = 0;
                while (rel && rel[n_rel])
                        n_rel++;
                if (n_rel == 0) {
                        store_strv_free(rel);
                        continue;
                }
                log_notice("%s: GPU hold of %s after stop expired; released %zu GPU(s)", sc->name,
                           format_duration(hold_s, buf), n_rel);
                counters_action(COUNTERS_HOLD_RELEASE);
                events_log(d->events, "gpu.release", sc->user,
                           json_pack("{s:s, s:o, s:s, s:f, s:b}", "container", sc->name, "gpus",
                                     strv_to_json(rel), "reason", "hold after stop expired",
                                     "gpu_hold_after_stop_h", (double)hold_s / 3600,
                                     "owner_stopped", sc->manual_stop_at > 0));
                store_strv_free(rel);
                queuekick_ring(d->kick);
        }
        store_containers_free(rows, n);
}

int leases_stopped(struct ds01d *d, const char *name)
{
        struct store_container sc;
        if (store_get(d->store, name, &sc, NULL) < 0)
                return 0;
        int64_t job = sc.slurm_job;
        char *user = xstrdup(sc.user ? sc.user : "");
        store_container_release(&sc);
        if (job <= 0) {
                free(user);
                return store_hold(d->store, name, NULL);
        }
        char **rel = NULL;
        struct error *err = NULL;
        int n = 0;
        if (store_release_leases(d->store, name, &rel, &err) < 0) {
                log_error("%s: releasing the GPUs of Slurm job %lld's stopped container: %s", name,
                          (long long)job, err->message);
                error_free(err);
        }
        while (rel && rel[n])
                n++;
        if (n > 0) {
                log_notice("%s stopped: released its %d GPU(s) (Slurm job %lld: no hold)", name, n,
                           (long long)job);
                events_log(d->events, "gpu.release", user,
                           json_pack("{s:s, s:o, s:s, s:I}", "container", name, "gpus",
                                     strv_to_json(rel), "reason",
                                     "stopped (a Slurm job's: no hold)", "slurm_job",
                                     (json_int_t)job));
                queuekick_ring(d->kick);
        }
        store_strv_free(rel);
        free(user);
        return n;
}

void leases_demand(struct ds01d *d, const struct store_container *rows, size_t n,
                   struct rules_demand *ret)
{
        *ret = (struct rules_demand){0};
        const struct gpu_slot *slots;
        size_t n_slots = gpu_inventory_slots(d->inv, &slots);
        for (size_t i = 0; i < n_slots; i++) {
                if (!slots[i].allocatable)
                        continue;
                ret->slots++;
                bool leased = false;
                for (size_t c = 0; c < n && !leased; c++)
                        for (size_t k = 0; k < rows[c].n_leases && !leased; k++)
                                leased = streq(rows[c].leases[k].slot_uuid, slots[i].uuid);
                ret->leased += leased;
        }
        ret->waiting = (size_t)store_queue_count(d->store);
}
