/* store.c - the ledger (see store.h): one SQLite connection in WAL mode, serialised by a mutex.
 *
 * Every public function is one transaction: take the mutex, BEGIN (IMMEDIATE when it writes), do
 * the work in a *_locked helper that only returns 0 or -1, then COMMIT, or ROLLBACK on any
 * failure, and drop the mutex. All SQL is constant text in one table below, prepared once at
 * open; every value reaches SQLite as a bound parameter. */
#include "daemon/ledger/store.h"

#include <stdatomic.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "shared/strbuf.h"

/* The schema this code reads and writes (PRAGMA user_version). A database written by a newer
 * ds01d is refused rather than guessed at. */
#define STORE_SCHEMA_VERSION  7
#define STORE_BUSY_TIMEOUT_MS 5000
/* GPU-equivalents are sums of sevenths: compare them with a little slack. */
#define STORE_EPSILON 1e-9
/* Refusal messages name at most this many containers. */
#define STORE_MAX_NAMES_LISTED 8

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
};

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
        _S_MAX,
};

#define CONTAINER_COLUMNS                                                                          \
        "name, project, user, uid, docker_id, state, created_at, keepalive_until, "                \
        "last_active_ms, "                                                                         \
        "clocks_at_ms, idle_warned, runtime_warned, runtime_from_ms"

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
    [S_DELETE_CONTAINER] = {"DELETE FROM containers WHERE name = ?1", "deleting the container"},
    [S_LIST_CONTAINERS] = {"SELECT " CONTAINER_COLUMNS " FROM containers "
                           "WHERE ?1 < 0 OR uid = ?1 ORDER BY created_at, name",
                           "listing containers"},
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

/* A growable NULL-terminated string vector. */
struct strv {
        char **v;
        size_t n;
        size_t cap;
};

static void strv_push(struct strv *sv, const char *s)
{
        if (sv->n + 2 > sv->cap) {
                sv->cap = sv->cap ? sv->cap * 2 : 8;
                sv->v = xrealloc(sv->v, sv->cap * sizeof(char *));
        }
        sv->v[sv->n++] = xstrdup(s);
        sv->v[sv->n] = NULL;
}

static bool strv_contains(const struct strv *sv, const char *s)
{
        for (size_t i = 0; i < sv->n; i++)
                if (streq(sv->v[i], s))
                        return true;
        return false;
}

/* Hands out the vector (never NULL: an empty one is just {NULL}). */
static char **strv_take(struct strv *sv)
{
        char **v = sv->v ? sv->v : xcalloc(1, sizeof(char *));
        *sv = (struct strv){0};
        return v;
}

static void strv_release(struct strv *sv)
{
        store_strv_free(sv->v);
        *sv = (struct strv){0};
}
#define _cleanup_strv_ _cleanup_(strv_release)

void store_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

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

