/* queries.h - a user's reads: check-limits, the inbox and `ds01 events`. Each
 * answers the caller's own (administrators: anyone's where the method allows). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* A user's aggregate caps ({cpu_quota, memory_max, memory_high, tasks_max, gpu_limit}, null:
 * none) and their use now ({memory, tasks, cpu_s}; null: the user has no user cgroup), as
 * check-limits and ds01 users show them. */
json_t *aggregate_json(const struct limit_aggregate *a);
json_t *aggregate_use_json(struct ds01d *d, uid_t uid);

/* check-limits: {user, uid, group, overridden, limits, usage}. */
int queries_limits(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err);
/* ds01 inbox: the caller's newest messages ({limit?}). */
int queries_inbox(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                  struct error **err);
/* The caller's inbox messages not shown yet (marked shown now), as notice strings; NULL if none. */
json_t *queries_inbox_notices(struct ds01d *d, uid_t uid);
/* ds01 events: {user?, type?, container?, since?, until?, limit?} -> {events: [...]}. */
int queries_events(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err);
