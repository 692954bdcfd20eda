/* slurmlife.h - a Slurm job's container lives as long as its job (cluster mode, issue 17;
 * docs/cluster-design.md). A thread of its own, "the watcher", every sample_interval_s, at once
 * at start-up and when rung (slurmend.h), when the ledger has containers of Slurm jobs
 * (containers.slurm_job > 0), asks Slurm once which jobs run on this node
 * (`squeue -h -w <cluster.node> -t R -o "%A %U"`: ids and uids only, nothing a user chose) and
 *  - stops (SIGTERM, the owner's grace, SIGKILL) and retires each container whose job is no
 *    longer RUNNING here under its owner's uid (scancel, time limit, node failure, a job ended
 *    while ds01d was down): the GPUs are released, the workspace is kept, the owner is told;
 *  - asks slurmend.h to end the job of each container that stopped while its job runs (the
 *    container's life ended first), after releasing any lease it still has.
 * "Slurm does not answer" (squeue fails or times out) is no news: nothing is stopped; it is
 * logged once and shown by `ds01 health` until Slurm answers again.
 *
 * State: the last answer (for health), the names being stopped and the count of stop threads,
 * under one mutex, a leaf held for no I/O. A stop takes the container's operation slot (never
 * waiting: a busy container is tried again at the next pass) and runs in a thread of its own, as
 * the monitor's idle stops do, so one slow stop never delays another's SIGTERM. */
#pragma once

#include "daemon/ds01d.h"

struct slurmlife;

/* The watcher's state, set as d->slurmlife (d: ds01d's root, before any thread copies it;
 * d->slurmend must be set). */
struct slurmlife *slurmlife_new(struct ds01d *d);
/* Starts its thread. Its first pass comes at once: the start-up reconciliation of the containers
 * of Slurm jobs with what Slurm runs now. */
int slurmlife_start(struct slurmlife *l, struct error **err);
/* No pass from now on; a stop in flight finishes. Idempotent. */
void slurmlife_halt(struct slurmlife *l);
/* Halts, waits for the stops in flight and frees (l NULL: nothing). */
struct slurmlife *slurmlife_stop(struct slurmlife *l);

/* What the watcher last saw, for `ds01 health`. */
struct slurmlife_status {
        size_t containers;  /* containers of Slurm jobs in the ledger at the last pass */
        int64_t asked_ms;   /* unix ms of the last answer from Slurm (0: never asked) */
        int64_t failing_ms; /* unix ms since when Slurm does not answer (0: it does) */
        size_t tries;       /* asks that failed since then */
        char *error;        /* why, while failing (the caller frees) */
        size_t ending;      /* jobs ds01d is ending (slurmend.h) */
};
void slurmlife_status(struct slurmlife *l, struct slurmlife_status *ret);
