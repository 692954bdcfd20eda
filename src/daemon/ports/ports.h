/* ports.h - published service ports as users ask for them: `container-port NAME add|remove|list`
 * and `container-deploy --port`. The ledger records which ports a container publishes (they go
 * with its row, so with the container); the relay (relay.h) serves each as a Unix socket only
 * the owner can open. Ports survive a daemon restart: ports_restore serves them again.
 *
 * No lock of its own: a change takes the container's operation slot (oplock.h). */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <jansson.h>

/* container.port: params {name, action: "add"|"remove"|"list", port?, tcp?}. The result is
 * {container, project, ports: [{port, socket, tcp?}]}, the container's ports after the change;
 * tcp: the loopback TCP port it is also served on (add with tcp true). */
int ports_handle(struct ds01d *d, const struct caller *c, json_t *params, json_t **ret_result,
                 struct error **err);
/* A deploy's "ports" parameter (decimal strings), checked before anything is made: *ret gets
 * them, *ret_n how many (0 when params has none). */
int ports_parse_request(const json_t *ports, int ret[NAMES_PORTS_MAX], size_t *ret_n,
                        struct error **err);
/* Publishes ports of a container just deployed (its row is bound); on failure nothing of them
 * is left published. */
int ports_publish(struct ds01d *d, const char *container, uid_t uid, const int *ports, size_t n,
                  struct error **err);
/* [{port, socket, tcp?}] of a container's ports, for a result (tcp may be NULL: none). */
json_t *ports_json(struct ds01d *d, const char *container, const int *ports, const int *tcp,
                   size_t n);
/* At start-up: serves every port the ledger records for a container Docker has. */
void ports_restore(struct ds01d *d);
