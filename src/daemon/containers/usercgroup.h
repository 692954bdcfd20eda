/* usercgroup.h - each user's parent cgroup, which caps all of their managed containers together
 * (resource-limits.yaml's `aggregate:` and max_tasks; struct limit_aggregate in limits.h).
 * Docker makes each container's own cgroup below it (HostConfig.CgroupParent), so one user's
 * containers share the user's CPU, memory and tasks caps, and another user's never do.
 *
 * Where, by Docker's cgroup driver (asked once, from GET /info), below a parent named for the
 * instance (ds01.yaml's `instance`, "ds01" by default: two ds01d on one host never share one):
 *   cgroupfs: /<instance>/u<uid>, made here in the unified tree (v2) or in the cpu, cpuacct,
 *             memory and pids hierarchies (v1), and the caps written into it. v1 has no
 * memory.high: the soft limit stands in for it. In v1 a container may not have more CPU than its
 *             parent, so spec.c never gives it more than the user's cpu_quota.
 *   systemd:  the slice <instance>-u<uid>.slice (dashes in the instance as '_'), its CPUQuota,
 *             MemoryMax, MemoryHigh and TasksMax set with `systemctl set-property --runtime`.
 * The cgroups stay when the user's containers go: a stopped container starts in its parent
 * again, and usercgroup_prepare writes the caps in force at every create and start;
 * usercgroup_refresh writes them into every user cgroup after a reload.
 *
 * State: the driver, probed once under a mutex; everything else is the kernel's. */
#pragma once

#include "daemon/config/limits.h"
#include "daemon/ds01d.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Makes uid's parent cgroup with ls's aggregate caps (unlimited where ls has none) and returns
 * the CgroupParent for Docker. NULL: ls has no aggregate caps and make is false (a create
 * without caps runs in Docker's default parent), or the caps cannot be applied (logged; the
 * container still has its own limits). make: a start of a container made under a user cgroup,
 * which must find it again. */
char *usercgroup_prepare(struct ds01d *d, uid_t uid, const struct limit_set *ls, bool make);

/* After a reload: every user cgroup there is gets its owner's caps as the limits now say. */
void usercgroup_refresh(struct ds01d *d);

struct usercgroup_use {
        int64_t memory; /* bytes charged to the user's containers */
        int64_t tasks;  /* processes and threads */
        double cpu_s;   /* CPU time used since the cgroup was made (< 0: unknown) */
};

/* uid's use now; false when uid has no user cgroup. */
bool usercgroup_use(struct ds01d *d, uid_t uid, struct usercgroup_use *ret);

/* Writes value to a cgroup file (never following a link); false on failure (errno set). */
bool usercgroup_write(const char *path, const char *value);
