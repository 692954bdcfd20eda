/* store-inbox.c - the ledger's inbox: warnings and stops a user's next CLI command shows. */
#include "daemon/ledger/store-internal.h"

#include <assert.h>

static int inbox_add_locked(struct store *s, unsigned uid, const char *container, const char *event,
                            const char *message, struct error **err)
{
        if (store_exec(s, err, S_INBOX_ADD, "ittti", (int64_t)uid, container, event, message,
                       now_s()) < 0)
                return -1;
        return store_exec(s, err, S_INBOX_TRIM, "i", (int64_t)uid);
}

static void pending_set(struct store *s, unsigned uid, bool on)
{
        pthread_mutex_lock(&s->pending_lock);
        size_t i = 0;
        while (i < s->n_pending && s->pending[i] != uid)
                i++;
        if (on && i == s->n_pending) {
                s->pending = xrealloc(s->pending, (s->n_pending + 1) * sizeof(*s->pending));
                s->pending[s->n_pending++] = uid;
        } else if (!on && i < s->n_pending)
                s->pending[i] = s->pending[--s->n_pending];
        pthread_mutex_unlock(&s->pending_lock);
}

static bool pending_has(struct store *s, unsigned uid)
{
        pthread_mutex_lock(&s->pending_lock);
        bool has = false;
        for (size_t i = 0; i < s->n_pending && !has; i++)
                has = s->pending[i] == uid;
        pthread_mutex_unlock(&s->pending_lock);
        return has;
}

static int pending_load_row(void *ctx, int n, char **vals, char **cols)
{
        (void)cols;
        if (n == 1 && vals[0])
                pending_set(ctx, (unsigned)strtoul(vals[0], NULL, 10), true);
        return 0;
}

int store_inbox_load_pending(struct store *s, struct error **err)
{
        char *msg = NULL;
        if (sqlite3_exec(s->db, "SELECT DISTINCT uid FROM inbox WHERE shown = 0", pending_load_row,
                         s, &msg) != SQLITE_OK) {
                error_set(err, DS01_ERR, "%s: reading the inbox: %s", s->path, msg ? msg : "?");
                sqlite3_free(msg);
                return -1;
        }
        return 0;
}

int store_inbox_add(struct store *s, unsigned uid, const char *container, const char *event,
                    const char *message, struct error **err)
{
        assert(s && container && event && message);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        s->tx_quiet = true;
        if (store_tx_end(s, inbox_add_locked(s, uid, container, event, message, err), err) < 0)
                return -1;
        /* after the commit: a take that cleared the flag before it reads the row, or sees the
         * flag again */
        pending_set(s, uid, true);
        return 0;
}

static int inbox_read_locked(struct store *s, enum stmt_id id, unsigned uid, int64_t limit,
                             struct store_inbox_msg **v, size_t *n, struct error **err)
{
        sqlite3_stmt *st = id == S_INBOX_LIST ? store_query(s, err, id, "ii", (int64_t)uid, limit)
                                              : store_query(s, err, id, "i", (int64_t)uid);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = store_step(s, st, id, err)) > 0) {
                *v = xgrow(*v, *n, &cap, sizeof(**v));
                (*v)[(*n)++] = (struct store_inbox_msg){
                    .id = sqlite3_column_int64(st, 0),
                    .container = store_column_strdup(st, 1),
                    .event = store_column_strdup(st, 2),
                    .message = store_column_strdup(st, 3),
                    .created_at = sqlite3_column_int64(st, 4),
                };
        }
        return r < 0 ? -1 : 0;
}

static int inbox_take_locked(struct store *s, unsigned uid, struct store_inbox_msg **v, size_t *n,
                             struct error **err)
{
        if (inbox_read_locked(s, S_INBOX_UNSHOWN, uid, 0, v, n, err) < 0)
                return -1;
        if (*n == 0)
                return 0;
        return store_exec(s, err, S_INBOX_MARK, "ii", (int64_t)uid, (*v)[*n - 1].id);
}

int store_inbox_take(struct store *s, unsigned uid, struct store_inbox_msg **ret, size_t *ret_n,
                     struct error **err)
{
        assert(s && ret && ret_n);
        struct store_inbox_msg *v = NULL;
        size_t n = 0;
        if (!pending_has(s, uid)) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        /* Cleared before reading: a message committed after this read sets it again. */
        pending_set(s, uid, false);
        bool begun = store_tx_begin(s, true, err) == 0;
        if (begun)
                s->tx_quiet = true;
        if (!begun || store_tx_end(s, inbox_take_locked(s, uid, &v, &n, err), err) < 0) {
                store_inbox_free(v, n);
                pending_set(s, uid, true);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int store_inbox_list(struct store *s, unsigned uid, int64_t limit, struct store_inbox_msg **ret,
                     size_t *ret_n, struct error **err)
{
        assert(s && ret && ret_n);
        struct store_inbox_msg *v = NULL;
        size_t n = 0;
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        if (store_tx_end(s, inbox_read_locked(s, S_INBOX_LIST, uid, limit, &v, &n, err), err) < 0) {
                store_inbox_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void store_inbox_free(struct store_inbox_msg *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].container);
                free(v[i].event);
                free(v[i].message);
        }
        free(v);
}
