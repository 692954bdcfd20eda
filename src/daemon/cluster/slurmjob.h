/* slurmjob.h - a Slurm job as ds01 checks it before deploying a container for it, as pure
 * functions: `scontrol show job -d -o JOBID` read into a struct, Slurm's host lists
 * ("n[1-3,7],gpu01"), and the GRES indexes the job holds on one node ("gpu:2(IDX:0-1)").
 * No I/O, no state (slurmdeploy.c runs scontrol and decides with these).
 *
 * GPU mapping: a job's GPU indexes are indexes into its node's gres.conf list of gpu devices;
 * ds01 maps index i to its whole GPU of index i (NVML's order). The node's gres.conf lists the
 * GPUs in that order (File=/dev/nvidia[0-N]), which is what docs/cluster-design.md asks. */
#pragma once

#include "shared/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLURMJOB_MAX_GPUS 64 /* indexes per node a job may hold, a bound on the parse */

struct slurm_job {
        int64_t id;
        char *state;     /* JobState: "RUNNING", "PENDING", "COMPLETED", ... */
        char *user;      /* UserId's name ("alice" of "alice(1001)") */
        int64_t uid;     /* UserId's number; -1: not given */
        char *node_list; /* NodeList as Slurm writes it ("n[1-2]"; "(null)" while pending) */
        /* the detail entries (-d): per set of nodes, the GRES it holds there */
        struct slurm_job_alloc {
                char *nodes; /* "Nodes=" host list */
                char *gres;  /* "GRES=" value: "gpu:2(IDX:0-1)", "" when none */
        } * allocs;
        size_t n_allocs;
};

void slurm_job_release(struct slurm_job *j);

/* A job id as users give it: decimal, 1..2^32-1 (no array or het suffix). */
bool slurmjob_id_valid(const char *s, int64_t *ret_id);

/* One job of `scontrol show job -d -o` (the first line). An answer without JobId, JobState or
 * UserId is an error saying so. */
int slurmjob_parse(const char *text, struct slurm_job *ret, struct error **err);

/* Whether Slurm's host list (comma-separated names, each with at most one bracketed range set
 * "n[01-03,7]") names `node`. A malformed list names nothing. */
bool slurmjob_hostlist_contains(const char *list, const char *node);

/* The GPU indexes the job holds on `node`, ascending, in ret (at most SLURMJOB_MAX_GPUS);
 * returns how many (0: none there), -1 when a GRES value cannot be read (err says which). */
int slurmjob_node_gpus(const struct slurm_job *j, const char *node, int *ret, struct error **err);
