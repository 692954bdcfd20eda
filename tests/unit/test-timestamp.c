/* test-timestamp.c - the one ISO-8601 / RFC 3339 reader: what the config's exemption dates,
 * Docker's JSON, the event log and the CLI each need from it, and what it refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "shared/timestamp.h"
#include "shared/util.h"

/* 2026-03-01T12:00:00Z */
#define T0 1772366400LL

static void assert_ms(const char *s, int64_t want)
{
        int64_t got = -42;
        if (timestamp_parse_ms(s, &got) != 0)
                print_error("timestamp_parse_ms(\"%s\") failed\n", s);
        assert_int_equal(timestamp_parse_ms(s, &got), 0);
        assert_int_equal(got, want);
}

static void assert_bad(const char *s)
{
        int64_t got = -42;
        if (timestamp_parse_ms(s, &got) != -EINVAL)
                print_error("timestamp_parse_ms(\"%s\") accepted\n", s);
        assert_int_equal(timestamp_parse_ms(s, &got), -EINVAL);
        assert_int_equal(timestamp_parse(s, &got), -EINVAL);
        assert_int_equal(got, -42); /* untouched on failure */
        assert_int_equal(timestamp_ms_or_zero(s), 0);
}

/* What format_iso8601() writes (the event log, labels, the wire) reads back exactly. */
static void test_round_trip(void **state)
{
        (void)state;
        const int64_t times[] = {0, 1, T0, T0 + 59, 951782400 /* 2000-02-29 */, 4102444799};
        for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
                char buf[32];
                int64_t got = -1;
                assert_int_equal(timestamp_parse(format_iso8601(times[i], buf), &got), 0);
                assert_int_equal(got, times[i]);
        }
}

/* Docker: "Created", "StartedAt", "FinishedAt" carry nanoseconds; ds01 keeps milliseconds. */
static void test_fractions(void **state)
{
        (void)state;
        assert_ms("2026-03-01T12:00:00.123456789Z", T0 * 1000 + 123);
        assert_ms("2026-03-01T12:00:00.5Z", T0 * 1000 + 500);
        assert_ms("2026-03-01T12:00:00.05Z", T0 * 1000 + 50);
        assert_ms("2026-03-01T12:00:00.999999999Z", T0 * 1000 + 999);
        assert_ms("2026-03-01T12:00:00.0Z", T0 * 1000);
        int64_t s = -1;
        assert_int_equal(timestamp_parse("2026-03-01T12:00:00.999Z", &s), 0);
        assert_int_equal(s, T0); /* rounded down */
        assert_bad("2026-03-01T12:00:00.Z");
        assert_bad("2026-03-01T12:00:00.");
        assert_bad("2026-03-01T12:00.5Z"); /* a fraction needs seconds */
}

/* lifecycle-exemptions.yaml's expires_on: dates, minutes, zones, offsets in both spellings. */
static void test_zones_and_offsets(void **state)
{
        (void)state;
        assert_ms("2026-03-01T12:00:00Z", T0 * 1000);
        assert_ms("2026-03-01t12:00:00z", T0 * 1000);
        assert_ms("2026-03-01 12:00:00", T0 * 1000); /* no zone: UTC */
        assert_ms("2026-03-01T12:00", T0 * 1000);
        assert_ms("2026-03-01T12:00Z", T0 * 1000);
        assert_ms("2026-03-01", (T0 - 12 * 3600) * 1000);
        assert_ms("2026-03-01T13:00:00+01:00", T0 * 1000);
        assert_ms("2026-03-01T13:00:00+0100", T0 * 1000);
        assert_ms("2026-03-01T06:30:00-05:30", T0 * 1000);
        assert_ms("2026-03-01T12:00:00.250+00:00", T0 * 1000 + 250);
        assert_ms("2026-03-02T01:00+13:00", T0 * 1000);
        assert_ms("2026-03-01T12:00:60Z", (T0 + 60) * 1000); /* a leap second */
        assert_ms("2000-02-29", 951782400LL * 1000);
}

/* Docker's unset time parses as what it says (year 1) and reads as "never" where a time may be
 * absent, as does anything at or before the epoch and anything that is not a time. */
static void test_docker_zero_time(void **state)
{
        (void)state;
        int64_t ms = 0, s = 0;
        assert_int_equal(timestamp_parse_ms("0001-01-01T00:00:00Z", &ms), 0);
        assert_int_equal(ms, -62135596800LL * 1000);
        assert_int_equal(timestamp_parse("0001-01-01T00:00:00Z", &s), 0);
        assert_int_equal(s, -62135596800LL);
        assert_int_equal(timestamp_ms_or_zero("0001-01-01T00:00:00Z"), 0);
        assert_int_equal(timestamp_ms_or_zero("1970-01-01T00:00:00Z"), 0);
        assert_int_equal(timestamp_ms_or_zero("1969-12-31T23:59:59.999Z"), 0);
        assert_int_equal(timestamp_ms_or_zero(NULL), 0);
        assert_int_equal(timestamp_ms_or_zero(""), 0);
        assert_int_equal(timestamp_ms_or_zero("2026-03-01T12:00:00.123456789Z"), T0 * 1000 + 123);
        assert_int_equal(timestamp_parse("1969-12-31T23:59:59.5Z", &s), 0);
        assert_int_equal(s, -1); /* rounded down, not towards zero */
}

static void test_bad_input(void **state)
{
        (void)state;
        const char *bad[] = {
            "",
            "next tuesday",
            "2026",
            "2026-03",
            "26-03-01",
            "2026-3-1",
            "2026/03/01",
            "2026-03-01T",
            "2026-03-01T12",
            "2026-03-01T1200",
            "2026-03-01T12:0",
            "2026-03-01T12:00:0Z",
            "2026-03-01T12:00:00ZZ",
            "2026-03-01T12:00:00Z junk",
            "2026-03-01T12:00:00+1",
            "2026-03-01T12:00:00+01:",
            "2026-03-01T12:00:00+24:00",
            "2026-03-01T12:00:00+01:60",
            "2026-03-01T12:00:00 Z",
            " 2026-03-01",
            "2026-03-01 ",
            "2026-03-01Z",
            "2026-00-01",
            "2026-13-01",
            "2026-03-00",
            "2026-03-32",
            "2026-02-30",
            "2025-02-29",
            "2026-04-31",
            "2026-03-01T24:00:00Z",
            "2026-03-01T12:60:00Z",
            "2026-03-01T12:00:61Z",
            "2026-03-31T23:59:60Z", /* would roll into April */
            "+2026-03-01",
            "2026-03-01T12:00:00\n",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_bad(bad[i]);
        int64_t got = -42;
        assert_int_equal(timestamp_parse_ms(NULL, &got), -EINVAL);
        assert_int_equal(got, -42);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_fractions),
            cmocka_unit_test(test_zones_and_offsets), cmocka_unit_test(test_docker_zero_time),
            cmocka_unit_test(test_bad_input),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
