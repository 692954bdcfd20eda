/* caller.h - who is asking: the peer's kernel-checked credentials (SO_PEERCRED,
 * SO_PEERGROUPS; rpc.c fills them in), never anything the message says; and an account as a
 * caller, for work done on an owner's behalf (an admin's start, a re-lease, the monitor). */
#pragma once

#include "daemon/config/limits.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ds01d;

struct caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *gids;
        size_t n_gids;
        char *login;     /* passwd name, or "u<uid>" */
        char *user_part; /* the user part of container names */
        bool admin;      /* root or a member of the admin group */
        uint64_t conn;   /* which connection asks (unique while the daemon runs); 0: none */
};

void caller_release(struct caller *c);
/* uid as a caller, with their login and groups; -1 when uid has no account. */
int caller_for(uid_t uid, struct caller *ret);
/* The caller's effective limits (their group's, with overrides), from the view d. */
void caller_limits(struct ds01d *d, const struct caller *c, struct limit_set *ret);
