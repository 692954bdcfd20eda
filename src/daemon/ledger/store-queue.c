/* store-queue.c - the ledger's queue of deploys waiting for GPUs, and the recent usage that
 * orders it (see store.h, gpus/queue.h). */
#include "daemon/ledger/store-internal.h"

#include "shared/log.h"

#include <assert.h>

static int add_locked(struct store *s, const struct store_queued *q, int64_t *ret_id,
                      struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_QUEUE_EXISTS, "it", (int64_t)q->uid, q->project);
        int k = st ? store_step(s, st, S_QUEUE_EXISTS, err) : -1;
        if (k < 0)
                return -1;
        if (k > 0)
                return error_set(err, DS01_EUSAGE,
                                 "a deploy of '%s' is waiting already - gpu-queue shows it; "
                                 "gpu-queue leave %s cancels it",
                                 q->project, q->project);
        if (store_exec(s, err, S_QUEUE_ADD, "itttiii", (int64_t)q->uid, q->user, q->project,
                       q->params, (int64_t)q->n_slots, q->created_at, q->expires_at) < 0)
                return -1;
        *ret_id = sqlite3_last_insert_rowid(s->db);
        return 0;
}

int store_queue_add(struct store *s, const struct store_queued *q, int64_t *ret_id,
                    struct error **err)
{
        assert(s && q && q->user && q->project && q->params && ret_id);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, add_locked(s, q, ret_id, err), err);
}

static int count_locked(struct store *s, int64_t *ret, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_QUEUE_COUNT, "");
        int k = st ? store_step(s, st, S_QUEUE_COUNT, err) : -1;
        if (k > 0)
                *ret = sqlite3_column_int64(st, 0);
        return k < 0 ? -1 : 0;
}

int64_t store_queue_count(struct store *s)
{
        assert(s);
        int64_t n = 0;
        struct error *err = NULL;
        if (store_tx_begin(s, false, &err) < 0 ||
            store_tx_end(s, count_locked(s, &n, &err), &err) < 0) {
                log_error("counting the GPU queue: %s", err->message);
                error_free(err);
                return 0;
        }
        return n;
}

static int list_locked(struct store *s, struct store_queued **v, size_t *n, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_QUEUE_LIST, "");
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = store_step(s, st, S_QUEUE_LIST, err)) > 0) {
                *v = xgrow(*v, *n, &cap, sizeof(**v));
                (*v)[(*n)++] = (struct store_queued){
                    .id = sqlite3_column_int64(st, 0),
                    .uid = (unsigned)sqlite3_column_int64(st, 1),
                    .user = store_column_strdup(st, 2),
                    .project = store_column_strdup(st, 3),
                    .params = store_column_strdup(st, 4),
                    .n_slots = (int)sqlite3_column_int64(st, 5),
                    .created_at = sqlite3_column_int64(st, 6),
                    .expires_at = sqlite3_column_int64(st, 7),
                    .boost = sqlite3_column_double(st, 8),
                    .granting = sqlite3_column_int64(st, 9) != 0,
                };
        }
        return r < 0 ? -1 : 0;
}

int store_queue_list(struct store *s, struct store_queued **ret, size_t *ret_n, struct error **err)
{
        assert(s && ret && ret_n);
        struct store_queued *v = NULL;
        size_t n = 0;
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        if (store_tx_end(s, list_locked(s, &v, &n, err), err) < 0) {
                store_queue_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void store_queue_free(struct store_queued *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].user);
                free(v[i].project);
                free(v[i].params);
        }
        free(v);
}

/* One update of a request by id. */
static int update(struct store *s, enum stmt_id id, const char *types, int64_t key, double v,
                  struct error **err)
{
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = types[1] == 'd' ? store_exec(s, err, id, types, key, v)
                                : store_exec(s, err, id, types, key, (int64_t)v);
        return store_tx_end(s, r, err);
}

int store_queue_remove(struct store *s, int64_t id, struct error **err)
{
        assert(s);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = store_exec(s, err, S_QUEUE_REMOVE, "i", id);
        int n = r < 0 ? -1 : sqlite3_changes(s->db);
        if (store_tx_end(s, r, err) < 0)
                return -1;
        return n;
}

int store_queue_set_granting(struct store *s, int64_t id, bool granting, struct error **err)
{
        return update(s, S_QUEUE_GRANTING, "ii", id, granting ? 1 : 0, err);
}

int store_queue_set_boost(struct store *s, int64_t id, double boost, struct error **err)
{
        return update(s, S_QUEUE_BOOST, "id", id, boost, err);
}

static int since_locked(struct store *s, const char *day, struct store_usage **v, size_t *n,
                        struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_USAGE_SINCE, "t", day);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = store_step(s, st, S_USAGE_SINCE, err)) > 0) {
                *v = xgrow(*v, *n, &cap, sizeof(**v));
                struct store_usage *u = &(*v)[(*n)++];
                *u = (struct store_usage){
                    .uid = (unsigned)sqlite3_column_int64(st, 0),
                    .user = store_column_strdup(st, 1),
                    .allocated_s = sqlite3_column_double(st, 2),
                };
                snprintf(u->day, sizeof(u->day), "%s", store_column_str(st, 3));
                if (!u->user)
                        u->user = xasprintf("u%u", u->uid);
        }
        return r < 0 ? -1 : 0;
}

int store_usage_since(struct store *s, const char *day, struct store_usage **ret, size_t *ret_n,
                      struct error **err)
{
        assert(s && day && ret && ret_n);
        struct store_usage *v = NULL;
        size_t n = 0;
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        if (store_tx_end(s, since_locked(s, day, &v, &n, err), err) < 0) {
                store_usage_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
