/* store-leases.c - the ledger's reservations, lease state changes and drained slots. */
#include "daemon/ledger/store-internal.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "shared/strbuf.h"

/* GPU-equivalents are sums of sevenths: compare them with a little slack. */
#define STORE_EPSILON 1e-9
/* Refusal messages name at most this many containers. */
#define STORE_MAX_NAMES_LISTED 8

/* "'a', 'b', 'c'", at most STORE_MAX_NAMES_LISTED of them, then "and N more". */
static char *quoted_list(const struct strv *sv)
{
        struct strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < sv->n && i < STORE_MAX_NAMES_LISTED; i++)
                strbuf_addf(&sb, "%s'%s'", i ? ", " : "", sv->v[i]);
        if (sv->n > STORE_MAX_NAMES_LISTED)
                strbuf_addf(&sb, " and %zu more", sv->n - STORE_MAX_NAMES_LISTED);
        return strbuf_detach(&sb);
}

/* GPU-equivalents for people: "2.0", "0.43", "1.5". */
static const char *format_ge(double v, char buf[static 32])
{
        snprintf(buf, 32, "%.2f", v);
        size_t n = strlen(buf);
        while (n > 2 && buf[n - 1] == '0' && buf[n - 2] != '.')
                buf[--n] = '\0';
        return buf;
}

static const char *plural(int64_t n)
{
        return n == 1 ? "" : "s";
}

/* ---- decisions ---- */

static int row_exists(struct store *s, enum stmt_id id, const char *key, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, id, "t", key);
        if (!st)
                return -1;
        return store_step(s, st, id, err);
}

static int check_container_limit(struct store *s, const struct store_reservation_req *req,
                                 struct error **err)
{
        if (req->max_containers < 0)
                return 0;
        sqlite3_stmt *st = store_query(s, err, S_USER_CONTAINERS, "i", (int64_t)req->uid);
        if (!st)
                return -1;
        _cleanup_strv_ struct strv projects = {0};
        int r;
        while ((r = store_step(s, st, S_USER_CONTAINERS, err)) > 0)
                strv_push(&projects, store_column_str(st, 0));
        if (r < 0)
                return -1;
        if ((int64_t)projects.n < req->max_containers)
                return 0;
        if (projects.n == 0)
                return error_set(err, DS01_ERESOURCE,
                                 "container limit reached: your group may not run containers - "
                                 "ask an administrator");
        _cleanup_free_ char *list = quoted_list(&projects);
        return error_set(err, DS01_ERESOURCE,
                         "container limit reached: %zu of %" PRId64
                         " containers in use (%s) - retire one (container-retire NAME) first",
                         projects.n, req->max_containers, list);
}

static int check_slots_per_container(const struct store_reservation_req *req, struct error **err)
{
        int64_t max = req->max_slots_per_container;
        if (max < 0 || req->n_slots <= max)
                return 0;
        if (max == 0)
                return error_set(err, DS01_ERESOURCE,
                                 "containers in your group may not have GPUs; you asked for %d - "
                                 "deploy with --cpu-only",
                                 req->n_slots);
        return error_set(err, DS01_ERESOURCE,
                         "a container may have at most %" PRId64
                         " GPU%s in your group; you asked for %d - ask for fewer (--gpus %" PRId64
                         ")",
                         max, plural(max), req->n_slots, max);
}

/* need: the GPU-equivalents the request would add. */
static int check_quota(struct store *s, const struct store_reservation_req *req, double need,
                       struct error **err)
{
        double quota = req->max_gpu_equivalents;
        if (quota < 0 || need <= STORE_EPSILON)
                return 0;
        sqlite3_stmt *st = store_query(s, err, S_USER_HOLDINGS, "i", (int64_t)req->uid);
        if (!st)
                return -1;
        /* Which container holds how much: "'exp-a' (1.0), 'exp-b' (0.43)". */
        _cleanup_strv_ struct strv holders = {0};
        struct strbuf held_by = STRBUF_INIT;
        double held = 0;
        int r;
        while ((r = store_step(s, st, S_USER_HOLDINGS, err)) > 0) {
                double w = sqlite3_column_double(st, 1);
                held += w;
                if (w > STORE_EPSILON) {
                        char b[32];
                        strv_push(&holders, store_column_str(st, 0));
                        if (holders.n <= STORE_MAX_NAMES_LISTED)
                                strbuf_addf(&held_by, "%s'%s' (%s)", holders.n > 1 ? ", " : "",
                                            store_column_str(st, 0), format_ge(w, b));
                }
        }
        if (holders.n > STORE_MAX_NAMES_LISTED)
                strbuf_addf(&held_by, " and %zu more", holders.n - STORE_MAX_NAMES_LISTED);
        _cleanup_free_ char *list = strbuf_detach(&held_by);
        if (r < 0)
                return -1;
        if (held + need <= quota + STORE_EPSILON)
                return 0;

