/* leases.h - GPU leases of containers: which slots a request may get (placement, pool.h), the
 * reservation in the ledger, a re-lease after a hold expired, and the hold expiry itself.
 *
 * Backend seam: everything that decides who gets which GPU when goes through leases_reserve()
 * and leases_relet(); a cluster scheduler replaces these, not the container verbs. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/gpus/pool.h"
#include "daemon/ledger/store.h"
#include "daemon/requests/caller.h"
#include "daemon/rules/rules.h"

/* Reserves GPUs for `container` in the ledger, within the owner's limits ls. existing: the
 * container is in the ledger already (a re-lease after its hold). *ret_uuids the slots. On a
 * refusal *ret_busy (optional) says whether it was only that the slots are taken now. */
int leases_reserve(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                   const char *container, const char *project, struct pool_request *preq,
                   bool existing, char ***ret_uuids, bool *ret_busy, struct error **err);
/* Reserves exactly the n slots a cluster scheduler placed the container on (a Slurm job's
 * GPUs, cluster/slurmdeploy.h), within ls like leases_reserve; no placement and no wait queue.
 * A slot leased to another container is a refusal naming it: ds01 and the scheduler disagree. */
int leases_reserve_slots(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                         const char *container, const char *project,
                         const struct gpu_slot *const *slots, size_t n, char ***ret_uuids,
                         struct error **err);
/* Leases GPUs again for stopped container `name` (inspect) whose hold expired: the slots it had
 * if they are all free (*ret_same true: bound to it as it is), else any by the placement policy
 * (*ret_same false: the caller recreates the container on them, or releases them). */
int leases_relet(struct ds01d *d, const struct caller *owner, const json_t *inspect,
                 const char *name, const struct limit_set *ls, char ***ret_got, bool *ret_same,
                 struct error **err);
/* Container `name` stopped (its stop, its process' exit, seen at start-up): its bound leases
 * are held for gpu_hold_after_stop_h (leases_sweep_holds ends the hold), except a Slurm job's
 * (the ledger's slurm_job), which keeps no GPU: its leases are released at once, before ds01d
 * ends the job (cluster/slurmlife.h), so that the job Slurm places next on the GPU finds it free.
 * A restart of a Slurm job's container is a new job. Returns how many leases changed. */
int leases_stopped(struct ds01d *d, const char *name);
/* Releases held leases whose gpu_hold_after_stop_h (the owner's limits) has passed. Call with
 * a view (generation.h). */
void leases_sweep_holds(struct ds01d *d);
/* The demand on d's GPUs from the ledger's containers (rows, n of them: all users'): the
 * allocatable slots, how many of them are leased, and how many deploys wait (queue.h). */
void leases_demand(struct ds01d *d, const struct store_container *rows, size_t n,
                   struct rules_demand *ret);
/* The slots as the user sees them: [{uuid, name, index, weight, profile?}]. */
json_t *leases_json(struct ds01d *d, char **uuids);
