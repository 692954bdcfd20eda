/* store-containers.c - the ledger's container rows: reads, keep-alive, runtime start, clocks. */
#include "daemon/ledger/store-internal.h"

#include <assert.h>
#include <inttypes.h>

static int load_leases(struct store *s, struct store_container *c, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_CONTAINER_LEASES, "t", c->name);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = store_step(s, st, S_CONTAINER_LEASES, err)) > 0) {
                c->leases = xgrow(c->leases, c->n_leases, &cap, sizeof(*c->leases));
                c->leases[c->n_leases++] = (struct store_lease){
                    .slot_uuid = store_column_strdup(st, 0),
                    .container = store_column_strdup(st, 1),
                    .uid = (unsigned)sqlite3_column_int64(st, 2),
                    .state = store_column_strdup(st, 3),
                    .weight = sqlite3_column_double(st, 4),
                    .since = sqlite3_column_int64(st, 5),
                    .leased_at = sqlite3_column_int64(st, 6),
                };
        }
        return r < 0 ? -1 : 0;
}

/* Fills c from a row of CONTAINER_COLUMNS (store.c), then its leases. c owns what it got even on
 * failure. */
static int load_container(struct store *s, sqlite3_stmt *st, struct store_container *c,
                          struct error **err)
{
        *c = (struct store_container){
            .name = store_column_strdup(st, 0),
            .project = store_column_strdup(st, 1),
            .user = store_column_strdup(st, 2),
            .uid = (unsigned)sqlite3_column_int64(st, 3),
            .docker_id = store_column_strdup(st, 4),
            .state = store_column_strdup(st, 5),
            .created_at = sqlite3_column_int64(st, 6),
            .keepalive_until = sqlite3_column_int64(st, 7),
            .last_active_ms = sqlite3_column_int64(st, 8),
            .clocks_at_ms = sqlite3_column_int64(st, 9),
            .idle_warned = (int)sqlite3_column_int64(st, 10),
            .runtime_warned = (int)sqlite3_column_int64(st, 11),
            .runtime_from_ms = sqlite3_column_int64(st, 12),
            .manual_stop_at = sqlite3_column_int64(st, 13),
            .pin = store_column_strdup(st, 15),
            .slurm_job = sqlite3_column_int64(st, 16),
        };
        /* "6006:0,8888:20001" (port:tcp, ascending), or NULL */
        for (const char *p = store_column_str(st, 14); *p && c->n_ports < NAMES_PORTS_MAX;) {
                char *end;
                c->ports[c->n_ports] = (int)strtol(p, &end, 10);
                c->tcp_ports[c->n_ports++] = *end == ':' ? (int)strtol(end + 1, &end, 10) : 0;
                p = *end == ',' ? end + 1 : end + strlen(end);
        }
        return load_leases(s, c, err);
}

void store_container_vec_release(struct store_container_vec *cv)
{
        store_containers_free(cv->v, cv->n);
        *cv = (struct store_container_vec){0};
}

int store_list_locked(struct store *s, int64_t uid, struct store_container_vec *ret,
                      struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_LIST_CONTAINERS, "i", uid);
        if (!st)
                return -1;
        size_t cap = 0;
        int r;
        while ((r = store_step(s, st, S_LIST_CONTAINERS, err)) > 0) {
                ret->v = xgrow(ret->v, ret->n, &cap, sizeof(*ret->v));
                if (load_container(s, st, &ret->v[ret->n++], err) < 0)
                        return -1;
        }
        return r < 0 ? -1 : 0;
}

int store_list(struct store *s, int64_t uid, struct store_container **ret, size_t *ret_n,
               struct error **err)
{
        assert(s && ret && ret_n);
        _cleanup_(store_container_vec_release) struct store_container_vec cv = {0};
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        if (store_tx_end(s, store_list_locked(s, uid, &cv, err), err) < 0)
                return -1;
        *ret = TAKE_PTR(cv.v);
        *ret_n = cv.n;
        cv.n = 0;
        return 0;
}

static int get_locked(struct store *s, const char *container, struct store_container *c,
                      struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_GET_CONTAINER, "t", container);
        if (!st)
                return -1;
        int r = store_step(s, st, S_GET_CONTAINER, err);
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
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        if (store_tx_end(s, get_locked(s, container, &c, err), err) < 0) {
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
        free(c->pin);
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
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = store_exec(s, err, S_SET_KEEPALIVE, "ti", container, until);
        if (r == 0 && sqlite3_changes(s->db) == 0)
                r = error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                              container);
        return store_tx_end(s, r, err);
}

int store_set_slurm_job(struct store *s, const char *container, int64_t job, struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = store_exec(s, err, S_SET_SLURM_JOB, "ti", container, job);
        if (r == 0 && sqlite3_changes(s->db) == 0)
                r = error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                              container);
        return store_tx_end(s, r, err);
}

int store_set_manual_stop(struct store *s, const char *container, int64_t at, struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, store_exec(s, err, S_SET_MANUAL_STOP, "ti", container, at), err);
}

