/* ds01d.h - the daemon's context, shared by every thread, and the rules for touching it.
 *
 * Every module takes a struct ds01d *: it is how a request handler reaches the ledger, Docker,
 * the configuration and the other services. main.c builds the root context and frees it.
 * docs/architecture.md ("Threads and locks") has the whole lock order.
 *
 * Two kinds of context:
 * - the root (main.c's): the services, set once at start-up; its cfg, limits, inv and gen are
 *   NULL once the daemon runs, because those change;
 * - a view (ds01d_pin, generation.h): a copy of the root with the current generation of cfg,
 *   limits, inv and admin_gid pinned in it. Every request, monitor tick, Docker event and
 *   scrape works on a view of its own, taken once at its start, and holds no lock while it
 *   waits on Docker, NVML, the disk or the network. Threads keep the root, never a view.
 * The services themselves are thread-safe, each with its own lock inside (a leaf in the lock
 * order). */
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
struct relay;
struct queuekick;
struct storage;
struct generations;
struct generation;
struct outside;
struct slurmend;
struct slurmlife;

struct ds01d {
        struct generations *gens; /* where the current generation is published */
        struct generation *gen;   /* a view's pinned generation; NULL in the root */
        struct config *cfg;       /* the pinned generation's parts (views only) */
        struct limits *limits;
        struct gpu_inventory *inv;
        gid_t admin_gid;         /* gid of cfg->admin_group, or (gid_t)-1 */
        char *config_path;       /* ds01.yaml as given at start-up; NULL: embedded defaults */
        struct nvml *nvml;       /* NULL with the simulated backend */
        struct notify *notify;   /* terminals, alerts file, webhook */
        struct monitor *monitor; /* sampling and enforcement (the activity it saw) */
        struct queuekick *kick;  /* rung when a waiting deploy may fit (gpus/queuekick.h) */
        struct usage *usage;     /* usage accounting (ds01 report) */
        struct outside *outside; /* GPUs busy outside ds01, as the monitor last saw them */
        struct storage *storage; /* workspace usage per user (storage/storage.h) */
        struct store *store;
        struct docker *docker;
        struct network *net; /* per-user Docker networks (network.h) */
        struct events *events;
        struct audit *audit;         /* auth.denied, aggregated (audit.h) */
        struct snapshot_cache *snap; /* the containers as last read (snapshot.h) */
        struct metrics **metrics;    /* main's /metrics server (moved by reload, one at a time) */
        struct ds01d *root;          /* the root context (itself in the root) */
        char *init_path;             /* host path of ds01-init, mounted at /.ds01/init */
        char *cp_path;               /* ds01-cp, for docker cp (dockerapi/copy.h); NULL: none */
        struct oplocks *ops;         /* one operation per container name (oplock.h) */
        struct exec_registry *execs; /* exec sessions handed out, and to whom (sessions.h) */
        struct relay *relay;         /* published ports' sockets and connections (relay.h) */
        struct slurmend *slurmend;   /* Slurm jobs to end, the watcher's doorbell (slurmend.h) */
        struct slurmlife *slurmlife; /* the watcher of Slurm jobs' containers (slurmlife.h) */
};