        char b_held[32], b_quota[32], b_need[32];
        format_ge(quota, b_quota);
        format_ge(need, b_need);
        if (holders.n == 0) {
                if (quota <= STORE_EPSILON)
                        return error_set(err, DS01_ERESOURCE,
                                         "your group has no GPU quota; you asked for %s "
                                         "GPU-equivalents - deploy with --cpu-only",
                                         b_need);
                return error_set(err, DS01_ERESOURCE,
                                 "asked for %s GPU-equivalents but your quota is %s - ask for "
                                 "fewer GPUs",
                                 b_need, b_quota);
        }
        format_ge(held, b_held);
        _cleanup_free_ char *asking = held + STORE_EPSILON < quota
                                          ? xasprintf(", and you asked for %s more", b_need)
                                          : xstrdup("");
        return error_set(err, DS01_ERESOURCE,
                         "GPU quota reached: %s of %s GPU-equivalents in use by %s%s - retire one "
                         "(container-retire NAME), or ask for fewer GPUs",
                         b_held, b_quota, list, asking);
}

static int insert_lease(struct store *s, const struct gpu_slot *slot, const char *container,
                        unsigned uid, const char *state, int64_t since, int64_t leased_at,
                        struct error **err)
{
        return store_exec(s, err, S_INSERT_LEASE, "ttitdiit", slot->uuid, container, (int64_t)uid,
                          state, slot->weight, since, leased_at, slot->parent_uuid);
}

/* 1 when the slot, its physical GPU (leased whole) or one of its MIG instances is leased. */
static int family_leased(struct store *s, const struct gpu_slot *slot, struct error **err)
{
        sqlite3_stmt *st =
            store_query(s, err, S_FAMILY_LEASED, "tt", slot->uuid, slot->parent_uuid);
        if (!st)
                return -1;
        return store_step(s, st, S_FAMILY_LEASED, err);
}

static size_t pick_first(const struct store_free_slot *free_, size_t n_free, size_t n, void *ctx,
                         size_t *ret_idx)
{
        (void)free_;
        (void)ctx;
        size_t k = n < n_free ? n : n_free;
        for (size_t i = 0; i < k; i++)
                ret_idx[i] = i;
        return k;
}

static bool listed(char *const *list, const char *uuid)
{
        for (size_t i = 0; list && list[i]; i++)
                if (streq(list[i], uuid))
                        return true;
        return false;
}

/* The slots a refusal does not count as usable, and why: " (1 more drained for maintenance, 2
 * more reserved: 'exam' from ... to ..., 1 more in use outside ds01: GPU 2 is used by ...)",
 * or "". */
static char *kept_text(const struct store_reservation_req *req, size_t n_drained, size_t n_withheld,
                       size_t n_outside)
{
        if (!n_drained && !n_withheld && !n_outside)
                return xstrdup("");
        struct strbuf sb = STRBUF_INIT;
        if (n_drained)
                strbuf_addf(&sb, "%zu more drained for maintenance", n_drained);
        if (n_withheld)
                strbuf_addf(&sb, "%s%zu more reserved: %s", sb.len ? ", " : "", n_withheld,
                            req->withheld_why ? req->withheld_why : "for others");
        if (n_outside)
                strbuf_addf(&sb, "%s%zu more in use outside ds01: %s", sb.len ? ", " : "",
                            n_outside,
                            req->outside_why ? req->outside_why : "a process ds01 does not manage");
        _cleanup_free_ char *kept = strbuf_detach(&sb);
        return xasprintf(" (%s)", kept);
}

