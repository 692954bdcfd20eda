/* extras.h - what a container made through the Docker API endpoint may have beyond a
 * container-deploy's: its interface (docker, compose, devcontainer: the ds01.interface label and
 * its lifecycle policy), environment, labels, terminal and stdin, working directory, --rm, more
 * mount points of its workspace, which project's workspace that is, the aliases it answers to
 * on its owner's network (a Compose service's name: dockerapi/networks.h) and its links to the
 * owner's other containers there (Compose's one-off containers: a name for another container,
 * seen in this one only; deploy.c checks each is the owner's). container.deploy takes
 * them as its "docker" parameter; every value is checked here, whoever sends it (the endpoint
 * builds it from a Docker create body, dockerapi/create.h, but any RPC client may send one).
 * Nothing here can give a container more than a deploy gives: no host path, no capability, no
 * ds01.* label, no other user. */
#pragma once

#include "shared/error.h"

#include <jansson.h>
#include <stdbool.h>

#define EXTRAS_MAX_TARGETS 8
#define EXTRAS_MAX_LABELS  256
#define EXTRAS_MAX_ENV     1024
#define EXTRAS_MAX_ALIASES 16
#define EXTRAS_MAX_LINKS   64

struct deploy_extras {
        const char *interface; /* "docker", "compose" or "devcontainer" (static) */
        json_t *env;           /* ["K=V", ...]: the variables ds01 sets itself are dropped */
        json_t *labels;        /* {"k": "v"}: never ds01.* */
        bool tty, open_stdin, stdin_once, auto_remove;
        char *workdir;   /* absolute, or NULL: /workspace */
        json_t *targets; /* more absolute paths where the workspace is mounted */
        char *workspace; /* the project whose workspace is mounted; NULL: the container's own */
        json_t *aliases; /* more names it answers to on the owner's network (DNS), or [] */
        json_t *links;   /* ["<container>:<alias>"]: full names of the owner's containers */
};

/* The "docker" parameter of container.deploy, checked: 0, or -1 with *err (DS01_EUSAGE for a
 * malformed value, DS01_EPERM for one ds01 does not allow, naming it). */
int extras_parse(const json_t *j, struct deploy_extras *ret, struct error **err);
void extras_release(struct deploy_extras *e);
/* The extras a container was made with, read back from Docker's inspect of it (for its
 * recreation on other GPUs): false, and nothing to release, for a container-deploy's. */
bool extras_of_inspect(const json_t *inspect, struct deploy_extras *ret);
/* Whether s is a network alias a container may have: 1 to 128 of [A-Za-z0-9_.-], starting with
 * a letter or digit (a DNS name or a short container id). */
bool extras_alias_ok(const char *s);
/* Whether an environment variable name is one ds01 sets in every container (HOME, USER,
 * NVIDIA_VISIBLE_DEVICES, ...): a user's value for it is dropped. */
bool extras_env_reserved(const char *name, size_t len);
