/* gpuadmin.c - the GPUs as administrators see and steer them: rescan, list, drain (see gpuadmin.h).
 */
#include "daemon/gpus/gpuadmin.h"
#include "daemon/gpus/queuekick.h"

#include "daemon/config/generation.h"
#include "daemon/docker/dockerjson.h"
#include "shared/log.h"

#include <pthread.h>

/* Scans with NVML (or the simulated inventory) and compares with the inventory pinned in d,
 * which stays valid throughout; publishes a new generation only when something changed. */
static int rescan(struct ds01d *d, json_t **ret_result, struct error **err)
{
        struct gpu_inventory *inv = gpu_inventory_scan(d->cfg, d->nvml, err);
        if (!inv)
                return -1;
        const struct gpu_inventory *old = d->inv;
        bool same = gpu_inventory_same(old, inv);
        json_t *added = json_array(), *removed = json_array(), *orphaned = json_array();
        if (!same) {
                const struct gpu_slot *a, *b;
                size_t na = gpu_inventory_slots(old, &a), nb = gpu_inventory_slots(inv, &b);
                for (size_t i = 0; i < nb; i++)
                        if (!gpu_inventory_find(old, b[i].uuid) ||
                            gpu_inventory_find(old, b[i].uuid)->allocatable != b[i].allocatable)
                                json_array_append_new(added, json_string(b[i].uuid));
                for (size_t i = 0; i < na; i++)
                        if (!gpu_inventory_find(inv, a[i].uuid))
                                json_array_append_new(removed, json_string(a[i].uuid));
                /* Leases on slots that no longer exist stay until their container goes: the
                 * running work is not touched; they are flagged. */
                struct store_container *rows = NULL;
                size_t n = 0;
                if (store_list(d->store, -1, &rows, &n, NULL) == 0) {
                        for (size_t i = 0; i < n; i++)
                                for (size_t k = 0; k < rows[i].n_leases; k++)
                                        if (!gpu_inventory_find(inv, rows[i].leases[k].slot_uuid)) {
                                                json_array_append_new(
                                                    orphaned, json_pack("{s:s, s:s}", "uuid",
                                                                        rows[i].leases[k].slot_uuid,
                                                                        "container", rows[i].name));
                                                log_warning("GPU %s leased to %s is gone from the "
                                                            "inventory after a rescan",
                                                            rows[i].leases[k].slot_uuid,
                                                            rows[i].name);
                                        }
                        store_containers_free(rows, n);
                }
        }
        const struct gpu_slot *slots;
        size_t ns = gpu_inventory_slots(inv, &slots), alloc = 0;
        for (size_t i = 0; i < ns; i++)
                alloc += slots[i].allocatable;
        if (same)
                gpu_inventory_free(inv);
        else {
                generations_publish(d->gens, &(struct generation_change){.inv = inv});
                log_notice("GPU inventory changed: %zu slot(s) new or changed, %zu gone",
                           json_array_size(added), json_array_size(removed));
                events_log(d->events, "gpu.inventory_changed", NULL,
                           json_pack("{s:O, s:O, s:O}", "added", added, "removed", removed,
                                     "orphaned_leases", orphaned));
        }
        if (ret_result)
                *ret_result = json_pack("{s:b, s:o, s:o, s:o, s:I}", "changed", !same, "added",
                                        added, "removed", removed, "orphaned_leases", orphaned,
                                        "allocatable", (json_int_t)alloc);
        else {
                json_decref(added);
                json_decref(removed);
                json_decref(orphaned);
        }
        return 0;
}

/* One rescan at a time: two at once (the monitor's tick and `ds01 gpus --rescan`) would both
 * compare with the same inventory. Each compares with the generation current when it starts
 * (a fresh view: d may have been pinned before the other's publish). */
int gpuadmin_rescan(struct ds01d *d, json_t **ret_result, struct error **err)
{
        static pthread_mutex_t one = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&one);
        struct ds01d v;
        ds01d_pin(d, &v);
        int r = rescan(&v, ret_result, err);
        ds01d_unpin(&v);
        queuekick_ring(d->kick); /* MIG instances may have come */
        pthread_mutex_unlock(&one);
        return r;
}

