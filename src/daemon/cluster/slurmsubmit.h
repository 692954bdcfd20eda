/* slurmsubmit.h - what a user's CLI needs to submit a deploy as a Slurm job (cluster mode,
 * docs/cluster-design.md "The job script"): whether this node is in a cluster, and the caller's
 * account, QOS and time limit as slurm-sync names and writes them (slurmplan.h), so the CLI
 * computes none of it. The CLI, not ds01d, runs sbatch: Slurm authenticates the user with
 * munge, so the user's own process submits. Read-only; no state. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

/* The margin, beyond the container's SIGTERM grace, between the job step's SIGTERM and the
 * job's time limit (sbatch --signal=B:TERM@<grace + this>): the stop request's round trip and
 * Slurm's signal timing (it may signal up to a minute early, never late). */
#define SLURMSUBMIT_SIGNAL_MARGIN_S 30

/* cluster.submit_params {} -> {cluster: false} without ds01.yaml's cluster key, else
 * {cluster: true, name, node, slurm_bin, slurm_conf?, group, accounts (bool), account?, qos?
 * (only with cluster.accounts), time_limit_min (the caller's max_runtime_h rounded up; null:
 * none), sigterm_grace_s, signal_before_end_s, max_gpu_equivalents (null: none),
 * max_runtime_h (null: none), admin}. */
int slurmsubmit_params(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                       struct error **err);
