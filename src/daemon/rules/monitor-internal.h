/* monitor-internal.h - the monitor's state, shared by monitor.c (the timer and the tick),
 * monitor-rules.c (the rules applied to one container) and monitor-views.c (what readers see).
 * Private to rules/.
 *
 * Locking: m->lock guards stop and wake (the timer's condition); act_lock the activities
 * (the monitor thread, and its stop threads when they finish); view_lock the published views
 * and usage; stops_lock the count of stop threads. None is held across a Docker or NVML call
 * except act_lock during a tick's sampling, which only the monitor's own threads take. */
#pragma once

#include "daemon/rules/monitor.h"
#include "daemon/rules/rules.h"
#include "daemon/config/limits.h"
#include "daemon/ledger/store.h"
#include "daemon/observe/snapshot.h"
#include "daemon/rules/sampler.h"

#include <stdatomic.h>

#define WINDOW 64 /* samples kept per container for the evidence */

struct activity {
        char *id;
        char *name;
        char *user;  /* ds01.user */
        char *state; /* Docker's state at the last tick */
        bool seen;

        /* running */
        pid_t pid;
        struct sampler_cgroup cg;
        bool have_cg;
        bool have_sample;
        bool measured; /* this tick's sample has rates (there was one before it) */
        uint64_t last_cpu_ns, last_net;
        uint64_t cpu_ns; /* CPU time of this run of the container, as last read */
        int64_t last_mono_ms;
        int64_t started_at;     /* unix */
        int64_t last_active_ms; /* unix ms: last activity, or the end of the start-up grace */
        int64_t grace_end_ms;   /* unix ms: the idle clock starts no earlier (grace_period_m) */
        int idle_warned, runtime_warned;
        int64_t idle_streak; /* idle samples (with rates) in a row, for idle_detection_window */
        int64_t streak_ms;   /* unix ms of the last sample idle_streak counted */
        bool stopping;
        int64_t stopped_ms; /* unix ms: when the last stop this monitor asked for was done */
        char *workspace;
        double cpu_pct, gpu_pct; /* gpu_pct < 0: unknown */
        int64_t net_delta;
        bool session;
        /* for container-stats and /metrics (-1: unknown) */
        int64_t sampled_ms; /* unix ms of the last sample */
        int64_t mem_used, mem_limit, pids;
        double rx_bps, tx_bps;
        uint64_t last_rx, last_tx;
        struct gpu_sample {
                char *uuid;
                double util_pct; /* -1: unknown (MIG, simulated) */
                int64_t mem_used, mem_total;
        } * gpus;
        size_t n_gpus;
        struct {
                double cpu, gpu;
                int64_t net;
        } win[WINDOW];
        size_t win_n, win_pos;

        /* what the rules said at the last tick, for container-list (-1: no such rule) */
        int64_t idle_timeout_s, runtime_limit_s, runtime_s, keepalive_until;
        const char *keepalive_source;

        /* stopped */
        int64_t finished_at;
        int64_t created_ms; /* Docker's Created, unix ms */
};

/* One running container as the last tick saw it; signals and stats are immutable once
 * published, and readers take copies of them. */
struct view {
        char *id;
        int64_t last_active_ms, idle_timeout_s, runtime_limit_s, runtime_s, keepalive_until;
        const char *keepalive_source; /* a literal */
        json_t *signals, *stats;
        char *signals_text; /* signals serialised (container-list appends it as it is) */
};

struct monitor {
        struct ds01d *d;
        pthread_t thread;
        bool halted; /* the thread was joined (monitor_halt); only the stopping thread looks */
        pthread_mutex_t lock; /* stop, cond */
        pthread_cond_t cond;
        bool stop, wake;
        pthread_mutex_t act_lock; /* acts (the monitor thread and its stop threads) */
        /* What readers see (container-list, container-stats, status, /metrics): published at
         * the end of each tick, so a request never waits for a sweep. */
        pthread_mutex_t view_lock;
        struct view *views;
        size_t n_views;
        struct monitor_user_usage *usage; /* by user, at the last tick (view_lock) */
        size_t n_usage;
        /* CPU time of containers' earlier runs (and of containers gone), by user (act_lock) */
        struct monitor_user_usage *carried;
        size_t n_carried;
        struct activity *acts;
        size_t n_acts;
        pthread_mutex_t stops_lock;
        unsigned stops_running;
        int64_t started_ms; /* when this monitor (daemon) started, unix ms */
        _Atomic int64_t last_tick_ms, last_tick_duration_ms;
        _Atomic uint64_t ticks; /* ticks finished (monitor_ticks) */
        /* The earliest warning or stop a rule has scheduled (unix ms, 0: none): the thread wakes
         * for it instead of waiting for the next sample interval. Written by enforce. */
        int64_t due_ms;
        _Atomic int64_t next_due_ms;
        /* The GPUs' demand at this tick (act_lock), and whether the last tick shortened an idle
         * timeout for it (high_demand_seen: this tick so far; high_demand: the last tick's). */
        struct rules_demand demand;
        bool high_demand_seen, high_demand;
};

/* How soon a warning or stop that waits for a measurement gets its sample (ms). */
#define MEASURE_MS 5000

/* A rule's next warning or stop falls at t (unix ms): the tick comes then. */
void monitor_due_at(struct monitor *m, int64_t t, int64_t now);
struct activity *monitor_activity_find(struct monitor *m, const char *id);
/* The entry of user in *v (n of them), added when missing. */
struct monitor_user_usage *monitor_usage_get(struct monitor_user_usage **v, size_t *n,
                                             const char *user);
/* t (unix s) as the owner reads it: "14:05 UTC", or with the date when not today. */
char *monitor_clock_text(int64_t t, char buf[static 64]);

/* The rules, applied to running container a at tms (unix ms) with its owner's limits ls. */
void monitor_rule_runtime(struct monitor *m, struct ds01d *d, struct activity *a,
                          const struct snap_container *row, const struct store_container *sc,
                          const struct limit_set *ls, int64_t tms);
void monitor_rule_idle(struct monitor *m, struct ds01d *d, struct activity *a,
                       const struct snap_container *row, const struct store_container *sc,
                       const struct limit_set *ls, int64_t tms);
/* A stopped or never-started container whose hold ran out is removed. */
void monitor_rule_cleanup(struct ds01d *d, struct activity *a, const struct limit_set *ls,
                          int64_t now);

/* Publishes the activities as the views readers take (call with act_lock held). */
void monitor_publish_views(struct monitor *m);
void monitor_views_free(struct view *v, size_t n);
