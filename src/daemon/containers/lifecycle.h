/* lifecycle.h - what a user's request does: deploy, start, stop, remove, retire, list, exec, logs,
 * limits. Each function is straight-line blocking code run on the caller's connection thread:
 * authorise the target, reserve in the ledger, ask Docker, bind or roll back, log the event.
 *
 * Backend seam: everything that decides *who gets which GPU when* goes through
 * lifecycle_reserve_gpus(); a Slurm backend replaces that one step, not the rest. */
#pragma once

#include "daemon/config/config.h"
#include "daemon/docker/docker.h"
#include "daemon/observe/events.h"
#include "daemon/gpus/gpu.h"
#include "daemon/config/limits.h"
#include "daemon/ledger/store.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/types.h>

struct snapshot_cache;
struct network;

/* The daemon's state, shared by every thread. cfg and limits are swapped by reload under `lock`
 * (write); requests hold it for reading. The other members live as long as the daemon. */
struct ds01d {
        pthread_rwlock_t lock;
        struct config *cfg;
        char *config_path; /* ds01.yaml as given at start-up; NULL: embedded defaults */
        struct limits *limits;
        struct gpu_inventory *inv; /* swapped by lifecycle_rescan under `lock` (write) */
        struct nvml *nvml;         /* NULL with the simulated backend */
        struct notify *notify;     /* terminals, alerts file, webhook */
        struct monitor *monitor;   /* sampling and enforcement (the activity it saw) */
        struct usage *usage;       /* usage accounting (ds01 report) */
        struct store *store;
        struct docker *docker;
        struct network *net; /* per-user Docker networks (network.h) */
        struct events *events;
        struct audit *audit;         /* auth.denied, aggregated (audit.h) */
        struct snapshot_cache *snap; /* the containers as last read (snapshot.h) */
        struct metrics *metrics;     /* /metrics; moved by admin_reload */
        pthread_mutex_t reload_lock; /* one reload at a time (SIGHUP, ds01 reload) */
        char *init_path;             /* host path of ds01-init, mounted at /.ds01/init */
        gid_t admin_gid;             /* gid of cfg->admin_group, or (gid_t)-1 */

        pthread_mutex_t busy_lock; /* container names with an operation in progress */
        pthread_cond_t busy_done;  /* signalled when one of them finishes */
        char **busy;
        size_t n_busy;

        pthread_mutex_t exec_lock; /* exec ids handed out, and to whom */
        struct exec_entry *execs;
        size_t n_execs;
};

struct exec_entry {
        char *id;
        char *container; /* the container it runs in */
        uid_t uid;
        int64_t created;
        uint64_t conn; /* the connection that opened it (struct caller's conn) */
        /* Seen finished by the monitor, or the connection that opened it closed: either way
         * no one is at the other end any more, and it no longer counts as a session. */
        bool ended;
};

/* Who is asking: from SO_PEERCRED / SO_PEERGROUPS, never from the message. */
struct caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *gids;
        size_t n_gids;
        char *login;     /* passwd name, or "u<uid>" */
        char *user_part; /* the user part of container names */
        bool admin;      /* root or a member of the admin group */
        uint64_t conn;   /* which connection asks (unique while the daemon runs); 0: none */
};

void caller_release(struct caller *c);

/* The connection `conn` closed: the sessions it opened end (its client is gone, even when the
 * commands it started go on running). */
void lifecycle_conn_closed(struct ds01d *d, uint64_t conn);

/* Handlers: params were validated by the method table (types, bounds); handlers validate
 * meaning. On success *ret_result is a new object; *ret_fd (where present) a descriptor to pass. */
int lifecycle_deploy(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);
int lifecycle_start(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err);
int lifecycle_stop(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err);
int lifecycle_remove(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);
int lifecycle_retire(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);
/* container.list, answered as JSON text ({"containers": [...]}) straight from the snapshot. */
int lifecycle_list(struct ds01d *d, const struct caller *c, json_t *params, char **ret_text,
                   size_t *ret_len, struct error **err);
