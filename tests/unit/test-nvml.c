/* test-nvml.c - the NVML backend against the fake libnvidia-ml.so.1 (tests/fake-nvml): what a scan
 * makes of whole GPUs, MIG devices and topology, that a MIG reconfiguration shows on the next
 * scan, utilisation and processes by UUID, and the errors an operator sees when the library is
 * missing or the driver refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/gpus/nvml.h"
#include "shared/error.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

static char tmpdir[] = "/tmp/ds01-test-nvml.XXXXXX";
static char *description;

#define GPU0  "GPU-11111111-1111-4111-8111-111111111111"
#define GPU1  "GPU-22222222-2222-4222-8222-222222222222"
#define GPU2  "GPU-33333333-3333-4333-8333-333333333333"
#define MIG_A "MIG-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define MIG_B "MIG-bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
#define MIG_C "MIG-cccccccc-cccc-4ccc-8ccc-cccccccccccc"
#define MIG_D "MIG-dddddddd-dddd-4ddd-8ddd-dddddddddddd"
#define MIG_E "MIG-eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"

/* GPU 0: whole, NUMA 0, NVLink to GPU 1, busy. GPU 1: MIG 3g+3g+1g, NUMA 1, NVLink to GPU 0.
 * GPU 2: MIG on, no instances, no NUMA or NVLink information. */
static const char *const three_gpus =
    "{\"driver_version\": \"550.54.15\", \"gpus\": ["
    " {\"uuid\": \"" GPU0 "\", \"name\": \"NVIDIA A100-SXM4-40GB\", \"memory_mib\": 40960,"
    "  \"minor\": 0, \"pci_bus_id\": \"00000000:07:00.0\", \"numa_node\": 0,"
    "  \"utilization\": {\"gpu\": 87, \"memory\": 40},"
    "  \"processes\": [{\"pid\": 1234, \"used_memory_mib\": 100},"
    "                {\"pid\": 5678, \"used_memory_mib\": 2000}],"
    "  \"nvlink_peers\": [\"00000000:0F:00.0\", \"00000000:0F:00.0\"]},"
    " {\"uuid\": \"" GPU1 "\", \"name\": \"NVIDIA A100-SXM4-40GB\", \"memory_mib\": 40960,"
    "  \"minor\": 1, \"pci_bus_id\": \"00000000:0F:00.0\", \"numa_node\": 1,"
    "  \"nvlink_peers\": [\"0000:07:00.0\"], \"mig_enabled\": true, \"mig_devices\": ["
    "   {\"uuid\": \"" MIG_A "\", \"profile\": \"3g.20gb\", \"slices\": 3, \"memory_mib\": 19968,"
    "    \"processes\": [{\"pid\": 4242, \"used_memory_mib\": 500}]},"
    "   {\"uuid\": \"" MIG_B "\", \"profile\": \"3g.20gb\", \"slices\": 3, \"memory_mib\": 19968},"
    "   {\"uuid\": \"" MIG_C "\", \"profile\": \"1g.5gb\", \"slices\": 1, \"memory_mib\": 4864}]},"
    " {\"uuid\": \"" GPU2 "\", \"name\": \"NVIDIA A100-SXM4-40GB\", \"memory_mib\": 40960,"
    "  \"minor\": 2, \"pci_bus_id\": \"00000000:47:00.0\", \"mig_enabled\": true,"
    "  \"mig_devices\": []}"
    "]}";

/* The same machine after an admin reconfigured MIG: GPU 1 is one 7g.40gb, GPU 2 has two 1g.5gb
 * instances, and GPUs 0 and 2 now reach each other through an NVSwitch. */
static const char *const reconfigured =
    "{\"driver_version\": \"550.54.15\", \"gpus\": ["
    " {\"uuid\": \"" GPU0 "\", \"name\": \"NVIDIA A100-SXM4-40GB\", \"memory_mib\": 40960,"
    "  \"minor\": 0, \"pci_bus_id\": \"00000000:07:00.0\", \"numa_node\": 0,"
    "  \"nvlink_peers\": [\"00000000:C0:00.0\"]},"
    " {\"uuid\": \"" GPU1 "\", \"name\": \"NVIDIA A100-SXM4-40GB\", \"memory_mib\": 40960,"
    "  \"minor\": 1, \"pci_bus_id\": \"00000000:0F:00.0\", \"numa_node\": 1,"
    "  \"nvlink_peers\": [\"\"], \"mig_enabled\": true, \"mig_devices\": ["
    "   {\"uuid\": \"" MIG_D "\", \"profile\": \"7g.40gb\", \"slices\": 7,"
    "    \"memory_mib\": 40192}]},"
    " {\"uuid\": \"" GPU2 "\", \"name\": \"NVIDIA A100-SXM4-40GB\", \"memory_mib\": 40960,"
    "  \"minor\": 2, \"pci_bus_id\": \"00000000:47:00.0\", \"mig_enabled\": true,"
    "  \"nvlink_peers\": [\"\", \"00000000:C0:00.0\"], \"mig_devices\": ["
    "   {\"uuid\": \"" MIG_E "\", \"profile\": \"1g.5gb\", \"slices\": 1, \"memory_mib\": 4864},"
    "   {\"uuid\": \"MIG-ffffffff-ffff-4fff-8fff-ffffffffffff\", \"profile\": \"1g.5gb\","
    "    \"slices\": 1, \"memory_mib\": 4864}]}"
    "]}";

