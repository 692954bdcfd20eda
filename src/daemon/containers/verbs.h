/* verbs.h - container-start, -stop, -remove and -retire. Each resolves its target for the
 * caller (access.h), takes the container's operation slot (oplock.h; waiting for one in
 * progress), asks Docker and keeps the ledger in step. Every stop gives the processes SIGTERM
 * and the owner's grace. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* The container a user's verb names (access_container), and its operation slot, waiting for an
 * operation in progress; what was resolved before a wait may have changed during it, so it is
 * resolved again. A container that must exist in Docker (need_docker) and does not is "not
 * found". On success the caller owns the slot: oplock_release(d->ops, *ret_name). */
int verbs_acquire(struct ds01d *d, const struct caller *c, const char *name, const char *action,
                  bool need_docker, char **ret_name, json_t **ret_inspect, struct error **err);

/* params {name} (stop: timeout_s?; remove: force?). */
int container_start(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err);
int container_stop(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err);
int container_remove(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);
int container_retire(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);
/* Removes container `name` (if Docker still has it; inspect may be NULL) and releases its
 * ledger record; *ret_released the GPUs released (store_strv_free). The caller holds the
 * name's operation slot. */
int container_remove_and_release(struct ds01d *d, const struct caller *c, const char *name,
                                 const json_t *inspect, const char *reason, char ***ret_released,
                                 struct error **err);
