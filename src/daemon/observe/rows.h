/* rows.h - a managed container as a row: what container-list and container-stats show, from
 * the snapshot (snapshot.h) and the monitor's last samples (monitor.h), never from Docker. The
 * row's fixed members are serialised once when the snapshot is built; the changing ones
 * (status, idle and runtime clocks, keep-alive, and for stats the samples) are added here. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/observe/snapshot.h"
#include "daemon/requests/caller.h"
#include "shared/strbuf.h"

struct monitor;

/* The renderer, a function of its inputs (unit-tested in tests/unit/test-rows.c): the
 * container-list answer {"containers": [...]} for the containers of uid (-1: everyone's) in
 * snap, with each row's status at now and, for running ones, the monitor's last clocks (m may
 * be NULL: none), appended to sb. */
void rows_render_list(const struct snapshot *snap, struct monitor *m, int64_t uid, int64_t now,
                      struct strbuf *sb);
/* One container-stats row: the snapshot's row with its status and, running, the monitor's
 * clocks and samples (a new object). */
json_t *rows_stats_row(const struct snap_container *sc, struct monitor *m, int64_t now);

/* container.list {all?}, answered as JSON text ({"containers": [...]}). */
int rows_list(struct ds01d *d, const struct caller *c, json_t *params, char **ret_text,
              size_t *ret_len, struct error **err);
/* container.stats {name?, all?}: {containers: [{name, project, user, state, status, gpus,
 * stats{...}, idle_s, idle_left_s, runtime_left_s, ...}], sample_interval_s}. A NAME that is not
 * the caller's is "not found". */
int rows_stats(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
               struct error **err);
