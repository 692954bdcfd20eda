/* store.c - the ledger's core (see store.h): opening and migrating ledger.db, the SQL, and the
 * transaction plumbing the other parts share (store-internal.h).
 *
 * One SQLite connection in WAL mode, serialised by a mutex. All SQL is constant text in one table
 * below, prepared once at open; every value reaches SQLite as a bound parameter. */
#include "daemon/ledger/store-internal.h"

#include "shared/strv.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

/* The schema this code reads and writes (PRAGMA user_version). A database written by a newer
 * ds01d is refused rather than guessed at. */
#define STORE_SCHEMA_VERSION  13
#define STORE_BUSY_TIMEOUT_MS 5000

/* migrations[v] takes the schema from version v to v + 1. Only ever append. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE containers ("
    "  name TEXT PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  docker_id TEXT,"
    "  state TEXT NOT NULL CHECK (state IN ('reserved', 'bound')),"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX containers_by_uid ON containers (uid);"
    /* The slot UUID is the primary key: a slot can never be leased twice. */
    "CREATE TABLE leases ("
    "  slot_uuid TEXT PRIMARY KEY,"
    "  container TEXT NOT NULL REFERENCES containers (name) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('reserved', 'bound', 'held')),"
    "  weight REAL NOT NULL CHECK (weight >= 0),"
    "  since INTEGER NOT NULL,"    /* last state change */
    "  leased_at INTEGER NOT NULL" /* first reserved, for lease_history */
    ") STRICT;"
    "CREATE INDEX leases_by_container ON leases (container);"
    "CREATE INDEX leases_by_uid ON leases (uid);"
    /* Released leases, appended by store_forget, for accounting. */
    "CREATE TABLE lease_history ("
    "  id INTEGER PRIMARY KEY,"
    "  slot_uuid TEXT NOT NULL,"
    "  container TEXT NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  weight REAL NOT NULL,"
    "  leased_at INTEGER NOT NULL,"
    "  released_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX lease_history_by_uid ON lease_history (uid, released_at);",
    /* 1 -> 2: drained slots; per-slot history for the wear-spreading policy */
    "CREATE TABLE drains ("
    "  slot_uuid TEXT PRIMARY KEY,"
    "  drained_by TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  since INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX lease_history_by_slot ON lease_history (slot_uuid, released_at);",
    /* 2 -> 3: container-keepalive, and the users' inbox of warnings and stops */
    "ALTER TABLE containers ADD COLUMN keepalive_until INTEGER;"
    "CREATE TABLE inbox ("
    "  id INTEGER PRIMARY KEY,"
    "  uid INTEGER NOT NULL,"
    "  container TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  shown INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX inbox_unshown ON inbox (uid, shown);",
    /* 3 -> 4: a MIG instance's lease records its physical GPU, so the GPU cannot be leased
     * whole while one of its instances is (and the reverse), even after a MIG change removed
     * the instance from the inventory. */
    "ALTER TABLE leases ADD COLUMN parent_uuid TEXT;"
    "CREATE INDEX leases_by_parent ON leases (parent_uuid);",
    /* 4 -> 5: usage accounting (ds01 report): GPU-equivalent seconds allocated and active per
     * user per UTC day, and the day's deploys and enforcement stops. */
    "CREATE TABLE usage ("
    "  day TEXT NOT NULL," /* 'YYYY-MM-DD', UTC */
    "  uid INTEGER NOT NULL,"
    "  user TEXT NOT NULL," /* login name when last written */
    "  allocated_s REAL NOT NULL DEFAULT 0 CHECK (allocated_s >= 0),"
    "  active_s REAL NOT NULL DEFAULT 0 CHECK (active_s >= 0),"
    "  containers INTEGER NOT NULL DEFAULT 0,"
    "  enforcement_stops INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (day, uid)"
    ") STRICT;"
    /* each tick reads the leases released since the previous one */
    "CREATE INDEX lease_history_by_release ON lease_history (released_at);",
    /* 5 -> 6: the monitor's clocks, so that a daemon restart does not start them over: the idle
     * clock's start (unix ms), when they were recorded (the daemon's stop, unix ms), and the
     * warnings already given. */
    "ALTER TABLE containers ADD COLUMN last_active_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE containers ADD COLUMN clocks_at_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE containers ADD COLUMN idle_warned INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE containers ADD COLUMN runtime_warned INTEGER NOT NULL DEFAULT 0;",
    /* 6 -> 7: where the runtime count of a container that ds01 recreated on another GPU starts
     * (unix ms; 0: its own Docker creation), so the replacement keeps the count exactly. Rows
     * from before get -1: unknown (an older ds01 may have recreated the container without
     * recording it). */
    "ALTER TABLE containers ADD COLUMN runtime_from_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE containers SET runtime_from_ms = -1;",
    /* 7 -> 8: published service ports (container-port); they go with the container's row */
    "CREATE TABLE ports ("
    "  container TEXT NOT NULL REFERENCES containers (name) ON DELETE CASCADE,"
    "  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
    "  added_at INTEGER NOT NULL,"
    "  tcp INTEGER NOT NULL DEFAULT 0 CHECK (tcp BETWEEN 0 AND 65535)," /* loopback; 0: none */
    "  PRIMARY KEY (container, port)"
    ") STRICT;",
    /* 8 -> 9: administrators' reservations of GPU slots for a window (gpus/reservations.h) */
    "CREATE TABLE reservations ("
    "  name TEXT PRIMARY KEY,"
    "  start_s INTEGER NOT NULL,"
    "  end_s INTEGER NOT NULL CHECK (end_s > start_s),"
    "  users TEXT NOT NULL," /* logins, comma-separated; '' none */
    "  grp TEXT NOT NULL,"   /* a limits group; '' none */
    "  created_by TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE reservation_slots ("
    "  reservation TEXT NOT NULL REFERENCES reservations (name) ON DELETE CASCADE,"
    "  slot_uuid TEXT NOT NULL,"
    "  used INTEGER NOT NULL DEFAULT 0," /* a member leased it in the window */
    "  PRIMARY KEY (reservation, slot_uuid)"
    ") STRICT;"
    "CREATE INDEX reservation_slots_by_slot ON reservation_slots (slot_uuid);",
    /* 9 -> 10: when the owner last stopped the container themselves (unix s; 0: not since its
     * last start), for gpu_hold_after_manual_stop_m */
    "ALTER TABLE containers ADD COLUMN manual_stop_at INTEGER NOT NULL DEFAULT 0;",
    /* 10 -> 11: deploys waiting for GPUs (gpus/queue.h); a request leaves the table when it is
     * granted, cancelled or given up */
    "CREATE TABLE queue ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  uid INTEGER NOT NULL,"
    "  user TEXT NOT NULL,"
    "  project TEXT NOT NULL,"
    "  params TEXT NOT NULL," /* the container.deploy request, JSON */
    "  n_slots INTEGER NOT NULL CHECK (n_slots > 0),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0," /* --max-wait; 0: never */
    "  boost REAL NOT NULL DEFAULT 0,"         /* an administrator's move */
    "  granting INTEGER NOT NULL DEFAULT 0,"   /* a grant's deploy is under way */
    "  UNIQUE (uid, project)"
    ") STRICT;",
    /* 11 -> 12: the name a renamed container's pins (pins.h) are under: the name Docker
     * created it with, which its mounts keep; NULL: its own name */
    "ALTER TABLE containers ADD COLUMN pin TEXT;",
    /* 12 -> 13: the Slurm job a container belongs to in a cluster (cluster/slurmdeploy.h); 0:
     * none (a container of a single server) */
    "ALTER TABLE containers ADD COLUMN slurm_job INTEGER NOT NULL DEFAULT 0;",
};

