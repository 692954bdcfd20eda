/* test-rows.c - the container-list and container-stats rows (src/daemon/observe/rows.h), from a
 * snapshot built here by hand: whose rows a caller gets, the status text, the keep-alive of the
 * ledger, and that a stats row is the snapshot's row plus its status, never the shared object. */
#include "daemon/observe/rows.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define NOW 1800000000LL

/* One container as snapshot.c keeps it: its row, and the row serialised without its '}'. */
static void container(struct snap_container *sc, const char *name, int64_t uid, const char *state,
                      int64_t keepalive_until)
{
        memset(sc, 0, sizeof(*sc));
        sc->id = xasprintf("id-%s", name);
        sc->name = xstrdup(name);
        sc->uid = uid;
        sc->state = xstrdup(state);
        sc->started_at = NOW - 300;
        sc->finished_at = NOW - 7200;
        sc->exit_code = 137;
        sc->keepalive_until = keepalive_until;
        sc->row =
            json_pack("{s:s, s:I, s:s}", "name", name, "uid", (json_int_t)uid, "state", state);
        char *text = json_dumps(sc->row, JSON_COMPACT);
        sc->row_len = strlen(text) - 1; /* without the closing brace */
        sc->row_text = text;
}

static void release(struct snap_container *sc)
{
        free(sc->id);
        free(sc->name);
        free(sc->state);
        free(sc->row_text);
        json_decref(sc->row);
}

struct fixture {
        struct snap_container c[3];
        struct snapshot snap;
};

static int setup(void **state)
{
        struct fixture *f = xzalloc(sizeof(*f));
        container(&f->c[0], "a1._.alice", 1000, "running", 0);
        container(&f->c[1], "a2._.alice", 1000, "exited", NOW + 3600);
        container(&f->c[2], "b1._.bob", 1001, "created", 0);
        f->snap.containers = f->c;
        f->snap.n = 3;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        for (int i = 0; i < 3; i++)
                release(&f->c[i]);
        free(f);
        return 0;
}

static json_t *list(const struct snapshot *snap, int64_t uid)
{
        struct strbuf sb = STRBUF_INIT;
        rows_render_list(snap, NULL, uid, NOW, &sb);
        json_error_t je;
        json_t *j = json_loadb(strbuf_str(&sb), sb.len, 0, &je);
        if (!j)
                fail_msg("not JSON (%s): %s", je.text, strbuf_str(&sb));
        strbuf_release(&sb);
        return j;
}

static const json_t *row(const json_t *res, size_t i)
{
        return json_array_get(json_object_get(res, "containers"), i);
}

static void test_list_is_the_callers(void **state)
{
        struct fixture *f = *state;
        json_t *res = list(&f->snap, 1000);
        assert_int_equal(json_array_size(json_object_get(res, "containers")), 2);
        assert_string_equal(json_string_value(json_object_get(row(res, 0), "name")), "a1._.alice");
        assert_string_equal(json_string_value(json_object_get(row(res, 1), "name")), "a2._.alice");
        json_decref(res);
        res = list(&f->snap, 1001);
        assert_int_equal(json_array_size(json_object_get(res, "containers")), 1);
        assert_string_equal(json_string_value(json_object_get(row(res, 0), "name")), "b1._.bob");
        json_decref(res);
        res = list(&f->snap, 4242);
        assert_int_equal(json_array_size(json_object_get(res, "containers")), 0);
        json_decref(res);
        /* -1: everyone's (an administrator's --all) */
        res = list(&f->snap, -1);
        assert_int_equal(json_array_size(json_object_get(res, "containers")), 3);
        json_decref(res);
}

static void test_list_status_and_keepalive(void **state)
{
        struct fixture *f = *state;
        json_t *res = list(&f->snap, -1);
        assert_string_equal(json_string_value(json_object_get(row(res, 0), "status")),
                            "Up 5 minutes");
        assert_string_equal(json_string_value(json_object_get(row(res, 1), "status")),
                            "Exited (137) 2 hours ago");
        assert_string_equal(json_string_value(json_object_get(row(res, 2), "status")), "Created");
        /* the row's own members stay as the snapshot serialised them */
        assert_string_equal(json_string_value(json_object_get(row(res, 1), "state")), "exited");
        /* a keep-alive of the ledger (container-keepalive) still in force is shown ... */
        const json_t *k = json_object_get(row(res, 1), "keepalive");
        assert_non_null(k);
        assert_int_equal(json_integer_value(json_object_get(k, "until")), NOW + 3600);
        assert_string_equal(json_string_value(json_object_get(k, "source")), "command");
        /* ... one that ran out, or none, is not */
        assert_null(json_object_get(row(res, 0), "keepalive"));
        json_decref(res);
        f->c[1].keepalive_until = NOW - 1;
        res = list(&f->snap, -1);
        assert_null(json_object_get(row(res, 1), "keepalive"));
        json_decref(res);
}

static void test_stats_row(void **state)
{
        struct fixture *f = *state;
        json_t *r = rows_stats_row(&f->c[0], NULL, NOW);
        assert_string_equal(json_string_value(json_object_get(r, "name")), "a1._.alice");
        assert_string_equal(json_string_value(json_object_get(r, "status")), "Up 5 minutes");
        /* a copy: the snapshot's row is shared by every reader and never gains a status */
        assert_ptr_not_equal(r, f->c[0].row);
        assert_null(json_object_get(f->c[0].row, "status"));
        json_decref(r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_list_is_the_callers, setup, teardown),
            cmocka_unit_test_setup_teardown(test_list_status_and_keepalive, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stats_row, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
