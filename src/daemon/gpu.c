/* gpu.c - the GPU inventory.
 *
 * The simulated backend turns `gpus.simulated` into slots with stable UUIDs derived from the
 * index (so the ledger stays valid across restarts): a GPU without MIG is one slot of weight 1.0;
 * a GPU with MIG profiles is a non-allocatable parent plus one slot per instance, weighted by its
 * compute slices / 7. The NVML backend (issue #3) fills the same structure from the driver. */
#include "gpu.h"

#include "../shared/log.h"

#include <stdio.h>

struct gpu_inventory {
        const char *backend;
        bool real;
        struct gpu_slot *slots;
        size_t n;
};

static void slot_release(struct gpu_slot *s)
{
        free(s->uuid);
        free(s->parent_uuid);
        free(s->name);
        free(s->profile);
}

/* "3g.20gb" -> 3 compute slices; 0 if malformed. */
static int mig_slices(const char *profile)
{
        if (profile[0] < '1' || profile[0] > '7' || profile[1] != 'g')
                return 0;
        return profile[0] - '0';
}

/* "3g.20gb" -> 20480 MiB; 0 if not given. */
static int64_t mig_memory_mib(const char *profile)
{
        const char *dot = strchr(profile, '.');
        if (!dot)
                return 0;
        char *end;
        long gb = strtol(dot + 1, &end, 10);
        return gb > 0 ? (int64_t)gb * 1024 : 0;
}

static struct gpu_slot *add_slot(struct gpu_inventory *inv)
{
        inv->slots = xrealloc(inv->slots, (inv->n + 1) * sizeof(*inv->slots));
        struct gpu_slot *s = &inv->slots[inv->n++];
        memset(s, 0, sizeof(*s));
        return s;
}

static void load_simulated(struct gpu_inventory *inv, const struct config *c)
{
        inv->backend = "simulated";
        inv->real = false;
        for (size_t i = 0; i < c->n_simulated; i++) {
                const struct config_sim_gpu *g = &c->simulated[i];
                struct gpu_slot *s = add_slot(inv);
                s->uuid = xasprintf("GPU-5a11d000-0000-4000-8000-%012zu", i);
                s->name = xstrdup(g->name);
                s->gpu_index = (int)i;
                s->memory_mib = g->memory_mib;
                s->weight = 1.0;
                s->allocatable = g->n_mig == 0;
                for (size_t k = 0; k < g->n_mig; k++) {
                        int slices = mig_slices(g->mig[k]);
                        struct gpu_slot *m = add_slot(inv);
                        /* add_slot may move the array: look the parent up by index. */
                        m->uuid = xasprintf("MIG-5a11d000-%04zu-4000-8000-%012zu", k, i);
                        m->parent_uuid = xstrdup(inv->slots[inv->n - 2 - k].uuid);
                        m->name = xasprintf("%s MIG %s", g->name, g->mig[k]);
                        m->profile = xstrdup(g->mig[k]);
                        m->gpu_index = (int)i;
                        m->memory_mib = mig_memory_mib(g->mig[k]);
                        m->weight = slices > 0 ? slices / 7.0 : 1.0 / 7.0;
                        m->allocatable = true;
                }
        }
}

struct gpu_inventory *gpu_inventory_load(const struct config *c, struct error **err)
{
        struct gpu_inventory *inv = xzalloc(sizeof(*inv));
        if (streq(c->gpu_backend, "nvml")) {
                error_set(err, DS01_ERR,
                          "gpus.backend is 'nvml' but the NVML backend is not available in this "
                          "build yet - use 'auto' or 'simulated' in %s",
                          c->source);
                return gpu_inventory_free(inv);
        }
        /* "auto": NVML when it loads (issue #3); until then the simulated inventory. */
        load_simulated(inv, c);
        return inv;
}

struct gpu_inventory *gpu_inventory_free(struct gpu_inventory *inv)
{
        if (!inv)
                return NULL;
        for (size_t i = 0; i < inv->n; i++)
                slot_release(&inv->slots[i]);
        free(inv->slots);
        free(inv);
        return NULL;
}

size_t gpu_inventory_slots(const struct gpu_inventory *inv, const struct gpu_slot **ret)
{
        *ret = inv->slots;
        return inv->n;
}

const struct gpu_slot *gpu_inventory_find(const struct gpu_inventory *inv, const char *uuid)
{
        for (size_t i = 0; i < inv->n; i++)
                if (streq(inv->slots[i].uuid, uuid))
                        return &inv->slots[i];
        return NULL;
}

const char *gpu_inventory_backend(const struct gpu_inventory *inv)
{
        return inv->backend;
}

bool gpu_inventory_is_real(const struct gpu_inventory *inv)
{
        return inv->real;
}
