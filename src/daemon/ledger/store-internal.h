/* store-internal.h - what the parts of the ledger share; private to src/daemon/ledger/ (everyone
 * else uses store.h).
 *
 * The ledger is one module in several files: store.c (opening, the schema, the SQL, the
 * transaction plumbing), store-leases.c (reservations, lease changes, drains), store-containers.c
 * (container rows), store-inbox.c, store-usage.c and store-resv.c (administrators'
 * reservations of slots for a window).
 *
 * Every public function is one transaction: store_tx_begin takes s->lock and BEGINs (IMMEDIATE
 * when it writes), a *_locked helper does the work and returns only 0 or -1, then store_tx_end
 * COMMITs, or ROLLBACKs on any failure, and drops the lock. Everything below that touches s->db
 * or s->stmts runs between the two (or inside store_open, before any caller has the store). */
#pragma once

#include "daemon/ledger/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "shared/error.h"
#include "shared/strv.h"
#include "shared/util.h"

/* The prepared statements; their SQL is the table in store.c. */
enum stmt_id {
        S_BEGIN,
        S_BEGIN_IMMEDIATE,
        S_COMMIT,
        S_ROLLBACK,
        S_CONTAINER_EXISTS,
        S_USER_CONTAINERS,
        S_USER_HOLDINGS,
        S_LEASE_EXISTS,
        S_FAMILY_LEASED,
        S_INSERT_CONTAINER,
        S_INSERT_LEASE,
        S_BIND_CONTAINER,
        S_BIND_LEASES,
        S_CONTAINER_LEASE_UUIDS,
        S_ARCHIVE_LEASES,
        S_DELETE_CONTAINER,
        S_LIST_CONTAINERS,
        S_GET_CONTAINER,
        S_CONTAINER_LEASES,
        S_IS_DRAINED,
        S_SLOT_USAGE,
        S_HOLD_LEASES,
        S_UNHOLD_LEASES,
        S_DELETE_LEASES,
        S_HELD_LEASE_UUIDS,
        S_ARCHIVE_HELD,
        S_DELETE_HELD,
        S_UNBIND_CONTAINER,
        S_INSERT_DRAIN,
        S_DELETE_DRAIN,
        S_LIST_DRAINS,
        S_SET_KEEPALIVE,
        S_SET_MANUAL_STOP,
        S_SET_SLURM_JOB,
        S_SET_RUNTIME_FROM,
        S_SET_CLOCKS,
        S_INBOX_ADD,
        S_INBOX_UNSHOWN,
        S_INBOX_MARK,
        S_INBOX_LIST,
        S_INBOX_TRIM,
        S_USAGE_ADD,
        S_USAGE_MONTH,
        S_RELEASED_SINCE,
        S_PORT_COUNT,
        S_PORT_ADD,
        S_PORT_REMOVE,
        S_PORT_SET_TCP,
        S_RESV_INSERT,
        S_RESV_SLOT_INSERT,
        S_RESV_EXISTS,
        S_RESV_OVERLAP,
        S_RESV_DELETE,
        S_RESV_PURGE,
        S_RESV_LIST,
        S_RESV_SLOTS,
        S_RESV_MARK_USED,
        S_QUEUE_ADD,
        S_QUEUE_EXISTS,
        S_QUEUE_COUNT,
        S_QUEUE_LIST,
        S_QUEUE_REMOVE,
        S_QUEUE_GRANTING,
        S_QUEUE_BOOST,
        S_USAGE_SINCE,
        S_RENAME_COPY,
        S_RENAME_LEASES,
        S_RENAME_PORTS,
        S_PIN_USERS,
        S_CLEAR_PIN,
        _S_MAX,
};

struct store {
        char *path;
        sqlite3 *db;
        /* Serialises every use of db and stmts: a transaction spans many calls. */
        pthread_mutex_t lock;
        sqlite3_stmt *stmts[_S_MAX];
        int tx_changes; /* sqlite3_total_changes at the start of the transaction */
        bool tx_quiet;  /* this transaction changes no container or lease */
        /* uids that may have unshown inbox messages: every request asks, almost all have
         * none, and this answers without the database (a superset: cleared on take) */
        pthread_mutex_t pending_lock;
        unsigned *pending;
        size_t n_pending;
        atomic_uint_fast64_t gen; /* committed transactions that changed something */
};

/* ---- SQLite plumbing (store.c) ---- */

/* The prepared statement id, reset and bound, ready to step; NULL (err set) if binding failed.
 * Parameters ?1.. by type: 't' const char * (NULL binds NULL), 'i' int64_t, 'd' double. */
sqlite3_stmt *store_query(struct store *s, struct error **err, enum stmt_id id, const char *types,
                          ...);
/* 1: a row is ready, 0: done, -1: error (err set). */
int store_step(struct store *s, sqlite3_stmt *st, enum stmt_id id, struct error **err);
/* Runs a statement that returns no rows. */
int store_exec(struct store *s, struct error **err, enum stmt_id id, const char *types, ...);
/* A text column: a copy (NULL for NULL), or borrowed until the next step ("" for NULL). */
char *store_column_strdup(sqlite3_stmt *st, int col);
const char *store_column_str(sqlite3_stmt *st, int col);
int store_tx_begin(struct store *s, bool write, struct error **err);
/* Commits when r >= 0, else rolls back; returns 0 or -1. Always drops the lock. */
int store_tx_end(struct store *s, int r, struct error **err);

/* ---- container rows (store-containers.c) ---- */

struct store_container_vec {
        struct store_container *v;
        size_t n;
};
void store_container_vec_release(struct store_container_vec *cv);
/* The containers of uid (everyone when uid < 0) with their leases, appended to ret. */
int store_list_locked(struct store *s, int64_t uid, struct store_container_vec *ret,
                      struct error **err);

/* ---- the inbox (store-inbox.c) ---- */

/* At open: notes the uids that have unshown messages (before any caller can see the store). */
int store_inbox_load_pending(struct store *s, struct error **err);
