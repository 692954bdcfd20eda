/* test-access.c - the one authorisation rule (access_authorise), without dockerd: what a
 * non-administrator is refused (an administrators' method, --all, another user's container,
 * image, exec session or records) and how (EPERM, or "not found" so that names cannot be
 * probed), what an administrator may do, and that every refusal is audited: one auth.denied
 * line in events.jsonl naming the caller and the target. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/containers/execs.h"
#include "daemon/docker/dockerjson.h"
#include "daemon/observe/audit.h"
#include "daemon/observe/events.h"
#include "daemon/requests/access.h"
#include "shared/util.h"

#include <stdio.h>

#define ALICE 1500
#define BOB   1501
#define ROOT  0

struct fixture {
        char dir[64];
        struct ds01d d;
        struct caller alice, bob, admin;
        size_t lines; /* events.jsonl lines seen so far */
};

static struct caller caller_of(uid_t uid, const char *login, bool admin)
{
        return (struct caller){.uid = uid,
                               .gid = uid,
                               .login = xstrdup(login),
                               .user_part = xstrdup(login),
                               .admin = admin};
}

static int setup(void **state)
{
        struct fixture *f = xzalloc(sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/ds01-test-access.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        struct error *err = NULL;
        f->d.events = events_open(f->dir, 1 << 20, 2, &err);
        assert_non_null(f->d.events);
        /* A window longer than the test: each first denial is written at once, and only that. */
        f->d.audit = audit_new(f->d.events, 3600, 64);
        f->d.execs = execs_new();
        f->d.root = &f->d;
        execs_remember(f->d.execs, "exec-of-alice", "proj._.alice", ALICE, 1);
        execs_remember(f->d.execs, "exec-of-bob", "proj._.bob", BOB, 2);
        f->alice = caller_of(ALICE, "alice", false);
        f->bob = caller_of(BOB, "bob", false);
        f->admin = caller_of(ROOT, "root", true);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        audit_free(f->d.audit);
        events_free(f->d.events);
        execs_free(f->d.execs);
        caller_release(&f->alice);
        caller_release(&f->bob);
        caller_release(&f->admin);
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* The lines of events.jsonl written since the last call. */
static json_t *new_events(struct fixture *f)
{
        _cleanup_free_ char *path = xasprintf("%s/events.jsonl", f->dir);
        json_t *out = json_array();
        FILE *fp = fopen(path, "r");
        if (!fp)
                return out; /* nothing written yet */
        char *line = NULL;
        size_t cap = 0, n = 0;
        while (getline(&line, &cap, fp) > 0)
                if (n++ >= f->lines) {
                        json_t *e = json_loads(line, 0, NULL);
                        assert_non_null(e);
                        json_array_append_new(out, e);
                }
        free(line);
        fclose(fp);
        f->lines = n;
        return out;
}

/* method (with `target` and params `json`) by c: the error code (0: allowed). A refusal must
 * have written exactly one auth.denied naming c and audit_target; an allowed call nothing. */
static int authorise(struct fixture *f, const struct caller *c, const char *method, bool admin_only,
                     enum access_target target, const char *json, const char *audit_action,
                     const char *audit_target)
{
        struct access_rule rule = {method, admin_only, target};
        json_t *params = json_loads(json, 0, NULL);
        assert_non_null(params);
        struct error *err = NULL;
        int r = access_authorise(&f->d, c, &rule, params, &err);
        json_decref(params);
        int code = 0;
        if (r < 0) {
                assert_non_null(err);
                code = err->code;
                err = error_free(err);
        } else {
                assert_int_equal(r, 0);
                assert_null(err);
        }
        json_t *ev = new_events(f);
        if (code == 0) {
                assert_int_equal(json_array_size(ev), 0);
        } else {
                assert_int_equal(json_array_size(ev), 1);
                json_t *e = json_array_get(ev, 0);
                json_t *details = json_object_get(e, "details");
                assert_string_equal(jstr(e, "event_type"), "auth.denied");
                assert_string_equal(jstr(e, "user"), c->login);
                assert_int_equal(json_integer_value(json_object_get(details, "uid")), c->uid);
                assert_string_equal(jstr(details, "action"), audit_action);
                assert_string_equal(jstr(details, "container"), audit_target);
                assert_int_equal(json_integer_value(json_object_get(details, "count")), 1);
        }
        json_decref(ev);
        return code;
}

/* An administrators' method: EPERM (exit 5) for anyone else; an administrator's goes through. */
static void test_admin_only(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(authorise(f, &f->alice, "admin.reload", true, TARGET_NONE, "{}",
                                   "admin.reload", "(administrators only)"),
                         DS01_EPERM);
        assert_int_equal(
            authorise(f, &f->admin, "admin.reload", true, TARGET_NONE, "{}", NULL, NULL), 0);
        /* A method for everyone is not refused. */
        assert_int_equal(
            authorise(f, &f->alice, "container.list", false, TARGET_NONE, "{}", NULL, NULL), 0);
}

/* "all": true (--all) from a non-administrator is EPERM, whatever the method targets. */
static void test_all(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(authorise(f, &f->alice, "container.list", false, TARGET_NONE,
                                   "{\"all\": true}", "list", "--all"),
                         DS01_EPERM);
        assert_int_equal(authorise(f, &f->bob, "container.stats", false, TARGET_CONTAINER,
                                   "{\"all\": true}", "stats", "--all"),
                         DS01_EPERM);
        assert_int_equal(authorise(f, &f->admin, "container.list", false, TARGET_NONE,
                                   "{\"all\": true}", NULL, NULL),
                         0);
        assert_int_equal(authorise(f, &f->alice, "container.list", false, TARGET_NONE,
                                   "{\"all\": false}", NULL, NULL),
                         0);
}

/* A container named in full with another user's user part is "not found"; one's own, a bare
 * project (always the caller's own) and anything for an administrator go through. */
static void test_container(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(authorise(f, &f->alice, "container.stop", false, TARGET_CONTAINER,
                                   "{\"name\": \"proj._.bob\"}", "stop", "proj._.bob"),
                         DS01_ENOTFOUND);
        assert_int_equal(authorise(f, &f->bob, "container.retire", false, TARGET_CONTAINER,
                                   "{\"name\": \"x._.alice\"}", "retire", "x._.alice"),
                         DS01_ENOTFOUND);
        assert_int_equal(authorise(f, &f->alice, "container.stop", false, TARGET_CONTAINER,
                                   "{\"name\": \"proj._.alice\"}", NULL, NULL),
                         0);
        assert_int_equal(authorise(f, &f->alice, "container.stop", false, TARGET_CONTAINER,
                                   "{\"name\": \"proj\"}", NULL, NULL),
                         0);
        assert_int_equal(authorise(f, &f->admin, "container.stop", false, TARGET_CONTAINER,
                                   "{\"name\": \"proj._.bob\"}", NULL, NULL),
                         0);
}

/* Another user's image ds01-<uid>/... is "not found", given as "image" or as "project". */
static void test_image(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(authorise(f, &f->alice, "container.deploy", false, TARGET_IMAGE,
                                   "{\"image\": \"ds01-1501/x\"}", "deploy", "ds01-1501/x"),
                         DS01_ENOTFOUND);
        assert_int_equal(authorise(f, &f->alice, "image.delete", false, TARGET_IMAGE,
                                   "{\"project\": \"ds01-1501/y\"}", "image.delete", "ds01-1501/y"),
                         DS01_ENOTFOUND);
        assert_int_equal(authorise(f, &f->alice, "container.deploy", false, TARGET_IMAGE,
                                   "{\"image\": \"ds01-1500/x\"}", NULL, NULL),
                         0);
        assert_int_equal(authorise(f, &f->alice, "image.delete", false, TARGET_IMAGE,
                                   "{\"project\": \"ds01-1500/x\"}", NULL, NULL),
                         0);
        /* a public image or a bare project is no one's */
        assert_int_equal(authorise(f, &f->alice, "container.deploy", false, TARGET_IMAGE,
                                   "{\"image\": \"ubuntu:22.04\", \"project\": \"x\"}", NULL, NULL),
                         0);
        assert_int_equal(authorise(f, &f->admin, "image.delete", false, TARGET_IMAGE,
                                   "{\"project\": \"ds01-1501/y\"}", NULL, NULL),
                         0);
}

/* An exec session opened by someone else, or one never handed out, is "not found". */
static void test_exec(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(authorise(f, &f->alice, "container.resize", false, TARGET_EXEC,
                                   "{\"exec_id\": \"exec-of-bob\"}", "resize", "exec-of-bob"),
                         DS01_ENOTFOUND);
        assert_int_equal(authorise(f, &f->alice, "container.exec_status", false, TARGET_EXEC,
                                   "{\"exec_id\": \"exec-of-alice\"}", NULL, NULL),
                         0);
        assert_int_equal(authorise(f, &f->admin, "container.exec_status", false, TARGET_EXEC,
                                   "{\"exec_id\": \"exec-of-bob\"}", NULL, NULL),
                         0);
        /* Unknown: "not found" for everyone, and nothing to audit (it is no one's). */
        struct access_rule rule = {"container.exec_status", false, TARGET_EXEC};
        json_t *params = json_pack("{s:s}", "exec_id", "exec-of-nobody");
        struct error *err = NULL;
        assert_int_equal(access_authorise(&f->d, &f->alice, &rule, params, &err), -1);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        err = error_free(err);
        json_decref(params);
        json_t *ev = new_events(f);
        assert_int_equal(json_array_size(ev), 0);
        json_decref(ev);
}

/* Another user's records (events, usage) are "not found"; one's own, or none named, go through. */
static void test_user(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(authorise(f, &f->alice, "events.query", false, TARGET_USER,
                                   "{\"user\": \"bob\"}", "events.query", "bob"),
                         DS01_ENOTFOUND);
        assert_int_equal(authorise(f, &f->alice, "events.query", false, TARGET_USER,
                                   "{\"user\": \"alice\"}", NULL, NULL),
                         0);
        assert_int_equal(
            authorise(f, &f->alice, "events.query", false, TARGET_USER, "{}", NULL, NULL), 0);
        assert_int_equal(authorise(f, &f->admin, "events.query", false, TARGET_USER,
                                   "{\"user\": \"bob\"}", NULL, NULL),
                         0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_admin_only, setup, teardown),
            cmocka_unit_test_setup_teardown(test_all, setup, teardown),
            cmocka_unit_test_setup_teardown(test_container, setup, teardown),
            cmocka_unit_test_setup_teardown(test_image, setup, teardown),
            cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
            cmocka_unit_test_setup_teardown(test_user, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
