/* test-pool.c - the placement policy: profiles, candidates, best fit, wear, topology; the
 * queue's order and which waiting requests start (backfill). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/gpus/backfill.h"
#include "daemon/gpus/pool.h"
#include "daemon/gpus/queue.h"
#include "daemon/gpus/reservations.h"
#include "shared/error.h"

static struct gpu_slot whole(int index, int numa, int link)
{
        return (struct gpu_slot){.uuid = xasprintf("GPU-%d", index),
                                 .name = (char *)"A100",
                                 .gpu_index = index,
                                 .memory_mib = 40960,
                                 .weight = 1.0,
                                 .allocatable = true,
                                 .numa_node = numa,
                                 .link_group = link};
}

static struct gpu_slot mig(int gpu, int k, const char *profile, int slices, int64_t mem)
{
        return (struct gpu_slot){.uuid = xasprintf("MIG-%d-%d", gpu, k),
                                 .parent_uuid = (char *)"GPU-parent",
                                 .name = (char *)"A100 MIG",
                                 .profile = (char *)profile,
                                 .gpu_index = gpu,
                                 .memory_mib = mem,
                                 .weight = slices / 7.0,
                                 .allocatable = true,
                                 .numa_node = -1,
                                 .link_group = -1};
}

static void test_parse_profile(void **state)
{
        (void)state;
        int s, m;
        struct error *err = NULL;
        assert_int_equal(pool_parse_profile("3g.20gb", &s, &m, NULL), 0);
        assert_int_equal(s, 3);
        assert_int_equal(m, 20);
        assert_int_equal(pool_parse_profile("1g", &s, &m, NULL), 0);
        assert_int_equal(s, 1);
        assert_int_equal(m, 0);
        const char *bad[] = {"", "0g", "8g", "3g.", "3g.20", "3g.20gbx", "g", "3x", "-1g"};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                assert_int_equal(pool_parse_profile(bad[i], &s, &m, &err), -1);
                assert_int_equal(err->code, DS01_EUSAGE);
                assert_non_null(strstr(err->message, "3g.20gb"));
                err = error_free(err);
        }
}

static void test_best_fit(void **state)
{
        (void)state;
        struct gpu_slot s[] = {mig(0, 0, "3g.20gb", 3, 19968), mig(0, 1, "2g.10gb", 2, 9984),
                               mig(0, 2, "1g.5gb", 1, 4864), mig(1, 0, "1g.10gb", 1, 9984)};
        struct store_free_slot f[4];
        for (size_t i = 0; i < 4; i++)
                f[i] = (struct store_free_slot){.slot = &s[i]};
        size_t idx[4];
        struct pool_request req = {.n_slots = 1};
        /* The smallest free instance: 1g.5gb before 1g.10gb (less memory). */
        assert_int_equal(pool_pick(f, 4, 1, &req, idx), 1);
        assert_string_equal(f[idx[0]].slot->uuid, "MIG-0-2");
        /* Without the 1g slices, the 2g is the best fit, not the 3g. */
        assert_int_equal(pool_pick(f, 2, 1, &req, idx), 1);
        assert_string_equal(f[idx[0]].slot->uuid, "MIG-0-1");
        for (size_t i = 0; i < 4; i++)
                free(s[i].uuid);
}

static void test_wear_spreading(void **state)
{
        (void)state;
        struct gpu_slot s[] = {whole(0, -1, -1), whole(1, -1, -1), whole(2, -1, -1)};
        struct store_free_slot f[] = {
            {.slot = &s[0], .leased_s = 5000, .last_released = 100},
            {.slot = &s[1], .leased_s = 10, .last_released = 300},
            {.slot = &s[2], .leased_s = 10, .last_released = 200},
        };
        size_t idx[3];
        struct pool_request req = {.n_slots = 1};
        /* Least worn first; of equally worn, the one free the longest (coolest). */
        assert_int_equal(pool_pick(f, 3, 1, &req, idx), 1);
        assert_string_equal(f[idx[0]].slot->uuid, "GPU-2");
        assert_int_equal(pool_pick(f, 3, 3, &req, idx), 3);
        assert_string_equal(f[idx[2]].slot->uuid, "GPU-0");
        for (size_t i = 0; i < 3; i++)
                free(s[i].uuid);
}

static void test_topology(void **state)
{
        (void)state;
        /* Two NVLink groups: {0,1} and {2,3}. GPU 1 is busy (not in the free list), so a request
         * for two must take 2 and 3 even though 0 is the least worn. */
        struct gpu_slot s[] = {whole(0, 0, 0), whole(2, 1, 2), whole(3, 1, 2)};
        struct store_free_slot f[] = {
            {.slot = &s[0], .leased_s = 0},
            {.slot = &s[1], .leased_s = 50},
            {.slot = &s[2], .leased_s = 60},
        };
        size_t idx[3];
        struct pool_request req = {.n_slots = 2};
        assert_int_equal(pool_pick(f, 3, 2, &req, idx), 2);
        assert_string_equal(f[idx[0]].slot->uuid, "GPU-2");
        assert_string_equal(f[idx[1]].slot->uuid, "GPU-3");
        /* Three cannot fit one group: spread over the least worn. */
        assert_int_equal(pool_pick(f, 3, 3, &req, idx), 3);
        assert_string_equal(f[idx[0]].slot->uuid, "GPU-0");
        /* NUMA only (no NVLink info): the same grouping by node. */
        for (size_t i = 0; i < 3; i++)
                s[i].link_group = -1;
        assert_int_equal(pool_pick(f, 3, 2, &req, idx), 2);
        assert_int_equal(f[idx[0]].slot->numa_node, 1);
        assert_int_equal(f[idx[1]].slot->numa_node, 1);
        for (size_t i = 0; i < 3; i++)
                free(s[i].uuid);
}

