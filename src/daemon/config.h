/* config.h - ds01.yaml, the daemon settings file (DESIGN §3.2). Every key is optional; a missing
 * file path (NULL) gives the embedded defaults. Unknown keys and wrong types are errors that name
 * file:line and the fix. */
#pragma once

#include "../shared/error.h"

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
};

/* path NULL: embedded defaults. */
struct config *config_load(const char *path, struct error **err);
struct config *config_free(struct config *c);
