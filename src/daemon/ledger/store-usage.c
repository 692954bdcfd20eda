/* store-usage.c - the ledger's usage accounting: per-user per-day totals (ds01 report). */
#include "daemon/ledger/store-internal.h"

#include <assert.h>

static int usage_add_locked(struct store *s, const struct store_usage *v, size_t n,
                            struct error **err)
{
        for (size_t i = 0; i < n; i++) {
                assert(v[i].user && strlen(v[i].day) == 10);
                if (store_exec(s, err, S_USAGE_ADD, "titddii", v[i].day, (int64_t)v[i].uid,
                               v[i].user, v[i].allocated_s, v[i].active_s, v[i].containers,
                               v[i].enforcement_stops) < 0)
                        return -1;
        }
        return 0;
}

int store_usage_add(struct store *s, const struct store_usage *v, size_t n, struct error **err)
{
        assert(s && (v || n == 0));
        if (n == 0)
                return 0;
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        s->tx_quiet = true; /* usage rows: nothing a container snapshot shows */
        return store_tx_end(s, usage_add_locked(s, v, n, err), err);
}

static int usage_month_locked(struct store *s, const char *month, int64_t uid,
                              struct store_usage **v, size_t *n, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_USAGE_MONTH, "ti", month, uid);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = store_step(s, st, S_USAGE_MONTH, err)) > 0) {
                *v = xgrow(*v, *n, &cap, sizeof(**v));
                struct store_usage *u = &(*v)[(*n)++];
                *u = (struct store_usage){
                    .uid = (unsigned)sqlite3_column_int64(st, 0),
                    .user = store_column_strdup(st, 1),
                    .allocated_s = sqlite3_column_double(st, 2),
                    .active_s = sqlite3_column_double(st, 3),
                    .containers = sqlite3_column_int64(st, 4),
                    .enforcement_stops = sqlite3_column_int64(st, 5),
                };
                if (!u->user)
                        u->user = xasprintf("u%u", u->uid);
        }
        return r < 0 ? -1 : 0;
}

int store_usage_month(struct store *s, const char *month, int64_t uid, struct store_usage **ret,
                      size_t *ret_n, struct error **err)
{
        assert(s && month && strlen(month) == 7 && ret && ret_n);
        struct store_usage *v = NULL;
        size_t n = 0;
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        if (store_tx_end(s, usage_month_locked(s, month, uid, &v, &n, err), err) < 0) {
                store_usage_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void store_usage_free(struct store_usage *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i].user);
        free(v);
}

static int released_locked(struct store *s, int64_t since, struct store_released **v, size_t *n,
                           struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_RELEASED_SINCE, "i", since);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = store_step(s, st, S_RELEASED_SINCE, err)) > 0) {
                *v = xgrow(*v, *n, &cap, sizeof(**v));
                (*v)[(*n)++] = (struct store_released){
                    .container = store_column_strdup(st, 0),
                    .uid = (unsigned)sqlite3_column_int64(st, 1),
                    .weight = sqlite3_column_double(st, 2),
                    .leased_at = sqlite3_column_int64(st, 3),
                    .released_at = sqlite3_column_int64(st, 4),
                };
        }
        return r < 0 ? -1 : 0;
}

int store_usage_snapshot(struct store *s, int64_t released_since, struct store_container **ret,
                         size_t *ret_n, struct store_released **ret_rel, size_t *ret_n_rel,
                         struct error **err)
{
        assert(s && ret && ret_n && ret_rel && ret_n_rel);
        _cleanup_(store_container_vec_release) struct store_container_vec cv = {0};
        struct store_released *rel = NULL;
        size_t n_rel = 0;
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        int r = store_list_locked(s, -1, &cv, err);
        if (r >= 0)
                r = released_locked(s, released_since, &rel, &n_rel, err);
        if (store_tx_end(s, r, err) < 0) {
                store_released_free(rel, n_rel);
                return -1;
        }
        *ret = TAKE_PTR(cv.v);
        *ret_n = cv.n;
        cv.n = 0;
        *ret_rel = rel;
        *ret_n_rel = n_rel;
        return 0;
}

void store_released_free(struct store_released *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i].container);
        free(v);
}
