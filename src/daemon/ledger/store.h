/* store.h - the ledger: SQLite (WAL, versioned schema) in state_dir/ledger.db.
 *
 * It records every managed container by name (from the moment its GPUs are reserved, before Docker
 * is asked to create it) with its Docker id once created, and every GPU lease. A container is
 * managed only while its row records it (store_records): nothing is adopted from labels. The slot
 * UUID is the lease table's primary key, so a slot can never be leased twice, whatever races.
 * Every decision is one transaction (BEGIN IMMEDIATE); the store serialises callers and is safe to
 * use from many threads. Never hold it across a Docker call: reserve, then create, then bind or
 * roll back.
 *
 * Lease states: "reserved" (container being created) -> "bound" (container exists) -> "held"
 * (container stopped; issue #4) -> released (row deleted). */
#pragma once

#include "daemon/gpus/gpu.h"
#include "shared/names.h"

struct store;

/* A free slot as the placement policy sees it inside the reservation transaction. */
struct store_free_slot {
        const struct gpu_slot *slot;
        int64_t leased_s;      /* total seconds it was leased (released leases) */
        int64_t last_released; /* unix time its last lease ended; 0 = never */
};

/* The placement policy: choose up to n of the free slots; write their indices to ret_idx and
 * return how many were chosen (fewer than n means the request cannot be met). */
typedef size_t (*store_pick_fn)(const struct store_free_slot *free, size_t n_free, size_t n,
                                void *ctx, size_t *ret_idx);

struct store_reservation_req {
        const char *container; /* "<project>._.<user>" */
        const char *project;
        const char *user; /* login name */
        unsigned uid;
        int n_slots; /* 0: CPU-only (still counts as a container) */
        /* limits; negative = unlimited */
        double max_gpu_equivalents;
        int64_t max_slots_per_container;
        int64_t max_containers;
        /* the slots this request may use (allocatable, within the user's limits) */
        const struct gpu_slot *const *candidates;
        size_t n_candidates;
        /* chooses among the free candidates; NULL: the first n in candidate order */
        store_pick_fn pick;
        void *pick_ctx;
        /* true: lease slots for a container already in the ledger (a start after its hold
         * expired); the container limit is not checked again. */
        bool existing;
        /* slots an administrators' reservation keeps from this requester (NULL-terminated, may
         * be NULL), and why, for the refusal ("'exam' from ... to ...") */
        char *const *withheld;
        const char *withheld_why;
        /* slots in use outside ds01 now (outside.h; NULL-terminated, may be NULL), and whose
         * process, for the refusal ("GPU 2 is used by alice (pid 4242, host process ...)") */
        char *const *outside;
        const char *outside_why;
        /* optional: set true when the refusal is only that the slots it may use are taken now
         * (a wait can help), false on any other refusal */
        bool *ret_busy;
        /* others wait for GPUs: no slot counts as free for this request (the checks still run) */
        bool queue_ahead;
};

struct store_drain {
        char *slot_uuid;
        char *by;
        char *reason;
        int64_t since;
};

struct store_lease {
        char *slot_uuid;
        char *container;
        unsigned uid;
        char *state; /* "reserved" | "bound" | "held" */
        double weight;
        int64_t since;     /* unix seconds of the last state change */
        int64_t leased_at; /* unix seconds it was first reserved */
};

struct store_container {
        char *name;
        char *project;
        char *user;
        unsigned uid;
        char *docker_id; /* NULL while reserved */
        char *state;     /* "reserved" | "bound" */
        int64_t created_at;
        int64_t keepalive_until; /* container-keepalive: unix time, 0 = none */
        /* the monitor's clocks as it last recorded them (store_save_clocks; 0: never) */
        int64_t last_active_ms, clocks_at_ms;
        int idle_warned, runtime_warned;
        /* a container ds01 recreated on another GPU: where its runtime count starts, that of
         * the container it replaced (unix ms; 0: its own Docker creation; -1: recorded before
         * ds01 kept this, unknown) */
        int64_t runtime_from_ms;
        /* the owner's own stop (container-stop, docker stop) since the last start: unix s; 0:
         * none (gpu_hold_after_manual_stop_m applies to its hold) */
        int64_t manual_stop_at;
        /* the Slurm job the container belongs to (cluster mode, cluster/slurmdeploy.h); 0: none */
        int64_t slurm_job;
        /* published service ports (container-port), ascending, and the loopback TCP port of each
         * (0: none) */
        int ports[NAMES_PORTS_MAX], tcp_ports[NAMES_PORTS_MAX];
        size_t n_ports;
        /* the name its pins (pins.h) are under when it was renamed: the name Docker created it
         * with, which its mounts keep (NULL: its own name; store_pin_name) */
        char *pin;
        struct store_lease *leases;
        size_t n_leases;
};

