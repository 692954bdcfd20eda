/* limits.h - DS01's resource-limits.yaml and the effective
 * limits of one user: defaults ⊕ group ⊕ user override, where the override inherits from the
 * user's group (DS01 drops the group layer; we do not).
 *
 * Files read, all beside the limits file: resource-limits.yaml itself, groups/<g>.members (one
 * login per line, '#' comments), user-overrides.yaml ({user: {key: value, policies: {...}}}),
 * lifecycle-exemptions.yaml, group-overrides.txt (LOGIN:GROUP lines) and
 * groups/archived.members. Group membership: group-overrides.txt first; else members files ∪
 * inline `members:` ∪ unix group (`groups.<g>.unix_group: NAME`), the first group in file order
 * winning; else `default_group`.
 * A missing limits file means built-in defaults (DS01's `defaults:` values, one group
 * "student"). Unknown keys and bad values are errors with file:line. Keys that DS01 files have but
 * ds01 does not use are accepted and reported by limits_unused_keys(). */
#pragma once

#include "shared/error.h"

#include <sys/types.h>

/* Unlimited / null values are negative. */
struct limit_policies {
        double gpu_idle_threshold;          /* % (5) */
        double cpu_idle_threshold;          /* % (2.0) */
        int64_t network_idle_threshold;     /* bytes per sample interval (1048576) */
        double grace_period_m;              /* 30 */
        double keepalive_max_duration_h;    /* 24 */
        int64_t sigterm_grace_s;            /* 60 */
        double created_container_timeout_m; /* 30 */
        double idle_warn_1;    /* fraction of idle timeout for the 1st warning (0.80) */
        double idle_warn_2;    /* 2nd warning (0.95) */
        double runtime_warn_1; /* 0.75 */
        double runtime_warn_2; /* 0.90 */
        /* High demand (rules_high_demand): the share of GPU slots leased at which idle timeouts
         * shrink (0-1; < 0: never, the default), and the fraction taken off them then (0.5). */
        double high_demand_threshold;
        double high_demand_idle_reduction;
        /* idle samples in a row before an idle warning or stop (DS01's idle checks in a row);
         * 1: the one that finds the timeout passed */
        int64_t idle_detection_window;
        /* the GPU hold after the owner's own stop, minutes (< 0: gpu_hold_after_stop_h) */
        double gpu_hold_after_manual_stop_m;
};

struct limit_set {
        char *user;
        char *group;                         /* the group whose values apply */
        bool overridden;                     /* a user override applied on top of the group */
        double max_gpu_equivalents;          /* < 0: unlimited */
        int64_t max_gpu_slots_per_container; /* < 0: unlimited */
        bool allow_full_gpu;
        double max_cpus;                   /* <= 0: unlimited */
        int64_t memory;                    /* bytes; < 0: unlimited */
        int64_t memory_swap;               /* bytes; < 0: unlimited */
        int64_t shm_size;                  /* bytes; < 0: docker default */
        int64_t pids_limit;                /* < 0: unlimited */
        int64_t io_read_bps, io_write_bps; /* bytes/s on the disks of Docker and the
                                            * workspaces; < 0: unlimited */
        int64_t ulimit_nofile;             /* open files (soft and hard); < 0: Docker's */
        int64_t max_tasks; /* tasks of all the user's containers together, where aggregate gives
                            * no tasks_max (DS01's defaults: 32768); < 0: unlimited */
        /* groups.<g>.aggregate (an override's replaces it key by key): caps on all of a user's
         * managed containers together, enforced by their parent cgroup (usercgroup.h); < 0:
         * none. After limits_resolve, tasks_max includes max_tasks. */
        struct limit_aggregate {
                double cpu_quota;    /* CPUs; DS01 writes systemd's "9600%" (= 96) */
                int64_t memory_max;  /* bytes: over it the kernel reclaims, then OOM-kills */
                int64_t memory_high; /* bytes: over it the kernel reclaims hard (throttling) */
                int64_t tasks_max;   /* processes and threads */
                double gpu_limit;    /* GPU-equivalents: lowers max_gpu_equivalents */
        } aggregate;
        int64_t max_containers_per_user; /* < 0: unlimited */
        int64_t priority; /* DS01's group priority: the user's share in the queue's fair share */
        int64_t storage_workspace;          /* bytes in the user's workspaces; < 0: unlimited */
        double max_runtime_h;               /* < 0: none */
        double idle_timeout_h;              /* < 0: none */
        double gpu_hold_after_stop_h;       /* < 0: indefinite */
        double container_hold_after_stop_h; /* < 0: never removed */
        struct limit_policies policies;
};

