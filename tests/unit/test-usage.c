/* test-usage.c - usage accounting: activity verdicts, day splitting, per-tick accumulation
 * (weights, held leases, the dt cap), the ledger's usage table and month validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>

#include "daemon/observe/usage.h"
#include "shared/error.h"

#define DAY_MS (86400LL * 1000)
/* 2026-11-28T00:00:00Z */
#define NOV28 1795824000LL

static const struct limit_policies policies = {
    .gpu_idle_threshold = 5,
    .cpu_idle_threshold = 2.0,
    .network_idle_threshold = 1048576,
};

static void test_split_days(void **state)
{
        (void)state;
        struct usage_span s[4];
        int64_t mid = NOV28 * 1000;
        assert_int_equal(usage_split_days(mid - 1500, mid + 2500, s, 4), 2);
        assert_string_equal(s[0].day, "2026-11-27");
        assert_true(fabs(s[0].seconds - 1.5) < 1e-9);
        assert_string_equal(s[1].day, "2026-11-28");
        assert_true(fabs(s[1].seconds - 2.5) < 1e-9);
        /* Within a day; ending exactly at midnight stays in the day before. */
        assert_int_equal(usage_split_days(mid - 10000, mid, s, 4), 1);
        assert_string_equal(s[0].day, "2026-11-27");
        assert_true(fabs(s[0].seconds - 10) < 1e-9);
        assert_int_equal(usage_split_days(mid, mid + 1, s, 4), 1);
        assert_string_equal(s[0].day, "2026-11-28");
        /* Empty and reversed spans. */
        assert_int_equal(usage_split_days(mid, mid, s, 4), 0);
        assert_int_equal(usage_split_days(mid, mid - 5, s, 4), 0);
        /* Several days, bounded by max. */
        assert_int_equal(usage_split_days(mid - DAY_MS / 2, mid + 2 * DAY_MS, s, 4), 3);
        assert_string_equal(s[2].day, "2026-11-29");
        assert_true(fabs(s[2].seconds - 86400) < 1e-9);
        assert_int_equal(usage_split_days(mid - DAY_MS / 2, mid + 2 * DAY_MS, s, 2), 2);
        /* Month and year ends. */
        assert_int_equal(usage_split_days(1798761600000LL - 1000, 1798761600000LL + 1000, s, 4), 2);
        assert_string_equal(s[0].day, "2026-12-31");
        assert_string_equal(s[1].day, "2027-01-01");
}

/* A ledger row with leases of the given states and weights. */
static struct store_container container(const char *name, unsigned uid, const char *user, size_t n,
                                        const char *const *states, const double *weights)
{
        struct store_container c = {
            .name = xstrdup(name),
            .project = xstrdup(name),
            .user = xstrdup(user),
            .uid = uid,
            .state = xstrdup("bound"),
            .leases = xcalloc(n ? n : 1, sizeof(struct store_lease)),
            .n_leases = n,
        };
        for (size_t i = 0; i < n; i++)
                c.leases[i] = (struct store_lease){
                    .slot_uuid = xasprintf("GPU-%s-%zu", name, i),
                    .container = xstrdup(name),
                    .uid = uid,
                    .state = xstrdup(states[i]),
                    .weight = weights[i],
                };
        return c;
}

static const struct store_usage *find(const struct store_usage *v, size_t n, const char *day,
                                      unsigned uid)
{
        for (size_t i = 0; i < n; i++)
                if (streq(v[i].day, day) && v[i].uid == uid)
                        return &v[i];
        return NULL;
}

