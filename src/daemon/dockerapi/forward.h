/* forward.h - the Docker API endpoint's way to dockerd and back: a checked request passed on
 * (its path rewritten to the resolved object), Docker's answer streamed to the client as it
 * comes (logs --follow, stats, wait), or read whole to be filtered; and hijacked streams (exec
 * start, attach) relayed both ways.
 *
 * Locking: each forwarded request has a connection of its own to dockerd; a mutex (a leaf)
 * guards the list of open hijacked streams. */
#pragma once

#include "daemon/ds01d.h"
#include "shared/strbuf.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

/* A request as it goes to Docker. */
struct dapi_request {
        const char *method;
        const char *version; /* the client's API version, "" for none */
        char *path;          /* "/containers/<id>/logs" */
        struct strbuf query; /* "a=1&b=2", encoded; empty for none */
        const char *content_type;
        const char *body;
        size_t body_len;
        bool upgrade; /* ask Docker to hijack the connection (exec start, attach) */
};

/* The query of conn, re-encoded, with `drop` (a key, or NULL) left out. */
void dapi_query_of(struct MHD_Connection *conn, const char *drop, struct strbuf *ret);
/* Adds key=value (encoded) to a query. */
void dapi_query_add(struct strbuf *q, const char *key, const char *value);
void dapi_request_release(struct dapi_request *r);

/* Passes r on and streams Docker's answer (status, headers that matter, body) to conn as it
 * comes; a client that hangs up ends it. */
enum MHD_Result dapi_forward(struct ds01d *v, struct MHD_Connection *conn, int client_fd,
                             const struct dapi_request *r);
/* Passes r on and streams Docker's answer, a JSON object a line (GET /events), to conn as it
 * comes, keeping the lines for which keep(object, ctx) is true (a line that is not JSON is
 * dropped); an answer that is not 200 is passed on whole. ctx is freed with free_ctx (may be
 * NULL) when the stream ends. keep runs after the request's view is unpinned: it may use only
 * what ctx holds. */
enum MHD_Result dapi_forward_filtered(struct ds01d *v, struct MHD_Connection *conn, int client_fd,
                                      const struct dapi_request *r,
                                      bool (*keep)(const json_t *, void *), void *ctx,
                                      void (*free_ctx)(void *));
/* Passes r on and reads Docker's answer whole: *ret_status, *ret_json (NULL when not JSON),
 * *ret_raw (may be NULL) the bytes as Docker sent them. A bounded body (64 MiB). */
int dapi_forward_json(struct ds01d *v, const struct dapi_request *r, int *ret_status,
                      json_t **ret_json, struct strbuf *ret_raw, struct error **err);
/* An answer of raw JSON bytes (takes body's buffer). */
enum MHD_Result dapi_reply_raw(struct ds01d *v, struct MHD_Connection *conn, unsigned status,
                               struct strbuf *body);
/* Passes r on (r->upgrade) and, once Docker has hijacked its connection, switches conn to the
 * raw stream and relays bytes both ways until both ends are done. on_open/on_close (may be NULL)
 * run when the stream is up and when it has ended (exec sessions are counted while open). */
enum MHD_Result dapi_hijack(struct ds01d *v, struct MHD_Connection *conn,
                            const struct dapi_request *r, void (*on_close)(void *), void *ctx);

/* A libmicrohttpd content reader over a pipe: up to max bytes of fd into buf, the end of the
 * stream at EOF, an error otherwise (for answers streamed from a build or ds01-cp). */
ssize_t dapi_read_pipe(int fd, char *buf, size_t max);

/* Ends every hijacked stream (the daemon is stopping); none opens after this. */
void dapi_streams_end(void);

/* Every answer's headers: what clients read in negotiation (Api-Version, Ostype, ...). */
void dapi_common_headers(struct ds01d *v, struct MHD_Response *resp);
/* An answer with a JSON body (takes body). */
enum MHD_Result dapi_reply_json(struct ds01d *v, struct MHD_Connection *conn, unsigned status,
                                json_t *body);
/* err as Docker would answer it ({"message"}, with the HTTP status of its code); frees err. */
enum MHD_Result dapi_reply_error(struct ds01d *v, struct MHD_Connection *conn, struct error *err);
/* An answer with no body (204 after a stop, a removal). */
enum MHD_Result dapi_reply_empty(struct ds01d *v, struct MHD_Connection *conn, unsigned status);
/* {"message": msg}: what the docker CLI prints after "Error response from daemon:". */
enum MHD_Result dapi_reply_message(struct ds01d *v, struct MHD_Connection *conn, unsigned status,
                                   const char *msg);