/* Replaces the description the way tests must: write aside, then rename over. */
static void describe(const char *json)
{
        _cleanup_free_ char *tmp = xasprintf("%s.tmp", description);
        FILE *f = fopen(tmp, "we");
        assert_non_null(f);
        assert_true(fputs(json, f) >= 0);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(rename(tmp, description), 0);
}

static const char *fake_library(void)
{
        const char *p = getenv("DS01_FAKE_NVML");
        assert_non_null(p);
        return p;
}

static struct nvml *open_fake(void)
{
        _cleanup_error_ struct error *err = NULL;
        struct nvml *n = nvml_open(fake_library(), &err);
        if (!n)
                fail_msg("nvml_open: %s", err->message);
        return n;
}

static const struct gpu_slot *find(const struct gpu_slot *v, size_t n, const char *uuid)
{
        for (size_t i = 0; i < n; i++)
                if (streq(v[i].uuid, uuid))
                        return &v[i];
        fail_msg("no slot %s", uuid);
        return NULL;
}

static int setup(void **state)
{
        (void)state;
        if (!mkdtemp(tmpdir))
                return -1;
        description = xasprintf("%s/fake-nvml.json", tmpdir);
        setenv("FAKE_NVML_FILE", description, 1);
        unsetenv("FAKE_NVML_FAIL_INIT");
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        unlink(description);
        free(description);
        return rmdir(tmpdir);
}

static void test_scan(void **state)
{
        (void)state;
        describe(three_gpus);
        struct nvml *n = open_fake();
        assert_string_equal(nvml_driver_version(n), "550.54.15");

        _cleanup_error_ struct error *err = NULL;
        struct gpu_slot *v = NULL;
        size_t count = 0;
        assert_int_equal(nvml_scan(n, &v, &count, &err), 0);
        assert_null(err);
        assert_int_equal(count, 6);

        /* Stable order: each GPU, then its MIG devices. */
        const char *order[] = {GPU0, GPU1, MIG_A, MIG_B, MIG_C, GPU2};
        for (size_t i = 0; i < ARRAY_SIZE(order); i++)
                assert_string_equal(v[i].uuid, order[i]);

        const struct gpu_slot *g0 = find(v, count, GPU0);
        assert_true(g0->allocatable);
        assert_null(g0->parent_uuid);
        assert_null(g0->profile);
        assert_string_equal(g0->name, "NVIDIA A100-SXM4-40GB");
        assert_int_equal(g0->memory_mib, 40960);
        assert_true(g0->weight == 1.0);
        assert_int_equal(g0->gpu_index, 0);
        assert_int_equal(g0->minor, 0);
        assert_string_equal(g0->pci_bus_id, "00000000:07:00.0");
        assert_int_equal(g0->numa_node, 0);

        /* A MIG-enabled GPU is not a slot of its own: its instances are. */
        const struct gpu_slot *g1 = find(v, count, GPU1);
        assert_false(g1->allocatable);
        assert_int_equal(g1->numa_node, 1);
        assert_int_equal(g1->minor, 1);

        /* NVLink: GPUs 0 and 1 reach each other (GPU 1 names GPU 0 by its legacy bus id). */
        assert_int_equal(g0->link_group, 0);
        assert_int_equal(g1->link_group, 0);

        const struct {
                const char *uuid, *profile;
                double weight;
                int64_t mib;
        } migs[] = {
            {MIG_A, "3g.20gb", 3.0 / 7, 19968},
            {MIG_B, "3g.20gb", 3.0 / 7, 19968},
            {MIG_C, "1g.5gb", 1.0 / 7, 4864},
        };
        for (size_t i = 0; i < ARRAY_SIZE(migs); i++) {
                const struct gpu_slot *s = find(v, count, migs[i].uuid);
                assert_true(s->allocatable);
                assert_string_equal(s->parent_uuid, GPU1);
                assert_string_equal(s->profile, migs[i].profile);
                _cleanup_free_ char *name =
                    xasprintf("NVIDIA A100-SXM4-40GB MIG %s", migs[i].profile);
                assert_string_equal(s->name, name);
                assert_true(s->weight > migs[i].weight - 1e-9 && s->weight < migs[i].weight + 1e-9);
                assert_int_equal(s->memory_mib, migs[i].mib);
                assert_int_equal(s->gpu_index, 1);
                assert_int_equal(s->numa_node, 1); /* the parent's topology */
                assert_int_equal(s->link_group, 0);
        }

        /* MIG on with no instances: nothing on GPU 2 can be leased. Nothing known of its NUMA
         * node or NVLink either. */
        const struct gpu_slot *g2 = find(v, count, GPU2);
        assert_false(g2->allocatable);
        assert_int_equal(g2->numa_node, -1);
        assert_int_equal(g2->link_group, -1);
        for (size_t i = 0; i < count; i++)
                assert_false(streq_ptr(v[i].parent_uuid, GPU2));

        gpu_slots_free(v, count);
        nvml_close(n);
}

