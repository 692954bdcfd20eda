/* test-rules.c - the lifecycle rules as decisions on numbers (src/daemon/rules/rules.h): what is
 * "active", and when the idle and runtime clocks warn and stop. */
#include "daemon/rules/rules.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static const struct limit_policies policies = {
    .gpu_idle_threshold = 5,
    .cpu_idle_threshold = 2.0,
    .network_idle_threshold = 1048576,
};

static bool active(double gpu, double cpu, int64_t net, bool session)
{
        struct rules_sample s = {cpu, net, gpu, session};
        return rules_active(&policies, &s);
}

static bool gpu_active(double gpu, double cpu, int64_t net, bool session)
{
        struct rules_sample s = {cpu, net, gpu, session};
        return rules_gpu_active(&policies, &s);
}

static void test_active(void **state)
{
        (void)state;
        /* Any one signal over its threshold, or an open session. */
        assert_false(active(-1, 1.9, 1048575, false));
        assert_true(active(-1, 2.0, 0, false));
        assert_true(active(-1, 0, 1048576, false));
        assert_true(active(-1, 0, 0, true));
        assert_true(active(5, 0, 0, false));
        assert_false(active(4.9, 0, 0, false));
        /* A busy CPU keeps a container with an idle GPU active. */
        assert_true(active(0, 100, 0, false));
}

static void test_gpu_active(void **state)
{
        (void)state;
        /* Known utilisation decides alone. */
        assert_true(gpu_active(90, 0, 0, false));
        assert_true(gpu_active(5, 0, 0, false));
        assert_false(gpu_active(4.9, 0, 0, false));
        assert_false(gpu_active(0, 100, 1 << 30, true));
        /* Unknown: the container's own verdict. */
        assert_false(gpu_active(-1, 1.9, 1048575, false));
        assert_true(gpu_active(-1, 2.0, 0, false));
        assert_true(gpu_active(-1, 0, 1048576, false));
        assert_true(gpu_active(-1, 0, 0, true));
}

/* High demand: the leased share at or over the threshold, or anyone waiting; never without a
 * threshold. The idle timeout in force loses the reduction then, in whole seconds. */
static void test_high_demand(void **state)
{
        (void)state;
        struct limit_set ls = {
            .idle_timeout_h = 0.5,
            .policies = {.high_demand_threshold = 0.75, .high_demand_idle_reduction = 0.5}};
        struct rules_demand two = {4, 2, 0}, three = {4, 3, 0}, waiting = {4, 0, 1}, none = {0};
        assert_false(rules_high_demand(&ls.policies, &two));
        assert_true(rules_high_demand(&ls.policies, &three)); /* 75 % is at the threshold */
        assert_true(rules_high_demand(&ls.policies, &waiting));
        assert_false(rules_high_demand(&ls.policies, &none)); /* no slots, no one waits */
        int64_t full = 0;
        assert_int_equal(rules_idle_timeout_s(&ls, &two, &full), 1800);
        assert_int_equal(full, 1800);
        assert_int_equal(rules_idle_timeout_s(&ls, &three, &full), 900);
        assert_int_equal(full, 1800);
        ls.policies.high_demand_idle_reduction = 0.25;
        assert_int_equal(rules_idle_timeout_s(&ls, &three, NULL), 1350);
        ls.idle_timeout_h = 0.0001; /* 0 s in whole seconds: no timeout to shorten */
        assert_int_equal(rules_idle_timeout_s(&ls, &three, NULL), 0);
        ls.idle_timeout_h = 0.0003; /* 1 s, never shortened below a second */
        assert_int_equal(rules_idle_timeout_s(&ls, &three, NULL), 1);
        ls.idle_timeout_h = -1; /* none */
        assert_int_equal(rules_idle_timeout_s(&ls, &three, &full), -1);
        assert_int_equal(full, -1);
        ls.idle_timeout_h = 0.5;
        ls.policies.high_demand_threshold = -1; /* null: never, whoever waits */
        assert_false(rules_high_demand(&ls.policies, &waiting));
        assert_int_equal(rules_idle_timeout_s(&ls, &waiting, NULL), 1800);
}

/* idle_detection_window: a due step waits for that many idle samples in a row. */
static void test_idle_window(void **state)
{
        (void)state;
        struct rules_clock c = {1000, 100, 0.80, 0.95, 2, true, 2, 3};
        int64_t due;
        assert_int_equal(rules_idle(&c, 1000 + 101000, &due), RULES_MEASURE);
        c.streak = 3;
        assert_int_equal(rules_idle(&c, 1000 + 101000, &due), RULES_STOP);
        c.window = 0; /* no window: the sample with rates is enough */
        c.streak = 0;
        assert_int_equal(rules_idle(&c, 1000 + 101000, &due), RULES_STOP);
        c.streak = 1;
        c.window = 5;
        assert_int_equal(rules_idle(&c, 1000 + 50000, &due), RULES_NONE); /* not due yet */
}