int gpuadmin_list(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err)
{
        (void)c;
        (void)params;
        struct store_container *rows = NULL;
        size_t n = 0;
        struct store_drain *drains = NULL;
        size_t n_drains = 0;
        if (store_list(d->store, -1, &rows, &n, err) < 0)
                return -1;
        if (store_drains(d->store, &drains, &n_drains, err) < 0) {
                store_containers_free(rows, n);
                return -1;
        }
        int64_t now = now_s();
        const struct gpu_slot *slots;
        size_t ns = gpu_inventory_slots(d->inv, &slots);
        json_t *out = json_array();
        for (size_t i = 0; i < ns; i++) {
                const struct gpu_slot *sl = &slots[i];
                json_t *o =
                    json_pack("{s:s, s:s, s:i, s:f, s:I, s:b}", "uuid", sl->uuid, "name", sl->name,
                              "index", sl->gpu_index, "weight", sl->weight, "memory_mib",
                              (json_int_t)sl->memory_mib, "allocatable", sl->allocatable);
                if (sl->parent_uuid)
                        json_object_set_new(o, "parent", json_string(sl->parent_uuid));
                if (sl->profile)
                        json_object_set_new(o, "profile", json_string(sl->profile));
                if (sl->numa_node >= 0)
                        json_object_set_new(o, "numa_node", json_integer(sl->numa_node));
                if (sl->link_group >= 0)
                        json_object_set_new(o, "link_group", json_integer(sl->link_group));
                for (size_t k = 0; k < n_drains; k++)
                        if (streq(drains[k].slot_uuid, sl->uuid) ||
                            streq_ptr(drains[k].slot_uuid, sl->parent_uuid))
                                json_object_set_new(o, "drained",
                                                    json_pack("{s:s, s:s, s:I}", "by", drains[k].by,
                                                              "reason", drains[k].reason, "since",
                                                              (json_int_t)drains[k].since));
                for (size_t r = 0; r < n; r++)
                        for (size_t k = 0; k < rows[r].n_leases; k++) {
                                const struct store_lease *l = &rows[r].leases[k];
                                if (!streq(l->slot_uuid, sl->uuid))
                                        continue;
                                json_object_set_new(
                                    o, "lease",
                                    json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:I}", "container",
                                              rows[r].name, "user", rows[r].user, "uid",
                                              (json_int_t)rows[r].uid, "project", rows[r].project,
                                              "state", l->state, "since", (json_int_t)l->since,
                                              "age_s", (json_int_t)(now - l->since)));
                        }
                json_array_append_new(out, o);
        }
        /* Leases whose slot is not in the inventory any more (MIG change, vanished GPU). */
        json_t *orphans = json_array();
        for (size_t r = 0; r < n; r++)
                for (size_t k = 0; k < rows[r].n_leases; k++)
                        if (!gpu_inventory_find(d->inv, rows[r].leases[k].slot_uuid))
                                json_array_append_new(orphans,
                                                      json_pack("{s:s, s:s, s:s}", "uuid",
                                                                rows[r].leases[k].slot_uuid,
                                                                "container", rows[r].name, "state",
                                                                rows[r].leases[k].state));
        *ret_result = json_pack("{s:s, s:o, s:o}", "backend", gpu_inventory_backend(d->inv),
                                "slots", out, "orphaned_leases", orphans);
        store_containers_free(rows, n);
        store_drains_free(drains, n_drains);
        return 0;
}

int gpuadmin_drain(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err)
{
        const char *uuid = jstr(params, "uuid");
        bool undrain = json_is_true(json_object_get(params, "undrain"));
        const struct gpu_slot *sl = gpu_inventory_find(d->inv, uuid);
        if (!sl)
                return error_set(err, DS01_ENOTFOUND,
                                 "no GPU or MIG instance '%s' on this server - 'ds01 gpus' lists "
                                 "them",
                                 uuid);
        const char *reason = jstr(params, "reason");
        int r = undrain ? store_undrain(d->store, uuid, err)
                        : store_drain(d->store, uuid, c->login, reason ? reason : "", err);
        if (r < 0)
                return -1;
        events_log(d->events, undrain ? "gpu.undrain" : "gpu.drain", c->login,
                   json_pack("{s:s, s:s, s:b}", "gpu", uuid, "reason", reason ? reason : "",
                             "changed", r > 0));
        log_notice("%s %s GPU %s", c->login, undrain ? "undrained" : "drained", uuid);
        if (undrain && r > 0)
                queuekick_ring(d->kick);
        *ret_result =
            json_pack("{s:s, s:b, s:b}", "uuid", uuid, "drained", !undrain, "changed", r > 0);
        return 0;
}
