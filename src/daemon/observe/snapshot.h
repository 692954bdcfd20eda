/* snapshot.h - the daemon's view of its managed containers, kept in memory so that reads
 * (container-list, container-stats, ds01 status, /metrics) never wait on Docker. Managed means
 * recorded in the ledger with its Docker id (store_records); owner and project come from the
 * ledger, never from labels (a build step carries whatever labels its Dockerfile set).
 *
 * A snapshot is immutable once published and reference-counted: a reader takes one, uses it
 * without locks, and puts it back. It is rebuilt (one Docker list, an inspect only of containers
 * that are new or changed, one ledger read) when something may have changed since it was built:
 *  - Docker reported an event for one of this instance's containers (watch.c);
 *  - a request that changes state finished (rpc.c, every method not marked read-only);
 *  - the ledger committed a change (store_generation: hold sweeps, reconciliation, ...);
 *  - the GPU inventory was swapped by a rescan;
 *  - Docker's event stream is down (then every read rebuilds: nothing is trusted);
 *  - it is older than SNAPSHOT_MAX_AGE_MS (a bound on anything missed; every change to a
 *    container comes with an event, so this is long: rebuilding on a timer would make dockerd
 *    list every container every few seconds for nothing).
 * Only one thread rebuilds at a time. A reader that finds the snapshot merely old is served it
 * while another rebuilds; one that finds it out of date waits for the rebuild. The event thread
 * rebuilds after each burst of events and the monitor at each tick, so a request seldom does. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#define SNAPSHOT_MAX_AGE_MS 60000

struct snap_lease {
        char *slot_uuid;
        char *state; /* "reserved" | "bound" | "held" */
        double weight;
        int64_t since;
        /* from the inventory at build time (NULL/-1 when the slot is gone) */
        char *gpu_uuid; /* the physical GPU (the slot itself for a full GPU) */
        char *name;     /* "NVIDIA A100-SXM4-40GB" */
        char *profile;  /* MIG profile, NULL for a full GPU */
        int gpu_index;  /* -1 unknown */
};

struct snap_container {
        char *id;
        char *name;
        char *project;
        char *user;
        int64_t uid; /* the owner, from the ledger */
        char *state; /* Docker's: running, exited, created, ... */
        char *image;
        char *interface; /* ds01.interface: "orchestration" (a deploy), docker, compose, ... */
        char *workspace;
        int64_t created_at, started_at, finished_at; /* unix seconds; 0 = never */
        int64_t exit_code;
        int64_t keepalive_until;    /* container-keepalive, 0 = none */
        int64_t manual_stop_at;     /* the owner's own stop since the last start, 0 = none */
        int ports[NAMES_PORTS_MAX]; /* published (container-port), ascending */
        size_t n_ports;
        struct snap_lease *leases;
        size_t n_leases;
        json_t *row; /* the container-list row (without the monitor's clocks and status) */
        /* the same row serialised, without its closing brace: a list request appends the
         * dynamic members and '}' instead of copying and serialising the row each time */
        char *row_text;
        size_t row_len;
};

struct snapshot {
        int64_t built_ms;  /* unix ms */
        int64_t listed_ms; /* unix ms: when Docker was asked for the list it holds */
        struct snap_container *containers;
        size_t n;
        /* private */
        int refs;
        uint64_t docker_gen, store_gen;
        uint64_t config_gen; /* the generation (generation.h) it was built with: its inventory */
};

struct snapshot_cache;

struct snapshot_cache *snapshot_cache_new(void);
struct snapshot_cache *snapshot_cache_free(struct snapshot_cache *c);

/* Docker reported an event for container `id` (NULL: something unknown changed). */
void snapshot_docker_event(struct snapshot_cache *c, const char *id);
/* Docker's event stream connected (true) or was lost (false). */
void snapshot_stream(struct snapshot_cache *c, bool up);
/* Whether Docker's event stream is connected now. */
bool snapshot_stream_up(struct snapshot_cache *c);
/* A state-changing request finished: the next read rebuilds. */
void snapshot_invalidate(struct snapshot_cache *c);

/* The current snapshot (a reference: snapshot_put it), rebuilt first if stale. d is a view
 * (generation.h). NULL with *err when Docker or the ledger cannot be read. */
const struct snapshot *snapshot_get(struct ds01d *d, struct error **err);
/* Rebuilds the snapshot if it is stale (as snapshot_get; an error leaves the last one). d is a
 * view. */
void snapshot_refresh(struct ds01d *d);
/* Whether snapshot_get would return at once (nothing changed, not too old). d is a view. */
bool snapshot_ready(struct ds01d *d);
void snapshot_put(struct snapshot_cache *c, const struct snapshot *s);
/* The last snapshot built, however old (a reference), never rebuilding: for readers that must
 * not wait on Docker (/metrics). The monitor refreshes it every tick. NULL before the first. */
const struct snapshot *snapshot_current(struct snapshot_cache *c);

/* Docker's "Status" text for a state and its times: "Up 5 minutes", "Exited (0) 2 hours ago". */
char *snapshot_status_text(const struct snap_container *sc, int64_t now);