/* The hold after a stop: the owner's own stop takes gpu_hold_after_manual_stop_m where set. */
static void test_gpu_hold(void **state)
{
        (void)state;
        struct limit_set ls = {.gpu_hold_after_stop_h = 0.25,
                               .policies = {.gpu_hold_after_manual_stop_m = 5}};
        assert_int_equal(rules_gpu_hold_s(&ls, false, false), 900);
        assert_int_equal(rules_gpu_hold_s(&ls, false, true), 0);  /* others wait: no hold */
        assert_int_equal(rules_gpu_hold_s(&ls, true, true), 300); /* the owner's own stop */
        assert_int_equal(rules_gpu_hold_s(&ls, true, false), 300);
        ls.policies.gpu_hold_after_manual_stop_m = -1; /* null: the same hold */
        assert_int_equal(rules_gpu_hold_s(&ls, true, false), 900);
        ls.gpu_hold_after_stop_h = -1; /* null: until retired */
        assert_int_equal(rules_gpu_hold_s(&ls, false, false), -1);
        ls.policies.gpu_hold_after_manual_stop_m = 0; /* released at once after the owner's */
        assert_int_equal(rules_gpu_hold_s(&ls, true, false), 0);
}

/* A 100 s idle timeout, warnings at 80 % and 95 %, idle since t = 1000 ms. */
static struct rules_clock idle_clock(int warned, bool measured)
{
        return (struct rules_clock){1000, 100, 0.80, 0.95, warned, measured};
}

static void test_idle(void **state)
{
        (void)state;
        int64_t due;
        struct rules_clock c = idle_clock(0, true);
        assert_int_equal(rules_idle(&c, 80999, &due), RULES_NONE);
        assert_int_equal(due, 81000);
        assert_int_equal(rules_idle(&c, 81000, &due), RULES_WARN);
        /* Due, but no rates in this sample: measure first, never warn or stop without them. */
        c = idle_clock(0, false);
        assert_int_equal(rules_idle(&c, 81000, &due), RULES_MEASURE);
        c = idle_clock(2, false);
        assert_int_equal(rules_idle(&c, 200000, &due), RULES_MEASURE);
        /* The second warning at 95 %. */
        c = idle_clock(1, true);
        assert_int_equal(rules_idle(&c, 95999, &due), RULES_NONE);
        assert_int_equal(due, 96000);
        assert_int_equal(rules_idle(&c, 96000, &due), RULES_WARN);
        /* Late (the daemon was down): each warning in a tick of its own, then the stop. */
        c = idle_clock(0, true);
        assert_int_equal(rules_idle(&c, 500000, &due), RULES_WARN);
        c = idle_clock(1, true);
        assert_int_equal(rules_idle(&c, 500000, &due), RULES_WARN);
        c = idle_clock(2, true);
        assert_int_equal(rules_idle(&c, 100999, &due), RULES_NONE);
        assert_int_equal(due, 101000);
        assert_int_equal(rules_idle(&c, 101000, &due), RULES_STOP);
        /* Activity since (a later since_ms) puts it back. */
        c = (struct rules_clock){90000, 100, 0.80, 0.95, 0, true};
        assert_int_equal(rules_idle(&c, 101000, &due), RULES_NONE);
        assert_int_equal(due, 170000);
}

static void test_runtime(void **state)
{
        (void)state;
        int64_t due;
        /* A 1000 s cap, warnings at 75 % and 90 %, started at 0. */
        struct rules_clock c = {0, 1000, 0.75, 0.90, 0, true};
        assert_int_equal(rules_runtime(&c, 749999, &due), RULES_NONE);
        assert_int_equal(due, 750000);
        assert_int_equal(rules_runtime(&c, 750000, &due), RULES_WARN);
        c.warned = 1;
        assert_int_equal(rules_runtime(&c, 899999, &due), RULES_NONE);
        assert_int_equal(due, 900000);
        /* Past the cap with a warning still to give: the warning first. */
        assert_int_equal(rules_runtime(&c, 2000000, &due), RULES_WARN);
        c.warned = 2;
        assert_int_equal(rules_runtime(&c, 999999, &due), RULES_NONE);
        assert_int_equal(due, 1000000);
        assert_int_equal(rules_runtime(&c, 1000000, &due), RULES_STOP);
        /* A cap of 0 stops at once, with no warnings. */
        c = (struct rules_clock){0, 0, 0.75, 0.90, 0, true};
        assert_int_equal(rules_runtime(&c, 1, &due), RULES_STOP);
}

/* Where the runtime count starts, from what the ledger records. */
static void test_runtime_start(void **state)
{
        (void)state;
        const int64_t docker = 1700000100123, ledger_s = 1700000000; /* 100 s apart */
        /* recreated: the replaced container's start, whatever Docker says */
        assert_int_equal(rules_runtime_start_ms(docker, ledger_s, 1699999000456), 1699999000456);
        /* recorded since schema 7: Docker's creation, however long after the reservation (a
         * deploy that took minutes on a loaded machine is no recreation) */
        assert_int_equal(rules_runtime_start_ms(docker, ledger_s, 0), docker);
        /* recorded before (-1): a much older reservation means an older ds01 recreated it */
        assert_int_equal(rules_runtime_start_ms(docker, ledger_s, -1), ledger_s * 1000);
        assert_int_equal(rules_runtime_start_ms(docker, 1700000090, -1), docker);
        /* Docker's creation unknown: the ledger's */
        assert_int_equal(rules_runtime_start_ms(0, ledger_s, 0), ledger_s * 1000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_active),        cmocka_unit_test(test_gpu_active),
            cmocka_unit_test(test_idle),          cmocka_unit_test(test_runtime),
            cmocka_unit_test(test_runtime_start), cmocka_unit_test(test_high_demand),
            cmocka_unit_test(test_idle_window),   cmocka_unit_test(test_gpu_hold),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
