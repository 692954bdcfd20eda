/* network.h - the Docker networks users' containers and builds run on (issue 11, item 9).
 *
 * Each user's containers run on a bridge network of their own, <instance>-u<uid> (ds01-u1000), so
 * they reach each other but no other user's containers; each user's image builds run on another,
 * <instance>-u<uid>-build, so a build (root, with Docker's default capabilities, NET_RAW
 * included) sees neither containers nor other users' builds. Docker keeps separate bridge
 * networks apart with its iptables rules (the DOCKER-ISOLATION chains); network_check_isolation()
 * checks at start that it does. From the host, only root and a network's owner may connect into
 * it (network_firewall_start). Subnets are carved from ds01.yaml's network.pool, network.
 * subnet_prefix bits each, skipping every subnet another Docker network holds.
 *
 * A network is created when first needed and removed by network_sweep() once nothing uses it:
 * no container (running or stopped: a stopped one needs its network to start again) and no
 * deploy or build holding it (network_acquire .. network_release).
 *
 * Locking: a network's creation or removal takes its name's operation slot (oplock.h), so a
 * sweep never removes a network between its acquire and the container create that uses it,
 * and one user's deploy never waits for another's Docker calls. A mutex guards the holders and
 * is never held across a Docker call. */
#pragma once

#include "daemon/config/config.h"
#include "daemon/docker/docker.h"
#include "daemon/ledger/store.h"

#include <stdbool.h>
#include <sys/types.h>

enum network_use {
        NETWORK_CONTAINERS, /* the user's containers; they may reach each other */
        NETWORK_BUILDS,     /* the user's image builds; not even each other */
};

struct network;

struct network *network_new(struct docker *docker);
struct network *network_free(struct network *n);

/* 0 when dockerd isolates its bridge networks with iptables (its DOCKER-ISOLATION-STAGE-1 chain
 * exists); otherwise -1 with an error naming the fix. */
int network_check_isolation(struct error **err);

/* Keeps the host's local users out of ds01's networks: only root and a network's owner may
 * connect into it from the host (iptables chain DS01-<hash of the instance>, jumped to from
 * OUTPUT). Rebuilds the rules of every network of cfg's instance; from then on networks get
 * theirs when made and lose them when removed. -1 with an error when iptables cannot. */
int network_firewall_start(struct network *n, const struct config *cfg, struct error **err);

/* The network of `uid` for `use`, created (with a free subnet of cfg's pool) if missing, and held
 * until network_release(): *ret_name is its name, for HostConfig.NetworkMode or a build's
 * networkmode. */
int network_acquire(struct network *n, const struct config *cfg, uid_t uid, enum network_use use,
                    char **ret_name, struct error **err);
void network_release(struct network *n, const char *name);

/* Moves cfg's instance's containers that are on Docker's default bridge (made before ds01 had
 * per-user networks) to their owner's network, running or not: only those the ledger knows (a
 * build's container may carry any label). Run at start, before serving. Failures are logged;
 * the container stays where it was. */
void network_adopt(struct network *n, const struct config *cfg, struct store *store);

/* Removes cfg's instance's networks that nothing uses. Not `now`: at most once a minute (the
 * monitor calls it every tick). Failures are logged. */
void network_sweep(struct network *n, const struct config *cfg, bool now);

/* Pure helpers, unit-tested. */
char *network_name(const char *instance, uid_t uid, enum network_use use);
/* The first subnet of /prefix in pool base/bits that overlaps none of the n_used ranges
 * used[i][0]/used[i][1] (base, prefix bits): 0 and *ret_base, or -1 when the pool is full. */
int network_free_subnet(uint32_t base, int bits, int prefix, const uint32_t (*used)[2],
                        size_t n_used, uint32_t *ret_base);
