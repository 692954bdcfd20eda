/* slurmjob.h - a Slurm job as ds01 checks it before deploying a container for it, as pure
 * functions: `squeue --json` read into a struct, Slurm's host lists ("n[1-3,7],gpu01"), and the
 * GRES indexes the job holds on one node ("gpu:2(IDX:0-1)"). No I/O, no state (slurmdeploy.c
 * runs squeue and decides with these).
 *
 * Why JSON: scontrol's text (`show job -d -o`) puts the job's name, working directory and
 * comment, which its user chooses, between the fields ds01 reads, so a job named
 * "x Nodes=n1 GRES=gpu:4(IDX:0-3)" would claim GPUs it does not hold. squeue --json keeps every
 * value in its own field.
 *
 * GPU mapping: a job's GPU indexes are indexes into its node's list of gpu records as slurmd
 * reads gres.conf (grouped by type, `slurmd -G` prints them in that order):
 * slurmjob_parse_gres_layout reads that list, and slurmdeploy.c maps each record to a ds01 slot
 * (a whole GPU by its device file's number, a MIG instance by type and rank;
 * docs/cluster-design.md has the contract). */
#pragma once

#include "shared/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLURMJOB_MAX_GPUS 64 /* indexes per node a job may hold, a bound on the parse */

struct slurm_job {
        int64_t id;
        char *state;     /* job_state: "RUNNING", "PENDING", "COMPLETED", ... */
        int64_t uid;     /* user_id */
        char *node_list; /* nodes, as Slurm writes them ("n[1-2]"; "" while pending) */
        /* gres_detail: the GRES the job holds on each node of node_list, in its order
         * ("gpu:2(IDX:0-1)", "" when none) */
        char **gres;
        size_t n_gres;
};

void slurm_job_release(struct slurm_job *j);

/* A job id as users give it: decimal, 1..2^32-1 (no array or het suffix). */
bool slurmjob_id_valid(const char *s, int64_t *ret_id);

/* Job `id` of `squeue --json`'s answer (Slurm 22.05 lists every job it knows there, filters or
 * not). Returns 1 and fills *ret when it is there, 0 when not; -1 when the answer is not
 * squeue's JSON, reports errors (slurmctld did not answer: squeue still exits 0) or the job
 * lacks a field ds01 needs (err says which). */
int slurmjob_parse(const char *json, int64_t id, struct slurm_job *ret, struct error **err);

/* Where Slurm's host list (comma-separated names, each with at most one bracketed range set
 * "n[01-03,7]") names `node`: its position in the expanded list, or -1 when it does not (a
 * malformed list names nothing). */
int64_t slurmjob_hostlist_index(const char *list, const char *node);

/* The GPU indexes the job holds on `node`, ascending, in ret (at most SLURMJOB_MAX_GPUS);
 * returns how many (0: none there), -1 when a GRES value cannot be read (err says which). */
int slurmjob_node_gpus(const struct slurm_job *j, const char *node, int *ret, struct error **err);

/* One GPU of a node as Slurm indexes them (the IDX of a job's GRES): its gres type ("" when
 * untyped: a MIG profile such as "3g.20gb", or a model) and the number its device file ends in
 * (/dev/nvidia3 -> 3; -1 when it has none). */
struct slurm_gres_gpu {
        char type[64];
        long file_no;
};

/* The node's GPUs from `slurmd -G -N NODE` (its stderr: "slurmd: Gres Name=gpu Type=T Count=N
 * Index=I ID=... File=F ..." per gres.conf record, in Slurm's index order; a record of Count N
 * with File=/dev/nvidia[0-3] is N GPUs). Other gres are skipped. Returns how many GPUs (at most
 * SLURMJOB_MAX_GPUS) are in ret, -1 when a gpu record cannot be read (err says which). */
int slurmjob_parse_gres_layout(const char *text, struct slurm_gres_gpu *ret, struct error **err);