struct store *store_open(const char *state_dir, struct error **err);
/* Counts committed transactions that changed containers or leases (readers cache what they
 * read; usage and inbox writes do not count). */
uint64_t store_generation(struct store *s);
struct store *store_free(struct store *s);

/* One transaction: checks max_containers (the user's rows in the ledger), max_slots_per_container,
 * max_gpu_equivalents (sum of weights of the user's leases + the new ones), then takes the first
 * n_slots free candidates and records the container row and its leases as "reserved".
 * Refusals are DS01_ERESOURCE with a message that names the limit, the numbers, the user's
 * containers holding them, and the fix, e.g.
 *   "GPU quota reached: 2.0 of 2.0 GPU-equivalents in use by 'exp-a', 'exp-b' - retire one
 *    (container-retire NAME)".
 *   "container limit reached: 3 of 3 containers ('a', 'b', 'c') - retire one (container-retire
 *    NAME)"
 *   "no GPU free: all 4 GPUs are leased - try again later, or deploy with --cpu-only"
 * A container name already in the ledger is DS01_ERR "already recorded".
 * On success *ret_uuids is a NULL-terminated array of the leased slot UUIDs (free with
 * store_strv_free). */
int store_reserve(struct store *s, const struct store_reservation_req *req, char ***ret_uuids,
                  struct error **err);
/* reserved -> bound, recording the Docker id. (Drained slots are never chosen.) */
int store_bind(struct store *s, const char *container, const char *docker_id, struct error **err);
/* Deletes the container row and releases its leases (rollback of a reservation, or removal).
 * *ret_released (optional) gets the released slot UUIDs. Unknown container: 0, nothing released. */
int store_forget(struct store *s, const char *container, char ***ret_released, struct error **err);
/* The container stopped: its bound leases become "held" (since = now). Returns how many. */
int store_hold(struct store *s, const char *container, struct error **err);
/* The container started again: its held leases become "bound". Returns how many. */
int store_unhold(struct store *s, const char *container, struct error **err);
/* Releases all the container's leases but keeps its row (an enforcement stop; a failed
 * re-lease). *ret_released (optional) gets the slot UUIDs. */
int store_release_leases(struct store *s, const char *container, char ***ret_released,
                         struct error **err);
/* A hold expired: releases the container's leases that are still "held", checked in the same
 * transaction, and keeps its row. A start binds them first (store_unhold), so a start that won
 * the race keeps its GPUs and one that lost finds none and leases again. */
int store_release_held(struct store *s, const char *container, char ***ret_released,
                       struct error **err);
/* The container is about to be recreated (a re-lease on other GPUs): back to "reserved" with no
 * Docker id until store_bind records the new one, as for a deploy. */
int store_unbind(struct store *s, const char *container, struct error **err);
/* Whether ledger row c records Docker's container (name, docker_id): bound, same name, same
 * Docker id. The only proof that this daemon created a container: labels prove nothing (any
 * image's LABEL, and everyone who can reach Docker, can set them). */
bool store_records(const struct store_container *c, const char *name, const char *docker_id);

/* Drained slots get no new leases; existing leases are untouched. drain returns 1 if newly
 * drained, 0 if it already was; undrain 1 if it was drained, 0 if not. */
int store_drain(struct store *s, const char *slot_uuid, const char *by, const char *reason,
                struct error **err);
int store_undrain(struct store *s, const char *slot_uuid, struct error **err);
int store_drains(struct store *s, struct store_drain **ret, size_t *ret_n, struct error **err);
void store_drains_free(struct store_drain *v, size_t n);

