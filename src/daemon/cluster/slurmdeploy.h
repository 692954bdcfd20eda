/* slurmdeploy.h - a deploy for a Slurm job (cluster mode, docs/cluster-design.md): the job's
 * script, running as its user on the node Slurm chose, asks this node's ds01d for a container
 * with `container.deploy {slurm_job: ID}`. ds01d runs `squeue --json -j ID` (argv only,
 * a clean environment with SLURM_CONF from cluster.slurm_conf, as slurmsync.c runs sacctmgr)
 * and deploys only when the job exists, is RUNNING, is the caller's (Slurm's uid = the socket
 * peer's), runs on cluster.node and holds GPUs there. The container gets exactly those GPUs
 * (slurmjob.h says how Slurm's indexes map to ds01's): placement is Slurm's, ds01 picks none.
 * No state of its own. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/gpus/slot.h"
#include "daemon/requests/caller.h"

/* Checks job `job` (the request's slurm_job: a decimal id) for caller c on this node; on
 * success *ret_id is the job id and *ret_slots the ds01 GPU slots the job holds here, in index
 * order (*ret_n of them, at least one; pointers into d->inv, the array is the caller's to free).
 * Refusals: no cluster key (DS01_EUSAGE), a malformed id (DS01_EUSAGE), no such job
 * (DS01_ENOTFOUND), another user's job (DS01_ENOTFOUND, audited as auth.denied), a job not
 * running, not on this node, without GPUs here (DS01_EUSAGE), a GPU index ds01 does not have,
 * and squeue failing (DS01_ERR). */
int slurmdeploy_check(struct ds01d *d, const struct caller *c, const json_t *job, int64_t *ret_id,
                      const struct gpu_slot ***ret_slots, size_t *ret_n, struct error **err);

/* One container per job: refuses (DS01_EUSAGE) when the caller's ledger has a container other
 * than `container` deployed for job `job` (a job script deploying a second project). */
int slurmdeploy_one_container(struct ds01d *d, const struct caller *c, int64_t job,
                              const char *container, struct error **err);
