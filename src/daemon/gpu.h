/* gpu.h - the GPU inventory: what can be leased. A slot is a whole GPU or a MIG instance, keyed by
 * UUID, never by index. Backends: simulated (from config) now; NVML (dlopen) is issue #3's seam. */
#pragma once

#include "config.h"

struct gpu_slot {
        char *uuid;        /* "GPU-..." or "MIG-..." */
        char *parent_uuid; /* MIG: the physical GPU's UUID; NULL for a whole GPU */
        char *name;        /* "NVIDIA A100-SXM4-40GB" or "NVIDIA A100-SXM4-40GB MIG 3g.20gb" */
        char *profile;     /* MIG profile "3g.20gb", NULL for a whole GPU */
        int gpu_index;     /* physical GPU index, for display only */
        int64_t memory_mib;
        double weight;    /* GPU-equivalents: 1.0 whole GPU, slices/7 for MIG */
        bool allocatable; /* false for a MIG-enabled GPU itself (its instances are the slots) */
};

struct gpu_inventory;

struct gpu_inventory *gpu_inventory_load(const struct config *c, struct error **err);
struct gpu_inventory *gpu_inventory_free(struct gpu_inventory *inv);
/* All slots, allocatable or not, in a stable order. */
size_t gpu_inventory_slots(const struct gpu_inventory *inv, const struct gpu_slot **ret);
const struct gpu_slot *gpu_inventory_find(const struct gpu_inventory *inv, const char *uuid);
/* "simulated" or "nvml" */
const char *gpu_inventory_backend(const struct gpu_inventory *inv);
/* true when devices must reach containers through DeviceRequests (real hardware). */
bool gpu_inventory_is_real(const struct gpu_inventory *inv);
