/* slot.h - a slot: what one lease takes, a whole GPU or a MIG instance, keyed by UUID. Both
 * backends make them (the simulated inventory in gpu.c, the driver's in nvml.c); a leaf module,
 * so that neither backend depends on the other. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gpu_slot {
        char *uuid;        /* "GPU-..." or "MIG-..." */
        char *parent_uuid; /* MIG: the physical GPU's UUID; NULL for a whole GPU */
        char *name;        /* "NVIDIA A100-SXM4-40GB" or "NVIDIA A100-SXM4-40GB MIG 3g.20gb" */
        char *profile;     /* MIG profile "3g.20gb", NULL for a whole GPU */
        int gpu_index;     /* physical GPU index, for display only */
        int64_t memory_mib;
        double weight;    /* GPU-equivalents: 1.0 whole GPU, slices/7 for MIG */
        bool allocatable; /* false for a MIG-enabled GPU itself (its instances are the slots) */
        int numa_node;    /* -1: unknown */
        int link_group;   /* GPUs joined by NVLink share a group id; -1: unknown */
        unsigned minor;   /* /dev/nvidia<minor> */
        char *pci_bus_id; /* "00000000:07:00.0", NULL if unknown */
        int mig_slices;   /* from profile: "3g.20gb" -> 3, 20 (0 for a whole GPU) */
        int mig_memory_gb;
};

/* Frees an array of n slots (as nvml_scan returns). */
void gpu_slots_free(struct gpu_slot *v, size_t n);
