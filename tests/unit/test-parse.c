/* test-parse.c - checked parsers: integers, doubles, sizes, durations, booleans. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "shared/parse.h"

#define KIB 1024LL
#define MIB (1024LL * KIB)
#define GIB (1024LL * MIB)
#define TIB (1024LL * GIB)

static void assert_size(const char *s, int64_t want)
{
        int64_t got = -42;
        if (parse_size(s, &got) != 0)
                print_error("parse_size(\"%s\") failed\n", s);
        assert_int_equal(parse_size(s, &got), 0);
        assert_int_equal(got, want);
}

static void assert_size_bad(const char *s, int want_rc)
{
        int64_t got = -42;
        assert_int_equal(parse_size(s, &got), want_rc);
        assert_int_equal(got, -42); /* untouched on failure */
}

static void test_size(void **state)
{
        (void)state;
        assert_size("32g", 32 * GIB);
        assert_size("32G", 32 * GIB);
        assert_size("32gb", 32 * GIB);
        assert_size("32GB", 32 * GIB);
        assert_size("512m", 512 * MIB);
        assert_size("1024k", 1024 * KIB);
        assert_size("1.5g", 3 * GIB / 2);
        assert_size("1t", TIB);
        assert_size("100b", 100);
        assert_size("4096", 4096);
        assert_size("0", 0);

        assert_size_bad("bad", -EINVAL);
        assert_size_bad("-1", -EINVAL);
        assert_size_bad("", -EINVAL);
        assert_size_bad(NULL, -EINVAL);
        assert_size_bad("32x", -EINVAL);
        assert_size_bad("32gg", -EINVAL);
        assert_size_bad("32 g", -EINVAL);
        assert_size_bad(" 32g", -EINVAL);
        assert_size_bad("g", -EINVAL);
        assert_size_bad("99999999999t", -ERANGE);
        assert_size_bad("1e400", -ERANGE);
}

static void assert_duration(const char *s, int64_t want)
{
        int64_t got = -42;
        assert_int_equal(parse_duration(s, &got), 0);
        assert_int_equal(got, want);
}

static void assert_duration_bad(const char *s)
{
        int64_t got = -42;
        assert_true(parse_duration(s, &got) < 0);
        assert_int_equal(got, -42);
}

static void test_duration(void **state)
{
        (void)state;
        assert_duration("90s", 90);
        assert_duration("30m", 30 * 60);
        assert_duration("2h", 2 * 3600);
        assert_duration("1h30m", 90 * 60);
        assert_duration("2d", 2 * 86400);
        assert_duration("1d2h3m4s", 86400 + 2 * 3600 + 3 * 60 + 4);
        assert_duration("45", 45);
        assert_duration("0", 0);

        assert_duration_bad("x");
        assert_duration_bad("1h30"); /* ambiguous: minutes or seconds? */
        assert_duration_bad("");
        assert_duration_bad(NULL);
        assert_duration_bad("-5m");
        assert_duration_bad("5w");
        assert_duration_bad("5 m");
        assert_duration_bad("h");
        assert_duration_bad("99999999999999999999s");
        int64_t got;
        assert_int_equal(parse_duration("999999d", &got), -ERANGE);
}

static void test_int64(void **state)
{
        (void)state;
        int64_t v = -42;
        assert_int_equal(parse_int64("0", 0, 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_int64("10", 0, 10, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(parse_int64("-7", -10, 10, &v), 0);
        assert_int_equal(v, -7);
        assert_int_equal(parse_int64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
        assert_true(v == INT64_MAX);
        assert_int_equal(parse_int64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
        assert_true(v == INT64_MIN);

        v = -42;
        assert_int_equal(parse_int64("11", 0, 10, &v), -ERANGE);
        assert_int_equal(parse_int64("-1", 0, 10, &v), -ERANGE);
        assert_int_equal(parse_int64("9223372036854775808", INT64_MIN, INT64_MAX, &v), -ERANGE);
        assert_int_equal(parse_int64("-9223372036854775809", INT64_MIN, INT64_MAX, &v), -ERANGE);
        assert_int_equal(parse_int64("", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64(NULL, 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("5x", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64(" 5", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("5 ", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_int64("0x5", 0, 10, &v), -EINVAL);
        assert_int_equal(v, -42);
}

static void test_double(void **state)
{
        (void)state;
        double v = -42;
        assert_int_equal(parse_double("1.5", 0, 8, &v), 0);
        assert_true(v == 1.5);
        assert_int_equal(parse_double("0", 0, 8, &v), 0);
        assert_true(v == 0);

        v = -42;
        assert_int_equal(parse_double("8.5", 0, 8, &v), -ERANGE);
        assert_int_equal(parse_double("nan", 0, 8, &v), -ERANGE);
        assert_int_equal(parse_double("inf", 0, 8, &v), -ERANGE);
        assert_int_equal(parse_double("1e999", 0, 8, &v), -ERANGE);
        assert_int_equal(parse_double("1.5gpu", 0, 8, &v), -EINVAL);
        assert_int_equal(parse_double("", 0, 8, &v), -EINVAL);
        assert_int_equal(parse_double(" 1", 0, 8, &v), -EINVAL);
        assert_true(v == -42);
}

static void test_bool(void **state)
{
        (void)state;
        const char *yes[] = {"true", "yes", "on", "TRUE", "Yes", "ON"};
        const char *no[] = {"false", "no", "off", "False", "NO", "Off"};
        const char *bad[] = {"1", "0", "y", "n", "", "truee", " true", "enabled"};
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                bool v = false;
                assert_int_equal(parse_bool(yes[i], &v), 0);
                assert_true(v);
        }
        for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
                bool v = true;
                assert_int_equal(parse_bool(no[i], &v), 0);
                assert_false(v);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                bool v = true;
                assert_int_equal(parse_bool(bad[i], &v), -EINVAL);
                assert_true(v);
        }
        bool v = true;
        assert_int_equal(parse_bool(NULL, &v), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_size),  cmocka_unit_test(test_duration),
            cmocka_unit_test(test_int64), cmocka_unit_test(test_double),
            cmocka_unit_test(test_bool),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
