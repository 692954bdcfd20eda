/* build.h - `docker build` through the Docker API endpoint: the same build as image-create's
 * (images_build: the group's limits, the build timeout, one build at a time per user, the
 * Dockerfile checked for other users' images and ds01 labels), of the image
 * ds01-<uid>/PROJECT:latest that `-t PROJECT` or `-t ds01-<uid>/PROJECT` names. The context
 * streams from the client's request body into the build as it arrives, and the build's
 * messages stream back as Docker's own ({"stream": ...}, {"aux": {"ID": ...}}, {"error": ...}).
 *
 * Threads: each build runs in a thread of its own (the connection's thread feeds it the body).
 * Locking: none; a build and its connection share two pipes. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <microhttpd.h>

struct dapi_build;

/* The build a POST /build asks for, checked: its project from the tag (exactly one -t, of
 * "PROJECT" or "ds01-<uid>/PROJECT", optionally ":latest"), nocache. Refused (DS01_EPERM,
 * naming the option): another tag, --network other than the default, --build-arg, --target,
 * --platform, --label, another Dockerfile name, a remote context. */
int dapi_build_params(struct MHD_Connection *conn, const struct caller *c, char **ret_project,
                      bool *ret_nocache, struct error **err);
/* Starts the build for c on the view v's root. The request's end without an answer, or the
 * client leaving while the messages stream, cancels it. */
struct dapi_build *dapi_build_start(struct ds01d *v, const struct caller *c, const char *project,
                                    bool nocache, struct error **err);
/* Passes n bytes of the context on. -1 once the build no longer reads (it failed early: its
 * messages say why); the rest of the body is then dropped. */
int dapi_build_feed(struct dapi_build *b, const char *data, size_t n);
/* The context is complete: answers with the build's messages as they come, and frees b. */
enum MHD_Result dapi_build_respond(struct dapi_build *b, struct ds01d *v,
                                   struct MHD_Connection *conn);
/* The request ended without an answer (the client went away): frees b; the build, seeing
 * its context cut short and its client gone, stops. */
void dapi_build_abort(struct dapi_build *b);