int lifecycle_exec(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   int *ret_fd, struct error **err);
int lifecycle_resize(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);
int lifecycle_exec_status(struct ds01d *d, const struct caller *c, json_t *params,
                          json_t **ret_result, struct error **err);
int lifecycle_logs(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   int *ret_fd, struct error **err);
int lifecycle_limits(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);

/* Reconciliation of the ledger with Docker. Logs and records an event for every
 * correction. At start-up (startup true) everything is checked; at run time (after the event
 * stream was lost) rows still "reserved" and containers with a request in progress are left to
 * that request. Containers the ledger does not record are never adopted, whatever their labels:
 * ds01 manages only what it created (store_records). */
int lifecycle_reconcile(struct ds01d *d, bool startup, struct error **err);

/* Docker saw container `name` (id docker_id) stop / start: its leases become held / bound. */
void lifecycle_on_died(struct ds01d *d, const char *name, const char *docker_id);
void lifecycle_on_started(struct ds01d *d, const char *name, const char *docker_id);

/* Releases held leases whose gpu_hold_after_stop_h (the owner's limits) has passed. Call with
 * the read lock held. */
void lifecycle_sweep_holds(struct ds01d *d);

/* Scans the GPUs again and swaps the inventory. Call WITHOUT holding d->lock. *ret_result
 * (optional): {changed, added, removed, orphaned_leases, allocatable}. */
int lifecycle_rescan(struct ds01d *d, json_t **ret_result, struct error **err);
/* Admin: every slot with its lease, owner, state, age and drain; {uuid, reason?, undrain?}. */
int lifecycle_gpus(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                   struct error **err);
int lifecycle_drain(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err);

/* container-keepalive: {name, seconds | off}, bounded by keepalive_max_duration_h. */
int lifecycle_keepalive(struct ds01d *d, const struct caller *c, json_t *params,
                        json_t **ret_result, struct error **err);
/* ds01 inbox: the caller's newest messages ({limit?}). */
int lifecycle_inbox(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                    struct error **err);
/* The caller's inbox messages not shown yet (marked shown now), as notice strings; NULL if none. */
json_t *lifecycle_inbox_notices(struct ds01d *d, uid_t uid);

/* ds01 events: {user?, type?, container?, since?, until?, limit?} -> {events: [...]}, the
 * caller's own (administrators: anyone's). */
int lifecycle_events(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                     struct error **err);

/* uid as a caller, with their login and groups; -1 when uid has no account. */
int lifecycle_caller_for(uid_t uid, struct caller *ret);
/* "no container NAME - ..." (DS01_ENOTFOUND); returns -1. */
int lifecycle_not_found(const char *what, struct error **err);
/* Logs (and audits as auth.denied) a request for someone else's container. */
void lifecycle_audit_denied(struct ds01d *d, const struct caller *c, const char *action,
                            const char *target);
/* Tells the owner: inbox, terminals, the workspace's .ds01-alerts, webhook. */
void lifecycle_notify(struct ds01d *d, const struct caller *owner, const char *container,
                      const char *project, const char *workspace, const char *event,
                      const char *text, const json_t *details);
/* Enforcement: stops managed container `id` (SIGTERM, the owner's sigterm_grace_s, SIGKILL),
 * releases its GPUs, logs `event` ("maintenance.idle_kill" / "maintenance.runtime_kill") with
 * evidence (stolen) and tells the owner `text`. */
int lifecycle_enforce_stop(struct ds01d *d, const char *id, const char *event, const char *text,
                           json_t *evidence);
/* Removes a stopped (or never started) managed container and its ledger record. */
int lifecycle_cleanup_remove(struct ds01d *d, const char *id, const char *reason);

/* Docker destroyed container `name` (id docker_id), by whatever means: release its ledger record
 * if it is that container's (not a newer one of the same name). */
void lifecycle_on_destroyed(struct ds01d *d, const char *name, const char *docker_id);
