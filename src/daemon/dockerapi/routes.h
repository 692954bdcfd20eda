/* routes.h - the Docker API endpoint's map: which Engine API calls a user may make on ds01, and
 * what each becomes. A pure function of the request line (method and decoded path), so it is
 * unit-tested and fuzzed (fuzz/fuzz-dockerapi.c); endpoint.c acts on the answer.
 *
 * Every call that is not in the map is refused with a message that names what to use instead.
 * Networks are views of the caller's own network, answered by networks.h.
 * Calls on an object (a container, an exec session, an image, a network) carry the object as the
 * client named it; endpoint.c resolves it for the caller before anything reaches Docker. */
#pragma once

#include <stdbool.h>

enum dapi_op {
        DAPI_REFUSE,           /* refusal: the message */
        DAPI_NO_SUCH,          /* GET of an object kind ds01 does not offer: "No such object" */
        DAPI_PING,             /* GET/HEAD /_ping: answered here */
        DAPI_VERSION,          /* GET /version: Docker's */
        DAPI_INFO,             /* GET /info: Docker's, with the caller's own counts */
        DAPI_CONTAINER_LIST,   /* GET /containers/json: the caller's managed containers only */
        DAPI_CONTAINER_CREATE, /* POST /containers/create: a ds01 deploy (create.h) */
        DAPI_CONTAINER_READ,   /* inspect, logs, top, stats, changes: passed on */
        DAPI_COPY_OUT,         /* HEAD/GET /containers/ID/archive: ds01-cp as the caller (copy.h) */
        DAPI_COPY_IN,          /* PUT /containers/ID/archive: the same, the tar streamed in */
        DAPI_CONTAINER_POST,   /* kill, wait, resize: passed on */
        DAPI_CONTAINER_START,  /* ds01's container.start (the workspace is pinned at start) */
        DAPI_CONTAINER_STOP,   /* ds01's container.stop (the owner's grace, GPU hold) */
        DAPI_CONTAINER_RESTART,
        DAPI_CONTAINER_REMOVE, /* ds01's container.remove (the leases go) */
        DAPI_CONTAINER_RENAME, /* ds01's container.rename (rename.h): ?name= in the caller's own */
        DAPI_CONTAINER_ATTACH, /* hijacked stream */
        DAPI_EXEC_CREATE,      /* checked: never another user, never privileged */
        DAPI_EXEC_START,       /* hijacked stream */
        DAPI_EXEC_READ,        /* GET /exec/ID/json, POST /exec/ID/resize: passed on */
        DAPI_BUILD,            /* POST /build: image-create's build (build.h) */
        DAPI_IMAGE_LIST,       /* the caller's own ds01-<uid>/ images and the site's */
        DAPI_IMAGE_INSPECT,
        DAPI_NETWORK_LIST,    /* GET /networks: the caller's views (networks.h) */
        DAPI_NETWORK_CREATE,  /* POST /networks/create: a view, for Compose */
        DAPI_NETWORK_INSPECT, /* GET /networks/X */
        DAPI_NETWORK_REMOVE,  /* DELETE /networks/X */
        DAPI_NETWORK_CONNECT, /* POST /networks/X/connect or /disconnect (rest says which) */
        DAPI_EVENTS,          /* GET /events: the caller's containers' (events.h) */
};

struct dapi_route {
        enum dapi_op op;
        char version[16];    /* the client's API version from /vX.Y/ ("" without one) */
        char *object;        /* the container, exec id or image as named; NULL for none */
        char *rest;          /* the path after the object ("/logs", "" for the object itself) */
        const char *refusal; /* DAPI_REFUSE: why, and what to use instead (a static string) */
};

/* Maps method and path (percent-decoded, without the query) to a route. Always succeeds: what
 * it does not know is DAPI_REFUSE. */
void dapi_route(const char *method, const char *path, struct dapi_route *ret);
void dapi_route_release(struct dapi_route *r);
/* Whether op answers with a hijacked stream (attach, exec start). */
bool dapi_op_hijacks(enum dapi_op op);
