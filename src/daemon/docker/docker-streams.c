/* docker-streams.c - the Engine API's streams, which curl cannot hand over: exec start and
 * attach (hijacked connections), logs, events and build output (bodies read as they come), and
 * requests passed on for the Docker API endpoint. Each has a socket of its own, the request
 * written by hand and the response head read byte by byte, so nothing of the stream is lost. */
#include "daemon/docker/docker-internal.h"
#include "daemon/docker/docker.h"

#include "shared/strbuf.h"
#include "shared/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define STREAM_HEAD_MAX       (16u << 10) /* a stream response head */
#define STREAM_ERROR_MAX      (64u << 10) /* the body of a failed stream request */
#define STREAM_HEAD_TIMEOUT_S 30          /* waiting for a stream's response head */

/* ---- raw streams ---- */

static int send_all(int fd, const char *buf, size_t n)
{
        while (n > 0) {
                ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += k;
                n -= (size_t)k;
        }
        return 0;
}

static void set_rcvtimeo(int fd, int seconds)
{
        struct timeval tv = {.tv_sec = seconds};
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* The value of header `name` in a response head (case-insensitive), or NULL. */
static char *head_header(const char *head, const char *name)
{
        size_t nl = strlen(name);
        const char *p = strstr(head, "\r\n");
        while (p) {
                p += 2;
                if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
                        const char *v = p + nl + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        const char *end = strstr(v, "\r\n");
                        size_t n = end ? (size_t)(end - v) : strlen(v);
                        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                                n--;
                        return xstrndup(v, n);
                }
                p = strstr(p, "\r\n");
        }
        return NULL;
}

/* Decodes a chunked body in place (best effort: stops at the first malformed chunk). */
static void dechunk(struct strbuf *sb)
{
        struct strbuf out = STRBUF_INIT;
        size_t i = 0;

        strbuf_adds(&out, "");
        while (i < sb->len) {
                char *end;
                unsigned long n = strtoul(sb->buf + i, &end, 16);
                const char *crlf = strstr(end, "\r\n");
                if (end == sb->buf + i || !crlf || n == 0)
                        break;
                size_t start = (size_t)(crlf + 2 - sb->buf);
                if (n > sb->len - start)
                        n = sb->len - start;
                strbuf_add(&out, sb->buf + start, n);
                i = start + n + 2;
        }
        strbuf_release(sb);
        *sb = out;
}

/* After a failed stream request: reads the body (bounded) and turns it into an error. */
static int stream_error(int fd, const char *head, int status, const char *what, struct error **err)
{
        _cleanup_free_ char *clen = head_header(head, "Content-Length");
        _cleanup_free_ char *te = head_header(head, "Transfer-Encoding");
        bool chunked = te && strcasestr(te, "chunked");
        size_t want = STREAM_ERROR_MAX;
        if (clen) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(clen, &end, 10);
                if (!errno && end != clen && *end == '\0' && v < want)
                        want = (size_t)v;
        }

        struct strbuf body = STRBUF_INIT;
        char buf[4096];
        strbuf_adds(&body, "");
        while (body.len < want) {
                size_t room = want - body.len;
                ssize_t k = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                strbuf_add(&body, buf, (size_t)k);
                /* A kept-alive chunked answer does not end in EOF: stop at its last chunk. */
                if (chunked && body.len >= 5 &&
                    memcmp(body.buf + body.len - 5, "0\r\n\r\n", 5) == 0)
                        break;
        }
        if (chunked)
                dechunk(&body);

        _cleanup_free_ char *msg = docker_error_message(status, body.buf, body.len);
        strbuf_release(&body);
        return error_set(err, status == 404 ? DS01_ENOTFOUND : DS01_ERR, "%s: %s", what, msg);
}

/* Connects, sends `request` (its head; then body_len bytes of body from body_fd, or body_mem),
 * and reads the response head byte by byte up to the blank line, so not one byte of the body is
 * consumed. *ret_status the status, *ret_head the head (may be NULL), *ret_fd the connection. */
