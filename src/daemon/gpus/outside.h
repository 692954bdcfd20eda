/* outside.h - GPUs busy outside ds01: a compute process on a GPU or MIG slot that is not a
 * ds01-managed container's process on a slot that container leases. At each monitor tick
 * (outside_scan) NVML lists the compute processes of every allocatable slot and each is
 * attributed, from /proc (procowner.h), to:
 *  - a managed container (its cgroup names that container's Docker id): normal on a slot the
 *    container leases; on any other slot it is outside use of that slot ("managed");
 *  - another Docker container ("container", named by an inspect: observed, never touched), or
 *    a process in a PID namespace of its own that names no Docker id (a container, unnamed);
 *  - the host ("host").
 * A slot with an outside use is leased to nobody while it lasts (placement asks outside_busy;
 * a refusal says which GPU, whose process, where). Each use is logged once when it starts
 * (gpu.unmanaged_use) and once when it ends (gpu.unmanaged_end), with the owner (the process's
 * real uid). Its owner is warned once per use (inbox, terminals, webhook: the idle warnings'
 * path) unless bare_metal_access.exempt_users lists them; root's processes are logged, not
 * warned. The process itself is never signalled: ds01 only observes.
 *
 * Locking: o->lock guards the published uses (written by the monitor thread at the end of a
 * scan, read by placement, status, health and /metrics); it is a leaf and never held across
 * NVML, /proc, Docker, the ledger or a notification. The name cache is the scan's own. */
#pragma once

#include "daemon/ds01d.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct outside;

struct outside *outside_new(void);
struct outside *outside_free(struct outside *o);

/* A container ds01 manages, as the monitor passes it: its Docker id, name, the slots it leases
 * (NULL-terminated; any lease state) and its main process on the host (0: not running or not
 * sampled), whose PID namespace identifies its processes when their cgroup names no Docker id
 * (another cgroup layout). */
struct outside_managed {
        const char *id;
        const char *name;
        char *const *slots;
        pid_t pid;
};

/* One process using a slot outside ds01. */
struct outside_use {
        char *slot_uuid;
        int gpu_index;
        char *profile; /* the MIG profile, NULL for a whole GPU */
        pid_t pid;
        uid_t uid;
        char *user;        /* the owner's login, "uid N" when the uid has no account */
        char *command;     /* /proc/PID/comm */
        const char *where; /* "host", "container" or "managed" (a literal) */
        char *container;   /* the container's name (NULL: a host process, or unnamed) */
        int64_t since;     /* unix s: the first scan that saw it */
        bool exempt;       /* bare_metal_access.exempt_users lists the owner */
};

/* The monitor's scan (its thread only; d a view): lists and attributes the processes, publishes
 * the uses, logs starts and ends and warns owners. Nothing without NVML. */
void outside_scan(struct ds01d *d, const struct outside_managed *managed, size_t n_managed);

/* A copy of the uses now (free with outside_uses_free); returns how many. */
size_t outside_uses(struct outside *o, struct outside_use **ret);
void outside_uses_free(struct outside_use *v, size_t n);

/* "GPU 2 is used by alice (pid 4242, host process 'python')": one use, for people. */
char *outside_use_text(const struct outside_use *u);

/* For placement: the slots in use outside ds01 now (NULL-terminated, empty when none; free with
 * strv_free) and, when there are any, *ret_why names the first use and how many more. */
char **outside_busy(struct outside *o, char **ret_why);

/* The uses as JSON: [{slot, gpu, profile?, pid, user, uid, command, where, container?, since,
 * exempt}] (status and health; administrators only). */
json_t *outside_json(struct outside *o);