static void test_rescan_sees_mig_change(void **state)
{
        (void)state;
        describe(three_gpus);
        struct nvml *n = open_fake();
        _cleanup_error_ struct error *err = NULL;
        struct gpu_slot *v = NULL;
        size_t count = 0;
        assert_int_equal(nvml_scan(n, &v, &count, &err), 0);
        assert_int_equal(count, 6);
        gpu_slots_free(v, count);

        /* Same open library, new layout: the next scan shows it. */
        describe(reconfigured);
        assert_int_equal(nvml_scan(n, &v, &count, &err), 0);
        assert_null(err);
        const char *order[] = {GPU0, GPU1,  MIG_D,
                               GPU2, MIG_E, "MIG-ffffffff-ffff-4fff-8fff-ffffffffffff"};
        assert_int_equal(count, ARRAY_SIZE(order));
        for (size_t i = 0; i < ARRAY_SIZE(order); i++)
                assert_string_equal(v[i].uuid, order[i]);

        const struct gpu_slot *d = find(v, count, MIG_D);
        assert_string_equal(d->profile, "7g.40gb");
        assert_true(d->weight == 1.0);
        assert_string_equal(d->parent_uuid, GPU1);
        const struct gpu_slot *e = find(v, count, MIG_E);
        assert_string_equal(e->parent_uuid, GPU2);
        assert_true(e->allocatable);
        assert_false(find(v, count, GPU2)->allocatable);

        /* GPUs 0 and 2 share an NVSwitch; GPU 1 has NVLink but no active link. */
        assert_int_equal(find(v, count, GPU0)->link_group, 0);
        assert_int_equal(find(v, count, GPU2)->link_group, 0);
        assert_int_equal(find(v, count, GPU1)->link_group, 1);
        assert_int_equal(e->link_group, 0);

        /* The old MIG devices are gone. */
        unsigned gpu, mem;
        assert_int_equal(nvml_utilization(n, MIG_A, &gpu, &mem, &err), -ENOENT);
        assert_non_null(err);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        assert_non_null(strstr(err->message, MIG_A));

        gpu_slots_free(v, count);
        nvml_close(n);
}

static void test_utilization(void **state)
{
        (void)state;
        describe(three_gpus);
        struct nvml *n = open_fake();
        _cleanup_error_ struct error *err = NULL;
        unsigned gpu = 0, mem = 0;
        assert_int_equal(nvml_utilization(n, GPU0, &gpu, &mem, &err), 0);
        assert_null(err);
        assert_int_equal(gpu, 87);
        assert_int_equal(mem, 40);

        assert_int_equal(nvml_utilization(n, GPU1, &gpu, &mem, &err), 0);
        assert_int_equal(gpu, 0);

        /* Per-instance utilisation does not exist: "unknown", not "idle". */
        gpu = mem = 12345;
        assert_int_equal(nvml_utilization(n, MIG_A, &gpu, &mem, &err), -ENOTSUP);
        assert_non_null(err);
        assert_int_equal(err->code, DS01_ERR);
        assert_non_null(strstr(err->message, "per-instance utilisation is not available"));
        assert_int_equal(gpu, 12345); /* out-parameters untouched on failure */
        err = error_free(err);

        assert_int_equal(
            nvml_utilization(n, "GPU-00000000-dead-beef-0000-000000000000", &gpu, &mem, &err),
            -ENOENT);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        err = error_free(err);

        /* nvml_sample: the same figures with one lookup; -1 for what a device lacks */
        uint64_t used = 0, total = 0;
        struct nvml_sample ns;
        assert_int_equal(nvml_sample(n, GPU0, &ns, &err), 0);
        assert_int_equal(ns.util_pct, 87);
        assert_int_equal(nvml_memory(n, GPU0, &used, &total, NULL), 0);
        assert_true(total > 0);
        assert_int_equal(ns.mem_used, (int64_t)used);
        assert_int_equal(ns.mem_total, (int64_t)total);
        assert_int_equal(nvml_sample(n, MIG_A, &ns, &err), 0);
        assert_int_equal(ns.util_pct, -1);
        assert_int_equal(nvml_memory(n, MIG_A, &used, &total, NULL), 0);
        assert_int_equal(ns.mem_total, (int64_t)total);
        assert_int_equal(nvml_sample(n, "GPU-00000000-dead-beef-0000-000000000000", &ns, &err),
                         -ENOENT);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        assert_int_equal(ns.util_pct, -1);
        nvml_close(n);
}

