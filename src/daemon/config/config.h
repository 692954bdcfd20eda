/* config.h - ds01.yaml, the daemon settings file. Every key is optional; a missing
 * file path (NULL) gives the embedded defaults. Unknown keys and wrong types are errors that name
 * file:line and the fix. */
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
        char *source;              /* the file read, or "(embedded defaults)" */
        char *instance;            /* "ds01": [a-z0-9][a-z0-9_.-]{0,62} */
        char *socket;              /* "/run/ds01/ds01.sock" */
        char *state_dir;           /* "/var/lib/ds01" */
        char *log_dir;             /* "/var/log/ds01" */
        char *docker_socket;       /* "/var/run/docker.sock" */
        char *limits_file;         /* "/etc/ds01/resource-limits.yaml" */
        char *workspace_root;      /* "home", or an absolute DIR (then DIR/<user>/<project>) */
        char *metrics_listen;      /* "127.0.0.1:9101" or "off" */
        int64_t sample_interval_s; /* 60; 1..3600 */
        char *gpu_backend;         /* "auto" | "nvml" | "simulated" */
        char *nvml_library;        /* "libnvidia-ml.so.1" */
        /* How long ds01d may be down (beyond two sample_interval_s) and still count as
         * restarted, keeping the idle clocks and warnings it recorded (monitor.h): 10; 0..3600. */
        int64_t restart_gap_s;
        /* gpus.docker_devices: how real GPUs reach a container. "device-requests": HostConfig.
         * DeviceRequests with the UUIDs (several MIG instances: the NVIDIA runtime and
         * NVIDIA_VISIBLE_DEVICES); "env": only NVIDIA_VISIBLE_DEVICES, for hosts whose default
         * runtime is nvidia; "auto" (default): device-requests with NVML, env when simulated. */
        char *docker_devices;
        struct config_sim_gpu *simulated; /* default: 4 x A100-SXM4-40GB, 40960 MiB, no MIG */
        size_t n_simulated;
        char *image_default; /* images.default: "ds01/base:latest" */
        /* images.frameworks: name -> base image for image-create --framework NAME (a site points
         * them at its own mirror); "minimal" defaults to images.default. */
        struct config_framework {
                char *name;
                char *image;
        } * frameworks;
        size_t n_frameworks;
        int64_t build_timeout_s;     /* images.build_timeout_s: 3600 */
        int64_t max_context_mb;      /* images.max_context_mb: 1024 */
        int64_t max_builds_per_user; /* images.max_builds_per_user: 1; builds at once per user */
        int64_t max_spool_mb;        /* images.max_spool_mb: 4096; contexts being received,
                                      * all users together (in spool_dir) */
        /* images.max_images_mb_per_user: 51200; a user's images together (Docker's sizes), over
         * which their builds are refused; 0 = no limit */
        int64_t max_images_mb_per_user;
        char *spool_dir;   /* images.spool_dir: where contexts are received; NULL = state_dir (a
                            * file system of its own keeps them off the ledger's) */
        char *webhook_url; /* notify.webhook_url: NULL = none */
        char *admin_group; /* admin_group: "ds01-admin" (root is always admin) */
        char *init_path;   /* init_path: NULL = find ds01-init beside ds01d or in
                            * ../libexec/ds01/ */
        int64_t max_requests_per_uid; /* max_requests_per_uid: 16; requests in flight per uid */
        /* events.jsonl is rotated when an append would take it past events_max_kb KiB (65536 =
         * 64 MiB; 4..4194304): events.jsonl -> .1 -> .2 ...; events_keep (5; 1..100) rotated
         * files are kept, older ones deleted. */
        int64_t events_max_kb;
        int64_t events_keep;
        /* ds01d.log (stderr, when a regular file) is rotated past log_max_kb KiB (16384; 0 =
         * never), keeping log_keep (3; 1..100) old files. */
        int64_t log_max_kb;
        int64_t log_keep;
        /* Requests each uid may make: a token bucket of request_burst_per_uid (600) filled at
         * requests_per_s_per_uid (100) a second; 0 = unlimited. */
        int64_t requests_per_s_per_uid;
        int64_t request_burst_per_uid;
        /* Denied requests of one (uid, action, target) are written to events.jsonl and the log
         * once, then counted and written as one event per audit_window_s (60; 1..3600); a
         * uid's first audit_names_per_uid (16; 1..100000) targets in a window are itemised, the
         * rest counted together. */
        int64_t audit_window_s;
        int64_t audit_names_per_uid;
        /* service_uids: uids without a passwd entry that may still use ds01 (ranges lo..hi);
         * every other caller needs an account. */
        struct config_uid_range {
                int64_t lo, hi;
        } * service_uids;
        size_t n_service_uids;
        /* metrics_token_file: a file holding the bearer token that gets per-user series from
         * /metrics (NULL: nobody gets them; anonymous scrapes get aggregates). */
        char *metrics_token_file;
        /* network.pool: the IPv4 range ("10.213.0.0/16") the per-user and per-user build
         * networks take their subnets from, network.subnet_prefix (26) bits each (network.h). */
        char *network_pool;
        int64_t network_subnet_prefix;
        /* network.require_isolation (true): refuse to start unless dockerd keeps its bridge
         * networks apart (network_check_isolation) and the host's users can be kept out of
         * them (network_firewall_start); false skips both. */
        bool network_require_isolation;
};

/* path NULL: embedded defaults. */
struct config *config_load(const char *path, struct error **err);
struct config *config_free(struct config *c);
/* "A.B.C.D/N": *ret_base (host byte order; host bits must be zero) and *ret_bits; -1 if
 * malformed. */
int config_parse_ipv4_cidr(const char *s, uint32_t *ret_base, int *ret_bits);