/* An administrator's reservation of slots for a window (gpus/reservations.h; Slurm's word, not
 * a container's lease reservation above). */
struct store_resv {
        char *name;
        int64_t start_s, end_s; /* the window [start_s, end_s), unix s */
        char *users;            /* member logins, comma-separated; "" for none */
        char *group;            /* member limits group; "" for none */
        char *created_by;
        int64_t created_at;
        char **slots; /* its slot UUIDs, NULL-terminated */
        bool *used;   /* per slot: a member has leased it in the window */
        size_t n_slots;
};
/* Records r (slots included). DS01_EUSAGE when the name is taken or another reservation's
 * window overlaps r's on one of its slots (naming it). */
int store_resv_add(struct store *s, const struct store_resv *r, struct error **err);
/* 1 deleted, 0 no such reservation, -1 error. */
int store_resv_delete(struct store *s, const char *name, struct error **err);
/* The reservations whose window has not ended at now, by start (ended ones are deleted when the
 * next is added). */
int store_resv_list(struct store *s, int64_t now, struct store_resv **ret, size_t *ret_n,
                    struct error **err);
/* A member leased slot_uuid of reservation name in its window. */
int store_resv_mark_used(struct store *s, const char *name, const char *slot_uuid,
                         struct error **err);
void store_resv_free(struct store_resv *v, size_t n);

/* A deploy waiting for GPUs (gpus/queue.h). */
struct store_queued {
        int64_t id;
        unsigned uid;
        char *user, *project;
        char *params; /* the container.deploy request, JSON */
        int n_slots;
        int64_t created_at, expires_at; /* unix s; expires_at 0: never */
        double boost;                   /* an administrator's move */
        bool granting;                  /* a grant's deploy is under way (or was, at a crash) */
};
/* Adds q (id, boost and granting are ignored); *ret_id its id. DS01_EUSAGE when the user has a
 * request for that project waiting already. */
int store_queue_add(struct store *s, const struct store_queued *q, int64_t *ret_id,
                    struct error **err);
/* How many requests wait; 0 on a ledger error (logged). */
int64_t store_queue_count(struct store *s);
/* Every waiting request, oldest first. */
int store_queue_list(struct store *s, struct store_queued **ret, size_t *ret_n, struct error **err);
void store_queue_free(struct store_queued *v, size_t n);
/* 1 removed, 0 no such request, -1 error. */
int store_queue_remove(struct store *s, int64_t id, struct error **err);
int store_queue_set_granting(struct store *s, int64_t id, bool granting, struct error **err);
int store_queue_set_boost(struct store *s, int64_t id, double boost, struct error **err);

/* The monitor's clocks of running containers, recorded when the daemon stops (one transaction):
 * the idle clock's start and the warnings given, as of at_ms. A container not in the ledger is
 * skipped. */
struct store_clocks {
        const char *container;
        int64_t last_active_ms, at_ms;
        int idle_warned, runtime_warned;
};
int store_save_clocks(struct store *s, const struct store_clocks *v, size_t n, struct error **err);
/* Before ds01 recreates a container: the replacement's runtime count starts at from_ms (unix
 * ms), where the replaced one's started. */
int store_set_runtime_from(struct store *s, const char *container, int64_t from_ms,
                           struct error **err);
/* container-keepalive: until (unix time; 0 = off). */
/* Publishes a port of a container in the ledger (container-port add). DS01_ENOTFOUND: no such
 * row; DS01_ERR: already published; DS01_EUSAGE: the container has NAMES_PORTS_MAX already. */
int store_port_add(struct store *s, const char *container, int port, struct error **err);
/* Records the loopback TCP port a published port is also served on (0: none). */
int store_port_set_tcp(struct store *s, const char *container, int port, int tcp,
                       struct error **err);
