/* gpu.c - the GPU inventory.
 *
 * The simulated backend turns `gpus.simulated` into slots with stable UUIDs derived from the
 * index (so the ledger stays valid across restarts): a GPU without MIG is one slot of weight 1.0;
 * a GPU with MIG profiles is a non-allocatable parent plus one slot per instance, weighted by its
 * compute slices / 7. The NVML backend (issue #3) fills the same structure from the driver. */
#include "daemon/gpus/gpu.h"

#include "shared/log.h"
#include "daemon/gpus/nvml.h"

#include <stdio.h>

struct gpu_inventory {
        const char *backend;
        bool real;
        struct gpu_slot *slots;
        size_t n;
        /* the allocatable slots by kind, built once per scan for the placement policy */
        const struct gpu_slot **whole, **mig;
        size_t n_whole, n_mig;
};

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
        s->numa_node = -1;
        s->link_group = -1;
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
                s->minor = (unsigned)i; /* /dev/nvidia<i>, as on nearly every real machine */
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

int gpu_backend_open(const struct config *c, struct nvml **ret_nvml, char **ret_note,
                     struct error **err)
{
        *ret_nvml = NULL;
        *ret_note = NULL;
        if (streq(c->gpu_backend, "simulated"))
                return 0;
        struct error *nerr = NULL;
        struct nvml *n = nvml_open(c->nvml_library, &nerr);
        if (n) {
                *ret_nvml = n;
                return 0;
        }
        if (streq(c->gpu_backend, "nvml")) {
                error_set(err, nerr->code, "%s (gpus.backend is 'nvml' in %s)", nerr->message,
                          c->source);
                error_free(nerr);
                return -1;
        }
        *ret_note = xasprintf("gpus.backend auto: NVML not available (%s); using the simulated "
                              "inventory",
                              nerr->message);
        error_free(nerr);
        return 0;
}

/* "3g.20gb" -> 3 slices, 20 GB, parsed once here so placement never parses strings. */
static void parse_profiles(struct gpu_inventory *inv)
{
        for (size_t i = 0; i < inv->n; i++) {
                struct gpu_slot *s = &inv->slots[i];
                int slices = 0, gb = 0, k = 0;
                if (!s->profile || sscanf(s->profile, "%dg%n", &slices, &k) != 1)
                        continue;
                if (sscanf(s->profile + k, ".%dgb", &gb) != 1 || gb <= 0)
                        gb = s->memory_mib > 0 ? (int)((s->memory_mib + 1023) / 1024) : 0;
                s->mig_slices = slices;
                s->mig_memory_gb = gb;
        }
        inv->whole = xcalloc(inv->n + 1, sizeof(*inv->whole));
        inv->mig = xcalloc(inv->n + 1, sizeof(*inv->mig));
        for (size_t i = 0; i < inv->n; i++) {
                if (!inv->slots[i].allocatable)
                        continue;
                if (inv->slots[i].parent_uuid)
                        inv->mig[inv->n_mig++] = &inv->slots[i];
                else
                        inv->whole[inv->n_whole++] = &inv->slots[i];
        }
}

size_t gpu_inventory_allocatable(const struct gpu_inventory *inv, bool mig,
                                 const struct gpu_slot *const **ret)
{
        *ret = mig ? inv->mig : inv->whole;
        return mig ? inv->n_mig : inv->n_whole;
}

struct gpu_inventory *gpu_inventory_scan(const struct config *c, struct nvml *nvml,
                                         struct error **err)
{
        struct gpu_inventory *inv = xzalloc(sizeof(*inv));
        if (!nvml) {
                load_simulated(inv, c);
        } else {
                inv->backend = "nvml";
                inv->real = true;
                if (nvml_scan(nvml, &inv->slots, &inv->n, err) < 0) {
                        error_wrap(err, "scanning GPUs with NVML");
                        return gpu_inventory_free(inv);
                }
        }
        parse_profiles(inv);
        return inv;
}

bool gpu_inventory_same(const struct gpu_inventory *a, const struct gpu_inventory *b)
{
        if (a->n != b->n || a->real != b->real)
                return false;
        for (size_t i = 0; i < a->n; i++) {
                const struct gpu_slot *x = &a->slots[i], *y = &b->slots[i];
                if (!streq(x->uuid, y->uuid) || x->allocatable != y->allocatable ||
                    !streq_ptr(x->profile, y->profile))
                        return false;
        }
        return true;
}

struct gpu_inventory *gpu_inventory_free(struct gpu_inventory *inv)
{
        if (!inv)
                return NULL;
        gpu_slots_free(inv->slots, inv->n);
        free(inv->whole);
        free(inv->mig);
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
