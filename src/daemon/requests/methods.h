/* methods.h - the RPC method table and dispatch: every request's way from a method name to its
 * handler. Each method declares its parameters (types and bounds, checked before any handler
 * runs), whether it is for administrators, what it targets (a container, an image, an exec
 * session, a user, or nothing: access.h decides who may), and how its handler answers (a JSON
 * result, JSON text, a descriptor, or a stream). Adding a method is adding a row to the table
 * in methods.c; docs/architecture.md ("Adding an RPC method") walks through it.
 *
 * Locking: none held around a handler. methods_call pins the current generation of config,
 * limits and inventory in a view of the daemon context (generation.h) and passes the view: the
 * handler reads those for as long as it runs, whatever it waits on. */
#pragma once

#include "daemon/ds01d.h"
#include "daemon/images/images.h"
#include "daemon/requests/caller.h"

/* What a call takes besides its params, and what it gives back. */
struct method_io {
        int in_fd;                   /* a descriptor sent with the request (stream methods) */
        int client_fd;               /* the connection, for stream methods' progress */
        images_progress_fn progress; /* sends one progress message on the connection */
        void *progress_ctx;
        json_t *result;  /* out: the result object, or */
        char *text;      /* out: the result as JSON text (text_len bytes) */
        size_t text_len; /* out */
        int out_fd;      /* out: a descriptor to pass back, or -1 */
};

/* The index of `method`, or -1 with *err (DS01_EUSAGE, naming a CLI/daemon version mismatch). */
int methods_find(const char *method, struct error **err);
/* The table's name of method idx (a static string). */
const char *methods_name(int idx);
/* Whether `method` may be answered from memory (the snapshot) on an event-loop thread. */
bool methods_quick(const char *method);
/* Validates params of `method` against the table (types, bounds, unknown and missing keys).
 * Returns the method's index or -1 with *err (DS01_EUSAGE). Exposed for the fuzz target. */
int methods_validate(const char *method, json_t *params, struct error **err);
/* Validates, authorises (access_authorise) and runs method idx for c. io->out_* and result are
 * set on success; the snapshot is invalidated after a method that changes containers. */
int methods_call(struct ds01d *d, const struct caller *c, int idx, json_t *params,
                 struct method_io *io, struct error **err);