/* The prepared statement id, reset and bound, ready to step; NULL (err set) if binding failed. */
static sqlite3_stmt *query(struct store *s, struct error **err, enum stmt_id id, const char *types,
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

/* 1: a row is ready, 0: done, -1: error (err set). */
static int step(struct store *s, sqlite3_stmt *st, enum stmt_id id, struct error **err)
{
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return db_fail(s, err, statements[id].what);
}

/* Runs a statement that returns no rows. */
static int exec(struct store *s, struct error **err, enum stmt_id id, const char *types, ...)
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

static char *column_strdup(sqlite3_stmt *st, int col)
{
        const unsigned char *t = sqlite3_column_text(st, col);
        return t ? xstrdup((const char *)t) : NULL;
}

static const char *column_str(sqlite3_stmt *st, int col)
{
        const unsigned char *t = sqlite3_column_text(st, col);
        return t ? (const char *)t : "";
}

static int tx_begin(struct store *s, bool write, struct error **err)
{
        pthread_mutex_lock(&s->lock);
        if (exec(s, err, write ? S_BEGIN_IMMEDIATE : S_BEGIN, "") < 0) {
                pthread_mutex_unlock(&s->lock);
                return -1;
        }
        s->tx_changes = sqlite3_total_changes(s->db);
        return 0;
}

/* Commits when r >= 0, else rolls back; returns 0 or -1. Always drops the lock. */
static int tx_end(struct store *s, int r, struct error **err)
{
        /* Finish every statement first, so none holds the transaction open. */
        for (size_t i = 0; i < _S_MAX; i++)
                sqlite3_reset(s->stmts[i]);
        if (r >= 0 && exec(s, err, S_COMMIT, "") < 0)
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
                *ret_text = rc == SQLITE_ROW ? column_strdup(st, 0) : NULL;
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

static int pending_load_row(void *ctx, int n, char **vals, char **cols);

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
        char *msg = NULL;
        if (sqlite3_exec(s->db, "SELECT DISTINCT uid FROM inbox WHERE shown = 0", pending_load_row,
                         s, &msg) != SQLITE_OK) {
                error_set(err, DS01_ERR, "%s: reading the inbox: %s", s->path, msg ? msg : "?");
                sqlite3_free(msg);
                return store_free(s);
        }
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

/* ---- decisions ---- */

static int row_exists(struct store *s, enum stmt_id id, const char *key, struct error **err)
{
        sqlite3_stmt *st = query(s, err, id, "t", key);
        if (!st)
                return -1;
        return step(s, st, id, err);
}

static int check_container_limit(struct store *s, const struct store_reservation_req *req,
                                 struct error **err)
{
        if (req->max_containers < 0)
                return 0;
        sqlite3_stmt *st = query(s, err, S_USER_CONTAINERS, "i", (int64_t)req->uid);
        if (!st)
                return -1;
        _cleanup_strv_ struct strv projects = {0};
        int r;
        while ((r = step(s, st, S_USER_CONTAINERS, err)) > 0)
                strv_push(&projects, column_str(st, 0));
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
        sqlite3_stmt *st = query(s, err, S_USER_HOLDINGS, "i", (int64_t)req->uid);
        if (!st)
                return -1;
        /* Which container holds how much: "'exp-a' (1.0), 'exp-b' (0.43)". */
        _cleanup_strv_ struct strv holders = {0};
        struct strbuf held_by = STRBUF_INIT;
        double held = 0;
        int r;
        while ((r = step(s, st, S_USER_HOLDINGS, err)) > 0) {
                double w = sqlite3_column_double(st, 1);
                held += w;
                if (w > STORE_EPSILON) {
                        char b[32];
                        strv_push(&holders, column_str(st, 0));
                        if (holders.n <= STORE_MAX_NAMES_LISTED)
                                strbuf_addf(&held_by, "%s'%s' (%s)", holders.n > 1 ? ", " : "",
                                            column_str(st, 0), format_ge(w, b));
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
        return exec(s, err, S_INSERT_LEASE, "ttitdiit", slot->uuid, container, (int64_t)uid, state,
                    slot->weight, since, leased_at, slot->parent_uuid);
}

/* 1 when the slot, its physical GPU (leased whole) or one of its MIG instances is leased. */
static int family_leased(struct store *s, const struct gpu_slot *slot, struct error **err)
{
        sqlite3_stmt *st = query(s, err, S_FAMILY_LEASED, "tt", slot->uuid, slot->parent_uuid);
        if (!st)
                return -1;
        return step(s, st, S_FAMILY_LEASED, err);
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
        size_t n_free = 0, n_leased = 0, n_drained = 0;
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
                cheapest = fmin(cheapest, c->weight);
                r = family_leased(s, c, err);
                if (r < 0)
                        return -1;
                if (r > 0) {
                        n_leased++;
                        continue;
                }
                sqlite3_stmt *st = query(s, err, S_SLOT_USAGE, "t", c->uuid);
                if (!st || step(s, st, S_SLOT_USAGE, err) < 0)
                        return -1;
                free_[n_free++] = (struct store_free_slot){
                    .slot = c,
                    .leased_s = sqlite3_column_int64(st, 0),
                    .last_released = sqlite3_column_int64(st, 1),
                };
        }
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
        size_t usable = seen.n - n_drained;
        size_t missing = (size_t)req->n_slots - n_picked;
        double need = weight + (missing && isfinite(cheapest) ? (double)missing * cheapest : 0);
        if (check_quota(s, req, need, err) < 0)
                return -1;
        if (missing) {
                _cleanup_free_ char *drained =
                    n_drained ? xasprintf(" (%zu more drained for maintenance)", n_drained)
                              : xstrdup("");
                if (usable == 0)
                        return error_set(err, DS01_ERESOURCE,
                                         "no GPU free: there is no GPU you may use on this "
                                         "server%s - deploy with --cpu-only",
                                         drained);
                if ((size_t)req->n_slots > usable)
                        return error_set(err, DS01_ERESOURCE,
                                         "you asked for %d GPUs but this server has %zu you may "
                                         "use%s - ask for fewer",
                                         req->n_slots, usable, drained);
                if (n_picked == 0)
                        return error_set(err, DS01_ERESOURCE,
                                         "no GPU free: %zu of %zu GPUs are leased%s - try again "
                                         "later, or deploy with --cpu-only",
                                         n_leased, usable, drained);
                return error_set(err, DS01_ERESOURCE,
                                 "not enough GPUs free: you asked for %d but %zu of %zu GPUs are "
                                 "leased%s - try again later, ask for fewer GPUs, or deploy with "
                                 "--cpu-only",
                                 req->n_slots, n_leased, usable, drained);
        }

        int64_t now = now_s();
        if (!req->existing &&
            exec(s, err, S_INSERT_CONTAINER, "tttitti", req->container, req->project, req->user,
                 (int64_t)req->uid, (const char *)NULL, "reserved", now) < 0)
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
        if (tx_begin(s, true, err) < 0)
                return -1;
        if (tx_end(s, reserve_locked(s, req, &uuids, err), err) < 0)
                return -1;
        *ret_uuids = strv_take(&uuids);
        return 0;
}

static int bind_locked(struct store *s, const char *container, const char *docker_id,
                       struct error **err)
{
        if (exec(s, err, S_BIND_CONTAINER, "tt", container, docker_id) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0)
                return error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                                 container);
        return exec(s, err, S_BIND_LEASES, "ti", container, now_s());
}

int store_bind(struct store *s, const char *container, const char *docker_id, struct error **err)
{
        assert(s && container && docker_id);
        if (tx_begin(s, true, err) < 0)
                return -1;
        return tx_end(s, bind_locked(s, container, docker_id, err), err);
}

static int forget_locked(struct store *s, const char *container, struct strv *ret_released,
                         struct error **err)
{
        sqlite3_stmt *st = query(s, err, S_CONTAINER_LEASE_UUIDS, "t", container);
        if (!st)
                return -1;
        int r;
        while ((r = step(s, st, S_CONTAINER_LEASE_UUIDS, err)) > 0)
                strv_push(ret_released, column_str(st, 0));
        if (r < 0)
                return -1;
        if (exec(s, err, S_ARCHIVE_LEASES, "ti", container, now_s()) < 0)
                return -1;
        /* ON DELETE CASCADE removes the leases. */
        return exec(s, err, S_DELETE_CONTAINER, "t", container);
}

int store_forget(struct store *s, const char *container, char ***ret_released, struct error **err)
{
        assert(s && container);
        _cleanup_strv_ struct strv released = {0};
        if (tx_begin(s, true, err) < 0)
                return -1;
        if (tx_end(s, forget_locked(s, container, &released, err), err) < 0)
                return -1;
        if (ret_released)
                *ret_released = strv_take(&released);
        return 0;
}

static int changes_locked(struct store *s, enum stmt_id id, const char *container,
                          struct error **err)
{
        if (exec(s, err, id, "ti", container, now_s()) < 0)
                return -1;
        return sqlite3_changes(s->db);
}

static int update_leases(struct store *s, enum stmt_id id, const char *container,
                         struct error **err)
{
        assert(s && container);
        if (tx_begin(s, true, err) < 0)
                return -1;
        int n = changes_locked(s, id, container, err);
        if (tx_end(s, n < 0 ? -1 : 0, err) < 0)
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
        sqlite3_stmt *st = query(s, err, ids[0], "t", container);
        if (!st)
                return -1;
        int r;
        while ((r = step(s, st, ids[0], err)) > 0)
                strv_push(ret_released, column_str(st, 0));
        if (r < 0 || exec(s, err, ids[1], "ti", container, now_s()) < 0)
                return -1;
        return exec(s, err, ids[2], "t", container);
}

static int release(struct store *s, const char *container, const enum stmt_id ids[3],
                   char ***ret_released, struct error **err)
{
        assert(s && container);
        _cleanup_strv_ struct strv released = {0};
        if (tx_begin(s, true, err) < 0)
                return -1;
        if (tx_end(s, release_locked(s, container, ids, &released, err), err) < 0)
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
        if (tx_begin(s, true, err) < 0)
                return -1;
        return tx_end(s, exec(s, err, S_UNBIND_CONTAINER, "t", container), err);
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
        if (tx_begin(s, true, err) < 0)
                return -1;
        int r = exec(s, err, S_INSERT_DRAIN, "ttti", slot_uuid, by, reason, now_s());
        int n = r < 0 ? -1 : sqlite3_changes(s->db);
        if (tx_end(s, r, err) < 0)
                return -1;
        return n;
}

int store_undrain(struct store *s, const char *slot_uuid, struct error **err)
{
        assert(s && slot_uuid);
        if (tx_begin(s, true, err) < 0)
                return -1;
        int r = exec(s, err, S_DELETE_DRAIN, "t", slot_uuid);
        int n = r < 0 ? -1 : sqlite3_changes(s->db);
        if (tx_end(s, r, err) < 0)
                return -1;
        return n;
}

static int drains_locked(struct store *s, struct store_drain **v, size_t *n, struct error **err)
{
        sqlite3_stmt *st = query(s, err, S_LIST_DRAINS, "");
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = step(s, st, S_LIST_DRAINS, err)) > 0) {
                if (*n == cap) {
                        cap = cap ? cap * 2 : 8;
                        *v = xrealloc(*v, cap * sizeof(**v));
                }
                (*v)[(*n)++] = (struct store_drain){
                    .slot_uuid = column_strdup(st, 0),
                    .by = column_strdup(st, 1),
                    .reason = column_strdup(st, 2),
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
        if (tx_begin(s, false, err) < 0)
                return -1;
        if (tx_end(s, drains_locked(s, &v, &n, err), err) < 0) {
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

/* ---- reading ---- */

static int load_leases(struct store *s, struct store_container *c, struct error **err)
{
        sqlite3_stmt *st = query(s, err, S_CONTAINER_LEASES, "t", c->name);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = step(s, st, S_CONTAINER_LEASES, err)) > 0) {
                if (c->n_leases == cap) {
                        cap = cap ? cap * 2 : 4;
                        c->leases = xrealloc(c->leases, cap * sizeof(*c->leases));
                }
                c->leases[c->n_leases++] = (struct store_lease){
                    .slot_uuid = column_strdup(st, 0),
                    .container = column_strdup(st, 1),
                    .uid = (unsigned)sqlite3_column_int64(st, 2),
                    .state = column_strdup(st, 3),
                    .weight = sqlite3_column_double(st, 4),
                    .since = sqlite3_column_int64(st, 5),
                    .leased_at = sqlite3_column_int64(st, 6),
                };
        }
        return r < 0 ? -1 : 0;
}

/* Fills c from a row of CONTAINER_COLUMNS, then its leases. c owns what it got even on failure. */
static int load_container(struct store *s, sqlite3_stmt *st, struct store_container *c,
                          struct error **err)
{
        *c = (struct store_container){
            .name = column_strdup(st, 0),
            .project = column_strdup(st, 1),
            .user = column_strdup(st, 2),
            .uid = (unsigned)sqlite3_column_int64(st, 3),
            .docker_id = column_strdup(st, 4),
            .state = column_strdup(st, 5),
            .created_at = sqlite3_column_int64(st, 6),
            .keepalive_until = sqlite3_column_int64(st, 7),
            .last_active_ms = sqlite3_column_int64(st, 8),
            .clocks_at_ms = sqlite3_column_int64(st, 9),
            .idle_warned = (int)sqlite3_column_int64(st, 10),
            .runtime_warned = (int)sqlite3_column_int64(st, 11),
            .runtime_from_ms = sqlite3_column_int64(st, 12),
        };
        return load_leases(s, c, err);
}

struct container_vec {
        struct store_container *v;
        size_t n;
};

static void container_vec_release(struct container_vec *cv)
{
        store_containers_free(cv->v, cv->n);
        *cv = (struct container_vec){0};
}

static int list_locked(struct store *s, int64_t uid, struct container_vec *ret, struct error **err)
{
        sqlite3_stmt *st = query(s, err, S_LIST_CONTAINERS, "i", uid);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = step(s, st, S_LIST_CONTAINERS, err)) > 0) {
                if (ret->n == cap) {
                        cap = cap ? cap * 2 : 8;
                        ret->v = xrealloc(ret->v, cap * sizeof(*ret->v));
                }
                if (load_container(s, st, &ret->v[ret->n++], err) < 0)
                        return -1;
        }
        return r < 0 ? -1 : 0;
}

