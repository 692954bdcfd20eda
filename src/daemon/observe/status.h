/* status.h - what the machine is doing, for administrators: `ds01 status` (slots, totals,
 * warnings), `ds01 users` (limits and use per user) and `ds01 health`. status and users come
 * from memory (the snapshot, the monitor's samples, the ledger, the inventory); health asks
 * Docker and the disks on purpose, because "is it reachable now" is its question. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* admin.status: {slots: [...], totals: {...}, warnings: [...]}. */
int status_report(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err);
/* admin.users {user?}: {users: [{user, uid, group, limits, usage, running}]}. */
int status_users(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err);
/* admin.health: {ok, checks: [{name, ok, detail}]}; ok false when any check failed. */
int status_health(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err);
