/* slurmend.h - the Slurm jobs ds01d ends because their container ended first (cluster mode,
 * docs/cluster-design.md): a container-stop, retire or remove, an idle or runtime stop, its main
 * process' exit. The container's stop has already given its processes SIGTERM and their grace,
 * so ending the job is bookkeeping, done END_DELAY after (a retire routed into the job through
 * srun must get its answer out first): `scancel --signal=TERM --full ID` (the batch script and
 * its steps get SIGTERM), then, when Slurm still runs the job the owner's sigterm_grace_s later
 * (the grace the container's processes had: a script that saves after its container ends gets
 * as long), `scancel ID` (Slurm's own SIGTERM, KillWait, SIGKILL). Both
 * run as root through slurmcmd.h (argv, a clean environment), on the watcher's thread
 * (slurmlife.h), never on a request's: a slurmctld that is down must not hang a stop.
 *
 * It is also the watcher's doorbell (a Slurm job's container stopped: a pass soon). A leaf, so
 * that the verbs and the reconciliation can ask for a job's end without knowing the watcher.
 *
 * State: the jobs asked for and how far each is, and the doorbell, under one mutex and its
 * condition (a leaf in the lock order, never held across a command). Only the watcher's thread
 * runs slurmend_pass. */
#pragma once

#include "daemon/ds01d.h"

#include <stdbool.h>
#include <stdint.h>

/* A job Slurm runs on this node, as squeue lists it: its id and its user's uid. */
struct slurm_running {
        int64_t job;
        int64_t uid;
};

/* Whether running lists job under uid. */
bool slurm_running_has(const struct slurm_running *running, size_t n, int64_t job, int64_t uid);

struct slurmend;

struct slurmend *slurmend_new(void);
struct slurmend *slurmend_free(struct slurmend *e);
/* Job `job` of uid, whose container `container` ended (why: for the event), is to end; its
 * script gets grace_s (the owner's sigterm_grace_s) after its SIGTERM. Rings the doorbell. e NULL,
 * or job <= 0: nothing. */
void slurmend_request(struct slurmend *e, int64_t job, int64_t uid, const char *container,
                      const char *why, int grace_s);
/* A pass soon (a Slurm job's container stopped). e NULL: nothing. */
void slurmend_ring(struct slurmend *e);
/* The watcher: waits until rung, timeout_ms passed or stopped. Returns false once stopped. */
bool slurmend_wait(struct slurmend *e, int64_t timeout_ms);
/* Wakes the watcher for good: slurmend_wait returns false from now on. */
void slurmend_stop(struct slurmend *e);
/* The watcher's pass, with v a view and running what squeue listed on this node just now: a job
 * asked for that is not there (under its uid) is done and forgotten; the others get their next
 * scancel when it is due. Returns the unix ms when the next one falls due (0: none). */
int64_t slurmend_pass(struct slurmend *e, struct ds01d *v, const struct slurm_running *running,
                      size_t n_running);
/* How many jobs are asked for and not yet seen ended. */
size_t slurmend_pending(struct slurmend *e);