int store_list(struct store *s, int64_t uid, struct store_container **ret, size_t *ret_n,
               struct error **err)
{
        assert(s && ret && ret_n);
        _cleanup_(container_vec_release) struct container_vec cv = {0};
        if (tx_begin(s, false, err) < 0)
                return -1;
        if (tx_end(s, list_locked(s, uid, &cv, err), err) < 0)
                return -1;
        *ret = TAKE_PTR(cv.v);
        *ret_n = cv.n;
        cv.n = 0;
        return 0;
}

static int get_locked(struct store *s, const char *container, struct store_container *c,
                      struct error **err)
{
        sqlite3_stmt *st = query(s, err, S_GET_CONTAINER, "t", container);
        if (!st)
                return -1;
        int r = step(s, st, S_GET_CONTAINER, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                                 container);
        return load_container(s, st, c, err);
}

int store_get(struct store *s, const char *container, struct store_container *ret,
              struct error **err)
{
        assert(s && container && ret);
        struct store_container c = {0};
        if (tx_begin(s, false, err) < 0)
                return -1;
        if (tx_end(s, get_locked(s, container, &c, err), err) < 0) {
                store_container_release(&c);
                return -1;
        }
        *ret = c;
        return 0;
}

void store_container_release(struct store_container *c)
{
        if (!c)
                return;
        free(c->name);
        free(c->project);
        free(c->user);
        free(c->docker_id);
        free(c->state);
        for (size_t i = 0; i < c->n_leases; i++) {
                free(c->leases[i].slot_uuid);
                free(c->leases[i].container);
                free(c->leases[i].state);
        }
        free(c->leases);
        *c = (struct store_container){0};
}

