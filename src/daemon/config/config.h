/* config.h - ds01.yaml, the daemon settings file. Every key is optional; a missing
 * file path (NULL) gives the embedded defaults. Unknown keys and wrong types are errors that name
 * file:line and the fix. Each key's default, bounds and what a reload does with it live in one
 * place, the key table in config.c (contrib/ds01.yaml.example shows every key with its default);
 * the comments below say what a field means. */
#pragma once

#include "shared/error.h"

#include <stdbool.h>
#include <stdint.h>

struct config_sim_gpu {
        char *name;         /* "NVIDIA A100-SXM4-40GB" */
        int64_t memory_mib; /* 40960 */
        char **mig;         /* MIG profiles ("3g.20gb", ...), n_mig of them; none = full GPU */
        size_t n_mig;
};

struct config {
        char *source;            /* the file read, or "(embedded defaults)" */
        char *instance;          /* [a-z0-9][a-z0-9_.-]{0,62}: labels, networks, metrics */
        char *socket;            /* the CLI's unix socket */
        char *ports_dir;         /* published ports' sockets: <ports_dir>/<user>/<project>.<port> */
        char *docker_api_socket; /* the users' Docker API endpoint (dockerapi/), or "off" */
        /* the loopback TCP ports container-port --tcp hands out: ports_tcp_from..ports_tcp_to */
        int64_t ports_tcp_from, ports_tcp_to;
        char *state_dir;           /* the ledger, pins, the default spool */
        char *log_dir;             /* events.jsonl */
        char *docker_socket;       /* dockerd's API socket */
        char *limits_file;         /* resource-limits.yaml */
        char *workspace_root;      /* "home", or an absolute DIR (then DIR/<user>/<project>) */
        char *metrics_listen;      /* HOST:PORT of /metrics, or "off" */
        int64_t sample_interval_s; /* seconds between the monitor's samples */
        int64_t storage_scan_interval_s; /* seconds between measurements of the workspaces */
        char *gpu_backend;               /* "auto" | "nvml" | "simulated" */
        char *nvml_library;              /* a soname or an absolute path */
        /* How long ds01d may be down (beyond two sample_interval_s) and still count as
         * restarted, keeping the idle clocks and warnings it recorded (monitor.h). */
        int64_t restart_gap_s;
        /* gpus.docker_devices: how real GPUs reach a container. "device-requests": HostConfig.
         * DeviceRequests with the UUIDs (several MIG instances: the NVIDIA runtime and
         * NVIDIA_VISIBLE_DEVICES); "env": only NVIDIA_VISIBLE_DEVICES, for hosts whose default
         * runtime is nvidia; "auto" (default): device-requests with NVML, env when simulated. */
        char *docker_devices;
        struct config_sim_gpu *simulated; /* gpus.simulated: the simulated backend's GPUs */
        size_t n_simulated;
        char *image_default; /* images.default: deploy's image when the project has none */
        /* images.frameworks: name -> base image for image-create --framework NAME (a site points
         * them at its own mirror); "minimal" defaults to images.default. */
        struct config_framework {
                char *name;
                char *image;
        } * frameworks;
        size_t n_frameworks;
        int64_t build_timeout_s;     /* images.build_timeout_s */
        int64_t max_context_mb;      /* images.max_context_mb: one build's context */
        int64_t max_builds_per_user; /* images.max_builds_per_user: builds at once per user */
        int64_t max_spool_mb;        /* images.max_spool_mb: contexts being received, all users
                                      * together (in spool_dir) */
        /* images.max_images_mb_per_user: a user's images together (Docker's sizes), over which
         * their builds are refused; 0 = no limit */
        int64_t max_images_mb_per_user;
        char *spool_dir;   /* images.spool_dir: where contexts are received; NULL = state_dir (a
                            * file system of its own keeps them off the ledger's) */
        char *webhook_url; /* notify.webhook_url: NULL = none */
        char *admin_group; /* admin_group (root is always admin) */
        char *init_path;   /* init_path: NULL = find ds01-init beside ds01d or in
                            * ../libexec/ds01/ */
        int64_t max_requests_per_uid; /* requests in flight per uid */
        /* A reserved slot no member has leased this many minutes into its reservation's window
         * is everyone's until the window ends (0: at the window's start). */
        int64_t reservation_unused_release_m;
        /* queue.*: the order of deploys waiting for GPUs (gpus/queue.h): a user's GPU-hours
         * count half after fairshare_half_life_d days; a request's priority is weight_fairshare x
         * its owner's fair-share factor + weight_age x its age (full after max_age_h); the queue
         * is considered every pass_interval_s at least */
        int64_t queue_half_life_d, queue_weight_fairshare, queue_weight_age, queue_max_age_h;
#define QUEUE_DEFAULT_HALF_LIFE_D      7
#define QUEUE_DEFAULT_WEIGHT_FAIRSHARE 1000
#define QUEUE_DEFAULT_WEIGHT_AGE       3000 /* bench/sim: the tail wait of FCFS, or near */
#define QUEUE_DEFAULT_MAX_AGE_H        6
        int64_t queue_pass_interval_s;
        /* events.jsonl is rotated when an append would take it past events_max_kb KiB:
         * events.jsonl -> .1 -> .2 ...; events_keep rotated files are kept, older ones deleted. */
        int64_t events_max_kb;
        int64_t events_keep;
        /* ds01d.log (stderr, when a regular file) is rotated past log_max_kb KiB (0 = never),
         * keeping log_keep old files. */
        int64_t log_max_kb;
        int64_t log_keep;
        /* Requests each uid may make: a token bucket of request_burst_per_uid filled at
         * requests_per_s_per_uid a second; 0 = unlimited. */
        int64_t requests_per_s_per_uid;
        int64_t request_burst_per_uid;
        /* Denied requests of one (uid, action, target) are written to events.jsonl and the log
         * once, then counted and written as one event per audit_window_s; a uid's first
         * audit_names_per_uid targets in a window are itemised, the rest counted together. */
        int64_t audit_window_s;
        int64_t audit_names_per_uid;
        /* service_uids: uids without a passwd entry that may still use ds01 (ranges lo..hi);
         * every other caller needs an account. */
        struct config_uid_range {
                int64_t lo, hi;
        } * service_uids;
        size_t n_service_uids;
        /* datasets: read-only data an administrator offers, NAME -> {path, groups}; a user names
         * one (container-deploy --data NAME) and gets it at /data/NAME */
        struct config_dataset {
                char *name;
                char *path;    /* absolute, as written */
                char **groups; /* the ds01 groups that may use it (NULL-terminated); NULL: all */
        } * datasets;
        size_t n_datasets;
        /* ssh_keys: every deploy mounts the user's ~/.ssh and ~/.gitconfig as --ssh does
         * (sshkeys.h), where the user has a ~/.ssh; --no-ssh opts out. */
        bool ssh_keys;
        /* board_show_users: the board (observe/board.h) names who holds each GPU and who is
         * in each reservation; false: everyone sees only their own. */
        bool board_show_users;
        /* metrics_token_file: a file holding the bearer token that gets per-user series from
         * /metrics (NULL: nobody gets them; anonymous scrapes get aggregates). */
        char *metrics_token_file;
        /* network.pool: the IPv4 range the per-user and per-user build networks take their
         * subnets from, network.subnet_prefix bits each (network.h). */
        char *network_pool;
        int64_t network_subnet_prefix;
        /* network.require_isolation: refuse to start unless dockerd keeps its bridge
         * networks apart (network_check_isolation) and the host's users can be kept out of
         * them (network_firewall_start); false skips both. */
        bool network_require_isolation;
        /* cluster: the Slurm cluster these ds01 hosts belong to (cluster/slurmsync.h); NULL:
         * single-server mode (the key is absent), nothing Slurm is touched. */
        struct config_cluster {
                char *backend;        /* "slurm" */
                char *name;           /* Slurm's ClusterName (sacctmgr's cluster=) */
                char *slurm_conf;     /* SLURM_CONF for Slurm's commands; NULL: Slurm's default */
                char *slurm_bin;      /* the directory of sacctmgr (/usr/bin) */
                char *account_prefix; /* ds01's accounts and QOS: <prefix><group> (ds01_) */
                char *node;           /* this host's NodeName in slurm.conf (the short hostname) */
                /* accounts: Slurm has slurm-sync's accounts and QOS (slurmdbd); a submitted
                 * deploy names them. false for a Slurm without accounting. Default true. */
                bool accounts;
        } * cluster;
};

