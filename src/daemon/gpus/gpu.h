/* gpu.h - the GPU inventory: what can be leased. A slot is a whole GPU or a MIG instance, keyed by
 * UUID, never by index. Backends: simulated (from config) and NVML (nvml.h). */
#pragma once

#include "daemon/config/config.h"
#include "daemon/gpus/slot.h"

struct gpu_inventory;
struct nvml;

/* Opens the backend gpus.backend names. "nvml": NVML must load (else a clear error); "auto": NVML
 * if it loads, else the simulated inventory, and *ret_note says so; "simulated": no NVML.
 * *ret_nvml is the open NVML (NULL when simulated); the caller closes it with nvml_close. */
int gpu_backend_open(const struct config *c, struct nvml **ret_nvml, char **ret_note,
                     struct error **err);
/* A snapshot of the inventory: from NVML when nvml is non-NULL (a fresh scan, so a MIG
 * reconfiguration shows), else from gpus.simulated. Immutable once made. */
struct gpu_inventory *gpu_inventory_scan(const struct config *c, struct nvml *nvml,
                                         struct error **err);
struct gpu_inventory *gpu_inventory_free(struct gpu_inventory *inv);
/* All slots, allocatable or not, in a stable order. */
size_t gpu_inventory_slots(const struct gpu_inventory *inv, const struct gpu_slot **ret);
/* The allocatable MIG instances (mig) or whole GPUs, in inventory order. */
size_t gpu_inventory_allocatable(const struct gpu_inventory *inv, bool mig,
                                 const struct gpu_slot *const **ret);
const struct gpu_slot *gpu_inventory_find(const struct gpu_inventory *inv, const char *uuid);
/* "simulated" or "nvml" */
const char *gpu_inventory_backend(const struct gpu_inventory *inv);
/* true when the slots are real devices (NVML). */
bool gpu_inventory_is_real(const struct gpu_inventory *inv);
/* true when a and b list the same slots (uuid, allocatable, profile) in the same order. */
bool gpu_inventory_same(const struct gpu_inventory *a, const struct gpu_inventory *b);
