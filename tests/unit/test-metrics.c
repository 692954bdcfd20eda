/* test-metrics.c - the /metrics exposition from an inventory and the counters, without Docker:
 * slot names (DS01's "<gpu>" and "<gpu>.<n>"), capacity by state, histogram buckets, bounded
 * label sets, and the loopback default of metrics_listen. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/config/config.h"
#include "daemon/observe/counters.h"
#include "daemon/gpus/gpu.h"
#include "daemon/config/limits.h"
#include "daemon/config/generation.h"
#include "daemon/observe/metrics.h"
#include "daemon/observe/snapshot.h"
#include "daemon/ledger/store.h"
#include "shared/util.h"

#include <stdio.h>

struct fixture {
        char dir[64];
        struct ds01d d;
};

static int setup(void **state)
{
        struct fixture *f = xzalloc(sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/ds01-test-metrics.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        _cleanup_free_ char *cfg = xasprintf("%s/ds01.yaml", f->dir);
        FILE *fp = fopen(cfg, "w");
        assert_non_null(fp);
        fprintf(fp,
                "state_dir: %s/state\n"
                "gpus:\n"
                "  backend: simulated\n"
                "  simulated:\n"
                "    - { name: \"NVIDIA A100-SXM4-40GB\", memory_mib: 40960 }\n"
                "    - { name: \"NVIDIA A100-SXM4-40GB\", memory_mib: 40960, mig: [\"3g.20gb\", "
                "\"3g.20gb\"] }\n",
                f->dir);
        fclose(fp);
        struct error *err = NULL;
        struct ds01d *d = &f->d;
        d->cfg = config_load(cfg, &err);
        assert_non_null(d->cfg);
        d->limits = limits_load(NULL, &err);
        assert_non_null(d->limits);
        d->inv = gpu_inventory_scan(d->cfg, NULL, &err);
        assert_non_null(d->inv);
        d->store = store_open(d->cfg->state_dir, &err);
        assert_non_null(d->store);
        d->snap = snapshot_cache_new();
        /* the fixture is a view of its own generation, as a request's is */
        d->root = d;
        d->gens = generations_new(d->cfg, d->limits, d->inv, (gid_t)-1);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        struct ds01d *d = &f->d;
        snapshot_cache_free(d->snap);
        store_free(d->store);
        generations_free(d->gens); /* with cfg, limits and inv */
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void assert_has(const char *text, const char *line)
{
        if (!strstr(text, line))
                fail_msg("missing from the exposition: %s\n---\n%s", line, text);
}

static void test_inventory(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *text = metrics_render(&f->d);
        /* one whole GPU + two 3g MIG instances = 1 + 6/7 GPU-equivalents, all free */
        assert_has(text, "ds01_gpu_slots{state=\"free\"} 3\n");
        assert_has(text, "ds01_gpu_slots{state=\"leased\"} 0\n");
        assert_has(text, "ds01_gpu_slot_equivalents{state=\"free\"} 1.85714286\n");
        assert_has(text, "ds01_gpu_slot_info{gpu=\"0\",slot=\"0\",gpu_uuid=\"");
        assert_has(text, ",slot=\"1.1\",gpu_uuid=\"");
        assert_has(text,
                   "ds01_mig_slot_info{gpu=\"1\",gpu_i_id=\"0\",slot=\"1.0\",mig_uuid=\"MIG-");
        assert_has(text,
                   "ds01_mig_slot_info{gpu=\"1\",gpu_i_id=\"1\",slot=\"1.1\",mig_uuid=\"MIG-");
        assert_has(text, "ds01_leases{state=\"held\"} 0\n");
        assert_has(text,
                   "ds01_containers_total{status=\"running\",interface=\"orchestration\"} 0\n");
        assert_has(text, "# TYPE ds01_enforcement_actions_total counter\n");
        assert_has(text, "ds01_enforcement_actions_total{action=\"cleanup_remove\"} ");
        assert_has(text, "ds01_exporter_info{version=\"" DS01_VERSION "\",type=\"ds01d\"} 1\n");
        /* the MIG-enabled GPU itself is not a slot */
        assert_null(strstr(text, "ds01_gpu_slot_info{gpu=\"1\",slot=\"1\""));
}

