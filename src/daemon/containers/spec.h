/* spec.h - the Docker create body of a managed container: what it runs as, what it mounts, what
 * it may see (its GPUs only), its limits and labels. Everything a container is allowed is
 * decided here, in one pure function of its inputs (spec_create_body), so that what a user's
 * safety depends on is unit-tested without dockerd (tests/unit/test-spec.c). */
#pragma once

#include "daemon/containers/extras.h"
#include "daemon/containers/datasets.h"
#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Everything the create body depends on; spec_create_body reads nothing else (no clock, no
 * host, no daemon state). Strings are borrowed. */
struct spec_input {
        /* the owner: the container runs as uid:gid, on the owner's network, labelled with login */
        uid_t uid;
        gid_t gid;
        const char *login;
        const struct limit_set *limits; /* the owner's effective limits (caller_limits) */
        const char *instance;           /* the config's instance (labels, network name) */
        const char *project;
        const char *image;
        const json_t *image_inspect; /* Docker's inspect of image: its ds01.* labels are blanked */
        const char *workspace;       /* the user's path of /workspace, a label to show */
        const char *pin;             /* the host path mounted at /workspace (workspace.h) */
        const char *init_path;       /* the host path of ds01-init, mounted at /.ds01/init */
        const char *passwd_path;     /* mounted at /etc/passwd; NULL: the image's is kept */
        const char *home;            /* the owner's home inside (spec_home): $HOME */
        const char *ssh_pin;         /* --ssh: the container's sshkeys pin; NULL: none */
        char **uuids;                /* the leased slots (NULL or empty: no GPU) */
        const struct gpu_inventory *inv; /* where the slots are looked up (index, MIG profile) */
        const char *docker_devices;      /* the config's docker_devices mode */
        bool inventory_real;             /* the slots are real devices (NVML): "auto" uses them */
        const json_t *cmd;               /* a batch command (NULL or [] for none) */
        /* what the user asked for ("2", "mig:3g.20gb:1", "0"), kept as a label so a re-lease
         * after a hold can ask for the same */
        const char *gpu_request;
        const struct dataset_mount *data; /* mounted read-only at /data/<name> */
        size_t n_data;
        int64_t created_at;                 /* unix seconds, the ds01.created_at label */
        const struct deploy_extras *extras; /* made through the Docker API endpoint; or NULL */
        long host_cpus; /* CPUs online; NanoCpus never asks for more (<= 0: unknown) */
        /* the disks io_read_bps and io_write_bps limit (NULL-terminated; NULL: none) */
        char *const *io_disks;
        /* the owner's parent cgroup, their containers' caps together (usercgroup.h); NULL:
         * Docker's default */
        const char *cgroup_parent;
};

/* A container whose /workspace is another project's workspace (a Docker client bound
 * ~/workspace/P into a container of another name) records that project here. */
#define SPEC_WORKSPACE_PROJECT_LABEL "ds01.workspace_project"

/* The whole create body (a new reference), from in alone. */
json_t *spec_create_body(const struct spec_input *in);

/* The owner's home directory inside their containers, /home/<name> (a new string). Not a mount:
 * ds01d makes it in each new container, the owner's, so it lives as long as the container. */
char *spec_home(const struct caller *c);
/* The /etc/passwd of the owner's containers (root, nobody, the owner with home spec_home),
 * written by root in the daemon's state directory and mounted read-only; NULL (logged) when it
 * cannot be written, and the container keeps the image's. */
char *spec_passwd_file(struct ds01d *d, const struct caller *c);
/* spec_create_body with its inputs gathered for owner c: the view's instance, docker_devices
 * and inventory, the daemon's init path, c's passwd file (written now), the clock and the
 * host's CPUs; ssh: mount c's ~/.ssh and ~/.gitconfig from the container's pin (--ssh). Call with a
 * view (generation.h). */
json_t *spec_create_body_of(struct ds01d *d, const struct caller *c, const struct limit_set *ls,
                            const char *project, const char *image, const json_t *img,
                            const char *workspace, const char *pin, char **uuids, const json_t *cmd,
                            const char *gpu_request, const struct dataset_mount *data,
                            size_t n_data, bool ssh, const struct deploy_extras *extras);