void store_containers_free(struct store_container *v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                store_container_release(&v[i]);
        free(v);
}

int store_set_keepalive(struct store *s, const char *container, int64_t until, struct error **err)
{
        assert(s && container);
        if (tx_begin(s, true, err) < 0)
                return -1;
        int r = exec(s, err, S_SET_KEEPALIVE, "ti", container, until);
        if (r == 0 && sqlite3_changes(s->db) == 0)
                r = error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                              container);
        return tx_end(s, r, err);
}

int store_set_runtime_from(struct store *s, const char *container, int64_t from_ms,
                           struct error **err)
{
        assert(s && container);
        if (tx_begin(s, true, err) < 0)
                return -1;
        int r = exec(s, err, S_SET_RUNTIME_FROM, "ti", container, from_ms);
        if (r == 0 && sqlite3_changes(s->db) == 0)
                r = error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                              container);
        return tx_end(s, r, err);
}

int store_save_clocks(struct store *s, const struct store_clocks *v, size_t n, struct error **err)
{
        assert(s && (v || n == 0));
        if (n == 0)
                return 0;
        if (tx_begin(s, true, err) < 0)
                return -1;
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                r = exec(s, err, S_SET_CLOCKS, "tiiii", v[i].container, v[i].last_active_ms,
                         v[i].at_ms, (int64_t)v[i].idle_warned, (int64_t)v[i].runtime_warned);
        return tx_end(s, r, err);
}