static int reserve_locked(struct store *s, const struct store_reservation_req *req,
                          struct strv *ret_uuids, struct error **err)
{
        int r = row_exists(s, S_CONTAINER_EXISTS, req->container, err);
        if (r < 0)
                return -1;
        if (r > 0 && !req->existing)
                return error_set(err, DS01_ERR, "container '%s' is already recorded in the ledger",
                                 req->container);
        if (r == 0 && req->existing)
                return error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                                 req->container);
        if ((!req->existing && check_container_limit(s, req, err) < 0) ||
            check_slots_per_container(req, err) < 0)
                return -1;

        /* The free candidates (not leased, not drained) with their history, for the policy;
         * count the others and note the cheapest usable slot, for the messages below. */
        _cleanup_strv_ struct strv seen = {0}; /* candidates may repeat: count each once */
        _cleanup_free_ struct store_free_slot *free_ =
            xcalloc(req->n_candidates + 1, sizeof(*free_));
        size_t n_free = 0, n_leased = 0, n_drained = 0, n_withheld = 0, n_outside = 0;
        double cheapest = INFINITY;
        for (size_t i = 0; req->n_slots > 0 && i < req->n_candidates; i++) {
                const struct gpu_slot *c = req->candidates[i];
                if (strv_contains(&seen, c->uuid))
                        continue;
                strv_push(&seen, c->uuid);
                r = row_exists(s, S_IS_DRAINED, c->uuid, err);
                if (r < 0)
                        return -1;
                if (r > 0) {
                        n_drained++;
                        continue;
                }
                if (listed(req->withheld, c->uuid)) {
                        n_withheld++;
                        continue;
                }
                if (listed(req->outside, c->uuid)) { /* never leased while it is in use outside */
                        n_outside++;
                        continue;
                }
                cheapest = fmin(cheapest, c->weight);
                r = family_leased(s, c, err);
                if (r < 0)
                        return -1;
                if (r > 0) {
                        n_leased++;
                        continue;
                }
                sqlite3_stmt *st = store_query(s, err, S_SLOT_USAGE, "t", c->uuid);
                if (!st || store_step(s, st, S_SLOT_USAGE, err) < 0)
                        return -1;
                free_[n_free++] = (struct store_free_slot){
                    .slot = c,
                    .leased_s = sqlite3_column_int64(st, 0),
                    .last_released = sqlite3_column_int64(st, 1),
                };
        }
        if (req->queue_ahead)
                n_free = 0;
        _cleanup_free_ size_t *idx = xcalloc((size_t)req->n_slots + 1, sizeof(*idx));
        store_pick_fn pick = req->pick ? req->pick : pick_first;
        size_t n_picked = req->n_slots > 0 && n_free > 0
                              ? pick(free_, n_free, (size_t)req->n_slots, req->pick_ctx, idx)
                              : 0;
        if (n_picked > (size_t)req->n_slots)
                n_picked = (size_t)req->n_slots;
        double weight = 0;
        for (size_t i = 0; i < n_picked; i++)
                weight += free_[idx[i]].slot->weight;

        /* Quota first: when it would be exceeded whichever slots were free, waiting for a free
         * GPU cannot help. A missing slot costs at least the cheapest candidate. */
        size_t usable = seen.n - n_drained - n_withheld - n_outside;
        size_t missing = (size_t)req->n_slots - n_picked;
        double need = weight + (missing && isfinite(cheapest) ? (double)missing * cheapest : 0);
        if (check_quota(s, req, need, err) < 0)
                return -1;
        if (missing) {
                /* a slot in use outside ds01 is free again when that ends: not "fewer GPUs",
                 * and a wait can help */
                size_t capacity = usable + n_outside;
                if (req->ret_busy)
                        *req->ret_busy = capacity >= (size_t)req->n_slots;
                _cleanup_free_ char *drained = kept_text(req, n_drained, n_withheld, n_outside);
                if (capacity == 0)
                        return error_set(err, DS01_ERESOURCE,
                                         "no GPU free: there is no GPU you may use on this "
                                         "server%s - deploy with --cpu-only",
                                         drained);
                if ((size_t)req->n_slots > capacity)
                        return error_set(err, DS01_ERESOURCE,
                                         "you asked for %d GPUs but this server has %zu you may "
                                         "use%s - ask for fewer",
                                         req->n_slots, capacity, drained);
                /* a new container may wait in the queue (gpus/queue.h); a start after a hold
                 * may only try again */
                const char *wait =
                    req->existing ? "try again later" : "add --wait to wait in the queue for it";
                if (n_picked == 0)
                        return error_set(err, DS01_ERESOURCE,
                                         "no GPU free: %zu of %zu GPUs are leased%s - %s, or "
                                         "deploy with --cpu-only",
                                         n_leased, usable, drained, wait);
                return error_set(err, DS01_ERESOURCE,
                                 "not enough GPUs free: you asked for %d but %zu of %zu GPUs are "
                                 "leased%s - %s, ask for fewer GPUs, or deploy with --cpu-only",
                                 req->n_slots, n_leased, usable, drained, wait);
        }

        int64_t now = now_s();
        if (!req->existing &&
            store_exec(s, err, S_INSERT_CONTAINER, "tttitti", req->container, req->project,
                       req->user, (int64_t)req->uid, (const char *)NULL, "reserved", now) < 0)
                return -1;
        for (size_t i = 0; i < n_picked; i++) {
                const struct gpu_slot *c = free_[idx[i]].slot;
                if (insert_lease(s, c, req->container, req->uid, "reserved", now, now, err) < 0)
                        return -1;
                strv_push(ret_uuids, c->uuid);
        }
        return 0;
}

