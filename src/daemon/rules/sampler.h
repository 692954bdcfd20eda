/* sampler.h - what a running container is doing, read from the kernel, never from `docker stats`
 * (about 1.5 s a call): CPU time from its cgroup (v1 cpuacct or v2 cpu.stat, either cgroup
 * driver) and network bytes from its network namespace (/proc/<pid>/net/dev). */
#pragma once

#include "shared/error.h"

#include <sys/types.h>

/* Where a container's CPU counter lives, found once from /proc/<pid>/cgroup and the mounts. */
struct sampler_cgroup {
        char *path; /* ".../cpuacct.usage" (ns) or ".../cpu.stat" (usage_usec) */
        bool v2;
        char *mem_dir;  /* the memory controller's directory, NULL if none */
        char *pids_dir; /* the pids controller's directory, NULL if none */
};

/* Resolves the CPU counter of the cgroup that process pid is in. */
int sampler_cgroup_find(pid_t pid, struct sampler_cgroup *ret, struct error **err);
void sampler_cgroup_release(struct sampler_cgroup *cg);
/* The counters of the cgroup at rel ("/ds01/u1000") in every hierarchy; -1 when there is no
 * cpuacct or cgroup2 hierarchy, or rel has no CPU counter. */
int sampler_cgroup_at(const char *rel, struct sampler_cgroup *ret);
/* The directory of rel in the v1 hierarchy of controller ctl, or in the cgroup2 tree (ctl NULL),
 * with a trailing '/'; NULL when that hierarchy is not mounted. */
char *sampler_cgroup_dir(const char *ctl, const char *rel);
/* CPU time used by the cgroup, in nanoseconds. */
int sampler_cpu_ns(const struct sampler_cgroup *cg, uint64_t *ret, struct error **err);
/* Bytes received + sent on every interface but lo of pid's network namespace. */
int sampler_net_bytes(pid_t pid, uint64_t *ret, struct error **err);
/* The same, received and sent apart. */
int sampler_net_rx_tx(pid_t pid, uint64_t *ret_rx, uint64_t *ret_tx, struct error **err);
/* Memory in use as `docker stats` counts it (usage minus inactive file cache) and the limit
 * (0 = none). -1 when the cgroup has no memory controller. */
int sampler_memory(const struct sampler_cgroup *cg, uint64_t *ret_used, uint64_t *ret_limit);
/* Tasks (processes and threads) in the cgroup; -1 without a pids controller. */
int sampler_pids(const struct sampler_cgroup *cg, uint64_t *ret);