static int inbox_add_locked(struct store *s, unsigned uid, const char *container, const char *event,
                            const char *message, struct error **err)
{
        if (exec(s, err, S_INBOX_ADD, "ittti", (int64_t)uid, container, event, message, now_s()) <
            0)
                return -1;
        return exec(s, err, S_INBOX_TRIM, "i", (int64_t)uid);
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

int store_inbox_add(struct store *s, unsigned uid, const char *container, const char *event,
                    const char *message, struct error **err)
{
        assert(s && container && event && message);
        if (tx_begin(s, true, err) < 0)
                return -1;
        s->tx_quiet = true;
        if (tx_end(s, inbox_add_locked(s, uid, container, event, message, err), err) < 0)
                return -1;
        /* after the commit: a take that cleared the flag before it reads the row, or sees the
         * flag again */
        pending_set(s, uid, true);
        return 0;
}

static int inbox_read_locked(struct store *s, enum stmt_id id, unsigned uid, int64_t limit,
                             struct store_inbox_msg **v, size_t *n, struct error **err)
{
        sqlite3_stmt *st = id == S_INBOX_LIST ? query(s, err, id, "ii", (int64_t)uid, limit)
                                              : query(s, err, id, "i", (int64_t)uid);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = step(s, st, id, err)) > 0) {
                if (*n == cap) {
                        cap = cap ? cap * 2 : 8;
                        *v = xrealloc(*v, cap * sizeof(**v));
                }
                (*v)[(*n)++] = (struct store_inbox_msg){
                    .id = sqlite3_column_int64(st, 0),
                    .container = column_strdup(st, 1),
                    .event = column_strdup(st, 2),
                    .message = column_strdup(st, 3),
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
        return exec(s, err, S_INBOX_MARK, "ii", (int64_t)uid, (*v)[*n - 1].id);
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
        bool begun = tx_begin(s, true, err) == 0;
        if (begun)
                s->tx_quiet = true;
        if (!begun || tx_end(s, inbox_take_locked(s, uid, &v, &n, err), err) < 0) {
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
        if (tx_begin(s, false, err) < 0)
                return -1;
        if (tx_end(s, inbox_read_locked(s, S_INBOX_LIST, uid, limit, &v, &n, err), err) < 0) {
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

uint64_t store_generation(struct store *s)
{
        return atomic_load(&s->gen);
}

/* ---- usage accounting ---- */

static int usage_add_locked(struct store *s, const struct store_usage *v, size_t n,
                            struct error **err)
{
        for (size_t i = 0; i < n; i++) {
                assert(v[i].user && strlen(v[i].day) == 10);
                if (exec(s, err, S_USAGE_ADD, "titddii", v[i].day, (int64_t)v[i].uid, v[i].user,
                         v[i].allocated_s, v[i].active_s, v[i].containers,
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
        if (tx_begin(s, true, err) < 0)
                return -1;
        s->tx_quiet = true; /* usage rows: nothing a container snapshot shows */
        return tx_end(s, usage_add_locked(s, v, n, err), err);
}

static int usage_month_locked(struct store *s, const char *month, int64_t uid,
                              struct store_usage **v, size_t *n, struct error **err)
{
        sqlite3_stmt *st = query(s, err, S_USAGE_MONTH, "ti", month, uid);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = step(s, st, S_USAGE_MONTH, err)) > 0) {
                if (*n == cap) {
                        cap = cap ? cap * 2 : 8;
                        *v = xrealloc(*v, cap * sizeof(**v));
                }
                struct store_usage *u = &(*v)[(*n)++];
                *u = (struct store_usage){
                    .uid = (unsigned)sqlite3_column_int64(st, 0),
                    .user = column_strdup(st, 1),
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
        if (tx_begin(s, false, err) < 0)
                return -1;
        if (tx_end(s, usage_month_locked(s, month, uid, &v, &n, err), err) < 0) {
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
        sqlite3_stmt *st = query(s, err, S_RELEASED_SINCE, "i", since);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = step(s, st, S_RELEASED_SINCE, err)) > 0) {
                if (*n == cap) {
                        cap = cap ? cap * 2 : 8;
                        *v = xrealloc(*v, cap * sizeof(**v));
                }
                (*v)[(*n)++] = (struct store_released){
                    .container = column_strdup(st, 0),
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
        _cleanup_(container_vec_release) struct container_vec cv = {0};
        struct store_released *rel = NULL;
        size_t n_rel = 0;
        if (tx_begin(s, false, err) < 0)
                return -1;
        int r = list_locked(s, -1, &cv, err);
        if (r >= 0)
                r = released_locked(s, released_since, &rel, &n_rel, err);
        if (tx_end(s, r, err) < 0) {
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