/* path NULL: embedded defaults. */
struct config *config_load(const char *path, struct error **err);

/* What a reload (`ds01 reload`, SIGHUP) does with a key whose value changed. */
enum config_reload {
        CONFIG_RELOAD_LIVE,    /* read where it is used: the next use sees the new value */
        CONFIG_RELOAD_APPLY,   /* the reload runs the key's step (enum config_apply) */
        CONFIG_RELOAD_RESTART, /* a reload that changes it is refused; only a restart does */
        CONFIG_RELOAD_START,   /* read once at start-up: the reload takes the file, and the
                                * running daemon keeps the old value until it restarts */
};

/* The steps a reload runs to apply CONFIG_RELOAD_APPLY keys (bits). */
enum config_apply {
        CONFIG_APPLY_NONE = 0,
        CONFIG_APPLY_ADMIN_GROUP = 1 << 0,     /* admin_group: look the gid up again */
        CONFIG_APPLY_EVENTS_ROTATION = 1 << 1, /* events_max_kb, events_keep */
        CONFIG_APPLY_LOG_ROTATION = 1 << 2,    /* log_max_kb, log_keep */
        CONFIG_APPLY_AUDIT = 1 << 3,           /* audit_window_s, audit_names_per_uid */
        CONFIG_APPLY_METRICS = 1 << 4,         /* metrics_listen: move the /metrics server */
};

/* What a reload does with key (dotted: "images.max_context_mb"), and in *ret_apply (when not
 * NULL) its step; -ENOENT for a key ds01.yaml does not have. */
int config_key_reload(const char *key, enum config_apply *ret_apply);
/* The first key, in the table's order, whose reload is `how` and whose value differs between
 * running and loaded; NULL when none does. A reload refuses a file for which
 * config_changed(running, loaded, CONFIG_RELOAD_RESTART) names a key. */
const char *config_changed(const struct config *running, const struct config *loaded,
                           enum config_reload how);
/* The apply steps (enum config_apply bits) of the keys whose values differ. */
unsigned config_apply_steps(const struct config *running, const struct config *loaded);
struct config *config_free(struct config *c);
/* "A.B.C.D/N": *ret_base (host byte order; host bits must be zero) and *ret_bits; -1 if
 * malformed. */
int config_parse_ipv4_cidr(const char *s, uint32_t *ret_base, int *ret_bits);
