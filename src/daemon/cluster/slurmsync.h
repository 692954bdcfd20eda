/* slurmsync.h - `ds01 slurm-sync`: Slurm's accounting (accounts, QOS, user associations) written
 * from resource-limits.yaml through sacctmgr, and the drift `ds01 health` reports. The daemon
 * runs sacctmgr as root, as a child with a clean environment (PATH, LC_ALL, SLURM_CONF from
 * cluster.slurm_conf), with argv only and every name checked (slurmplan.h says what is written
 * and how ds01's objects are marked). Used only when ds01.yaml has `cluster:`.
 *
 * State: one flag saying a sync runs, under a leaf mutex held for no I/O: a second sync is
 * refused while one runs (two applies would interleave their steps). Reads of Slurm (drift)
 * need no lock. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* slurm.sync {apply?, check?}: {cluster, changes: [{op, what}], applied: N}. Without apply it
 * changes nothing. With apply it runs the steps in order; a failed step is an error naming it,
 * Slurm's message and the steps applied before it (running again finishes the work). */
int slurmsync_handle(struct ds01d *v, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);

/* How many changes Slurm lacks (0: it matches the limits file), and the first as text in
 * *ret_first (NULL when none; the caller frees). Fails when Slurm cannot be read. Only with
 * v->cfg->cluster. */
int slurmsync_drift(struct ds01d *v, size_t *ret_n, char **ret_first, struct error **err);
