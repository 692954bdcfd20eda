/* admin.h - the reads that answer "what is the machine doing": container-stats for users, and
 * for administrators `ds01 status`, `ds01 users`, `ds01 health`, `ds01 reload`.
 *
 * Everything but health comes from memory: the container snapshot (snapshot.h), the monitor's
 * last samples (monitor.h), the ledger and the inventory. health asks Docker and the disks on
 * purpose, because "is it reachable now" is its question. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* container.stats {name?, all?}: {containers: [{name, project, user, state, status, gpus,
 * stats{...}, idle_s, idle_left_s, runtime_left_s, ...}]} for the caller's containers (all:
 * administrators, everyone's). A NAME that is not the caller's is "not found". */
int admin_stats(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err);
/* admin.status: {slots: [...], totals: {...}, warnings: [...]}. */
int admin_status(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err);
/* admin.users {user?}: {users: [{user, uid, group, limits, usage, running}]}. */
int admin_users(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                struct error **err);
/* admin.health: {ok, checks: [{name, ok, detail}]}; ok false when any check failed. */
int admin_health(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err);
/* admin.reload (takes d->lock itself): {config, limits_file, changed}. */
int admin_reload_request(struct ds01d *d, const struct caller *c, json_t *params,
                         json_t **ret_result, struct error **err);

/* Reads ds01.yaml (d->config_path) and the limits files again and swaps them in; on any error
 * the running configuration stays and *err says why. Call WITHOUT d->lock. */
int admin_reload(struct ds01d *d, struct error **err);
/* The limits file of c (logs the DS01 keys ds01 does not use). */
struct limits *admin_load_limits(const struct config *c, struct error **err);
/* gid of a group name, (gid_t)-1 if there is none. */
gid_t admin_lookup_gid(const char *name);