int store_reserve(struct store *s, const struct store_reservation_req *req, char ***ret_uuids,
                  struct error **err)
{
        assert(s && req && req->container && req->project && req->user && ret_uuids);
        if (req->n_slots < 0 || (req->n_candidates > 0 && !req->candidates))
                return error_set(err, DS01_ERR, "reserving '%s': invalid request for %d GPUs",
                                 req->container, req->n_slots);
        _cleanup_strv_ struct strv uuids = {0};
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        if (store_tx_end(s, reserve_locked(s, req, &uuids, err), err) < 0)
                return -1;
        *ret_uuids = strv_take(&uuids);
        return 0;
}

static int bind_locked(struct store *s, const char *container, const char *docker_id,
                       struct error **err)
{
        if (store_exec(s, err, S_BIND_CONTAINER, "tt", container, docker_id) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0)
                return error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                                 container);
        return store_exec(s, err, S_BIND_LEASES, "ti", container, now_s());
}

int store_bind(struct store *s, const char *container, const char *docker_id, struct error **err)
{
        assert(s && container && docker_id);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, bind_locked(s, container, docker_id, err), err);
}

static int forget_locked(struct store *s, const char *container, struct strv *ret_released,
                         struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_CONTAINER_LEASE_UUIDS, "t", container);
        if (!st)
                return -1;
        int r;
        while ((r = store_step(s, st, S_CONTAINER_LEASE_UUIDS, err)) > 0)
                strv_push(ret_released, store_column_str(st, 0));
        if (r < 0)
                return -1;
        if (store_exec(s, err, S_ARCHIVE_LEASES, "ti", container, now_s()) < 0)
                return -1;
        /* ON DELETE CASCADE removes the leases. */
        return store_exec(s, err, S_DELETE_CONTAINER, "t", container);
}

int store_forget(struct store *s, const char *container, char ***ret_released, struct error **err)
{
        assert(s && container);
        _cleanup_strv_ struct strv released = {0};
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        if (store_tx_end(s, forget_locked(s, container, &released, err), err) < 0)
                return -1;
        if (ret_released)
                *ret_released = strv_take(&released);
        return 0;
}

static int changes_locked(struct store *s, enum stmt_id id, const char *container,
                          struct error **err)
{
        if (store_exec(s, err, id, "ti", container, now_s()) < 0)
                return -1;
        return sqlite3_changes(s->db);
}

static int update_leases(struct store *s, enum stmt_id id, const char *container,
                         struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int n = changes_locked(s, id, container, err);
        if (store_tx_end(s, n < 0 ? -1 : 0, err) < 0)
                return -1;
        return n;
}

