/* rows.h - a managed container as a row: what container-list and container-stats show, from
 * the snapshot (snapshot.h) and the monitor's last samples (monitor.h), never from Docker. The
 * row's fixed members are serialised once when the snapshot is built; the changing ones
 * (status, idle and runtime clocks, keep-alive, and for stats the samples) are added here. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* container.list {all?}, answered as JSON text ({"containers": [...]}). */
int rows_list(struct ds01d *d, const struct caller *c, json_t *params, char **ret_text,
              size_t *ret_len, struct error **err);
/* container.stats {name?, all?}: {containers: [{name, project, user, state, status, gpus,
 * stats{...}, idle_s, idle_left_s, runtime_left_s, ...}], sample_interval_s}. A NAME that is not
 * the caller's is "not found". */
int rows_stats(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
               struct error **err);
