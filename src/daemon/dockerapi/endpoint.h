/* endpoint.h - the Docker Engine API for unprivileged users, on docker_api_socket
 * (/run/ds01/docker.sock): the docker CLI, editors and other clients work on the caller's own
 * managed containers, and on nothing else. Who calls is SO_PEERCRED's uid, never anything
 * sent. HTTP is libmicrohttpd's (a thread per connection: streams and hijacked exec sessions
 * block in their own thread); routes.h maps each call, objects.h resolves what it names,
 * forward.h passes the checked request on to dockerd. Start, stop, restart and remove are ds01's
 * own verbs (the owner's grace, the GPU hold, the workspace pinned at start), called through the
 * method table as the CLI's requests are.
 *
 * Threads: libmicrohttpd's listener and one per connection. Locking: dapi.lock guards the
 * per-uid connection counts; a leaf. */
#pragma once

#include "daemon/ds01d.h"
#include "shared/error.h"

struct dapi;

/* Serves the endpoint on the view's docker_api_socket ("off": none, *ret NULL). */
int dapi_start(struct ds01d *d, struct dapi **ret, struct error **err);
/* Stops serving and removes the socket. Accepts NULL. */
struct dapi *dapi_stop(struct dapi *e);