int store_set_runtime_from(struct store *s, const char *container, int64_t from_ms,
                           struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = store_exec(s, err, S_SET_RUNTIME_FROM, "ti", container, from_ms);
        if (r == 0 && sqlite3_changes(s->db) == 0)
                r = error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                              container);
        return store_tx_end(s, r, err);
}

int store_save_clocks(struct store *s, const struct store_clocks *v, size_t n, struct error **err)
{
        assert(s && (v || n == 0));
        if (n == 0)
                return 0;
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                r = store_exec(s, err, S_SET_CLOCKS, "tiiii", v[i].container, v[i].last_active_ms,
                               v[i].at_ms, (int64_t)v[i].idle_warned, (int64_t)v[i].runtime_warned);
        return store_tx_end(s, r, err);
}

static int port_add_locked(struct store *s, const char *container, int port, struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_CONTAINER_EXISTS, "t", container);
        int r = st ? store_step(s, st, S_CONTAINER_EXISTS, err) : -1;
        if (r <= 0)
                return r < 0 ? -1
                             : error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger",
                                         container);
        st = store_query(s, err, S_PORT_COUNT, "ti", container, (int64_t)port);
        if (!st || store_step(s, st, S_PORT_COUNT, err) <= 0)
                return error_set(err, DS01_ERR, "counting the ports of '%s' failed", container);
        int64_t n = sqlite3_column_int64(st, 0), same = sqlite3_column_int64(st, 1);
        if (same > 0)
                return error_set(err, DS01_ERR, "port %d is already published", port);
        if (n >= NAMES_PORTS_MAX)
                return error_set(err, DS01_EUSAGE,
                                 "%" PRId64 " ports are published already, the most a container "
                                 "may have: remove one first (container-port NAME remove PORT)",
                                 n);
        return store_exec(s, err, S_PORT_ADD, "tii", container, (int64_t)port, now_s());
}

int store_port_add(struct store *s, const char *container, int port, struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, port_add_locked(s, container, port, err), err);
}

int store_port_set_tcp(struct store *s, const char *container, int port, int tcp,
                       struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(
            s, store_exec(s, err, S_PORT_SET_TCP, "tii", container, (int64_t)port, (int64_t)tcp),
            err);
}

static int port_remove_locked(struct store *s, const char *container, int port, struct error **err)
{
        int before = sqlite3_total_changes(s->db);
        if (store_exec(s, err, S_PORT_REMOVE, "ti", container, (int64_t)port) < 0)
                return -1;
        if (sqlite3_total_changes(s->db) == before)
                return error_set(err, DS01_ENOTFOUND, "port %d is not published", port);
        return 0;
}

int store_port_remove(struct store *s, const char *container, int port, struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, port_remove_locked(s, container, port, err), err);
}

const char *store_pin_name(const struct store_container *c)
{
        return c->pin ? c->pin : c->name;
}

static int rename_locked(struct store *s, const char *from, const char *to, const char *project,
                         struct error **err)
{
        sqlite3_stmt *st = store_query(s, err, S_CONTAINER_EXISTS, "t", to);
        if (!st)
                return -1;
        int r = store_step(s, st, S_CONTAINER_EXISTS, err);
        if (r != 0)
                return r < 0 ? -1
                             : error_set(err, DS01_ERESOURCE,
                                         "Conflict. The container name \"/%s\" is already in use",
                                         to);
        if (store_exec(s, err, S_RENAME_COPY, "ttt", from, to, project) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0)
                return error_set(err, DS01_ENOTFOUND, "container '%s' is not in the ledger", from);
        if (store_exec(s, err, S_RENAME_LEASES, "tt", from, to) < 0 ||
            store_exec(s, err, S_RENAME_PORTS, "tt", from, to) < 0)
                return -1;
        return store_exec(s, err, S_DELETE_CONTAINER, "t", from);
}

int store_rename(struct store *s, const char *from, const char *to, const char *project,
                 struct error **err)
{
        assert(s && from && to && project);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, rename_locked(s, from, to, project, err), err);
}

int store_clear_pin(struct store *s, const char *container, struct error **err)
{
        assert(s && container);
        if (store_tx_begin(s, true, err) < 0)
                return -1;
        return store_tx_end(s, store_exec(s, err, S_CLEAR_PIN, "t", container), err);
}

int store_pin_users(struct store *s, const char *pin, struct error **err)
{
        assert(s && pin);
        if (store_tx_begin(s, false, err) < 0)
                return -1;
        int n = 0;
        sqlite3_stmt *st = store_query(s, err, S_PIN_USERS, "t", pin);
        int r = st ? store_step(s, st, S_PIN_USERS, err) : -1;
        if (r > 0)
                n = (int)sqlite3_column_int64(st, 0);
        if (store_tx_end(s, r < 0 ? -1 : 0, err) < 0)
                return -1;
        return n;
}
