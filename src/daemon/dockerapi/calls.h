/* calls.h - what each route of the Docker API endpoint does (calls.c), and the request context
 * it works in. endpoint.c owns the socket and the connections and hands each request here
 * (dapi_call), with the caller identified and the view pinned.
 *
 * Locking: none here; a call holds its request's view and no lock across Docker. */
#pragma once

#include "daemon/dockerapi/build.h"
#include "daemon/dockerapi/copy.h"
#include "daemon/dockerapi/networks.h"
#include "daemon/dockerapi/routes.h"
#include "daemon/requests/caller.h"
#include "shared/strbuf.h"

#include <microhttpd.h>

/* Who is on a connection (libmicrohttpd's socket context). */
struct dconn {
        int fd;
        bool counted;
        char *refusal; /* why every request on it is refused, or NULL */
        struct caller caller;
};

/* One request: its body as it arrives. */
struct dreq {
        struct strbuf body;
        bool too_big;
        struct dapi_build *build;     /* POST /build: its context goes to the build as it comes */
        struct dapi_copy_in *copy_in; /* PUT .../archive: its tar goes to ds01-cp as it comes */
        struct error *upload_err;     /* ... or why neither started (the body is dropped) */
};

/* Everything one call needs. */
struct call {
        struct ds01d *v;
        struct MHD_Connection *conn;
        struct dconn *dc;
        const struct caller *c;
        const char *method;
        const char *url;
        struct dapi_route route;
        struct dreq *req;
        struct dapi_networks *nets;
};

/* Answers the request k describes, by its route. */
enum MHD_Result dapi_call(struct call *k);