#define CONTAINER_COLUMNS                                                                          \
        "name, project, user, uid, docker_id, state, created_at, keepalive_until, "                \
        "last_active_ms, "                                                                         \
        "clocks_at_ms, idle_warned, runtime_warned, runtime_from_ms, manual_stop_at, "             \
        "(SELECT group_concat(port || ':' || tcp) FROM (SELECT port, tcp FROM ports p "            \
        "WHERE p.container = containers.name ORDER BY port)), pin, slurm_job"

static const struct {
        const char *sql;
        const char *what; /* for error messages: "<what> failed: <sqlite message>" */
} statements[_S_MAX] = {
    [S_BEGIN] = {"BEGIN", "starting a transaction"},
    [S_BEGIN_IMMEDIATE] = {"BEGIN IMMEDIATE", "starting a transaction"},
    [S_COMMIT] = {"COMMIT", "committing"},
    [S_ROLLBACK] = {"ROLLBACK", "rolling back"},
    [S_CONTAINER_EXISTS] = {"SELECT 1 FROM containers WHERE name = ?1", "looking up the container"},
    [S_USER_CONTAINERS] = {"SELECT project FROM containers WHERE uid = ?1 "
                           "ORDER BY created_at, name",
                           "counting the user's containers"},
    [S_USER_HOLDINGS] = {"SELECT c.project, sum(l.weight) FROM leases l "
                         "JOIN containers c ON c.name = l.container "
                         "WHERE l.uid = ?1 GROUP BY c.name ORDER BY min(c.created_at), c.name",
                         "summing the user's GPU leases"},
    [S_LEASE_EXISTS] = {"SELECT 1 FROM leases WHERE slot_uuid = ?1", "looking up a lease"},
    /* Leased itself, its physical GPU leased whole, or (for a GPU) one of its MIG instances. */
    [S_FAMILY_LEASED] = {"SELECT 1 FROM leases WHERE slot_uuid = ?1 OR slot_uuid = ?2 "
                         "OR parent_uuid = ?1 LIMIT 1",
                         "looking up a lease"},
    [S_INSERT_CONTAINER] = {"INSERT INTO containers "
                            "(name, project, user, uid, docker_id, state, created_at) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            "recording the container"},
    [S_INSERT_LEASE] = {"INSERT INTO leases "
                        "(slot_uuid, container, uid, state, weight, since, leased_at, parent_uuid) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        "recording a lease"},
    [S_BIND_CONTAINER] = {"UPDATE containers SET docker_id = ?2, state = 'bound' "
                          "WHERE name = ?1",
                          "binding the container"},
    [S_BIND_LEASES] = {"UPDATE leases SET state = 'bound', since = ?2 "
                       "WHERE container = ?1 AND state <> 'bound'",
                       "binding the leases"},
    [S_CONTAINER_LEASE_UUIDS] = {"SELECT slot_uuid FROM leases WHERE container = ?1 "
                                 "ORDER BY rowid",
                                 "listing the container's leases"},
    [S_ARCHIVE_LEASES] = {"INSERT INTO lease_history "
                          "(slot_uuid, container, uid, weight, leased_at, released_at) "
                          "SELECT slot_uuid, container, uid, weight, leased_at, ?2 "
                          "FROM leases WHERE container = ?1 ORDER BY rowid",
                          "archiving the leases"},
    [S_RENAME_COPY] = {"INSERT INTO containers (name, project, user, uid, docker_id, state, "
                       "created_at, keepalive_until, last_active_ms, clocks_at_ms, idle_warned, "
                       "runtime_warned, runtime_from_ms, manual_stop_at, pin, slurm_job) "
                       "SELECT ?2, ?3, user, uid, docker_id, state, created_at, keepalive_until, "
                       "last_active_ms, clocks_at_ms, idle_warned, runtime_warned, "
                       "runtime_from_ms, manual_stop_at, coalesce(pin, name), slurm_job "
                       "FROM containers "
                       "WHERE name = ?1",
                       "recording the container under its new name"},
    [S_RENAME_LEASES] = {"UPDATE leases SET container = ?2 WHERE container = ?1",
                         "moving the leases"},
    [S_RENAME_PORTS] = {"UPDATE ports SET container = ?2 WHERE container = ?1",
                        "moving the published ports"},
    [S_PIN_USERS] = {"SELECT count(*) FROM containers WHERE name = ?1 OR pin = ?1",
                     "looking up a pin's containers"},
    [S_CLEAR_PIN] = {"UPDATE containers SET pin = NULL WHERE name = ?1", "resetting the pin"},
    [S_DELETE_CONTAINER] = {"DELETE FROM containers WHERE name = ?1", "deleting the container"},
    [S_LIST_CONTAINERS] = {"SELECT " CONTAINER_COLUMNS " FROM containers "
                           "WHERE ?1 < 0 OR uid = ?1 ORDER BY created_at, name",
                           "listing containers"},
    [S_PORT_COUNT] = {"SELECT count(*), sum(port = ?2) FROM ports WHERE container = ?1",
                      "counting the container's ports"},
    [S_PORT_ADD] = {"INSERT INTO ports (container, port, added_at) VALUES (?1, ?2, ?3)",
                    "publishing the port"},
    [S_PORT_REMOVE] = {"DELETE FROM ports WHERE container = ?1 AND port = ?2",
                       "unpublishing the port"},
    [S_PORT_SET_TCP] = {"UPDATE ports SET tcp = ?3 WHERE container = ?1 AND port = ?2",
                        "recording the port's loopback TCP port"},
    [S_RESV_INSERT] = {"INSERT INTO reservations (name, start_s, end_s, users, grp, created_by, "
                       "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                       "recording the reservation"},
    [S_RESV_SLOT_INSERT] =
        {"INSERT INTO reservation_slots (reservation, slot_uuid) VALUES (?1, ?2)",
         "recording the reservation's slot"},
    [S_RESV_EXISTS] = {"SELECT 1 FROM reservations WHERE name = ?1", "looking up a reservation"},
    [S_RESV_OVERLAP] = {"SELECT r.name FROM reservations r JOIN reservation_slots rs ON "
                        "rs.reservation = r.name WHERE rs.slot_uuid = ?1 AND r.start_s < ?3 AND "
                        "?2 < r.end_s LIMIT 1",
                        "looking for overlapping reservations"},
    [S_RESV_DELETE] = {"DELETE FROM reservations WHERE name = ?1", "deleting the reservation"},
    [S_RESV_PURGE] = {"DELETE FROM reservations WHERE end_s <= ?1", "removing ended reservations"},
    [S_RESV_LIST] = {"SELECT name, start_s, end_s, users, grp, created_by, created_at FROM "
                     "reservations WHERE end_s > ?1 ORDER BY start_s, name",
                     "listing reservations"},
    [S_RESV_SLOTS] = {"SELECT slot_uuid, used FROM reservation_slots WHERE reservation = ?1 "
                      "ORDER BY rowid",
                      "listing a reservation's slots"},
    [S_RESV_MARK_USED] = {"UPDATE reservation_slots SET used = 1 WHERE reservation = ?1 AND "
                          "slot_uuid = ?2",
                          "recording a reserved slot's use"},
    [S_QUEUE_ADD] = {"INSERT INTO queue (uid, user, project, params, n_slots, created_at, "
                     "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     "adding the request to the queue"},
    [S_QUEUE_EXISTS] = {"SELECT 1 FROM queue WHERE uid = ?1 AND project = ?2",
                        "looking up the queue"},
    [S_QUEUE_COUNT] = {"SELECT count(*) FROM queue", "counting the queue"},
    [S_QUEUE_LIST] = {"SELECT id, uid, user, project, params, n_slots, created_at, expires_at, "
                      "boost, granting FROM queue ORDER BY id",
                      "reading the queue"},
    [S_QUEUE_REMOVE] = {"DELETE FROM queue WHERE id = ?1", "removing the request from the queue"},
    [S_QUEUE_GRANTING] = {"UPDATE queue SET granting = ?2 WHERE id = ?1",
                          "marking the request's grant"},
    [S_QUEUE_BOOST] = {"UPDATE queue SET boost = ?2 WHERE id = ?1", "moving the request"},
    [S_USAGE_SINCE] = {"SELECT uid, user, sum(allocated_s), day FROM usage WHERE day >= ?1 "
                       "GROUP BY uid, day",
                       "reading recent usage"},
    [S_GET_CONTAINER] = {"SELECT " CONTAINER_COLUMNS " FROM containers WHERE name = ?1",
                         "reading the container"},
    [S_CONTAINER_LEASES] = {"SELECT slot_uuid, container, uid, state, weight, since, leased_at "
                            "FROM leases WHERE container = ?1 ORDER BY rowid",
                            "reading the container's leases"},
    [S_IS_DRAINED] = {"SELECT 1 FROM drains WHERE slot_uuid = ?1", "looking up a drain"},
    [S_SLOT_USAGE] = {"SELECT coalesce(sum(released_at - leased_at), 0), "
                      "coalesce(max(released_at), 0) FROM lease_history WHERE slot_uuid = ?1",
                      "reading a slot's history"},
    [S_HOLD_LEASES] = {"UPDATE leases SET state = 'held', since = ?2 "
                       "WHERE container = ?1 AND state = 'bound'",
                       "holding the leases"},
    [S_UNHOLD_LEASES] = {"UPDATE leases SET state = 'bound', since = ?2 "
                         "WHERE container = ?1 AND state = 'held'",
                         "resuming the leases"},
    [S_DELETE_LEASES] = {"DELETE FROM leases WHERE container = ?1", "releasing the leases"},
    /* A hold that expired releases only what is still held: a start may have bound it since. */
    [S_ARCHIVE_HELD] = {"INSERT INTO lease_history "
                        "(slot_uuid, container, uid, weight, leased_at, released_at) "
                        "SELECT slot_uuid, container, uid, weight, leased_at, ?2 "
                        "FROM leases WHERE container = ?1 AND state = 'held' ORDER BY rowid",
                        "archiving the held leases"},
    [S_HELD_LEASE_UUIDS] = {"SELECT slot_uuid FROM leases WHERE container = ?1 "
                            "AND state = 'held' ORDER BY rowid",
                            "listing the held leases"},
    [S_DELETE_HELD] = {"DELETE FROM leases WHERE container = ?1 AND state = 'held'",
                       "releasing the held leases"},
    [S_UNBIND_CONTAINER] = {"UPDATE containers SET docker_id = NULL, state = 'reserved' "
                            "WHERE name = ?1",
                            "unbinding the container"},
    [S_INSERT_DRAIN] = {"INSERT INTO drains (slot_uuid, drained_by, reason, since) "
                        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (slot_uuid) DO NOTHING",
                        "draining a slot"},
    [S_DELETE_DRAIN] = {"DELETE FROM drains WHERE slot_uuid = ?1", "undraining a slot"},
    [S_LIST_DRAINS] = {"SELECT slot_uuid, drained_by, reason, since FROM drains "
                       "ORDER BY slot_uuid",
                       "listing drained slots"},
    [S_SET_CLOCKS] = {"UPDATE containers SET last_active_ms = ?2, clocks_at_ms = ?3, "
                      "idle_warned = ?4, runtime_warned = ?5 WHERE name = ?1",
                      "recording the monitor's clocks"},
    [S_SET_MANUAL_STOP] = {"UPDATE containers SET manual_stop_at = ?2 WHERE name = ?1",
                           "recording the owner's stop"},
    [S_SET_SLURM_JOB] = {"UPDATE containers SET slurm_job = ?2 WHERE name = ?1",
                         "recording the container's Slurm job"},
    [S_SET_KEEPALIVE] = {"UPDATE containers SET keepalive_until = ?2 WHERE name = ?1",
                         "setting the keep-alive"},
    [S_SET_RUNTIME_FROM] = {"UPDATE containers SET runtime_from_ms = ?2 WHERE name = ?1",
                            "recording the runtime count's start"},
    [S_INBOX_ADD] = {"INSERT INTO inbox (uid, container, event, message, created_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
                     "adding to the inbox"},
    [S_INBOX_UNSHOWN] = {"SELECT id, container, event, message, created_at FROM inbox "
                         "WHERE uid = ?1 AND shown = 0 ORDER BY id",
                         "reading the inbox"},
    [S_INBOX_MARK] = {"UPDATE inbox SET shown = 1 WHERE uid = ?1 AND shown = 0 AND id <= ?2",
                      "marking the inbox read"},
    [S_INBOX_LIST] = {"SELECT id, container, event, message, created_at FROM inbox "
                      "WHERE uid = ?1 ORDER BY id DESC LIMIT ?2",
                      "listing the inbox"},
    /* Keep the newest 200 messages per user. */
    [S_INBOX_TRIM] = {"DELETE FROM inbox WHERE uid = ?1 AND id <= "
                      "(SELECT id FROM inbox WHERE uid = ?1 ORDER BY id DESC LIMIT 1 OFFSET 200)",
                      "trimming the inbox"},
    [S_USAGE_ADD] = {"INSERT INTO usage (day, uid, user, allocated_s, active_s, containers, "
                     "enforcement_stops) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                     "ON CONFLICT (day, uid) DO UPDATE SET user = excluded.user, "
                     "allocated_s = allocated_s + excluded.allocated_s, "
                     "active_s = active_s + excluded.active_s, "
                     "containers = containers + excluded.containers, "
                     "enforcement_stops = enforcement_stops + excluded.enforcement_stops",
                     "recording usage"},
    /* ?1 is 'YYYY-MM'; the user name is the one of the newest day. */
    [S_USAGE_MONTH] = {"SELECT uid, (SELECT u2.user FROM usage u2 WHERE u2.uid = u.uid "
                       "AND u2.day BETWEEN ?1 || '-01' AND ?1 || '-31' ORDER BY u2.day DESC "
                       "LIMIT 1), sum(allocated_s), sum(active_s), sum(containers), "
                       "sum(enforcement_stops) FROM usage u "
                       "WHERE day BETWEEN ?1 || '-01' AND ?1 || '-31' AND (?2 < 0 OR uid = ?2) "
                       "GROUP BY uid ORDER BY 2, uid",
                       "reading the usage"},
    [S_RELEASED_SINCE] = {"SELECT container, uid, weight, leased_at, released_at "
                          "FROM lease_history WHERE released_at >= ?1 ORDER BY id",
                          "reading the released leases"},
};

void store_strv_free(char **v)
{
        strv_free(v);
}

/* ---- SQLite plumbing ---- */

static int db_fail(struct store *s, struct error **err, const char *what)
{
        return error_set(err, DS01_ERR, "ledger %s: %s failed: %s", s->path, what,
                         sqlite3_errmsg(s->db));
}

/* Binds parameters ?1.. by type: 't' const char * (NULL binds NULL), 'i' int64_t, 'd' double. */
static int bind_v(sqlite3_stmt *st, const char *types, va_list ap)
{
        int rc = SQLITE_OK;
        for (int i = 0; types[i] && rc == SQLITE_OK; i++) {
                switch (types[i]) {
                case 't': {
                        const char *v = va_arg(ap, const char *);
                        rc = v ? sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT)
                               : sqlite3_bind_null(st, i + 1);
                        break;
                }
                case 'i':
                        rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
                        break;
                case 'd':
                        rc = sqlite3_bind_double(st, i + 1, va_arg(ap, double));
                        break;
                default:
                        assert(!"unknown bind type");
                        return SQLITE_MISUSE;
                }
        }
        return rc;
}

sqlite3_stmt *store_query(struct store *s, struct error **err, enum stmt_id id, const char *types,
                          ...)
{
        sqlite3_stmt *st = s->stmts[id];
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        va_list ap;
        va_start(ap, types);
        int rc = bind_v(st, types, ap);
        va_end(ap);
        if (rc != SQLITE_OK) {
                db_fail(s, err, statements[id].what);
                return NULL;
        }
        return st;
}

int store_step(struct store *s, sqlite3_stmt *st, enum stmt_id id, struct error **err)
{
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return db_fail(s, err, statements[id].what);
}

int store_exec(struct store *s, struct error **err, enum stmt_id id, const char *types, ...)
{
        sqlite3_stmt *st = s->stmts[id];
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        va_list ap;
        va_start(ap, types);
        int rc = bind_v(st, types, ap);
        va_end(ap);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return db_fail(s, err, statements[id].what);
        sqlite3_reset(st);
        return 0;
}

char *store_column_strdup(sqlite3_stmt *st, int col)
{
        const unsigned char *t = sqlite3_column_text(st, col);
        return t ? xstrdup((const char *)t) : NULL;
}

const char *store_column_str(sqlite3_stmt *st, int col)
{
        const unsigned char *t = sqlite3_column_text(st, col);
        return t ? (const char *)t : "";
}

int store_tx_begin(struct store *s, bool write, struct error **err)
{
        pthread_mutex_lock(&s->lock);
        if (store_exec(s, err, write ? S_BEGIN_IMMEDIATE : S_BEGIN, "") < 0) {
                pthread_mutex_unlock(&s->lock);
                return -1;
        }
        s->tx_changes = sqlite3_total_changes(s->db);
        return 0;
}

int store_tx_end(struct store *s, int r, struct error **err)
{
        /* Finish every statement first, so none holds the transaction open. */
        for (size_t i = 0; i < _S_MAX; i++)
                sqlite3_reset(s->stmts[i]);
        if (r >= 0 && store_exec(s, err, S_COMMIT, "") < 0)
                r = -1;
        if (r >= 0 && !s->tx_quiet && sqlite3_total_changes(s->db) != s->tx_changes)
                atomic_fetch_add(&s->gen, 1);
        s->tx_quiet = false;
        if (r < 0 && !sqlite3_get_autocommit(s->db)) {
                sqlite3_reset(s->stmts[S_ROLLBACK]);
                (void)sqlite3_step(s->stmts[S_ROLLBACK]);
                sqlite3_reset(s->stmts[S_ROLLBACK]);
        }
        pthread_mutex_unlock(&s->lock);
        return r < 0 ? -1 : 0;
}

/* ---- opening and migrating ---- */

/* mkdir -p; the last component (the state directory itself) is created 0700. */
static int make_state_dir(const char *dir, struct error **err)
{
        _cleanup_free_ char *p = xstrdup(dir);
        for (char *c = p + 1; *c; c++) {
                if (*c != '/')
                        continue;
                *c = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return error_set_errno(err, -errno, "creating %s", p);
                *c = '/';
        }
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return error_set_errno(err, -errno, "creating state directory %s", p);
        struct stat st;
        if (stat(p, &st) < 0)
                return error_set_errno(err, -errno, "state directory %s", p);
        if (!S_ISDIR(st.st_mode))
                return error_set(err, DS01_ERR, "state directory %s is not a directory", p);
        return 0;
}

/* Creates the database file 0600 ourselves, so it never exists with looser permissions
 * (SQLite gives the -wal and -shm files the same mode). */
static int make_db_file(const char *path, struct error **err)
{
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return error_set_errno(err, -errno, "opening ledger %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return error_set_errno(err, -errno, "ledger %s", path);
        if (!S_ISREG(st.st_mode))
                return error_set(err, DS01_ERR, "ledger %s is not a regular file", path);
        if ((st.st_mode & 0077) && fchmod(fd, 0600) < 0)
                return error_set_errno(err, -errno, "making ledger %s private", path);
        return 0;
}

/* Runs one constant statement and returns its first column as an integer (or text in
 * ret_text), for PRAGMAs. */
static int pragma(struct store *s, const char *sql, int64_t *ret_int, char **ret_text,
                  struct error **err)
{
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                db_fail(s, err, sql);
                sqlite3_finalize(st);
                return -1;
        }
        if (ret_int)
                *ret_int = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        if (ret_text)
                *ret_text = rc == SQLITE_ROW ? store_column_strdup(st, 0) : NULL;
        sqlite3_finalize(st);
        return 0;
}

static int exec_sql(struct store *s, const char *sql, const char *what, struct error **err)
{
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                return db_fail(s, err, what);
        return 0;
}

static int check_version(struct store *s, int64_t version, struct error **err)
{
        if (version > STORE_SCHEMA_VERSION)
                return error_set(err, DS01_ERR,
                                 "ledger %s has schema version %" PRId64
                                 ", newer than this ds01d understands (%d): it was written by a "
                                 "newer ds01d - run that version, or restore a backup of the "
                                 "ledger",
                                 s->path, version, STORE_SCHEMA_VERSION);
        if (version < 0)
                return error_set(err, DS01_ERR, "ledger %s has an invalid schema version %" PRId64,
                                 s->path, version);
        return 0;
}

static int configure(struct store *s, struct error **err)
{
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

        /* Refuse a newer schema before changing anything in the file. */
        int64_t version;
        if (pragma(s, "PRAGMA user_version", &version, NULL, err) < 0 ||
            check_version(s, version, err) < 0)
                return -1;

        _cleanup_free_ char *mode = NULL;
        if (pragma(s, "PRAGMA journal_mode = WAL", NULL, &mode, err) < 0)
                return -1;
        if (!mode || strcasecmp(mode, "wal") != 0)
                return error_set(err, DS01_ERR,
                                 "ledger %s: cannot switch to WAL journaling (got '%s'): is the "
                                 "state directory on a local file system?",
                                 s->path, mode ? mode : "");
        /* FULL: a committed lease survives a power cut; commits are rare and small. */
        if (exec_sql(s, "PRAGMA synchronous = FULL", "setting synchronous", err) < 0 ||
            exec_sql(s, "PRAGMA foreign_keys = ON", "enabling foreign keys", err) < 0)
                return -1;
        int64_t fk;
        if (pragma(s, "PRAGMA foreign_keys", &fk, NULL, err) < 0)
                return -1;
        if (fk != 1)
                return error_set(err, DS01_ERR,
                                 "ledger %s: this SQLite cannot enforce foreign keys", s->path);
        return 0;
}

/* Brings the schema up to STORE_SCHEMA_VERSION in one transaction. */
static int migrate(struct store *s, struct error **err)
{
        if (exec_sql(s, "BEGIN IMMEDIATE", "starting the migration", err) < 0)
                return -1;
        int64_t version;
        int r = pragma(s, "PRAGMA user_version", &version, NULL, err);
        if (r >= 0)
                r = check_version(s, version, err);
        for (int64_t v = version; r >= 0 && v < STORE_SCHEMA_VERSION; v++) {
                _cleanup_free_ char *what =
                    xasprintf("migrating the schema from version %" PRId64, v);
                r = exec_sql(s, migrations[v], what, err);
        }
        if (r >= 0 && version < STORE_SCHEMA_VERSION) {
                /* A constant, not user data: PRAGMAs take no bound parameters. */
                _cleanup_free_ char *sql =
                    xasprintf("PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
                r = exec_sql(s, sql, "recording the schema version", err);
        }
        if (r >= 0)
                r = exec_sql(s, "COMMIT", "committing the migration", err);
        if (r < 0 && !sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

static int prepare_statements(struct store *s, struct error **err)
{
        for (size_t i = 0; i < _S_MAX; i++)
                if (sqlite3_prepare_v3(s->db, statements[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                       &s->stmts[i], NULL) != SQLITE_OK)
                        return error_set(err, DS01_ERR, "ledger %s: preparing '%s': %s", s->path,
                                         statements[i].sql, sqlite3_errmsg(s->db));
        return 0;
}

struct store *store_open(const char *state_dir, struct error **err)
{
        assert(state_dir);
        if (make_state_dir(state_dir, err) < 0)
                return NULL;
        _cleanup_free_ char *path = xasprintf("%s/ledger.db", state_dir);
        if (make_db_file(path, err) < 0)
                return NULL;

        struct store *s = xzalloc(sizeof(*s));
        s->path = TAKE_PTR(path);
        pthread_mutex_init(&s->lock, NULL);
        pthread_mutex_init(&s->pending_lock, NULL);
        /* NOMUTEX: s->lock already serialises every use of the connection. */
        int rc = sqlite3_open_v2(s->path, &s->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                                 NULL);
        if (rc != SQLITE_OK) {
                error_set(err, DS01_ERR, "opening ledger %s: %s", s->path,
                          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
                return store_free(s);
        }
        if (configure(s, err) < 0 || migrate(s, err) < 0 || prepare_statements(s, err) < 0)
                return store_free(s);
        if (store_inbox_load_pending(s, err) < 0)
                return store_free(s);
        return s;
}

struct store *store_free(struct store *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < _S_MAX; i++)
                sqlite3_finalize(s->stmts[i]);
        sqlite3_close(s->db);
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->pending_lock);
        free(s->pending);
        free(s->path);
        free(s);
        return NULL;
}

uint64_t store_generation(struct store *s)
{
        return atomic_load(&s->gen);
}
