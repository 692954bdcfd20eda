/* events.h - GET /events through the Docker API endpoint (docker events, and the clients that
 * wait for a container's start with it: the Dev Containers CLI, Compose's attached `up`): Docker's
 * event stream, with only the events of the caller's own managed containers in it. Docker is
 * asked for the events of containers labelled with the instance and the caller's uid, whatever
 * filters the client gave besides (since, until and filters pass on); then each event is kept
 * only when the ledger says its container is the caller's at the moment it is read (labels can be
 * set by anyone who builds an image). So a container's "create" event, which comes before ds01
 * records the container, is not shown; its "start" and later ones are.
 *
 * Locking: none of its own; each event reads the ledger. */
#pragma once

#include "daemon/dockerapi/forward.h"
#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

/* Serves GET /events: r is the request as the client sent it without its filters (path
 * "/events"); filters the client's (NULL for none). Releases r. */
enum MHD_Result dapi_events(struct ds01d *v, struct MHD_Connection *conn, int client_fd,
                            const struct caller *c, struct dapi_request *r, const char *filters);
/* Whether event (one of Docker's, decoded) is about a container whose ledger owner is uid.
 * Pure but for the ledger read. */
bool dapi_event_is_callers(struct ds01d *root, uid_t uid, const json_t *event);
