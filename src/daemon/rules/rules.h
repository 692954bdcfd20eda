/* rules.h - the lifecycle rules as pure decisions: given what was observed (times, counters,
 * limits), what is due. No I/O, no locks, no daemon state: the monitor (monitor.h) samples and
 * calls these; enforcement (enforce.h) acts on what they decide; the verbs (verbs.h) ask the
 * same questions before a start. Unit-tested in tests/unit/test-rules.c. */
#pragma once

#include <stdint.h>

/* Where a container's runtime count starts (unix ms; 0: unknown): the start the ledger recorded
 * when ds01 recreated the container (runtime_from_ms > 0: the replacement keeps the count), else
 * its creation as Docker records it; for a container recorded before runtime_from_ms existed
 * (-1), the ledger's creation where that is much older (an older ds01 recreated it). */
int64_t rules_runtime_start_ms(int64_t docker_created_ms, int64_t ledger_created_s,
                               int64_t runtime_from_ms);

#include "daemon/config/limits.h"

#include <stdbool.h>

/* What the monitor measured of a container in one tick. */
struct rules_sample {
        double cpu_pct;    /* of one CPU, over the sample interval */
        int64_t net_delta; /* bytes sent and received over the interval */
        double gpu_pct;    /* highest utilisation of its GPUs; < 0: unknown (MIG, simulated) */
        bool session;      /* a container-run/attach session is open */
};

/* The one definition of "active": the container is in use, and its idle clock starts over.
 * Any of CPU, network, a known GPU utilisation over the owner's threshold, or an open session. */
bool rules_active(const struct limit_policies *p, const struct rules_sample *s);
/* Whether its GPUs count as used (usage accounting: GPU-hours active vs held idle): a known
 * GPU utilisation decides; unknown, the container's rules_active verdict does. */
bool rules_gpu_active(const struct limit_policies *p, const struct rules_sample *s);

/* How much the GPUs are asked for: the allocatable slots, those leased (in any lease state),
 * and the requests waiting for one. */
struct rules_demand {
        size_t slots, leased, waiting;
};

/* Whether the GPUs are in high demand for an owner whose policies are p: the leased share is at
 * or over high_demand_threshold, or someone waits. Never with the threshold null (< 0). */
bool rules_high_demand(const struct limit_policies *p, const struct rules_demand *dm);
/* The idle timeout in force for limits ls (whole seconds; -1: none): idle_timeout_h, less its
 * high_demand_idle_reduction while the GPUs are in high demand (never under one second).
 * *ret_full_s (may be NULL): idle_timeout_h in seconds, as without demand. */
int64_t rules_idle_timeout_s(const struct limit_set *ls, const struct rules_demand *dm,
                             int64_t *ret_full_s);

/* The GPU hold of a stopped container in whole seconds, rounded up (-1: until it is retired):
 * after the owner's own stop (manual) gpu_hold_after_manual_stop_m where it is set, else
 * gpu_hold_after_stop_h; but none for a container ds01 (or anyone but its owner) stopped while
 * deploys wait for GPUs (queue_waiting): the queue has them at once. bench/sim measured it: a
 * quarter less idle-held GPU time on the lab trace. */
int64_t rules_gpu_hold_s(const struct limit_set *ls, bool manual, bool queue_waiting);

/* What a clock (idle or runtime) calls for now. */
enum rules_verdict {
        RULES_NONE,    /* nothing yet; look again at *ret_due_ms */
        RULES_MEASURE, /* a step is due but this tick has no rates: sample again first */
        RULES_WARN,    /* the next warning (warned + 1) */
        RULES_STOP,    /* the enforced stop */
};

/* A clock with two warnings and a stop: at warn_1 and warn_2 of the limit after `since`, then at
 * the limit. Each warning comes in a tick of its own, also when late; the stop only after both. */
struct rules_clock {
        int64_t since_ms; /* the last activity (idle), the runtime's start (runtime) */
        int64_t limit_s;  /* the idle timeout, the maximum runtime */
        double warn_1, warn_2;
        int warned;    /* warnings given so far (0-2) */
        bool measured; /* this tick's sample has rates (idle only: no verdict without evidence) */
        /* idle only: idle samples in a row so far, and how many a verdict needs
         * (idle_detection_window; 0 or 1: the one that has rates) */
        int64_t streak, window;
};

/* The idle rule at now_ms: *ret_due_ms is when the next step falls due. A step that is due
 * without the evidence (a sample with rates, window idle samples in a row) is RULES_MEASURE. */
enum rules_verdict rules_idle(const struct rules_clock *c, int64_t now_ms, int64_t *ret_due_ms);
/* The runtime rule at now_ms (a limit of 0 stops at once, without warnings). */
enum rules_verdict rules_runtime(const struct rules_clock *c, int64_t now_ms, int64_t *ret_due_ms);