static void test_candidates(void **state)
{
        (void)state;
        struct config *c = config_load(NULL, NULL);
        assert_non_null(c);
        /* Replace the default inventory: one whole GPU and one with two MIG instances. */
        for (size_t i = 0; i < c->n_simulated; i++)
                free(c->simulated[i].name);
        free(c->simulated);
        c->simulated = xcalloc(2, sizeof(*c->simulated));
        c->n_simulated = 2;
        c->simulated[0] = (struct config_sim_gpu){.name = xstrdup("A100"), .memory_mib = 40960};
        char **profiles = xcalloc(2, sizeof(char *));
        profiles[0] = xstrdup("3g.20gb");
        profiles[1] = xstrdup("1g.5gb");
        c->simulated[1] = (struct config_sim_gpu){
            .name = xstrdup("A100"), .memory_mib = 40960, .mig = profiles, .n_mig = 2};
        struct gpu_inventory *inv = gpu_inventory_scan(c, NULL, NULL);
        assert_non_null(inv);
        struct limit_set ls = {.allow_full_gpu = true};
        const struct gpu_slot **v = NULL;
        struct error *err = NULL;
        struct pool_request req = {.n_slots = 1};
        assert_int_equal(pool_candidates(inv, &ls, &req, &v, &err), 1);
        assert_null(v[0]->parent_uuid);
        free(v);
        ls.allow_full_gpu = false; /* MIG only */
        assert_int_equal(pool_candidates(inv, &ls, &req, &v, &err), 2);
        assert_non_null(v[0]->parent_uuid);
        assert_non_null(v[1]->parent_uuid);
        free(v);
        req.mig_profile = "2g";
        assert_int_equal(pool_candidates(inv, &ls, &req, &v, &err), 1);
        assert_string_equal(v[0]->profile, "3g.20gb");
        free(v);
        req.mig_profile = "4g";
        assert_int_equal(pool_candidates(inv, &ls, &req, &v, &err), 0);
        assert_non_null(err);
        assert_int_equal(err->code, DS01_ERESOURCE);
        assert_non_null(strstr(err->message, "4g"));
        err = error_free(err);
        free(v);
        gpu_inventory_free(inv);
        config_free(c);
}

/* Reservations: members; a non-member kept off a slot in its window unless it was released
 * unused, and before it when the runtime cap could reach the window. */
static void test_reservation_rule(void **state)
{
        (void)state;
        char *slots[] = {"GPU-A", "GPU-B", NULL};
        bool used[] = {true, false};
        struct store_resv r = {.name = "exam",
                               .start_s = 100000,
                               .end_s = 200000,
                               .users = "alice,bob",
                               .group = "staff",
                               .created_by = "root",
                               .slots = slots,
                               .used = used,
                               .n_slots = 2};
        assert_true(resv_is_member(&r, "alice", "student"));
        assert_true(resv_is_member(&r, "bob", NULL));
        assert_true(resv_is_member(&r, "carol", "staff"));
        assert_false(resv_is_member(&r, "ali", "student")); /* whole logins only */
        assert_false(resv_is_member(&r, "alicebob", "student"));
        /* in the window: a used slot always, an unused one until release_s into it */
        assert_true(resv_withholds(&r, 0, 1, 150000, 0));
        assert_false(resv_withholds(&r, 1, 1, 150000, 0));
        assert_true(resv_withholds(&r, 1, 1, 100000 + 1799, 1800));
        assert_false(resv_withholds(&r, 1, 1, 100000 + 1800, 1800));
        /* after it: never */
        assert_false(resv_withholds(&r, 0, 1, 200000, 1800));
        /* before it: when the runtime cap could reach the start; no cap always */
        assert_true(resv_withholds(&r, 1, 24, 100000 - 3600, 1800));
        assert_false(resv_withholds(&r, 1, 0.5, 100000 - 3600, 1800));
        assert_false(resv_withholds(&r, 1, 1, 100000 - 3600, 1800)); /* ends as it starts */
        assert_true(resv_withholds(&r, 1, -1, 0, 1800));
}

/* The queue's order (gpus/queue.h): Slurm's fair-share factor 2^(-U/S), and age that keeps
 * anyone from starving behind heavier users. */
