/* nvml.h - the NVIDIA Management Library, loaded with dlopen (no package ships nvml.h, so the few
 * types and calls used are declared locally in nvml.c). Optional symbols (NUMA node, NVLink,
 * topology, processes) are looked up one by one; a driver without them still works.
 *
 * Tests load a fake libnvidia-ml.so.1 (tests/fake-nvml/) through exactly this code. */
#pragma once

#include "daemon/gpus/slot.h"
#include "shared/error.h"

#include <sys/types.h>

struct nvml;

/* dlopen(library) + nvmlInit_v2. A clear error (DS01_ERR) names the library and the reason
 * ("cannot load libnvidia-ml.so.1: ... - install the NVIDIA driver, or set gpus.backend:
 * simulated"). */
struct nvml *nvml_open(const char *library, struct error **err);
/* nvmlShutdown + dlclose. */
struct nvml *nvml_close(struct nvml *n);
/* "550.54.15", or "" if unknown. */
const char *nvml_driver_version(const struct nvml *n);

/* Scans every device now (a MIG reconfiguration shows up on the next scan). Fills *ret (n slots,
 * free with gpu_slots_free): per physical GPU one slot (uuid "GPU-...", allocatable unless MIG
 * mode is on), and when MIG is on one slot per MIG device (uuid "MIG-...", parent_uuid, profile
 * "3g.20gb" from the device name or its attributes, weight = GPU-instance slices / the
 * GPU's MIG slot count (7 on A100/H100),
 * allocatable). numa_node (-1 unknown), link_group (GPUs joined by NVLink share the smallest
 * index of their group; -1 unknown), minor number, PCI bus id are filled where the driver says. */
int nvml_scan(struct nvml *n, struct gpu_slot **ret, size_t *ret_n, struct error **err);

/* Utilisation in percent of a physical GPU (by uuid). MIG devices: -ENOTSUP (NVML has no
 * per-instance utilisation without GPM) so callers can say "unknown" rather than "idle". */
int nvml_utilization(struct nvml *n, const char *uuid, unsigned *ret_gpu_pct, unsigned *ret_mem_pct,
                     struct error **err);
/* Framebuffer memory in use and in total, in bytes, of a GPU or MIG device (by uuid). */
int nvml_memory(struct nvml *n, const char *uuid, uint64_t *ret_used, uint64_t *ret_total,
                struct error **err);
/* Both at once, with one device lookup (the monitor's per-tick sample): -1 where a figure is not
 * available (utilisation of a MIG instance, an old driver). Fails only when uuid is not found. */
struct nvml_sample {
        int util_pct;
        int64_t mem_used, mem_total;
};
int nvml_sample(struct nvml *n, const char *uuid, struct nvml_sample *ret, struct error **err);
/* Host pids of compute processes on a GPU or MIG device (by uuid); *ret malloc'd. */
int nvml_processes(struct nvml *n, const char *uuid, pid_t **ret, size_t *ret_n,
                   struct error **err);