static void test_compute(void **state)
{
        (void)state;
        struct store_container rows[3];
        /* alice: a 1-GPU container (busy) and a MIG 3g (3/7, idle); bob: a held GPU and a
         * reserved one (not counted). */
        rows[0] =
            container("a1._.alice", 1001, "alice", 1, (const char *[]){"bound"}, (double[]){1.0});
        rows[1] = container("a2._.alice", 1001, "alice", 1, (const char *[]){"bound"},
                            (double[]){3.0 / 7});
        rows[2] = container("b1._.bob", 1002, "bob", 2, (const char *[]){"held", "reserved"},
                            (double[]){1.0, 1.0});
        struct usage *u = usage_new();
        struct store_usage *v = NULL;
        size_t n = 0;
        int64_t t0 = NOV28 * 1000 + 3600 * 1000;

        /* The first tick counts nothing. */
        usage_compute(u, rows, 3, NULL, 0, t0, 1, &v, &n);
        assert_int_equal(n, 0);
        store_usage_free(v, n);

        /* 1.5 s later: a1 busy (90 % GPU), a2 idle (unknown GPU, no CPU), bob held. */
        usage_observe(u, "a1._.alice", 90, 0, 0, false, &policies);
        usage_observe(u, "a2._.alice", -1, 0.5, 0, false, &policies);
        usage_compute(u, rows, 3, NULL, 0, t0 + 1500, 1, &v, &n);
        assert_int_equal(n, 2);
        const struct store_usage *a = find(v, n, "2026-11-28", 1001);
        const struct store_usage *b = find(v, n, "2026-11-28", 1002);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a->user, "alice");
        assert_true(fabs(a->allocated_s - 1.5 * (1 + 3.0 / 7)) < 1e-9);
        assert_true(fabs(a->active_s - 1.5) < 1e-9);
        assert_true(fabs(b->allocated_s - 1.5) < 1e-9);
        assert_true(b->active_s == 0);
        store_usage_free(v, n);

        /* Observations are per tick: nothing observed now, so nothing is active. */
        usage_compute(u, rows, 3, NULL, 0, t0 + 2500, 1, &v, &n);
        a = find(v, n, "2026-11-28", 1001);
        assert_non_null(a);
        assert_true(fabs(a->allocated_s - (1 + 3.0 / 7)) < 1e-9);
        assert_true(a->active_s == 0);
        store_usage_free(v, n);

        /* A CPU-busy MIG container is active (the fallback on the idle signals). */
        usage_observe(u, "a2._.alice", -1, 50, 0, false, &policies);
        usage_compute(u, rows, 3, NULL, 0, t0 + 3500, 1, &v, &n);
        a = find(v, n, "2026-11-28", 1001);
        assert_true(fabs(a->active_s - 3.0 / 7) < 1e-9);
        store_usage_free(v, n);

        /* A long gap (the monitor stalled) is capped at 2 x the interval + 10 s (20 s here). */
        usage_compute(u, rows, 3, NULL, 0, t0 + 3500 + 600 * 1000, 5, &v, &n);
        b = find(v, n, "2026-11-28", 1002);
        assert_true(fabs(b->allocated_s - 20) < 1e-9);
        store_usage_free(v, n);
        /* A slow tick (3 s at a 1 s interval) counts in full. */
        usage_compute(u, rows, 3, NULL, 0, t0 + 3500 + 603 * 1000, 1, &v, &n);
        b = find(v, n, "2026-11-28", 1002);
        assert_true(fabs(b->allocated_s - 3) < 1e-9);
        store_usage_free(v, n);

        /* Across midnight: split between the days. */
        int64_t mid = (NOV28 + 86400) * 1000;
        usage_compute(u, rows, 3, NULL, 0, mid - 400, 1, &v, &n);
        store_usage_free(v, n);
        usage_compute(u, rows, 3, NULL, 0, mid + 600, 1, &v, &n);
        assert_int_equal(n, 4);
        assert_true(fabs(find(v, n, "2026-11-28", 1002)->allocated_s - 0.4) < 1e-9);
        assert_true(fabs(find(v, n, "2026-11-29", 1002)->allocated_s - 0.6) < 1e-9);
        store_usage_free(v, n);

        /* A lease newer than the previous tick counts from its start; a released one up to its
         * release (whole seconds in the ledger). */
        int64_t t1 = (NOV28 + 86400 + 100) * 1000;
        usage_compute(u, NULL, 0, NULL, 0, t1, 1, &v, &n);
        store_usage_free(v, n);
        struct store_container fresh =
            container("c1._.carol", 1003, "carol", 1, (const char *[]){"bound"}, (double[]){1.0});
        fresh.leases[0].leased_at = NOV28 + 86400 + 101;
        struct store_released gone[] = {
            {"d1._.dave", 1004, 0.5, NOV28, NOV28 + 86400 + 101},
            {"d2._.dave", 1004, 1.0, NOV28, NOV28 + 86400 + 99}, /* before the previous tick */
        };
        usage_observe(u, "c1._.carol", 50, 0, 0, false, &policies);
        usage_observe(u, "d1._.dave", -1, 0, 0, true, &policies);
        usage_compute(u, &fresh, 1, gone, 2, t1 + 1500, 1, &v, &n);
        assert_int_equal(n, 2);
        const struct store_usage *c = find(v, n, "2026-11-29", 1003);
        assert_non_null(c);
        assert_true(fabs(c->allocated_s - 0.5) < 1e-9);
        assert_true(fabs(c->active_s - 0.5) < 1e-9);
        const struct store_usage *d = find(v, n, "2026-11-29", 1004);
        assert_non_null(d);
        assert_string_equal(d->user, "dave");
        assert_true(fabs(d->allocated_s - 0.5) < 1e-9);
        assert_true(fabs(d->active_s - 0.5) < 1e-9);
        store_usage_free(v, n);
        store_container_release(&fresh);

        /* The clock went backwards: nothing. */
        usage_compute(u, rows, 3, NULL, 0, mid, 1, &v, &n);
        assert_int_equal(n, 0);
        store_usage_free(v, n);

        u = usage_free(u);
        assert_null(u);
        for (size_t i = 0; i < 3; i++)
                store_container_release(&rows[i]);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void test_store(void **state)
{
        (void)state;
        char dir[] = "/tmp/ds01-test-usage-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *sd = xasprintf("%s/state", dir);
        _cleanup_error_ struct error *err = NULL;
        struct store *s = store_open(sd, &err);
        assert_non_null(s);
        struct store_usage add[] = {
            {"2026-11-01", 1001, "alice", 3600, 1800, 0, 0},
            {"2026-11-30", 1001, "alice", 3600, 0, 2, 1},
            {"2026-11-30", 1002, "bob", 7200, 7200, 1, 0},
            {"2026-12-01", 1001, "alice", 99999, 0, 5, 5}, /* another month */
            {"2026-10-31", 1002, "bob", 99999, 0, 5, 5},   /* another month */
        };
        assert_int_equal(store_usage_add(s, add, ARRAY_SIZE(add), &err), 0);
        /* Adding again sums. */
        assert_int_equal(store_usage_add(s, add, 1, &err), 0);
        struct store_usage *v = NULL;
        size_t n = 0;
        assert_int_equal(store_usage_month(s, "2026-11", -1, &v, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].user, "alice");
        assert_int_equal(v[0].uid, 1001);
        assert_true(fabs(v[0].allocated_s - 3 * 3600) < 1e-6);
        assert_true(fabs(v[0].active_s - 3600) < 1e-6);
        assert_int_equal(v[0].containers, 2);
        assert_int_equal(v[0].enforcement_stops, 1);
        assert_string_equal(v[1].user, "bob");
        assert_true(fabs(v[1].allocated_s - 7200) < 1e-6);
        store_usage_free(v, n);
        assert_int_equal(store_usage_month(s, "2026-11", 1002, &v, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].user, "bob");
        store_usage_free(v, n);
        assert_int_equal(store_usage_month(s, "2027-01", -1, &v, &n, &err), 0);
        assert_int_equal(n, 0);
        store_usage_free(v, n);
        /* The counters land on the day of their time. */
        usage_count_deploy(s, 1003, "carol", NOV28);
        usage_count_stop(s, 1003, "carol", NOV28 + 10);
        assert_int_equal(store_usage_month(s, "2026-11", 1003, &v, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(v[0].containers, 1);
        assert_int_equal(v[0].enforcement_stops, 1);
        assert_true(v[0].allocated_s == 0);
        store_usage_free(v, n);
        s = store_free(s);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_month_valid(void **state)
{
        (void)state;
        assert_true(usage_month_valid("2026-11"));
        assert_true(usage_month_valid("2026-01"));
        assert_true(usage_month_valid("2026-12"));
        assert_false(usage_month_valid("2026-13"));
        assert_false(usage_month_valid("2026-00"));
        assert_false(usage_month_valid("2026-1"));
        assert_false(usage_month_valid("2026/11"));
        assert_false(usage_month_valid("26-11-01"));
        assert_false(usage_month_valid("2026-11-01"));
        assert_false(usage_month_valid("abcd-ef"));
        assert_false(usage_month_valid(""));
        assert_false(usage_month_valid(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_split_days),
            cmocka_unit_test(test_compute),
            cmocka_unit_test(test_store),
            cmocka_unit_test(test_month_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
