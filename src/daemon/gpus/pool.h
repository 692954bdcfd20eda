/* pool.h - the placement policy: which slots a request may use, and which of the free ones it
 * gets. The ledger (ledger/store-leases.c) calls pool_pick inside its reservation transaction
 * with the slots that are free at that instant, so the policy needs no lock of its own and two
 * racing requests can never be given the same slot.
 *
 * The policy:
 *  - MIG: best fit. A request for a profile ("--mig 2g.10gb") may use any MIG instance with at
 *    least that many compute slices and that much memory; the smallest such free instance is
 *    chosen, so large slices stay available for large requests.
 *  - Whole GPUs: spread wear and heat. Among free GPUs the one with the least accumulated lease
 *    time is chosen, then the one that has been free the longest (coolest), then the lowest index.
 *  - Several whole GPUs: kept on one NVLink group, else one NUMA node, when the inventory knows
 *    the topology: the group that can hold the whole request with the least wear is chosen. Only
 *    when no group can, the request is spread over the least worn GPUs.
 *  - Drained slots are never candidates (the ledger skips them), nor are MIG-enabled GPUs
 *    themselves (their instances are the slots).
 *  - `--gpus N` asks for whole GPUs when the user's group allows them (allow_full_gpu) and the
 *    server has any; otherwise for N MIG instances, best fit. */
#pragma once

#include "daemon/gpus/gpu.h"
#include "daemon/config/limits.h"
#include "daemon/ledger/store.h"

struct pool_request {
        int n_slots;             /* --gpus N (or the number of MIG instances with --mig) */
        const char *mig_profile; /* --mig PROFILE: "3g.20gb", "2g", ...; NULL: none */
        /* others wait for GPUs (gpus/queue.h): no slot is free to this request, though its
         * limits are checked as usual (a request that can never fit is told so) */
        bool queue_ahead;
};

/* Checks a MIG profile as users type it: "<slices>g" or "<slices>g.<memory>gb" with slices 1..7.
 * Returns 0, or -1 with err (DS01_EUSAGE) saying what a valid profile looks like. */
int pool_parse_profile(const char *profile, int *ret_slices, int *ret_memory_gb,
                       struct error **err);

/* The slots request req may use under limits ls (allocatable and of the right kind), in a stable
 * order. *ret is a malloc'd array of pointers into inv. When none exist, err says why (e.g.
 * "your group may use MIG slices only", "no MIG instance of 3g.20gb or larger on this server"):
 * the count is 0 and err is set only if the request is impossible on this server. */
size_t pool_candidates(const struct gpu_inventory *inv, const struct limit_set *ls,
                       const struct pool_request *req, const struct gpu_slot ***ret,
                       struct error **err);

/* store_pick_fn: ctx is the const struct pool_request *. */
size_t pool_pick(const struct store_free_slot *free_slots, size_t n_free, size_t n, void *ctx,
                 size_t *ret_idx);
