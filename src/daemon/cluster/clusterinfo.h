/* clusterinfo.h - `cluster.info`: what a CLI on this host needs to know in cluster mode
 * (docs/cluster-design.md): whether this ds01d is in a cluster, its Slurm NodeName and how to
 * run Slurm's commands (to reach a user's containers on the other nodes), and the caller's
 * account, QOS and time limit as slurm-sync names and writes them (slurmplan.h), so the CLI,
 * which runs sbatch as the user (munge vouches for the user), computes none of it. Read-only,
 * for every user; it names no container and no other user. No state. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* The margin, beyond the container's SIGTERM grace, between the job step's SIGTERM and the
 * job's time limit (sbatch --signal=B:TERM@<grace + this>): the stop request's round trip and
 * Slurm's signal timing (it may signal up to a minute early, never late). */
#define CLUSTERINFO_SIGNAL_MARGIN_S 30

/* cluster.info {}: {enabled: false} without ds01.yaml's cluster key, else {enabled: true,
 * backend, name, node, slurm_conf (null: Slurm's default), slurm_bin, and the caller's: group,
 * accounts (bool), account? and qos? (only with cluster.accounts), time_limit_min (the caller's
 * max_runtime_h rounded up; null: none), sigterm_grace_s, signal_before_end_s,
 * max_gpu_equivalents (null: none), max_runtime_h (null: none), admin}. */
int clusterinfo_handle(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                       struct error **err);