static void test_counters(void **state)
{
        struct fixture *f = *state;
        counters_rpc("container.deploy", true, 300 * 1000);                /* 0.3 ms */
        counters_rpc("container.deploy", false, 2LL * 1000 * 1000 * 1000); /* 2 s */
        counters_rpc(NULL, false, 1000);
        counters_action(COUNTERS_IDLE_STOP);
        counters_sweep(3 * 1000 * 1000); /* 3 ms */
        for (int i = 0; i < COUNTERS_MAX_EVENT_TYPES + 10; i++) {
                char t[32];
                snprintf(t, sizeof(t), "test.type%d", i);
                counters_event(t);
        }
        _cleanup_free_ char *text = metrics_render(&f->d);
        assert_has(text, "ds01_rpc_requests_total{method=\"container.deploy\",outcome=\"ok\"} 1\n");
        assert_has(text,
                   "ds01_rpc_requests_total{method=\"container.deploy\",outcome=\"error\"} 1\n");
        assert_has(text, "ds01_rpc_requests_total{method=\"unknown\",outcome=\"error\"} 1\n");
        assert_has(text, "ds01_rpc_request_duration_seconds_bucket{method=\"container.deploy\","
                         "le=\"0.0005\"} 1\n");
        assert_has(text, "ds01_rpc_request_duration_seconds_bucket{method=\"container.deploy\","
                         "le=\"1\"} 1\n");
        assert_has(text, "ds01_rpc_request_duration_seconds_bucket{method=\"container.deploy\","
                         "le=\"2.5\"} 2\n");
        assert_has(text, "ds01_rpc_request_duration_seconds_bucket{method=\"container.deploy\","
                         "le=\"+Inf\"} 2\n");
        assert_has(text,
                   "ds01_rpc_request_duration_seconds_count{method=\"container.deploy\"} 2\n");
        assert_has(text, "ds01_enforcement_actions_total{action=\"idle_stop\"} 1\n");
        assert_has(text, "ds01_sweep_duration_seconds_bucket{le=\"0.001\"} 0\n");
        assert_has(text, "ds01_sweep_duration_seconds_bucket{le=\"0.005\"} 1\n");
        assert_has(text, "ds01_sweep_duration_seconds_count 1\n");
        assert_has(text, "ds01_last_sweep_timestamp_seconds ");
        /* event types are bounded: the ones past the limit count as "other" (test_events_24h
         * took one place: 127 test types have theirs, the last 11 are "other") */
        assert_has(text, "ds01_events_total{event_type=\"test.type0\"} 1\n");
        assert_has(text, "ds01_events_total{event_type=\"test.type126\"} 1\n");
        assert_has(text, "ds01_events_total{event_type=\"other\"} 11\n");
        assert_null(strstr(text, "test.type130"));
}

static const struct counters_event *find_event(const struct counters_snapshot *c, const char *t)
{
        for (size_t i = 0; i < c->n_events; i++)
                if (streq(c->events[i].type, t))
                        return &c->events[i];
        return NULL;
}

/* ds01_events_24h_total: the current hour and the 23 before, from the log (seen) and live. Runs
 * before test_counters fills the table of types. */
static void test_events_24h(void **state)
{
        struct fixture *f = *state;
        int64_t now = now_s();
        counters_event_seen("recent.a", now - 30 * 3600); /* older than a day */
        counters_event_seen("recent.a", now - 25 * 3600); /* the slot of the hour before now */
        counters_event_seen("recent.a", now - 3600);      /* takes that slot over */
        counters_event_seen("recent.a", now - 25 * 3600); /* older than the slot: ignored */
        counters_event_seen("recent.a", now - 23 * 3600);
        counters_event("recent.a");
        struct counters_snapshot *c = xmalloc(sizeof(*c));
        counters_read(c);
        const struct counters_event *e = find_event(c, "recent.a");
        assert_non_null(e);
        assert_int_equal(e->n, 1); /* only the live one counts since the start */
        assert_int_equal(counters_events_recent(e, now), 3);
        assert_int_equal(counters_events_recent(e, now + 3600), 2);      /* -23 h has left */
        assert_int_equal(counters_events_recent(e, now + 25 * 3600), 0); /* a day later */
        free(c);
        _cleanup_free_ char *text = metrics_render(&f->d);
        assert_has(text, "ds01_events_24h_total{event_type=\"recent.a\"} 3\n");
        assert_has(text, "ds01_events_total{event_type=\"recent.a\"} 1\n");
        assert_has(text, "ds01_lifecycle_events_total{action=\"idle_kill\"} ");
        assert_has(text, "ds01_state_disk_bytes{type=\"total\"} ");
        assert_has(text, "ds01_ssh_sessions_total ");
        /* the built-in limits: one group, listing nobody */
        assert_has(text, "ds01_group_members_total{group=\"");
}

static void test_default_loopback(void **state)
{
        (void)state;
        struct error *err = NULL;
        struct config *c = config_load(NULL, &err);
        assert_non_null(c);
        assert_string_equal(c->metrics_listen, "127.0.0.1:9101");
        config_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_inventory, setup, teardown),
            cmocka_unit_test_setup_teardown(test_events_24h, setup, teardown),
            cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
            cmocka_unit_test(test_default_loopback),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