static int stream_connect(struct docker *d, const char *request, const void *body_mem, int body_fd,
                          int64_t body_len, const char *what, int *ret_status,
                          struct strbuf *ret_head, int *ret_fd, struct error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(d->socket_path) >= sizeof(sa.sun_path))
                return error_set(err, DS01_ERR, "invalid Docker socket path '%s'", d->socket_path);
        strcpy(sa.sun_path, d->socket_path);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return error_set(err, DS01_ERR, "%s: socket: %s", what, strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return error_set(err, DS01_ERR,
                                 "%s: cannot connect to Docker at %s: %s (is dockerd running?)",
                                 what, d->socket_path, strerror(errno));

        int r = send_all(fd, request, strlen(request));
        if (r == 0 && body_mem && body_len > 0)
                r = send_all(fd, body_mem, (size_t)body_len);
        if (r < 0)
                return error_set(err, DS01_ERR, "%s: sending the request to Docker: %s", what,
                                 strerror(-r));
        if (body_fd >= 0) {
                char *buf = xmalloc(64 * 1024);
                int64_t left = body_len;
                while (left > 0 && r == 0) {
                        ssize_t k = read(body_fd, buf, left < 65536 ? (size_t)left : 65536);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0) {
                                r = -EIO;
                                break;
                        }
                        r = send_all(fd, buf, (size_t)k);
                        left -= k;
                }
                free(buf);
                if (r < 0)
                        return error_set(err, DS01_ERR, "%s: sending the body to Docker: %s", what,
                                         strerror(-r));
        }

        set_rcvtimeo(fd, STREAM_HEAD_TIMEOUT_S);
        struct strbuf head = STRBUF_INIT;
        strbuf_adds(&head, "");
        for (;;) {
                char c;
                ssize_t k = read(fd, &c, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = errno;
                        strbuf_release(&head);
                        return error_set(err, DS01_ERR, "%s: reading Docker's answer: %s", what,
                                         e == EAGAIN || e == EWOULDBLOCK ? "timed out"
                                                                         : strerror(e));
                }
                if (k == 0) {
                        strbuf_release(&head);
                        return error_set(err, DS01_ERR,
                                         "%s: Docker closed the connection before answering", what);
                }
                strbuf_addc(&head, c);
                if (head.len >= 4 && memcmp(head.buf + head.len - 4, "\r\n\r\n", 4) == 0)
                        break;
                if (head.len >= STREAM_HEAD_MAX) {
                        strbuf_release(&head);
                        return error_set(err, DS01_ERR, "%s: Docker's response head exceeds %u KiB",
                                         what, STREAM_HEAD_MAX >> 10);
                }
        }

        int status = docker_parse_status_line(head.buf);
        if (status < 0) {
                strbuf_release(&head);
                return error_set(err, DS01_ERR, "%s: malformed answer from Docker", what);
        }
        set_rcvtimeo(fd, 0);
        *ret_status = status;
        *ret_head = head;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The same with a body of body_len bytes read from body_fd after the request head; a status
 * other than ok1/ok2 is an error carrying Docker's message. */
static int open_stream_body(struct docker *d, const char *request, int body_fd, int64_t body_len,
                            int ok1, int ok2, const char *what, int *ret_fd, struct error **err)
{
        int status;
        struct strbuf head;
        _cleanup_close_ int fd = -1;
        if (stream_connect(d, request, NULL, body_fd, body_len, what, &status, &head, &fd, err) < 0)
                return -1;
        int r = 0;
        if (status != ok1 && status != ok2)
                r = stream_error(fd, head.buf, status, what, err);
        strbuf_release(&head);
        if (r == 0)
                *ret_fd = TAKE_FD(fd);
        return r;
}

/* Connects, sends `request`, reads the head and checks its status against ok1/ok2. */
static int open_stream(struct docker *d, const char *request, int ok1, int ok2, const char *what,
                       int *ret_fd, struct error **err)
{
        return open_stream_body(d, request, -1, 0, ok1, ok2, what, ret_fd, err);
}

