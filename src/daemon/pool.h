/* pool.h - the placement policy: which free slots a request should get, in order of preference.
 * The ledger (store.c) then takes the first free ones inside its transaction, so the policy never
 * needs a lock and a race can only make a request fall back to its next choice. */
#pragma once

#include "gpu.h"
#include "limits.h"

struct pool_request {
        int n_slots; /* --gpus N: N slots */
};

/* Candidate slots for req under limits `ls`, most preferred first. Whole GPUs when the group may
 * have them (allow_full_gpu), in index order; otherwise MIG instances, smallest first (best fit).
 * Returns the count; *ret is a malloc'd array of pointers into inv. */
size_t pool_candidates(const struct gpu_inventory *inv, const struct limit_set *ls,
                       const struct pool_request *req, const struct gpu_slot ***ret);
