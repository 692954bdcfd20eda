/* monitor.h - the daemon's timer. Every sample_interval_s, at once when the daemon
 * starts, soon (at most once a second) after a managed container starts, and at the moment a
 * warning or stop falls due, it works from the daemon's snapshot (no Docker list of its own):
 *  - rescans the GPUs (NVML: a MIG reconfiguration shows up without a restart);
 *  - samples every running managed container: CPU time from its cgroup, network bytes since the
 *    last sample, GPU utilisation of its leased whole GPUs (MIG instances and simulated GPUs are
 *    "unknown", never "idle"), and whether a container-run/attach session is open; the samples
 *    stay in a rolling window in memory;
 *  - applies the idle rule: a container is idle while every signal is under its owner's
 *    thresholds; warnings at idle_warn_1 and idle_warn_2 of idle_timeout_h (80 % and 95 %), each
 *    in its own tick, then the stop at 100 % (maintenance.idle_kill, GPUs released), never on a
 *    sample without rates (the first after a start). Activity,
 *    a fresh .keep-alive in the project's workspace, container-keepalive, or an exemption prevent
 * it; the clock starts after the start-up grace (grace_period_m);
 *  - applies the runtime cap: max_runtime_h from the container's creation, to the millisecond
 *    (restarts do not reset it), warnings at runtime_warn_1/2 (75 %, 90 %), then the stop
 *    (maintenance.runtime_kill); keep-alive never lifts it;
 *  - releases GPU holds that expired, removes containers stopped for container_hold_after_stop_h
 *    and those created but never started for created_container_timeout_m.
 * When the daemon stops it records the idle clocks and warnings given in the ledger; the next
 * daemon takes them back after a short restart (down at most two sample intervals and
 * restart_gap_s).
 * Only containers labelled with this daemon's instance are ever touched. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

struct strbuf;

struct monitor;

struct monitor *monitor_start(struct ds01d *d, struct error **err);
/* No tick from now on (ds01d is stopping: no new warning or stop starts; one in flight
 * finishes). Readers may still use m until monitor_stop. Idempotent. */
void monitor_halt(struct monitor *m);
/* Stops the thread and waits for it (and for stops it started). */
struct monitor *monitor_stop(struct monitor *m);
/* Adds what the last tick saw of container `id` to a container-list row: idle_s, idle_timeout_s,
 * idle_left_s, runtime_s, runtime_limit_s, runtime_left_s, keepalive {until, source}, signals. */
void monitor_describe(struct monitor *m, const char *id, json_t *row);
/* The same members as text (",\"idle_s\":3,..."), appended to sb for a row being serialised.
 * Returns whether it added "keepalive". */
bool monitor_describe_text(struct monitor *m, const char *id, struct strbuf *sb);
/* The member ",\"keepalive\":{\"until\":U,\"source\":S}" appended to sb. */
void monitor_keepalive_text(struct strbuf *sb, int64_t until, const char *source);
/* Adds "stats" to a row for a running container, as the last tick measured it: {sampled_at_ms,
 * cpu_pct, mem_used_bytes, mem_limit_bytes, pids, net_rx_bps, net_tx_bps, gpus: [{uuid,
 * util_pct, mem_used_bytes, mem_total_bytes}]}; null where unknown (utilisation of MIG
 * instances and simulated GPUs). Nothing for containers the monitor has not sampled. */
void monitor_stats(struct monitor *m, const char *id, json_t *row);
/* By user, as of the last tick: CPU time of their managed containers since this daemon started
 * following them (every run, also of containers since removed: a counter while the daemon runs),
 * and the memory their running containers use now. */
struct monitor_user_usage {
        char *user;
        double cpu_s;
        int64_t mem_bytes;
};
/* A copy in *ret (free with monitor_user_usage_free); returns how many. */
size_t monitor_user_usage(struct monitor *m, struct monitor_user_usage **ret);
void monitor_user_usage_free(struct monitor_user_usage *v, size_t n);
/* Unix ms when the last tick finished (0: none yet), and how long it took. */
int64_t monitor_last_tick_ms(struct monitor *m, int64_t *ret_duration_ms);
/* How many ticks have finished since the monitor started: a count that grows by one with each,
 * for whoever must know that a tick began and ended after some moment (last_tick is in whole
 * seconds in `ds01 status`; two ticks can finish within one). */
uint64_t monitor_ticks(struct monitor *m);
/* Runs one tick now (tests and benchmarks). */
void monitor_tick(struct monitor *m);
/* Asks the monitor thread for a tick as soon as it can (a managed container started: its rules
 * apply at once, not a sample interval later). */
void monitor_wake(struct monitor *m);
