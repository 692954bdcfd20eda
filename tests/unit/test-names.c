/* test-names.c - the naming contract: projects, user parts, container and image names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "shared/names.h"

static void assert_project_ok(const char *p)
{
        _cleanup_error_ struct error *err = NULL;
        if (names_check_project(p, &err) < 0)
                print_error("'%s' refused: %s\n", p, err->message);
        assert_null(err);
}

static void assert_project_bad(const char *p)
{
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(names_check_project(p, &err), -1);
        assert_non_null(err);
        assert_int_equal(err->code, DS01_EUSAGE);
        assert_true(strlen(err->message) > 0);
}

static void test_project_valid(void **state)
{
        (void)state;
        assert_project_ok("ok-1_2");
        assert_project_ok("a");
        assert_project_ok("0day");
        assert_project_ok("my-project");
        char max[NAMES_PROJECT_MAX + 1];
        memset(max, 'a', NAMES_PROJECT_MAX);
        max[NAMES_PROJECT_MAX] = '\0';
        assert_project_ok(max);
}

static void test_project_invalid(void **state)
{
        (void)state;
        assert_project_bad("../x");
        assert_project_bad("x/../../etc");
        assert_project_bad("A B");
        assert_project_bad("Upper");
        assert_project_bad("");
        assert_project_bad(NULL);
        assert_project_bad("-x");
        assert_project_bad("_x");
        assert_project_bad(".hidden");
        assert_project_bad("a._.b");
        assert_project_bad("tab\there");
        char too_long[201];
        memset(too_long, 'a', 200);
        too_long[200] = '\0';
        assert_project_bad(too_long);
        char just_over[NAMES_PROJECT_MAX + 2];
        memset(just_over, 'a', NAMES_PROJECT_MAX + 1);
        just_over[NAMES_PROJECT_MAX + 1] = '\0';
        assert_project_bad(just_over);
}

static void test_project_messages(void **state)
{
        (void)state;
        _cleanup_error_ struct error *err = NULL;
        char too_long[201];
        memset(too_long, 'a', 200);
        too_long[200] = '\0';
        names_check_project(too_long, &err);
        /* Says how long it is and the limit; does not echo 200 characters back. */
        assert_non_null(strstr(err->message, "200"));
        assert_non_null(strstr(err->message, "63"));
        assert_true(strlen(err->message) < 200);
        err = error_free(err);
        names_check_project("../x", &err);
        assert_non_null(strstr(err->message, "'../x'"));
}

static void assert_user_part(const char *login, unsigned uid, const char *want)
{
        _cleanup_free_ char *got = names_user_part(login, uid);
        assert_string_equal(got, want);
}

static void test_user_part(void **state)
{
        (void)state;
        assert_user_part("alice", 1000, "alice");
        assert_user_part("j.doe", 1000, "j.doe");
        assert_user_part("svc_ci-2", 1000, "svc_ci-2");
        assert_user_part("Bob", 1001, "_u1001");
        assert_user_part("h.baker@x.lan", 1002, "_u1002");
        assert_user_part("DOMAIN\\user", 1003, "_u1003");
        assert_user_part("", 1004, "_u1004");
        assert_user_part(NULL, 1005, "_u1005");
        assert_user_part("-dash", 1006, "_u1006");
        assert_user_part("a._.b", 1007, "_u1007"); /* would make the container name ambiguous */
        assert_user_part("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1008, "_u1008"); /* 33 chars */
        assert_user_part("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1009,
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); /* 32 chars */
        assert_user_part("bob", 0, "bob");
        /* A mapped login is never what a real login maps to: "Zed" (uid 1007) and the user
         * "u1007" get different container names. */
        assert_user_part("u1007", 1008, "u1007");
        assert_user_part("Zed", 1007, "_u1007");
        assert_user_part("X", 4294967295u, "_u4294967295");
}

/* The user part of a full name a caller gives: exactly what names_user_part can produce. */
static void test_user_part_check(void **state)
{
        (void)state;
        const char *good[] = {"alice",
                              "j.doe",
                              "svc_ci-2",
                              "u1001",
                              "a",
                              "_u1001",
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
        const char *bad[] = {"",
                             "Bob",
                             "x\n<3>FORGED",
                             "x\r",
                             "x\033]0;t\a",
                             "a._.b",
                             "-dash",
                             "_u",
                             "_ux1",
                             "_alice",
                             "h@x",
                             "a b",
                             "DOMAIN\\user",
                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
        for (size_t i = 0; i < ARRAY_SIZE(good); i++)
                assert_int_equal(names_check_user_part(good[i], NULL), 0);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct error *err = NULL;
                assert_int_equal(names_check_user_part(bad[i], &err), -1);
                assert_int_equal(err->code, DS01_EUSAGE);
                /* never echoed: it may hold control characters */
                assert_null(strchr(err->message, '\n'));
                assert_null(strstr(err->message, "FORGED"));
                error_free(err);
        }
}

static void test_container_names(void **state)
{
        (void)state;
        _cleanup_free_ char *name = names_container("exp-1", "alice");
        assert_string_equal(name, "exp-1._.alice");

        _cleanup_free_ char *project = NULL, *user = NULL;
        assert_int_equal(names_split_container(name, &project, &user), 0);
        assert_string_equal(project, "exp-1");
        assert_string_equal(user, "alice");
        free(project), free(user);

        /* The first separator splits: a project never contains "._.". */
        assert_int_equal(names_split_container("p._.j.doe", &project, &user), 0);
        assert_string_equal(project, "p");
        assert_string_equal(user, "j.doe");
        free(project), free(user);
        project = user = NULL;

        /* Not of the form: outputs untouched. */
        const char *bad[] = {"plain", "._.alice", "exp._.", "", "exp.alice", "exp__alice"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                assert_int_equal(names_split_container(bad[i], &project, &user), -1);
                assert_null(project);
                assert_null(user);
        }
        assert_int_equal(names_split_container(NULL, &project, &user), -1);
}

static void test_user_image(void **state)
{
        (void)state;
        _cleanup_free_ char *img = names_user_image(1000, "exp");
        assert_string_equal(img, "ds01-1000/exp:latest");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_project_valid),    cmocka_unit_test(test_project_invalid),
            cmocka_unit_test(test_project_messages), cmocka_unit_test(test_user_part),
            cmocka_unit_test(test_container_names),  cmocka_unit_test(test_user_image),
            cmocka_unit_test(test_user_part_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
