/* nvml-probe.c - the daemon's GPU code against a real NVIDIA driver (no Docker needed): loads
 * libnvidia-ml.so.1 through nvml.c exactly as ds01d does, scans the inventory through gpu.c,
 * reads utilisation and compute processes, and asks the placement policy (pool.c) for one and
 * for all whole GPUs. Prints what ds01 sees and exits non-zero if anything fails. Built and run
 * by tests/device/run.sh on a machine with a GPU; the test suite runs the same code against the
 * fake NVML. */
#include "daemon/gpus/nvml.h"
#include "daemon/gpus/pool.h"

#include <stdio.h>

int main(int argc, char **argv)
{
        const char *lib = argc > 1 ? argv[1] : "libnvidia-ml.so.1";
        struct error *err = NULL;
        struct nvml *n = nvml_open(lib, &err);
        if (!n) {
                fprintf(stderr, "nvml_open: %s\n", err->message);
                return 1;
        }
        printf("driver %s\n", nvml_driver_version(n));
        struct config c = {.gpu_backend = (char *)"nvml", .source = (char *)"probe"};
        struct gpu_inventory *inv = gpu_inventory_scan(&c, n, &err);
        if (!inv) {
                fprintf(stderr, "scan: %s\n", err->message);
                return 1;
        }
        const struct gpu_slot *s;
        size_t ns = gpu_inventory_slots(inv, &s), alloc = 0;
        for (size_t i = 0; i < ns; i++) {
                unsigned g = 0, m = 0;
                int u = nvml_utilization(n, s[i].uuid, &g, &m, NULL);
                pid_t *pids = NULL;
                size_t np = 0;
                int p = nvml_processes(n, s[i].uuid, &pids, &np, NULL);
                printf("slot %zu: %s %s index=%d minor=%u mem=%lldMiB weight=%.3f alloc=%d "
                       "profile=%s numa=%d link=%d pci=%s util=%s%u%% procs=%s%zu\n",
                       i, s[i].uuid, s[i].name, s[i].gpu_index, s[i].minor,
                       (long long)s[i].memory_mib, s[i].weight, s[i].allocatable,
                       s[i].profile ? s[i].profile : "-", s[i].numa_node, s[i].link_group,
                       s[i].pci_bus_id ? s[i].pci_bus_id : "-", u == 0 ? "" : "(n/a)", g,
                       p == 0 ? "" : "(n/a)", np);
                free(pids);
                alloc += s[i].allocatable;
        }
        struct limit_set ls = {.allow_full_gpu = true};
        struct pool_request req = {.n_slots = 1};
        const struct gpu_slot **v = NULL;
        size_t k = pool_candidates(inv, &ls, &req, &v, NULL);
        printf("allocatable=%zu candidates(--gpus 1)=%zu\n", alloc, k);
        if (k > 0) {
                struct store_free_slot *f = xcalloc(k, sizeof(*f));
                size_t *idx = xcalloc(k, sizeof(*idx));
                for (size_t i = 0; i < k; i++)
                        f[i].slot = v[i];
                size_t got = pool_pick(f, k, 1, &req, idx);
                printf("pick(--gpus 1) -> %s\n", got ? f[idx[0]].slot->uuid : "none");
                free(f);
                free(idx);
        }
        free(v);
        gpu_inventory_free(inv);
        nvml_close(n);
        return alloc > 0 ? 0 : 1;
}
