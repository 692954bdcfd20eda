/* counters.h - process-wide counters for /metrics: RPC requests by method and outcome with a
 * latency histogram, events by type, enforcement actions by kind, and the monitor's sweep
 * duration. Any thread may count (one short mutex); metrics.c reads a consistent copy.
 *
 * Label cardinality is bounded: method names come from the RPC method table (at most
 * COUNTERS_MAX_METHODS; anything else counts as "unknown"), event types are chosen by the daemon
 * (at most COUNTERS_MAX_EVENT_TYPES; later ones count as "other"). Names are copied once and
 * live as long as the process. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COUNTERS_MAX_METHODS     64
#define COUNTERS_MAX_EVENT_TYPES 128
#define COUNTERS_MAX_BUCKETS     16

enum counters_action {
        COUNTERS_IDLE_STOP,       /* maintenance.idle_kill */
        COUNTERS_RUNTIME_STOP,    /* maintenance.runtime_kill */
        COUNTERS_IDLE_WARNING,    /* a warning before the idle stop */
        COUNTERS_RUNTIME_WARNING, /* a warning before the runtime cap */
        COUNTERS_HOLD_RELEASE,    /* held GPUs released after gpu_hold_after_stop_h */
        COUNTERS_CLEANUP_REMOVE,  /* a stopped or never-started container removed */
        COUNTERS_N_ACTIONS,
};

/* A histogram: counts[i] observations <= bounds[i] (not cumulative), counts[n_bounds] above. */
struct counters_hist {
        const double *bounds;
        size_t n_bounds;
        uint64_t counts[COUNTERS_MAX_BUCKETS + 1];
        uint64_t count;
        double sum; /* seconds */
};

struct counters_rpc {
        const char *method;
        uint64_t ok, error;
        struct counters_hist latency;
};

struct counters_event {
        const char *type;
        uint64_t n; /* since the daemon started */
        /* By hour (unix hour h in hour_of[h % 24]), since the daemon started and, from the log,
         * the day before: see counters_events_recent. */
        uint32_t by_hour[24];
        int64_t hour_of[24];
};

struct counters_snapshot {
        struct counters_rpc rpc[COUNTERS_MAX_METHODS + 1]; /* + "unknown" */
        size_t n_rpc;
        struct counters_event events[COUNTERS_MAX_EVENT_TYPES + 1]; /* + "other" */
        size_t n_events;
        uint64_t actions[COUNTERS_N_ACTIONS];
        struct counters_hist sweep;
        int64_t last_sweep_ms; /* unix ms of the end of the last sweep; 0 = none yet */
};

/* A monotonic clock in nanoseconds, for the durations below. */
int64_t counters_now_ns(void);

/* One RPC request: method (NULL or not from the method table: "unknown"), whether it succeeded,
 * and how long it took. */
void counters_rpc(const char *method, bool ok, int64_t elapsed_ns);
/* One event written to events.jsonl. */
void counters_event(const char *type);
/* One event written at unix time t before the daemon started (read back from the log at
 * start): it counts in counters_events_recent only. */
void counters_event_seen(const char *type, int64_t t);
/* How many events of e's type were written in the last 24 hours before now (unix seconds), to
 * the hour: the current hour and the 23 before it. */
uint64_t counters_events_recent(const struct counters_event *e, int64_t now);
void counters_action(enum counters_action a);
/* One monitor sweep finished after elapsed_ns. */
void counters_sweep(int64_t elapsed_ns);

/* "idle_stop", "runtime_stop", ... */
const char *counters_action_name(enum counters_action a);

/* A consistent copy of every counter. */
void counters_read(struct counters_snapshot *ret);
