/* ds01d.h - the daemon's context, shared by every thread, and the rules for touching it.
 *
 * Every module takes a struct ds01d *: it is how a request handler reaches the ledger, Docker,
 * the configuration and the other services. It owns nothing by itself; main.c builds it and
 * frees it. docs/architecture.md ("Threads and locks") has the whole lock order.
 *
 * Locking:
 * - `lock` (rwlock) guards cfg, limits, inv and admin_gid. Request handlers and the monitor
 *   hold it for reading; reload (reload.h) and a GPU rescan (gpuadmin.h) take it for writing
 *   only to swap a pointer.
 * - The other members are set once at start-up and are thread-safe themselves (each has its
 *   own lock inside, a leaf in the lock order).
 * - reload_lock serialises reloads (SIGHUP and `ds01 reload`); it is taken before `lock`. */
#pragma once

#include "daemon/config/config.h"
#include "daemon/config/limits.h"
#include "daemon/docker/docker.h"
#include "daemon/gpus/gpu.h"
#include "daemon/ledger/store.h"
#include "daemon/observe/events.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/types.h>

struct snapshot_cache;
struct network;
struct oplocks;
struct exec_registry;

struct ds01d {
        pthread_rwlock_t lock;
        struct config *cfg;
        char *config_path; /* ds01.yaml as given at start-up; NULL: embedded defaults */
        struct limits *limits;
        struct gpu_inventory *inv; /* swapped by gpuadmin_rescan under `lock` (write) */
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
        struct metrics *metrics;     /* /metrics; moved by reload */
        pthread_mutex_t reload_lock; /* one reload at a time (SIGHUP, ds01 reload) */
        char *init_path;             /* host path of ds01-init, mounted at /.ds01/init */
        gid_t admin_gid;             /* gid of cfg->admin_group, or (gid_t)-1 */
        struct oplocks *ops;         /* one operation per container name (oplock.h) */
        struct exec_registry *execs; /* exec sessions handed out, and to whom (sessions.h) */
};
