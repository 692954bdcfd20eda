/* usage.h - usage accounting for `ds01 report`: GPU time per user per UTC day in the ledger.
 *
 * At every monitor tick each lease that is allocated - bound to a container, or held by a
 * stopped one (it blocks the GPU all the same) - adds dt x weight to its owner's allocated
 * GPU-equivalent seconds (weight: 1 for a whole GPU, slices/7 for a MIG instance). It adds the
 * same to active seconds when its container was busy in that tick:
 *  - GPU utilisation known (whole GPUs through NVML): the container's utilisation (the max over
 *    its GPUs, as the monitor measures it) is at or above the owner's gpu_idle_threshold;
 *  - utilisation unknown (MIG instances, simulated GPUs): the monitor's own idle signals say it
 *    was active in this tick (CPU, network, or an open session at or above the owner's
 *    thresholds), so a container the idle rule would let live counts as active.
 * A held lease, or a lease whose container is not running, is never active: allocated, idle.
 * Idle-held time is allocated minus active.
 *
 * dt is the wall time since the previous accounting tick, capped at 2 x sample_interval_s + 10 s
 * (a slow tick on a loaded machine still counts; a suspended machine or a stalled monitor is
 * charged that much at most), and the first tick after the daemon starts counts nothing: time
 * the daemon was down is not charged to anyone. A span that crosses UTC midnight is split between
 * the two days. Each tick's additions are one ledger transaction. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"
#include "daemon/config/limits.h"
#include "daemon/ledger/store.h"

struct usage;

struct usage *usage_new(void);
struct usage *usage_free(struct usage *u);

/* Monitor hook, once per tick for each running container (`container` is its name): its signals
 * of this tick and its owner's thresholds. gpu_pct < 0: utilisation unknown. */
void usage_observe(struct usage *u, const char *container, double gpu_pct, double cpu_pct,
                   int64_t net_delta, bool session, const struct limit_policies *p);

/* The additions of one tick at now_ms (unix ms): the ledger's containers `rows` with their
 * leases, the leases released since the previous tick `rel`, and the containers observed since
 * then. A lease leased or released within the tick counts only its part of it. No store access
 * (unit tests). Forgets the observations and remembers now_ms as the previous tick. *ret: one
 * row per (day, uid) with something to add (free with store_usage_free). */
void usage_compute(struct usage *u, const struct store_container *rows, size_t n_rows,
                   const struct store_released *rel, size_t n_rel, int64_t now_ms,
                   int64_t interval_s, struct store_usage **ret, size_t *ret_n);
/* Monitor hook after each tick: reads the ledger (store_usage_snapshot), usage_compute at now,
 * and adds the result in one transaction. Failures are logged. */
void usage_account(struct usage *u, struct store *s, int64_t interval_s);

/* A span [from_ms, to_ms) split at UTC midnights: up to max (day, seconds) pieces, returned
 * count. */
struct usage_span {
        char day[11];
        double seconds;
};
size_t usage_split_days(int64_t from_ms, int64_t to_ms, struct usage_span *ret, size_t max);

/* Counters for the day of `at` (unix seconds): a deploy, an enforcement stop. Failures are
 * logged; accounting never fails the operation it counts. */
void usage_count_deploy(struct store *s, unsigned uid, const char *user, int64_t at);
void usage_count_stop(struct store *s, unsigned uid, const char *user, int64_t at);

/* usage.report {month? ("YYYY-MM", default the current UTC month), user?} ->
 * {month, users: [{user, uid, gpu_hours_allocated, gpu_hours_active, gpu_hours_idle_held,
 * containers, enforcement_stops}], totals: {...}}: the caller's own; administrators anyone's
 * (everyone with usage that month when user is absent). */
int usage_report(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err);
/* "YYYY-MM" with a month 01..12 (and a year 1970..9999). */
bool usage_month_valid(const char *month);