int docker_forward(struct docker *d, const char *request, const void *body, size_t body_len,
                   int *ret_status, char **ret_head, int *ret_fd, struct error **err)
{
        struct strbuf head;
        if (stream_connect(d, request, body, -1, (int64_t)body_len, "passing a request on",
                           ret_status, &head, ret_fd, err) < 0)
                return -1;
        *ret_head = strbuf_detach(&head);
        return 0;
}

char *docker_head_header(const char *head, const char *name)
{
        return head_header(head, name);
}

int docker_exec_start_stream(struct docker *d, const char *exec_id, bool tty, int *ret_fd,
                             struct error **err)
{
        const char *body =
            tty ? "{\"Detach\":false,\"Tty\":true}" : "{\"Detach\":false,\"Tty\":false}";
        _cleanup_free_ char *e = url_escape(exec_id);
        _cleanup_free_ char *req = xasprintf("POST %s/exec/%s/start HTTP/1.1\r\n"
                                             "Host: docker\r\n"
                                             "Content-Type: application/json\r\n"
                                             "Connection: Upgrade\r\n"
                                             "Upgrade: tcp\r\n"
                                             "Content-Length: %zu\r\n"
                                             "\r\n"
                                             "%s",
                                             d->prefix, e, strlen(body), body);
        _cleanup_free_ char *what = xasprintf("starting exec %.12s", exec_id);
        return open_stream(d, req, 101, 200, what, ret_fd, err);
}

int docker_logs_stream(struct docker *d, const char *container_id, bool follow, int64_t tail,
                       int *ret_fd, struct error **err)
{
        char tailbuf[32];
        if (tail < 0)
                snprintf(tailbuf, sizeof(tailbuf), "all");
        else
                snprintf(tailbuf, sizeof(tailbuf), "%lld", (long long)tail);
        _cleanup_free_ char *e = url_escape(container_id);
        _cleanup_free_ char *req =
            xasprintf("GET %s/containers/%s/logs?stdout=1&stderr=1&follow=%d&tail=%s "
                      "HTTP/1.0\r\n"
                      "Host: docker\r\n"
                      "\r\n",
                      d->prefix, e, follow ? 1 : 0, tailbuf);
        _cleanup_free_ char *what = xasprintf("reading the logs of %s", container_id);
        return open_stream(d, req, 200, 200, what, ret_fd, err);
}

int docker_events_stream(struct docker *d, const char *label_filter, int64_t since, int *ret_fd,
                         struct error **err)
{
        json_t *f = json_pack("{s:[s], s:[s, s, s]}", "type", "container", "event", "destroy",
                              "die", "start");
        if (label_filter)
                json_object_set_new(f, "label", json_pack("[s]", label_filter));
        char *s = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        if (!s)
                return error_set(err, DS01_ERR, "cannot encode the event filter");
        _cleanup_free_ char *e = url_escape(s);
        free(s);
        struct strbuf path = STRBUF_INIT;
        strbuf_addf(&path, "GET %s/events?filters=%s", d->prefix, e);
        if (since > 0)
                strbuf_addf(&path, "&since=%lld", (long long)since);
        strbuf_adds(&path, " HTTP/1.0\r\nHost: docker\r\n\r\n");
        int r =
            open_stream(d, strbuf_str(&path), 200, 200, "following Docker's events", ret_fd, err);
        strbuf_release(&path);
        return r;
}

int docker_build_stream(struct docker *d, const char *query, int context_fd, int64_t context_len,
                        int *ret_fd, struct error **err)
{
        /* HTTP/1.0 with a length: the answer is the JSON message stream, ending at EOF. */
        _cleanup_free_ char *req = xasprintf("POST %s/build?%s HTTP/1.0\r\n"
                                             "Host: docker\r\n"
                                             "Content-Type: application/x-tar\r\n"
                                             "Content-Length: %lld\r\n"
                                             "\r\n",
                                             d->prefix, query, (long long)context_len);
        return open_stream_body(d, req, context_fd, context_len, 200, 200, "building an image",
                                ret_fd, err);
}

char *docker_query_escape(const char *s)
{
        return url_escape(s);
}
