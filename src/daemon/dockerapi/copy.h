/* copy.h - `docker cp` through the Docker API endpoint: the archive calls on a caller's running
 * container (HEAD /containers/ID/archive, a path's stat; GET, a tar of it; PUT, a tar extracted
 * into a directory) done by ds01-cp (src/cp/cp.c) as the caller, inside the container's own
 * mount namespace, entered through a pidfd of its first process. Never by dockerd, which would
 * read and write as root through the host paths of the container's mounts as they are now.
 * So /workspace is the container's own mount, and what is written is the caller's: no owners,
 * set-id bits or extended attributes from the archive.
 *
 * Locking: none; each call has a ds01-cp process and pipes of its own. */
#pragma once

#include "daemon/dockerapi/objects.h"
#include "daemon/ds01d.h"
#include "daemon/requests/caller.h"

#include <microhttpd.h>
#include <stdbool.h>

/* HEAD (stat_only) or GET of ?path= in ct: the stat in X-Docker-Container-Path-Stat, and for a
 * GET the tar, streamed as it is made. */
enum MHD_Result dapi_copy_out(struct ds01d *v, struct MHD_Connection *conn, const struct caller *c,
                              const struct dapi_container *ct, bool stat_only);

struct dapi_copy_in;
/* PUT ?path=: ds01-cp started for the container the client named (ref, resolved for c) before
 * the tar arrives, so that it streams in. NULL with *err. */
struct dapi_copy_in *dapi_copy_in_start(struct ds01d *v, struct MHD_Connection *conn,
                                        const struct caller *c, const char *ref,
                                        struct error **err);
/* Passes n bytes of the tar on; once ds01-cp has stopped reading (it failed: the answer says
 * why), the rest is dropped. */
void dapi_copy_in_feed(struct dapi_copy_in *p, const char *data, size_t n);
/* The tar is complete: answers with how the extraction ended, and frees p. */
enum MHD_Result dapi_copy_in_respond(struct dapi_copy_in *p, struct ds01d *v,
                                     struct MHD_Connection *conn);
/* The request ended without an answer: ds01-cp sees its tar cut short and stops. Frees p. */
void dapi_copy_in_abort(struct dapi_copy_in *p);
