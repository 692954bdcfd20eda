/* forward.c - requests passed on to dockerd and its answers brought back (see forward.h).
 *
 * Requests go to Docker as HTTP/1.0, so its answer is never chunked and ends at EOF (or at its
 * Content-Length): the body can be streamed to the client byte for byte, and libmicrohttpd
 * frames it for the client. Hijacked streams are asked for with HTTP/1.1 and an Upgrade header,
 * as the docker CLI asks for them. */
#include "daemon/dockerapi/forward.h"

#include "daemon/docker/docker.h"
#include "daemon/ports/relay.h"
#include "shared/log.h"
#include "shared/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define JSON_MAX    (64u << 20) /* an answer read whole (a list, an inspect) */
#define STREAM_SIZE (64u << 10) /* what one read of a streamed answer moves */

/* Headers of Docker's answer that a client reads; the rest (Date, Connection, framing) are
 * libmicrohttpd's to write. */
static const char *const PASSED_HEADERS[] = {"Content-Type", "X-Docker-Container-Path-Stat",
                                             "Docker-Experimental", NULL};

struct query_build {
        struct strbuf *q;
        const char *drop;
};

void dapi_query_add(struct strbuf *q, const char *key, const char *value)
{
        _cleanup_free_ char *k = docker_query_escape(key);
        if (q->len > 0)
                strbuf_addc(q, '&');
        strbuf_adds(q, k);
        if (value) {
                _cleanup_free_ char *v = docker_query_escape(value);
                strbuf_addc(q, '=');
                strbuf_adds(q, v);
        }
}

static enum MHD_Result query_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
        (void)kind;
        struct query_build *b = cls;
        if (key && !(b->drop && streq(key, b->drop)))
                dapi_query_add(b->q, key, value);
        return MHD_YES;
}

void dapi_query_of(struct MHD_Connection *conn, const char *drop, struct strbuf *ret)
{
        *ret = (struct strbuf)STRBUF_INIT;
        strbuf_adds(ret, "");
        struct query_build b = {ret, drop};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_one, &b);
}

void dapi_request_release(struct dapi_request *r)
{
        free(r->path);
        strbuf_release(&r->query);
        r->path = NULL;
}

/* The request head as Docker gets it. */
static char *request_head(const struct dapi_request *r)
{
        struct strbuf h = STRBUF_INIT;
        strbuf_addf(&h, "%s %s%s%s%s%s %s\r\nHost: docker\r\n", r->method, *r->version ? "/v" : "",
                    r->version, r->path, r->query.len ? "?" : "", r->query.len ? r->query.buf : "",
                    r->upgrade ? "HTTP/1.1" : "HTTP/1.0");
        if (r->upgrade)
                strbuf_adds(&h, "Connection: Upgrade\r\nUpgrade: tcp\r\n");
        if (r->body_len > 0 || streq(r->method, "POST") || streq(r->method, "PUT"))
                strbuf_addf(&h, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                            r->content_type ? r->content_type : "application/json", r->body_len);
        strbuf_adds(&h, "\r\n");
        return strbuf_detach(&h);
}

static int send_request(struct ds01d *v, const struct dapi_request *r, int *ret_status,
                        char **ret_head, int *ret_fd, struct error **err)
{
        _cleanup_free_ char *head = request_head(r);
        return docker_forward(v->docker, head, r->body, r->body_len, ret_status, ret_head, ret_fd,
                              err);
}

/* Docker's Content-Length, or -1. */
static int64_t content_length(const char *head)
{
        _cleanup_free_ char *cl = docker_head_header(head, "Content-Length");
        char *end;
        if (!cl)
                return -1;
        errno = 0;
        long long n = strtoll(cl, &end, 10);
        return errno || end == cl || *end || n < 0 ? -1 : n;
}

void dapi_common_headers(struct ds01d *v, struct MHD_Response *resp)
{
        MHD_add_response_header(resp, "Api-Version", docker_api_version(v->docker));
        MHD_add_response_header(resp, "Docker-Experimental", "false");
        MHD_add_response_header(resp, "Ostype", "linux");
        _cleanup_free_ char *server =
            xasprintf("ds01/%s (Docker/%s)", DS01_VERSION, docker_server_version(v->docker));
        MHD_add_response_header(resp, "Server", server);
}