struct limits;

/* path NULL or a file that does not exist: built-in defaults. */
struct limits *limits_load(const char *path, struct error **err);
struct limits *limits_free(struct limits *l);

/* Effective limits for login `user` whose groups are gids[0..n_gids). Fills *ret (release with
 * limit_set_release). Never fails for an unknown user: they get the default group. With
 * `enforcement: {aggregate_limits: false}` the aggregate's cgroup caps are off (its gpu_limit
 * still applies). */
void limits_resolve(const struct limits *l, const char *user, const gid_t *gids, size_t n_gids,
                    struct limit_set *ret);
void limit_set_release(struct limit_set *s);
/* Whether s caps the user's containers together (a CPU, memory or tasks cap). */
bool limit_set_has_aggregate(const struct limit_set *s);
/* A container made through the Docker API endpoint: its interface's container_types values
 * (idle timeout, runtime cap - -1 when the type is exempt - and SIGTERM grace) replace the
 * owner's in ls. Other interfaces ("orchestration", NULL) change nothing. */
void limits_apply_interface(const struct limits *l, const char *interface, struct limit_set *ls);

enum limits_rule { LIMITS_IDLE, LIMITS_RUNTIME };

/* lifecycle-exemptions.yaml: the reason `user` is exempt from the idle timeout or the runtime cap
 * at time `now` (an exemption whose expires_on has passed no longer applies), or NULL. The string
 * belongs to l. */
const char *limits_exemption(const struct limits *l, const char *user, enum limits_rule rule,
                             int64_t now);

/* Dotted key paths present in the file(s) that ds01 accepts but does not act on
 * ("access_control", "gpu_allocation", "enforcement.cgroup_driver", ...), NULL-terminated. */
const char *const *limits_unused_keys(const struct limits *l);
/* Whether user is archived (groups/archived.members beside the limits file): they may not
 * deploy; what they have stays theirs to stop and retire. */
bool limits_archived(const struct limits *l, const char *user);
/* Whether user is listed in bare_metal_access.exempt_users: their GPU use outside ds01 (a host
 * process, a container ds01 does not manage) is expected and gets no warning (outside.h). */
bool limits_bare_metal_exempt(const struct limits *l, const char *user);
/* Group names in file order, NULL-terminated. */
const char *const *limits_groups(const struct limits *l);
/* The logins a group lists (members files and inline members, sorted; not unix_group members):
 * *ret points into l. Returns how many; 0 for an unknown group. */
size_t limits_group_members(const struct limits *l, const char *group, const char *const **ret);
/* A group's own values (built-in ⊕ defaults ⊕ the group; no user's override), with its
 * aggregate gpu_limit folded into max_gpu_equivalents as limits_resolve does; false for an
 * unknown group. *ret's user and group are NULL; nothing to release. */
bool limits_group_values(const struct limits *l, const char *group, struct limit_set *ret);
/* The logins group-overrides.txt assigns, with their group: *ret_users[i] belongs to group
 * (*ret_groups)[i]; the arrays are the caller's to free, the strings l's. Returns how many. */
size_t limits_forced_users(const struct limits *l, const char ***ret_users,
                           const char ***ret_groups);
