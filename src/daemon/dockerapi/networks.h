/* networks.h - networks as a Docker API client sees them on ds01: views of the caller's own
 * network. Every user's containers run on one private network of their own (containers/
 * network.h) and users get no Docker networks. A client that wants networks of its own - Docker
 * Compose, which makes <project>_default and the networks of its file, and connects each service
 * to them with its name as an alias - gets views instead: names this module answers for
 * (create, inspect, list, connect, disconnect, remove), never a Docker network, nothing that
 * reaches dockerd. A container created naming a view (NetworkMode, EndpointsConfig) runs on the
 * caller's network with the aliases the client gave (create.h, containers/extras.h), so a
 * service reaches another by its name, as on Compose's network; every project of a user shares
 * that one network and one namespace of names.
 *
 * What a view is: a name (Docker's network name rules, not bridge/host/none/default), an id of
 * 64 hex digits, its creation time and its labels. Only Compose makes them: a create without
 * Compose's labels (com.docker.compose.project and .network), or with anything a view cannot
 * give (a driver other than bridge, IPAM subnets, internal, IPv6, driver options, ingress,
 * config-only networks), is refused naming it. Connecting one of the caller's containers to a
 * view answers what it is: the aliases asked for must be the container's already (its service
 * name, its short id), given when it was created; disconnecting is a no-op (the container stays
 * on the caller's network). The views are the daemon's, in memory, at most NETWORKS_PER_UID per
 * user: a restart forgets them (Compose makes them again at its next `up`; `down` then warns
 * that the network was not found), and none of them holds anything.
 *
 * Locking: a mutex (a leaf) guards the views; no Docker call is made with it held. */
#pragma once

#include "daemon/dockerapi/routes.h"
#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"
#include "shared/error.h"

#include <jansson.h>
#include <microhttpd.h>
#include <sys/types.h>

#define NETWORKS_PER_UID 64

struct dapi_networks;

struct dapi_networks *dapi_networks_new(void);
struct dapi_networks *dapi_networks_free(struct dapi_networks *n);

/* The name of uid's view that ref names (its name, its id or a unique prefix of it), or NULL. */
char *dapi_network_view(struct dapi_networks *n, uid_t uid, const char *ref);

/* Answers a call on networks (route ops DAPI_NETWORK_*) for caller c; body is the request's. */
enum MHD_Result dapi_networks_call(struct dapi_networks *n, struct ds01d *v,
                                   struct MHD_Connection *conn, const struct caller *c,
                                   const struct dapi_route *r, const char *body, size_t len);

/* Pure, unit-tested: */

/* A network create body checked as a view's: 0 with *ret_name and *ret_labels (new), or -1 with
 * *err (DS01_EUSAGE malformed, DS01_EPERM what a view cannot give, naming it). */
int dapi_network_create_body(const char *body, size_t len, char **ret_name, json_t **ret_labels,
                             struct error **err);
/* Whether a view (its inspect) matches a network list's `filters` (Docker's forms; NULL or ""
 * for none): 1 or 0, or -1 with *err (DS01_EUSAGE) for filters Docker would refuse. The name
 * filter matches a part of the name; id a prefix; label a key or key=value; driver bridge; type
 * custom; scope local. */
int dapi_network_matches(const json_t *net, const char *filters, struct error **err);