/* Unpublishes it; DS01_ENOTFOUND when it was not published. */
int store_port_remove(struct store *s, const char *container, int port, struct error **err);
int store_set_keepalive(struct store *s, const char *container, int64_t until, struct error **err);
/* The owner stopped the container at `at` (0: it started again). */
int store_set_manual_stop(struct store *s, const char *container, int64_t at, struct error **err);
/* Records the Slurm job the container belongs to. */
int store_set_slurm_job(struct store *s, const char *container, int64_t job, struct error **err);

/* The inbox: warnings and stops for a user, shown once by the next CLI command. */
struct store_inbox_msg {
        int64_t id;
        char *container;
        char *event;
        char *message;
        int64_t created_at;
};
int store_inbox_add(struct store *s, unsigned uid, const char *container, const char *event,
                    const char *message, struct error **err);
/* The messages not shown yet, oldest first, marked shown. */
int store_inbox_take(struct store *s, unsigned uid, struct store_inbox_msg **ret, size_t *ret_n,
                     struct error **err);
/* The newest `limit` messages, shown or not, newest first. */
int store_inbox_list(struct store *s, unsigned uid, int64_t limit, struct store_inbox_msg **ret,
                     size_t *ret_n, struct error **err);
void store_inbox_free(struct store_inbox_msg *v, size_t n);

/* Containers (with their leases) of uid, or of everyone when uid < 0. */
int store_list(struct store *s, int64_t uid, struct store_container **ret, size_t *ret_n,
               struct error **err);
/* One container by name; 0 and *ret filled, or DS01_ENOTFOUND. */
int store_get(struct store *s, const char *container, struct store_container *ret,
              struct error **err);
void store_container_release(struct store_container *c);
/* The name c's pins are under: c->pin, or else its name. */
const char *store_pin_name(const struct store_container *c);
/* Container `from` becomes `to` (of project `project`), in one transaction: its row under the
 * new name (its pin stays the old one's, store_pin_name), its leases and published ports moved,
 * the old row gone. Its inbox and lease history keep the old name: they are history.
 * DS01_ERESOURCE when `to` is in the ledger already, DS01_ENOTFOUND when `from` is not. */
int store_rename(struct store *s, const char *from, const char *to, const char *project,
                 struct error **err);
/* The container is under its own name again (a recreate made its Docker container anew). */
int store_clear_pin(struct store *s, const char *container, struct error **err);
/* How many containers are named pin or have their pins under it; -1 on error. */
int store_pin_users(struct store *s, const char *pin, struct error **err);
void store_containers_free(struct store_container *v, size_t n);
void store_strv_free(char **v);

/* Usage accounting (ds01 report): per user per UTC day, GPU-equivalent seconds allocated (leases
 * bound or held) and active (the container busy), and counts of deploys and enforcement stops. */
struct store_usage {
        char day[11]; /* "YYYY-MM-DD" (UTC); empty in store_usage_month's sums */
        unsigned uid;
        char *user; /* login name */
        double allocated_s, active_s;
        int64_t containers, enforcement_stops;
};
/* Adds every row to its (day, uid) totals, all in one transaction. */
int store_usage_add(struct store *s, const struct store_usage *v, size_t n, struct error **err);
/* The sums over month "YYYY-MM" per user (uid, or everyone when uid < 0), ordered by user name;
 * users without a row that month are absent. */
int store_usage_month(struct store *s, const char *month, int64_t uid, struct store_usage **ret,
                      size_t *ret_n, struct error **err);
void store_usage_free(struct store_usage *v, size_t n);
/* GPU-equivalent seconds allocated per user per day since day ("YYYY-MM-DD"): ret[i].day, uid,
 * user and allocated_s. */
int store_usage_since(struct store *s, const char *day, struct store_usage **ret, size_t *ret_n,
                      struct error **err);

/* A released lease (lease_history). */
struct store_released {
        char *container;
        unsigned uid;
        double weight;
        int64_t leased_at, released_at; /* unix seconds */
};
/* For the accounting tick, in one read transaction: every container with its leases (as
 * store_list), and the leases released at or after released_since (unix seconds). */
int store_usage_snapshot(struct store *s, int64_t released_since, struct store_container **ret,
                         size_t *ret_n, struct store_released **ret_rel, size_t *ret_n_rel,
                         struct error **err);
void store_released_free(struct store_released *v, size_t n);