static bool has_pid(const pid_t *v, size_t n, pid_t pid)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == pid)
                        return true;
        return false;
}

static void test_processes(void **state)
{
        (void)state;
        describe(three_gpus);
        struct nvml *n = open_fake();
        _cleanup_error_ struct error *err = NULL;
        pid_t *pids = NULL;
        size_t count = 0;

        assert_int_equal(nvml_processes(n, GPU0, &pids, &count, &err), 0);
        assert_null(err);
        assert_int_equal(count, 2);
        assert_true(has_pid(pids, count, 1234));
        assert_true(has_pid(pids, count, 5678));
        free(pids);

        assert_int_equal(nvml_processes(n, MIG_A, &pids, &count, &err), 0);
        assert_int_equal(count, 1);
        assert_int_equal(pids[0], 4242);
        free(pids);

        assert_int_equal(nvml_processes(n, MIG_B, &pids, &count, &err), 0);
        assert_int_equal(count, 0);
        assert_non_null(pids);
        free(pids);

        /* The parent of MIG devices sees its instances' processes. */
        assert_int_equal(nvml_processes(n, GPU1, &pids, &count, &err), 0);
        assert_int_equal(count, 1);
        assert_int_equal(pids[0], 4242);
        free(pids);

        assert_true(
            nvml_processes(n, "MIG-00000000-0000-4000-8000-000000000000", &pids, &count, &err) < 0);
        assert_int_equal(err->code, DS01_ENOTFOUND);
        nvml_close(n);
}

/* R535 drivers fill _v3 with 32-byte entries; the pids must still come out right. */
static void test_processes_r535_layout(void **state)
{
        (void)state;
        describe(three_gpus);
        setenv("FAKE_NVML_R535_PROCESS_INFO", "1", 1);
        struct nvml *n = open_fake();
        _cleanup_error_ struct error *err = NULL;
        pid_t *pids = NULL;
        size_t count = 0;
        assert_int_equal(nvml_processes(n, GPU0, &pids, &count, &err), 0);
        unsetenv("FAKE_NVML_R535_PROCESS_INFO");
        assert_int_equal(count, 2);
        assert_int_equal(pids[0], 1234);
        assert_int_equal(pids[1], 5678);
        free(pids);
        nvml_close(n);
}

static void test_missing_library(void **state)
{
        (void)state;
        _cleanup_error_ struct error *err = NULL;
        const char *lib = "/nonexistent/ds01-test/libnvidia-ml.so.1";
        assert_null(nvml_open(lib, &err));
        assert_non_null(err);
        assert_int_equal(err->code, DS01_ERR);
        assert_non_null(
            strstr(err->message, "cannot load /nonexistent/ds01-test/libnvidia-ml.so.1"));
        assert_non_null(strstr(err->message, "gpus.backend: simulated"));
}

static void test_driver_refuses(void **state)
{
        (void)state;
        describe(three_gpus);
        setenv("FAKE_NVML_FAIL_INIT", "1", 1);
        _cleanup_error_ struct error *err = NULL;
        struct nvml *n = nvml_open(fake_library(), &err);
        unsetenv("FAKE_NVML_FAIL_INIT");
        assert_null(n);
        assert_non_null(err);
        assert_int_equal(err->code, DS01_ERR);
        assert_non_null(strstr(err->message, fake_library()));
        assert_non_null(strstr(err->message, "Driver Not Loaded"));

        /* And once the driver is back, it loads. */
        n = open_fake();
        nvml_close(n);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_scan),
            cmocka_unit_test(test_rescan_sees_mig_change),
            cmocka_unit_test(test_utilization),
            cmocka_unit_test(test_processes),
            cmocka_unit_test(test_processes_r535_layout),
            cmocka_unit_test(test_missing_library),
            cmocka_unit_test(test_driver_refuses),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
