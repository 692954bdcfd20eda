/* gpuadmin.h - the GPUs as administrators see and steer them: a rescan (NVML or the simulated
 * inventory), every slot with its lease and drain (`ds01 gpus`), drain and undrain. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* Scans the GPUs again and, when anything changed, publishes the new inventory in a new
 * generation (generation.h); d may be the root or a view. *ret_result (optional): {changed,
 * added, removed, orphaned_leases, allocatable}. */
int gpuadmin_rescan(struct ds01d *d, json_t **ret_result, struct error **err);
/* Admin: every slot with its lease, owner, state, age and drain. */
int gpuadmin_list(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err);
/* Admin: {uuid, reason?, undrain?}. */
int gpuadmin_drain(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err);