int store_hold(struct store *s, const char *container, struct error **err)
{
        return update_leases(s, S_HOLD_LEASES, container, err);
}

int store_unhold(struct store *s, const char *container, struct error **err)
{
        return update_leases(s, S_UNHOLD_LEASES, container, err);
}

/* The statements of a release: every lease of the container, or only its held ones. */
static const enum stmt_id release_all[3] = {S_CONTAINER_LEASE_UUIDS, S_ARCHIVE_LEASES,
                                            S_DELETE_LEASES};
static const enum stmt_id release_held[3] = {S_HELD_LEASE_UUIDS, S_ARCHIVE_HELD, S_DELETE_HELD};

static int release_locked(struct store *s, const char *container, const enum stmt_id ids[3],
                          struct strv *ret_released, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, ids[0], "t", container);
        if (!st)
                return -1;
        int r;
        while ((r = store_step(s, st, ids[0], err)) > 0)
                strv_push(ret_released, store_column_str(st, 0));
        if (r < 0 || store_exec(s, err, ids[1], "ti", container, now_s()) < 0)
                return -1;
        return store_exec(s, err, ids[2], "t", container);
}

static int release(struct store *s, const char *container, const enum stmt_id ids[3],
                   char ***ret_released, struct error **err)
{
        assert(s && container);
        _cleanup_strv_ struct strv released = {0};
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        if (store_tx_end(s, release_locked(s, container, ids, &released, err), err) < 0)
                return -1;
        if (ret_released)
                *ret_released = strv_take(&released);
        return 0;
}

int store_release_leases(struct store *s, const char *container, char ***ret_released,
                         struct error **err)
{
        return release(s, container, release_all, ret_released, err);
}

int store_release_held(struct store *s, const char *container, char ***ret_released,
                       struct error **err)
{
        return release(s, container, release_held, ret_released, err);
}

int store_unbind(struct store *s, const char *container, struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, store_exec(s, err, S_UNBIND_CONTAINER, "t", container), err);
}

bool store_records(const struct store_container *c, const char *name, const char *docker_id)
{
        return c && c->docker_id && docker_id && streq(c->state, "bound") && streq(c->name, name) &&
               streq(c->docker_id, docker_id);
}

int store_drain(struct store *s, const char *slot_uuid, const char *by, const char *reason,
                struct error **err)
{
        assert(s && slot_uuid && by && reason);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = store_exec(s, err, S_INSERT_DRAIN, "ttti", slot_uuid, by, reason, now_s());
        int n = r < 0 ? -1 : sqlite3_changes(s->db);
        if (store_tx_end(s, r, err) < 0)
                return -1;
        return n;
}

int store_undrain(struct store *s, const char *slot_uuid, struct error **err)
{
        assert(s && slot_uuid);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = store_exec(s, err, S_DELETE_DRAIN, "t", slot_uuid);
        int n = r < 0 ? -1 : sqlite3_changes(s->db);
        if (store_tx_end(s, r, err) < 0)
                return -1;
        return n;
}

static int drains_locked(struct store *s, struct store_drain **v, size_t *n, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_LIST_DRAINS, "");
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = store_step(s, st, S_LIST_DRAINS, err)) > 0) {
                *v = xgrow(*v, *n, &cap, sizeof(**v));
                (*v)[(*n)++] = (struct store_drain){
                    .slot_uuid = store_column_strdup(st, 0),
                    .by = store_column_strdup(st, 1),
                    .reason = store_column_strdup(st, 2),
                    .since = sqlite3_column_int64(st, 3),
                };
        }
        return r < 0 ? -1 : 0;
}

int store_drains(struct store *s, struct store_drain **ret, size_t *ret_n, struct error **err)
{
        assert(s && ret && ret_n);
        struct store_drain *v = NULL;
        size_t n = 0;
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        if (store_tx_end(s, drains_locked(s, &v, &n, err), err) < 0) {
                store_drains_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void store_drains_free(struct store_drain *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].slot_uuid);
                free(v[i].by);
                free(v[i].reason);
        }
        free(v);
}
