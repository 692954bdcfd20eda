/* create.h - a Docker client's create request (docker run, docker create, Compose, a
 * dev-container client) read as a ds01 deploy: checked field by field and rewritten into
 * container.deploy's parameters, never passed through as sent. A pure function, unit-tested and
 * fuzzed.
 *
 * What it becomes: the container "<name>._.<user>" (no name: "docker-<6 hex>"), the image (its
 * owner is checked by the deploy), the client's entrypoint and command run by ds01-init as the
 * container's command (the image's where the client gives none, as Docker does), its
 * environment, labels, terminal, stdin, working directory and --rm; a bind of a project
 * directory ~/workspace/P (the whole directory, at any path inside) mounts that workspace; GPUs
 * from --gpus N (no --gpus: none); a network that is one of the caller's views (Compose's
 * <project>_default) is their own network, with the aliases the client gives on it (a service's
 * name); links (resolved by the endpoint) to the caller's own containers, as Compose's
 * one-off containers have. Refused, naming the option: anything that would give more than
 * a deploy gives (privileged, capabilities, devices, host namespaces, security options, sysctls,
 * cgroup parents, runtimes, host paths, named or anonymous volumes, published ports, restart
 * policies, another user) - the group's CPU, memory, shm and pids limits apply whatever the
 * client asks. */
#pragma once

#include "daemon/requests/caller.h"
#include "shared/error.h"

#include <jansson.h>

struct dapi_create_in {
        const json_t *body;         /* the client's create body */
        const char *name;           /* its ?name=, or NULL */
        const struct caller *c;     /* who creates it */
        const char *workspace_dir;  /* the caller's workspace root: "/home/alice/workspace" */
        const json_t *image;        /* Docker's inspect of the body's Image (default command) */
        const char *generated_name; /* the name to use when the client gives none */
        const char *network_view;   /* the caller's network view (networks.h) the body names, or
                                     * NULL: the container runs on the caller's network with the
                                     * aliases the body gives it there */
        const json_t *links; /* HostConfig.Links resolved (dapi_resolve_links): the caller's own
                              * containers by full name; NULL: a body with links is refused */
};

/* container.deploy's parameters for the request, or NULL with *err: DS01_EUSAGE for a malformed
 * request, DS01_EPERM for something ds01 does not allow (the message names the option and what
 * to do instead). */
json_t *dapi_create_params(const struct dapi_create_in *in, struct error **err);
/* Whether `user` (an exec's or a create's "User": "", "name", "uid", "uid:gid") is c. */
bool dapi_user_is_caller(const char *user, const struct caller *c);
