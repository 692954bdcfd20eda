/* test-store.c - the ledger: reservations, limits, races, persistence, schema versions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "daemon/rules/monitor.h"
#include "daemon/ledger/store.h"
#include "shared/error.h"

struct fixture {
        char dir[64];
        char *state_dir; /* dir/state: store_open creates it */
        struct store *store;
        struct gpu_slot slots[8];
        const struct gpu_slot *candidates[8];
        size_t n_slots;
        /* strings the requests point to, freed at teardown */
        pthread_mutex_t lock;
        char *strings[64];
        size_t n_strings;
};

static void set_slots(struct fixture *f, size_t n, const double *weights)
{
        assert_true(n <= ARRAY_SIZE(f->slots));
        for (size_t i = 0; i < f->n_slots; i++)
                free(f->slots[i].uuid);
        for (size_t i = 0; i < n; i++) {
                f->slots[i] = (struct gpu_slot){
                    .uuid = xasprintf("GPU-%04zu", i),
                    .gpu_index = (int)i,
                    .weight = weights ? weights[i] : 1.0,
                    .allocatable = true,
                };
                f->candidates[i] = &f->slots[i];
        }
        f->n_slots = n;
}

static int setup(void **state)
{
        struct fixture *f = xzalloc(sizeof(*f));
        strcpy(f->dir, "/tmp/ds01-test-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->state_dir = xasprintf("%s/state", f->dir);
        _cleanup_error_ struct error *err = NULL;
        f->store = store_open(f->state_dir, &err);
        assert_null(err);
        assert_non_null(f->store);
        set_slots(f, 4, NULL);
        pthread_mutex_init(&f->lock, NULL);
        *state = f;
        return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st, (void)flag, (void)ftw;
        return remove(path);
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        f->store = store_free(f->store);
        set_slots(f, 0, NULL);
        assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        for (size_t i = 0; i < f->n_strings; i++)
                free(f->strings[i]);
        pthread_mutex_destroy(&f->lock);
        free(f->state_dir);
        free(f);
        return 0;
}

/* A request with no limits for container "<project>._.<user>" over all fixture slots. */
static struct store_reservation_req req_for(struct fixture *f, const char *container, unsigned uid,
                                            int n_slots)
{
        char *project = xstrndup(container, strcspn(container, "."));
        pthread_mutex_lock(&f->lock);
        assert_true(f->n_strings < ARRAY_SIZE(f->strings));
        f->strings[f->n_strings++] = project;
        pthread_mutex_unlock(&f->lock);
        return (struct store_reservation_req){
            .container = container,
            .project = project,
            .user = "alice",
            .uid = uid,
            .n_slots = n_slots,
            .max_gpu_equivalents = -1,
            .max_slots_per_container = -1,
            .max_containers = -1,
            .candidates = f->candidates,
            .n_candidates = f->n_slots,
        };
}

static size_t strv_length(char **v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

/* Reserves and expects success; returns the leased uuids. */
static char **reserve_ok(struct fixture *f, const struct store_reservation_req *req)
{
        _cleanup_error_ struct error *err = NULL;
        char **uuids = NULL;
        int r = store_reserve(f->store, req, &uuids, &err);
        if (err)
                print_error("store_reserve(%s): %s\n", req->container, err->message);
        assert_int_equal(r, 0);
        assert_non_null(uuids);
        assert_int_equal(strv_length(uuids), (size_t)req->n_slots);
        return uuids;
}

/* Reserves and expects a refusal with code and a message containing want. */
static void reserve_fails(struct fixture *f, const struct store_reservation_req *req, int code,
                          const char *want)
{
        _cleanup_error_ struct error *err = NULL;
        char **uuids = NULL;
        assert_int_equal(store_reserve(f->store, req, &uuids, &err), -1);
        assert_null(uuids);
        assert_non_null(err);
        if (!strstr(err->message, want))
                print_error("message: %s\nwanted:  %s\n", err->message, want);
        assert_int_equal(err->code, code);
        assert_non_null(strstr(err->message, want));
}

static void reserve_drop(struct fixture *f, const struct store_reservation_req *req)
{
        store_strv_free(reserve_ok(f, req));
}

static void test_round_trip(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ struct error *err = NULL;
        struct store_reservation_req req = req_for(f, "exp._.alice", 1000, 2);
        char **uuids = reserve_ok(f, &req);
        assert_string_equal(uuids[0], "GPU-0000");
        assert_string_equal(uuids[1], "GPU-0001");
        store_strv_free(uuids);

        struct store_container c;
        assert_int_equal(store_get(f->store, "exp._.alice", &c, &err), 0);
        assert_string_equal(c.name, "exp._.alice");
        assert_string_equal(c.project, "exp");
        assert_string_equal(c.user, "alice");
        assert_int_equal(c.uid, 1000);
        assert_null(c.docker_id);
        assert_string_equal(c.state, "reserved");
        assert_true(c.created_at > 0);
        assert_int_equal(c.n_leases, 2);
        assert_string_equal(c.leases[0].slot_uuid, "GPU-0000");
        assert_string_equal(c.leases[0].container, "exp._.alice");
        assert_string_equal(c.leases[0].state, "reserved");
        assert_int_equal(c.leases[0].uid, 1000);
        assert_true(c.leases[0].weight == 1.0);
        store_container_release(&c);

        assert_int_equal(store_bind(f->store, "exp._.alice", "d0c4e7", &err), 0);
        assert_int_equal(store_get(f->store, "exp._.alice", &c, &err), 0);
        assert_string_equal(c.state, "bound");
        assert_string_equal(c.docker_id, "d0c4e7");
        assert_int_equal(c.n_leases, 2);
        assert_string_equal(c.leases[0].state, "bound");
        assert_string_equal(c.leases[1].state, "bound");
        store_container_release(&c);

        /* A name already in the ledger is not reserved twice. */
        reserve_fails(f, &req, DS01_ERR, "already recorded");

        char **released = NULL;
        assert_int_equal(store_forget(f->store, "exp._.alice", &released, &err), 0);
        assert_int_equal(strv_length(released), 2);
        assert_string_equal(released[0], "GPU-0000");
        assert_string_equal(released[1], "GPU-0001");
        store_strv_free(released);
        assert_int_equal(store_get(f->store, "exp._.alice", &c, &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        err = error_free(err);

        /* The released leases went to the history, for accounting. */
        _cleanup_free_ char *path = xasprintf("%s/ledger.db", f->state_dir);
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT count(*), min(released_at >= leased_at) "
                                            "FROM lease_history WHERE container = 'exp._.alice'",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 2);
        assert_int_equal(sqlite3_column_int(st, 1), 1);
        sqlite3_finalize(st);
        sqlite3_close(db);

        /* Unknown: success, nothing released. */
        assert_int_equal(store_forget(f->store, "nope._.alice", &released, &err), 0);
        assert_int_equal(strv_length(released), 0);
        store_strv_free(released);
        assert_int_equal(store_forget(f->store, "nope._.alice", NULL, &err), 0);
        assert_null(err);
}

static void test_bind_unknown(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(store_bind(f->store, "ghost._.alice", "abc", &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        assert_non_null(strstr(err->message, "ghost._.alice"));
}

static void test_ledger_private(void **state)
{
        struct fixture *f = *state;
        struct stat st;
        assert_int_equal(stat(f->state_dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        _cleanup_free_ char *db = xasprintf("%s/ledger.db", f->state_dir);
        assert_int_equal(stat(db, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_double_lease_impossible(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 1, NULL);
        struct store_reservation_req a = req_for(f, "a._.alice", 1000, 1);
        struct store_reservation_req b = req_for(f, "b._.bob", 1001, 1);
        reserve_drop(f, &a);
        reserve_fails(f, &b, DS01_ERESOURCE,
                      "no GPU free: 1 of 1 GPUs are leased - add --wait to wait in the queue "
                      "for it, or deploy with --cpu-only");
        /* The refused container left nothing behind. */
        struct store_container c;
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(store_get(f->store, "b._.bob", &c, &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
}

static void test_forget_releases(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 1, NULL);
        struct store_reservation_req a = req_for(f, "a._.alice", 1000, 1);
        struct store_reservation_req b = req_for(f, "b._.bob", 1001, 1);
        reserve_drop(f, &a);
        reserve_fails(f, &b, DS01_ERESOURCE, "no GPU free");
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(store_forget(f->store, "a._.alice", NULL, &err), 0);
        char **uuids = reserve_ok(f, &b);
        assert_string_equal(uuids[0], "GPU-0000");
        store_strv_free(uuids);
}

static void test_quota_weights(void **state)
{
        struct fixture *f = *state;
        /* MIG slices: 3g, 3g, 1g, 1g of a 7-slice GPU. */
        const double w[] = {3.0 / 7, 3.0 / 7, 1.0 / 7, 1.0 / 7};
        set_slots(f, 4, w);
        const char *names[] = {"exp-a._.alice", "exp-b._.alice", "exp-c._.alice"};
        for (size_t i = 0; i < 3; i++) {
                struct store_reservation_req req = req_for(f, names[i], 1000, 1);
                req.max_gpu_equivalents = 1.0;
                req.candidates = &f->candidates[i];
                req.n_candidates = 1;
                reserve_drop(f, &req);
        }
        /* 3/7 + 3/7 + 1/7 == 1.0 exactly fits; one more 1/7 does not. */
        struct store_reservation_req req = req_for(f, "exp-d._.alice", 1000, 1);
        req.max_gpu_equivalents = 1.0;
        reserve_fails(f, &req, DS01_ERESOURCE,
                      "GPU quota reached: 1.0 of 1.0 GPU-equivalents in use by 'exp-a' (0.43), "
                      "'exp-b' (0.43), 'exp-c' (0.14) - retire one (container-retire NAME), or "
                      "ask for fewer GPUs");

        /* Another user is not affected by alice's leases. */
        struct store_reservation_req bob = req_for(f, "x._.bob", 1001, 1);
        bob.max_gpu_equivalents = 1.0;
        reserve_drop(f, &bob);
}

static void test_quota_messages(void **state)
{
        struct fixture *f = *state;
        /* Nothing held, asking for more than the quota. */
        struct store_reservation_req req = req_for(f, "big._.alice", 1000, 3);
        req.max_gpu_equivalents = 2.0;
        reserve_fails(f, &req, DS01_ERESOURCE,
                      "asked for 3.0 GPU-equivalents but your quota is 2.0 - ask for fewer GPUs");

        /* Quota full: names the holders. */
        struct store_reservation_req a = req_for(f, "exp-a._.alice", 1000, 1);
        struct store_reservation_req b = req_for(f, "exp-b._.alice", 1000, 1);
        a.max_gpu_equivalents = b.max_gpu_equivalents = 2.0;
        reserve_drop(f, &a);
        reserve_drop(f, &b);
        struct store_reservation_req c = req_for(f, "exp-c._.alice", 1000, 1);
        c.max_gpu_equivalents = 2.0;
        reserve_fails(f, &c, DS01_ERESOURCE,
                      "GPU quota reached: 2.0 of 2.0 GPU-equivalents in use by 'exp-a' (1.0), "
                      "'exp-b' (1.0) - retire one (container-retire NAME), or ask for fewer GPUs");

        /* A CPU-only container is still allowed at full quota. */
        struct store_reservation_req cpu = req_for(f, "cpu._.alice", 1000, 0);
        cpu.max_gpu_equivalents = 2.0;
        reserve_drop(f, &cpu);

        /* Quota is checked before availability: waiting would not help. */
        set_slots(f, 2, NULL);
        c = req_for(f, "exp-c._.alice", 1000, 1);
        c.max_gpu_equivalents = 2.0;
        reserve_fails(f, &c, DS01_ERESOURCE, "GPU quota reached");
}

static void test_container_limit(void **state)
{
        struct fixture *f = *state;
        const char *names[] = {"a._.alice", "b._.alice", "c._.alice"};
        for (size_t i = 0; i < 3; i++) {
                struct store_reservation_req req = req_for(f, names[i], 1000, i == 0 ? 1 : 0);
                req.max_containers = 3;
                reserve_drop(f, &req);
        }
        struct store_reservation_req req = req_for(f, "d._.alice", 1000, 0);
        req.max_containers = 3;
        reserve_fails(f, &req, DS01_ERESOURCE,
                      "container limit reached: 3 of 3 containers in use ('a', 'b', 'c') - retire "
                      "one (container-retire NAME) first");
        /* Counted per uid. */
        struct store_reservation_req bob = req_for(f, "d._.bob", 1001, 0);
        bob.max_containers = 3;
        reserve_drop(f, &bob);
        /* Retiring one makes room. */
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(store_forget(f->store, "b._.alice", NULL, &err), 0);
        reserve_drop(f, &req);
}

static void test_slots_per_container(void **state)
{
        struct fixture *f = *state;
        struct store_reservation_req req = req_for(f, "exp._.alice", 1000, 3);
        req.max_slots_per_container = 2;
        reserve_fails(f, &req, DS01_ERESOURCE,
                      "a container may have at most 2 GPUs in your group; you asked for 3 - ask "
                      "for fewer (--gpus 2)");
        req.n_slots = 2;
        reserve_drop(f, &req);
}

static void test_cpu_only(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 1, NULL);
        struct store_reservation_req cpu = req_for(f, "cpu._.alice", 1000, 0);
        cpu.max_containers = 2;
        reserve_drop(f, &cpu);

        _cleanup_error_ struct error *err = NULL;
        struct store_container c;
        assert_int_equal(store_get(f->store, "cpu._.alice", &c, &err), 0);
        assert_int_equal(c.n_leases, 0);
        store_container_release(&c);

        /* It holds no GPU: the only slot is still free for someone else ... */
        struct store_reservation_req bob = req_for(f, "gpu._.bob", 1001, 1);
        reserve_drop(f, &bob);
        /* ... but it counts as one of alice's containers. */
        struct store_reservation_req two = req_for(f, "two._.alice", 1000, 0);
        two.max_containers = 2;
        reserve_drop(f, &two);
        struct store_reservation_req three = req_for(f, "three._.alice", 1000, 0);
        three.max_containers = 2;
        reserve_fails(f, &three, DS01_ERESOURCE,
                      "container limit reached: 2 of 2 containers in use ('cpu', 'two')");
}

static void test_persistence(void **state)
{
        struct fixture *f = *state;
        struct store_reservation_req req = req_for(f, "keep._.alice", 1000, 1);
        reserve_drop(f, &req);
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(store_bind(f->store, "keep._.alice", "cafe", &err), 0);

        f->store = store_free(f->store);
        f->store = store_open(f->state_dir, &err);
        assert_null(err);
        assert_non_null(f->store);

        struct store_container *v = NULL;
        size_t n = 0;
        assert_int_equal(store_list(f->store, -1, &v, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].name, "keep._.alice");
        assert_string_equal(v[0].docker_id, "cafe");
        assert_string_equal(v[0].state, "bound");
        assert_int_equal(v[0].n_leases, 1);
        assert_string_equal(v[0].leases[0].slot_uuid, "GPU-0000");
        store_containers_free(v, n);

        /* The lease survived too: the next reservation gets the next slot. */
        struct store_reservation_req next = req_for(f, "next._.bob", 1001, 1);
        char **uuids = reserve_ok(f, &next);
        assert_string_equal(uuids[0], "GPU-0001");
        store_strv_free(uuids);
}

/* The monitor's clocks survive a reopen (a daemon restart); unknown containers are skipped. */
static void test_clocks(void **state)
{
        struct fixture *f = *state;
        struct store_reservation_req req = req_for(f, "clk._.alice", 1000, 1);
        reserve_drop(f, &req);
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(store_bind(f->store, "clk._.alice", "beef", &err), 0);
        struct store_container c;
        assert_int_equal(store_get(f->store, "clk._.alice", &c, &err), 0);
        assert_int_equal(c.clocks_at_ms, 0); /* never recorded */
        assert_int_equal(c.idle_warned, 0);
        assert_int_equal(c.runtime_from_ms, 0); /* its own Docker creation */
        store_container_release(&c);
        /* the start of the runtime count a recreated container keeps */
        assert_int_equal(store_set_runtime_from(f->store, "clk._.alice", 1699999999987, &err), 0);
        assert_int_equal(store_set_runtime_from(f->store, "gone._.bob", 1, &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        err = error_free(err);
        const struct store_clocks v[] = {
            {"clk._.alice", 1700000000123, 1700000042456, 1, 2},
            {"gone._.bob", 1, 2, 1, 1},
        };
        assert_int_equal(store_save_clocks(f->store, v, 2, &err), 0);
        assert_null(err);
        f->store = store_free(f->store);
        f->store = store_open(f->state_dir, &err);
        assert_non_null(f->store);
        assert_int_equal(store_get(f->store, "clk._.alice", &c, &err), 0);
        assert_int_equal(c.last_active_ms, 1700000000123);
        assert_int_equal(c.clocks_at_ms, 1700000042456);
        assert_int_equal(c.idle_warned, 1);
        assert_int_equal(c.runtime_warned, 2);
        assert_int_equal(c.runtime_from_ms, 1699999999987);
        store_container_release(&c);
        assert_int_equal(store_save_clocks(f->store, NULL, 0, &err), 0);
}

static void test_list_by_uid(void **state)
{
        struct fixture *f = *state;
        struct store_reservation_req a = req_for(f, "a._.alice", 1000, 1);
        struct store_reservation_req b = req_for(f, "b._.bob", 1001, 2);
        reserve_drop(f, &a);
        reserve_drop(f, &b);
        _cleanup_error_ struct error *err = NULL;
        struct store_container *v = NULL;
        size_t n = 0;
        assert_int_equal(store_list(f->store, 1001, &v, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].name, "b._.bob");
        assert_int_equal(v[0].n_leases, 2);
        store_containers_free(v, n);
        assert_int_equal(store_list(f->store, 4242, &v, &n, &err), 0);
        assert_int_equal(n, 0);
        store_containers_free(v, n);
        assert_int_equal(store_list(f->store, -1, &v, &n, &err), 0);
        assert_int_equal(n, 2);
        store_containers_free(v, n);
}

struct race {
        struct fixture *f;
        char name[32];
        int rc;
        int code;
        char **uuids;
};

static void *race_reserve(void *arg)
{
        struct race *r = arg;
        struct error *err = NULL;
        struct store_reservation_req req = req_for(r->f, r->name, 2000, 1);
        r->rc = store_reserve(r->f->store, &req, &r->uuids, &err);
        r->code = err ? err->code : 0;
        error_free(err);
        return NULL;
}

static void test_concurrent_reservations(void **state)
{
        struct fixture *f = *state;
        struct race races[8];
        pthread_t threads[8];
        for (size_t i = 0; i < 8; i++) {
                races[i] = (struct race){.f = f};
                snprintf(races[i].name, sizeof(races[i].name), "r%zu._.alice", i);
                assert_int_equal(pthread_create(&threads[i], NULL, race_reserve, &races[i]), 0);
        }
        int ok = 0;
        bool taken[4] = {false};
        for (size_t i = 0; i < 8; i++) {
                assert_int_equal(pthread_join(threads[i], NULL), 0);
                if (races[i].rc == 0) {
                        ok++;
                        assert_int_equal(strv_length(races[i].uuids), 1);
                        int idx = -1;
                        assert_int_equal(sscanf(races[i].uuids[0], "GPU-%d", &idx), 1);
                        assert_in_range(idx, 0, 3);
                        assert_false(taken[idx]);
                        taken[idx] = true;
                        store_strv_free(races[i].uuids);
                } else {
                        assert_int_equal(races[i].code, DS01_ERESOURCE);
                        assert_null(races[i].uuids);
                }
        }
        assert_int_equal(ok, 4);

        _cleanup_error_ struct error *err = NULL;
        struct store_container *v = NULL;
        size_t n = 0;
        assert_int_equal(store_list(f->store, -1, &v, &n, &err), 0);
        assert_int_equal(n, 4);
        store_containers_free(v, n);
}

/* A start binds its held leases before Docker starts the container; a hold expiring at the same
 * moment releases only what is still held, in its own transaction. Both orders, step by step:
 * never a bound (running) container whose GPU the ledger shows free. */
static void test_hold_expiry_race(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 2, NULL);
        struct store_reservation_req req = req_for(f, "p._.alice", 1000, 1);
        char **uuids = reserve_ok(f, &req);
        assert_int_equal(store_bind(f->store, "p._.alice", "id1", NULL), 0);
        assert_int_equal(store_hold(f->store, "p._.alice", NULL), 1);

        /* The start wins: its lease is bound when the sweep (which saw it held) releases. */
        assert_int_equal(store_unhold(f->store, "p._.alice", NULL), 1);
        char **rel = NULL;
        assert_int_equal(store_release_held(f->store, "p._.alice", &rel, NULL), 0);
        assert_int_equal(strv_length(rel), 0);
        store_strv_free(rel);
        struct store_container c;
        assert_int_equal(store_get(f->store, "p._.alice", &c, NULL), 0);
        assert_int_equal(c.n_leases, 1);
        assert_string_equal(c.leases[0].state, "bound");
        store_container_release(&c);
        /* nobody else can take the running container's GPU */
        struct store_reservation_req other = req_for(f, "q._.bob", 1001, 1);
        other.candidates = f->candidates;
        other.n_candidates = 1;
        reserve_fails(f, &other, DS01_ERESOURCE, "no GPU free");

        /* The sweep wins: the start binds nothing and sees no lease, so it leases again. */
        assert_int_equal(store_hold(f->store, "p._.alice", NULL), 1);
        assert_int_equal(store_release_held(f->store, "p._.alice", &rel, NULL), 0);
        assert_int_equal(strv_length(rel), 1);
        assert_string_equal(rel[0], uuids[0]);
        store_strv_free(rel);
        assert_int_equal(store_unhold(f->store, "p._.alice", NULL), 0);
        assert_int_equal(store_get(f->store, "p._.alice", &c, NULL), 0);
        assert_int_equal(c.n_leases, 0);
        assert_string_equal(c.state, "bound"); /* the container stays */
        store_container_release(&c);

        /* Leases being created (reserved) are never released by a hold's expiry. */
        struct store_reservation_req again = req_for(f, "p._.alice", 1000, 1);
        again.existing = true;
        char **got = reserve_ok(f, &again);
        assert_int_equal(store_release_held(f->store, "p._.alice", &rel, NULL), 0);
        assert_int_equal(strv_length(rel), 0);
        store_strv_free(rel);
        assert_int_equal(store_get(f->store, "p._.alice", &c, NULL), 0);
        assert_int_equal(c.n_leases, 1);
        store_container_release(&c);
        store_strv_free(uuids);
        store_strv_free(got);
}

/* Only a bound row with the same name and Docker id records a container; a recreate unbinds. */
static void test_records(void **state)
{
        struct fixture *f = *state;
        struct store_reservation_req req = req_for(f, "p._.alice", 1000, 0);
        char **uuids = reserve_ok(f, &req);
        struct store_container c;
        assert_int_equal(store_get(f->store, "p._.alice", &c, NULL), 0);
        assert_false(store_records(&c, "p._.alice", "id1")); /* reserved: no id yet */
        store_container_release(&c);
        assert_int_equal(store_bind(f->store, "p._.alice", "id1", NULL), 0);
        assert_int_equal(store_get(f->store, "p._.alice", &c, NULL), 0);
        assert_true(store_records(&c, "p._.alice", "id1"));
        assert_false(store_records(&c, "p._.alice", "id2"));
        assert_false(store_records(&c, "q._.alice", "id1"));
        assert_false(store_records(&c, "p._.alice", NULL));
        store_container_release(&c);
        assert_int_equal(store_unbind(f->store, "p._.alice", NULL), 0);
        assert_int_equal(store_get(f->store, "p._.alice", &c, NULL), 0);
        assert_false(store_records(&c, "p._.alice", "id1"));
        assert_string_equal(c.state, "reserved");
        assert_null(c.docker_id);
        store_container_release(&c);
        store_strv_free(uuids);
}

static void test_newer_schema_refused(void **state)
{
        struct fixture *f = *state;
        f->store = store_free(f->store);

        _cleanup_free_ char *path = xasprintf("%s/ledger.db", f->state_dir);
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        _cleanup_error_ struct error *err = NULL;
        assert_null(store_open(f->state_dir, &err));
        assert_non_null(err);
        assert_non_null(strstr(err->message, "schema version 99"));
        assert_non_null(strstr(err->message, "newer"));
}

/* Containers recorded before schema 7 may have been recreated by a ds01 that did not record
 * where their runtime count started: the migration marks them unknown (-1); new ones get 0 (their
 * own Docker creation). */
static void test_runtime_from_migration(void **state)
{
        struct fixture *f = *state;
        struct store_reservation_req req = req_for(f, "old._.alice", 1000, 1);
        reserve_drop(f, &req);
        f->store = store_free(f->store);

        _cleanup_free_ char *path = xasprintf("%s/ledger.db", f->state_dir);
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "ALTER TABLE containers DROP COLUMN slurm_job;"
                                      "ALTER TABLE containers DROP COLUMN pin;"
                                      "ALTER TABLE containers DROP COLUMN manual_stop_at;"
                                      "ALTER TABLE containers DROP COLUMN runtime_from_ms;"
                                      "DROP TABLE queue;"
                                      "DROP TABLE ports;"
                                      "DROP TABLE reservation_slots;"
                                      "DROP TABLE reservations;"
                                      "PRAGMA user_version = 6",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);

        _cleanup_error_ struct error *err = NULL;
        f->store = store_open(f->state_dir, &err);
        assert_non_null(f->store);
        struct store_container c;
        assert_int_equal(store_get(f->store, "old._.alice", &c, &err), 0);
        assert_int_equal(c.runtime_from_ms, -1);
        store_container_release(&c);
        req = req_for(f, "new._.alice", 1000, 1);
        reserve_drop(f, &req);
        assert_int_equal(store_get(f->store, "new._.alice", &c, &err), 0);
        assert_int_equal(c.runtime_from_ms, 0);
        store_container_release(&c);
}

/* A container of a Slurm job records the job (schema 12); others have 0; an unknown container
 * is not found. */
static void test_slurm_job(void **state)
{
        struct fixture *f = *state;
        struct store_reservation_req req = req_for(f, "job._.alice", 1000, 1);
        reserve_drop(f, &req);
        req = req_for(f, "plain._.alice", 1000, 0);
        reserve_drop(f, &req);
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(store_set_slurm_job(f->store, "job._.alice", 4242, &err), 0);
        struct store_container c;
        assert_int_equal(store_get(f->store, "job._.alice", &c, &err), 0);
        assert_int_equal(c.slurm_job, 4242);
        store_container_release(&c);
        assert_int_equal(store_get(f->store, "plain._.alice", &c, &err), 0);
        assert_int_equal(c.slurm_job, 0);
        store_container_release(&c);
        assert_int_equal(store_set_slurm_job(f->store, "none._.alice", 1, &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
}

/* Lease life after binding: held on stop, bound again on start, released after the hold while
 * the container stays, then leased again for the existing container. */
static void test_hold_release_relet(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 2, NULL);
        struct store_reservation_req req = req_for(f, "p._.alice", 1000, 1);
        char **uuids = reserve_ok(f, &req);
        assert_int_equal(store_bind(f->store, "p._.alice", "id1", NULL), 0);
        assert_int_equal(store_hold(f->store, "p._.alice", NULL), 1);
        assert_int_equal(store_hold(f->store, "p._.alice", NULL), 0); /* already held */
        struct store_container c;
        assert_int_equal(store_get(f->store, "p._.alice", &c, NULL), 0);
        assert_string_equal(c.leases[0].state, "held");
        store_container_release(&c);
        assert_int_equal(store_unhold(f->store, "p._.alice", NULL), 1);
        assert_int_equal(store_hold(f->store, "p._.alice", NULL), 1);

        char **rel = NULL;
        assert_int_equal(store_release_leases(f->store, "p._.alice", &rel, NULL), 0);
        assert_int_equal(strv_length(rel), 1);
        assert_string_equal(rel[0], uuids[0]);
        assert_int_equal(store_get(f->store, "p._.alice", &c, NULL), 0);
        assert_int_equal(c.n_leases, 0); /* the container stays, without its GPU */
        store_container_release(&c);

        /* Someone else takes that slot; the re-lease of the existing container gets the other. */
        struct store_reservation_req other = req_for(f, "q._.bob", 1001, 1);
        other.candidates = f->candidates;
        other.n_candidates = 1;
        char **got = reserve_ok(f, &other);
        assert_string_equal(got[0], uuids[0]);
        struct store_reservation_req again = req_for(f, "p._.alice", 1000, 1);
        again.existing = true;
        again.max_containers = 1; /* not checked again for an existing container */
        char **second = reserve_ok(f, &again);
        assert_string_not_equal(second[0], uuids[0]);
        /* existing=false for a known container, and existing=true for an unknown one, refuse. */
        reserve_fails(f, &req, DS01_ERR, "already recorded");
        struct store_reservation_req ghost = req_for(f, "ghost._.alice", 1000, 1);
        ghost.existing = true;
        reserve_fails(f, &ghost, DS01_ENOTFOUND, "not in the ledger");
        store_strv_free(uuids);
        store_strv_free(rel);
        store_strv_free(got);
        store_strv_free(second);
}

/* A drained slot is never chosen, and is named in the refusal; undrain frees it again. */
static void test_drain(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 2, NULL);
        assert_int_equal(store_drain(f->store, "GPU-0000", "root", "MIG change", NULL), 1);
        assert_int_equal(store_drain(f->store, "GPU-0000", "root", "again", NULL), 0);
        struct store_reservation_req a = req_for(f, "a._.alice", 1000, 1);
        char **ua = reserve_ok(f, &a);
        assert_string_equal(ua[0], "GPU-0001");
        struct store_reservation_req b = req_for(f, "b._.alice", 1000, 1);
        reserve_fails(f, &b, DS01_ERESOURCE, "1 more drained");
        struct store_drain *dv = NULL;
        size_t dn = 0;
        assert_int_equal(store_drains(f->store, &dv, &dn, NULL), 0);
        assert_int_equal(dn, 1);
        assert_string_equal(dv[0].reason, "MIG change");
        store_drains_free(dv, dn);
        assert_int_equal(store_undrain(f->store, "GPU-0000", NULL), 1);
        assert_int_equal(store_undrain(f->store, "GPU-0000", NULL), 0);
        char **ub = reserve_ok(f, &b);
        assert_string_equal(ub[0], "GPU-0000");
        store_strv_free(ua);
        store_strv_free(ub);
}

/* Administrators' reservations: recorded with their slots, overlapping windows on a slot
 * refused, used marks kept, deleted; the slots they keep from a requester are skipped, and the
 * refusal names them. */
static void test_resv(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 2, NULL);
        int64_t t = now_s(); /* an add deletes the windows that ended before now */
        char *slots[] = {"GPU-0000", NULL};
        struct store_resv r = {.name = "exam",
                               .start_s = t + 1000,
                               .end_s = t + 2000,
                               .users = "alice",
                               .group = "",
                               .created_by = "root",
                               .created_at = 1,
                               .slots = slots,
                               .n_slots = 1};
        assert_int_equal(store_resv_add(f->store, &r, NULL), 0);
        _cleanup_error_ struct error *err = NULL;
        r.name = "later";
        r.start_s = t + 1999; /* overlaps exam by a second */
        r.end_s = t + 3000;
        assert_int_equal(store_resv_add(f->store, &r, &err), -1);
        assert_int_equal(err->code, DS01_EUSAGE);
        assert_non_null(strstr(err->message, "reserved by 'exam'"));
        r.start_s = t + 2000; /* back to back is fine */
        assert_int_equal(store_resv_add(f->store, &r, NULL), 0);
        err = error_free(err);
        assert_int_equal(store_resv_add(f->store, &r, &err), -1);
        assert_non_null(strstr(err->message, "named 'later' exists"));
        assert_int_equal(store_resv_mark_used(f->store, "exam", "GPU-0000", NULL), 0);

        struct store_resv *v = NULL;
        size_t n = 0;
        assert_int_equal(store_resv_list(f->store, t + 1500, &v, &n, NULL), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].name, "exam");
        assert_int_equal(v[0].n_slots, 1);
        assert_string_equal(v[0].slots[0], "GPU-0000");
        assert_null(v[0].slots[1]);
        assert_true(v[0].used[0]);
        assert_false(v[1].used[0]);
        store_resv_free(v, n);
        assert_int_equal(store_resv_list(f->store, t + 2500, &v, &n, NULL), 0);
        assert_int_equal(n, 1); /* exam has ended */
        assert_string_equal(v[0].name, "later");
        store_resv_free(v, n);

        /* placement skips the withheld slot and says why */
        char *withheld[] = {"GPU-0000", NULL};
        struct store_reservation_req a = req_for(f, "a._.bob", 1001, 1);
        a.withheld = withheld;
        a.withheld_why = "'later' from then to then";
        char **ua = reserve_ok(f, &a);
        assert_string_equal(ua[0], "GPU-0001");
        struct store_reservation_req b = req_for(f, "b._.carol", 1002, 1);
        b.withheld = withheld;
        b.withheld_why = "'later' from then to then";
        reserve_fails(f, &b, DS01_ERESOURCE, "1 more reserved: 'later' from then to then");
        store_strv_free(ua);

        assert_int_equal(store_resv_delete(f->store, "later", NULL), 1);
        assert_int_equal(store_resv_delete(f->store, "later", NULL), 0);
}

/* A slot in use outside ds01 is never leased; the refusal names the use, and counts it as a
 * slot that will be free again (never "ask for fewer"). */
static void test_busy_outside(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 2, NULL);
        char *busy[] = {"GPU-0000", NULL};
        const char *why = "GPU 0 is used by alice (pid 42, host process 'python')";
        struct store_reservation_req c = req_for(f, "c._.dave", 1003, 2);
        c.outside = busy;
        c.outside_why = why;
        reserve_fails(f, &c, DS01_ERESOURCE,
                      "not enough GPUs free: you asked for 2 but 0 of 1 GPUs are leased (1 more "
                      "in use outside ds01: GPU 0");
        struct store_reservation_req a = req_for(f, "a._.bob", 1001, 1);
        a.outside = busy;
        a.outside_why = why;
        char **ua = reserve_ok(f, &a);
        assert_string_equal(ua[0], "GPU-0001");
        struct store_reservation_req b = req_for(f, "b._.carol", 1002, 1);
        b.outside = busy;
        b.outside_why = why;
        reserve_fails(f, &b, DS01_ERESOURCE,
                      "no GPU free: 1 of 1 GPUs are leased (1 more in use outside ds01: GPU 0 is "
                      "used by alice (pid 42, host process 'python'))");
        store_strv_free(ua);
        /* without the list the same slot is leasable */
        struct store_reservation_req d = req_for(f, "d._.erin", 1004, 1);
        char **ud = reserve_ok(f, &d);
        assert_string_equal(ud[0], "GPU-0000");
        store_strv_free(ud);
}

/* The policy sees only free slots and chooses among them. */
static size_t pick_last(const struct store_free_slot *free_slots, size_t n_free, size_t n,
                        void *ctx, size_t *ret_idx)
{
        (void)free_slots;
        *(size_t *)ctx = n_free;
        size_t k = 0;
        for (size_t i = n_free; i > 0 && k < n; i--)
                ret_idx[k++] = i - 1;
        return k;
}

static void test_pick_callback(void **state)
{
        struct fixture *f = *state;
        set_slots(f, 4, NULL);
        struct store_reservation_req a = req_for(f, "a._.alice", 1000, 1);
        size_t seen = 0;
        a.pick = pick_last;
        a.pick_ctx = &seen;
        char **ua = reserve_ok(f, &a);
        assert_int_equal(seen, 4);
        assert_string_equal(ua[0], "GPU-0003");
        struct store_reservation_req b = req_for(f, "b._.alice", 1000, 2);
        b.pick = pick_last;
        b.pick_ctx = &seen;
        char **ub = reserve_ok(f, &b);
        assert_int_equal(seen, 3); /* GPU-0003 is leased: not offered */
        assert_string_equal(ub[0], "GPU-0002");
        assert_string_equal(ub[1], "GPU-0001");
        store_strv_free(ua);
        store_strv_free(ub);
}

/* Published ports: added and removed once each, at most NAMES_PORTS_MAX, listed ascending with
 * the container's row, and gone with it. */
static void test_ports(void **state)
{
        struct fixture *f = *state;
        struct error *err = NULL;
        struct store_reservation_req req = req_for(f, "nb._.alice", 1000, 0);
        reserve_drop(f, &req);
        assert_int_equal(store_port_add(f->store, "nb._.alice", 8888, &err), 0);
        assert_int_equal(store_port_add(f->store, "nb._.alice", 6006, &err), 0);
        assert_int_equal(store_port_add(f->store, "nb._.alice", 8888, &err), -1);
        assert_int_equal(err->code, DS01_ERR);
        assert_non_null(strstr(err->message, "already published"));
        err = error_free(err);
        assert_int_equal(store_port_add(f->store, "gone._.alice", 8888, &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        err = error_free(err);

        struct store_container c;
        assert_int_equal(store_get(f->store, "nb._.alice", &c, &err), 0);
        assert_int_equal(c.n_ports, 2);
        assert_int_equal(c.ports[0], 6006);
        assert_int_equal(c.ports[1], 8888);
        assert_int_equal(c.tcp_ports[0], 0);
        store_container_release(&c);

        for (int p = 1; p <= NAMES_PORTS_MAX - 2; p++)
                assert_int_equal(store_port_add(f->store, "nb._.alice", 10000 + p, &err), 0);
        assert_int_equal(store_port_add(f->store, "nb._.alice", 20000, &err), -1);
        assert_int_equal(err->code, DS01_EUSAGE);
        err = error_free(err);

        assert_int_equal(store_port_remove(f->store, "nb._.alice", 8888, &err), 0);
        assert_int_equal(store_port_add(f->store, "nb._.alice", 8888, &err), 0);
        assert_int_equal(store_port_set_tcp(f->store, "nb._.alice", 8888, 20001, &err), 0);
        assert_int_equal(store_get(f->store, "nb._.alice", &c, &err), 0);
        assert_int_equal(c.ports[c.n_ports - 1], 10014);
        for (size_t i = 0; i < c.n_ports; i++)
                assert_int_equal(c.tcp_ports[i], c.ports[i] == 8888 ? 20001 : 0);
        store_container_release(&c);
        assert_int_equal(store_port_remove(f->store, "nb._.alice", 8888, &err), 0);
        assert_int_equal(store_port_remove(f->store, "nb._.alice", 8888, &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        err = error_free(err);

        /* the ports go with the row */
        assert_int_equal(store_forget(f->store, "nb._.alice", NULL, &err), 0);
        reserve_drop(f, &req);
        assert_int_equal(store_get(f->store, "nb._.alice", &c, &err), 0);
        assert_int_equal(c.n_ports, 0);
        store_container_release(&c);
}

/* A rename moves the row, its leases and ports in one transaction; the pins stay under the name
 * it was created with, across renames; a name in use is refused and changes nothing. */
static void test_rename(void **state)
{
        struct fixture *f = *state;
        struct error *err = NULL;
        struct store_reservation_req req = req_for(f, "train._.alice", 1000, 1);
        char **uuids = reserve_ok(f, &req);
        assert_int_equal(store_bind(f->store, "train._.alice", "id1", &err), 0);
        assert_int_equal(store_port_add(f->store, "train._.alice", 8888, &err), 0);
        assert_int_equal(store_set_slurm_job(f->store, "train._.alice", 77, &err), 0);
        struct store_reservation_req other = req_for(f, "busy._.alice", 1000, 0);
        reserve_drop(f, &other);

        assert_int_equal(store_rename(f->store, "train._.alice", "busy._.alice", "busy", &err), -1);
        assert_int_equal(err->code, DS01_ERESOURCE);
        assert_non_null(strstr(err->message, "already in use"));
        err = error_free(err);
        assert_int_equal(store_rename(f->store, "gone._.alice", "new._.alice", "new", &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        err = error_free(err);

        assert_int_equal(store_rename(f->store, "train._.alice", "exp2._.alice", "exp2", &err), 0);
        struct store_container c;
        assert_int_equal(store_get(f->store, "train._.alice", &c, &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        err = error_free(err);
        assert_int_equal(store_get(f->store, "exp2._.alice", &c, &err), 0);
        assert_string_equal(c.project, "exp2");
        assert_string_equal(c.docker_id, "id1");
        assert_string_equal(c.state, "bound");
        assert_string_equal(store_pin_name(&c), "train._.alice");
        assert_int_equal(c.n_leases, 1);
        assert_string_equal(c.leases[0].slot_uuid, uuids[0]);
        assert_string_equal(c.leases[0].container, "exp2._.alice");
        assert_int_equal(c.n_ports, 1);
        assert_int_equal(c.ports[0], 8888);
        assert_int_equal(c.slurm_job, 77); /* a Slurm job's container stays the job's */
        store_container_release(&c);
        assert_int_equal(store_pin_users(f->store, "train._.alice", &err), 1);

        /* the old name is free for a new container; renamed again, the pin stays the first */
        struct store_reservation_req again = req_for(f, "train._.alice", 1000, 0);
        reserve_drop(f, &again);
        assert_int_equal(store_pin_users(f->store, "train._.alice", &err), 2);
        assert_int_equal(store_rename(f->store, "exp2._.alice", "exp3._.alice", "exp3", &err), 0);
        assert_int_equal(store_get(f->store, "exp3._.alice", &c, &err), 0);
        assert_string_equal(store_pin_name(&c), "train._.alice");
        assert_int_equal(c.n_leases, 1);
        store_container_release(&c);
        assert_int_equal(store_clear_pin(f->store, "exp3._.alice", &err), 0);
        assert_int_equal(store_get(f->store, "exp3._.alice", &c, &err), 0);
        assert_string_equal(store_pin_name(&c), "exp3._.alice");
        store_container_release(&c);

        /* the leases go with the renamed row */
        char **rel = NULL;
        assert_int_equal(store_forget(f->store, "exp3._.alice", &rel, &err), 0);
        assert_int_equal(strv_length(rel), 1);
        store_strv_free(rel);
        store_strv_free(uuids);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bind_unknown, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ledger_private, setup, teardown),
            cmocka_unit_test_setup_teardown(test_double_lease_impossible, setup, teardown),
            cmocka_unit_test_setup_teardown(test_forget_releases, setup, teardown),
            cmocka_unit_test_setup_teardown(test_quota_weights, setup, teardown),
            cmocka_unit_test_setup_teardown(test_quota_messages, setup, teardown),
            cmocka_unit_test_setup_teardown(test_container_limit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_slots_per_container, setup, teardown),
            cmocka_unit_test_setup_teardown(test_cpu_only, setup, teardown),
            cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
            cmocka_unit_test_setup_teardown(test_list_by_uid, setup, teardown),
            cmocka_unit_test_setup_teardown(test_concurrent_reservations, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hold_expiry_race, setup, teardown),
            cmocka_unit_test_setup_teardown(test_records, setup, teardown),
            cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_runtime_from_migration, setup, teardown),
            cmocka_unit_test_setup_teardown(test_slurm_job, setup, teardown),

            cmocka_unit_test_setup_teardown(test_hold_release_relet, setup, teardown),
            cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
            cmocka_unit_test_setup_teardown(test_resv, setup, teardown),
            cmocka_unit_test_setup_teardown(test_busy_outside, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pick_callback, setup, teardown),
            cmocka_unit_test_setup_teardown(test_clocks, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ports, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