enum MHD_Result dapi_reply_raw(struct ds01d *v, struct MHD_Connection *conn, unsigned status,
                               struct strbuf *body)
{
        size_t n = body->len;
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(n, strbuf_detach(body), MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        dapi_common_headers(v, resp);
        enum MHD_Result ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

enum MHD_Result dapi_reply_json(struct ds01d *v, struct MHD_Connection *conn, unsigned status,
                                json_t *body)
{
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, text ? text : "{}");
        strbuf_addc(&sb, '\n');
        free(text);
        return dapi_reply_raw(v, conn, status, &sb);
}

static unsigned http_status_of(int code)
{
        switch (code) {
        case DS01_EUSAGE:
                return MHD_HTTP_BAD_REQUEST;
        case DS01_ENOTFOUND:
                return MHD_HTTP_NOT_FOUND;
        case DS01_EPERM:
                return MHD_HTTP_FORBIDDEN;
        case DS01_ERESOURCE:
                return MHD_HTTP_CONFLICT;
        default:
                return MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
}

enum MHD_Result dapi_reply_error(struct ds01d *v, struct MHD_Connection *conn, struct error *err)
{
        enum MHD_Result r = dapi_reply_message(v, conn, http_status_of(err->code), err->message);
        error_free(err);
        return r;
}

enum MHD_Result dapi_reply_empty(struct ds01d *v, struct MHD_Connection *conn, unsigned status)
{
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        dapi_common_headers(v, resp);
        enum MHD_Result r = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return r;
}

enum MHD_Result dapi_reply_message(struct ds01d *v, struct MHD_Connection *conn, unsigned status,
                                   const char *msg)
{
        return dapi_reply_json(v, conn, status, json_pack("{s:s}", "message", msg));
}

/* ---- streamed answers ---- */

struct stream {
        int fd;        /* Docker's answer, at its body */
        int client_fd; /* the client's connection: its hang-up ends the stream */
};

ssize_t dapi_read_pipe(int fd, char *buf, size_t max)
{
        for (;;) {
                ssize_t k = read(fd, buf, max);
                if (k > 0)
                        return k;
                if (k == 0)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (errno != EINTR)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
        }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        (void)pos;
        struct stream *s = cls;
        for (;;) {
                struct pollfd p[2] = {{s->fd, POLLIN, 0}, {s->client_fd, POLLRDHUP, 0}};
                if (poll(p, s->client_fd >= 0 ? 2 : 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                }
                if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                if (!p[0].revents)
                        continue;
                ssize_t k = read(s->fd, buf, max);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k > 0)
                        return k;
                return k == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                              : MHD_CONTENT_READER_END_WITH_ERROR;
        }
}

static void stream_free(void *cls)
{
        struct stream *s = cls;
        close(s->fd);
        free(s);
}

static void pass_headers(const char *head, struct MHD_Response *resp)
{
        for (size_t i = 0; PASSED_HEADERS[i]; i++) {
                _cleanup_free_ char *val = docker_head_header(head, PASSED_HEADERS[i]);
                if (val)
                        MHD_add_response_header(resp, PASSED_HEADERS[i], val);
        }
}

enum MHD_Result dapi_forward(struct ds01d *v, struct MHD_Connection *conn, int client_fd,
                             const struct dapi_request *r)
{
        int status, fd;
        _cleanup_free_ char *head = NULL;
        struct error *err = NULL;
        if (send_request(v, r, &status, &head, &fd, &err) < 0) {
                enum MHD_Result ret = dapi_reply_message(v, conn, 502, err->message);
                error_free(err);
                return ret;
        }
        int64_t len = content_length(head);
        struct MHD_Response *resp;
        if (streq(r->method, "HEAD") || status == 204 || status == 304 || len == 0) {
                close(fd);
                resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        } else {
                struct stream *s = xzalloc(sizeof(*s));
                s->fd = fd;
                s->client_fd = client_fd;
                resp = MHD_create_response_from_callback(len < 0 ? MHD_SIZE_UNKNOWN : (uint64_t)len,
                                                         STREAM_SIZE, stream_read, s, stream_free);
        }
        pass_headers(head, resp);
        dapi_common_headers(v, resp);
        enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* A refused stream (a hijack, events): Docker's JSON error (small, with its Content-Length) back to
 * the client. */
static enum MHD_Result docker_refused(struct ds01d *v, struct MHD_Connection *conn, int fd,
                                      int status, const char *head)
{
        int64_t len = content_length(head);
        char buf[8192];
        size_t n = 0;
        if (len > 0 && (size_t)len < sizeof(buf)) {
                while (n < (size_t)len) {
                        ssize_t k = read(fd, buf + n, (size_t)len - n);
                        if (k <= 0)
                                break;
                        n += (size_t)k;
                }
        }
        close(fd);
        json_t *j = json_loadb(buf, n, 0, NULL);
        const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
        enum MHD_Result ret =
            dapi_reply_message(v, conn, (unsigned)status, msg ? msg : "Docker refused the stream");
        json_decref(j);
        return ret;
}

/* ---- filtered streams ---- */

#define LINE_MAX_ (1u << 20) /* one event; a longer line is dropped */

struct filtered {
        struct stream s;
        struct strbuf in;  /* read from Docker, not yet a whole line */
        struct strbuf out; /* kept lines not yet given to the client */
        size_t out_pos;
        bool skipping; /* in a line too long to keep */
        bool (*keep)(const json_t *, void *);
        void *ctx;
        void (*free_ctx)(void *);
};

/* The whole lines of f->in, filtered into f->out. */
static void filter_lines(struct filtered *f)
{
        size_t start = 0;
        char *nl;
        while ((nl = memchr(f->in.buf + start, '\n', f->in.len - start))) {
                size_t n = (size_t)(nl - (f->in.buf + start));
                if (!f->skipping && n > 0) {
                        json_t *j = json_loadb(f->in.buf + start, n, 0, NULL);
                        if (j && f->keep(j, f->ctx)) {
                                strbuf_add(&f->out, f->in.buf + start, n);
                                strbuf_addc(&f->out, '\n');
                        }
                        json_decref(j);
                }
                f->skipping = false;
                start += n + 1;
        }
        size_t rest = f->in.len - start;
        if (rest > LINE_MAX_) {
                f->skipping = true;
                rest = 0;
        }
        memmove(f->in.buf, f->in.buf + f->in.len - rest, rest);
        f->in.len = rest;
        f->in.buf[rest] = '\0';
}

static ssize_t filtered_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct filtered *f = cls;
        char chunk[16384];
        while (f->out_pos >= f->out.len) {
                strbuf_reset(&f->out);
                f->out_pos = 0;
                ssize_t k = stream_read(&f->s, pos, chunk, sizeof(chunk));
                if (k < 0)
                        return k;
                strbuf_add(&f->in, chunk, (size_t)k);
                filter_lines(f);
        }
        size_t n = f->out.len - f->out_pos;
        if (n > max)
                n = max;
        memcpy(buf, f->out.buf + f->out_pos, n);
        f->out_pos += n;
        return (ssize_t)n;
}

static void filtered_free(void *cls)
{
        struct filtered *f = cls;
        close(f->s.fd);
        strbuf_release(&f->in);
        strbuf_release(&f->out);
        if (f->free_ctx)
                f->free_ctx(f->ctx);
        free(f);
}

enum MHD_Result dapi_forward_filtered(struct ds01d *v, struct MHD_Connection *conn, int client_fd,
                                      const struct dapi_request *r,
                                      bool (*keep)(const json_t *, void *), void *ctx,
                                      void (*free_ctx)(void *))
{
        int status, fd;
        _cleanup_free_ char *head = NULL;
        struct error *err = NULL;
        if (send_request(v, r, &status, &head, &fd, &err) < 0) {
                if (free_ctx)
                        free_ctx(ctx);
                enum MHD_Result ret = dapi_reply_message(v, conn, 502, err->message);
                error_free(err);
                return ret;
        }
        if (status != 200) {
                if (free_ctx)
                        free_ctx(ctx);
                return docker_refused(v, conn, fd, status, head);
        }
        struct filtered *f = xzalloc(sizeof(*f));
        f->s = (struct stream){.fd = fd, .client_fd = client_fd};
        f->in = (struct strbuf)STRBUF_INIT;
        f->out = (struct strbuf)STRBUF_INIT;
        strbuf_adds(&f->in, "");
        strbuf_adds(&f->out, "");
        f->keep = keep;
        f->ctx = ctx;
        f->free_ctx = free_ctx;
        struct MHD_Response *resp = MHD_create_response_from_callback(
            MHD_SIZE_UNKNOWN, STREAM_SIZE, filtered_read, f, filtered_free);
        pass_headers(head, resp);
        dapi_common_headers(v, resp);
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

int dapi_forward_json(struct ds01d *v, const struct dapi_request *r, int *ret_status,
                      json_t **ret_json, struct strbuf *ret_raw, struct error **err)
{
        int fd;
        _cleanup_free_ char *head = NULL;
        if (send_request(v, r, ret_status, &head, &fd, err) < 0)
                return -1;
        struct strbuf body = STRBUF_INIT;
        strbuf_adds(&body, "");
        char buf[16384];
        ssize_t k;
        while ((k = read(fd, buf, sizeof(buf))) != 0) {
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 || body.len + (size_t)k > JSON_MAX) {
                        close(fd);
                        strbuf_release(&body);
                        return error_set(err, DS01_ERR, "reading Docker's answer failed");
                }
                strbuf_add(&body, buf, (size_t)k);
        }
        close(fd);
        *ret_json = json_loadb(body.buf, body.len, 0, NULL);
        if (ret_raw)
                *ret_raw = body;
        else
                strbuf_release(&body);
        return 0;
}

/* ---- hijacked streams ---- */

struct hijack {
        struct ds01d *root;
        int upstream;
        void (*on_close)(void *);
        void *ctx;
};

/* The hijacked streams open now (their Docker side), so that a stopping daemon can end them:
 * libmicrohttpd waits for every upgraded connection before it stops. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static int open_fds[256];
static size_t n_open;
static bool ending;

static bool open_add(int fd)
{
        pthread_mutex_lock(&open_lock);
        bool ok = !ending && n_open < ARRAY_SIZE(open_fds);
        if (ok)
                open_fds[n_open++] = fd;
        pthread_mutex_unlock(&open_lock);
        return ok;
}

static void open_remove(int fd)
{
        pthread_mutex_lock(&open_lock);
        for (size_t i = 0; i < n_open; i++)
                if (open_fds[i] == fd) {
                        open_fds[i] = open_fds[--n_open];
                        break;
                }
        pthread_mutex_unlock(&open_lock);
}

void dapi_streams_end(void)
{
        pthread_mutex_lock(&open_lock);
        ending = true;
        for (size_t i = 0; i < n_open; i++)
                shutdown(open_fds[i], SHUT_RDWR);
        pthread_mutex_unlock(&open_lock);
}

static void set_nonblocking(int fd)
{
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                     size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
        (void)conn;
        (void)req_cls;
        struct hijack *h = cls;
        /* What the client sent after its request head (typed ahead) goes first. */
        if (open_add(h->upstream)) {
                if (extra_in_size == 0 || write_all(h->upstream, extra_in, extra_in_size) == 0) {
                        set_nonblocking(sock);
                        set_nonblocking(h->upstream);
                        relay_bytes(sock, h->upstream);
                }
                open_remove(h->upstream);
        }
        close(h->upstream);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        if (h->on_close)
                h->on_close(h->ctx);
        free(h);
}

enum MHD_Result dapi_hijack(struct ds01d *v, struct MHD_Connection *conn,
                            const struct dapi_request *r, void (*on_close)(void *), void *ctx)
{
        int status, fd;
        _cleanup_free_ char *head = NULL;
        struct error *err = NULL;
        if (send_request(v, r, &status, &head, &fd, &err) < 0) {
                enum MHD_Result ret = dapi_reply_message(v, conn, 502, err->message);
                error_free(err);
                if (on_close)
                        on_close(ctx);
                return ret;
        }
        if (status != 101 && status != 200) {
                if (on_close)
                        on_close(ctx);
                return docker_refused(v, conn, fd, status, head);
        }
        struct hijack *h = xzalloc(sizeof(*h));
        *h = (struct hijack){v->root, fd, on_close, ctx};
        struct MHD_Response *resp = MHD_create_response_for_upgrade(upgraded, h);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "tcp");
        pass_headers(head, resp);
        dapi_common_headers(v, resp);
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
        MHD_destroy_response(resp);
        if (ret != MHD_YES) {
                log_warning("docker api: switching a connection to a raw stream failed");
                close(fd);
                if (on_close)
                        on_close(ctx);
                free(h);
        }
        return ret;
}
