/* backfill.h - which waiting requests may start now: the queue's one rule, in one place.
 *
 * The requests come highest priority first. Each that fits starts (the caller's try decides: a
 * real deploy in gpus/queue.c, a placement in bench/sim). The first that cannot get its slots
 * blocks the ones behind it, except backfill:
 *   - a request whose runtime cap ends before the blocked one's estimated start (its shadow
 *     time: when enough leases have ended at the latest) may go first: it is gone by then;
 *   - a request that fits in the slots the blocked one will not need at its shadow time.
 * Where the shadow time is unknown (a lease with no runtime cap is in the way), nothing
 * passes the blocked request: nobody can say it would not be delayed. A request without a
 * runtime cap never passes one either.
 *
 * Capacity is what the board shows: the slots free now, and when each leased one frees at the
 * latest (its runtime cap, or a stopped container's GPU hold), sorted.
 *
 * Pure: no I/O, no locks, no ds01d; the unit tests and bench/sim call it as the daemon does. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capacity {
        int64_t free_now;
        int64_t *ends; /* ascending; leases that have no end are not here */
        size_t n_ends;
};

/* Sorts cap->ends ascending (after filling them in any order). */
void capacity_sort(struct capacity *cap);
/* When need slots are free at the latest: now, a lease's end, or 0 (not known). */
int64_t capacity_when(const struct capacity *cap, int64_t need, int64_t now);
/* How many slots are free at time t at the latest count. */
int64_t capacity_free_at(const struct capacity *cap, int64_t t);

struct backfill_request {
        int64_t need;  /* slots; 0: no longer waiting (skipped) */
        int64_t cap_s; /* the owner's runtime cap (s); < 0: none */
};

enum backfill_try {
        BACKFILL_STARTED, /* it has its slots */
        BACKFILL_BUSY,    /* its slots are taken: it blocks the ones behind it */
        BACKFILL_KEPT,    /* it cannot start for a reason of its own (a quota): it waits on */
        BACKFILL_ENDED,   /* it left the queue */
};

/* Tries request i (an index into the array given to backfill_pass). */
typedef enum backfill_try (*backfill_try_fn)(void *ctx, size_t i);

/* One pass over v[0..n), highest priority first. A request with fewer slots free than it
 * needs is BUSY without a try. backfill false: the first blocked request blocks all behind it
 * (first come, first served). cap->free_now goes down by what starts. Returns how many
 * started. */
size_t backfill_pass(struct capacity *cap, const struct backfill_request *v, size_t n, int64_t now,
                     bool backfill, backfill_try_fn try_start, void *ctx);
