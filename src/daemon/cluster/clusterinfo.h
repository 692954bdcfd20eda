/* clusterinfo.h - `cluster.info`: what a CLI on this host needs to know to reach a user's
 * containers on the other nodes of the cluster (docs/cluster-design.md, "The same commands from
 * any node"): whether this ds01d is in a cluster, its Slurm NodeName and how to run Slurm's
 * commands. Read-only, for every user; it names no container and no other user. No state. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* cluster.info {}: {enabled: false} without ds01.yaml's cluster key, else {enabled: true,
 * backend, name, node, slurm_conf (null: Slurm's default), slurm_bin}. */
int clusterinfo_handle(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                       struct error **err);
