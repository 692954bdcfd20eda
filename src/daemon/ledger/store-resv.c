/* store-resv.c - the ledger's reservations: administrators' windows on slots (see store.h). */
#include "daemon/ledger/store-internal.h"

#include <assert.h>

static int add_locked(struct store *s, const struct store_resv *r, struct error **err)
{
        if (store_exec(s, err, S_RESV_PURGE, "i", now_s()) < 0) /* ended ones go here */
                return -1;
        sqlite3_stmt *st = store_query(s, err, S_RESV_EXISTS, "t", r->name);
        int k = st ? store_step(s, st, S_RESV_EXISTS, err) : -1;
        if (k < 0)
                return -1;
        if (k > 0)
                return error_set(err, DS01_EUSAGE,
                                 "a reservation named '%s' exists - delete it first or choose "
                                 "another name",
                                 r->name);
        for (size_t i = 0; i < r->n_slots; i++) {
                st = store_query(s, err, S_RESV_OVERLAP, "tii", r->slots[i], r->start_s, r->end_s);
                k = st ? store_step(s, st, S_RESV_OVERLAP, err) : -1;
                if (k < 0)
                        return -1;
                if (k > 0)
                        return error_set(err, DS01_EUSAGE,
                                         "slot %s is reserved by '%s' in an overlapping window - "
                                         "choose other slots or another time",
                                         r->slots[i], store_column_str(st, 0));
        }
        if (store_exec(s, err, S_RESV_INSERT, "tiittti", r->name, r->start_s, r->end_s, r->users,
                       r->group, r->created_by, r->created_at) < 0)
                return -1;
        for (size_t i = 0; i < r->n_slots; i++)
                if (store_exec(s, err, S_RESV_SLOT_INSERT, "tt", r->name, r->slots[i]) < 0)
                        return -1;
        return 0;
}

int store_resv_add(struct store *s, const struct store_resv *r, struct error **err)
{
        assert(s && r && r->name && r->users && r->group && r->created_by);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, add_locked(s, r, err), err);
}

int store_resv_delete(struct store *s, const char *name, struct error **err)
{
        assert(s && name);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = store_exec(s, err, S_RESV_DELETE, "t", name);
        int n = r < 0 ? -1 : sqlite3_changes(s->db);
        if (store_tx_end(s, r, err) < 0)
                return -1;
        return n;
}

static int slots_locked(struct store *s, struct store_resv *r, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_RESV_SLOTS, "t", r->name);
        if (!st)
                return -1;
        size_t cap = 0;
        int k;
        while ((k = store_step(s, st, S_RESV_SLOTS, err)) > 0) {
                if (r->n_slots + 1 >= cap) {
                        cap = cap ? cap * 2 : 4;
                        r->slots = xrealloc(r->slots, cap * sizeof(*r->slots));
                        r->used = xrealloc(r->used, cap * sizeof(*r->used));
                }
                r->used[r->n_slots] = sqlite3_column_int64(st, 1) != 0;
                r->slots[r->n_slots++] = store_column_strdup(st, 0);
                r->slots[r->n_slots] = NULL;
        }
        return k < 0 ? -1 : 0;
}

static int list_locked(struct store *s, int64_t now, struct store_resv **v, size_t *n,
                       struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_RESV_LIST, "i", now);
        if (!st)
                return -1;
        size_t cap = 0;
        int k;
        while ((k = store_step(s, st, S_RESV_LIST, err)) > 0) {
                *v = xgrow(*v, *n, &cap, sizeof(**v));
                (*v)[(*n)++] = (struct store_resv){
                    .name = store_column_strdup(st, 0),
                    .start_s = sqlite3_column_int64(st, 1),
                    .end_s = sqlite3_column_int64(st, 2),
                    .users = store_column_strdup(st, 3),
                    .group = store_column_strdup(st, 4),
                    .created_by = store_column_strdup(st, 5),
                    .created_at = sqlite3_column_int64(st, 6),
                };
        }
        if (k < 0)
                return -1;
        /* the slots after the list: one statement steps at a time */
        for (size_t i = 0; i < *n; i++)
                if (slots_locked(s, &(*v)[i], err) < 0)
                        return -1;
        return 0;
}

int store_resv_list(struct store *s, int64_t now, struct store_resv **ret, size_t *ret_n,
                    struct error **err)
{
        assert(s && ret && ret_n);
        struct store_resv *v = NULL;
        size_t n = 0;
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        if (store_tx_end(s, list_locked(s, now, &v, &n, err), err) < 0) {
                store_resv_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int store_resv_mark_used(struct store *s, const char *name, const char *slot_uuid,
                         struct error **err)
{
        assert(s && name && slot_uuid);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, store_exec(s, err, S_RESV_MARK_USED, "tt", name, slot_uuid), err);
}

void store_resv_free(struct store_resv *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].name);
                free(v[i].users);
                free(v[i].group);
                free(v[i].created_by);
                for (size_t k = 0; k < v[i].n_slots; k++)
                        free(v[i].slots[k]);
                free(v[i].slots);
                free(v[i].used);
        }
        free(v);
}