static void test_queue_priority(void **state)
{
        (void)state;
        assert_float_equal(queue_fairshare(0, 0.25), 1, 1e-12);      /* no recent use */
        assert_float_equal(queue_fairshare(0.25, 0.25), 0.5, 1e-12); /* exactly one's share */
        assert_float_equal(queue_fairshare(0.5, 0.25), 0.25, 1e-12); /* twice it */
        assert_float_equal(queue_fairshare(0.1, 0), 0, 1e-12);       /* no share */
        assert_true(queue_fairshare(0.1, 0.5) > queue_fairshare(0.1, 0.25)); /* a larger share */
        struct queue_weights w = {.fairshare = 1000, .age = 1000, .max_age_s = 86400};
        assert_float_equal(queue_priority(&w, 1, 0, 0), 1000, 1e-9);
        assert_float_equal(queue_priority(&w, 0.5, 43200, 0), 1000, 1e-9);    /* half a day */
        assert_float_equal(queue_priority(&w, 0, 10 * 86400, 0), 1000, 1e-9); /* age caps at 1 */
        assert_float_equal(queue_priority(&w, 1, 0, -250), 750, 1e-9);        /* a move */
        /* a heavy user who waited a day passes a light one who just came */
        assert_true(queue_priority(&w, 0.1, 86400, 0) > queue_priority(&w, 1, 0, 0));
}

/* backfill_pass's tries are recorded; each answers what answer[i] says. */
struct tries {
        enum backfill_try answer[8];
        size_t tried[8], n;
};

static enum backfill_try try_recorded(void *ctx, size_t i)
{
        struct tries *t = ctx;
        t->tried[t->n++] = i;
        return t->answer[i];
}

/* The blocked request and the ones that may pass it (gpus/backfill.h). */
static void test_backfill(void **state)
{
        (void)state;
        /* 1 slot free, leases end at 100 and 200. The 2-slot request at the head blocks: it
         * starts at 100 at the latest, when 2 are free and none spare. */
        int64_t ends[] = {100, 200};
        struct capacity cap = {1, ends, 2};
        struct backfill_request v[] = {{2, 50}, {1, 150}, {1, 80}, {1, 10}, {0, 1}};
        struct tries t = {.answer = {BACKFILL_STARTED, BACKFILL_STARTED, BACKFILL_STARTED,
                                     BACKFILL_STARTED, BACKFILL_STARTED}};
        assert_int_equal(capacity_when(&cap, 2, 0), 100);
        assert_int_equal(capacity_when(&cap, 4, 0), 0); /* never, as far as anyone knows */
        assert_int_equal(capacity_free_at(&cap, 150), 2);
        assert_int_equal(backfill_pass(&cap, v, 5, 0, true, try_recorded, &t), 1);
        /* the head is not tried (1 free < 2); cap 150 would run past 100; cap 80 passes; then
         * nothing is free for the cap-10 one; the gone one (0 slots) is skipped */
        assert_int_equal(t.n, 1);
        assert_int_equal(t.tried[0], 2);
        assert_int_equal(cap.free_now, 0);

        /* first come, first served: nothing passes the blocked head */
        cap.free_now = 1;
        t.n = 0;
        assert_int_equal(backfill_pass(&cap, v, 5, 0, false, try_recorded, &t), 0);
        assert_int_equal(t.n, 0);

        /* 2 free, both leases end at 100: a 3-slot head starts then with 1 to spare, so one
         * 1-slot request without a runtime cap may take it now, and a second may not */
        int64_t ends2[] = {100, 100};
        struct capacity cap2 = {2, ends2, 2};
        struct backfill_request w[] = {{3, 10}, {1, -1}, {1, -1}};
        t = (struct tries){.answer = {BACKFILL_STARTED, BACKFILL_STARTED, BACKFILL_STARTED}};
        assert_int_equal(backfill_pass(&cap2, w, 3, 0, true, try_recorded, &t), 1);
        assert_int_equal(t.n, 1);
        assert_int_equal(t.tried[0], 1);

        /* no lease has an end: the blocked head's start is unknown, and nothing passes it */
        struct capacity none = {0, NULL, 0};
        struct backfill_request x[] = {{1, 10}, {1, 1}};
        t = (struct tries){0};
        assert_int_equal(backfill_pass(&none, x, 2, 0, true, try_recorded, &t), 0);
        assert_int_equal(t.n, 0);

        /* a request kept waiting for its own reason (a quota) blocks nobody; a busy one does */
        struct capacity two = {2, NULL, 0};
        struct backfill_request y[] = {{1, 10}, {1, 10}, {1, 10}, {1, 10}};
        t = (struct tries){
            .answer = {BACKFILL_KEPT, BACKFILL_ENDED, BACKFILL_BUSY, BACKFILL_STARTED}};
        assert_int_equal(backfill_pass(&two, y, 4, 0, true, try_recorded, &t), 0);
        assert_int_equal(t.n, 3); /* the fourth would delay the busy third (start unknown) */
        assert_int_equal(two.free_now, 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_profile),  cmocka_unit_test(test_best_fit),
            cmocka_unit_test(test_wear_spreading), cmocka_unit_test(test_topology),
            cmocka_unit_test(test_candidates),     cmocka_unit_test(test_reservation_rule),
            cmocka_unit_test(test_queue_priority), cmocka_unit_test(test_backfill),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
